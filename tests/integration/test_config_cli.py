"""`conduit check-config` (and `serve`) reject each class of config error with exit 2 and
one line naming the JSON Pointer of the offending value; `--help` documents the flags."""

import copy
import json

import pytest

import conduit_harness as h

EXAMPLE = h.REPO / "config" / "examples" / "gateway.json"


@pytest.fixture(scope="module")
def data_dir():
    """A data dir with the site CA and server cert that the example's pki/ paths name."""
    gw = h.Gateway()
    yield gw.data_dir
    gw.close()


@pytest.fixture
def base_config():
    """The shipped example, minus run_as (whose user need not exist on a test machine)."""
    config = json.loads(EXAMPLE.read_text())
    del config["gateway"]["run_as"]
    return config


def check_config(tmp_path, data_dir, config):
    path = tmp_path / "gateway.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config, indent=2))
    return h.run_cli("check-config", path, "--data-dir", data_dir)


def config_error_line(proc, pointer):
    """Asserts exit 2 and a single stderr line naming `pointer`; returns that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"config error at {pointer}: " in lines[0], lines[0]
    return lines[0]


def test_the_shipped_example_config_is_valid(data_dir):
    proc = h.run_cli("check-config", EXAMPLE, "--data-dir", data_dir)
    assert proc.returncode == 0, proc.stderr


def test_a_valid_config_exits_zero(tmp_path, data_dir, base_config):
    proc = check_config(tmp_path, data_dir, base_config)
    assert proc.returncode == 0, proc.stderr
    assert "config error" not in proc.stderr


def test_an_unknown_key_is_reported_at_its_path(tmp_path, data_dir, base_config):
    base_config["gateway"]["colour"] = "blue"
    config_error_line(check_config(tmp_path, data_dir, base_config), "/gateway/colour")


def test_a_number_given_as_a_string_is_a_type_error(tmp_path, data_dir, base_config):
    base_config["limits"]["max_sessions"] = "1024"
    config_error_line(check_config(tmp_path, data_dir, base_config), "/limits/max_sessions")


def test_a_negative_limit_is_out_of_range(tmp_path, data_dir, base_config):
    base_config["limits"]["max_sessions"] = -1
    config_error_line(check_config(tmp_path, data_dir, base_config), "/limits/max_sessions")


def test_a_tls_version_older_than_1_2_is_rejected(tmp_path, data_dir, base_config):
    base_config["tls"]["min_version"] = "1.1"
    config_error_line(check_config(tmp_path, data_dir, base_config), "/tls/min_version")


def test_a_missing_required_field_is_reported_at_its_path(tmp_path, data_dir, base_config):
    del base_config["listeners"][0]["asset"]
    config_error_line(check_config(tmp_path, data_dir, base_config), "/listeners/0/asset")


def test_a_malformed_bind_address_is_not_host_port(tmp_path, data_dir, base_config):
    base_config["listeners"][0]["bind"] = "0.0.0.0:80x"
    line = config_error_line(check_config(tmp_path, data_dir, base_config), "/listeners/0/bind")
    assert '"0.0.0.0:80x" is not host:port' in line


def test_an_unreadable_certificate_file_is_reported_at_its_path(tmp_path, data_dir, base_config):
    base_config["tls"]["certificate"] = str(tmp_path / "no-such-gateway.crt")
    config_error_line(check_config(tmp_path, data_dir, base_config), "/tls/certificate")


def test_a_duplicate_asset_name_is_reported_at_the_second_one(tmp_path, data_dir, base_config):
    base_config["assets"].append({"name": "press-1", "address": "10.20.1.12:502"})
    second = len(base_config["assets"]) - 1
    config_error_line(check_config(tmp_path, data_dir, base_config), f"/assets/{second}/name")


def test_a_duplicate_listener_bind_is_reported_at_the_second_one(tmp_path, data_dir, base_config):
    second = copy.deepcopy(base_config["listeners"][0])
    second["name"] = "press-1-again"
    base_config["listeners"].append(second)
    index = len(base_config["listeners"]) - 1
    config_error_line(check_config(tmp_path, data_dir, base_config), f"/listeners/{index}/bind")


def test_a_listener_naming_an_unknown_asset_is_reported(tmp_path, data_dir, base_config):
    base_config["listeners"][0]["asset"] = "press-9"
    config_error_line(check_config(tmp_path, data_dir, base_config), "/listeners/0/asset")


def test_invalid_json_is_reported_with_line_and_column(tmp_path, data_dir):
    text = '{\n  "gateway": { "id": "gw" }\n  "listeners": []\n}\n'  # missing comma, line 3
    proc = check_config(tmp_path, data_dir, text)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("config error"), lines[0]
    assert "line 3" in lines[0] and "column" in lines[0], lines[0]


def test_serve_refuses_a_bad_config_with_the_same_message(tmp_path, data_dir, base_config):
    base_config["listeners"][0]["bind"] = "0.0.0.0:80x"
    line = config_error_line(check_config(tmp_path, data_dir, base_config), "/listeners/0/bind")
    proc = h.run_cli("serve", "--config", tmp_path / "gateway.json", "--data-dir", data_dir,
                     "--log-format", "json", timeout=h.TIMEOUT)
    assert proc.returncode == 2, proc.stderr
    assert line in proc.stderr.splitlines(), proc.stderr


@pytest.mark.parametrize("args, flags", [
    ([], ["serve", "check-config", "ca"]),
    (["serve"], ["--config", "--data-dir", "--log-format"]),
    (["check-config"], ["--data-dir"]),
    (["ca", "issue", "device"], ["--device", "--user", "--days", "--out", "--data-dir"]),
    (["ca", "issue", "server"], ["--name", "--dns", "--ip", "--days", "--out"]),
], ids=["conduit", "serve", "check-config", "ca-issue-device", "ca-issue-server"])
def test_help_exits_zero_and_names_the_flags(args, flags):
    proc = h.run_cli(*args, "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    for flag in flags:
        assert flag in text, f"{flag!r} missing from `conduit {' '.join(args)} --help`"
