"""Every session recorded, tamper-evident (issue 5): the security team's list, replay,
export and verify against recordings the real gateway wrote, tampering caught, pcap that
tshark decodes as Modbus/TCP, and a SIGKILL under write load that loses no write the PLC
received."""

import json
import queue
import re
import signal
import struct
import subprocess
import threading
import time

import pytest

import conduit_harness as h
import modbus_helpers as m
import recording_helpers as r
from modbus_helpers import ASSET, LISTENER

new_plc = m.new_plc  # fixture (modbus_helpers)

GRANT = {"id": "alice-press", "users": ["alice"], "devices": ["laptop-7"], "assets": [ASSET],
         "modbus": {"read": {"holding_registers": ["0-99"]}, "write": {"holding_registers": ["10-19"]}}}


def write_pdu(address, value):
    return struct.pack(">BHH", 6, address, value)


def exchange(tls, transaction_id, pdu):
    tls.sendall(m.mbap(transaction_id, 1, pdu))
    got_id, _, answer = m.read_adu(tls)
    assert got_id == transaction_id
    return answer


def one_session(gw, cert, key, requests):
    """Runs `requests` (PDUs) in one session; returns (session id, answers)."""
    mark = gw.mark()
    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    answers = [exchange(tls, i + 1, pdu) for i, pdu in enumerate(requests)]
    h.close_tls(tls)
    closed = gw.wait_for("session_close", since=mark, user="alice")
    return closed["session"], answers


@pytest.fixture
def site(new_gateway, new_plc):
    plc = new_plc()
    gw = m.start_gateway(new_gateway, m.modbus_config(plc.address_str, [GRANT]))
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    return gw, plc, cert, key


def test_a_modbus_session_is_recorded_indexed_and_verifies(site):
    gw, plc, cert, key = site
    session, answers = one_session(gw, cert, key, [m.read_registers_pdu(3, 0, 3), write_pdu(5, 99), write_pdu(12, 7)])
    assert answers[1] == bytes([0x86, 0x01])  # register 5 is not writable
    [row] = r.sessions(gw)
    assert row["id"] == session
    assert (row["user"], row["device"], row["asset"], row["protocol"]) == ("alice", "laptop-7", ASSET, "modbus")
    assert (row["requests"], row["denials"], row["writes"]) == (3, 1, 1)
    assert row["end_reason"] == "client closed"
    assert row["client_address"].startswith("127.0.0.1:")
    assert row["asset_address"] == plc.address_str
    verified = r.cli_ok(gw, "verify", session).stdout
    assert f"{session}  ok" in verified and "closed" in verified
    records = r.jsonl(gw, session)
    data = [x for x in records if x["type"] == "data"]
    assert [(d["direction"], d["decision"]) for d in data] == [
        ("client_to_asset", "allow"), ("asset_to_client", "none"),
        ("client_to_asset", "deny"), ("asset_to_client", "none"),
        ("client_to_asset", "allow"), ("asset_to_client", "none")]
    assert data[2]["rule"] == "default-deny"
    assert records[-1]["type"] == "seal"
    # Filters a security engineer uses.
    assert [x["id"] for x in r.sessions(gw, "--denials")] == [session]
    assert r.sessions(gw, "--user", "bob") == []
    assert r.sessions(gw, "--open") == []


def test_replay_shows_each_request_and_response_decoded_with_decision(site):
    gw, _, cert, key = site
    session, _ = one_session(gw, cert, key, [m.read_registers_pdu(3, 0, 2), write_pdu(5, 99)])
    lines = r.cli_ok(gw, "replay", session).stdout.splitlines()
    text = "\n".join(lines)
    assert "alice" in text and "laptop-7" in text and ASSET in text
    requests = [line for line in lines if "  →  " in line]
    responses = [line for line in lines if "  ←  " in line]
    assert len(requests) == 2 and len(responses) == 2, text
    assert "allow" in requests[0] and "alice-press" in requests[0] and "fc 3" in requests[0], text
    assert "DENY" in requests[1] and "default-deny" in requests[1] and "= 99" in requests[1], text
    assert "exception 01" in responses[1], text
    assert "closed: client closed" in text, text


