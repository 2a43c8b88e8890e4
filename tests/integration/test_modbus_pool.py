"""The upstream pool: many client sessions share at most max_connections connections to the
PLC, with transaction ids remapped so that every client gets its own answers; a PLC that
does not answer gets 0B; a PLC that restarts is reconnected to.

The gateway runs two I/O threads; the asset's pool and its sessions are pinned to one.
"""

import asyncio

from pymodbus.register_read_message import ReadHoldingRegistersRequest

import conduit_harness as h
import modbus_helpers as m
from modbus_helpers import ASSET

new_plc, silent_server = m.new_plc, m.silent_server  # fixtures (modbus_helpers)

GRANT = {"id": "alice-plc", "users": ["alice"], "devices": ["*"], "assets": [ASSET],
         "modbus": {"read": {"holding_registers": ["0-9999"]},
                    "write": {"holding_registers": ["0-9999"]}}}

CLIENTS = 64
READS_PER_CLIENT = 20
PIPELINE = 4  # requests each client keeps outstanding at once


def test_64_concurrent_clients_share_two_plc_connections_and_each_gets_its_own_answers(
        new_gateway, new_plc):
    plc = new_plc(max_connections=2)
    config = m.modbus_config(
        plc.address_str, [GRANT],
        # A generous request timeout: the queue wait counts towards it, and this test is
        # about correctness under load, not latency.
        asset_settings={"max_connections": 2, "max_in_flight": 1, "request_timeout_ms": 5000},
        limits={"max_unauthenticated": 2 * CLIENTS})
    gw = m.start_gateway(new_gateway, config)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def one_client(k):
        results = []
        async with m.modbus_client(gw, cert, key) as c:
            for batch in range(0, READS_PER_CLIENT, PIPELINE):
                requests = [ReadHoldingRegistersRequest(k * 100 + 3 * i, 3, unit=1)
                            for i in range(batch, batch + PIPELINE)]
                # Every client numbers its requests 1, 2, 3, ... (pymodbus): the same
                # transaction ids from all 64 at once.
                responses = await asyncio.gather(*(c.execute(r) for r in requests))
                for request, response in zip(requests, responses):
                    assert not response.isError(), f"client {k}: {response}"
                    results.append((request.transaction_id, response.transaction_id,
                                    request.address, response.registers))
        return results

    async def all_clients():
        return await asyncio.gather(*(one_client(k) for k in range(CLIENTS)))

    per_client = m.run(all_clients())

    for k, results in enumerate(per_client):
        assert len(results) == READS_PER_CLIENT
        assert sorted(r[0] for r in results) == list(range(1, READS_PER_CLIENT + 1))
        for sent_tid, got_tid, address, registers in results:
            assert got_tid == sent_tid, f"client {k} got transaction id {got_tid} for {sent_tid}"
            assert registers == [address, address + 1, address + 2], \
                f"client {k} read {address}: got {registers}"

    closes = gw.wait_for_n("session_close", CLIENTS, user="alice")
    assert all((c["requests"], c["denied"]) == (READS_PER_CLIENT, 0) for c in closes)
    entries = plc.entries()
    assert [e for e in entries if e.get("event") == "refused"] == []
    assert m.max_concurrent_connections(entries) <= 2
    assert len([e for e in entries if e.get("event") == "connect"]) <= 2, \
        "the pool reconnected under load"
    reads = sorted(e["address"] for e in entries if "event" not in e)
    assert reads == sorted(k * 100 + 3 * i for k in range(CLIENTS)
                           for i in range(READS_PER_CLIENT)), "each read reaches the PLC once"


def test_a_plc_with_fewer_connections_than_the_pool_sees_one_refused_attempt_not_a_burst(
        new_gateway, new_plc):
    plc = new_plc(max_connections=1)
    config = m.modbus_config(plc.address_str, [GRANT], asset_settings={"max_connections": 2})
    gw = m.start_gateway(new_gateway, config)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def one_client(k):
        answers = []
        async with m.modbus_client(gw, cert, key) as c:
            for i in range(0, 10, 2):
                addresses = (k * 100 + i, k * 100 + i + 1)
                responses = await asyncio.gather(
                    *(c.read_holding_registers(a, 1, slave=1) for a in addresses))
                answers += zip(addresses, responses)
        return answers

    async def all_clients():
        return await asyncio.gather(*(one_client(k) for k in range(16)))

    answers = [a for client in m.run(all_clients()) for a in client]
    # A request sent on the connection the PLC refused may fail (0B); none may be wrong.
    for address, r in answers:
        assert (r.registers == [address]) if not r.isError() else \
            r.exception_code == m.GATEWAY_TARGET_NO_RESPONSE, (address, r)
    gw.wait_for_n("session_close", 16, user="alice")
    entries = plc.entries()
    assert m.max_concurrent_connections(entries) == 1
    refused = [e for e in entries if e.get("event") == "refused"]
    assert len(refused) <= 3, f"{len(refused)} refused connection attempts: a burst"
    # At most one request (max_in_flight) was on each refused connection.
    failed = sum(r.isError() for _, r in answers)
    assert failed <= len(refused), f"{failed} reads failed, {len(refused)} refused connections"


