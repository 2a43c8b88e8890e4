"""Offline by construction (issue 4 point 5): the whole enroll -> login -> tunnel -> asset
flow in a network namespace that has only loopback. ctest runs this file through
tests/integration/offline.sh (`unshare --net`, then `ip link set lo up`); run by hand it
refuses to pass anywhere that has another interface, so it can never pass by accident
with a network at hand."""

import json
import pytest

import conduit_harness as h
import fido_helpers as f
import modbus_helpers as m
from modbus_helpers import ASSET, LISTENER

new_plc = m.new_plc  # fixture (modbus_helpers)


def interfaces():
    """This network namespace's interfaces (/proc/net/dev follows the namespace; a
    /sys/class/net mounted outside it would not)."""
    lines = open("/proc/net/dev").read().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


@pytest.fixture
def key(tmp_path):
    soft = f.SoftKey(tmp_path / "softkey")
    yield soft
    soft.close()


def test_enroll_login_tunnel_and_modbus_read_work_with_only_loopback(new_gateway, new_plc, key):
    assert interfaces() == ["lo"], "run through tests/integration/offline.sh (a loopback-only namespace)"
    plc = new_plc()
    config = m.modbus_config(plc.address_str, [])
    config["grants"] = [{"id": "alice-press", "users": ["alice"], "devices": ["laptop-7"], "assets": [ASSET],
                         "modbus": {"read": {"holding_registers": ["0-99"]}}}]
    config["auth"] = f.auth_section()
    gw = new_gateway(start=False)
    gw.write_config_text(json.dumps(config))
    gw.start()

    site = f.Site(gw, key)
    site.enroll_key()
    cert, client_key = site.login_ok()
    tunnel = h.TunnelProcess(gw, cert, client_key, asset=ASSET, listener=LISTENER)
    try:
        result = m.mbpoll(tunnel.address[1], "-a", 1, "-r", 10, "-c", 3, "-t", 4, "127.0.0.1")
        assert result.returncode == 0, result.stdout + result.stderr
        assert m.polled_values(result.stdout) == {10: 10, 11: 11, 12: 12}, result.stdout
    finally:
        tunnel.close()
    assert [e["function"] for e in plc.requests()] == [3]
    opened = gw.wait_for("session_open", user="alice", asset=ASSET)
    assert opened["key"] == site.key_id
