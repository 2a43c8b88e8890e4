"""Recording fails safe (issue 5 point 2): when the disk holding the recordings fills up,
the gateway forwards nothing more that it cannot record and refuses new sessions, and
says so. ctest runs this file through tests/integration/private_mounts.sh (a private mount
namespace), where it mounts a 1 MiB tmpfs as the gateway's data directory."""

import json
import os
import struct
import subprocess
import tempfile

import pytest

import conduit_harness as h
import modbus_helpers as m
from modbus_helpers import ASSET, LISTENER

new_plc = m.new_plc  # fixture (modbus_helpers)

GRANT = {"id": "alice-press", "users": ["alice"], "devices": ["laptop-7"], "assets": [ASSET],
         "modbus": {"read": {"holding_registers": ["0-99"]}, "write": {"holding_registers": ["10-19"]}}}


@pytest.fixture
def small_disk():
    mount_point = tempfile.mkdtemp(prefix="conduit-small-disk-")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", mount_point],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail("run through tests/integration/private_mounts.sh (needs a private mount namespace): "
                    + proc.stderr)
    yield mount_point
    subprocess.run(["umount", "-l", mount_point])
    os.rmdir(mount_point)


def fill(directory):
    """Writes a file until the disk has no byte left (bounded by the disk's size)."""
    with open(os.path.join(directory, "filler"), "wb", buffering=0) as filler:
        for chunk in (65536, 4096, 1):
            try:
                for _ in range(1 << 20):
                    filler.write(b"\0" * chunk)
            except OSError:
                pass


def write_register(tls, transaction_id, value):
    tls.sendall(m.mbap(transaction_id, 1, struct.pack(">BHH", 6, 10, value)))
    return m.read_adu(tls)[2]


def test_a_full_disk_stops_forwarding_and_refuses_new_sessions(small_disk, new_plc):
    plc = new_plc()
    gw = h.Gateway(parent=small_disk)
    try:
        gw.write_config_text(json.dumps(m.modbus_config(plc.address_str, [GRANT])))
        gw.start()
        cert, key = m.issue_device(gw, "laptop-7", user="alice")
        tls = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
        assert write_register(tls, 1, 1) == struct.pack(">BHH", 6, 10, 1)

        fill(small_disk)
        # Records still fit in pages the recording already has; within a bounded number of
        # writes one needs a new page, and from then on nothing is forwarded.
        refused_at = None
        for value in range(2, 2000):
            answer = write_register(tls, value, value)
            if answer == bytes([0x86, 0x04]):
                refused_at = value
                break
            assert answer == struct.pack(">BHH", 6, 10, value)
        assert refused_at is not None, "the disk never filled up"
        failed = gw.wait_for("recording_failed")
        # Whichever needed the next block first, the recording or its index, says so.
        assert "No space left on device" in failed["error"] or "disk is full" in failed["error"], failed

        written = [e["values"][0] for e in plc.requests(function=6)]
        assert written == list(range(1, refused_at)), written  # the refused write never reached the PLC
        assert write_register(tls, refused_at + 1, 5) == bytes([0x86, 0x04])  # nor does anything after it
        h.close_tls(tls)

        fresh = h.tls_connect(gw.address(LISTENER), gw.client_context(cert, key))
        h.expect_closed(fresh)
        assert gw.wait_for("session_denied", rule="recording")["reason"].startswith("recording unavailable")
    finally:
        gw.close()
