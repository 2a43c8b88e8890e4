"""Support for Conduit's integration tests: the real `conduit` binary on loopback.

Contract under test: proxy/EVENTS.md (log events), config/README.md (config format).

Synchronisation is always on the gateway's JSON log (Gateway.wait_for) or on socket
I/O; timeouts are failure bounds only, never a way to let time pass.
"""

import datetime
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO = Path(__file__).resolve().parents[2]
CONDUIT_BIN = os.environ.get("CONDUIT_BIN", str(REPO / "build" / "proxy" / "conduit"))

TIMEOUT = 10.0  # failure bound for every wait and socket operation


def run_cli(*args, timeout=60):
    """Runs `conduit ARGS...`; returns the CompletedProcess (text mode)."""
    return subprocess.run([CONDUIT_BIN, *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def run_cli_ok(*args):
    proc = run_cli(*args)
    assert proc.returncode == 0, (
        f"conduit {' '.join(map(str, args))} exited {proc.returncode}\n"
        f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


# --- certificates -------------------------------------------------------------------

def issue_device_cert(data_dir, device, out_dir, user=None, days=None):
    """Issues a device certificate from the site CA with the CLI; returns (crt, key)."""
    args = ["ca", "issue", "device", "--data-dir", data_dir, "--device", device,
            "--out", out_dir]
    if user is not None:
        args += ["--user", user]
    if days is not None:
        args += ["--days", days]
    run_cli_ok(*args)
    return Path(out_dir) / f"{device}.crt", Path(out_dir) / f"{device}.key"


def _signing_hash(key):
    return None if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)) \
        else hashes.SHA256()


def _write_pair(out_dir, stem, cert, key):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    crt_path, key_path = out / f"{stem}.crt", out / f"{stem}.key"
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return crt_path, key_path


def _device_cert(device, user, ca_cert, ca_key, not_before, not_after):
    """A device certificate shaped like the CLI's: CN=device, SAN URI conduit:user/NAME,
    EKU clientAuth."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device)]))
               .issuer_name(ca_cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                              critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if user is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"conduit:user/{user}")]),
            critical=False)
    return builder.sign(ca_key, _signing_hash(ca_key)), key


def make_expired_device_cert(data_dir, out_dir, device, user):
    """A device certificate signed by the site CA (DIR/pki/ca.key) that expired a day ago."""
    pki = Path(data_dir) / "pki"
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key = _device_cert(device, user, ca_cert, ca_key,
                             now - datetime.timedelta(days=2), now - datetime.timedelta(days=1))
    return _write_pair(out_dir, f"{device}-expired", cert, key)


def make_other_ca_device_cert(out_dir, device, user):
    """A valid device certificate from an independent CA the gateway does not trust."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other Site CA")])
    ca_cert = (x509.CertificateBuilder()
               .subject_name(name).issuer_name(name)
               .public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))
    cert, key = _device_cert(device, user, ca_cert, ca_key,
                             now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    _write_pair(out_dir, "other-ca", ca_cert, ca_key)
    return _write_pair(out_dir, f"{device}-other-ca", cert, key)


# --- peers ---------------------------------------------------------------------------

class EchoServer:
    """Plain TCP upstream on 127.0.0.1:0 that echoes bytes and records connections."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = self._listener.getsockname()
        self._lock = threading.Lock()
        self.connections = []  # peer addresses, in accept order
        self._socks = []
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def address_str(self):
        return f"{self.address[0]}:{self.address[1]}"

    def connection_count(self):
        with self._lock:
            return len(self.connections)

    def _accept_loop(self):
        while True:
            try:
                conn, peer = self._listener.accept()
            except OSError:
                return  # listener shut down
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self.connections.append(peer)
                self._socks.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        with self._lock:
            self._closed = True
            socks, self._socks = self._socks, []
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        self._listener.close()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def unused_address():
    """host:port on loopback with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host, port = s.getsockname()
    return f"{host}:{port}"


def client_context(ca_cert, cert=None, key=None, max_version=None):
    """TLS client context trusting the site CA, optionally presenting a device cert."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(ca_cert))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def tls_connect(address, ctx, timeout=TIMEOUT):
    """Connects and completes the TLS handshake (server_hostname "localhost")."""
    sock = socket.create_connection(address, timeout=timeout)
    try:
        return ctx.wrap_socket(sock, server_hostname="localhost")
    except BaseException:
        sock.close()
        raise


def recv_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        assert chunk, f"connection closed after {len(buf)} of {n} bytes"
        buf += chunk
    return bytes(buf)


def roundtrip(sock, data):
    """Sends data and asserts the same bytes come back."""
    sock.sendall(data)
    got = recv_exactly(sock, len(data))
    assert got == data, "echoed bytes differ from the bytes sent"


def expect_closed(sock):
    """Reads until the peer closes; returns how ("eof", or the error). A timeout fails.

    A TLS alert record (content type 0x15) is allowed before EOF on a raw socket;
    any other data means the connection was not refused."""
    got = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            raise AssertionError(f"connection not closed within {TIMEOUT} s") from None
        except (ssl.SSLError, ConnectionError) as e:
            return f"error: {e}"
        if not chunk:
            return "eof"
        got += chunk
        assert got.startswith(b"\x15"), f"expected the connection closed, got data {got[:64]!r}"


def expect_tls_refused(address, ctx):
    """Asserts a TLS connection is refused, at the handshake or (TLS 1.3, where the
    client's certificate is checked after the client's Finished) at the first read.
    Returns a description of how it failed."""
    try:
        sock = socket.create_connection(address, timeout=TIMEOUT)
    except ConnectionRefusedError as e:
        return f"connect: {e}"
    try:
        try:
            tls = ctx.wrap_socket(sock, server_hostname="localhost")
        except TimeoutError:
            raise AssertionError(
                f"handshake neither completed nor failed within {TIMEOUT} s") from None
        except (ssl.SSLError, ConnectionError) as e:
            return f"handshake: {e}"
        with tls:
            try:
                tls.sendall(b"ping")  # a session would echo this back
            except (ssl.SSLError, ConnectionError):
                pass
            return "after handshake: " + expect_closed(tls)
    finally:
        sock.close()


def close_tls(tls):
    """Closes a client TLS connection cleanly: close_notify, then TCP close."""
    try:
        tls.unwrap().close()
    except TimeoutError:
        raise AssertionError(f"no close from the gateway within {TIMEOUT} s of close_notify") \
            from None
    except (ssl.SSLError, ConnectionError):
        pass  # the gateway closed TCP without its own close_notify: also a close
    finally:
        tls.close()


# --- processes -----------------------------------------------------------------------

def stop_process(proc):
    """Teardown for a child process: if it is still running, SIGTERM and wait; kill it if
    it has not exited within TIMEOUT. Idempotent."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=TIMEOUT)


# --- the gateway ---------------------------------------------------------------------

class Gateway:
    """One `conduit serve` process with its own data dir, site CA and server cert.

    Construct, write_config(...), start(); wait_for(...) events; stop() or close()."""

    def __init__(self, parent="/tmp"):
        # Not pytest's tmp_path: the run_as test needs a dir that "nobody" can traverse.
        self.data_dir = Path(tempfile.mkdtemp(prefix="conduit-it-", dir=parent))
        self.pki = self.data_dir / "pki"
        self.clients = self.data_dir / "clients"
        self.clients.mkdir()
        self.config_path = self.data_dir / "gateway.json"
        self.ca_cert = self.pki / "ca.crt"
        self.proc = None
        self._cond = threading.Condition()
        self._log = []  # (raw line, parsed dict or None), in arrival order
        self._readers = []
        self._stderr_eof = False
        self.addresses = {}
        try:
            run_cli_ok("ca", "init", "--data-dir", self.data_dir, "--name", "Integration Test CA")
            run_cli_ok("ca", "issue", "server", "--data-dir", self.data_dir, "--name", "gateway",
                       "--dns", "localhost", "--ip", "127.0.0.1")
        except BaseException:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise

    # config and certificates

    def write_config(self, listeners, assets, grants=None, limits=None, gateway=None, tls=None, auth=None):
        """With `auth` (the auth section), grants are taken as given; without it they
        admit long-lived user certificates (static_certificate_grants)."""
        config = {"gateway": {"id": "it-gw", "threads": 2, **(gateway or {})}}
        if tls is not None:
            config["tls"] = tls
        if auth is not None:
            config["auth"] = auth
        if limits is not None:
            config["limits"] = limits
        config["listeners"] = listeners
        config["assets"] = assets
        if grants is not None:
            config["grants"] = grants if auth is not None else static_certificate_grants(grants)
        self.write_config_text(json.dumps(config, indent=2))
        return config

    def write_config_text(self, text):
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    def issue_device(self, device, user=None, days=None):
        return issue_device_cert(self.data_dir, device, self.clients, user=user, days=days)

    def expired_device(self, device, user):
        return make_expired_device_cert(self.data_dir, self.clients, device, user)

    def other_ca_device(self, device, user):
        return make_other_ca_device_cert(self.clients / "other", device, user)

    def client_context(self, cert=None, key=None, max_version=None):
        return client_context(self.ca_cert, cert, key, max_version)

    def chown_data_dir(self, user):
        pw = pwd.getpwnam(user)
        self.data_dir.chmod(0o755)
        for root, dirs, files in os.walk(self.data_dir):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, pw.pw_uid, pw.pw_gid)

    # process

    def start(self):
        config = json.loads(self.config_path.read_text())
        since = self.mark()  # a restart logs its own listener_ready lines
        with self._cond:
            self._stderr_eof = False
        self.proc = subprocess.Popen(
            [CONDUIT_BIN, "serve", "--config", str(self.config_path),
             "--data-dir", str(self.data_dir), "--log-format", "json"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for stream, is_stderr in ((self.proc.stderr, True), (self.proc.stdout, False)):
            t = threading.Thread(target=self._read, args=(stream, is_stderr), daemon=True)
            t.start()
            self._readers.append(t)
        names = [listener["name"] for listener in config["listeners"]]
        if "auth" in config:
            names.append("auth")  # the FIDO2 auth API
        for name in names:
            ev = self.wait_for("listener_ready", since=since, listener=name)
            host, port = ev["address"].rsplit(":", 1)
            self.addresses[name] = (host.strip("[]"), int(port))
        self.wait_for("gateway_started", since=since)
        return self

    def _read(self, stream, is_stderr):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            parsed = None
            if is_stderr:
                try:
                    parsed = json.loads(line)
                except ValueError:
                    pass
                if not isinstance(parsed, dict):
                    parsed = None
            else:
                line = "[stdout] " + line
            with self._cond:
                self._log.append((line, parsed))
                self._cond.notify_all()
        stream.close()
        if is_stderr:
            with self._cond:
                self._stderr_eof = True
                self._cond.notify_all()

    def address(self, listener):
        return self.addresses[listener]

    def log_text(self):
        with self._cond:
            return "\n".join(line for line, _ in self._log)

    def mark(self):
        """A position in the log; pass as since= to look only at later events."""
        with self._cond:
            return len(self._log)

    def all_events(self):
        """Every JSON event so far, in order."""
        with self._cond:
            return [ev for _, ev in self._log if ev is not None]

    def events(self, event, since=0, **fields):
        with self._cond:
            return [ev for _, ev in self._log[since:] if _matches(ev, event, fields)]

    def wait_for(self, event, timeout=TIMEOUT, since=0, **fields):
        """Blocks until an event named `event` whose fields match appears at or after
        `since`; returns it. A field value may be a predicate. Fails on timeout or exit."""
        return self.wait_for_n(event, 1, timeout=timeout, since=since, **fields)[0]

    def wait_for_n(self, event, n, timeout=TIMEOUT, since=0, **fields):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [ev for _, ev in self._log[since:] if _matches(ev, event, fields)]
                if len(found) >= n:
                    return found[:n]
                if self._stderr_eof:
                    why = None
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    why = f"{timeout} s passed"
                    break
                self._cond.wait(remaining)
        if why is None:
            why = "the gateway exited: " + self._exit_description()
        raise AssertionError(f"waiting for {n} x {event} {_describe(fields)}: {why}; "
                             f"gateway log so far:\n{self.log_text()}")

    def _exit_description(self):
        try:
            code = self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return "stderr closed but the process is still running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        self.signal(signal.SIGHUP)

    def terminate(self):
        self.signal(signal.SIGTERM)

    def wait_exit(self, timeout=TIMEOUT):
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the gateway did not exit within {timeout} s; log:\n"
                                 f"{self.log_text()}") from None
        for t in self._readers:
            t.join(timeout)
        return code

    def stop(self):
        """SIGTERM; asserts a clean exit (code 0) and gateway_stopped in the log."""
        self.terminate()
        code = self.wait_exit()
        assert code == 0, f"gateway exited {code}; log:\n{self.log_text()}"
        assert self.events("gateway_stopped"), f"no gateway_stopped; log:\n{self.log_text()}"

    def close(self):
        """Teardown: end the process if still running (killing it if needed), print the
        log (pytest shows it for failed tests), remove the data dir."""
        if self.proc is not None:
            stop_process(self.proc)
        for t in self._readers:
            t.join(TIMEOUT)
        if self.proc is not None:
            print(f"--- gateway log (exit code {self.proc.returncode}) ---")
            print(self.log_text())
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _matches(ev, event, fields):
    if ev is None or ev.get("event") != event:
        return False
    for key, want in fields.items():
        if key not in ev:
            return False
        if callable(want):
            if not want(ev[key]):
                return False
        elif ev[key] != want:
            return False
    return True


def _describe(fields):
    return " ".join(f"{k}={'<predicate>' if callable(v) else repr(v)}" for k, v in fields.items())


def peer_port_is(port):
    """Predicate for a `peer` field ("host:port") naming the given client port."""
    return lambda peer: str(peer).rsplit(":", 1)[-1] == str(port)


# --- common configurations ----------------------------------------------------------

LISTENER = "echo-tunnel"
ASSET = "echo"


def static_certificate_grants(grants):
    """Grants that admit the long-lived user certificates these tests issue with `conduit ca
    issue device --user`. A grant without "mfa" needs a FIDO2 login certificate (the config
    default), which only the login tests (test_login*.py) obtain."""
    return [{"mfa": "none", **grant} for grant in grants]


def echo_config(upstream_address, grants=None, limits=None, gateway=None):
    """One loopback listener relaying to one asset; by default alice may use it."""
    if grants is None:
        grants = [{"id": "alice-echo", "users": ["alice"], "devices": ["*"], "assets": [ASSET]}]
    return dict(listeners=[{"name": LISTENER, "bind": "127.0.0.1:0", "asset": ASSET}],
                assets=[{"name": ASSET, "address": upstream_address}],
                grants=grants, limits=limits, gateway=gateway)


# --- conduit tunnel ------------------------------------------------------------------

class TunnelProcess:
    """One `conduit tunnel ASSET --listen 127.0.0.1:0 --log-format json ...` process: a
    local plain-TCP port relayed to a gateway listener over TLS with a device certificate,
    started and waited for until tunnel_ready. Waits are on its own JSON log.

    ca defaults to the gateway's site CA; asset and listener to the echo configuration."""

    def __init__(self, gw, cert, key, ca=None, asset=ASSET, listener=LISTENER, extra_args=()):
        host, port = gw.address(listener)
        self.proc = subprocess.Popen(
            [CONDUIT_BIN, "tunnel", asset, "--gateway", f"{host}:{port}",
             "--listen", "127.0.0.1:0", "--cert", str(cert), "--key", str(key),
             "--ca", str(ca or gw.ca_cert), "--log-format", "json", *map(str, extra_args)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._cond = threading.Condition()
        self._log = []  # (raw line, parsed dict or None)
        self._open_streams = 2
        for stream in (self.proc.stderr, self.proc.stdout):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()
        ready = self.wait_for("tunnel_ready")
        host, port = ready["listen"].rsplit(":", 1)
        self.address = (host, int(port))
        self.ready = ready

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = None
            with self._cond:
                self._log.append((line, parsed if isinstance(parsed, dict) else None))
                self._cond.notify_all()
        stream.close()
        with self._cond:
            self._open_streams -= 1
            self._cond.notify_all()

    def log_text(self):
        with self._cond:
            return "\n".join(line for line, _ in self._log)

    def events(self, event, **fields):
        with self._cond:
            return [ev for _, ev in self._log if _matches(ev, event, fields)]

    def wait_for(self, event, timeout=TIMEOUT, **fields):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [ev for _, ev in self._log if _matches(ev, event, fields)]
                if found:
                    return found[0]
                remaining = deadline - time.monotonic()
                if self._open_streams == 0 or remaining <= 0:
                    why = "the tunnel exited" if self._open_streams == 0 else f"{timeout} s passed"
                    break
                self._cond.wait(remaining)
        raise AssertionError(f"waiting for tunnel event {event} {fields}: {why}; "
                             f"tunnel log so far:\n{self.log_text()}")

    def stop(self):
        """SIGTERM; returns the exit code. Fails if the tunnel does not exit in time."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the tunnel did not exit within {TIMEOUT} s; log:\n"
                                 f"{self.log_text()}") from None

    def close(self):
        """Teardown: end the process if still running, print the log (pytest shows it for
        failed tests)."""
        stop_process(self.proc)
        print(f"--- tunnel log (exit code {self.proc.returncode}) ---")
        print(self.log_text())
