"""Support for the Modbus integration tests: the simulated PLC, Modbus gateway configs,
raw MBAP over TLS, pymodbus' asyncio TLS client, the audit trail and mbpoll (for use
through `conduit tunnel`, which is conduit_harness.TunnelProcess).

Contract under test: the Modbus section of config/README.md, proxy/gateway/modbus/modbus_session.hpp,
proxy/EVENTS.md, and /work/shared/reference/protocols.md section 1 (Modbus/TCP).

Peers (the PLC simulator, the tunnel) are waited for on their own output lines, the gateway
on its JSON log (conduit_harness.Gateway.wait_for); every wait is bounded by h.TIMEOUT.

pymodbus: only the asyncio client is used. The synchronous ModbusTlsClient of pymodbus 3.0
hangs on a response that arrives in one TLS record: it select()s on the raw socket while
the rest of the record already sits decrypted in OpenSSL's buffer, so it waits for bytes
that never come.
"""

import asyncio
import contextlib
import json
import os
import queue
import re
import socket
import struct
import subprocess
import threading
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTlsClient
from pymodbus.framer.socket_framer import ModbusSocketFramer

import conduit_harness as h

PLC_SIM = os.environ.get("CONDUIT_PLC_SIM",
                         str(h.REPO / "build" / "tests" / "support" / "plc_sim"))

LISTENER = "plc-1-mbaps"
ASSET = "plc-1"

# Exception codes (Modbus Application Protocol V1.1b3 section 7).
ILLEGAL_FUNCTION = 0x01            # also "not authorized" (Modbus/TCP Security R-31)
GATEWAY_PATH_UNAVAILABLE = 0x0A    # unit id the asset does not serve
GATEWAY_TARGET_NO_RESPONSE = 0x0B  # the asset did not answer in time


# --- the simulated PLC ----------------------------------------------------------------

class PlcSim:
    """tests/support/plc_sim on loopback: holding register i = i, input register
    i = 1000 + i, coil i = i % 2. Its log has one JSON line per request it RECEIVED (so a
    request the gateway stopped never appears), plus connect/disconnect/refused events."""

    def __init__(self, work_dir, port=0, max_connections=8, unit_ids=(1,), name="plc"):
        work_dir = Path(work_dir)
        self.log_path = work_dir / f"{name}.jsonl"
        self._stderr_path = work_dir / f"{name}.stderr"
        args = [PLC_SIM, "--port", str(port), "--max-connections", str(max_connections),
                "--unit-ids", ",".join(map(str, unit_ids)), "--log", str(self.log_path)]
        with open(self._stderr_path, "ab") as stderr:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=stderr)
        # Ready when it prints "plc_sim listening on HOST:PORT" (after listen()).
        lines = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()),
                         daemon=True).start()
        try:
            first = lines.get(timeout=h.TIMEOUT)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"plc_sim did not report listening within {h.TIMEOUT} s") \
                from None
        match = re.match(rb"plc_sim listening on ([0-9.]+):(\d+)", first)
        if not match:
            self.stop()
            raise AssertionError(f"plc_sim did not start: stdout {first!r}, stderr "
                                 f"{self._stderr_path.read_text(errors='replace')!r}")
        self.host, self.port = match.group(1).decode(), int(match.group(2))

    @property
    def address_str(self):
        return f"{self.host}:{self.port}"

    def entries(self):
        """Every complete log line so far, parsed, in order."""
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text()
        return [json.loads(line) for line in text.split("\n")[:-1] if line]

    def requests(self, **fields):
        """Logged requests (not connection events) whose fields equal `fields`."""
        return [e for e in self.entries()
                if "event" not in e and all(e.get(k) == v for k, v in fields.items())]

    def connection_events(self):
        return [e for e in self.entries() if "event" in e]

    def stop(self):
        """SIGTERM (the simulator closes every connection and exits 0); idempotent."""
        h.stop_process(self.proc)
        self.proc.stdout.close()


def max_concurrent_connections(entries):
    """Largest number of simultaneously open connections in a plc_sim log."""
    open_now = peak = 0
    for e in entries:
        if e.get("event") == "connect":
            open_now += 1
            peak = max(peak, open_now)
        elif e.get("event") == "disconnect":
            open_now -= 1
    return peak