def test_a_plc_that_never_answers_gets_the_client_exception_0b(new_gateway, silent_server):
    config = m.modbus_config(silent_server.address_str, [GRANT],
                             asset_settings={"request_timeout_ms": 300})
    gw = m.start_gateway(new_gateway, config)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            first = await c.read_holding_registers(0, 10, slave=1)
            write = await c.write_register(3, 33, slave=1)
            return first, write

    first, write = m.run(session())  # bounded by pymodbus' 10 s request timeout
    assert m.exception_code(first) == m.GATEWAY_TARGET_NO_RESPONSE, first
    assert first.function_code == 0x83
    assert m.exception_code(write) == m.GATEWAY_TARGET_NO_RESPONSE, write
    assert silent_server.received >= 12, "the request was not forwarded"

    assert gw.wait_for("modbus_upstream_failed")["reason"] == "request timeout"
    close = gw.wait_for("session_close", user="alice")
    assert (close["requests"], close["denied"]) == (2, 0)
    lines = m.audit_entries(gw)
    assert [(a["decision"], a["outcome"]) for a in lines] == [("allow", "timeout")] * 2


def test_the_audit_trail_records_exception_0b_for_a_request_that_timed_out(
        new_gateway, silent_server):
    config = m.modbus_config(silent_server.address_str, [GRANT],
                             asset_settings={"request_timeout_ms": 300})
    gw = m.start_gateway(new_gateway, config)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            return await c.read_holding_registers(0, 10, slave=1)

    assert m.exception_code(m.run(session())) == m.GATEWAY_TARGET_NO_RESPONSE
    gw.wait_for("session_close", user="alice")
    [line] = m.audit_entries(gw)
    assert (line["outcome"], line.get("exception")) == ("timeout", 0x0B), line


def test_a_unit_the_plc_ignores_gets_exception_0b(new_gateway, new_plc):
    plc = new_plc(unit_ids=(1,))  # a serial gateway whose slave 2 is missing: no reply
    config = m.modbus_config(plc.address_str, [GRANT],
                             asset_settings={"unit_ids": [1, 2], "request_timeout_ms": 300})
    gw = m.start_gateway(new_gateway, config)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            missing = await c.read_holding_registers(0, 2, slave=2)
            present = await c.read_holding_registers(4, 2, slave=1)  # the pool recovers
            return missing, present

    missing, present = m.run(session())
    assert m.exception_code(missing) == m.GATEWAY_TARGET_NO_RESPONSE, missing
    assert present.registers == [4, 5]
    gw.wait_for("session_close", user="alice")
    assert [(e["unit"], e.get("ignored") is not None) for e in plc.requests()] == \
        [(2, True), (1, False)]


def test_the_pool_reconnects_after_the_plc_restarts_on_the_same_port(new_gateway, new_plc):
    plc = new_plc()
    config = m.modbus_config(plc.address_str, [GRANT])
    gw = m.start_gateway(new_gateway, config)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def read(address):
        async with m.modbus_client(gw, cert, key) as c:
            return await c.read_holding_registers(address, 2, slave=1)

    assert m.run(read(10)).registers == [10, 11]
    mark = gw.mark()
    plc.stop()
    gw.wait_for("modbus_upstream_failed", since=mark)  # the pool saw its connection end
    restarted = new_plc(port=plc.port)  # plc_sim binds with SO_REUSEADDR

    attempts = []
    for _ in range(3):  # a first answer may be 0B while the pool backs off
        r = m.run(read(20))
        attempts.append(m.exception_code(r))
        if not r.isError():
            assert r.registers == [20, 21]
            break
        assert r.exception_code in (m.GATEWAY_TARGET_NO_RESPONSE, m.GATEWAY_PATH_UNAVAILABLE), r
    assert attempts[-1] is None, f"no successful read after the restart: {attempts}"
    assert [(e["function"], e["address"]) for e in restarted.requests()][-1:] == [(3, 20)]
    assert [e["event"] for e in restarted.connection_events()] == ["connect"]


def test_a_client_pipelining_more_than_max_outstanding_requests_gets_every_answer(
        new_gateway, new_plc):
    plc = new_plc()
    config = m.modbus_config(plc.address_str, [GRANT],
                             asset_settings={"max_outstanding_per_client": 4,
                                             "request_timeout_ms": 5000})
    gw = m.start_gateway(new_gateway, config)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    count = 40  # 480 bytes in one write: ten times what the session may have in flight

    tls = h.tls_connect(gw.address(m.LISTENER), gw.client_context(cert, key))
    tls.sendall(b"".join(m.mbap(0x100 + i, 1, m.read_registers_pdu(3, 2 * i, 2))
                         for i in range(count)))
    answers = [m.read_adu(tls) for _ in range(count)]  # then the client just waits
    h.close_tls(tls)

    assert sorted(answers) == [(0x100 + i, 1, bytes([3, 4, 0, 2 * i, 0, 2 * i + 1]))
                               for i in range(count)]
    close = gw.wait_for("session_close", user="alice")
    assert close["requests"] == count
    assert len(plc.requests()) == count
