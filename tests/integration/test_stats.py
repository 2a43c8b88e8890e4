"""`conduit stats`: the running gateway's counters (proxy/STATS.md), summed over its I/O
threads, one per way a connection, a session or a request is decided or fails."""

import json
import re

import conduit_harness as h
import modbus_helpers as m
from modbus_helpers import LISTENER

new_plc = m.new_plc  # fixture (modbus_helpers)

GRANT = {"id": "alice-plc", "users": ["alice"], "devices": ["*"], "assets": [m.ASSET],
         "modbus": {"read": {"holding_registers": ["0-99"]}, "write": {"holding_registers": ["50-59"]}}}


def stats(gw):
    return json.loads(h.run_cli_ok("stats", "--data-dir", gw.data_dir, "--json").stdout)


def test_stats_count_each_decision_and_failure_of_sessions_and_requests(new_gateway, new_plc):
    plc = new_plc()
    gw = m.start_gateway(new_gateway, m.modbus_config(plc.address_str, [GRANT], threads=2))
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    before = stats(gw)
    assert before["gateway.sessions_opened"] == 0 and before["modbus.requests"] == 0, before

    h.expect_tls_refused(gw.address(LISTENER), gw.client_context())  # no client certificate
    gw.wait_for("tls_handshake_failed")
    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    for transaction_id, pdu in enumerate([m.read_registers_pdu(3, 0, 2),        # allowed
                                          m.read_registers_pdu(3, 500, 2),      # denied: address
                                          bytes.fromhex("0600320007")], 1):    # allowed write, FC 6
        tls.sendall(m.mbap(transaction_id, 1, pdu))
        assert m.read_adu(tls)[0] == transaction_id
    h.close_tls(tls)
    gw.wait_for("session_close", user="alice")

    after = stats(gw)
    assert {name: after[name] for name in (
        "gateway.connections_accepted", "gateway.tls_handshake_failed", "gateway.sessions_opened",
        "gateway.sessions_closed", "gateway.sessions_denied_policy", "gateway.sessions_live",
        "modbus.requests", "modbus.requests_allowed", "modbus.requests_denied_policy", "modbus.writes",
        "modbus.responses", "gateway.coroutine_exceptions")} == {
        "gateway.connections_accepted": 2, "gateway.tls_handshake_failed": 1, "gateway.sessions_opened": 1,
        "gateway.sessions_closed": 1, "gateway.sessions_denied_policy": 0, "gateway.sessions_live": 0,
        "modbus.requests": 3, "modbus.requests_allowed": 2, "modbus.requests_denied_policy": 1, "modbus.writes": 1,
        "modbus.responses": 2, "gateway.coroutine_exceptions": 0}


def test_every_counter_is_documented_and_every_documented_counter_exists(new_gateway, new_plc):
    plc = new_plc()
    gw = m.start_gateway(new_gateway, m.modbus_config(plc.address_str, [GRANT]))
    names = set(stats(gw))
    doc = (h.REPO / "proxy" / "STATS.md").read_text()
    documented = set()
    for section in re.split(r"^## ", doc, flags=re.M)[1:]:
        module = section.split("\n", 1)[0].strip()
        documented |= {f"{module}.{name}" for name in re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)}
    assert names == documented, (sorted(names - documented), sorted(documented - names))


def test_the_table_lists_each_counter_once_with_its_value(new_gateway, new_plc):
    plc = new_plc()
    gw = m.start_gateway(new_gateway, m.modbus_config(plc.address_str, [GRANT]))
    table = h.run_cli_ok("stats", "--data-dir", gw.data_dir).stdout.splitlines()
    rows = dict(line.split() for line in table)
    assert rows.keys() == stats(gw).keys()
    assert rows["gateway.sessions_live"] == "0"
