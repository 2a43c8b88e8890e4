"""A gateway serving Modbus assets starts, reloads and stops like any other: SIGTERM drains
and exits 0 whatever the thread count; a reload changes the grants of new sessions only."""

import json
import signal

import pytest

import conduit_harness as h
import modbus_helpers as m
from modbus_helpers import ASSET, LISTENER

new_plc = m.new_plc  # fixture (modbus_helpers)

GRANT = {"id": "alice-plc", "users": ["alice"], "devices": ["*"], "assets": [ASSET],
         "modbus": {"read": {"holding_registers": ["0-99"]},
                    "write": {"holding_registers": ["50-59"]}}}


def read_over(tls, transaction_id, address):
    tls.sendall(m.mbap(transaction_id, 1, m.read_registers_pdu(3, address, 1)))
    tid, unit, pdu = m.read_adu(tls)
    assert tid == transaction_id
    return m.registers_of(pdu)


def write_over(tls, transaction_id, address, value):
    """FC 6; returns the response PDU."""
    tls.sendall(m.mbap(transaction_id, 1, bytes([6]) + address.to_bytes(2, "big") +
                       value.to_bytes(2, "big")))
    tid, unit, pdu = m.read_adu(tls)
    assert tid == transaction_id
    return pdu


@pytest.mark.parametrize("threads", [1, 2], ids=["1-thread", "2-threads"])
@pytest.mark.parametrize("with_session", [False, True], ids=["idle", "after-a-session"])
def test_a_gateway_with_a_modbus_listener_stops_cleanly_on_sigterm(
        new_gateway, new_plc, threads, with_session):
    plc = new_plc()
    gw = m.start_gateway(new_gateway, m.modbus_config(plc.address_str, [GRANT], threads=threads))
    if with_session:
        cert, key = m.issue_device(gw, "laptop-7", user="alice")
        tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
        assert read_over(tls, 1, 3) == [3]
        h.close_tls(tls)
        gw.wait_for("session_close", user="alice")

    gw.stop()  # SIGTERM: exit code 0 and gateway_stopped within the failure bound
    assert gw.events("drain_started")


def test_sigterm_lets_a_live_modbus_session_finish(new_gateway, new_plc):
    plc = new_plc()
    gw = m.start_gateway(new_gateway, m.modbus_config(plc.address_str, [GRANT]))
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    assert read_over(tls, 1, 3) == [3]

    gw.terminate()
    assert gw.wait_for("drain_started")["sessions"] == 1
    assert read_over(tls, 2, 4) == [4]  # still served while draining
    h.close_tls(tls)

    assert gw.wait_exit() == 0
    assert gw.wait_for("gateway_stopped")["sessions_terminated"] == 0
    assert gw.wait_for("session_close", user="alice")["requests"] == 2


def test_a_reload_that_narrows_a_grant_applies_to_new_sessions_and_not_to_live_ones(
        new_gateway, new_plc):
    plc = new_plc()
    config = m.modbus_config(plc.address_str, [GRANT])
    gw = m.start_gateway(new_gateway, config)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    live = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    assert write_over(live, 1, 55, 1) == bytes.fromhex("0600370001")

    read_only = {**GRANT, "mfa": "none", "modbus": {"read": GRANT["modbus"]["read"]}}
    gw.write_config_text(json.dumps({**config, "grants": [read_only]}))
    mark = gw.mark()
    gw.reload()
    gw.wait_for("config_reloaded", since=mark)

    fresh = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    assert write_over(fresh, 1, 56, 2) == bytes([0x86, 0x01])
    assert write_over(live, 2, 57, 3) == bytes.fromhex("0600390003")
    h.close_tls(fresh)
    h.close_tls(live)

    gw.wait_for_n("session_close", 2, user="alice")
    writes = [(e["address"], e["values"]) for e in plc.requests() if e["function"] == 6]
    assert writes == [(55, [1]), (57, [3])]


def test_a_reload_that_moves_a_modbus_listener_to_another_asset_is_rejected(
        new_gateway, new_plc):
    plc = new_plc()
    other = {"name": "plc-2", "address": plc.address_str, "kind": "modbus",
             "modbus": dict(m.DEFAULT_ASSET_SETTINGS)}
    config = m.modbus_config(plc.address_str, [GRANT], extra_assets=[other])
    gw = m.start_gateway(new_gateway, config)

    moved = json.loads(json.dumps(config))
    moved["listeners"][0]["asset"] = "plc-2"
    gw.write_config_text(json.dumps(moved))
    mark = gw.mark()
    gw.signal(signal.SIGHUP)
    rejected = gw.wait_for("config_reload_rejected", since=mark)
    assert "restart" in rejected["error"], rejected

    # The running configuration is unchanged: alice's grant (for plc-1) still works.
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    assert read_over(tls, 1, 9) == [9]
    h.close_tls(tls)
