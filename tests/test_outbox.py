"""Drafts and holds end to end through the installed command, on a copy of the examples:
created exactly once, withdrawn when their reason goes away (only if untouched), crash-safe
between "created at the sink" and "recorded in the store", hostile templates contained."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.util import deliver, run_cli

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-25T12:00:00Z"
# The outbox's core promises (created once, crash-safe, dismissed stays dismissed) are
# checked on both engines; the rest of the file runs on SQLite only, to keep it quick.
ON_BOTH = pytest.mark.parametrize("demo", ["sqlite", "postgres"], indirect=True)


class Demo:
    """A copy of config.example.toml and examples/ with its own state directory."""

    def __init__(self, tmp: Path, *, copy: bool = True) -> None:
        self.dir = tmp / "demo"
        if copy:
            shutil.copytree(ROOT / "examples", self.dir / "examples")
            shutil.copy(ROOT / "config.example.toml", self.dir / "config.example.toml")
        self.config = self.dir / "config.example.toml"
        self.state = self.dir / "state"
        self.drafts = self.dir / "examples" / "mail" / "Drafts" / "cur"
        self.holds = self.state / "holds" / "personal"
        self.now = NOW

    def use_store(self, url: str) -> None:
        text = self.config.read_text(encoding="utf-8")
        assert "[store]\n" in text
        text = text.replace("[store]\n", f'[store]\nurl = "{url}"\n', 1)
        self.config.write_text(text, encoding="utf-8")

    def env(self, **extra: str) -> dict[str, str]:
        return {"SYNCD_STATE_DIR": str(self.state), "SYNCD_NOW": self.now, **extra}

    def run(self, *args: str, check: bool = True, **env: str):  # type: ignore[no-untyped-def]
        proc = run_cli("--config", str(self.config), *args, env=self.env(**env))
        if check and proc.returncode != 0:
            raise AssertionError(f"syncd {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> object:
        return json.loads(self.run(*args, "--json").stdout)

    def syncd_drafts(self) -> dict[str, Path]:
        out = {}
        for f in self.drafts.iterdir():
            m = re.search(rb"^X-Syncd-Key: (.+?)\r?$", f.read_bytes(), re.M)
            if m:
                key = m.group(1).decode()
                assert key not in out, f"two drafts for {key}"
                out[key] = f
        return out

    def actions(self) -> list[dict[str, object]]:
        return self.json("actions", "list")  # type: ignore[return-value]


def _synced(d: Demo) -> Demo:
    d.run("sync")
    d.run("import", "vcard", str(d.dir / "examples" / "contacts.vcf"))
    return d


@pytest.fixture(scope="module")
def synced_on_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo synced and its cards imported on SQLite once per module (and worker): the
    tests start from copies of it rather than syncing the same examples each time."""
    return _synced(Demo(tmp_path_factory.mktemp("outbox"))).dir


@pytest.fixture
def demo(request: pytest.FixtureRequest, tmp_path: Path) -> Demo:
    """The demo on SQLite; on PostgreSQL too where a test asks with `ON_BOTH`."""
    if getattr(request, "param", "sqlite") == "postgres":
        d = Demo(tmp_path)
        d.use_store(str(request.getfixturevalue("pg_url")))
        return _synced(d)
    # A copy of the synced demo: the Maildir, the store and its state files as they were.
    shutil.copytree(request.getfixturevalue("synced_on_sqlite"), tmp_path / "demo")
    return Demo(tmp_path, copy=False)