def test_a_tunnel_session_records_raw_bytes_both_ways(new_gateway, echo):
    gw = new_gateway(**h.echo_config(echo.address_str))
    cert, key = gw.issue_device("laptop-7", user="alice")
    tls = h.tls_connect(gw.address(h.LISTENER), gw.client_context(cert, key))
    h.roundtrip(tls, b"hello asset")
    h.close_tls(tls)
    session = gw.wait_for("session_close", user="alice")["session"]
    data = [x for x in r.jsonl(gw, session) if x["type"] == "data"]
    assert [(d["direction"], bytes.fromhex(d["payload"])) for d in data] == [
        ("client_to_asset", b"hello asset"), ("asset_to_client", b"hello asset")]
    assert r.cli_ok(gw, "verify", session).returncode == 0


# --- tampering ----------------------------------------------------------------------------

def tamper_and_verify(gw, session_id, path, change):
    original = path.read_bytes()
    try:
        path.write_bytes(change(original))
        return r.cli(gw, "verify", session_id)
    finally:
        path.write_bytes(original)


def test_verify_detects_a_flipped_byte_a_deleted_record_truncation_reordering_and_swapped_files(site):
    gw, _, cert, key = site
    first, _ = one_session(gw, cert, key, [m.read_registers_pdu(3, i, 1) for i in range(4)])
    second, _ = one_session(gw, cert, key, [m.read_registers_pdu(3, 9, 1)])
    [row] = [x for x in r.sessions(gw) if x["id"] == first]
    path = r.recording_path(gw, row)
    data = path.read_bytes()
    fr = r.frames(data)
    assert r.cli_ok(gw, "verify", first)

    def flip(d):
        b = bytearray(d)
        b[fr[3][0] + 20] ^= 0x01
        return bytes(b)

    def delete(d):
        return r.rebuild(d, [f for i, (_, f) in enumerate(fr) if i != 4])

    def reorder(d):
        frames = [f for _, f in fr]
        frames[3], frames[4] = frames[4], frames[3]
        return r.rebuild(d, frames)

    def truncate_at_boundary(d):
        return d[:fr[5][0]]

    def truncate_inside(d):
        return d[:fr[5][0] + 7]

    for name, change in [("flip", flip), ("delete", delete), ("reorder", reorder),
                         ("truncate at a record boundary", truncate_at_boundary),
                         ("truncate inside a record", truncate_inside)]:
        proc = tamper_and_verify(gw, first, path, change)
        assert proc.returncode == 1, f"{name}: {proc.stdout}{proc.stderr}"
        assert "FAILED" in proc.stdout, f"{name}: {proc.stdout}"
    # The flipped record is named exactly.
    flipped = tamper_and_verify(gw, first, path, flip)
    assert "FAILED: record 3 at byte" in flipped.stdout, flipped.stdout
    assert "untrusted from record 3 on" in flipped.stdout, flipped.stdout
    # A deleted record is found at the next seal; the line names that seal's own place and,
    # apart, the first untrusted record: never one record's number with another's offset.
    deleted = tamper_and_verify(gw, first, path, delete)
    [line] = [x for x in deleted.stdout.splitlines() if "FAILED" in x]
    found = re.search(r"FAILED: record (\d+) at byte (\d+): seal .*; untrusted from record (\d+) on$", line)
    assert found, line
    assert line.count(" at byte ") == 1 and "offset" not in line, line

    # Two files swapped: each holds the other session.
    [other] = [x for x in r.sessions(gw) if x["id"] == second]
    other_path = r.recording_path(gw, other)
    a, b = path.read_bytes(), other_path.read_bytes()
    try:
        path.write_bytes(b)
        other_path.write_bytes(a)
        proc = r.cli(gw, "verify", "--all")
        assert proc.returncode == 1
        assert proc.stdout.count("FAILED: record 0 at byte") == 2, proc.stdout
    finally:
        path.write_bytes(a)
        other_path.write_bytes(b)
    assert r.cli(gw, "verify", "--all").returncode == 0


# --- export -------------------------------------------------------------------------------

