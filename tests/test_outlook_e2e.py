"""`syncd run --once` end to end with an outlook account and its Outlook calendar, against
the fake Microsoft identity platform and Graph over TLS: mail and events are stored, a
no_reply draft is made with createReply in the original conversation and a dormant hold
in the calendar, a second run creates nothing, and with a tenth of the requests failing
(5xx, 429 with Retry-After, dropped connections, batch parts included) the outcome is
the same as without faults. Also: `syncd accounts auth` with the device code flow, and
revoked consent marking the account needs_reauth while another account goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.outlook_auth import scopes_for
from tests.fake_microsoft import FakeMicrosoft
from tests.util import deliver, make_maildir, message, run_cli

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ME = "alex@contoso.example"
ALL = scopes_for(["mail", "drafts", "calendar", "holds"])


def seed(fake: FakeMicrosoft) -> None:
    g = fake.graph
    g.add_message(
        folder="sentitems",
        sender=("Alex Morgan", ME),
        to=[("Priya Raman", "priya@acme.example")],
        subject="Contract",
        received=NOW - timedelta(days=9),
        message_id="<c1@contoso.example>",
    )
    old = NOW - timedelta(days=250)
    g.add_message(
        folder="sentitems",
        sender=ME,
        to=[("Sophie Laurent", "sophie@studio.example")],
        subject="Brand workshop",
        received=old,
        message_id="<s1@contoso.example>",
    )
    g.add_message(
        sender=("Sophie Laurent", "sophie@studio.example"),
        subject="Re: Brand workshop",
        received=old + timedelta(days=1),
        message_id="<s2@studio.example>",
        headers={"In-Reply-To": "<s1@contoso.example>", "References": "<s1@contoso.example>"},
    )
    for i in range(60):  # enough mail for several JSON batches of header fields
        g.add_message(
            sender=("News", "news@letters.example") if i % 3 else (f"P{i}", f"p{i}@people.example"),
            subject=f"Issue {i}",
            received=NOW - timedelta(days=2, hours=i),
            message_id=f"<n{i}@letters.example>",
            headers={"List-Id": "<weekly.letters.example>"} if i % 3 else {},
        )
    g.add_message(
        sender=("Tom", "tom@example.org"),
        subject="Invitation: Weekly",
        received=NOW - timedelta(days=31),
        event_message=True,
    )
    start = NOW - timedelta(days=3)
    g.add_event(
        "Kick-off",
        start,
        start + timedelta(hours=1),
        attendees=[(ME, "none"), ("priya@acme.example", "accepted")],
    )
    g.add_event(
        "Weekly",
        NOW - timedelta(days=30),
        NOW - timedelta(days=30) + timedelta(minutes=30),
        attendees=[(ME, "none"), ("tom@example.org", "none")],
        organizer="tom@example.org",
        response="accepted",
        series=4,
    )


def _setup(tmp_path: Path, fake: FakeMicrosoft, *, extra: str = "") -> tuple[Path, dict[str, str]]:
    state = tmp_path / "state"
    cache = state / "credentials" / "m365.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(fake.signed_in_cache(ALL))
    cache.chmod(0o600)
    client = next(iter(fake.identity.public))
    cfg = tmp_path / "syncd.toml"
    cfg.write_text(
        f'[owner]\nname = "Alex Morgan"\naddresses = ["{ME}"]\ntimezone = "Europe/Berlin"\n'
        f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n'
        "[sync]\nretry_first_wait = 0.01\nretry_max_wait = 5\n"
        '[[rules]]\nname = "no-reply"\nkind = "no_reply"\naccount = "m365"\n'
        '[[rules]]\nname = "reconnect"\nkind = "dormant"\nafter = "180d"\naccount = "m365"\n'
        f'[[accounts]]\nname = "m365"\nkind = "outlook"\nclient_id = "{client}"\n'
        'tenant = "organizations"\ncalendar = { kind = "outlook" }\n'
        "[accounts.endpoints]\n"
        f'authority = "{fake.authority}"\ngraph = "{fake.graph_endpoint}"\n'
        f'ca_file = "{fake.ca_file}"\n' + extra,
        encoding="utf-8",
    )
    env = {"SYNCD_NOW": NOW.isoformat(), "SYNCD_STATE_DIR": str(state)}
    return cfg, env


def _run(cfg: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = run_cli("--config", str(cfg), "run", "--once", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _outcome(fake: FakeMicrosoft, cfg: Path, env: dict[str, str], final: dict[str, Any]) -> Any:
    """What a user sees, without the ids that differ between two fakes."""
    actions = json.loads(
        run_cli("--config", str(cfg), "actions", "list", "--json", env=env, check=True).stdout
    )
    original = _sent(fake)
    drafts = sorted(
        (
            json.dumps(d.props["toRecipients"]),
            d.props["subject"],
            d.header("In-Reply-To"),
            sorted(d.ext.values()),
            d.props["conversationId"] == original.props["conversationId"],
        )
        for d in fake.graph.drafts()
    )
    holds = sorted(
        (h.props["subject"], h.props["showAs"], h.start.isoformat(), sorted(h.ext.values()))
        for h in fake.graph.holds()
    )
    recent = [{k: v for k, v in i.items() if k not in ("id", "sources")} for i in final["recent"]]
    contacts = [{k: v for k, v in c.items() if k != "id"} for c in final["contacts"]]
    acts = sorted(
        (a["rule"], a["kind"], a["contact"], a["state"], a["key"], a["error"]) for a in actions
    )
    return {
        "interactions": final["interactions"],
        "recent": recent,
        "contacts": contacts,
        "actions": acts,
        "drafts": drafts,
        "holds": holds,
    }


def _sent(fake: FakeMicrosoft) -> Any:
    return next(
        m
        for m in fake.graph.messages.values()
        if m.props["internetMessageId"] == "<c1@contoso.example>"
    )


def test_run_once_against_microsoft_then_nothing_new(
    tmp_path: Path, fake_microsoft: FakeMicrosoft
) -> None:
    fake = fake_microsoft
    seed(fake)
    cfg, env = _setup(tmp_path, fake)
    first = _run(cfg, env)
    assert first["sync"]["errors"] == 0, first["sync"]
    assert first["actions"]["created"] == 2, first["actions"]
    streams = {s["stream"]: s for s in first["sync"]["streams"]}
    assert streams["mail:inbox"]["read"] == 62 and streams["mail:sentitems"]["read"] == 2
    assert streams["calendar:calendar"]["read"] == 5
    # Header fields were fetched for received mail only: on a first read, by one listing
    # of the Inbox over the delta page's time range (not per message).
    [listing] = [c for c in fake.calls("graph.messages.list") if "/inbox/" in c.path]
    assert listing.query["$select"] == ["internetMessageHeaders"]
    assert fake.calls("graph.messages.get") == []
    [draft] = fake.graph.drafts()
    original = _sent(fake)
    assert draft.props["conversationId"] == original.props["conversationId"]
    assert draft.header("In-Reply-To") == "<c1@contoso.example>"
    assert draft.props["toRecipients"][0]["emailAddress"]["address"] == "priya@acme.example"
    assert [v.startswith("no-reply:") for v in draft.ext.values()] == [True]
    assert len(fake.calls("graph.messages.createReply")) == 1
    [hold] = fake.graph.holds()
    assert hold.props["showAs"] == "tentative" and hold.props["subject"].startswith("Reconnect")
    assert hold.props["transactionId"].startswith("syncd-")
    assert hold.props["attendees"] == [] and hold.props["isReminderOn"] is False

    hist = json.loads(
        run_cli(
            "--config", str(cfg), "history", "priya@acme.example", "--json", env=env, check=True
        ).stdout
    )
    assert {h["kind"] for h in hist} == {"email", "meeting"}
    assert (tmp_path / "state" / "credentials" / "m365.json").stat().st_mode & 0o777 == 0o600

    fake.clear_log()
    again = _run(cfg, env)
    assert again["actions"]["created"] == 0 and again["sync"]["new_interactions"] == 0
    assert len(fake.graph.drafts()) == 1 and len(fake.graph.holds()) == 1
    # An incremental poll is one request per stream when nothing changed there.
    deltas = [c.route for c in fake.log if c.route.endswith(".delta")]
    assert sorted(deltas) == [
        "graph.calendarView.delta",
        "graph.messages.delta",
        "graph.messages.delta",
    ]
    # The draft and the hold syncd made are not read back as mail or events.
    assert fake.calls("graph.batch") == []


@pytest.mark.parametrize("replay", ["error", "second"])
def test_run_once_twice_leaves_one_draft_and_one_hold_whatever_a_repeated_transaction_id_gets(
    tmp_path: Path, fake_microsoft: FakeMicrosoft, replay: str
) -> None:
    """The strict fake: createReply keeps no extended property, and a repeated
    transactionId gets an error or a second event (the first event: the test above)."""
    fake = fake_microsoft
    fake.graph.transaction_replay = replay
    seed(fake)
    cfg, env = _setup(tmp_path, fake)
    # The first answers of createReply and of the event POST are lost after the objects
    # were made: the retries must find them, not make them again.
    fake.inject(
        "graph.messages.createReply",
        status=429,
        code="TooManyRequests",
        headers={"Retry-After": "0"},
        drop="lost",
    )
    fake.inject("graph.events.create", drop="after")
    first = _run(cfg, env)
    assert first["actions"]["created"] == 2, first["actions"]
    again = _run(cfg, env)
    assert again["actions"]["created"] == 0
    [draft] = fake.graph.drafts()
    [hold] = fake.graph.holds()
    assert list(draft.ext.values()) == [a["key"] for a in _actions(cfg, env, "draft")]
    assert list(hold.ext.values()) == [a["key"] for a in _actions(cfg, env, "hold")]
    assert [c.status for c in fake.calls("graph.messages.createReply")] == [429]
    assert [c.status for c in fake.calls("graph.events.create")] == [0]


def _actions(cfg: Path, env: dict[str, str], kind: str) -> list[dict[str, Any]]:
    doc = json.loads(
        run_cli("--config", str(cfg), "actions", "list", "--json", env=env, check=True).stdout
    )
    return [a for a in doc if a["kind"] == kind and a["state"] == "created"]


def more(fake: FakeMicrosoft) -> None:
    """New mail and a moved meeting between two runs (polled incrementally)."""
    g = fake.graph
    for i in range(45):
        g.add_message(
            sender=(f"Q{i}", f"q{i}@people.example"),
            subject=f"Question {i}",
            received=NOW - timedelta(hours=1, minutes=i),
            message_id=f"<q{i}@people.example>",
            headers={"List-Unsubscribe": "<mailto:x@people.example>"} if i % 4 == 0 else {},
        )
    kickoff = next(e for e in g.events.values() if e.props["subject"] == "Kick-off")
    g.move_event(kickoff.id, kickoff.start - timedelta(hours=1), kickoff.end - timedelta(hours=1))


def test_a_tenth_of_requests_failing_changes_nothing(
    tmp_path: Path, fake_microsoft: FakeMicrosoft
) -> None:
    clean_fake = fake_microsoft
    clean_fake.graph.transaction_replay = "second"  # the least helpful answer
    seed(clean_fake)
    clean_cfg, clean_env = _setup(tmp_path / "clean", clean_fake)
    _run(clean_cfg, clean_env)
    more(clean_fake)
    _run(clean_cfg, clean_env)
    clean = _outcome(clean_fake, clean_cfg, clean_env, _run(clean_cfg, clean_env))

    faulty = FakeMicrosoft(seed=1).start()
    try:
        faulty.graph.transaction_replay = "second"
        seed(faulty)
        cfg, env = _setup(tmp_path / "faulty", faulty)
        faulty.fail_share(0.1, retry_after="0")
        # Besides the random tenth (which loses answers after the fact too: a dropped
        # connection or a 429 once the request was carried out), the first answer of each
        # write is lost after Graph made the object.
        lost = {"status": 429, "code": "TooManyRequests", "headers": {"Retry-After": "0"}}
        faulty.inject("graph.messages.createReply", drop="lost", **lost)  # type: ignore[arg-type]
        faulty.inject("graph.messages.update", drop="after")
        faulty.inject("graph.events.create", drop="lost", **lost)  # type: ignore[arg-type]
        _run(cfg, env)
        more(faulty)
        _run(cfg, env)
        last = _run(cfg, env)
        assert last["actions"]["created"] == 0
        faulty.fail_share(0.0)
        got = _outcome(faulty, cfg, env, last)
        failures = [c for c in faulty.log if c.status in (0, 429, 500, 503, 504)]
        assert len(failures) >= 5, len(failures)
        statuses = {c.status for c in failures}
        assert 0 in statuses and statuses & {429, 503}  # dropped; throttled with Retry-After
        assert any(c.in_batch for c in failures)
        for route in ("graph.messages.createReply", "graph.messages.update", "graph.events.create"):
            assert faulty.calls(route)[0].status in (0, 429), route
    finally:
        faulty.stop()
    assert got == clean
    assert len(got["drafts"]) == 1 and len(got["holds"]) == 1


# --------------------------------------------------------------------------- accounts auth


def test_accounts_auth_device_code_stores_a_0600_cache_with_least_scopes(
    tmp_path: Path, fake_microsoft: FakeMicrosoft
) -> None:
    fake = fake_microsoft
    seed(fake)
    cfg, env = _setup(tmp_path, fake)
    cache = Path(env["SYNCD_STATE_DIR"]) / "credentials" / "m365.json"
    cache.unlink()
    fake.clear_log()
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", "--config", str(cfg), "accounts", "auth", "m365"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stderr is not None
    url = code = None
    for line in proc.stderr:
        if line.startswith("On any machine, open "):
            words = line.split()
            url, code = words[4], words[-1]
            break
    assert url and code, "no verification URL and code printed"
    # The user signs in on another machine.
    answer = requests.get(url, params={"code": code}, verify=fake.ca_file, timeout=30)
    assert answer.status_code == 200
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "authorised for mail, drafts, calendar, holds" in out
    assert cache.stat().st_mode & 0o777 == 0o600
    stored = json.loads(cache.read_text())
    assert stored["RefreshToken"] and stored["Account"]
    secret = next(iter(stored["RefreshToken"].values()))["secret"]
    assert secret not in out + err
    [ask] = [c for c in fake.log if c.route == "identity.devicecode"]
    assert ask.status == 200
    granted = set(fake.identity.consent.values()).pop()
    assert granted == {"Mail.ReadBasic", "Mail.ReadWrite", "Calendars.Read", "Calendars.ReadWrite"}
    assert all(c.path.startswith("/") for c in fake.log)  # nothing went elsewhere
    # The stored authorisation works.
    assert _run(cfg, env)["sync"]["errors"] == 0


def test_revoked_consent_marks_the_account_needs_reauth_and_others_go_on(
    tmp_path: Path, fake_microsoft: FakeMicrosoft
) -> None:
    fake = fake_microsoft
    seed(fake)
    mail = make_maildir(tmp_path / "mail", "INBOX")
    deliver(
        mail,
        message(
            sender="Zoe <zoe@example.net>",
            to=ME,
            subject="Hi",
            date=NOW - timedelta(days=1),
            message_id="z1@example.net",
        ),
    )
    cfg, env = _setup(
        tmp_path,
        fake,
        extra=f'[[accounts]]\nname = "local"\nkind = "maildir"\npath = "{mail}"\n',
    )
    assert _run(cfg, env)["sync"]["errors"] == 0
    fake.identity.revoke_consent()
    proc = run_cli("--config", str(cfg), "run", "--once", "--json", env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    result = json.loads(proc.stdout)
    assert result["sync"]["errors"] == 3  # two mail folders, one calendar
    local = [s for s in result["sync"]["streams"] if s["account"] == "local"]
    assert local and all(not s.get("error") for s in local), local
    status = json.loads(
        run_cli("--config", str(cfg), "accounts", "status", "--json", env=env, check=True).stdout
    )
    by_name = {a["name"]: a for a in status}
    assert by_name["m365"]["state"] == "needs_reauth", by_name["m365"]
    assert "AADSTS65001" in by_name["m365"]["last_error"]
    assert "syncd accounts auth m365" in by_name["m365"]["last_error"]
    assert by_name["local"]["state"] == "ok"
    [refresh] = [c for c in fake.log if c.grant == "refresh_token"][-1:]
    assert refresh.status == 400