@ON_BOTH
def test_run_once_creates_drafts_and_holds_once(demo: Demo) -> None:
    out = demo.run("run", "--once").stdout
    assert "created" in out
    drafts = demo.syncd_drafts()
    holds = list(demo.holds.glob("*.ics"))
    rules = {a["rule"] for a in demo.actions()}
    assert {"no-reply", "thanks", "reconnect", "dates"} <= rules
    assert len(drafts) >= 3 and len(holds) >= 1
    assert all(a["state"] == "created" for a in demo.actions())
    reply = next(p for k, p in drafts.items() if k.startswith("no-reply:"))
    text = reply.read_text()
    assert "In-Reply-To: <" in text and "Subject: Re: " in text
    hold = holds[0].read_text()
    assert "STATUS:TENTATIVE" in hold and "X-SYNC-KEY:reconnect:" in hold
    assert "Reconnect with Sophie Laurent" in hold
    # The hold sits inside the owner's working hours (09:00-17:30 Europe/Berlin), on a weekday.
    start = re.search(r"DTSTART:(\d{8}T\d{6})Z", hold)
    assert start is not None
    when = datetime.strptime(start.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert when.weekday() < 5 and 8 <= when.hour < 17  # UTC+1 in winter

    before = (sorted(demo.drafts.iterdir()), sorted(demo.holds.iterdir()))
    doc = demo.json("run", "--once")
    assert doc["actions"]["new"] == 0 and doc["actions"]["created"] == 0  # type: ignore[index]
    assert (sorted(demo.drafts.iterdir()), sorted(demo.holds.iterdir())) == before


def test_plan_is_a_dry_run_with_reasons(demo: Demo) -> None:
    doc = demo.json("plan")
    actions = doc["actions"]  # type: ignore[index]
    assert actions and all(a["reason"] and a["key"] and a["state"] == "new" for a in actions)
    for a in actions:
        assert {
            "id",
            "rule",
            "kind",
            "contact",
            "account",
            "state",
            "key",
            "due_at",
            "provider_ref",
            "error",
        } <= a.keys()
    assert demo.actions() == []
    assert demo.syncd_drafts() == {}
    assert json.dumps(demo.json("plan")["actions"]) == json.dumps(actions)  # type: ignore[index]


@ON_BOTH
def test_sigkill_between_sink_and_store_leaves_exactly_one(demo: Demo) -> None:
    kills = 0
    for _ in range(12):
        proc = demo.run("apply", check=False, SYNCD_FAILPOINTS="after-sink-create")
        if proc.returncode == 0:
            break
        assert proc.returncode == -9, proc.stderr
        kills += 1
    assert kills >= 4  # one death per draft or hold created
    demo.run("apply")
    actions = demo.actions()
    assert actions and all(a["state"] == "created" for a in actions)
    drafts = demo.syncd_drafts()  # raises on a key with two drafts
    holds = list(demo.holds.glob("*.ics"))
    assert len(drafts) + len(holds) == len(actions)


def _reply(demo: Demo, to_key: str) -> None:
    """Priya answers the contract mail the no-reply draft follows up on."""
    mid = to_key.split(":mid:", 1)[1]
    data = (
        "From: Priya Raman <priya.raman@acme.example>\r\nTo: alex@example.com\r\n"
        "Subject: Re: Contract renewal\r\n"
        f"Date: {format_datetime(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))}\r\n"
        "Message-ID: <answer-1@acme.example>\r\n"
        f"In-Reply-To: <{mid}>\r\nReferences: <{mid}>\r\n\r\nLooks good, signing today.\r\n"
    ).encode()
    deliver(demo.dir / "examples" / "mail" / "INBOX", data)
    demo.now = "2026-11-26T12:00:00Z"


@pytest.mark.parametrize("edited", [False, True])
def test_a_reply_withdraws_the_draft_unless_the_user_edited_it(demo: Demo, edited: bool) -> None:
    demo.run("apply")
    key, path = next(
        (k, p)
        for k, p in demo.syncd_drafts().items()
        if k.startswith("no-reply:") and "priya" in p.read_text()
    )
    if edited:
        path.write_text(path.read_text().replace("Hi Priya", "Dear Priya, quick one"))
    _reply(demo, key)
    doc = demo.json("run", "--once")
    outcome = doc["actions"]  # type: ignore[index]
    action = next(a for a in demo.actions() if a["key"] == key)
    assert action["state"] == "skipped"
    if edited:
        assert key in demo.syncd_drafts() and outcome["left_alone"] == 1
        assert "you changed it" in str(action["reason"])
    else:
        assert key not in demo.syncd_drafts() and outcome["removed"] >= 1
        assert "withdrawn" in str(action["reason"])


@pytest.mark.parametrize("moved", [False, True])
def test_writing_to_a_dormant_contact_withdraws_the_hold_unless_moved(
    demo: Demo, moved: bool
) -> None:
    demo.run("apply")
    [hold] = list(demo.holds.glob("*.ics"))
    if moved:
        text = hold.read_text()
        hold.write_text(
            re.sub(r"DTSTART:(\d{8})T(\d\d)", lambda m: f"DTSTART:{m[1]}T{int(m[2]) - 1:02d}", text)
        )
    data = (
        "From: Alex Morgan <alex@example.com>\r\nTo: Sophie Laurent <sophie@studio-laurent.example>\r\n"
        "Subject: Long time!\r\n"
        f"Date: {format_datetime(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))}\r\n"
        "Message-ID: <hello-sophie@example.com>\r\n\r\nHow are you?\r\n"
    ).encode()
    deliver(demo.dir / "examples" / "mail" / "Sent", data)
    demo.now = "2026-11-26T12:00:00Z"
    demo.run("run", "--once")
    action = next(a for a in demo.actions() if a["rule"] == "reconnect")
    assert action["state"] == "skipped"
    assert hold.exists() is moved


@ON_BOTH
def test_a_deleted_draft_is_dismissed_and_not_recreated(demo: Demo) -> None:
    demo.run("apply")
    key, path = next(iter(demo.syncd_drafts().items()))
    path.unlink()
    demo.run("apply")
    action = next(a for a in demo.actions() if a["key"] == key)
    assert action["state"] == "dismissed"
    assert key not in demo.syncd_drafts()
    demo.run("apply")
    assert key not in demo.syncd_drafts()


def test_actions_dismiss_removes_an_untouched_draft(demo: Demo) -> None:
    demo.run("apply")
    action = next(a for a in demo.actions() if a["kind"] == "draft")
    out = demo.run("actions", "dismiss", str(action["id"])).stdout
    assert "removed" in out
    assert action["key"] not in demo.syncd_drafts()
    demo.run("apply")
    assert action["key"] not in demo.syncd_drafts()
    assert demo.run("actions", "dismiss", "99999", check=False).returncode == 1


HOSTILE = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{{ 'x' * 10**9 }}",
    "{{ contact.nickname }}",
    "{% include '/etc/passwd' %}",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_a_hostile_template_fails_its_action_with_a_clear_error(demo: Demo, template: str) -> None:
    bad = demo.dir / "examples" / "templates" / "no_reply.txt.j2"
    bad.write_text(template)
    cfg = demo.config.read_text()
    demo.config.write_text(
        cfg.replace('template = "no_reply"', 'template = "examples/templates/no_reply.txt.j2"')
    )
    proc = demo.run("apply", "--json", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    failed = [a for a in demo.actions() if a["rule"] == "no-reply"]
    assert failed and all(a["state"] == "failed" for a in failed)
    assert all(str(a["error"]).startswith("template failed: ") for a in failed)
    assert all(len(str(a["error"]).splitlines()) == 1 for a in failed)
    assert not any(k.startswith("no-reply:") for k in demo.syncd_drafts())
    # Nothing else is affected: the other rules' drafts and holds are there.
    others = [a for a in demo.actions() if a["rule"] != "no-reply"]
    assert others and all(a["state"] == "created" for a in others)
    # A failed template is not retried on every pass.
    again = demo.json("apply")
    assert again["failed"] == 0  # type: ignore[index]


def test_a_failing_writer_falls_back_to_the_template(demo: Demo) -> None:
    cfg = demo.config.read_text()
    cfg = cfg.replace(
        '# writer = ["/usr/local/bin/my-writer", "--tone", "warm"]',
        'writer = ["/bin/sh", "-c", "exit 3"]',
    )
    demo.config.write_text(cfg)
    demo.run("apply")
    action = next(a for a in demo.actions() if a["rule"] == "no-reply")
    assert action["state"] == "created"
    assert "writer failed (writer exited 3" in str(action["reason"])
    assert "I wanted to follow up" in demo.syncd_drafts()[str(action["key"])].read_text()


def test_a_working_writer_writes_the_body(demo: Demo) -> None:
    script = demo.dir / "writer.py"
    script.write_text(
        "import json, sys\nctx = json.load(sys.stdin)\n"
        "print('Dear ' + ctx['contact']['name'] + ', any news? (' + ctx['rule']['kind'] + ')')\n"
    )
    import sys

    cfg = demo.config.read_text().replace(
        '# writer = ["/usr/local/bin/my-writer", "--tone", "warm"]',
        f'writer = ["{sys.executable}", "{script}"]',
    )
    demo.config.write_text(cfg)
    demo.run("apply")
    action = next(a for a in demo.actions() if a["rule"] == "no-reply")
    body = demo.syncd_drafts()[str(action["key"])].read_text()
    assert "Dear Priya Raman, any news? (no_reply)" in body or "Dear Daniel Kim" in body


def test_backtest_replays_history(demo: Demo) -> None:
    fired = demo.json("plan", "--backtest", "90d")
    assert isinstance(fired, list) and fired
    assert all(f["day"] and f["rule"] and f["reason"] for f in fired)  # type: ignore[index]
    keys = [f["key"] for f in fired]  # type: ignore[index]
    assert len(keys) == len(set(keys))
    assert demo.actions() == []  # nothing written


def test_vcard_import_sets_dates_and_merges(demo: Demo) -> None:
    priya = demo.json("contacts", "show", "priya.raman@acme.example")
    assert priya["timezone"] == "Asia/Kolkata"  # type: ignore[index]
    assert {"kind": "birthday", "label": None, "date": "--11-27"} in priya["dates"]  # type: ignore[index]
    daniel = demo.json("contacts", "show", "d.kim@northwind.example")
    assert set(daniel["emails"]) == {"d.kim@northwind.example", "daniel.kim@northwind.example"}  # type: ignore[index]
    out = demo.run("import", "vcard", str(demo.dir / "missing.vcf"), check=False)
    assert out.returncode == 1 and "missing.vcf" in out.stderr


def test_a_hold_lands_where_both_sides_work(demo: Demo) -> None:
    """Berlin 09:00-17:30 and New York 09:00-17:00 overlap 14:00-16:30 UTC in winter."""
    demo.run(
        "contacts",
        "set",
        "sophie@studio-laurent.example",
        "--timezone",
        "America/New_York",
        "--working-hours",
        "09:00-17:00",
    )
    doc = demo.json("plan")
    [hold_plan] = [a for a in doc["actions"] if a["kind"] == "hold"]  # type: ignore[index]
    assert hold_plan["due_at"] == "2026-11-25T14:00:00Z"  # due when their day starts
    demo.run("apply")
    assert list(demo.holds.glob("*.ics")) == []  # not due yet at 12:00 UTC
    # The owner is busy for the rest of the shared window today: the hold goes to the
    # next shared window (tomorrow from 14:00 UTC), not to tomorrow 08:00 UTC (Berlin 09:00).
    (demo.dir / "examples" / "calendar" / "busy.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        "UID:busy@example.com\r\nDTSTAMP:20261120T000000Z\r\nDTSTART:20261125T144500Z\r\n"
        "DTEND:20261125T163000Z\r\nSUMMARY:Board meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    demo.now = "2026-11-25T15:00:00Z"
    demo.run("apply")
    [hold] = list(demo.holds.glob("*.ics"))
    start = re.search(r"DTSTART:(\d{8}T\d{6})Z", hold.read_text())
    assert start is not None
    when = datetime.strptime(start.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert when == datetime(2026, 11, 26, 14, 0, tzinfo=UTC), when


def test_a_merge_keeps_the_merged_contacts_drafts_tracked(tmp_path: Path) -> None:
    """Drafts made before an address-book import merges two contacts stay in the outbox:
    none is orphaned in the mailbox, and the next apply settles them (the demo's order)."""
    d = Demo(tmp_path)
    d.run("run", "--once")
    made = set(d.syncd_drafts())
    assert any(":" in k and k.startswith("no-reply:") for k in made)
    d.run("import", "vcard", str(d.dir / "examples" / "contacts.vcf"))  # merges Daniel Kim
    d.run("apply")
    tracked = {str(a["key"]) for a in d.actions()}
    # Every draft syncd made is still an action it knows, so it can be withdrawn later.
    assert set(d.syncd_drafts()) <= tracked


def test_an_action_the_caps_defer_is_not_executed_on_its_old_day(demo: Demo) -> None:
    """On Saturday the rules plan four actions for Monday 09:00 (Berlin) under the
    config's caps; the user then lowers the caps to one a day with a one-day horizon. On
    Monday at noon the planner keeps one for today, moves one to tomorrow and defers the
    rest: those stay planned in the outbox with their old due time, which has passed, but
    must not be executed today over the cap."""
    demo.now = "2026-11-28T12:00:00Z"  # a Saturday: due on Monday morning
    demo.run("apply")
    planned = demo.actions()
    assert len(planned) >= 3 and all(a["state"] == "planned" for a in planned)
    text = demo.config.read_text(encoding="utf-8")
    text = text.replace("per_day = 10 ", "per_day = 1 ", 1).replace(
        'horizon = "14d" ', 'horizon = "1d" ', 1
    )
    demo.config.write_text(text, encoding="utf-8")
    demo.now = "2026-11-30T12:00:00Z"
    doc = demo.json("plan")
    held = set(doc["deferred"]) & {a["key"] for a in planned}  # type: ignore[index]
    assert held  # planned on Saturday, deferred now
    demo.run("apply")
    created = [a for a in demo.actions() if a["state"] == "created"]
    assert len(created) == 1, created
    assert held <= {a["key"] for a in demo.actions() if a["state"] == "planned"}
