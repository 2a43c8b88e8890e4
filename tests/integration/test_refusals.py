"""Connections that fail TLS are refused, logged as tls_handshake_failed, and never reach
the asset."""

import shutil
import socket
import ssl
import subprocess
import warnings

import pytest

import conduit_harness as h
from conduit_harness import LISTENER, echo_config


@pytest.fixture
def gw(new_gateway, echo):
    return new_gateway(**echo_config(echo.address_str))


def assert_handshake_failure_logged(gw, echo):
    failed = gw.wait_for("tls_handshake_failed", listener=LISTENER)
    assert isinstance(failed["reason"], str) and failed["reason"], failed
    assert failed.get("peer"), failed
    assert not gw.events("session_open")
    assert echo.connection_count() == 0
    return failed


def test_a_client_without_a_certificate_is_refused(gw, echo):
    h.expect_tls_refused(gw.address(LISTENER), gw.client_context())
    assert_handshake_failure_logged(gw, echo)


def test_a_certificate_from_another_ca_is_refused(gw, echo):
    cert, key = gw.other_ca_device("laptop-7", "alice")
    h.expect_tls_refused(gw.address(LISTENER), gw.client_context(cert, key))
    assert_handshake_failure_logged(gw, echo)


def test_an_expired_certificate_from_the_site_ca_is_refused_with_reason_expired(gw, echo):
    cert, key = gw.expired_device("laptop-7", "alice")
    h.expect_tls_refused(gw.address(LISTENER), gw.client_context(cert, key))
    failed = assert_handshake_failure_logged(gw, echo)
    assert "expired" in failed["reason"].lower(), failed


def tls11_context(gw, cert, key):
    ctx = gw.client_context(cert, key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def offers_tls_1_1(ctx):
    """True if this context really sends a TLS 1.1 ClientHello (client_version 3,2)."""
    out = ssl.MemoryBIO()
    tls = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        hello = out.read()
        return hello[0] == 0x16 and hello[9:11] == b"\x03\x02"
    except ssl.SSLError:
        return False
    return False


def test_a_client_offering_only_tls_1_1_is_refused(gw, echo):
    cert, key = gw.issue_device("laptop-7", user="alice")
    address = gw.address(LISTENER)
    ctx = tls11_context(gw, cert, key)
    if offers_tls_1_1(ctx):
        h.expect_tls_refused(address, ctx)
    else:
        # This Python/OpenSSL will not send a TLS 1.1 ClientHello; let s_client do it.
        assert shutil.which("openssl"), "need openssl s_client to attempt TLS 1.1"
        subprocess.run(["openssl", "s_client", "-connect", f"{address[0]}:{address[1]}",
                        "-servername", "localhost", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
                        "-cert", str(cert), "-key", str(key)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=h.TIMEOUT)
    assert_handshake_failure_logged(gw, echo)


HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
MODBUS_READ_HOLDING_REGISTERS = bytes([
    0x00, 0x01,  # transaction id
    0x00, 0x00,  # protocol id
    0x00, 0x06,  # length
    0x01,        # unit id
    0x03,        # function: read holding registers
    0x00, 0x00,  # starting address
    0x00, 0x0A,  # quantity of registers
])


@pytest.mark.parametrize("payload", [HTTP_REQUEST, MODBUS_READ_HOLDING_REGISTERS],
                         ids=["http", "modbus"])
def test_plaintext_sent_to_a_tls_listener_is_closed_without_reaching_the_asset(
        gw, echo, payload):
    with socket.create_connection(gw.address(LISTENER), timeout=h.TIMEOUT) as sock:
        sock.sendall(payload)
        h.expect_closed(sock)
    assert_handshake_failure_logged(gw, echo)
