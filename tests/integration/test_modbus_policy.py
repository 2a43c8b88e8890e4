"""Per-request Modbus policy, end to end: pymodbus (Modbus/TCP Security client) -> gateway ->
simulated PLC. Allowed requests reach the PLC and come back; denied ones are answered by the
gateway with exception 01 and never reach the PLC (its log records every request it
RECEIVES); every request leaves one line in the audit trail.

The asset has one upstream connection (max_connections 1) and the PLC answers one
connection's requests in order, so once a later allowed request on the same session has
been answered, anything the gateway forwarded before it is in the PLC's log: that read is
the barrier before asserting that something never reached the PLC.
"""

import datetime

import pytest
from pymodbus.exceptions import ConnectionException

import conduit_harness as h
import modbus_helpers as m
from modbus_helpers import ASSET, LISTENER

new_plc = m.new_plc  # fixture (modbus_helpers)

ALICE_GRANT = {
    "id": "alice-plc", "users": ["alice"], "devices": ["*"], "assets": [ASSET],
    "modbus": {
        "read": {"holding_registers": ["0-110", 200, "9990-10019"],
                 "input_registers": ["0-99"]},
        "write": {"holding_registers": ["100-110"]},
        "values": [{"table": "holding_registers", "addresses": "100", "min": 0, "max": 1500}],
    },
}


def start(new_gateway, plc, grants=(ALICE_GRANT,), **kwargs):
    return m.start_gateway(new_gateway, m.modbus_config(plc.address_str, list(grants), **kwargs))


async def barrier(client):
    """An allowed read on the same session: once answered, everything forwarded before it
    is in the PLC's log."""
    r = await client.read_holding_registers(0, 1, slave=1)
    assert r.registers == [0]


def writes_seen(plc):
    return [e for e in plc.requests() if e["function"] in (5, 6, 15, 16, 22, 23)]


# --- allowed requests ---------------------------------------------------------------------

