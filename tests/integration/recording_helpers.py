"""Session recordings (issue 5) from the outside: the security team's CLI verbs, and the
recording file format (audit/FORMAT.md) read at frame level so that tests can tamper
with files the way an attacker with write access would."""

import json
import shutil
import struct
from pathlib import Path

import conduit_harness as h

PREAMBLE = 12  # magic, version, flags


def cli(gw, *args):
    return h.run_cli(*args, "--data-dir", gw.data_dir)


def cli_ok(gw, *args):
    proc = cli(gw, *args)
    assert proc.returncode == 0, f"conduit {' '.join(map(str, args))}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def sessions(gw, *filters):
    return json.loads(cli_ok(gw, "sessions", "list", "--json", *filters).stdout)


def recording_path(gw, session):
    return Path(gw.data_dir) / "recordings" / session["file"]


def frames(data):
    """[(offset, frame bytes)] after the preamble; a torn tail is left out."""
    out, offset = [], PREAMBLE
    while offset + 4 <= len(data):
        (length,) = struct.unpack_from("<I", data, offset)
        end = offset + 4 + length + 4
        if end > len(data):
            break
        out.append((offset, data[offset:end]))
        offset = end
    return out


def frame_type(frame):
    return frame[4]


def rebuild(data, new_frames):
    return data[:PREAMBLE] + b"".join(new_frames)


def jsonl(gw, session_id):
    out = cli_ok(gw, "export", session_id, "--format", "jsonl", "--out", "-").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def copy_file(path):
    backup = Path(str(path) + ".orig")
    shutil.copy(path, backup)
    return backup


def crc32c(data):
    """CRC-32C (Castagnoli, reflected 0x82F63B78), as the frames carry (FORMAT.md §2)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def with_valid_crc(frame):
    """The frame with its CRC recomputed over type + body: what a careful forger does."""
    body = frame[4:-4]
    return frame[:-4] + struct.pack("<I", crc32c(body))
