"""The first hour of a new user (issue 16): each place where a fresh clone got stuck.

Names for `history` and `contacts show`, "did you mean" for misspelt keys, fixes that match
the account's kind (a wrong IMAP password, against a real Dovecot), the last error and its
age in `accounts status`, rules that no account can carry out, a config that works
wherever it is copied (built-in templates by name), and the daemon's own log lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dovecot import Dovecot, claim_user
from tests.util import run_cli, write_config

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-25T12:00:00Z"


def _example(tmp_path: Path) -> tuple[str, dict[str, str]]:
    demo = tmp_path / "demo"
    shutil.copytree(ROOT / "examples", demo / "examples")
    shutil.copy(ROOT / "config.example.toml", demo / "config.example.toml")
    env = {"SYNCD_STATE_DIR": str(tmp_path / "state"), "SYNCD_NOW": NOW}
    return str(demo / "config.example.toml"), env


def _one_error(proc: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The error line and the hint line of a handled failure (and nothing else)."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("syncd: error: "), proc.stderr
    assert lines[1].startswith("  hint: "), proc.stderr
    return lines[0], lines[1]


def test_history_and_contacts_show_accept_a_name(tmp_path: Path) -> None:
    cfg, env = _example(tmp_path)
    run_cli("--config", cfg, "run", "--once", "--json", env=env, check=True)
    by_address = json.loads(
        run_cli("--config", cfg, "history", "priya.raman@acme.example", "--json", env=env).stdout
    )
    for name in ("Priya Raman", "priya raman", "Priya"):
        proc = run_cli("--config", cfg, "history", name, "--json", env=env, check=True)
        assert json.loads(proc.stdout) == by_address, name
    shown = json.loads(
        run_cli("--config", cfg, "contacts", "show", "Raman", "--json", env=env).stdout
    )
    assert "priya.raman@acme.example" in shown["emails"]
    # Several fit: the candidates, with their addresses, and exit 1.
    error, hint = _one_error(run_cli("--config", cfg, "history", "a", env=env))
    assert "matches several contacts" in error and "<" in error and "@" in error
    assert "addresses" in hint
    # None fits: what to do instead.
    error, hint = _one_error(run_cli("--config", cfg, "contacts", "show", "Lisa Taylor", env=env))
    assert "no contact named 'Lisa Taylor'" in error and "contacts list" in hint
    # An address of someone who is not a contact still has a history.
    proc = run_cli("--config", cfg, "history", "nobody@else.example", "--json", env=env)
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def test_unknown_config_keys_get_a_did_you_mean(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[owner]\nname = "A"\nadresses = ["a@example.com"]\n'
        '[[accounts]]\nname = "m"\nkind = "imap"\nhost = "127.0.0.1"\nusername = "u"\n'
        'pasword_file = "/x"\npassword_env = "P"\n',
        encoding="utf-8",
    )
    proc = run_cli("--config", str(cfg), "contacts", "list")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "owner.adresses: unknown key (did you mean 'addresses'?)" in proc.stderr
    assert "accounts[0].pasword_file: unknown key (did you mean 'password_file'?)" in proc.stderr
    cfg.write_text('[owner]\nname = "A"\nzzzqqq = 1\n', encoding="utf-8")
    proc = run_cli("--config", str(cfg), "contacts", "list")
    assert "owner.zzzqqq: unknown key\n" in proc.stderr  # nothing close: no guess


def _imap_config(tmp_path: Path, dovecot: Dovecot, user: str, secret: Path, rules: str) -> Path:
    return write_config(
        tmp_path / "c.toml",
        f'[[accounts]]\nname = "bench"\nkind = "imap"\nhost = "127.0.0.1"\n'
        f'port = {dovecot.port}\nsecurity = "none"\nusername = "{user}"\n'
        f'password_file = "{secret}"\n' + rules,
        store_url=f"sqlite:///{tmp_path}/state/s.db",
    )


@pytest.mark.integration
def test_a_wrong_imap_password_gets_the_imap_fix_and_shows_in_accounts_status(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    user = claim_user(dovecot)
    secret = tmp_path / "imap.pass"
    secret.write_text(dovecot.users[user])
    secret.chmod(0o600)
    cfg = _imap_config(tmp_path, dovecot, user, secret, "")
    env = {"SYNCD_STATE_DIR": str(tmp_path / "state")}
    run_cli("--config", str(cfg), "sync", env=env, check=True)
    secret.write_text("not-the-password")
    doctor = json.loads(run_cli("--config", str(cfg), "doctor", "--json", env=env).stdout)
    [account] = [c for c in doctor if c["subject"] == "account bench"]
    assert account["status"] == "fail"
    assert "accounts auth" not in account["fix"]
    assert str(secret) in account["fix"] and "password" in account["fix"]
    assert "AUTHENTICATIONFAILED" in account["detail"]
    assert "b'" not in account["detail"] and 'b"' not in account["detail"]
    human = run_cli("--config", str(cfg), "doctor", env=env)
    assert "b'[" not in human.stdout and "fix: check the username" in human.stdout

    failed = run_cli("--config", str(cfg), "sync", env=env)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert f"  hint: check the username ('{user}') and the password in {secret}" in failed.stderr
    status = run_cli("--config", str(cfg), "accounts", "status", env=env)
    assert status.returncode == 0
    rows = [line for line in status.stdout.splitlines() if "mail:INBOX" in line]
    assert rows and "failing" in rows[0], status.stdout
    assert re.search(r"\(\d+s ago\) IMAP 127\.0\.0\.1: login", rows[0]), status.stdout
    assert "b'" not in status.stdout


def test_accounts_status_help_explains_every_health_word() -> None:
    proc = run_cli("accounts", "status", "--help")
    assert proc.returncode == 0
    for word in ("healthy", "unverified", "behind", "failing", "needs_reauth"):
        assert re.search(rf"^\s+{word}\b|{word} \(", proc.stdout, re.M), word


def test_holds_without_a_calendar_are_flagged_before_they_fail(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    for folder in ("INBOX", "Sent"):
        for sub in ("cur", "new", "tmp"):
            (mail / folder / sub).mkdir(parents=True)
    cfg = write_config(
        tmp_path / "c.toml",
        f'[[accounts]]\nname = "m"\nkind = "maildir"\npath = "{mail}"\n'
        '[[rules]]\nname = "reconnect"\nkind = "dormant"\naction = "hold"\n',
        store_url=f"sqlite:///{tmp_path}/state/s.db",
    )
    env = {"SYNCD_STATE_DIR": str(tmp_path / "state")}
    doctor = json.loads(run_cli("--config", str(cfg), "doctor", "--json", env=env).stdout)
    [rule] = [c for c in doctor if c["check"] == "rule"]
    assert rule["subject"] == "reconnect" and rule["status"] == "warn"
    assert "no account has a calendar" in rule["detail"] and "calendar" in rule["fix"]
    plan = run_cli("--config", str(cfg), "plan", "--json", env=env)
    assert plan.returncode == 0 and json.loads(plan.stdout)["actions"] == []
    assert "syncd: warning: rule reconnect: prepares calendar holds" in plan.stderr
    assert "  hint: add a calendar to an account" in plan.stderr
    apply = run_cli("--config", str(cfg), "apply", "--json", env=env)
    assert "rule reconnect" in apply.stderr
    # With a calendar the warning goes.
    cal = tmp_path / "cal"
    cal.mkdir()
    cfg.write_text(
        cfg.read_text().replace(
            f'path = "{mail}"\n',
            f'path = "{mail}"\ncalendar = {{ kind = "ics", path = "{cal}" }}\n',
        )
    )
    plan = run_cli("--config", str(cfg), "plan", "--json", env=env)
    assert plan.returncode == 0 and "warning" not in plan.stderr


def test_the_example_config_works_wherever_it_is_copied(tmp_path: Path) -> None:
    """The README's path: copy the example alone, point its account at a mailbox, go."""
    home = tmp_path / "home" / ".config" / "syncd"
    home.mkdir(parents=True)
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    mail = tmp_path / "mail"
    shutil.copytree(ROOT / "examples" / "mail", mail)
    text = text.replace('path = "examples/mail"', f'path = "{mail}"')
    text = text.replace('path = "examples/calendar"', f'path = "{ROOT / "examples" / "calendar"}"')
    (home / "config.toml").write_text(text, encoding="utf-8")
    env = {"SYNCD_CONFIG": str(home / "config.toml"), "SYNCD_NOW": NOW}
    env["SYNCD_STATE_DIR"] = str(tmp_path / "fresh" / "state")  # not there yet: init makes it
    run_cli("init", env=env, check=True)
    assert (tmp_path / "fresh" / "state" / "syncd.db").is_file()
    run = json.loads(run_cli("run", "--once", "--json", env=env, check=True).stdout)
    assert run["actions"]["created"] > 0 and not run["actions"]["errors"]
    drafts = [p.read_text() for p in (mail / "Drafts").rglob("*") if p.is_file()]
    assert any("make sure it did not get lost" in d for d in drafts)  # the built-in no_reply


