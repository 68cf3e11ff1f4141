"""The Gmail connector against the fake Google, through the unmodified client libraries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connectors.base import AuthFailed, CursorExpired, DraftSpec, SourceUnavailable
from connectors.gmail import METADATA_HEADERS, GmailSettings, GmailSource, gmail_thread_id
from connectors.google_auth import scopes_for
from connectors.google_http import GoogleApi, GoogleSettings
from connectors.http_retry import RetryPolicy
from syncd.config import load_config
from syncd.store.db import Store
from syncd.store.models import Account, Interaction, InteractionSource
from syncd.sync.passes import Syncer, sync_all
from tests.fake_google import FakeGoogle
from tests.util import write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ALL = scopes_for(["mail", "drafts", "calendar", "holds"])


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


_OPEN: list[Any] = []  # things with close(), closed after each test


@pytest.fixture(autouse=True)
def _close_apis() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def make_api(
    fake: FakeGoogle, scopes: list[str] = ALL, quota: int = 10**9, **retry: object
) -> GoogleApi:
    """A GoogleApi on the fake, closed after the test (no pacing unless `quota` says)."""
    policy = RetryPolicy(**{"first_wait": 0.001, "sleep": Sleeps(), **retry})  # type: ignore[arg-type]
    api = GoogleApi(
        GoogleSettings(
            quota_per_minute=quota,
            account="work",
            credentials=fake.authorized_user(scopes),
            gmail_endpoint=fake.gmail_endpoint,
            calendar_endpoint=fake.calendar_endpoint,
            token_uri=fake.token_uri,
            retry=policy,
        )
    )
    _OPEN.append(api)
    return api


@pytest.fixture
def gmail(fake_google: FakeGoogle) -> GmailSource:
    return GmailSource(make_api(fake_google))


def add_mail(fake: FakeGoogle, n: int, *, start: int = 0, **kw: object) -> list[str]:
    return [
        fake.gmail.add_message(
            {
                "From": f"Person {i} <p{i}@acme.example>",
                "To": "alex@example.com",
                "Subject": f"Hello {i}",
                "Message-ID": f"<m{i}@acme.example>",
                "X-Not-Asked-For": "x",
            },
            internal_ms=ms(NOW - timedelta(hours=i + 1)),
            **kw,  # type: ignore[arg-type]
        )
        for i in range(start, start + n)
    ]


def poll_all(source: GmailSource, cursor: str | None, **kw: object) -> tuple[list[object], str]:
    stream = source.streams()[0]
    batches = list(source.poll(stream, cursor, now=NOW, **kw))  # type: ignore[arg-type]
    assert batches[-1].done
    return [i for b in batches for i in b.items], str(batches[-1].cursor)


def test_backfill_reads_the_window_in_batches_of_metadata(
    fake_google: FakeGoogle, gmail: GmailSource
) -> None:
    add_mail(fake_google, 120)
    old = fake_google.gmail.add_message(
        {"From": "old@acme.example", "Subject": "old"}, internal_ms=ms(NOW - timedelta(days=400))
    )
    spam = add_mail(fake_google, 1, start=500, labels=("SPAM",))
    sent = fake_google.gmail.add_message(
        {"From": "alex@example.com", "To": "p1@acme.example", "Subject": "Re: Hello 1"},
        labels=("SENT",),
        internal_ms=ms(NOW - timedelta(minutes=5)),
        thread_id="18c0000000000000",
    )
    fake_google.gmail.add_message(
        {"From": "alex@example.com", "Subject": "unsent"},
        labels=("DRAFT",),
        internal_ms=ms(NOW),
    )
    items, cursor = poll_all(gmail, None)
    ids = {i.provider_id for i in items}  # type: ignore[attr-defined]
    assert len(items) == 121 and old not in ids and spam[0] not in ids
    msg = next(i for i in items if i.provider_id == sent)  # type: ignore[attr-defined]
    assert msg.folder_role == "sent" and msg.thread_id == "18c0000000000000"  # type: ignore[attr-defined]
    assert msg.labels == frozenset({"SENT"}) and msg.internal_date is not None  # type: ignore[attr-defined]
    first = items[-1]
    assert "X-Not-Asked-For" not in dict(first.headers)  # type: ignore[attr-defined]
    assert json.loads(cursor) == {"v": 1, "history": str(fake_google.gmail.history_id)}
    # One token, one profile, one list page, ceil(123 / 25) batch requests; no search.
    top = fake_google.calls(in_batch=False)
    assert [c.method_id for c in top] == ["oauth.token", "gmail.users.getProfile"] + [
        "gmail.users.messages.list"
    ] + ["batch"] * 5
    gets = fake_google.calls("gmail.users.messages.get", in_batch=True)
    assert len(gets) == 123
    assert set(gets[0].query["metadataHeaders"]) == set(METADATA_HEADERS)
    assert gets[0].query["format"] == ["metadata"]
    assert all("q" not in c.query for c in fake_google.log)


def test_backfill_resumes_from_the_page_after_a_crash(fake_google: FakeGoogle) -> None:
    add_mail(fake_google, 25)
    source = GmailSource(make_api(fake_google), GmailSettings(page_size=10, batch_size=4))
    stream = source.streams()[0]
    run = source.poll(stream, None, now=NOW)
    first = next(run)
    assert not first.done and json.loads(str(first.cursor))["page"]
    run.close()  # the process dies here, with the first page stored
    rest, cursor = poll_all(
        GmailSource(make_api(fake_google), GmailSettings(page_size=10)), first.cursor
    )
    ids = [i.provider_id for i in [*first.items, *rest]]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids)) == 25
    assert "page" not in json.loads(cursor)


def test_incremental_poll_costs_one_request_and_reads_new_and_sent_mail(
    fake_google: FakeGoogle, gmail: GmailSource
) -> None:
    add_mail(fake_google, 5)
    _, cursor = poll_all(gmail, None)
    fake_google.clear_log()
    items, again = poll_all(gmail, cursor)
    assert items == [] and again == cursor
    assert [c.method_id for c in fake_google.log] == ["gmail.users.history.list"]

    new = add_mail(fake_google, 2, start=10)
    draft = fake_google.gmail.add_message(
        {"From": "alex@example.com", "To": "p1@acme.example", "Subject": "Re: Hello 1"},
        labels=("DRAFT",),
        internal_ms=ms(NOW),
    )
    fake_google.gmail.add_labels(new[0], "STARRED")  # a label change that does not matter
    items, after_new = poll_all(gmail, cursor)
    assert {i.provider_id for i in items} == set(new)  # type: ignore[attr-defined]

    fake_google.gmail.remove_labels(draft, "DRAFT")
    fake_google.gmail.add_labels(draft, "SENT")  # the user sent it from Gmail
    items, _ = poll_all(gmail, after_new)
    assert [(i.provider_id, i.folder_role) for i in items] == [(draft, "sent")]  # type: ignore[attr-defined]


def test_history_pages_are_followed(fake_google: FakeGoogle) -> None:
    source = GmailSource(make_api(fake_google), GmailSettings(items=3))
    _, cursor = poll_all(source, None)
    add_mail(fake_google, 7)
    stream = source.streams()[0]
    batches = list(source.poll(stream, cursor, now=NOW))
    assert [len(b.items) for b in batches] == [3, 3, 1]
    assert [b.cursor == cursor for b in batches] == [True, True, False]


def test_expired_history_id_raises_cursor_expired(
    fake_google: FakeGoogle, gmail: GmailSource
) -> None:
    add_mail(fake_google, 3)
    _, cursor = poll_all(gmail, None)
    fake_google.gmail.expire_history()
    with pytest.raises(CursorExpired, match="no longer knows history id"):
        poll_all(gmail, cursor)


def _syncer(tmp_path: Path, fake: FakeGoogle, creds: str, extra: str = "") -> tuple[Syncer, Store]:
    state = tmp_path / "state"
    (state / "credentials").mkdir(parents=True)
    token = state / "credentials" / "work.json"
    token.write_text(creds)
    token.chmod(0o600)
    (tmp_path / "mail" / "cur").mkdir(parents=True)
    for sub in ("new", "tmp"):
        (tmp_path / "mail" / sub).mkdir()
    path = write_config(
        tmp_path / "c.toml",
        f'[store]\nstate_dir = "{state}"\n'
        "[sync]\nretry_first_wait = 0.001\n"
        f'[[accounts]]\nname = "work"\nkind = "gmail"\n'
        f'[accounts.endpoints]\ngmail = "{fake.gmail_endpoint}"\ncalendar = "{fake.calendar_endpoint}"\n'
        f'token_uri = "{fake.token_uri}"\n'
        f'[[accounts]]\nname = "local"\nkind = "maildir"\npath = "{tmp_path / "mail"}"\n' + extra,
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


def test_expired_history_id_resyncs_the_window_without_duplicates(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    add_mail(fake_google, 30)
    fake_google.gmail.add_message(
        {"From": "alex@example.com", "To": "p1@acme.example", "Subject": "Re: Hello 1"},
        labels=("SENT",),
        internal_ms=ms(NOW - timedelta(minutes=1)),
    )
    syncer, store = _syncer(tmp_path, fake_google, fake_google.authorized_user(ALL))
    sync_all(syncer, now_fn=lambda: NOW)
    before = (_count(store, Interaction), _count(store, InteractionSource))
    assert before[1] == 31
    fake_google.gmail.expire_history()
    add_mail(fake_google, 2, start=100)
    report = sync_all(syncer, now_fn=lambda: NOW)
    mail = next(r for r in report.streams if r.stream == "mail:all")
    assert mail.resynced and mail.error is None and mail.read == 33
    assert _count(store, InteractionSource) == 33
    assert _count(store, Interaction) == before[0] + 2


def test_revoked_refresh_token_marks_the_account_needs_reauth_and_others_go_on(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    creds = fake_google.authorized_user(ALL)
    syncer, store = _syncer(tmp_path, fake_google, creds)
    fake_google.oauth.revoke(fake_google.refresh_token_of(creds))
    report = sync_all(syncer, now_fn=lambda: NOW)
    failed = next(r for r in report.streams if r.account == "work")
    assert failed.error is not None
    assert "Google refused the stored authorisation (invalid_grant" in failed.error
    assert "run `syncd accounts auth work`" in failed.error
    assert all(r.error is None for r in report.streams if r.account == "local")
    with store.session() as s:
        states = dict(s.execute(select(Account.name, Account.state)).all())
    assert states == {"work": "needs_reauth", "local": "ok"}
    assert creds.split('"refresh_token": "')[1].split('"')[0] not in failed.error


def test_missing_authorisation_is_needs_reauth_too(tmp_path: Path, fake_google: FakeGoogle) -> None:
    syncer, store = _syncer(tmp_path, fake_google, "{}")
    (tmp_path / "state" / "credentials" / "work.json").unlink()
    report = sync_all(syncer, now_fn=lambda: NOW)
    assert "not authorised yet" in str(next(r for r in report.streams if r.account == "work").error)
    with store.session() as s:
        assert s.scalar(select(Account.state).where(Account.name == "work")) == "needs_reauth"


def test_an_expired_access_token_is_refreshed_and_the_call_replayed(
    fake_google: FakeGoogle, gmail: GmailSource
) -> None:
    _, cursor = poll_all(gmail, None)
    fake_google.oauth.expire_access_tokens()
    add_mail(fake_google, 1)
    items, _ = poll_all(gmail, cursor)
    assert len(items) == 1
    statuses = [
        (c.method_id, c.status) for c in fake_google.log if c.method_id.endswith("history.list")
    ]
    assert statuses == [("gmail.users.history.list", 401), ("gmail.users.history.list", 200)]
    assert fake_google.oauth.refreshes == 2


# --------------------------------------------------------------------------- retries


def test_429_with_retry_after_is_honoured_and_5xx_retried(fake_google: FakeGoogle) -> None:
    sleeps = Sleeps()
    source = GmailSource(make_api(fake_google, sleep=sleeps))
    add_mail(fake_google, 3)
    fake_google.inject(
        "gmail.users.getProfile",
        status=429,
        reason="rateLimitExceeded",
        headers={"Retry-After": "7"},
    )
    fake_google.inject("gmail.users.messages.list", status=503)
    fake_google.inject("gmail.users.messages.list", drop="before")
    items, _ = poll_all(source, None)
    assert len(items) == 3
    assert sleeps[0] >= 7 and len(sleeps) == 3


def test_a_failing_batch_part_is_retried_alone(fake_google: FakeGoogle, gmail: GmailSource) -> None:
    ids = add_mail(fake_google, 10)
    fake_google.inject(
        f"/gmail/v1/users/me/messages/{ids[3]}", status=429, reason="userRateLimitExceeded"
    )
    fake_google.inject(f"/gmail/v1/users/me/messages/{ids[5]}", status=500)
    items, _ = poll_all(gmail, None)
    assert len(items) == 10
    assert len(fake_google.calls("batch")) == 2
    assert len(fake_google.calls("gmail.users.messages.get")) == 12  # the two failed, again


def test_a_lost_batch_answer_is_asked_again(fake_google: FakeGoogle, gmail: GmailSource) -> None:
    add_mail(fake_google, 10)
    fake_google.inject("batch", drop="after")
    items, _ = poll_all(gmail, None)
    assert len(items) == 10
    assert [c.status for c in fake_google.calls("batch")] == [0, 200]


def test_retries_are_bounded_and_a_long_retry_after_ends_them(fake_google: FakeGoogle) -> None:
    source = GmailSource(make_api(fake_google, attempts=3))
    fake_google.inject("gmail.users.getProfile", status=500, times=5)
    with pytest.raises(SourceUnavailable, match="still failing after retries"):
        poll_all(source, None)
    assert len(fake_google.calls("gmail.users.getProfile")) == 3
    fake_google.faults.clear()
    fake_google.inject("gmail.users.getProfile", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(SourceUnavailable) as exc:
        poll_all(source, None)
    assert exc.value.retry_after == 3600


# --------------------------------------------------------------------------- drafts


def _spec(key: str = "no-reply:7:m1", **kw: object) -> DraftSpec:
    base = DraftSpec(
        key=key,
        from_name="Alex Morgan",
        from_address="alex@example.com",
        to_name="Priya Raman",
        to_address="priya@acme.example",
        subject="Re: Contract",
        body="Any news?\n",
        date=NOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _thread(fake: FakeGoogle) -> tuple[str, str]:
    mid = fake.gmail.add_message(
        {
            "From": "alex@example.com",
            "To": "priya@acme.example",
            "Subject": "Contract",
            "Message-ID": "<c1@example.com>",
        },
        labels=("SENT",),
        internal_ms=ms(NOW - timedelta(days=9)),
    )
    return mid, fake.gmail.messages[mid].thread_id


def test_a_no_reply_draft_lands_in_the_thread_and_is_found_after_a_crash(
    fake_google: FakeGoogle, gmail: GmailSource
) -> None:
    _mid, thread = _thread(fake_google)
    spec = _spec(in_reply_to="c1@example.com", references=("c1@example.com",), thread_id=thread)
    made = gmail.create_draft(spec)
    [draft] = fake_google.gmail.draft_messages()
    assert draft.thread_id == thread and draft.header("X-Syncd-Key") == spec.key
    assert draft.header("In-Reply-To") == "<c1@example.com>"
    # A new process (the old one died before recording it) finds it by its key.
    again = GmailSource(make_api(fake_google))
    assert again.find_draft(spec.key) == made
    assert again.create_draft(spec) == made
    assert len(fake_google.gmail.drafts) == 1
    assert again.find_draft("other:1:x") is None


def test_a_draft_whose_answer_was_lost_is_not_made_twice(
    fake_google: FakeGoogle, gmail: GmailSource
) -> None:
    fake_google.inject("gmail.users.drafts.create", drop="after")
    made = gmail.create_draft(_spec())
    assert len(fake_google.gmail.drafts) == 1
    assert made.ref in fake_google.gmail.drafts
    assert len(fake_google.calls("gmail.users.drafts.create")) == 1


def test_draft_state_untouched_changed_gone_and_removal(
    fake_google: FakeGoogle, gmail: GmailSource
) -> None:
    a = gmail.create_draft(_spec("k:1:a"))
    b = gmail.create_draft(_spec("k:1:b"))
    c = gmail.create_draft(_spec("k:1:c"))
    fake_google.gmail.edit_draft(b.ref, "My own words.\r\n")
    fake_google.gmail.send_draft(c.ref)
    gmail.streams()  # a new pass lists the drafts again
    assert gmail.draft_state("k:1:a", a.fingerprint) == "untouched"
    assert gmail.draft_state("k:1:b", b.fingerprint) == "changed"
    assert gmail.draft_state("k:1:c", c.fingerprint) == "gone"
    assert not gmail.remove_draft("k:1:b", b.fingerprint)
    assert gmail.remove_draft("k:1:a", a.fingerprint)
    assert set(fake_google.gmail.drafts) == {b.ref}


def test_drafts_need_the_compose_scope(fake_google: FakeGoogle) -> None:
    source = GmailSource(make_api(fake_google, scopes=scopes_for(["mail"])))
    fake_google.clear_log()
    with pytest.raises(AuthFailed, match=r"does not cover drafts \(gmail.compose\)"):
        source.create_draft(_spec())
    assert fake_google.log == []


def test_thread_ids_from_imap_are_converted() -> None:
    assert gmail_thread_id("1780123456789012345") == f"{1780123456789012345:x}"
    assert gmail_thread_id("18c0000000000abc") == "18c0000000000abc"
    assert gmail_thread_id("<not a thread>") is None
    assert gmail_thread_id(None) is None
