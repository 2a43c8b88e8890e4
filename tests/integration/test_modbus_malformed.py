"""Framing and structure, over raw TLS: a malformed MBAP frame or a structurally invalid
request ends the session (there is nothing valid to answer, and nothing after it can be
framed or trusted) and reaches neither the PLC nor its connection pool; valid ADUs are
framed from the byte stream, not from TLS record or write boundaries.

"Never reached the PLC" is checked with a barrier: after the malformed session closed, a
new session's valid read is answered; the asset has one upstream connection (lazy, opened
for the first forwarded request) and the PLC logs one connection's requests in order, so
the PLC's log must then hold exactly that connection and that read.
"""

import struct

import pytest

import conduit_harness as h
import modbus_helpers as m
from modbus_helpers import LISTENER

new_plc = m.new_plc  # fixture (modbus_helpers)

GRANT = {"id": "alice-plc", "users": ["alice"], "devices": ["*"], "assets": [m.ASSET],
         "modbus": {"read": {"holding_registers": ["0-9999"], "coils": ["0-9999"],
                             "input_registers": ["0-99"]},
                    "write": {"holding_registers": ["0-9999"], "coils": ["0-9999"]}}}

FC3_READ_0_1 = m.read_registers_pdu(3, 0, 1)


def header(transaction_id, length, protocol_id=0):
    return struct.pack(">HHH", transaction_id, protocol_id, length)


MALFORMED = [
    # name, bytes sent in one write, session_close.reason prefix, a word it names
    ("protocol-id-1", m.mbap(1, 1, FC3_READ_0_1, protocol_id=1), "malformed frame:", "protocol"),
    ("protocol-id-ffff", m.mbap(1, 1, FC3_READ_0_1, protocol_id=0xFFFF), "malformed frame:",
     "protocol"),
    ("length-0", header(1, 0) + b"\x01" + FC3_READ_0_1, "malformed frame:", "length"),
    ("length-1", header(1, 1) + b"\x01" + FC3_READ_0_1, "malformed frame:", "length"),
    # Everything the Length announces is sent, so a lenient gateway could frame it.
    ("length-255", header(1, 255) + b"\x01" + b"\x10" + bytes(253), "malformed frame:", "length"),
    ("length-ffff", header(1, 0xFFFF) + b"\x01" + FC3_READ_0_1, "malformed frame:", "length"),
    # Valid framing (Length 4 = unit + 3 bytes), but FC 3 needs 4 bytes after the code.
    ("truncated-pdu", m.mbap(1, 1, b"\x03\x00\x00"), "malformed request:", "truncated"),
    ("function-only", m.mbap(1, 1, b"\x03"), "malformed request:", "truncated"),
    ("fc3-quantity-126", m.mbap(1, 1, m.read_registers_pdu(3, 0, 126)), "malformed request:",
     "quantity"),
    ("fc3-quantity-0", m.mbap(1, 1, m.read_registers_pdu(3, 0, 0)), "malformed request:",
     "quantity"),
    ("fc1-quantity-2001", m.mbap(1, 1, m.read_registers_pdu(1, 0, 2001)), "malformed request:",
     "quantity"),
    ("fc16-quantity-124", m.mbap(1, 1, struct.pack(">BHHB", 16, 0, 124, 248) + bytes(248)),
     "malformed frame:|malformed request:", ""),  # 254 bytes of PDU: Length 255, or quantity
    ("fc16-quantity-0", m.mbap(1, 1, struct.pack(">BHHB", 16, 0, 0, 0)), "malformed request:",
     "quantity"),
    ("fc16-byte-count-mismatch",
     m.mbap(1, 1, struct.pack(">BHHB", 16, 100, 2, 2) + b"\x00\x01"), "malformed request:",
     "byte count"),
    ("fc15-byte-count-mismatch",
     m.mbap(1, 1, struct.pack(">BHHB", 15, 0, 16, 1) + b"\xff"), "malformed request:",
     "byte count"),
    ("fc3-trailing-bytes", m.mbap(1, 1, FC3_READ_0_1 + b"\x00\x00"), "malformed request:",
     "trailing"),
    ("fc5-bad-coil-value", m.mbap(1, 1, struct.pack(">BHH", 5, 0, 0x1234)),
     "malformed request:", "coil"),
    ("fc3-address-overflow", m.mbap(1, 1, m.read_registers_pdu(3, 0xFFFF, 2)),
     "malformed request:", "overflow"),
    ("exception-code-as-request", m.mbap(1, 1, b"\x83\x02"), "malformed request:", "exception"),
]


def start(new_gateway, plc):
    return m.start_gateway(new_gateway, m.modbus_config(plc.address_str, [GRANT]))


def barrier_read(gw, cert, key, transaction_id=0x0B0B, address=7):
    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    tls.sendall(m.mbap(transaction_id, 1, m.read_registers_pdu(3, address, 1)))
    tid, unit, pdu = m.read_adu(tls)
    assert (tid, unit, m.registers_of(pdu)) == (transaction_id, 1, [address])
    h.close_tls(tls)


