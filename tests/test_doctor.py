"""`syncd doctor`: one line per check with a fix for each problem, exit 1 on a FAIL; and
`syncd run` refusing to start on a secret file others can read."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from connectors.google_auth import scopes_for
from tests.dovecot import Dovecot, claim_user
from tests.fake_google import FakeGoogle
from tests.util import run_cli, write_config


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _doctor(cfg: Path, env: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    proc = run_cli("--config", str(cfg), "doctor", "--json", env=env)
    return proc.returncode, json.loads(proc.stdout)


def _by_subject(checks: list[dict[str, Any]], start: str) -> dict[str, Any]:
    [found] = [c for c in checks if c["subject"].startswith(start)]
    return found


def test_each_problem_fails_with_its_fix(tmp_path: Path) -> None:
    secret = tmp_path / "imap.pass"
    secret.write_text("pw-doctor-1")
    secret.chmod(0o644)
    cfg = write_config(
        tmp_path / "c.toml",
        f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
        f'[[accounts]]\nname = "mail"\nkind = "imap"\nhost = "127.0.0.1"\n'
        f'port = {_closed_port()}\nsecurity = "none"\nusername = "u"\n'
        f'password_file = "{secret}"\n'
        '[[accounts]]\nname = "work"\nkind = "gmail"\n',
    )
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    env = {"SYNCD_STATE_DIR": str(state)}
    code, checks = _doctor(cfg, env)
    assert code == 1
    leaky = _by_subject(checks, str(secret))
    assert leaky["status"] == "fail" and leaky["fix"] == f"chmod 600 {secret}"
    token = _by_subject(checks, str(state / "credentials" / "work.json"))
    assert token["status"] == "warn" and token["fix"] == "syncd accounts auth work"
    state_check = next(c for c in checks if c["check"] == "state_dir")
    assert state_check["status"] == "warn" and state_check["fix"] == f"chmod 700 {state}"
    store = next(c for c in checks if c["check"] == "store")
    assert store["status"] == "fail" and store["fix"] == "run syncd init"
    gmail = _by_subject(checks, "account work")
    assert gmail["status"] == "fail" and gmail["fix"] == "syncd accounts auth work"
    assert _by_subject(checks, "account mail")["status"] == "fail"
    assert "pw-doctor-1" not in json.dumps(checks)

    # The text form: one line per check, the fix under each problem.
    text = run_cli("--config", str(cfg), "doctor", env=env)
    assert text.returncode == 1
    assert f"FAIL {secret}:" in text.stdout and f"fix: chmod 600 {secret}" in text.stdout

    # syncd run refuses to start while a secret is readable by others; says the fix.
    for args in (("run", "--once"), ("run",)):
        proc = run_cli("--config", str(cfg), *args, env=env, timeout=60)
        assert proc.returncode == 1
        assert "readable by others" in proc.stderr and f"chmod 600 {secret}" in proc.stderr

    secret.chmod(0o600)
    state.chmod(0o700)
    run_cli("--config", str(cfg), "init", env=env, check=True)
    _, checks = _doctor(cfg, env)
    assert {c["subject"]: c["status"] for c in checks if c["status"] == "fail"} == {
        "account mail": "fail",  # nothing listens there
        "account work": "fail",  # not authorised yet
    }


def test_a_config_error_is_a_fail_with_the_key_path(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", '[[accounts]]\nname = "x"\nkind = "pop3"\n')
    code, checks = _doctor(cfg, {})
    assert code == 1
    assert checks[0]["check"] == "config" and "accounts[0].kind" in checks[0]["detail"]


@pytest.mark.integration
def test_reachable_and_authorised_accounts_pass(
    dovecot: Dovecot, fake_google: FakeGoogle, tmp_path: Path
) -> None:
    user = claim_user(dovecot)
    secret = tmp_path / "imap.pass"
    secret.write_text(dovecot.users[user])
    secret.chmod(0o600)
    state = tmp_path / "state"
    creds = state / "credentials" / "work.json"
    creds.parent.mkdir(parents=True, mode=0o700)
    state.chmod(0o700)
    authorized = fake_google.authorized_user(scopes_for(["mail"]))
    creds.write_text(authorized)
    creds.chmod(0o600)
    cfg = write_config(
        tmp_path / "c.toml",
        f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
        f'[[accounts]]\nname = "mail"\nkind = "imap"\nhost = "127.0.0.1"\n'
        f'port = {dovecot.port}\nsecurity = "none"\nusername = "{user}"\n'
        f'password_file = "{secret}"\n'
        '[[accounts]]\nname = "work"\nkind = "gmail"\n[accounts.endpoints]\n'
        f'gmail = "{fake_google.gmail_endpoint}"\ncalendar = "{fake_google.calendar_endpoint}"\n'
        f'token_uri = "{fake_google.token_uri}"\n',
    )
    env = {"SYNCD_STATE_DIR": str(state)}
    run_cli("--config", str(cfg), "init", env=env, check=True)
    code, checks = _doctor(cfg, env)
    assert code == 0, checks
    assert all(c["status"] == "ok" for c in checks), checks
    assert "logged in" in _by_subject(checks, "account mail")["detail"]

    fake_google.oauth.revoke(fake_google.refresh_token_of(authorized))
    code, checks = _doctor(cfg, env)
    assert code == 1
    work = _by_subject(checks, "account work")
    assert work["status"] == "fail" and work["fix"] == "syncd accounts auth work"