def test_an_exported_pcap_decodes_as_modbus_tcp_in_tshark(site, tmp_path):
    gw, plc, cert, key = site
    session, _ = one_session(gw, cert, key, [m.read_registers_pdu(3, 0, 2), write_pdu(12, 1234), write_pdu(5, 1)])
    out = tmp_path / "session.pcap"
    r.cli_ok(gw, "export", session, "--format", "pcap", "--out", out)
    port = plc.address_str.rsplit(":", 1)[1]
    proc = subprocess.run(
        ["tshark", "-r", str(out), "-o", f"mbtcp.tcp.port:{port}", "-Y", "mbtcp",
         "-T", "fields", "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport",
         "-e", "modbus.func_code", "-e", "modbus.exception_code", "-e", "modbus.data"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert len(rows) == 6, proc.stdout
    client_ip, client_port = rows[0][0], rows[0][1]
    assert (rows[0][2], rows[0][3]) == ("127.0.0.1", port)  # the asset, as configured
    assert [(x[0], x[1]) for x in rows[1::2]] == [("127.0.0.1", port)] * 3  # responses from the asset
    assert [x[4] for x in rows] == ["3", "3", "6", "6", "6", "6"]
    assert rows[5][5] == "1"  # the denied write's exception 01
    assert rows[2][6].replace(":", "") == "04d2"  # the value written: 1234
    assert client_ip == "127.0.0.1" and client_port != port
    summary = subprocess.run(["tshark", "-r", str(out), "-o", f"mbtcp.tcp.port:{port}"],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL).stdout
    assert "Malformed" not in summary and "Cannot classify" not in summary, summary


def test_export_never_overwrites_an_existing_file_unless_forced(site, tmp_path):
    gw, plc, cert, key = site
    session, _ = one_session(gw, cert, key, [m.read_registers_pdu(3, 0, 2)])
    out = tmp_path / "evidence.jsonl"
    out.write_text("an earlier export\n")
    proc = r.cli(gw, "export", session, "--format", "jsonl", "--out", out)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "exists; not overwritten (--force replaces it)" in proc.stderr, proc.stderr
    assert out.read_text() == "an earlier export\n"
    # Nor through a symlink planted at the path.
    target = tmp_path / "elsewhere"
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    assert r.cli(gw, "export", session, "--format", "jsonl", "--out", link).returncode == 1
    assert not target.exists()

    r.cli_ok(gw, "export", session, "--format", "jsonl", "--out", out, "--force")
    lines = out.read_text().splitlines()
    assert len(lines) >= 2 and all(line.startswith("{") for line in lines), lines
    assert (out.stat().st_mode & 0o777) == 0o600
    fresh = tmp_path / "new.jsonl"
    r.cli_ok(gw, "export", session, "--format", "jsonl", "--out", fresh)
    assert fresh.read_text() == out.read_text()


# --- retention ----------------------------------------------------------------------------

def test_retention_deletes_the_oldest_recordings_but_never_a_held_one(new_gateway, echo):
    gw = new_gateway(**h.echo_config(echo.address_str))
    cert, key = gw.issue_device("laptop-7", user="alice")
    ids = []
    for n in range(3):  # about 0.8 MB each
        mark = gw.mark()
        tls = h.tls_connect(gw.address(h.LISTENER), gw.client_context(cert, key))
        h.roundtrip(tls, bytes([n]) * 400_000)
        h.close_tls(tls)
        ids.append(gw.wait_for("session_close", since=mark, user="alice")["session"])
    r.cli_ok(gw, "sessions", "hold", ids[0])
    gw.stop()
    config = json.loads(gw.config_path.read_text())
    config["recordings"] = {"max_total_mb": 2}
    gw.write_config_text(json.dumps(config))
    gw.start()
    gw.wait_for("recording_expired", session=ids[1])
    assert sorted(x["id"] for x in r.sessions(gw)) == sorted([ids[0], ids[2]])
    assert not gw.events("recording_expired", session=ids[0])


# --- crash safety -------------------------------------------------------------------------

def writer(address, context, base, count, acknowledged):
    """Writes `count` distinct values to register 10 + base; stops when the gateway dies."""
    try:
        tls = h.tls_connect(address, context)
        for i in range(count):
            value = base * 1000 + i
            tls.sendall(m.mbap(i + 1, 1, write_pdu(10 + base, value)))
            m.read_adu(tls)
            acknowledged.append((10 + base, value))
    except (OSError, AssertionError):
        pass


def test_after_sigkill_under_write_load_every_write_the_plc_got_is_recorded(site):
    gw, plc, cert, key = site
    context = gw.client_context(cert, key)
    acknowledged = []
    threads = [threading.Thread(target=writer, args=(gw.address(LISTENER), context, n, 400, acknowledged))
               for n in range(4)]
    for t in threads:
        t.start()
    # Bounded wait until the PLC has taken a good number of writes, then kill mid-load.
    deadline = time.monotonic() + 3 * h.TIMEOUT
    while len(plc.requests(function=6)) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    gw.signal(signal.SIGKILL)
    for t in threads:
        t.join(h.TIMEOUT)
    assert gw.wait_exit() == -signal.SIGKILL
    received = {(e["address"], e["values"][0]) for e in plc.requests(function=6)}
    assert len(received) >= 200

    gw.start()
    recovered = gw.wait_for_n("recording_recovered", 4)
    assert len({e["session"] for e in recovered}) == 4
    rows = r.sessions(gw)
    assert len(rows) == 4 and all(x["verification"] == "abnormal_end" for x in rows), rows
    assert all(x["end_reason"] for x in rows)
    verified = r.cli(gw, "verify", "--all")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    recorded = set()
    for row in rows:
        for record in r.jsonl(gw, row["id"]):
            if record["type"] == "data" and record["direction"] == "client_to_asset":
                adu = bytes.fromhex(record["payload"])
                if adu[7] == 6:
                    address, value = struct.unpack(">HH", adu[8:12])
                    recorded.add((address, value))
    assert received <= recorded, sorted(received - recorded)[:10]
    assert set(acknowledged) <= received


def test_replay_follow_prints_a_live_session_as_it_happens_and_ends_with_it(site):
    gw, _, cert, key = site
    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    exchange(tls, 1, m.read_registers_pdu(3, 0, 1))
    session = gw.wait_for("session_open", user="alice")["session"]
    follow = subprocess.Popen([h.CONDUIT_BIN, "replay", session, "--follow", "--data-dir", str(gw.data_dir)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in follow.stdout], daemon=True).start()

    def next_matching(text):
        deadline = time.monotonic() + h.TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"replay --follow printed no line with {text!r}")

    try:
        next_matching("read holding_registers 0+1")
        exchange(tls, 2, write_pdu(12, 4321))  # while the replay is following
        assert "4321" in next_matching("fc 6 write holding_registers 12")
        h.close_tls(tls)
        next_matching("closed: client closed")
        assert follow.wait(timeout=h.TIMEOUT) == 0
    finally:
        h.stop_process(follow)


def test_verify_catches_an_unsealed_record_rewritten_with_a_valid_crc(new_gateway, new_plc):
    plc = new_plc()
    config = m.modbus_config(plc.address_str, [GRANT])
    config["recordings"] = {"seal_interval_ms": 60000}  # nothing sealed before the crash
    gw = m.start_gateway(new_gateway, config)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    exchange(tls, 1, m.read_registers_pdu(3, 0, 1))
    exchange(tls, 2, write_pdu(12, 77))  # durable: the index checkpoints the chain head
    gw.signal(signal.SIGKILL)
    gw.wait_exit()
    gw.start()
    gw.wait_for("recording_recovered")
    [row] = r.sessions(gw)
    assert r.cli(gw, "verify", row["id"]).returncode == 0

    path = r.recording_path(gw, row)
    data = path.read_bytes()
    frames = [f for _, f in r.frames(data)]
    write_request = max(i for i, f in enumerate(frames) if r.frame_type(f) == 2 and f[-6:-4] == struct.pack(">H", 77))
    forged = bytearray(frames[write_request])
    forged[-5] = 78  # the value's low byte: 77 becomes 78
    frames[write_request] = r.with_valid_crc(bytes(forged))
    path.write_bytes(r.rebuild(data, frames))
    proc = r.cli(gw, "verify", row["id"])
    assert proc.returncode == 1, proc.stdout
    assert "do not chain to the head the index recorded" in proc.stdout, proc.stdout
