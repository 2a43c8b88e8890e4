"""When the asset cannot be reached or closes its end, the client is closed promptly and
session_close says why."""

import socket

import conduit_harness as h
from conduit_harness import LISTENER


def test_an_unreachable_asset_closes_the_client_cleanly_and_logs_upstream_unreachable(
        new_gateway):
    gw = new_gateway(**h.echo_config(h.unused_address()))
    cert, key = gw.issue_device("laptop-7", user="alice")

    tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
    with tls:
        try:
            data = tls.recv(1)
        except TimeoutError:
            raise AssertionError(f"connection still open after {h.TIMEOUT} s") from None
        assert data == b""

    close = gw.wait_for("session_close", device="laptop-7")
    assert close["reason"].startswith("upstream unreachable"), close
    assert close["user"] == "alice"
    assert close["bytes_in"] == 0 and close["bytes_out"] == 0
    assert not gw.events("session_open")


def test_an_asset_that_closes_its_end_closes_the_client_after_its_last_bytes(new_gateway):
    with socket.create_server(("127.0.0.1", 0)) as upstream:
        upstream.settimeout(h.TIMEOUT)
        host, port = upstream.getsockname()
        gw = new_gateway(**h.echo_config(f"{host}:{port}"))
        cert, key = gw.issue_device("laptop-7", user="alice")

        with h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key)) as tls:
            asset, _ = upstream.accept()
            with asset:
                asset.sendall(b"bye")
            assert h.recv_exactly(tls, 3) == b"bye"
            assert tls.recv(1) == b""

    close = gw.wait_for("session_close", device="laptop-7")
    assert close["reason"] == "upstream closed", close
    assert close["bytes_out"] == 3 and close["bytes_in"] == 0
