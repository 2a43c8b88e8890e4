"""An asset that cannot be reached ends the session promptly and says why."""

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
