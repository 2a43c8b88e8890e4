"""Process lifecycle and limits: drain on SIGTERM, privilege drop, idle timeout, caps."""

import os
import pwd
import socket
from pathlib import Path

import pytest

import conduit_harness as h
from conduit_harness import LISTENER, echo_config


def alice(gw, device="laptop-7"):
    cert, key = gw.issue_device(device, user="alice")
    return gw.client_context(cert, key)


def test_sigterm_drains_live_sessions_refuses_new_ones_and_exits_zero(new_gateway, echo):
    gw = new_gateway(**echo_config(echo.address_str, limits={"drain_timeout_s": 30}))
    ctx = alice(gw)
    address = gw.address(LISTENER)
    tls = h.tls_connect(address, ctx)
    h.roundtrip(tls, b"before sigterm")
    gw.wait_for("session_open", device="laptop-7")

    gw.terminate()
    drain = gw.wait_for("drain_started")
    assert drain["sessions"] == 1

    h.roundtrip(tls, os.urandom(2048))  # the live session still relays both ways
    h.expect_tls_refused(address, ctx)  # ...but nothing new is accepted
    assert gw.proc.poll() is None, "exited while a session was still draining"

    h.close_tls(tls)
    close = gw.wait_for("session_close", device="laptop-7")
    assert close["reason"] == "client closed"
    assert close["bytes_in"] == close["bytes_out"] == len(b"before sigterm") + 2048
    assert gw.wait_exit() == 0, gw.log_text()
    stopped = gw.wait_for("gateway_stopped")
    assert "sessions_terminated" in stopped, stopped
    names = [ev["event"] for ev in gw.all_events()]
    assert names.index("drain_started") < names.index("session_close") \
        < names.index("gateway_stopped")
    assert echo.connection_count() == 1


def test_a_session_still_open_when_the_drain_timeout_passes_is_closed(new_gateway, echo):
    gw = new_gateway(**echo_config(echo.address_str, limits={"drain_timeout_s": 1}))
    tls = h.tls_connect(gw.address(LISTENER), alice(gw))
    h.roundtrip(tls, b"x")
    gw.wait_for("session_open", device="laptop-7")

    gw.terminate()
    gw.wait_for("drain_started")
    with tls:
        h.expect_closed(tls)
    close = gw.wait_for("session_close", device="laptop-7")
    assert close["reason"] == "drain timeout"
    assert gw.wait_exit() == 0
    gw.wait_for("gateway_stopped")


def proc_ids(pid, field):
    """The ids of a /proc status line ("Uid", "Gid", "Groups") for every thread of pid."""
    ids = set()
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                ids.update(int(v) for v in line.split()[1:])
    return ids


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_started_as_root_with_run_as_nobody_every_thread_runs_as_nobody(new_gateway, echo):
    nobody = pwd.getpwnam("nobody")
    gw = new_gateway(start=False,
                     **echo_config(echo.address_str, gateway={"run_as": "nobody"}))
    ctx = alice(gw)
    gw.chown_data_dir("nobody")
    gw.start()

    dropped = gw.wait_for("privileges_dropped")
    assert (dropped["user"], dropped["uid"], dropped["gid"]) \
        == ("nobody", nobody.pw_uid, nobody.pw_gid)
    assert proc_ids(gw.proc.pid, "Uid") == {nobody.pw_uid}  # real, effective, saved, fs
    assert proc_ids(gw.proc.pid, "Gid") == {nobody.pw_gid}
    assert 0 not in proc_ids(gw.proc.pid, "Groups")

    with h.tls_connect(gw.address(LISTENER), ctx) as tls:
        h.roundtrip(tls, b"as nobody")
    gw.stop()


def test_a_session_with_no_traffic_is_closed_after_the_idle_timeout(new_gateway, echo):
    gw = new_gateway(**echo_config(echo.address_str, limits={"idle_timeout_s": 1}))
    with h.tls_connect(gw.address(LISTENER), alice(gw)) as tls:
        gw.wait_for("session_open", device="laptop-7")
        h.expect_closed(tls)
    close = gw.wait_for("session_close", device="laptop-7")
    assert close["reason"] == "idle timeout"


def test_connections_over_the_unauthenticated_cap_are_refused_until_slots_free_up(
        new_gateway, echo):
    limits = {"max_unauthenticated": 2, "handshake_timeout_ms": 2000}
    # One I/O thread, so one acceptor takes connections in the order they were made;
    # with several, SO_REUSEPORT spreads them over per-thread acceptors in any order.
    gw = new_gateway(**echo_config(echo.address_str, limits=limits, gateway={"threads": 1}))
    ctx = alice(gw)
    address = gw.address(LISTENER)

    silent = [socket.create_connection(address, timeout=h.TIMEOUT) for _ in range(2)]
    ports = [s.getsockname()[1] for s in silent]
    h.expect_tls_refused(address, ctx)
    refused = gw.wait_for("connection_refused", listener=LISTENER)
    assert refused["reason"], refused
    assert echo.connection_count() == 0

    for s in silent:
        s.close()
    for port in ports:  # EOF (or the handshake deadline) ends each pending handshake
        gw.wait_for("tls_handshake_failed", peer=h.peer_port_is(port))

    with h.tls_connect(address, ctx) as tls:
        h.roundtrip(tls, b"a slot is free")
    gw.wait_for("session_close", device="laptop-7")


def test_connections_over_the_session_cap_are_refused_until_a_session_ends(new_gateway, echo):
    gw = new_gateway(**echo_config(echo.address_str, limits={"max_sessions": 1}))
    ctx = alice(gw)
    address = gw.address(LISTENER)

    first = h.tls_connect(address, ctx)
    h.roundtrip(first, b"first")
    gw.wait_for("session_open", device="laptop-7")
    h.expect_tls_refused(address, ctx)
    refused = gw.wait_for("connection_refused", listener=LISTENER)
    assert refused["reason"], refused
    assert echo.connection_count() == 1

    h.close_tls(first)
    gw.wait_for("session_close", device="laptop-7")
    with h.tls_connect(address, ctx) as tls:
        h.roundtrip(tls, b"second")
    gw.wait_for_n("session_close", 2, device="laptop-7")
