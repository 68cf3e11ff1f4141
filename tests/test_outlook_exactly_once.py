"""Outlook drafts and holds exactly once against the strict fake (issue 12), and the
robustness rules: createReply keeps no extended property, so the key is PATCHed on; a
keyless reply draft a crash left is adopted; an answer lost after Graph made the object
(a dropped connection or a 429) is never retried into a second object; whatever a
repeated transactionId gets (the first event, an error, a second event) one hold is made;
a 403 on header fields degrades only them; a delta refusing $orderby is read without it;
JSON batches keep to the mailbox's 4 concurrent requests."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from connectors.base import HoldSpec, SourceUnavailable
from connectors.graph_drafts import KEY_PROPERTY
from connectors.outlook_calendar import OutlookCalendarSource
from connectors.outlook_http import BatchRequest
from connectors.outlook_mail import OutlookMailSource
from tests.fake_microsoft import FakeMicrosoft
from tests.test_outlook import ME, NOW, _close, _spec, add_mail, make_api, poll_all

__all__ = ["_close"]  # the autouse fixture that closes the Graph clients

KEY = "no-reply:1:x"


def _sent(fake: FakeMicrosoft) -> str:
    return fake.graph.add_message(
        folder="sentitems",
        sender=ME,
        to=["priya@acme.example"],
        subject="Contract",
        received=NOW - timedelta(days=9),
        message_id="<c1@contoso.example>",
    )


def _reply(key: str = KEY) -> object:
    return _spec(key, in_reply_to="c1@contoso.example")


def test_create_reply_ignores_extended_properties_so_the_key_is_patched_on(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    _sent(fake)
    source = OutlookMailSource(make_api(fake))
    made = source.create_draft(_spec(KEY, in_reply_to="c1@contoso.example"))
    [draft] = fake.graph.drafts()
    assert draft.ext == {KEY_PROPERTY: KEY} and made.ref == draft.id
    [reply] = fake.calls("graph.messages.createReply")
    [patch] = fake.calls("graph.messages.update")
    assert fake.log.index(reply) < fake.log.index(patch)
    # Run twice: the key is found, nothing is made.
    fake.clear_log()
    assert source.create_draft(_spec(KEY, in_reply_to="c1@contoso.example")) == made
    assert fake.calls("graph.messages.createReply") == [] and len(fake.graph.drafts()) == 1


@pytest.mark.parametrize(
    ("route", "how"),
    [
        ("graph.messages.createReply", "drop"),
        ("graph.messages.createReply", "429"),
        ("graph.messages.update", "drop"),
        ("graph.messages.update", "429"),
    ],
)
def test_an_answer_lost_after_the_draft_was_made_makes_no_second_draft(
    fake_microsoft: FakeMicrosoft, route: str, how: str
) -> None:
    fake = fake_microsoft
    _sent(fake)
    source = OutlookMailSource(make_api(fake))
    if how == "drop":
        fake.inject(route, drop="after")
    else:
        fake.inject(
            route, status=429, code="TooManyRequests", headers={"Retry-After": "0"}, drop="lost"
        )
    made = source.create_draft(_spec(KEY, in_reply_to="c1@contoso.example"))
    [draft] = fake.graph.drafts()
    assert draft.ext == {KEY_PROPERTY: KEY} and made.ref == draft.id
    assert len(fake.calls("graph.messages.createReply")) == 1
    assert fake.calls(route)[0].status in (0, 429)


def test_a_keyless_reply_draft_left_by_a_crash_is_adopted_and_a_users_own_is_not(
    fake_microsoft: FakeMicrosoft, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_microsoft
    sent = _sent(fake)
    source = OutlookMailSource(make_api(fake, attempts=2))
    # The user's own reply in the same conversation, started in Outlook: other text.
    api = source.api
    own = api.once(
        "POST",
        f"/me/messages/{sent}/createReply",
        body={"comment": "Let me check with legal first."},
    )
    # syncd made its reply, then every PATCH failed (the process died there).
    fake.inject("graph.messages.update", drop="before", times=2)
    with pytest.raises(SourceUnavailable):
        source.create_draft(_spec(KEY, in_reply_to="c1@contoso.example"))
    assert len(fake.graph.drafts()) == 2
    assert all(d.ext == {} for d in fake.graph.drafts())
    with caplog.at_level(logging.INFO, logger="connectors.graph_drafts"):
        made = source.create_draft(_spec(KEY, in_reply_to="c1@contoso.example"))
    assert len(fake.graph.drafts()) == 2  # adopted, not made again
    assert len(fake.calls("graph.messages.createReply")) == 2  # the user's and syncd's
    assert made.ref != own["id"] and fake.graph.messages[own["id"]].ext == {}
    assert fake.graph.messages[made.ref].ext == {KEY_PROPERTY: KEY}
    assert [r for r in caplog.records if r.getMessage() == "outlook.draft.adopted"]


def _hold(key: str = "reconnect:3:2026-11-20") -> HoldSpec:
    return HoldSpec(
        key=key,
        summary="Reconnect",
        description="Say hello",
        start=NOW + timedelta(hours=6),
        end=NOW + timedelta(hours=6, minutes=30),
        timezone="Europe/Berlin",
    )


@pytest.mark.parametrize("replay", ["first", "error", "second"])
@pytest.mark.parametrize("how", ["drop", "429"])
def test_a_hold_is_made_once_whatever_a_repeated_transaction_id_gets(
    fake_microsoft: FakeMicrosoft, replay: str, how: str
) -> None:
    fake = fake_microsoft
    fake.graph.transaction_replay = replay
    source = OutlookCalendarSource(make_api(fake))
    if how == "drop":
        fake.inject("graph.events.create", drop="after")
    else:
        fake.inject(
            "graph.events.create",
            status=429,
            code="TooManyRequests",
            headers={"Retry-After": "0"},
            drop="lost",
        )
    made = source.create_hold(_hold())
    [hold] = fake.graph.holds()
    assert made.ref == hold.id
    assert len(fake.calls("graph.events.create")) == 1  # the lookup found the lost one
    assert source.create_hold(_hold()) == made and len(fake.graph.holds()) == 1


def test_the_fake_answers_a_repeated_transaction_id_as_set(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    api = make_api(fake)
    body = {
        "subject": "x",
        "start": {"dateTime": "2026-12-01T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-01T11:00:00", "timeZone": "UTC"},
        "transactionId": "t-1",
    }
    first = api.once("POST", "/me/events", body=body)
    assert api.once("POST", "/me/events", body=body)["id"] == first["id"]
    fake.graph.transaction_replay = "second"
    assert api.once("POST", "/me/events", body=body)["id"] != first["id"]
    fake.graph.transaction_replay = "error"
    with pytest.raises(Exception, match="ErrorDuplicateTransactionId"):
        api.once("POST", "/me/events", body=body)


def test_a_403_on_header_fields_degrades_them_and_the_account_goes_on(
    fake_microsoft: FakeMicrosoft, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_microsoft
    fake.graph.deny_headers = True
    add_mail(fake, 60)
    source = OutlookMailSource(make_api(fake))
    with caplog.at_level(logging.WARNING, logger="connectors.outlook_mail"):
        items, cursor = poll_all(source, "inbox", None)  # the listing by range is refused
        add_mail(fake, 5, start=200)
        more, _ = poll_all(source, "inbox", cursor)  # no header batches asked any more
    assert len(items) == 60 and len(more) == 5
    assert all(i.get("List-Id") is None for i in items)
    denied = [r for r in caplog.records if r.getMessage() == "outlook.headers.denied"]
    assert len(denied) == 1 and denied[0].account == "m365"  # type: ignore[attr-defined]


def test_a_403_on_headers_in_a_full_read_reads_the_row_without_them(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    old = add_mail(fake, 3)
    source = OutlookMailSource(make_api(fake))
    _, cursor = poll_all(source, "inbox", None)
    fake.graph.deny_headers = True
    # A server that ignores changeType sends bare updates: they are read in full, and
    # when the header fields are refused, read again without them (not dropped).
    for token in fake.graph.tokens.values():
        token.params.pop("changeType", None)
    fake.graph.mark_read(old[0])
    items, _ = poll_all(source, "inbox", cursor)
    assert [i.provider_id for i in items] == [old[0]]
    assert items[0].get("From") is not None


def test_a_delta_refusing_orderby_is_read_without_it(fake_microsoft: FakeMicrosoft) -> None:
    fake = fake_microsoft
    fake.graph.refuse_delta_orderby = True
    add_mail(fake, 12)
    source = OutlookMailSource(make_api(fake))
    items, cursor = poll_all(source, "inbox", None)
    assert len(items) == 12 and "deltatoken" in cursor
    first, second = fake.calls("graph.messages.delta")[:2]
    assert first.status == 400 and "$orderby" in first.query
    assert second.status == 200 and "$orderby" not in second.query


def test_batch_parts_past_the_mailbox_concurrency_limit_are_throttled(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    mids = add_mail(fake, 6)
    api = make_api(fake)
    parts = [
        {"id": str(i), "method": "GET", "url": f"/me/messages/{m}?$select=subject"}
        for i, m in enumerate(mids)
    ]
    doc = api.once("POST", "/$batch", body={"requests": parts})
    statuses = sorted(r["status"] for r in doc["responses"])
    assert statuses == [200, 200, 200, 200, 429, 429]
    throttled = next(r for r in doc["responses"] if r["status"] == 429)
    assert throttled["body"]["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in throttled["body"]["error"]["message"]
    # dependsOn chains run one after another: six in a chain are all answered.
    chained = [dict(p, dependsOn=[str(i - 1)]) if i else p for i, p in enumerate(parts)]
    doc = api.once("POST", "/$batch", body={"requests": chained})
    assert {r["status"] for r in doc["responses"]} == {200}
    # The connector's batches never pass the limit.
    fake.clear_log()
    answers = api.batch(
        [BatchRequest(m, "GET", f"/me/messages/{m}?$select=subject") for m in mids], "test"
    )
    assert {a.status for a in answers.values()} == {200}
    assert [c for c in fake.log if c.in_batch and c.status == 429] == []
    assert len(fake.calls("graph.batch")) == 2


def test_a_reply_whose_original_went_away_becomes_a_new_draft(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    _sent(fake)
    source = OutlookMailSource(make_api(fake))
    fake.inject("graph.messages.createReply", status=404, code="ErrorItemNotFound")
    made = source.create_draft(_spec(KEY, in_reply_to="c1@contoso.example"))
    [draft] = fake.graph.drafts()
    assert made.ref == draft.id and draft.ext == {KEY_PROPERTY: KEY}
    assert draft.header("X-Syncd-Key") == KEY and draft.header("In-Reply-To") is None


def test_a_403_on_get_schedule_falls_back_to_the_calendar_view(
    fake_microsoft: FakeMicrosoft,
) -> None:
    fake = fake_microsoft
    fake.graph.add_event("Busy", NOW + timedelta(hours=2), NOW + timedelta(hours=3))
    source = OutlookCalendarSource(make_api(fake))
    fake.inject("graph.getSchedule", status=403, code="ErrorAccessDenied")
    busy = source.busy(NOW, NOW + timedelta(days=1))
    assert busy == [(NOW + timedelta(hours=2), NOW + timedelta(hours=3))]
    assert [c.status for c in fake.calls("graph.getSchedule")] == [403]
    assert len(fake.calls("graph.calendarView")) == 1
