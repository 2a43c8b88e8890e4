"""The `conduit` command line as a new user meets it: a verb that does not exist is an
error (exit 2, one line naming it and where the real verbs are listed), whatever follows
it, --help included; help for the verbs that do exist still prints and exits 0
(common/exit_codes.hpp: 0 ok, 1 failure, 2 usage or configuration)."""

import pytest

import conduit_harness as h


def unknown_verb_line(proc):
    """Asserts exit 2, nothing on stdout and one stderr line; returns that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("after", [[], ["--help"], ["-h"], ["--version"], ["list", "--json"]])
def test_an_unknown_verb_is_an_error_whatever_follows_it(after):
    line = unknown_verb_line(h.run_cli("NOSUCHVERB", *after))
    assert '"NOSUCHVERB"' in line, line
    assert "conduit --help" in line, line


@pytest.mark.parametrize("command", [["user"], ["ca", "issue"], ["sessions"], ["lockdown"]])
@pytest.mark.parametrize("after", [[], ["--help"]])
def test_an_unknown_sub_verb_names_its_command_and_that_command_s_help(command, after):
    line = unknown_verb_line(h.run_cli(*command, "NOSUCH", *after))
    spelled = " ".join(command)
    assert f'"{spelled} NOSUCH"' in line, line
    assert f"conduit {spelled} --help" in line, line


def test_the_top_level_help_lists_the_verbs_and_exits_zero():
    proc = h.run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Conduit: a Zero Trust access gateway"), proc.stdout
    for verb in ("serve", "check-config", "login", "tunnel", "user", "sessions", "verify"):
        assert f"\n  {verb} " in proc.stdout, (verb, proc.stdout)


@pytest.mark.parametrize("verb", [["serve"], ["user"], ["user", "add"], ["ca", "issue", "device"], ["lockdown", "lift"]])
def test_help_for_a_verb_that_exists_prints_it_and_exits_zero(verb):
    proc = h.run_cli(*verb, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr
    assert f"Usage: conduit {' '.join(verb)}" in proc.stdout, proc.stdout


def test_a_verb_without_its_sub_verb_is_a_usage_error():
    proc = h.run_cli("user")
    assert proc.returncode == 2, proc.stderr
    assert "A subcommand is required" in proc.stderr, proc.stderr
