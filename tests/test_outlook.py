"""The Outlook connectors against the fake Microsoft identity platform and Graph (TLS, a
test CA), through the unmodified msal and requests: delta paging, header fields only
where needed, expired delta tokens, throttling with Retry-After, revoked consent,
drafts, holds, busy time, client credentials."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.base import AuthFailed, CursorExpired, DraftSpec, HoldSpec, SourceUnavailable
from connectors.http_retry import RetryPolicy
from connectors.outlook_auth import scopes_for
from connectors.outlook_calendar import OutlookCalendarSettings, OutlookCalendarSource
from connectors.outlook_http import GraphApi, GraphSettings
from connectors.outlook_mail import OutlookMailSettings, OutlookMailSource
from syncd.config import load_config
from syncd.store.db import Store
from syncd.store.models import Interaction, InteractionSource
from syncd.sync.passes import Syncer, sync_all
from tests.fake_microsoft import TENANT_ID, FakeMicrosoft
from tests.util import write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ME = "alex@contoso.example"
ALL = scopes_for(["mail", "drafts", "calendar", "holds"])


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def make_api(
    fake: FakeMicrosoft,
    scopes: list[str] = ALL,
    *,
    sleeps: Sleeps | None = None,
    saved: list[str] | None = None,
    **retry: Any,
) -> GraphApi:
    policy = RetryPolicy(
        first_wait=0.001, sleep=sleeps if sleeps is not None else Sleeps(), **retry
    )
    api = GraphApi(
        GraphSettings(
            account="m365",
            client_id=fake.identity.add_public_client(),
            authority=fake.authority,
            scopes=tuple(scopes),
            graph=fake.graph_endpoint,
            token_cache=fake.signed_in_cache(scopes),
            save_cache=saved.append if saved is not None else None,
            ca_file=fake.ca_file,
            retry=policy,
        )
    )
    _OPEN.append(api)
    return api


def add_mail(fake: FakeMicrosoft, n: int, *, start: int = 0, folder: str = "inbox") -> list[str]:
    return [
        fake.graph.add_message(
            folder=folder,
            sender=(f"Person {i}", f"p{i}@acme.example"),
            subject=f"Hello {i}",
            received=NOW - timedelta(hours=i + 1),
            message_id=f"<m{i}@acme.example>",
            headers={"List-Id": "<news.acme.example>", "X-Not-Asked-For": "x"}
            if i % 2
            else {"X-Not-Asked-For": "x"},
        )
        for i in range(start, start + n)
    ]


def poll_all(source: Any, name: str, cursor: str | None, **kw: Any) -> tuple[list[Any], str]:
    stream = next(s for s in source.streams() if s.name == name)
    batches = list(source.poll(stream, cursor, now=NOW, **kw))
    assert batches[-1].done and all(not b.done for b in batches[:-1])
    return [i for b in batches for i in b.items], str(batches[-1].cursor)


# ----------------------------------------------------------------------------- mail


def test_first_read_pages_delta_and_lists_header_fields_by_range(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    add_mail(fake, 230)
    old = fake.graph.add_message(sender="old@acme.example", received=NOW - timedelta(days=400))
    fake.graph.add_message(sender=ME, received=NOW, draft=True, folder="inbox")
    source = OutlookMailSource(make_api(fake), OutlookMailSettings(page_size=100, items=80))
    fake.clear_log()
    items, cursor = poll_all(source, "inbox", None)
    assert len(items) == 230 and old not in {i.provider_id for i in items}
    deltas = fake.calls("graph.messages.delta")
    assert len(deltas) == 3  # 100 + 100 + 32 rows, newest first
    first = deltas[0].query
    assert first["changeType"] == ["created"] and first["$orderby"] == ["receivedDateTime desc"]
    assert "internetMessageHeaders" not in first["$select"][0]
    # One listing of the page's time range fetched the header fields of each full page;
    # the last page's 30 went in JSON batches of 4 (the mailbox's concurrency limit: a
    # batch's parts run in parallel against it), so no part was throttled.
    listings = fake.calls("graph.messages.list")
    assert len(listings) == 2 and len(fake.calls("graph.batch")) == 8
    assert all(int(c.query["$top"][0]) <= 200 for c in listings)
    assert [c for c in fake.log if c.in_batch and c.status == 429] == []
    msg = next(i for i in items if i.get("Subject") == "Hello 1")
    assert msg.get("List-Id") == "<news.acme.example>" and msg.get("X-Not-Asked-For") is None
    assert msg.get("DKIM-Signature") is None and msg.get("Received") is None
    assert msg.get("From") == "Person 1 <p1@acme.example>" and msg.get("To") == ME
    assert msg.folder_role == "inbox" and msg.thread_id and msg.internal_date is not None
    assert '"link":"https://127.0.0.1:' in cursor and "deltatoken" in cursor


def test_incremental_poll_is_one_request_and_new_mail_gets_header_fields_in_batches_of_4(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    add_mail(fake, 5)
    source = OutlookMailSource(make_api(fake))
    _, cursor = poll_all(source, "inbox", None)
    fake.clear_log()
    items, same = poll_all(source, "inbox", cursor)
    assert items == [] and [c.route for c in fake.log] == ["graph.messages.delta"]
    mids = add_mail(fake, 25, start=100)
    fake.graph.mark_read(mids[0])  # an update: changeType=created leaves it out
    fake.graph.add_message(sender=("Tom", "tom@example.org"), received=NOW, event_message=True)
    fake.clear_log()
    items, _ = poll_all(source, "inbox", same)
    assert len(items) == 26
    assert [c.route for c in fake.log if not c.in_batch] == ["graph.messages.delta"] + [
        "graph.batch"
    ] * 7  # 25 in parts of at most 4
    parts = fake.calls("graph.messages.get", in_batch=True)
    assert len(parts) == 25  # not the meeting message
    invite = next(i for i in items if i.get("From") == "Tom <tom@example.org>")
    assert invite.body_hints == frozenset({"text/calendar"})


def test_sent_items_need_no_header_fetch_and_updates_read_in_full(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    add_mail(fake, 50, folder="sentitems")
    source = OutlookMailSource(make_api(fake))
    fake.clear_log()
    items, cursor = poll_all(source, "sentitems", None)
    graph = [c.route for c in fake.log if c.route.startswith("graph.")]
    assert len(items) == 50 and graph == ["graph.messages.delta"]
    assert all(i.folder_role == "sent" for i in items)
    # A server that ignores changeType sends updates with only the changed properties:
    # such rows are read in full (one JSON batch), not taken for empty messages.
    for token in fake.graph.tokens.values():
        token.params.pop("changeType", None)
    fake.graph.mark_read(next(iter(fake.graph.messages)))
    fake.clear_log()
    items, _ = poll_all(source, "sentitems", cursor)
    assert len(items) == 1 and items[0].get("From") == "Person 0 <p0@acme.example>"
    [part] = fake.calls("graph.messages.get", in_batch=True)
    assert "internetMessageHeaders" not in str(part.query)


def test_expired_delta_token_raises_cursor_expired(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    add_mail(fake, 3)
    source = OutlookMailSource(make_api(fake))
    _, cursor = poll_all(source, "inbox", None)
    fake.graph.expire_delta_tokens()
    with pytest.raises(CursorExpired, match="410 syncStateNotFound"):
        poll_all(source, "inbox", cursor)
    _, cursor = poll_all(source, "inbox", None)
    fake.graph.expire_delta_tokens(status=400, code="resyncRequired")
    with pytest.raises(CursorExpired, match="resyncRequired"):
        poll_all(source, "inbox", cursor)
    assert fake.calls("identity.token", in_batch=False)[-1].status == 200


def _syncer(tmp_path: Path, fake: FakeMicrosoft, extra: str = "") -> tuple[Syncer, Store]:
    state = tmp_path / "state"
    (state / "credentials").mkdir(parents=True)
    cache = state / "credentials" / "m365.json"
    cache.write_text(fake.signed_in_cache(ALL))
    cache.chmod(0o600)
    path = write_config(
        tmp_path / "c.toml",
        f'[store]\nstate_dir = "{state}"\n'
        "[sync]\nretry_first_wait = 0.001\n"
        f'[[accounts]]\nname = "m365"\nkind = "outlook"\n'
        f'client_id = "{next(iter(fake.identity.public))}"\ncalendar = {{ kind = "outlook" }}\n'
        f'[accounts.endpoints]\nauthority = "{fake.authority}"\ngraph = "{fake.graph_endpoint}"\n'
        f'ca_file = "{fake.ca_file}"\n' + extra,
    )
    config = load_config(path)
    store = Store(config.store_url)
    store.check_ready()
    syncer = Syncer(store, config, store.ensure_owner("default", NOW))
    _OPEN.append(syncer.connectors)
    return syncer, store


def _count(store: Store, what: object) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(what)) or 0)  # type: ignore[arg-type]


def test_expired_delta_token_resyncs_the_folder_without_duplicates(
    tmp_path: Path, fake_microsoft: FakeMicrosoft
) -> None:
    fake = fake_microsoft
    add_mail(fake, 30)
    fake.graph.add_event(
        "Review",
        NOW - timedelta(days=1),
        NOW - timedelta(hours=23),
        attendees=[("b@x.example", "accepted")],
    )
    syncer, store = _syncer(tmp_path, fake)
    sync_all(syncer, now_fn=lambda: NOW)
    before = (_count(store, Interaction), _count(store, InteractionSource))
    assert before[1] == 31
    fake.graph.expire_delta_tokens()
    add_mail(fake, 2, start=100)
    report = sync_all(syncer, now_fn=lambda: NOW)
    inbox = next(r for r in report.streams if r.stream == "mail:inbox")
    cal = next(r for r in report.streams if r.stream == "calendar:calendar")
    assert inbox.resynced and inbox.error is None and inbox.read == 32
    assert cal.resynced and cal.error is None
    assert _count(store, InteractionSource) == 33
    assert _count(store, Interaction) == before[0] + 2


# ----------------------------------------------------------------------------- throttling


def test_throttling_waits_what_retry_after_asks(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    add_mail(fake, 3)
    sleeps = Sleeps()
    source = OutlookMailSource(make_api(fake, sleeps=sleeps))
    fake.inject(
        "graph.messages.delta",
        status=429,
        code="TooManyRequests",
        headers={"Retry-After": "7"},
        times=2,
    )
    fake.inject("graph.messages.delta", status=503, headers={"Retry-After": "3"})
    items, _ = poll_all(source, "inbox", None)
    assert len(items) == 3
    assert len(sleeps) == 3 and sleeps[0] >= 7 and sleeps[1] >= 7 and sleeps[2] >= 3
    statuses = [c.status for c in fake.calls("graph.messages.delta")]
    assert statuses == [429, 429, 503, 200]


def test_throttled_batch_parts_alone_are_sent_again(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    add_mail(fake, 3)
    sleeps = Sleeps()
    source = OutlookMailSource(make_api(fake, sleeps=sleeps))
    _, cursor = poll_all(source, "inbox", None)
    add_mail(fake, 10, start=50)
    fake.inject(
        "graph.messages.get",
        status=429,
        code="ApplicationThrottled",
        headers={"Retry-After": "2"},
        times=3,
    )
    fake.clear_log()
    items, _ = poll_all(source, "inbox", cursor)
    assert len(items) == 10 and all(i.get("X-Not-Asked-For") is None for i in items)
    assert len(fake.calls("graph.batch")) == 4  # 4 + 4 + 2 parts, then the 3 throttled
    parts = fake.calls("graph.messages.get", in_batch=True)
    assert len(parts) == 13 and sum(c.status == 429 for c in parts) == 3
    assert sleeps and sleeps[0] >= 2


def test_retry_after_beyond_the_longest_wait_gives_up_until_the_next_poll(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    sleeps = Sleeps()
    source = OutlookMailSource(make_api(fake, sleeps=sleeps, max_wait=30))
    fake.inject(
        "graph.messages.delta", status=429, code="TooManyRequests", headers={"Retry-After": "120"}
    )
    with pytest.raises(SourceUnavailable) as caught:
        poll_all(source, "inbox", None)
    assert caught.value.retry_after == 120 and sleeps == []


# ----------------------------------------------------------------------------- auth


def test_revoked_consent_raises_auth_failed(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    source = OutlookMailSource(make_api(fake))
    poll_all(source, "inbox", None)
    fake.identity.revoke_consent()
    with pytest.raises(AuthFailed, match="AADSTS65001") as caught:
        poll_all(source, "inbox", None)
    assert "syncd accounts auth m365" in str(caught.value)
    assert "invalid_grant" in str(caught.value)


def test_refreshed_tokens_are_saved_and_never_logged(
    fake_microsoft: FakeMicrosoft, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_microsoft
    saved: list[str] = []
    source = OutlookMailSource(make_api(fake, saved=saved))
    fake.identity.expire_access_tokens()  # Graph says 401: refresh once, replay
    with caplog.at_level("DEBUG"):
        poll_all(source, "inbox", None)
    assert [c.status for c in fake.calls("graph.messages.delta")] == [401, 200]
    assert len(saved) == 1 and '"RefreshToken"' in saved[0]
    secrets = list(fake.identity.refresh) + list(fake.identity.access)
    assert not any(s in caplog.text for s in secrets)


def test_client_credentials_read_the_named_mailbox(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    add_mail(fake, 2)
    client, secret = fake.identity.add_confidential_client()
    api = GraphApi(
        GraphSettings(
            account="m365",
            client_id=client,
            authority=f"{fake.url}/{TENANT_ID}",  # msal: not /common for app tokens
            scopes=(),
            graph=fake.graph_endpoint,
            client_secret=secret,
            user=ME,
            ca_file=fake.ca_file,
            retry=RetryPolicy(first_wait=0.001, sleep=Sleeps()),
        )
    )
    _OPEN.append(api)
    items, _ = poll_all(OutlookMailSource(api), "inbox", None)
    assert len(items) == 2
    assert fake.identity.grants == ["client_credentials"]
    assert all(c.path.startswith(f"/v1.0/users/{ME}/") for c in fake.calls("graph.messages"))


def test_configured_folders_are_found_by_display_name(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    parent = fake.graph.add_folder("Clients")
    child = fake.graph.add_folder("Acme", parent)
    fake.graph.add_message(folder=child, sender="a@acme.example", received=NOW)
    source = OutlookMailSource(
        make_api(fake), OutlookMailSettings(folders=("Clients/Acme", "archive"))
    )
    assert [s.name for s in source.streams()] == ["inbox", "sentitems", "Clients/Acme", "archive"]
    items, _ = poll_all(source, "Clients/Acme", None)
    assert len(items) == 1 and items[0].folder == "Clients/Acme"


# ----------------------------------------------------------------------------- drafts


def _spec(key: str, **kw: Any) -> DraftSpec:
    base = {
        "key": key,
        "from_name": "Alex Morgan",
        "from_address": ME,
        "to_name": "Priya Raman",
        "to_address": "priya@acme.example",
        "subject": "Re: Contract",
        "body": "Any news?\n",
        "date": NOW,
    }
    base.update(kw)
    return DraftSpec(**base)  # type: ignore[arg-type]


def test_a_reply_draft_is_made_in_the_conversation_once_even_when_the_answer_is_lost(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    sent = fake.graph.add_message(
        folder="sentitems",
        sender=ME,
        to=["priya@acme.example"],
        subject="Contract",
        received=NOW - timedelta(days=9),
        message_id="<c1@contoso.example>",
    )
    source = OutlookMailSource(make_api(fake))
    assert source.find_draft("no-reply:1:x") is None
    fake.inject("graph.messages.createReply", drop="after")
    made = source.create_draft(_spec("no-reply:1:x", in_reply_to="c1@contoso.example"))
    [draft] = fake.graph.drafts()
    assert made.ref == draft.id
    assert draft.props["conversationId"] == fake.graph.messages[sent].props["conversationId"]
    assert draft.header("In-Reply-To") == "<c1@contoso.example>"
    assert draft.props["toRecipients"][0]["emailAddress"]["address"] == "priya@acme.example"
    assert source.find_draft("no-reply:1:x") == made
    assert source.create_draft(_spec("no-reply:1:x", in_reply_to="c1@contoso.example")) == made
    assert len(fake.graph.drafts()) == 1
    assert source.draft_state("no-reply:1:x", made.fingerprint) == "untouched"
    fake.graph.edit_draft(draft.id)
    assert source.draft_state("no-reply:1:x", made.fingerprint) == "changed"
    assert source.remove_draft("no-reply:1:x", made.fingerprint) is False


def test_a_new_draft_carries_its_key_and_an_untouched_one_is_removed(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    source = OutlookMailSource(make_api(fake))
    made = source.create_draft(_spec("cadence:2:2026-11-25", subject="Hello\r\nBcc: x@y.z"))
    [draft] = fake.graph.drafts()
    assert draft.header("X-Syncd-Key") == "cadence:2:2026-11-25"
    assert draft.props["subject"] == "Hello\r\nBcc: x@y.z"  # a JSON property: no header to break
    assert source.remove_draft("cadence:2:2026-11-25", made.fingerprint) is True
    assert fake.graph.drafts() == []
    assert source.draft_state("cadence:2:2026-11-25", made.fingerprint) == "gone"


def test_drafts_need_the_drafts_permission(fake_microsoft: FakeMicrosoft) -> None:
    source = OutlookMailSource(make_api(fake_microsoft, scopes_for(["mail"])))
    with pytest.raises(AuthFailed, match="ErrorAccessDenied"):
        source.find_draft("k")


# ----------------------------------------------------------------------------- calendar


def test_calendar_delta_owner_response_removals_and_our_holds(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    g = fake.graph
    [meeting] = g.add_event(
        "Review",
        NOW - timedelta(days=2),
        NOW - timedelta(days=2) + timedelta(hours=1),
        attendees=[(ME, "none"), ("bob@acme.example", "none"), ("Room 1", "accepted")],
        organizer="bob@acme.example",
        response="tentativelyAccepted",
    )
    series = g.add_event(
        "Weekly",
        NOW - timedelta(days=21),
        NOW - timedelta(days=21, minutes=-30),
        attendees=[("tom@example.org", "accepted")],
        series=3,
    )
    far = g.add_event("Far", NOW + timedelta(days=300), NOW + timedelta(days=300, hours=-1))
    source = OutlookCalendarSource(make_api(fake), OutlookCalendarSettings(owner_addresses=(ME,)))
    items, cursor = poll_all(source, "calendar", None)
    assert {i.provider_id for i in items} == {meeting, *series} and far[0] not in cursor
    review = next(i for i in items if i.provider_id == meeting)
    me = next(a for a in review.attendees if a.is_self)
    assert me.email == ME and me.response == "tentative" and review.organizer == "bob@acme.example"
    weekly = [i for i in items if i.summary == "Weekly"]
    assert all(w.recurrence_id is not None for w in weekly)
    assert next(a for a in weekly[0].attendees if a.is_self).is_organizer
    hold = source.create_hold(
        HoldSpec(
            key="reconnect:3:2026-11-20",
            summary="Reconnect with Sophie",
            description="",
            start=NOW + timedelta(days=1),
            end=NOW + timedelta(days=1, minutes=30),
            timezone="Europe/Berlin",
        )
    )
    g.delete_event(series[0])
    g.cancel_event(meeting)
    fake.clear_log()
    items, _ = list(source.poll(source.streams()[0], cursor, now=NOW))[-1].items, None
    batches = list(source.poll(source.streams()[0], cursor, now=NOW))
    assert len(fake.calls("graph.calendarView.delta")) == 2
    [batch] = batches
    assert batch.removed == [series[0]]
    assert [i.status for i in batch.items] == ["cancelled"]
    assert hold.ref not in {i.provider_id for i in batch.items}


def test_the_window_moves_after_a_month(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    fake.graph.add_event("Soon", NOW + timedelta(days=100), NOW + timedelta(days=100, hours=-1))
    source = OutlookCalendarSource(make_api(fake))
    items, cursor = poll_all(source, "calendar", None)
    assert [i.summary for i in items] == ["Soon"]
    fake.graph.add_event("Later", NOW + timedelta(days=140), NOW + timedelta(days=140, hours=-1))
    later = NOW + timedelta(days=31)
    fake.clear_log()
    stream = source.streams()[0]
    batches = list(source.poll(stream, cursor, now=later))
    assert [b.done for b in batches] == [False, True]
    assert "Later" in {i.summary for i in batches[-1].items}
    assert [
        c.query.get("startDateTime") is not None for c in fake.calls("graph.calendarView.delta")
    ] == [False, True]


def test_a_hold_is_made_once_and_busy_time_comes_from_get_schedule(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    fake.graph.add_event("Busy", NOW + timedelta(hours=2), NOW + timedelta(hours=3))
    fake.graph.add_event("Free", NOW + timedelta(hours=4), NOW + timedelta(hours=5), show_as="free")
    source = OutlookCalendarSource(make_api(fake))
    spec = HoldSpec(
        key="reconnect:3:2026-11-20",
        summary="Reconnect",
        description="Say hello",
        start=NOW + timedelta(hours=6),
        end=NOW + timedelta(hours=6, minutes=30),
        timezone="Europe/Berlin",
    )
    fake.inject("graph.events.create", drop="after")  # made, but the answer is lost
    made = source.create_hold(spec)
    [hold] = fake.graph.holds()
    assert made.ref == hold.id and hold.props["showAs"] == "tentative"
    # The lookup before the retry found the event the lost attempt made: no second POST.
    assert len(fake.calls("graph.events.create")) == 1
    assert source.find_hold(spec.key) == made and source.create_hold(spec) == made
    assert source.hold_state(spec.key, made.fingerprint) == "untouched"
    busy = source.busy(NOW, NOW + timedelta(days=1))
    assert busy == [
        (NOW + timedelta(hours=2), NOW + timedelta(hours=3)),
        (NOW + timedelta(hours=6), NOW + timedelta(hours=6, minutes=30)),
    ]
    assert len(fake.calls("graph.getSchedule")) == 1
    fake.graph.move_event(hold.id, hold.start + timedelta(hours=1), hold.end + timedelta(hours=1))
    assert source.hold_state(spec.key, made.fingerprint) == "changed"
    assert source.remove_hold(spec.key, made.fingerprint) is False


def test_personal_accounts_read_busy_time_from_the_calendar_view() -> None:
    fake = FakeMicrosoft(personal=True, tenant="consumers").start()
    try:
        fake.graph.add_event("Busy", NOW + timedelta(hours=2), NOW + timedelta(hours=3))
        source = OutlookCalendarSource(make_api(fake))
        assert source.busy(NOW, NOW + timedelta(days=1)) == [
            (NOW + timedelta(hours=2), NOW + timedelta(hours=3))
        ]
        assert fake.calls("graph.getSchedule") == [] and len(fake.calls("graph.calendarView")) == 1
    finally:
        fake.stop()


# ----------------------------------------------------------------------------- the fake itself


def test_the_fake_speaks_graph_batch_rules(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    api = make_api(fake)
    doc = api.call(
        "POST",
        "/$batch",
        "batch",
        body={
            "requests": [
                {"id": "1", "method": "GET", "url": "/me/messages/nope"},
                {"id": "2", "method": "GET", "url": "/me/mailFolders", "dependsOn": ["1"]},
                {"id": "3", "method": "GET", "url": "/me/mailFolders"},
            ]
        },
    )
    assert [r["status"] for r in doc["responses"]] == [404, 424, 200]
    assert doc["responses"][0]["body"]["error"]["code"] == "ErrorItemNotFound"
    too_many = [{"id": str(i), "method": "GET", "url": "/me/mailFolders"} for i in range(21)]
    with pytest.raises(Exception, match="exceeds the limit of 20"):
        api.call("POST", "/$batch", "batch", body={"requests": too_many})
    with pytest.raises(Exception, match="StartDateTime and EndDateTime"):
        api.call("GET", "/me/calendarView/delta", "delta")
    openid = api.identity.get(f"{fake.authority}/v2.0/.well-known/openid-configuration").json()
    assert all(
        openid[k].startswith("https://127.0.0.1:")
        for k in ("token_endpoint", "device_authorization_endpoint")
    )