def test_granted_reads_return_the_plcs_holding_and_input_register_values(new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            holding = await c.read_holding_registers(0, 10, slave=1)
            inputs = await c.read_input_registers(0, 10, slave=1)
            single = await c.read_holding_registers(200, 1, slave=1)  # a granted single address
            edge = await c.read_holding_registers(101, 10, slave=1)   # 101..110: the range's end
            return holding, inputs, single, edge

    holding, inputs, single, edge = m.run(session())
    assert not holding.isError() and holding.registers == list(range(10))
    assert not inputs.isError() and inputs.registers == [1000 + i for i in range(10)]
    assert not single.isError() and single.registers == [200]
    assert not edge.isError() and edge.registers == list(range(101, 111))

    close = gw.wait_for("session_close", user="alice")
    assert (close["requests"], close["denied"], close["writes"]) == (4, 0, 0)
    assert [(e["function"], e["address"], e["count"]) for e in plc.requests()] == \
        [(3, 0, 10), (4, 0, 10), (3, 200, 1), (3, 101, 10)]


def test_a_write_inside_the_grant_and_bounds_reaches_the_plc_and_reads_back(new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            single = await c.write_register(100, 1500, slave=1)       # the bound's maximum
            multiple = await c.write_registers(101, [7, 8, 60000], slave=1)  # 101..103 unbounded
            back = await c.read_holding_registers(100, 4, slave=1)
            return single, multiple, back

    single, multiple, back = m.run(session())
    assert not single.isError(), single
    assert (single.address, single.value) == (100, 1500)
    assert not multiple.isError(), multiple
    assert (multiple.address, multiple.count) == (101, 3)
    assert back.registers == [1500, 7, 8, 60000]

    close = gw.wait_for("session_close", user="alice")
    assert (close["requests"], close["denied"], close["writes"]) == (3, 0, 2)
    writes = writes_seen(plc)
    assert [(e["function"], e["address"], e["values"]) for e in writes] == \
        [(6, 100, [1500]), (16, 101, [7, 8, 60000])]


def test_an_exception_from_the_plc_is_passed_back_to_the_client(new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            # Granted by the policy, but the PLC's map ends at 9999: the PLC answers 02.
            beyond = await c.read_holding_registers(9995, 10, slave=1)
            after = await c.read_holding_registers(9990, 5, slave=1)
            return beyond, after

    beyond, after = m.run(session())
    assert m.exception_code(beyond) == 2, beyond
    assert after.registers == [9990, 9991, 9992, 9993, 9994]
    assert [(e["function"], e["address"], e["count"]) for e in plc.requests()] == \
        [(3, 9995, 10), (3, 9990, 5)]


# --- denied requests -----------------------------------------------------------------------

def test_a_write_outside_the_granted_addresses_gets_exception_01_and_never_reaches_the_plc(
        new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            answers = [
                await c.write_register(5, 1, slave=1),             # readable, not writable
                await c.write_register(111, 1, slave=1),           # one past the write range
                await c.write_registers(109, [1, 2, 3], slave=1),  # straddles its end
                await c.write_coil(0, True, slave=1),              # coils not granted at all
            ]
            await barrier(c)
            return answers

    answers = m.run(session())
    assert [m.exception_code(a) for a in answers] == [1, 1, 1, 1], answers
    assert [a.function_code for a in answers] == [0x86, 0x86, 0x90, 0x85]

    close = gw.wait_for("session_close", user="alice")
    assert writes_seen(plc) == []
    assert (close["requests"], close["denied"], close["writes"]) == (5, 4, 0)
    assert [a["reason"] for a in m.audit_entries(gw) if a["decision"] == "deny"] == \
        ["write outside granted addresses"] * 3 + ["function code not granted"]


def test_a_read_outside_the_granted_addresses_gets_exception_01_and_never_reaches_the_plc(
        new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            answers = [
                await c.read_holding_registers(108, 4, slave=1),  # 108..111 straddles the end
                await c.read_holding_registers(111, 1, slave=1),
                await c.read_input_registers(100, 1, slave=1),
                await c.read_coils(0, 8, slave=1),                # coils not granted
            ]
            await barrier(c)
            return answers

    answers = m.run(session())
    assert [m.exception_code(a) for a in answers] == [1, 1, 1, 1], answers
    gw.wait_for("session_close", user="alice")
    assert [(e["function"], e["address"]) for e in plc.requests()] == [(3, 0)]  # the barrier
    assert [a["reason"] for a in m.audit_entries(gw) if a["decision"] == "deny"] == \
        ["read outside granted addresses"] * 3 + ["function code not granted"]


def test_a_value_outside_the_granted_bounds_gets_exception_01_and_never_reaches_the_plc(
        new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            answers = [
                await c.write_register(100, 1501, slave=1),
                await c.write_registers(100, [1501, 0], slave=1),
                await c.write_registers(100, [0, 0, 0], slave=1),     # minimum: allowed
            ]
            await barrier(c)
            return answers

    answers = m.run(session())
    assert [m.exception_code(a) for a in answers] == [1, 1, None], answers
    close = gw.wait_for("session_close", user="alice")
    assert [(e["function"], e["address"], e["values"]) for e in writes_seen(plc)] == \
        [(16, 100, [0, 0, 0])]
    assert (close["requests"], close["denied"], close["writes"]) == (4, 2, 1)
    assert [a["reason"] for a in m.audit_entries(gw) if a["decision"] == "deny"] == \
        ["written value outside granted bounds"] * 2


def test_a_mask_write_to_a_register_with_value_bounds_is_refused_and_elsewhere_allowed(
        new_gateway, new_plc):
    """FC 22's result depends on the register's current value, which only the PLC knows, so
    it cannot be proven within bounds (config/README.md)."""
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            # pymodbus 3.0's mask_write_register takes `unit`, not `slave` (default 0).
            bounded = await c.mask_write_register(100, 0x0000, 0x0001, unit=1)
            free = await c.mask_write_register(101, 0xFF00, 0x0005, unit=1)
            back = await c.read_holding_registers(101, 1, slave=1)
            return bounded, free, back

    bounded, free, back = m.run(session())
    assert m.exception_code(bounded) == 1, bounded
    assert not free.isError(), free
    assert back.registers == [(101 & 0xFF00) | (0x0005 & ~0xFF00 & 0xFFFF)]
    gw.wait_for("session_close", user="alice")
    masks = [(e["address"], e["and_mask"], e["or_mask"]) for e in plc.requests(function=22)]
    assert masks == [(101, 0xFF00, 0x0005)]


def test_a_function_only_an_explicit_list_grants_reaches_the_plc_when_listed(
        new_gateway, new_plc):
    plc = new_plc()
    grants = [{"id": "alice-id", "users": ["alice"], "devices": ["*"], "assets": [ASSET],
               "modbus": {"functions": [3, 17], "read": {"holding_registers": ["0-9"]}}}]
    gw = start(new_gateway, plc, grants=grants)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    tls.sendall(m.mbap(5, 1, b"\x11"))  # FC 17 Report Server ID
    tid, unit, pdu = m.read_adu(tls)
    assert (tid, unit, pdu[0]) == (5, 1, 0x11), pdu.hex()  # the PLC's own answer
    tls.sendall(m.mbap(6, 1, b"\x2b\x0e\x01\x00"))  # FC 43 is still not listed
    assert m.read_adu(tls) == (6, 1, bytes([0xAB, 0x01]))
    h.close_tls(tls)

    gw.wait_for("session_close", user="alice")
    assert [e["function"] for e in plc.requests()] == [17]


@pytest.mark.parametrize("pdu", [
    bytes.fromhex("0800040000"),    # FC 8 / 04 Force Listen Only Mode
    bytes.fromhex("0800010000"),    # FC 8 / 01 Restart Communications Option
    bytes.fromhex("08000a0000"),    # FC 8 / 0A Clear Counters (anti-forensics)
    bytes.fromhex("5a0041"),        # FC 90 Schneider UMAS, 0x41 STOP_PLC
    bytes.fromhex("5a0040ff00"),    # FC 90 UMAS, 0x40 START_PLC
    bytes.fromhex("7e"),            # FC 126 program download
    bytes.fromhex("2b0e0100"),      # FC 43 / 14 Read Device Identification (recon)
    bytes.fromhex("11"),            # FC 17 Report Server ID (recon)
], ids=["fc8-listen-only", "fc8-restart", "fc8-clear-counters", "fc90-umas-stop",
        "fc90-umas-start", "fc126", "fc43-device-id", "fc17"])
def test_a_function_no_grant_names_gets_exception_01_and_never_reaches_the_plc(
        new_gateway, new_plc, pdu):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    tls.sendall(m.mbap(0x4242, 1, pdu))
    assert m.read_adu(tls) == (0x4242, 1, bytes([pdu[0] | 0x80, 0x01]))
    # The session goes on (a refusal is not a framing error); this read is the barrier.
    tls.sendall(m.mbap(0x4343, 1, m.read_registers_pdu(3, 0, 2)))
    tid, unit, response = m.read_adu(tls)
    assert (tid, unit, m.registers_of(response)) == (0x4343, 1, [0, 1])
    h.close_tls(tls)

    close = gw.wait_for("session_close", user="alice")
    assert [e["function"] for e in plc.requests()] == [3]
    assert (close["requests"], close["denied"]) == (2, 1)


# --- identities --------------------------------------------------------------------------

def assert_cannot_read(gw, cert_key, device, user):
    """The certificate gets nothing: refused for the whole session (session_denied, no
    session_open) or request by request (exception 01)."""
    got = m.run(try_read(gw, *cert_key))
    assert got != list(range(10)), f"{user} on {device} read registers it has no grant for"
    if got[0] == "closed":
        gw.wait_for("session_denied", device=device, user=user)
        assert not gw.events("session_open", device=device, user=user)
    else:
        assert got == ("exception", 1), got
        gw.wait_for("session_close", device=device, user=user)


async def try_read(gw, cert, key):
    """Reads holding registers 0..9; returns the registers, ("exception", code) or
    ("closed", why) when the gateway ended the session."""
    try:
        async with m.modbus_client(gw, cert, key) as c:
            r = await c.read_holding_registers(0, 10, slave=1)
            return ("exception", r.exception_code) if r.isError() else r.registers
    except (ConnectionException, ConnectionError, AssertionError) as e:
        return ("closed", str(e))


def test_another_users_certificate_for_the_same_device_cannot_read_what_alice_can(
        new_gateway, new_plc):
    plc = new_plc()
    grant = {**ALICE_GRANT, "devices": ["laptop-7"]}
    gw = start(new_gateway, plc, grants=[grant])
    alice = m.issue_device(gw, "laptop-7", user="alice", subdir="alice")
    mallory = m.issue_device(gw, "laptop-7", user="mallory", subdir="mallory")

    assert m.run(try_read(gw, *alice)) == list(range(10))
    gw.wait_for("session_close", user="alice")
    assert_cannot_read(gw, mallory, "laptop-7", "mallory")

    for ev in gw.events("session_denied") + gw.events("session_close", user="mallory"):
        assert (ev["device"], ev["user"]) == ("laptop-7", "mallory")
    assert [(e["function"], e["address"]) for e in plc.requests()] == [(3, 0)]  # alice's only


def test_a_role_grant_admits_a_certificate_with_that_role_and_no_other(new_gateway, new_plc):
    plc = new_plc()
    grant = {"id": "operators-read", "roles": ["Operator"], "devices": ["*"], "assets": [ASSET],
             "modbus": {"read": {"holding_registers": ["0-99"]}}}
    gw = start(new_gateway, plc, grants=[grant])
    operator = m.issue_device(gw, "hmi-1", user="carol", role="Operator")
    engineer = m.issue_device(gw, "hmi-2", user="dave", role="Engineer")
    no_role = m.issue_device(gw, "hmi-3", user="erin")

    assert m.run(try_read(gw, *operator)) == list(range(10))
    close = gw.wait_for("session_close", device="hmi-1")
    assert_cannot_read(gw, engineer, "hmi-2", "dave")
    assert_cannot_read(gw, no_role, "hmi-3", "erin")

    opened = gw.events("session_open", device="hmi-1")[0]
    assert (opened["role"], opened["rule"]) == ("Operator", "operators-read")
    assert [(e["function"], e["address"]) for e in plc.requests()] == [(3, 0)]
    lines = [a for a in m.audit_entries(gw) if a["session"] == close["session"]]
    assert [(a["role"], a["rule"], a["decision"]) for a in lines] == \
        [("Operator", "operators-read", "allow")]


def test_device_groups_asset_labels_and_time_windows_select_the_grant(new_gateway, new_plc):
    plc = new_plc()
    today = datetime.datetime.now().weekday()  # the gateway uses local time too
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    read = {"read": {"holding_registers": ["0-99"]}}
    grants = [
        {"id": "line-1-laptops", "users": ["alice"], "devices": ["group:line-1"],
         "assets": ["label:press"], "time_windows": [{"days": ["mon-sun"], "from": "00:00",
                                                       "to": "24:00"}], "modbus": read},
        # Never in time: three days from today, so no time zone shift makes it today.
        {"id": "bob-never", "users": ["bob"], "devices": ["*"], "assets": ["plc-*"],
         "time_windows": [{"days": [days[(today + 3) % 7]], "from": "00:00", "to": "24:00"}],
         "modbus": read},
        {"id": "carol-prefix", "users": ["carol"], "devices": ["*"], "assets": ["plc-*"],
         "modbus": read},
    ]
    gw = start(new_gateway, plc, grants=grants, labels=["press", "line-1"],
               device_groups={"line-1": ["laptop-7"]})
    in_group = m.issue_device(gw, "laptop-7", user="alice", subdir="a")
    not_in_group = m.issue_device(gw, "laptop-8", user="alice", subdir="b")
    bob = m.issue_device(gw, "laptop-9", user="bob")
    carol = m.issue_device(gw, "laptop-10", user="carol")

    assert m.run(try_read(gw, *in_group)) == list(range(10))
    assert gw.wait_for("session_close", device="laptop-7")
    assert gw.events("session_open", device="laptop-7")[0]["rule"] == "line-1-laptops"
    assert m.run(try_read(gw, *carol)) == list(range(10))
    assert gw.wait_for("session_close", device="laptop-10")
    assert gw.events("session_open", device="laptop-10")[0]["rule"] == "carol-prefix"
    assert_cannot_read(gw, not_in_group, "laptop-8", "alice")
    assert_cannot_read(gw, bob, "laptop-9", "bob")
    # A time window is checked when the session opens (no grant is in time for bob).
    assert "time window" in gw.wait_for("session_denied", device="laptop-9")["reason"]
    assert [(e["function"], e["address"]) for e in plc.requests()] == [(3, 0), (3, 0)]


# --- unit ids --------------------------------------------------------------------------

def test_a_unit_the_asset_does_not_serve_gets_exception_0a_and_never_reaches_the_plc(
        new_gateway, new_plc):
    plc = new_plc(unit_ids=(1, 2))  # would answer unit 2, so only its log can tell
    gw = start(new_gateway, plc)    # the asset serves unit_ids [1]
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            answers = [await c.read_holding_registers(0, 2, slave=unit) for unit in (2, 0, 255)]
            await barrier(c)
            return answers

    unit_2, unit_0, unit_255 = m.run(session())
    assert m.exception_code(unit_2) == 0x0A, unit_2
    assert m.exception_code(unit_255) == 0x0A, unit_255
    # Unit 0 (broadcast) is not in a grant's default unit ids either: the policy may
    # refuse it first (01), or the asset (0A); it never reaches the PLC.
    assert m.exception_code(unit_0) in (0x01, 0x0A), unit_0
    assert [a.function_code for a in (unit_2, unit_0, unit_255)] == [0x83] * 3
    gw.wait_for("session_close", user="alice")
    assert [(e["unit"], e["function"]) for e in plc.requests()] == [(1, 3)]


def test_an_asset_serving_every_unit_still_never_forwards_unit_0(new_gateway, new_plc):
    plc = new_plc(unit_ids=(0, 1, 255))
    # The grant names unit 0 explicitly, so only the asset's "*" (1..255) can refuse it.
    grant = {**ALICE_GRANT, "modbus": {**ALICE_GRANT["modbus"], "unit_ids": [0, 1, 255]}}
    gw = start(new_gateway, plc, grants=[grant], asset_settings={"unit_ids": "*"})
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            broadcast = await c.write_register(100, 5, slave=0)  # a broadcast write
            top = await c.read_holding_registers(3, 2, slave=255)
            await barrier(c)
            return broadcast, top

    broadcast, top = m.run(session())
    assert m.exception_code(broadcast) == 0x0A, broadcast
    assert top.registers == [3, 4]
    gw.wait_for("session_close", user="alice")
    assert [(e["unit"], e["function"]) for e in plc.requests()] == [(255, 3), (1, 3)]


def test_a_unit_the_grant_does_not_name_gets_exception_01(new_gateway, new_plc):
    plc = new_plc(unit_ids=(1, 2))
    grant = {**ALICE_GRANT, "modbus": {**ALICE_GRANT["modbus"], "unit_ids": [1]}}
    gw = start(new_gateway, plc, grants=[grant], asset_settings={"unit_ids": [1, 2]})
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            other = await c.read_holding_registers(0, 2, slave=2)
            await barrier(c)
            return other

    assert m.exception_code(m.run(session())) == 1
    gw.wait_for("session_close", user="alice")
    assert [(e["unit"], e["function"]) for e in plc.requests()] == [(1, 3)]
    denied = [a for a in m.audit_entries(gw) if a["decision"] == "deny"]
    assert [(a["unit"], a["reason"]) for a in denied] == [(2, "unit id not granted")]


# --- audit trail and session counters ----------------------------------------------------

def scripted_session(gw, cert, key):
    """One session with one request of each outcome; returns the pymodbus answers."""
    async def session():
        async with m.modbus_client(gw, cert, key) as c:
            return [
                await c.read_holding_registers(0, 10, slave=1),     # allow, response
                await c.write_register(100, 1200, slave=1),         # allow, response (write)
                await c.write_register(5, 1, slave=1),              # deny: address
                await c.write_register(100, 1501, slave=1),         # deny: value
                await c.read_holding_registers(0, 2, slave=2),      # unknown unit
                await c.read_holding_registers(9995, 10, slave=1),  # allow, PLC exception 02
            ]
    return m.run(session())


def test_the_audit_trail_has_one_line_per_request_with_decision_rule_and_outcome(
        new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    answers = scripted_session(gw, cert, key)
    assert [m.exception_code(a) for a in answers] == [None, None, 1, 1, 0x0A, 2]

    close = gw.wait_for("session_close", user="alice")
    assert (close["requests"], close["denied"], close["writes"]) == (6, 2, 1)
    lines = m.audit_entries(gw)
    assert all(a["session"] == close["session"] for a in lines), lines
    assert all((a["user"], a["device"], a["asset"]) == ("alice", "laptop-7", ASSET)
               for a in lines)
    assert [(a["unit"], a["function"], a["decision"], a["rule"], a["outcome"]) for a in lines] == [
        (1, 3, "allow", "alice-plc", "response"),
        (1, 6, "allow", "alice-plc", "response"),
        (1, 6, "deny", "default-deny", "denied"),
        (1, 6, "deny", "default-deny", "denied"),
        (2, 3, "allow", "alice-plc", "unknown_unit"),
        (1, 3, "allow", "alice-plc", "response"),
    ]
    assert lines[2]["reason"] == "write outside granted addresses"
    assert lines[3]["reason"] == "written value outside granted bounds"
    # Request and response bytes as the client sent and received them (transaction ids
    # are pymodbus' own 1, 2, ...); the write's value is on record.
    assert lines[0]["request"] == "00010000000601030000000a"
    assert lines[0]["response"] == "000100000017010314" + "".join(f"{i:04x}" for i in range(10))
    assert lines[1]["request"] == lines[1]["response"] == "0002000000060106006404b0"
    assert lines[3]["request"] == "0004000000060106006405dd"
    assert lines[5]["response"] == "000600000003018302"
    assert lines[5]["exception"] == 2
    assert all(isinstance(a["ts_us"], int) for a in lines)
    assert [a["ts_us"] for a in lines] == sorted(a["ts_us"] for a in lines)


def test_the_audit_trail_records_the_exception_the_gateway_answered_with(new_gateway, new_plc):
    """"exception" is on every line whose answer was an exception, including the ones the
    gateway itself answered (01 denied, 0A unknown unit), not only those from the PLC."""
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    scripted_session(gw, cert, key)

    gw.wait_for("session_close", user="alice")
    lines = m.audit_entries(gw)
    assert [a.get("exception") for a in lines] == [None, None, 1, 1, 0x0A, 2], lines
