"""The installed command as users meet it: exit codes, JSON on stdout only, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncd.ingest.classify import KINDS as ALL_KINDS
from tests.mailcorpus import CORPUS
from tests.util import run_cli, write_config

ROOT = Path(__file__).resolve().parent.parent
EXPLAIN_FIELDS = {"kind", "is_interaction", "direction", "counterparts", "reasons"}
KINDS = set(ALL_KINDS)


@pytest.fixture
def owner_only(tmp_path: Path) -> Path:
    """explain needs nothing but [owner] and [store]."""
    return write_config(tmp_path / "owner.toml", "", store_url=f"sqlite:///{tmp_path}/never.db")


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    d.mkdir()
    for name, (data, _) in CORPUS.items():
        (d / f"{name}.eml").write_bytes(data)
    return d


def test_explain_every_corpus_file_exits_0_with_the_contract_fields(
    owner_only: Path, corpus_dir: Path
) -> None:
    from click.testing import CliRunner

    from syncd.cli.root import cli

    runner = CliRunner()
    paths = sorted(corpus_dir.iterdir())
    for path in paths:
        if path in paths[:3]:  # a few through the installed command, all through the same code
            proc = run_cli("--config", str(owner_only), "explain", str(path), "--json")
            assert proc.returncode == 0, (path.name, proc.stderr)
            assert "Traceback" not in proc.stderr
            out = proc.stdout
        else:
            result = runner.invoke(
                cli, ["--config", str(owner_only), "explain", str(path), "--json"]
            )
            assert result.exit_code == 0, (path.name, result.output)
            out = result.stdout
        doc = json.loads(out)
        assert doc.keys() >= EXPLAIN_FIELDS
        assert doc["kind"] in KINDS
        assert doc["direction"] in ("in", "out", None)
        assert isinstance(doc["reasons"], list) and doc["reasons"], path.name
        assert all(c == c.lower() for c in doc["counterparts"])
        expected = CORPUS[path.stem][1]
        if expected is not None:
            assert doc["kind"] == expected, (path.name, doc)
    assert not (owner_only.parent / "never.db").exists()  # explain never opens the store


def test_explain_human_output_and_a_reply(owner_only: Path, tmp_path: Path) -> None:
    f = tmp_path / "m.eml"
    f.write_bytes(
        b"From: Priya Raman <Priya@Acme.Example>\r\nTo: alex@example.com\r\n"
        b"Subject: Re: Proposal\r\nDate: Mon, 5 Oct 2026 10:00:00 +0200\r\n"
        b"Message-ID: <p2@acme.example>\r\nIn-Reply-To: <p1@example.com>\r\n\r\nThanks!\r\n"
    )
    doc = json.loads(run_cli("--config", str(owner_only), "explain", str(f), "--json").stdout)
    assert doc["kind"] == "human" and doc["is_interaction"] is True
    assert doc["direction"] == "in" and doc["counterparts"] == ["priya@acme.example"]
    text = run_cli("--config", str(owner_only), "explain", str(f)).stdout
    assert "human" in text and "priya@acme.example" in text


@pytest.mark.parametrize("target", ["missing.eml", "a-folder", "unreadable.eml"])
def test_explain_unreadable_file_is_exit_1_and_one_line(
    owner_only: Path, tmp_path: Path, target: str
) -> None:
    (tmp_path / "a-folder").mkdir()
    unreadable = tmp_path / "unreadable.eml"
    unreadable.write_bytes(b"From: a@example.org\r\n\r\n")
    unreadable.chmod(0)
    if target == "unreadable.eml" and os.access(unreadable, os.R_OK):
        unreadable.unlink()  # root reads anything: make it a dangling symlink instead
        unreadable.symlink_to(tmp_path / "gone")
    proc = run_cli("--config", str(owner_only), "explain", str(tmp_path / target), "--json")
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("syncd: error: ") and target in lines[0]
    assert "Traceback" not in proc.stderr


@given(st.binary(max_size=3000))
def test_explain_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    # In-process through click's runner: the same code path, without a process per example.
    from click.testing import CliRunner

    from syncd.cli.root import cli

    with tempfile.TemporaryDirectory() as tmp:
        cfg, msg = Path(tmp, "owner.toml"), Path(tmp, "m.eml")
        cfg.write_text('[owner]\nname = "A"\naddresses = ["alex@example.com"]\n', encoding="utf-8")
        msg.write_bytes(data)
        result = CliRunner().invoke(cli, ["--config", str(cfg), "explain", str(msg), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] in KINDS and doc["reasons"]


def test_usage_errors_exit_2(owner_only: Path) -> None:
    assert run_cli("--config", str(owner_only), "no-such-command").returncode == 2
    assert run_cli("--config", str(owner_only), "explain").returncode == 2
    assert run_cli("--config", str(owner_only), "contacts", "list", "--bogus").returncode == 2


def test_config_errors_name_file_key_and_reason(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "config.toml",
        '[[accounts]]\nname = "a"\nkind = "maildir"\npath = "."\n'
        '[[accounts]]\nname = "b"\nkind = "pop3"\n',
    )
    proc = run_cli("--config", str(cfg), "accounts", "list")
    assert proc.returncode == 1
    assert (
        "config.toml: accounts[1].kind: must be one of gmail, outlook, imap, maildir" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    missing = run_cli("--config", str(tmp_path / "nope.toml"), "contacts", "list")
    assert missing.returncode == 1 and "nope.toml" in missing.stderr


def _example_env(tmp_path: Path) -> dict[str, str]:
    return {"SYNCD_STATE_DIR": str(tmp_path / "state"), "SYNCD_NOW": "2026-11-25T12:00:00Z"}


def example_copy(tmp_path: Path) -> str:
    """config.example.toml and examples/ copied, as the demo does: runs write drafts there."""
    demo = tmp_path / "demo"
    shutil.copytree(ROOT / "examples", demo / "examples")
    shutil.copy(ROOT / "config.example.toml", demo / "config.example.toml")
    return str(demo / "config.example.toml")


def test_run_once_on_the_bundled_examples(tmp_path: Path) -> None:
    """The README's main command: config.example.toml on examples/, a throw-away store."""
    env = _example_env(tmp_path)
    cfg = example_copy(tmp_path)
    proc = run_cli("--config", cfg, "run", "--once", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Interactions" in proc.stdout and "Contacts" in proc.stdout
    assert "Priya Raman" in proc.stdout
    doc = json.loads(run_cli("--config", cfg, "run", "--once", "--json", env=env).stdout)
    assert doc["sync"]["new_interactions"] == 0  # second run: nothing new
    assert doc["interactions"] > 20 and len(doc["contacts"]) >= 8
    contacts = json.loads(run_cli("--config", cfg, "contacts", "list", "--json", env=env).stdout)
    for c in contacts:
        assert {
            "id",
            "name",
            "emails",
            "tier",
            "cadence_days",
            "timezone",
            "last_interaction_at",
            "next_due_at",
            "interactions_90d",
            "two_way_90d",
            "strength",
        } <= c.keys()
    emails = {e for c in contacts for e in c["emails"]}
    # Noise senders and people the owner never wrote to are not contacts.
    assert not any(
        e.startswith(("noreply", "no-reply", "newsletter", "mailer-daemon")) for e in emails
    )
    priya = next(c for c in contacts if c["name"] == "Priya Raman")
    hist = json.loads(
        run_cli("--config", cfg, "history", priya["emails"][0], "--json", env=env).stdout
    )
    assert hist and all(h["occurred_at"].endswith("Z") for h in hist)
    assert {"email", "meeting"} <= {h["kind"] for h in hist}
    accounts = json.loads(run_cli("--config", cfg, "accounts", "list", "--json", env=env).stdout)
    assert accounts[0]["name"] == "personal" and accounts[0]["state"] == "ok"
    assert {s["name"] for s in accounts[0]["streams"]} >= {"mail:INBOX", "mail:Sent"}


def test_contacts_set_show_merge_forget(tmp_path: Path) -> None:
    env = _example_env(tmp_path)
    cfg = example_copy(tmp_path)
    run_cli("--config", cfg, "sync", env=env, check=True)
    contacts = json.loads(run_cli("--config", cfg, "contacts", "list", "--json", env=env).stdout)
    addr = contacts[0]["emails"][0]
    run_cli(
        "--config",
        cfg,
        "contacts",
        "set",
        addr,
        "--tier",
        "key",
        "--timezone",
        "America/New_York",
        env=env,
        check=True,
    )
    shown = json.loads(run_cli("--config", cfg, "contacts", "show", addr, "--json", env=env).stdout)
    assert shown["tier"] == "key" and shown["cadence_days"] == 14
    assert shown["timezone"] == "America/New_York" and shown["next_due_at"]
    bad = run_cli("--config", cfg, "contacts", "set", addr, "--timezone", "Mars/Olympus", env=env)
    assert bad.returncode == 2 and "Mars/Olympus" in bad.stderr
    other = contacts[1]["emails"][0]
    run_cli("--config", cfg, "contacts", "merge", addr, other, env=env, check=True)
    merged = json.loads(
        run_cli("--config", cfg, "contacts", "show", other, "--json", env=env).stdout
    )
    assert set(merged["emails"]) >= {addr, other}
    run_cli("--config", cfg, "contacts", "forget", addr, "--yes", env=env, check=True)
    gone = run_cli("--config", cfg, "contacts", "show", other, env=env)
    assert gone.returncode == 1 and "no contact" in gone.stderr
    hist = json.loads(run_cli("--config", cfg, "history", addr, "--json", "--all", env=env).stdout)
    assert hist == []


def test_import_mbox_and_ics(tmp_path: Path) -> None:
    env = _example_env(tmp_path)
    cfg = example_copy(tmp_path)
    mbox = tmp_path / "takeout.mbox"
    mbox.write_bytes(
        b"From 1@xxx Mon Oct 05 10:00:00 +0000 2026\n"
        b"X-GM-THRID: 1700000000000000001\nX-Gmail-Labels: Sent,Important\n"
        b"From: Alex Morgan <alex@example.com>\nTo: Zoe <zoe@example.org>\n"
        b"Subject: Lunch\nDate: Mon, 5 Oct 2026 10:00:00 +0000\nMessage-ID: <z1@example.com>\n"
        b"\nSee you!\nFrom the desk of Alex\n\n"
        b"From 2@xxx Mon Oct 05 11:00:00 +0000 2026\n"
        b"X-Gmail-Labels: Inbox,Category Promotions\n"
        b"From: Deals <deals@shop.example>\nTo: alex@example.com\nSubject: 50% off\n"
        b"Date: Mon, 5 Oct 2026 11:00:00 +0000\nMessage-ID: <d1@shop.example>\n\nBuy.\n\n"
    )
    doc = json.loads(
        run_cli(
            "--config", cfg, "import", "mbox", str(mbox), "--account", "takeout", "--json", env=env
        ).stdout
    )
    assert doc["new_interactions"] == 2 and doc["new_contacts"] == 1
    again = json.loads(
        run_cli(
            "--config", cfg, "import", "mbox", str(mbox), "--account", "takeout", "--json", env=env
        ).stdout
    )
    assert again["new_interactions"] == 0
    ics = ROOT / "examples" / "calendar"
    first_file = sorted(ics.glob("*.ics"))[0]
    one = run_cli(
        "--config", cfg, "import", "ics", str(first_file), "--account", "cal", "--json", env=env
    )
    assert one.returncode == 0, one.stderr
    missing = run_cli(
        "--config", cfg, "import", "mbox", str(tmp_path / "none.mbox"), "--account", "x", env=env
    )
    assert missing.returncode == 1 and "none.mbox" in missing.stderr


def test_json_output_is_only_json(tmp_path: Path) -> None:
    env = _example_env(tmp_path)
    cfg = example_copy(tmp_path)
    for args in (["sync"], ["contacts", "list"], ["accounts", "list"], ["run", "--once"]):
        proc = run_cli("--config", cfg, *args, "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        json.loads(proc.stdout)


def test_a_broken_maildir_path_fails_that_account_with_a_clear_message(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "c.toml",
        f'[[accounts]]\nname = "gone"\nkind = "maildir"\npath = "{tmp_path / "nowhere"}"\n',
        store_url=f"sqlite:///{tmp_path}/s.db",
    )
    proc = run_cli("--config", str(cfg), "sync")
    assert proc.returncode == 1
    assert "nowhere" in proc.stderr and "Traceback" not in proc.stderr
    status = json.loads(run_cli("--config", str(cfg), "accounts", "list", "--json").stdout)
    assert status[0]["state"] == "failing" and "no such folder" in status[0]["last_error"]