@pytest.mark.parametrize("data, reason_prefix, word",
                         [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_a_malformed_adu_closes_the_session_and_never_reaches_the_plc(
        new_gateway, new_plc, data, reason_prefix, word):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")
    before = plc.entries()

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    tls.sendall(data)
    how = h.expect_closed(tls)  # EOF (or a TLS error) within the failure bound; no answer
    tls.close()

    close = gw.wait_for("session_close", user="alice")
    reason = close["reason"]
    assert reason.startswith(tuple(reason_prefix.split("|"))), (reason, how)
    assert word.lower() in reason.lower(), reason
    assert plc.entries() == before == [], "the malformed session touched the PLC"

    barrier_read(gw, cert, key)
    gw.wait_for_n("session_close", 2, user="alice")
    assert plc.entries() == [{"event": "connect", "conn": 1},
                             {"conn": 1, "unit": 1, "function": 3, "address": 7, "count": 1}]
    malformed = [a for a in m.audit_entries(gw) if a["session"] == close["session"]]
    assert [(a["decision"], a["outcome"]) for a in malformed] == [("deny", "malformed")]


def test_a_malformed_adu_after_valid_ones_ends_the_session_without_forwarding_it(
        new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    tls.sendall(m.mbap(1, 1, m.read_registers_pdu(3, 10, 2)))
    assert m.read_adu(tls)[0] == 1
    # A write the grant allows, then one with a byte count that does not match.
    tls.sendall(m.mbap(2, 1, struct.pack(">BHHB", 16, 500, 2, 3) + b"\x00\x01\x00\x02"))
    h.expect_closed(tls)
    tls.close()

    close = gw.wait_for("session_close", user="alice")
    assert close["reason"].startswith("malformed request:"), close["reason"]
    barrier_read(gw, cert, key)
    gw.wait_for_n("session_close", 2, user="alice")
    assert [(e["function"], e["address"]) for e in plc.requests()] == [(3, 10), (3, 7)]


def test_a_truncated_adu_followed_by_a_close_never_reaches_the_plc(new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    # Length says 6 (unit + 5 bytes of PDU); only the function code and address follow.
    tls.sendall(header(1, 6) + b"\x01" + b"\x06\x00\x64")
    h.close_tls(tls)

    close = gw.wait_for("session_close", user="alice")
    assert close["requests"] == 0
    assert close["reason"] == "client closed" or close["reason"].startswith("malformed"), \
        close["reason"]
    barrier_read(gw, cert, key)
    gw.wait_for_n("session_close", 2, user="alice")
    assert [(e["function"], e["address"]) for e in plc.requests()] == [(3, 7)]


def test_two_adus_in_one_write_are_both_answered_in_order_with_the_clients_transaction_ids(
        new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    tls.sendall(m.mbap(0xBEEF, 1, m.read_registers_pdu(3, 40, 3)) +
                m.mbap(0x0102, 1, m.read_registers_pdu(4, 5, 2)))
    first = m.read_adu(tls)
    second = m.read_adu(tls)
    assert (first[0], first[1], m.registers_of(first[2])) == (0xBEEF, 1, [40, 41, 42])
    assert (second[0], second[1], m.registers_of(second[2], 4)) == (0x0102, 1, [1005, 1006])
    h.close_tls(tls)

    close = gw.wait_for("session_close", user="alice")
    assert close["requests"] == 2
    assert [(e["function"], e["address"]) for e in plc.requests()] == [(3, 40), (4, 5)]


def test_pipelined_requests_keep_their_transaction_ids_when_a_denied_one_is_answered_first(
        new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    tls.sendall(m.mbap(0x0001, 1, m.read_registers_pdu(3, 1, 1)) +
                m.mbap(0x0001, 1, m.read_registers_pdu(4, 9000, 1)) +   # same id, denied
                m.mbap(0xFFFF, 1, m.read_registers_pdu(3, 3, 1)))
    answers = [m.read_adu(tls) for _ in range(3)]
    h.close_tls(tls)

    # Responses may come in any order (Modbus/TCP matches them by transaction id); the
    # denied one is answered by the gateway, the others by the PLC.
    assert sorted(answers) == sorted([(0x0001, 1, bytes([3, 2, 0, 1])),
                                      (0x0001, 1, bytes([0x84, 0x01])),
                                      (0xFFFF, 1, bytes([3, 2, 0, 3]))])
    ok = [a for a in answers if a[2][0] == 3]
    assert [a[0] for a in ok] == [0x0001, 0xFFFF], "allowed responses out of order"
    gw.wait_for("session_close", user="alice")
    assert [(e["function"], e["address"]) for e in plc.requests()] == [(3, 1), (3, 3)]


def test_an_adu_split_across_writes_at_every_offset_is_answered_once(new_gateway, new_plc):
    plc = new_plc()
    gw = start(new_gateway, plc)
    cert, key = m.issue_device(gw, "laptop-7", user="alice")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    adu_length = len(m.mbap(0, 1, m.read_registers_pdu(3, 0, 1)))
    for split in range(1, adu_length):
        adu = m.mbap(0x7000 + split, 1, m.read_registers_pdu(3, 100 + split, 1))
        tls.sendall(adu[:split])  # one TLS record each
        tls.sendall(adu[split:])
        assert m.read_adu(tls) == (0x7000 + split, 1, bytes([3, 2, 0, 100 + split]))
    # Byte by byte: twelve records for one ADU.
    adu = m.mbap(0x7777, 1, m.read_registers_pdu(3, 77, 1))
    for i in range(len(adu)):
        tls.sendall(adu[i:i + 1])
    assert m.read_adu(tls) == (0x7777, 1, bytes([3, 2, 0, 77]))
    # Nothing extra was answered: the next response is this request's.
    tls.sendall(m.mbap(0x0BAD, 1, m.read_registers_pdu(3, 5, 1)))
    assert m.read_adu(tls) == (0x0BAD, 1, bytes([3, 2, 0, 5]))
    h.close_tls(tls)

    close = gw.wait_for("session_close", user="alice")
    assert close["requests"] == adu_length - 1 + 2
    assert [e["address"] for e in plc.requests()] == \
        [100 + s for s in range(1, adu_length)] + [77, 5]
