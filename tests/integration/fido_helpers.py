"""FIDO2 login support for the integration tests (issue 4): the software authenticator
(tests/support/soft_fido2) as a process that `conduit login` reaches through libfido2's
Unix-socket transport, the admin steps (users, devices, enrollment codes) through the real
CLI, and a hand-rolled auth API client for the negative cases that a real key cannot
produce (wrong rp id, bad signature, replays), which signs with the soft key's own
private key read from its state file.

Contract under test: proxy/AUTH_API.md, proxy/ADMIN.md, proxy/EVENTS.md.
"""

import base64
import datetime
import hashlib
import http.client
import json
import os
import queue
import shutil
import struct
import subprocess
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import conduit_harness as h

SOFT_FIDO2 = os.environ.get(
    "CONDUIT_SOFT_FIDO2", str(h.REPO / "build" / "tests" / "support" / "soft_fido2" / "soft_fido2"))
RP_ID = "conduit.test"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def auth_section(**extra):
    return {"listen": "127.0.0.1:0", "rp_id": RP_ID, **extra}


class SoftKey:
    """A soft_fido2 process on a Unix socket; `device` is what --key-device takes."""

    def __init__(self, directory, *extra_args):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = directory / "key.sock"
        self.state_file = directory / "key.json"
        self.device = f"unix:{self.socket}"
        self.proc = subprocess.Popen(
            [SOFT_FIDO2, "--socket", str(self.socket), "--state", str(self.state_file), *extra_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            ready = lines.get(timeout=h.TIMEOUT)
        except queue.Empty:
            ready = ""
        if not ready.startswith("ready "):
            h.stop_process(self.proc)
            raise AssertionError(f"soft_fido2 did not start: {ready!r} {self.proc.stderr.read()}")

    def state(self):
        return json.loads(self.state_file.read_text())

    def credential(self, index=0):
        return self.state()["credentials"][index]

    def set_sign_count(self, value, index=0):
        """Between operations only: the authenticator re-reads its state for each one."""
        state = self.state()
        state["credentials"][index]["sign_count"] = value
        tmp = self.state_file.with_suffix(".edit")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_file)

    def private_key(self, index=0):
        return serialization.load_pem_private_key(self.credential(index)["private_key_pem"].encode(), None)

    def close(self):
        h.stop_process(self.proc)


class Site:
    """A gateway with the auth API, a user with a soft key enrolled through a one-time
    code, and that user's device (laptop-7) with its certificate — everything done
    through the real CLI, as README describes."""

    def __init__(self, gw, key, user="alice", roles=("Operator",), device="laptop-7"):
        self.gw, self.key, self.user, self.device = gw, key, user, device
        self.device_dir = gw.clients / device
        add_user(gw, user, roles)
        enroll_device(gw, device, self.device_dir, users=[user])
        self.key_id = None

    @property
    def auth(self):
        host, port = self.gw.address("auth")
        return f"{host}:{port}"

    def enroll_key(self):
        code = h.run_cli_ok("key", "code", self.user, "--data-dir", self.gw.data_dir).stdout.strip()
        proc = self.login("--enroll", code, user=None)
        assert proc.returncode == 0, proc.stderr
        self.key_id = proc.stdout.split()[1]
        return proc

    def login(self, *extra, user="default"):
        args = ["login", "--gateway", self.auth, "--dir", self.device_dir, "--key-device", self.key.device]
        if user is not None:
            args += ["--user", self.user if user == "default" else user]
        return h.run_cli(*args, *extra)

    def login_ok(self):
        proc = self.login()
        assert proc.returncode == 0, proc.stderr
        return self.device_dir / "client.crt", self.device_dir / "client.key"

    def api(self, cert="device"):
        return AuthApi(self.gw, self.device_dir / f"{cert}.crt", self.device_dir / f"{cert}.key")


def add_user(gw, user, roles=()):
    args = ["user", "add", user, "--data-dir", gw.data_dir]
    for role in roles:
        args += ["--role", role]
    h.run_cli_ok(*args)


def enroll_device(gw, device, directory, users):
    """`conduit device request` on the device, `conduit device enroll` on the gateway."""
    h.run_cli_ok("device", "request", "--id", device, "--dir", directory)
    args = ["device", "enroll", "--id", device, "--csr", directory / "device.csr", "--out", directory / "device.crt",
            "--data-dir", gw.data_dir]
    for user in users:
        args += ["--user", user]
    h.run_cli_ok(*args)
    shutil.copy(gw.ca_cert, directory / "ca.crt")


# --- a hand-rolled client of the auth API, for requests no honest client sends --------

class AuthApi:
    def __init__(self, gw, cert, key):
        self.address = gw.address("auth")
        self.context = h.client_context(gw.ca_cert, cert, key)

    def post(self, path, body):
        """Returns (HTTP status, parsed JSON body)."""
        conn = http.client.HTTPSConnection(*self.address, context=self.context, timeout=h.TIMEOUT)
        try:
            conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        finally:
            conn.close()

    def challenge(self, user, purpose="login", asset=""):
        status, body = self.post("/v1/challenge", {"purpose": purpose, "user": user, "asset": asset})
        assert status == 200, body
        return body


def signed_login(challenge, credential_key, credential_id, rp_id=RP_ID, counter=1000, flags=0x01,
                 purpose="login", asset="", csr=None):
    """A certificate request as `conduit login` would send it, signed with the soft key's
    private key: authData = SHA-256(rp_id) | flags | counter; signature over authData ||
    SHA-256(clientDataJSON). Each argument can be made wrong on purpose."""
    if csr is None:
        pair, key_digest = new_csr_with_key()
        csr_pem = pair.pem
    else:
        csr_pem, key_digest = csr
    client_data = {"type": f"conduit.{purpose}", "challenge": challenge["challenge"], "rp_id": RP_ID,
                   "key": key_digest}
    if asset:
        client_data["asset"] = asset
    client_data_json = json.dumps(client_data).encode()
    auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", counter)
    signature = credential_key.sign(auth_data + hashlib.sha256(client_data_json).digest(),
                                    ec.ECDSA(hashes.SHA256()))
    return {"challenge": challenge["challenge"], "credential_id": b64url(credential_id),
            "client_data_json": b64url(client_data_json), "authenticator_data": b64url(auth_data),
            "signature": b64url(signature), "csr": csr_pem}


class KeyPair:
    """A P-256 key and a CSR for it, as a client makes them for a certificate request."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")]))
               .sign(self.key, hashes.SHA256()))
        self.pem = csr.public_bytes(serialization.Encoding.PEM).decode()

    def write(self, directory, base, certificate_pem):
        cert, key = Path(directory) / f"{base}.crt", Path(directory) / f"{base}.key"
        cert.write_text(certificate_pem)
        key.write_bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key.chmod(0o600)
        return cert, key


def new_csr_with_key():
    pair = KeyPair()
    spki = pair.key.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return pair, b64url(hashlib.sha256(spki).digest())


def expired_login_certificate(gw, directory, device, user, key_id):
    """What `conduit login` issues, signed by the site CA, but valid only in the past."""
    ca_key = serialization.load_pem_private_key((gw.pki / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(gw.ca_cert.read_bytes())
    pair = KeyPair()
    now = datetime.datetime.now(datetime.timezone.utc)
    uris = [x509.UniformResourceIdentifier(u) for u in (f"conduit:user/{user}", f"conduit:key/{key_id}")]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device)]))
            .issuer_name(ca_cert.subject).public_key(pair.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=9)).not_valid_after(now - datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(uris), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return pair.write(directory, "expired", cert.public_bytes(serialization.Encoding.PEM).decode())


def admin_request_as_nobody(socket_path, request):
    """Connects to the admin socket as user nobody and sends one request line; returns
    what the child saw: "refused: <errno name>", or the reply ("" if the gateway hung up)."""
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "s.settimeout(10)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except OSError as e:\n"
        "    print('refused:', type(e).__name__); sys.exit(0)\n"
        "try:\n"
        "    s.sendall(sys.argv[2].encode() + b'\\n')\n"
        "    print(s.recv(4096).decode(), end='')\n"
        "except OSError:  # the gateway hung up on us\n"
        "    pass\n")
    proc = subprocess.run(["/usr/bin/python3", "-c", code, str(socket_path), json.dumps(request)],
                          user="nobody", capture_output=True, text=True, timeout=h.TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
