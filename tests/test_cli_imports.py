"""The CLI's start-up budget: `syncd --help` loads no heavy library and no command module.

An import-time check rather than a wall-clock one, so it holds on a loaded machine too;
bench/cli_startup.py prints the times.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from syncd.cli.accounts import LAZY_ACCOUNT_COMMANDS
from syncd.cli.root import LAZY_COMMANDS, cli

HEAVY = (
    "sqlalchemy",
    "pydantic",
    "icalendar",
    "recurring_ical_events",
    "googleapiclient",
    "google",
    "msal",
    "jinja2",
    "rich",
    "imapclient",
    "caldav",
    "alembic",
    "syncd.config",
    "syncd.store",
    "syncd.cli.rules",
    "syncd.cli.report",
    "syncd.cli.doctor",
    "syncd.cli.auth",
)


def _imported(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter imports to run `code` (from -X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "syncd.cli.root" in names  # the parse worked
    return names


def _running(argv: list[str]) -> str:
    """Code that runs `syncd` with `argv` in this interpreter and fails unless it succeeds."""
    return (
        "import sys\nfrom syncd.cli.root import main\n"
        f"sys.argv = {argv!r}\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    )


def _heavy(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["accounts", "--help"], ["contacts", "--help"], ["--version"]],
    ids=["help", "accounts-help", "contacts-help", "version"],
)
def test_help_imports_no_heavy_module(argv: list[str]) -> None:
    code = (
        "import sys\nfrom syncd.cli.root import main\n"
        f"sys.argv = ['syncd', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
    )
    assert _heavy(_imported(code)) == []


def test_contacts_list_loads_no_connector_or_renderer() -> None:
    """`contacts list` needs the config and the store, not Google, iCalendar or Jinja."""
    names = _imported(
        "import syncd.cli.root, syncd.contacts.views, syncd.config, syncd.store.db, syncd.cli.app"
    )
    light = [h for h in ("googleapiclient", "msal", "icalendar", "jinja2", "rich") if h in names]
    assert light == []


def test_contacts_list_loads_no_classifier_or_ingest() -> None:
    """`contacts list` reads the store: the classifier and ingest are for syncing (issue 15:
    they were 0.87 s of its start, through contacts -> ingest and the config)."""
    names = _imported(
        "import syncd.cli.root, syncd.contacts.listing, syncd.contacts.views, syncd.config, syncd.store.db,"
        " syncd.cli.app"
    )
    heavy = sorted(
        n for n in names if n.startswith(("syncd.ingest.classify", "syncd.ingest.batch"))
    )
    assert heavy == []


def test_plan_loads_no_executor_connector_or_renderer() -> None:
    """`plan` reads the store and runs the pure planner: the executor, the connectors
    (icalendar), Jinja and rich are for applying actions and tables (issue 17)."""
    names = _imported("import syncd.cli.root, syncd.cli.rules, syncd.outbox.planning")
    heavy = sorted(
        n
        for n in names
        if n.split(".")[0] in ("icalendar", "jinja2", "rich")
        or n.startswith(("syncd.outbox.executor", "syncd.sync", "connectors.ic", "rules.templates"))
    )
    assert heavy == []


def test_plan_runs_without_sqlalchemy(tmp_path: Path) -> None:
    """`syncd plan` reads over a connection with SQL text (syncd/store/snapshot.py): on a
    SQLite file that connection is Python's sqlite3 (syncd/store/reader.py), so SQLAlchemy
    does not load at all (a sixth of the command at 50,000 contacts, issue 17), from the
    command line to the JSON, on a store that is there."""
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(
        f'[owner]\nname = "A"\naddresses = ["a@example.com"]\n[store]\n'
        f'url = "sqlite:///{tmp_path / "syncd.db"}"\n'
        '[[rules]]\nname = "cadence"\nkind = "cadence"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "SYNCD_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(cfg), "init"], capture_output=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    argv = ["syncd", "--config", str(cfg), "plan", "--json"]
    names = _imported(_running(argv), env)
    assert "syncd.outbox.planning" in names  # it planned
    assert sorted(n for n in names if n.startswith(("sqlalchemy", "syncd.store.models"))) == []


@pytest.mark.parametrize(
    ("group", "table"),
    [(cli, LAZY_COMMANDS), (cli.commands["accounts"], LAZY_ACCOUNT_COMMANDS)],
    ids=["syncd", "accounts"],
)
def test_lazy_short_help_is_the_commands_own(group: click.Group, table: dict) -> None:
    """`--help` lists a lazy command's help from the table; it must say what the command says."""
    for name, (_, short) in table.items():
        assert group.load(name).get_short_help_str(limit=1000) == short, name  # type: ignore[attr-defined]


def test_command_modules_do_not_import_the_group() -> None:
    """No cycle: command modules import syncd.cli.app, never syncd.cli.root (issue 15)."""
    root = Path(__file__).resolve().parent.parent / "syncd" / "cli"
    offenders = []
    modules = sorted(p for p in root.glob("*.py") if p.name not in ("__init__.py", "root.py"))
    assert len(modules) > 10  # the glob found the command modules
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            package = (node.module or "").split(".")  # root itself, or root from its package
            if package[:3] == ["syncd", "cli", "root"] or (
                package == ["syncd", "cli"] and any(a.name == "root" for a in node.names)
            ):
                offenders.append(path.name)
    assert offenders == []


def test_a_mail_only_sync_loads_no_calendar_library(tmp_path: Path) -> None:
    """`syncd sync` of a Maildir account without a calendar never imports icalendar (a
    tenth of a second of every sync's start, issue 17): the calendar connectors load with
    the first calendar."""
    from datetime import UTC, datetime

    from tests.util import deliver, make_maildir, message

    mail = make_maildir(tmp_path / "mail", "INBOX")
    deliver(
        mail,
        message(
            sender="Priya <priya@acme.example>",
            to="a@example.com",
            subject="Plan",
            date=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
            message_id="plan@acme.example",
        ),
    )
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(
        f'[owner]\nname = "A"\naddresses = ["a@example.com"]\n[store]\n'
        f'url = "sqlite:///{tmp_path / "syncd.db"}"\n'
        f'[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{mail}"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "SYNCD_STATE_DIR": str(tmp_path / "state")}
    argv = ["syncd", "--config", str(cfg), "sync", "--json"]
    names = _imported(_running(argv), env)
    assert "syncd.sync.passes" in names and "connectors.maildir" in names  # it synced
    assert sorted(n for n in names if n.startswith(("icalendar", "connectors.ic"))) == []
