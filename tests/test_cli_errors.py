"""Every command, in each way the environment can be wrong: a state folder that cannot be
made, a config file that is not there, a server that does not answer, a contact that does
not exist. Each ends in one `syncd: error:` line and one `hint:` line on stderr, exit 1 (2
for bad usage), and never a traceback.

The list of commands is read from the CLI itself, so a new command is covered (or must be
named here as not reading the config or the store).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from syncd.cli.root import cli
from tests.util import run_cli, write_config

# Arguments that make each command valid usage; the environment is what is wrong.
ARGS: dict[str, list[str]] = {
    "accounts auth": ["mail"],
    "accounts list": [],
    "accounts reconcile": [],
    "accounts resync": ["mail"],
    "accounts status": [],
    "actions dismiss": ["1"],
    "actions list": [],
    "apply": [],
    "contacts forget": ["nobody@example.org", "--yes"],
    "contacts list": [],
    "contacts merge": ["a@example.org", "b@example.org"],
    "contacts set": ["nobody@example.org", "--tier", "key"],
    "contacts show": ["Nobody Atall"],
    "doctor": [],
    "explain": ["MESSAGE"],
    "history": ["Nobody Atall"],
    "import": ["mbox", "MBOX", "--account", "mail"],
    "init": [],
    "plan": [],
    "report": [],
    "run": ["--once"],
    "secrets encrypt": [],
    "sync": [],
}
# Commands that read neither the config's accounts nor the store.
NO_STORE = {"explain", "secrets keygen", "doctor", "accounts auth", "secrets encrypt"}
NO_CONFIG = {"secrets keygen"}
# `contacts forget` takes anyone's address: it keeps them out of future syncs even when
# they were never a contact, so an unknown address is not an error there.
CONTACT_COMMANDS = ["contacts show", "history", "contacts set", "contacts merge"]


def _commands(group: click.Group = cli, prefix: str = "") -> Iterator[str]:
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):  # lazily loaded commands too
        sub = group.get_command(ctx, name)
        assert sub is not None, name
        full = f"{prefix}{name}"
        if isinstance(sub, click.Group):
            yield from _commands(sub, full + " ")
        else:
            yield full


def test_every_command_is_covered() -> None:
    assert set(_commands()) == set(ARGS) | {"secrets keygen"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port  # nothing listens there once closed


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    (tmp_path / "m.eml").write_bytes(b"From: a@example.org\r\nTo: alex@example.com\r\n\r\nx\r\n")
    (tmp_path / "box.mbox").write_bytes(b"")
    cfg = write_config(
        tmp_path / "c.toml",
        f'[[accounts]]\nname = "mail"\nkind = "imap"\nhost = "127.0.0.1"\n'
        f'port = {_free_port()}\nsecurity = "none"\nusername = "u"\npassword_env = "PW"\n'
        '[[rules]]\nname = "n"\nkind = "no_reply"\n',
    )
    return cfg, {"PW": "secret-pw", "SYNCD_STATE_DIR": str(tmp_path / "state")}


def _argv(command: str, tmp_path: Path) -> list[str]:
    args = [
        {"MESSAGE": str(tmp_path / "m.eml"), "MBOX": str(tmp_path / "box.mbox")}.get(a, a)
        for a in ARGS[command]
    ]
    return [*command.split(), *args]


def _assert_one_line(proc: object, what: str) -> str:
    stderr: str = proc.stderr  # type: ignore[attr-defined]
    code: int = proc.returncode  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, (what, stderr)
    assert code == 1, (what, code, stderr)
    errors = [line for line in stderr.splitlines() if line.startswith("syncd: error: ")]
    hints = [line for line in stderr.splitlines() if line.startswith("  hint: ")]
    assert len(errors) == 1 and len(hints) == 1, (what, stderr)
    return errors[0]


@pytest.mark.parametrize("command", sorted(set(ARGS) - NO_CONFIG))
def test_a_missing_config(command: str, tmp_path: Path, world: tuple[Path, dict[str, str]]) -> None:
    argv = ["--config", str(tmp_path / "nope.toml"), *_argv(command, tmp_path)]
    if command == "doctor":  # doctor reports it as a failed check, then exits 1
        proc = run_cli(*argv)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "nope.toml" in proc.stdout and "fix:" in proc.stdout
        return
    error = _assert_one_line(run_cli(*argv), command)
    assert "nope.toml" in error


@pytest.mark.parametrize("command", sorted(set(ARGS) - NO_STORE))
def test_a_state_folder_that_cannot_be_made(
    command: str, tmp_path: Path, world: tuple[Path, dict[str, str]]
) -> None:
    cfg, env = world
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {**env, "SYNCD_STATE_DIR": str(blocker / "state")}
    error = _assert_one_line(
        run_cli("--config", str(cfg), *_argv(command, tmp_path), env=env), command
    )
    assert str(blocker / "state") in error


@pytest.mark.parametrize("command", ["sync", "run", "doctor", "accounts reconcile", "apply"])
def test_an_unreachable_server(
    command: str, tmp_path: Path, world: tuple[Path, dict[str, str]]
) -> None:
    cfg, env = world
    run_cli("--config", str(cfg), "init", env=env, check=True)
    proc = run_cli("--config", str(cfg), *_argv(command, tmp_path), env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    if command == "apply":  # nothing to do without mail: the rules run on what is stored
        assert proc.returncode == 0, proc.stderr
        return
    text = proc.stdout + proc.stderr
    assert "cannot connect" in text and "127.0.0.1" in text, text
    if command == "doctor":  # the failed check with its fix, then one summary line
        assert proc.returncode == 1 and "fix: check the host" in proc.stdout, text
        return
    error = _assert_one_line(proc, command)
    assert "failed" in error or "could not be reconciled" in error, error


@pytest.mark.parametrize("command", CONTACT_COMMANDS)
def test_an_unknown_contact(
    command: str, tmp_path: Path, world: tuple[Path, dict[str, str]]
) -> None:
    cfg, env = world
    run_cli("--config", str(cfg), "init", env=env, check=True)
    proc = run_cli("--config", str(cfg), *_argv(command, tmp_path), env=env)
    if command == "history":  # anyone's history can be asked for by address; not by name
        error = _assert_one_line(proc, command)
        assert "no contact named 'Nobody Atall'" in error
        return
    error = _assert_one_line(proc, command)
    assert "no contact" in error, error


def test_bad_usage_exits_2_without_a_traceback(tmp_path: Path) -> None:
    for argv in (["history"], ["contacts", "set"], ["run", "--interval"], ["nosuchcommand"]):
        proc = run_cli(*argv)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (argv, proc.stderr)
