"""A team deployment: one store, two owners, and nothing of one owner in the other's
commands (contacts, history, actions, accounts, report, plan)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.util import deliver, make_maildir, message, run_cli

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# Each owner writes to a person of their own, and to one they share (the same address is
# a contact of each, kept apart).
PEOPLE = {
    "alex": ("alex@team.example", "priya@acme.example"),
    "sam": ("sam@team.example", "omar@globex.example"),
}
SHARED = "nina@shared.example"


def _owner_file(tmp_path: Path, name: str) -> Path:
    me, other = PEOPLE[name]
    root = make_maildir(tmp_path / f"mail-{name}", "INBOX", "Sent", "Drafts")
    for i, to in enumerate((other, SHARED)):
        deliver(
            root / "Sent",
            message(
                sender=me,
                to=to,
                subject=f"{name} subject {i}",
                date=NOW - timedelta(days=10 + i),
                message_id=f"{name}-{i}@team.example",
            ),
        )
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'[owner]\nname = "{name.title()}"\naddresses = ["{me}"]\n'
        f'[[accounts]]\nname = "{name}-mail"\nkind = "maildir"\npath = "{root}"\n'
        '[[rules]]\nname = "no-reply"\nkind = "no_reply"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def team(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    for name in PEOPLE:
        _owner_file(tmp_path, name)
    cfg = tmp_path / "team.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/team.db"\n'
        '[team]\nowners = { alex = "alex.toml", sam = "sam.toml" }\n',
        encoding="utf-8",
    )
    env = {"SYNCD_NOW": NOW.isoformat(), "SYNCD_STATE_DIR": str(tmp_path / "state")}
    return cfg, env


def _json(cfg: Path, env: dict[str, str], owner: str, *args: str) -> Any:
    proc = run_cli("--config", str(cfg), "--owner", owner, *args, "--json", env=env)
    assert proc.returncode == 0, (args, proc.stderr)
    return json.loads(proc.stdout)


def test_two_owners_share_a_store_and_see_only_their_own(
    team: tuple[Path, dict[str, str]],
) -> None:
    cfg, env = team
    for owner in PEOPLE:
        doc = _json(cfg, env, owner, "run", "--once")
        assert doc["sync"]["errors"] == 0 and doc["actions"]["created"] == 2, doc["actions"]
    for owner, (_me, theirs) in PEOPLE.items():
        other = next(o for o in PEOPLE if o != owner)
        other_me, other_theirs = PEOPLE[other]
        seen = {
            "contacts": _json(cfg, env, owner, "contacts", "list"),
            "history": _json(cfg, env, owner, "history", SHARED),
            "actions": _json(cfg, env, owner, "actions", "list"),
            "accounts": _json(cfg, env, owner, "accounts", "status"),
            "report": _json(cfg, env, owner, "report"),
            "plan": _json(cfg, env, owner, "plan"),
        }
        text = json.dumps(seen)
        for foreign in (other_theirs, other_me, f"{other}-mail", f"{other} subject"):
            assert foreign not in text, f"{owner} sees {foreign}"
        assert {e for c in seen["contacts"] for e in c["emails"]} == {theirs, SHARED}
        assert [h["subject"] for h in seen["history"]] == [f"{owner} subject 1"]
        assert [a["name"] for a in seen["accounts"]] == [f"{owner}-mail"]
        assert {a["contact"] for a in seen["actions"]} == {theirs, SHARED}
        assert all(a["account"] == f"{owner}-mail" for a in seen["actions"])
    # SYNCD_OWNER does what --owner does.
    proc = run_cli(
        "--config", str(cfg), "contacts", "list", "--json", env={**env, "SYNCD_OWNER": "sam"}
    )
    assert PEOPLE["sam"][1] in proc.stdout and PEOPLE["alex"][1] not in proc.stdout


def test_a_team_config_needs_an_owner_and_a_known_one(
    team: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    cfg, env = team
    proc = run_cli("--config", str(cfg), "contacts", "list", env=env)
    assert proc.returncode == 1
    assert "--owner NAME" in proc.stderr and "alex, sam" in proc.stderr
    proc = run_cli("--config", str(cfg), "--owner", "kim", "contacts", "list", env=env)
    assert proc.returncode == 1 and "no owner 'kim'" in proc.stderr
    # An owner's file may not move the store: the team's [store] is the only one.
    (tmp_path / "sam.toml").write_text(
        (tmp_path / "sam.toml").read_text() + '[store]\nurl = "sqlite:///elsewhere.db"\n'
    )
    proc = run_cli("--config", str(cfg), "--owner", "sam", "contacts", "list", env=env)
    assert proc.returncode == 1 and "sam.toml: store:" in proc.stderr


def test_a_single_owner_config_refuses_an_owner(tmp_path: Path) -> None:
    cfg = _owner_file(tmp_path, "alex")
    env = {"SYNCD_STATE_DIR": str(tmp_path / "state")}
    assert run_cli("--config", str(cfg), "contacts", "list", env=env).returncode == 0
    proc = run_cli("--config", str(cfg), "--owner", "sam", "contacts", "list", env=env)
    assert proc.returncode == 1 and "serves one owner" in proc.stderr


def test_doctor_checks_every_owner_of_a_team(team: tuple[Path, dict[str, str]]) -> None:
    cfg, env = team
    run_cli("--config", str(cfg), "--owner", "alex", "init", env=env, check=True)
    checks = json.loads(run_cli("--config", str(cfg), "doctor", "--json", env=env).stdout)
    accounts = {(c["owner"], c["subject"]) for c in checks if c["check"] == "account"}
    assert accounts == {("alex", "account alex-mail"), ("sam", "account sam-mail")}
    assert all(c["status"] == "ok" for c in checks), checks
