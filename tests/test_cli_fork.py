"""tests/cli_fork.py stands for a fresh `python -m syncd`: the same exit code, stdout and
stderr, for success, bad usage, a handled error and a `--json` listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.util import run_cli, write_config

# Each case starts a fresh `python -m syncd` to compare the fork with: a real process.
pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["nosuchcommand"],
        ["history"],
        ["--config", "{tmp}/nope.toml", "contacts", "list"],
        ["--config", "{tmp}/c.toml", "contacts", "list", "--json"],
        ["--config", "{tmp}/c.toml", "init"],
    ],
)
def test_a_forked_command_answers_as_a_fresh_interpreter(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [a.format(tmp=tmp_path) for a in argv]
    answers = []
    for fork, state in (("0", "fresh"), ("1", "forked")):
        write_config(tmp_path / "c.toml", "")  # the store goes into SYNCD_STATE_DIR
        monkeypatch.setenv("SYNCD_TEST_FORK", fork)
        proc = run_cli(*args, env={"SYNCD_STATE_DIR": str(tmp_path / state)})
        own = f"{tmp_path}/{state}"
        answers.append(
            (proc.returncode, proc.stdout.replace(own, "S"), proc.stderr.replace(own, "S"))
        )
    assert answers[0] == answers[1]
    made = [(tmp_path / state / "syncd.db").exists() for state in ("fresh", "forked")]
    assert made[0] == made[1]
