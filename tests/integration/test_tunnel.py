"""`conduit tunnel`: a local plain-TCP port relayed to a gateway listener over TLS with the
technician's client certificate.

Contract under test: proxy/client/tunnel.hpp, proxy/TUNNEL.md and the tunnel events in
proxy/EVENTS.md. The tunnel is waited for on its own JSON log, the gateway on its log
(conduit_harness.Gateway.wait_for); timeouts are failure bounds only.
"""

import json
import os
import socket

import pytest

import conduit_harness as h
from conduit_harness import ASSET, LISTENER, echo_config


@pytest.fixture
def new_tunnel():
    """Factory: new_tunnel(gw, cert, key, ca=None) -> a ready TunnelProcess; each is
    stopped and its log printed at teardown."""
    made = []

    def make(*args, **kwargs):
        tunnel = h.TunnelProcess(*args, **kwargs)
        made.append(tunnel)
        return tunnel

    yield make
    for tunnel in made:
        tunnel.close()


def connect(tunnel):
    return socket.create_connection(tunnel.address, timeout=h.TIMEOUT)


def test_bytes_round_trip_through_the_tunnel_and_the_gateway_sees_the_tunnels_certificate(
        new_gateway, new_tunnel, echo):
    gw = new_gateway(**echo_config(echo.address_str))
    cert, key = gw.issue_device("laptop-7", user="alice")
    tunnel = new_tunnel(gw, cert, key)
    assert tunnel.ready["asset"] == ASSET
    assert tunnel.ready["gateway"] == "%s:%d" % gw.address(LISTENER)
    chunks = [b"hello conduit", b"\x00", os.urandom(64 * 1024), bytes(range(256)) * 4, b"bye"]

    sock = connect(tunnel)
    local_port = sock.getsockname()[1]
    for chunk in chunks:
        h.roundtrip(sock, chunk)
    sock.close()

    sent = sum(map(len, chunks))
    closed = tunnel.wait_for("tunnel_close", peer=h.peer_port_is(local_port))
    assert (closed["asset"], closed["reason"]) == (ASSET, "client closed")
    assert closed["bytes_in"] == closed["bytes_out"] == sent
    assert tunnel.events("tunnel_open", peer=h.peer_port_is(local_port))
    opened = gw.wait_for("session_open", listener=LISTENER)
    assert (opened["device"], opened["user"], opened["asset"]) == ("laptop-7", "alice", ASSET)
    session_close = gw.wait_for("session_close", session=opened["session"])
    # The tunnel sent close_notify: a clean end of stream for the gateway, same byte counts.
    assert session_close["reason"] == "client closed"
    assert session_close["bytes_in"] == session_close["bytes_out"] == sent
    assert echo.connection_count() == 1


def test_a_certificate_from_another_ca_fails_the_tunnel_and_closes_the_local_connection(
        new_gateway, new_tunnel, echo):
    gw = new_gateway(**echo_config(echo.address_str))
    cert, key = gw.other_ca_device("laptop-7", "alice")
    tunnel = new_tunnel(gw, cert, key)

    sock = connect(tunnel)
    local_port = sock.getsockname()[1]
    with sock:
        h.expect_closed(sock)

    failed = tunnel.wait_for("tunnel_failed", peer=h.peer_port_is(local_port))
    assert failed["asset"] == ASSET
    # TLS 1.3: the gateway checks the client certificate after the client's Finished, so
    # its alert arrives after the handshake; either way the reason is the alert's text.
    assert failed["reason"].startswith("gateway refused: "), failed
    assert "unknown ca" in failed["reason"], failed
    gw.wait_for("tls_handshake_failed", listener=LISTENER)
    assert not tunnel.events("tunnel_close")
    assert not gw.events("session_open")
    assert echo.connection_count() == 0


def test_a_gateway_certificate_from_another_ca_is_rejected_by_the_tunnel(
        new_gateway, new_tunnel, echo):
    gw = new_gateway(**echo_config(echo.address_str))
    cert, key = gw.issue_device("laptop-7", user="alice")
    gw.other_ca_device("unused", "nobody")  # writes the other CA to clients/other/other-ca.crt
    tunnel = new_tunnel(gw, cert, key, ca=gw.clients / "other" / "other-ca.crt")

    with connect(tunnel) as sock:
        h.expect_closed(sock)

    failed = tunnel.wait_for("tunnel_failed")
    assert failed["reason"].startswith("gateway certificate rejected: "), failed
    assert not tunnel.events("tunnel_open")
    assert not gw.events("session_open")


def test_a_gateway_certificate_that_does_not_name_the_dialled_address_is_rejected(
        new_gateway, new_tunnel, echo):
    gw = new_gateway(start=False, **echo_config(echo.address_str))
    h.run_cli_ok("ca", "issue", "server", "--data-dir", gw.data_dir, "--name", "elsewhere",
                 "--dns", "elsewhere.example")
    config = json.loads(gw.config_path.read_text())
    config["tls"] = {"certificate": "pki/elsewhere.crt", "private_key": "pki/elsewhere.key"}
    gw.write_config_text(json.dumps(config))
    gw.start()
    cert, key = gw.issue_device("laptop-7", user="alice")
    tunnel = new_tunnel(gw, cert, key)  # dials 127.0.0.1, which the certificate does not name

    with connect(tunnel) as sock:
        h.expect_closed(sock)

    failed = tunnel.wait_for("tunnel_failed")
    assert failed["reason"] == "gateway certificate rejected: IP address mismatch", failed
    assert not gw.events("session_open")


def test_sigterm_closes_live_connections_with_close_notify_and_exits_0(
        new_gateway, new_tunnel, echo):
    gw = new_gateway(**echo_config(echo.address_str))
    cert, key = gw.issue_device("laptop-7", user="alice")
    tunnel = new_tunnel(gw, cert, key)
    sock = connect(tunnel)
    h.roundtrip(sock, b"still here")
    gw.wait_for("session_open")

    assert tunnel.stop() == 0

    with sock:
        assert h.expect_closed(sock) == "eof"
    closed = tunnel.wait_for("tunnel_close")
    assert closed["reason"] == "tunnel stopped"
    assert tunnel.wait_for("tunnel_stopped")["connections_closed"] == 1
    assert gw.wait_for("session_close")["reason"] == "client closed"


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0"])
def test_listening_on_a_non_loopback_address_needs_allow_remote(listen, tmp_path):
    proc = h.run_cli("tunnel", ASSET, "--gateway", "127.0.0.1:8802", "--listen", listen,
                     "--cert", tmp_path / "c.crt", "--key", tmp_path / "c.key",
                     "--ca", tmp_path / "ca.crt")
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "not a loopback address" in lines[0]
    assert "--allow-remote" in lines[0]


def test_an_unreadable_certificate_file_exits_2_with_one_line(tmp_path):
    proc = h.run_cli("tunnel", ASSET, "--gateway", "127.0.0.1:8802", "--listen", "127.0.0.1:0",
                     "--cert", tmp_path / "missing.crt", "--key", tmp_path / "c.key",
                     "--ca", tmp_path / "ca.crt")
    assert proc.returncode == 2, proc
    assert proc.stderr.strip() == \
        f'error: cannot read client certificate "{tmp_path / "missing.crt"}": No such file or directory'