class SilentServer:
    """A TCP server on loopback that accepts, reads and discards, and never answers: a PLC
    that has stopped responding."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = self._listener.getsockname()
        self._lock = threading.Lock()
        self._socks = []
        self.received = 0
        threading.Thread(target=self._accept_loop, daemon=True).start()

    @property
    def address_str(self):
        return f"{self.address[0]}:{self.address[1]}"

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._socks.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn):
        try:
            while data := conn.recv(4096):
                with self._lock:
                    self.received += len(data)
        except OSError:
            pass

    def close(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


# --- gateway configuration ----------------------------------------------------------

DEFAULT_ASSET_SETTINGS = {"unit_ids": [1], "max_connections": 1, "max_in_flight": 1,
                          "request_timeout_ms": 1000, "max_outstanding_per_client": 16}


def modbus_config(plc_address, grants, asset_settings=None, labels=None, device_groups=None,
                  limits=None, threads=2, extra_assets=(), extra_listeners=()):
    """A whole gateway config: one `modbus` listener in front of one `modbus` asset."""
    config = {"gateway": {"id": "it-gw", "threads": threads}}
    if limits is not None:
        config["limits"] = limits
    config["listeners"] = [{"name": LISTENER, "bind": "127.0.0.1:0", "asset": ASSET,
                            "protocol": "modbus"}, *extra_listeners]
    asset = {"name": ASSET, "address": plc_address, "kind": "modbus",
             "modbus": {**DEFAULT_ASSET_SETTINGS, **(asset_settings or {})}}
    if labels:
        asset["labels"] = list(labels)
    config["assets"] = [asset, *extra_assets]
    config["grants"] = h.static_certificate_grants(grants)
    if device_groups is not None:
        config["device_groups"] = device_groups
    return config


def start_gateway(new_gateway, config):
    """A started gateway running `config` (a dict as modbus_config returns)."""
    gw = new_gateway(start=False)
    gw.write_config_text(json.dumps(config, indent=2))
    gw.start()
    return gw


def issue_device(gw, device, user=None, role=None, subdir=None):
    """`conduit ca issue device` with an optional Modbus/TCP Security role; `subdir` keeps
    two certificates for the same device id apart. Returns (crt, key)."""
    out = gw.clients / subdir if subdir else gw.clients
    args = ["ca", "issue", "device", "--data-dir", gw.data_dir, "--device", device, "--out", out]
    if user is not None:
        args += ["--user", user]
    if role is not None:
        args += ["--role", role]
    h.run_cli_ok(*args)
    return out / f"{device}.crt", out / f"{device}.key"


def audit_entries(gw):
    """The Modbus audit trail, <data_dir>/audit/modbus.jsonl, parsed. It is flushed at
    session close: wait for session_close first."""
    path = gw.data_dir / "audit" / "modbus.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# --- raw MBAP over TLS ----------------------------------------------------------------

def mbap(transaction_id, unit, pdu, protocol_id=0, length=None):
    """An ADU: MBAP header (Length = 1 + len(pdu) unless given) followed by the PDU."""
    if length is None:
        length = 1 + len(pdu)
    return struct.pack(">HHHB", transaction_id, protocol_id, length, unit) + pdu


def read_registers_pdu(function, address, count):
    return struct.pack(">BHH", function, address, count)


def read_adu(sock):
    """Reads one ADU; returns (transaction id, unit, pdu)."""
    header = h.recv_exactly(sock, 7)
    transaction_id, protocol_id, length, unit = struct.unpack(">HHHB", header)
    assert protocol_id == 0, f"response with protocol id {protocol_id}"
    assert 2 <= length <= 254, f"response with Length {length}"
    return transaction_id, unit, h.recv_exactly(sock, length - 1)


def registers_of(pdu, function=3):
    """Register values of a FC 3/4 response PDU (asserting it is one)."""
    assert pdu[0] == function, f"expected a function {function} response, got {pdu.hex()}"
    assert pdu[1] == len(pdu) - 2, f"byte count {pdu[1]} for {len(pdu) - 2} bytes"
    return list(struct.unpack(f">{pdu[1] // 2}H", pdu[2:]))


# --- pymodbus ---------------------------------------------------------------------------

def run(coro):
    """Runs one test coroutine to completion, bounded."""
    async def bounded():
        return await asyncio.wait_for(coro, 6 * h.TIMEOUT)
    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def modbus_client(gw, cert, key, listener=LISTENER, address=None):
    """A connected pymodbus AsyncModbusTlsClient (Modbus/TCP Security: MBAP in TLS, the
    device certificate presented, the gateway checked against the site CA as localhost)."""
    host, port = address or gw.address(listener)
    client = AsyncModbusTlsClient(host, port=port, framer=ModbusSocketFramer,
                                  sslctx=gw.client_context(cert, key),
                                  server_hostname="localhost", timeout=int(h.TIMEOUT))
    await client.connect()
    try:
        assert client.connected, f"pymodbus could not connect to {host}:{port}"
        yield client
    finally:
        await client.close()  # also stops pymodbus from reconnecting


def exception_code(response):
    """The exception code of a pymodbus response, or None if it is a normal response."""
    return response.exception_code if response.isError() else None


# --- mbpoll (through conduit_harness.TunnelProcess) ----------------------------------

def mbpoll(port, *args):
    """Runs mbpoll (Modbus/TCP, one poll, 0-based addresses) against 127.0.0.1:PORT."""
    cmd = ["mbpoll", "-m", "tcp", "-0", "-1", "-o", "5", "-p", str(port), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=3 * h.TIMEOUT)


def polled_values(stdout):
    """mbpoll's "[ref]: value" lines as {ref: value}."""
    return {int(ref): int(value)
            for ref, value in re.findall(r"^\[(\d+)\]:\s+(-?\d+)\s*$", stdout, re.MULTILINE)}


# --- fixtures (a test module uses one by binding it: `new_plc = m.new_plc`) ------------

@pytest.fixture
def new_plc(tmp_path):
    """Factory: new_plc(max_connections=K, unit_ids=(1,), port=0) -> a running PlcSim,
    stopped at teardown."""
    made = []

    def make(**kwargs):
        kwargs.setdefault("name", f"plc{len(made)}")
        sim = PlcSim(tmp_path, **kwargs)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.stop()


@pytest.fixture
def silent_server():
    """A TCP peer that accepts and never answers."""
    server = SilentServer()
    yield server
    server.close()
