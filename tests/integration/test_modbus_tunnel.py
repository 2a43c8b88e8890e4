"""mbpoll, a plain Modbus/TCP tool, through `conduit tunnel` (local plain TCP -> TLS with the
device certificate -> gateway -> PLC), as a technician runs it."""


import pytest

import conduit_harness as h
import modbus_helpers as m
from modbus_helpers import ASSET, LISTENER

new_plc = m.new_plc  # fixture (modbus_helpers)

GRANT = {"id": "alice-plc", "users": ["alice"], "devices": ["*"], "assets": [ASSET],
         "modbus": {"read": {"holding_registers": ["0-99"], "input_registers": ["0-99"]},
                    "write": {"holding_registers": ["50-59"]}}}


@pytest.fixture
def tunnels():
    made = []

    def make(gw, cert, key):
        tunnel = h.TunnelProcess(gw, cert, key, asset=ASSET, listener=LISTENER)
        made.append(tunnel)
        return tunnel

    yield make
    for tunnel in made:
        tunnel.close()


def start(new_gateway, plc):
    return m.start_gateway(new_gateway, m.modbus_config(plc.address_str, [GRANT]))


def test_mbpoll_reads_holding_and_input_registers_through_the_tunnel(
        new_gateway, new_plc, tunnels):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    tunnel = tunnels(gw, cert, key)

    holding = m.mbpoll(tunnel.address[1], "-a", 1, "-r", 0, "-c", 10, "-t", 4, "127.0.0.1")
    assert holding.returncode == 0, holding.stdout + holding.stderr
    assert m.polled_values(holding.stdout) == {i: i for i in range(10)}, holding.stdout
    inputs = m.mbpoll(tunnel.address[1], "-a", 1, "-r", 90, "-c", 10, "-t", 3, "127.0.0.1")
    assert inputs.returncode == 0, inputs.stdout + inputs.stderr
    assert m.polled_values(inputs.stdout) == {i: 1000 + i for i in range(90, 100)}, inputs.stdout

    closes = gw.wait_for_n("session_close", 2, user="alice")
    assert [(c["requests"], c["denied"]) for c in closes] == [(1, 0), (1, 0)]
    assert [(e["function"], e["address"], e["count"]) for e in plc.requests()] == \
        [(3, 0, 10), (4, 90, 10)]


def test_mbpoll_writes_a_granted_register_and_reads_it_back(new_gateway, new_plc, tunnels):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    tunnel = tunnels(gw, cert, key)

    write = m.mbpoll(tunnel.address[1], "-a", 1, "-r", 55, "-t", 4, "127.0.0.1", 4242)
    assert write.returncode == 0, write.stdout + write.stderr
    read = m.mbpoll(tunnel.address[1], "-a", 1, "-r", 54, "-c", 3, "-t", 4, "127.0.0.1")
    assert m.polled_values(read.stdout) == {54: 54, 55: 4242, 56: 56}, read.stdout

    gw.wait_for_n("session_close", 2, user="alice")
    writes = [e for e in plc.requests() if e["function"] in (6, 16)]
    assert [(e["address"], e["values"]) for e in writes] == [(55, [4242])]


def test_mbpoll_writing_outside_the_grant_fails_with_illegal_function_and_the_plc_sees_no_write(
        new_gateway, new_plc, tunnels):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    tunnel = tunnels(gw, cert, key)

    write = m.mbpoll(tunnel.address[1], "-a", 1, "-r", 5, "-t", 4, "127.0.0.1", 1)
    assert write.returncode != 0, write.stdout
    assert "illegal function" in (write.stdout + write.stderr).lower(), write.stdout + write.stderr
    # The tunnel and the session outlive the refusal: the next poll works.
    read = m.mbpoll(tunnel.address[1], "-a", 1, "-r", 5, "-c", 1, "-t", 4, "127.0.0.1")
    assert m.polled_values(read.stdout) == {5: 5}, read.stdout

    closes = gw.wait_for_n("session_close", 2, user="alice")
    assert [(c["requests"], c["denied"], c["writes"]) for c in closes] == [(1, 1, 0), (1, 0, 0)]
    assert [e["function"] for e in plc.requests()] == [3]
    denied = [a for a in m.audit_entries(gw) if a["decision"] == "deny"]
    assert [(a["function"], a["reason"]) for a in denied] == \
        [(6, "write outside granted addresses")]


def test_mbpoll_through_a_tunnel_with_an_ungranted_certificate_gets_nothing(
        new_gateway, new_plc, tunnels):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-9", user="mallory")
    tunnel = tunnels(gw, cert, key)

    read = m.mbpoll(tunnel.address[1], "-a", 1, "-r", 0, "-c", 10, "-t", 4, "127.0.0.1")
    assert read.returncode != 0, read.stdout
    assert m.polled_values(read.stdout) == {}, read.stdout
    assert gw.wait_for("session_denied", user="mallory")["device"] == "laptop-9"
    assert plc.entries() == []
