"""A granted device's bytes reach the asset unchanged; everyone else stops at the gateway."""

import os
import ssl

import pytest

import conduit_harness as h
from conduit_harness import ASSET, LISTENER, echo_config


def test_an_authorised_device_relays_bytes_unchanged_and_the_session_is_logged(new_gateway, echo):
    gw = new_gateway(**echo_config(echo.address_str))
    cert, key = gw.issue_device("laptop-7", user="alice")
    chunks = [b"hello conduit", b"\x00", os.urandom(64 * 1024), bytes(range(256)) * 4, b"bye"]

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    for chunk in chunks:
        h.roundtrip(tls, chunk)
    h.close_tls(tls)

    close = gw.wait_for("session_close", device="laptop-7")
    sent = sum(map(len, chunks))
    assert close["user"] == "alice"
    assert close["listener"] == LISTENER
    assert close["asset"] == ASSET
    assert close["bytes_in"] == sent
    assert close["bytes_out"] == sent
    assert close["reason"] == "client closed"
    assert [ev["event"] for ev in gw.all_events() if ev.get("session") == close["session"]] \
        == ["session_open", "session_close"]
    opened = gw.events("session_open", session=close["session"])[0]
    assert (opened["device"], opened["user"], opened["asset"]) == ("laptop-7", "alice", ASSET)
    assert opened["upstream"] == echo.address_str
    assert opened["rule"] == "alice-echo"
    assert echo.connection_count() == 1


@pytest.mark.parametrize("max_version, negotiated", [
    (None, "TLSv1.3"),
    (ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
], ids=["tls1.3", "tls1.2"])
def test_a_session_relays_over_the_tls_version_the_client_asked_for(
        new_gateway, echo, max_version, negotiated):
    gw = new_gateway(**echo_config(echo.address_str))
    cert, key = gw.issue_device("laptop-7", user="alice")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key, max_version))
    assert tls.version() == negotiated
    h.roundtrip(tls, os.urandom(4096))
    h.close_tls(tls)

    close = gw.wait_for("session_close", device="laptop-7")
    assert close["bytes_in"] == close["bytes_out"] == 4096


def test_a_user_without_a_grant_is_denied_before_the_upstream_is_contacted(new_gateway, echo):
    gw = new_gateway(**echo_config(echo.address_str))
    cert, key = gw.issue_device("laptop-9", user="bob")

    h.expect_tls_refused(gw.address(LISTENER), gw.client_context(cert, key))

    denied = gw.wait_for("session_denied", user="bob")
    assert denied["device"] == "laptop-9"
    assert denied["listener"] == LISTENER
    assert denied["asset"] == ASSET
    assert isinstance(denied["rule"], str) and denied["rule"]
    assert isinstance(denied["reason"], str) and denied["reason"]
    assert not gw.events("session_open")
    assert echo.connection_count() == 0


def test_a_grant_for_one_device_does_not_admit_the_same_user_on_another_device(
        new_gateway, echo):
    grants = [{"id": "alice-laptop-7", "users": ["alice"], "devices": ["laptop-7"],
               "assets": [ASSET]}]
    gw = new_gateway(**echo_config(echo.address_str, grants=grants))
    other_cert, other_key = gw.issue_device("laptop-8", user="alice")
    cert, key = gw.issue_device("laptop-7", user="alice")

    h.expect_tls_refused(gw.address(LISTENER), gw.client_context(other_cert, other_key))
    gw.wait_for("session_denied", device="laptop-8", user="alice")
    assert echo.connection_count() == 0

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    h.roundtrip(tls, b"allowed")
    h.close_tls(tls)
    gw.wait_for("session_close", device="laptop-7")


def test_a_wildcard_user_grant_admits_a_device_certificate_without_a_user(new_gateway, echo):
    grants = [{"id": "kiosk", "users": ["*"], "devices": ["kiosk-1"], "assets": [ASSET]}]
    gw = new_gateway(**echo_config(echo.address_str, grants=grants))
    cert, key = gw.issue_device("kiosk-1")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    h.roundtrip(tls, b"no user bound")
    h.close_tls(tls)

    opened = gw.wait_for("session_open", device="kiosk-1")
    assert opened["rule"] == "kiosk"


def test_events_carry_the_levels_that_events_md_documents(new_gateway, echo):
    gw = new_gateway(**echo_config(echo.address_str))
    alice_cert, alice_key = gw.issue_device("laptop-7", user="alice")
    bob_cert, bob_key = gw.issue_device("laptop-9", user="bob")
    with h.tls_connect(gw.address(LISTENER), gw.client_context(alice_cert, alice_key)) as tls:
        h.roundtrip(tls, b"levels")
    h.expect_tls_refused(gw.address(LISTENER), gw.client_context(bob_cert, bob_key))
    h.expect_tls_refused(gw.address(LISTENER), gw.client_context())
    expected = {"listener_ready": "info", "gateway_started": "info", "session_open": "info",
                "session_close": "info", "session_denied": "warn",
                "tls_handshake_failed": "warn"}
    seen = {name: gw.wait_for(name)["level"] for name in expected}
    assert seen == expected