def test_a_template_that_is_neither_a_file_nor_a_built_in_says_both(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c.toml", '[[rules]]\nname = "n"\nkind = "no_reply"\ntemplate = "nope.j2"\n'
    )
    proc = run_cli("--config", str(cfg), "contacts", "list")
    assert proc.returncode == 1
    assert f"no such template file: {tmp_path / 'nope.j2'}" in proc.stderr
    assert "built-in texts by name: after_meeting, cadence, date, dormant, no_reply" in proc.stderr


@pytest.mark.e2e
def test_run_logs_its_start_and_each_pass_with_timestamps(tmp_path: Path) -> None:
    cfg, env = _example(tmp_path)
    full_env = {**os.environ, **env}
    full_env.pop("JOURNAL_STREAM", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "--config", cfg, "run", "--interval", "1h"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=full_env,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "daemon.pass.done" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, [*lines, rest]
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO syncd\.daemon "
    started = [x for x in lines if "daemon.started" in x]
    assert started and re.match(stamp + "daemon.started", started[0]), lines
    assert "accounts=personal" in started[0] and "store=sqlite:///" in started[0]
    assert "interval=3600s" in started[0]
    passes = [x for x in lines if "daemon.pass.done" in x]
    assert passes and re.match(stamp + "daemon.pass.done", passes[0]), lines
    assert re.search(r"read=\d+ new=\d+ contacts=\d+ errors=0", passes[0]), passes[0]
    assert int(re.search(r"new=(\d+)", passes[0]).group(1)) > 0  # type: ignore[union-attr]
    # Nothing below the default level besides the daemon's own lines.
    assert not [x for x in lines + rest.splitlines() if " INFO syncd.sync" in x]


@pytest.mark.e2e
def test_the_demo_shows_its_first_sync_and_says_what_to_try_next(tmp_path: Path) -> None:
    venv = Path(sys.prefix)
    # The demo installs syncd without extras unless this venv says it has it (a dev
    # install includes it); the stamp is what scripts/bootstrap.sh compares.
    import hashlib

    stamp = venv / ".syncd-installed"
    if not stamp.exists():
        digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
        stamp.write_text(digest + "\n")
    env = {
        **os.environ,
        "SYNCD_VENV": str(venv),
        "SYNCD_DEMO_DIR": str(tmp_path / "demo"),
        "COLUMNS": "200",
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--json"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # with --json, stdout is one JSON document
    assert doc["sync"]["read"] > 50 and doc["sync"]["new_interactions"] > 50  # not 0/0
    err = proc.stderr
    assert "== 1/3 syncd run --once" in err and "== 3/3 syncd apply" in err
    assert "What the demo did" in err and re.search(r"\d+ draft\(s\) in examples/mail", err)
    tries = [line for line in err.splitlines() if line.startswith("  syncd --config")]
    assert len(tries) == 3, err
    # The three commands work as printed, in the demo's directory.
    demo_env = {
        **os.environ,
        "SYNCD_STATE_DIR": str(tmp_path / "demo" / "state"),
        "SYNCD_NOW": NOW,
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
    }
    for line in tries:
        command = line.split(" #", 1)[0].strip()
        ran = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path / "demo", env=demo_env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert ran.returncode == 0 and "Traceback" not in ran.stderr, (command, ran.stderr)


def test_the_daemon_logs_unrunnable_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from syncd.cli.rule_checks import warn_rule_problems
    from syncd.config import load_config

    cfg = write_config(tmp_path / "c.toml", '[[rules]]\nname = "reconnect"\nkind = "dormant"\n')
    with caplog.at_level("WARNING", logger="syncd.rules"):
        problems = warn_rule_problems(load_config(cfg), echo=False)
    assert [p.rule for p in problems] == ["reconnect"]
    [record] = [r for r in caplog.records if r.getMessage() == "rules.unrunnable"]
    assert record.rule == "reconnect" and "calendar" in record.fix  # type: ignore[attr-defined]
