"""A grant applies only to assets of a protocol it has rules for (config/README.md, Grants).

The defect this guards against, as a new user met it: a grant with `"assets":
["label:line-1"]` and only Modbus read rules also opened a full raw TCP session to a `tcp`
asset carrying that label, and `check-config` accepted the grant even when it named that
asset outright."""

import json

import conduit_harness as h
import modbus_helpers as m
from modbus_helpers import ASSET, LISTENER

new_plc = m.new_plc  # fixture (modbus_helpers)

HMI = "hmi-1"
HMI_LISTENER = "hmi-1-tunnel"
MODBUS_READS = {"id": "acme-readonly", "users": ["acme-eng"], "devices": ["*"], "assets": ["label:line-1"],
                "modbus": {"read": {"holding_registers": ["0-99"]}}}


def line_1_config(plc, echo, grants):
    """press-1 (modbus) and hmi-1 (tcp, the echo server), both labelled line-1."""
    return m.modbus_config(
        plc.address_str, grants, labels=["line-1"],
        extra_assets=[{"name": HMI, "address": echo.address_str, "labels": ["line-1"]}],
        extra_listeners=[{"name": HMI_LISTENER, "bind": "127.0.0.1:0", "asset": HMI}])


def test_a_modbus_only_grant_opens_no_raw_tunnel_to_a_tcp_asset_with_the_same_label(new_gateway, new_plc, echo):
    plc = new_plc()
    gw = m.start_gateway(new_gateway, line_1_config(plc, echo, [MODBUS_READS]))
    cert, key = m.issue_device(gw, "acme-laptop-3", user="acme-eng")

    h.expect_tls_refused(gw.address(HMI_LISTENER), gw.client_context(cert, key))
    denied = gw.wait_for("session_denied", asset=HMI)
    assert (denied["rule"], denied["reason"]) == ("default-deny", "no grant for this asset has rules for its protocol")
    assert echo.connection_count() == 0
    assert not gw.events("session_open", asset=HMI)

    # The same grant still reads the Modbus asset it was written for.
    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    tls.sendall(m.mbap(1, 1, m.read_registers_pdu(3, 0, 2)))
    assert m.registers_of(m.read_adu(tls)[2]) == [0, 1]
    h.close_tls(tls)
    assert gw.wait_for("session_close", asset=ASSET)["requests"] == 1


def test_a_tcp_grant_opens_the_tunnel_and_no_modbus_session(new_gateway, new_plc, echo):
    plc = new_plc()
    tunnel = {"id": "hmi-tunnel", "users": ["alice"], "devices": ["*"], "assets": ["label:line-1"], "tcp": {}}
    gw = m.start_gateway(new_gateway, line_1_config(plc, echo, [tunnel]))
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    tls = h.tls_connect(gw.address(HMI_LISTENER), gw.client_context(cert, key))
    h.roundtrip(tls, b"hello")
    h.close_tls(tls)
    assert gw.wait_for("session_open", asset=HMI)["rule"] == "hmi-tunnel"

    h.expect_tls_refused(gw.address(LISTENER), gw.client_context(cert, key))
    assert gw.wait_for("session_denied", asset=ASSET)["reason"] == "no grant for this asset has rules for its protocol"
    assert plc.requests() == []


def check_config(tmp_path, gw, config):
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config, indent=2))
    return h.run_cli("check-config", path, "--data-dir", gw.data_dir)


def test_check_config_refuses_a_grant_naming_an_asset_of_a_protocol_it_has_no_rules_for(
        tmp_path, new_gateway, new_plc, echo):
    plc = new_plc()
    gw = new_gateway(start=False)
    named = {**MODBUS_READS, "assets": [ASSET, HMI]}
    proc = check_config(tmp_path, gw, line_1_config(plc, echo, [named]))
    assert proc.returncode == 2, proc
    assert proc.stderr.strip() == (
        'config error at /grants/0/assets/1: asset "hmi-1" is of kind "tcp" but the grant has no "tcp" rules; '
        "add them or remove the asset")

    # A grant in the older form (no rules at all) meant a raw tunnel: it may name tcp
    # assets, and check-config says how it was read, but it may not name a Modbus asset.
    legacy = {"id": "old-tunnel", "users": ["alice"], "devices": ["*"], "assets": [HMI]}
    proc = check_config(tmp_path, gw, line_1_config(plc, echo, [legacy]))
    assert proc.returncode == 0, proc.stderr
    assert 'note: /grants/0 has no protocol rules: read as "tcp": {}' in proc.stdout
    proc = check_config(tmp_path, gw, line_1_config(plc, echo, [{**legacy, "assets": [ASSET]}]))
    assert proc.returncode == 2
    assert 'asset "plc-1" is of kind "modbus" but the grant has no "modbus" rules' in proc.stderr
