"""The contracts every connector kind is held to, as vdirsyncer's `StorageTests`.

`SourceContract` (mail and calendar sources), `DraftSinkContract` and `HoldSinkContract`
are base classes of tests; each connector kind subclasses them in `tests/test_contract_*.py`
(and `tests/test_sinks.py` for the local file sinks) and says how to make the connector
against a real server or a fake, and how a user or a provider changes things behind its
back. A case that cannot apply to a kind is skipped by the class with its reason spelled
out; a case a connector fails is marked xfail(strict=True) in its subclass with the reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from connectors.base import (
    Batch,
    Created,
    CursorExpired,
    DraftSink,
    DraftSpec,
    HoldSink,
    HoldSpec,
    RawEvent,
    RawMessage,
    Reconcilable,
    Source,
    SourceUnavailable,
    StreamInfo,
)

T = TypeVar("T")
GARBLED = ["garbled{", '{"v": 9999}']


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=UTC)


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def draft_spec(key: str = "draft:no_reply:42:2024-03-20", **changes: object) -> DraftSpec:
    fields: dict[str, object] = {
        "key": key,
        "from_name": "Alex Morgan",
        "from_address": "alex@example.com",
        "to_name": "Bob Roe",
        "to_address": "bob@example.org",
        "subject": "Following up",
        "body": "Hi Bob,\n\nany news on the proposal? Grüße\n",
        "date": utc(3, 20, 9),
    }
    fields.update(changes)
    return DraftSpec(**fields)  # type: ignore[arg-type]


def hold_spec(key: str = "hold:thanks:42", **changes: object) -> HoldSpec:
    fields: dict[str, object] = {
        "key": key,
        "summary": "Call Bob",
        "description": "Prepared by syncd",
        "start": utc(3, 21, 9),
        "end": utc(3, 21, 10),
        "timezone": "Europe/Berlin",
    }
    fields.update(changes)
    return HoldSpec(**fields)  # type: ignore[arg-type]


def once_more_if_unavailable(create: Callable[[], T]) -> T:
    """What the outbox does: an attempt that ended without an answer is made again."""
    try:
        return create()
    except SourceUnavailable:
        return create()


# =========================================================================== sources


class SourceContract:
    """What every mail or calendar source must do. Subclasses provide the source, the
    provider's hands (`add`: an item arrives) and, where the provider can refuse a cursor
    it once gave, `refuse` (the provider forgets it)."""

    now: datetime = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    stream_name: str | None = None  # None: the first stream the source lists
    # Why this source cannot be made to refuse a cursor it gave, or None.
    no_refusal: str | None = None
    # Why this source may yield again, on the next poll, items it yielded just before
    # (read at least once, the store upserting), or None when it yields each item once.
    rereads_recent: str | None = None

    @pytest.fixture
    def source(self) -> Source:
        raise NotImplementedError

    def add(self, source: Source, label: str) -> None:
        """An item labelled `label` (a subject, a summary) arrives at the provider, dated
        shortly before `now`."""
        raise NotImplementedError

    def refuse(self, source: Source, cursor: str) -> str:
        """Make the provider refuse `cursor` (a new UIDVALIDITY, evicted sync tokens) and
        return the cursor to present: `cursor` itself, or one naming a token the server
        never gave where it cannot be made to forget one."""
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers

    def stream(self, source: Source) -> StreamInfo:
        streams = source.streams()
        found = [s for s in streams if self.stream_name in (None, s.name)]
        assert found, f"no stream {self.stream_name!r} in {streams}"
        return found[0]

    def poll(self, source: Source, cursor: str | None) -> tuple[list[str], list[str], str]:
        """The labels of what one poll yields, the ids it reports removed, its cursor."""
        batches: list[Batch] = list(source.poll(self.stream(source), cursor, now=self.now))
        assert batches, "a poll yields at least one batch"
        assert batches[-1].done and not any(b.done for b in batches[:-1])
        final = batches[-1].cursor
        assert isinstance(final, str) and final, "the last batch carries a cursor"
        labels = [label_of(item) for b in batches for item in b.items]
        return labels, [r for b in batches for r in b.removed], final

    def ids(self, source: Source, cursor: str | None) -> set[str]:
        batches = source.poll(self.stream(source), cursor, now=self.now)
        return {item.provider_id for b in batches for item in b.items}

    # ------------------------------------------------------------------ the contract

    def test_is_a_source(self, source: Source) -> None:
        assert isinstance(source, Source)
        self.add(source, "first")
        assert self.stream_name in (None, self.stream(source).name)

    def test_first_poll_yields_what_exists_and_a_cursor(self, source: Source) -> None:
        self.add(source, "first")
        self.add(source, "second")
        labels, removed, _cursor = self.poll(source, None)
        assert sorted(labels) == ["first", "second"]
        assert removed == []

    def test_a_poll_from_the_cursor_yields_nothing_new(self, source: Source) -> None:
        self.add(source, "first")
        _labels, _removed, cursor = self.poll(source, None)
        labels, removed, again = self.poll(source, cursor)
        assert labels == [] and removed == []
        assert self.poll(source, again)[:2] == ([], [])

    def test_a_new_item_is_yielded_once_from_the_cursor(self, source: Source) -> None:
        self.add(source, "first")
        _labels, _removed, cursor = self.poll(source, None)
        self.add(source, "later")
        labels, removed, after = self.poll(source, cursor)
        assert labels.count("later") == 1 and removed == []
        if self.rereads_recent is None:
            assert labels == ["later"]
        else:  # allowed to read "first" again, nothing else
            assert set(labels) <= {"first", "later"}
        assert self.poll(source, after)[:2] == ([], [])

    @pytest.mark.parametrize("garbled", GARBLED)
    def test_a_garbled_cursor_raises_cursor_expired(self, source: Source, garbled: str) -> None:
        self.add(source, "first")
        with pytest.raises(CursorExpired):
            self.poll(source, garbled)

    def test_a_cursor_the_provider_refuses_raises_cursor_expired(self, source: Source) -> None:
        if self.no_refusal is not None:
            pytest.skip(self.no_refusal)
        self.add(source, "first")
        _labels, _removed, cursor = self.poll(source, None)
        refused = self.refuse(source, cursor)
        with pytest.raises(CursorExpired):
            self.poll(source, refused)
        labels, _removed, _cursor = self.poll(source, None)  # the resync the core then runs
        assert labels == ["first"]

    def test_recent_ids_are_what_poll_yielded(self, source: Source) -> None:
        if not isinstance(source, Reconcilable):
            pytest.skip(f"{type(source).__name__} is not Reconcilable: no recent ids to list")
        self.add(source, "first")
        self.add(source, "second")
        yielded = self.ids(source, None)
        assert len(yielded) == 2
        stream = self.stream(source)
        assert source.recent_ids(stream, self.now - timedelta(days=30)) == yielded


def label_of(item: RawMessage | RawEvent | Any) -> str:
    if isinstance(item, RawMessage):
        return str(item.get("Subject"))
    assert isinstance(item, RawEvent), item
    return str(item.summary)


# =========================================================================== drafts


class DraftSinkContract:
    """What every draft sink must do. Subclasses provide the sink and the user's hands."""

    @pytest.fixture
    def sink(self, tmp_path: Path) -> DraftSink:
        raise NotImplementedError

    def edit_body(self, sink: DraftSink, created: Created, text: str) -> None:
        raise NotImplementedError

    def edit_to(self, sink: DraftSink, created: Created, address: str) -> None:
        raise NotImplementedError

    def delete(self, sink: DraftSink, created: Created) -> None:
        raise NotImplementedError

    def count(self, sink: DraftSink) -> int:
        raise NotImplementedError

    # Why this sink has no answer to lose (a local file), or None when `lose_next_answer`
    # makes the provider carry out the next create and then lose its answer.
    no_lost_answer: str | None = None

    def lose_next_answer(self, sink: DraftSink) -> None:
        raise NotImplementedError

    def answer_was_lost(self, sink: DraftSink) -> bool:
        """Whether the fault `lose_next_answer` set up fired (else the case proves nothing)."""
        raise NotImplementedError

    def test_is_a_draft_sink(self, sink: DraftSink) -> None:
        assert isinstance(sink, DraftSink)

    def test_nothing_is_found_before_creating(self, sink: DraftSink) -> None:
        assert sink.find_draft("draft:none") is None
        assert sink.draft_state("draft:none", "x") == "gone"
        assert sink.remove_draft("draft:none", "x") is False

    def test_create_then_find_returns_the_same_ref(self, sink: DraftSink) -> None:
        created = sink.create_draft(draft_spec())
        assert sink.find_draft(draft_spec().key) == created
        assert sink.find_draft("draft:other") is None

    def test_create_twice_stores_one_draft(self, sink: DraftSink) -> None:
        first = sink.create_draft(draft_spec())
        second = sink.create_draft(draft_spec(subject="A different subject"))
        assert second == first
        assert self.count(sink) == 1
        sink.create_draft(draft_spec("draft:other"))
        assert self.count(sink) == 2

    def test_untouched_draft_is_removed_and_then_gone(self, sink: DraftSink) -> None:
        created = sink.create_draft(draft_spec())
        assert sink.draft_state(draft_spec().key, created.fingerprint) == "untouched"
        assert sink.remove_draft(draft_spec().key, created.fingerprint) is True
        assert self.count(sink) == 0
        assert sink.draft_state(draft_spec().key, created.fingerprint) == "gone"
        assert sink.remove_draft(draft_spec().key, created.fingerprint) is False

    def test_edited_body_is_changed_and_kept(self, sink: DraftSink) -> None:
        created = sink.create_draft(draft_spec())
        self.edit_body(sink, created, "Hi Bob,\n\nI rewrote this myself.\n")
        assert sink.draft_state(draft_spec().key, created.fingerprint) == "changed"
        assert sink.remove_draft(draft_spec().key, created.fingerprint) is False
        assert self.count(sink) == 1

    def test_edited_recipient_is_changed_and_kept(self, sink: DraftSink) -> None:
        created = sink.create_draft(draft_spec())
        self.edit_to(sink, created, "Carol <carol@example.net>")
        assert sink.draft_state(draft_spec().key, created.fingerprint) == "changed"
        assert sink.remove_draft(draft_spec().key, created.fingerprint) is False
        assert self.count(sink) == 1

    def test_deleted_draft_is_gone(self, sink: DraftSink) -> None:
        created = sink.create_draft(draft_spec())
        self.delete(sink, created)
        assert sink.find_draft(draft_spec().key) is None
        assert sink.draft_state(draft_spec().key, created.fingerprint) == "gone"
        assert sink.remove_draft(draft_spec().key, created.fingerprint) is False

    def test_made_once_across_a_lost_answer(self, sink: DraftSink) -> None:
        if self.no_lost_answer is not None:
            pytest.skip(self.no_lost_answer)
        self.lose_next_answer(sink)
        created = once_more_if_unavailable(lambda: sink.create_draft(draft_spec()))
        assert self.answer_was_lost(sink), "the answer was not lost: the case proved nothing"
        assert self.count(sink) == 1
        assert sink.find_draft(draft_spec().key) == created
        assert sink.draft_state(draft_spec().key, created.fingerprint) == "untouched"
        assert sink.create_draft(draft_spec()) == created
        assert self.count(sink) == 1


# =========================================================================== holds


class HoldSinkContract:
    """What every hold sink must do. Subclasses provide the sink and the user's hands."""

    @pytest.fixture
    def sink(self, tmp_path: Path) -> HoldSink:
        raise NotImplementedError

    def move(self, sink: HoldSink, created: Created, start: datetime, end: datetime) -> None:
        raise NotImplementedError

    def rename(self, sink: HoldSink, created: Created, summary: str) -> None:
        raise NotImplementedError

    def delete(self, sink: HoldSink, created: Created) -> None:
        raise NotImplementedError

    def count(self, sink: HoldSink) -> int:
        raise NotImplementedError

    no_lost_answer: str | None = None  # as in `DraftSinkContract`

    def lose_next_answer(self, sink: HoldSink) -> None:
        raise NotImplementedError

    def answer_was_lost(self, sink: HoldSink) -> bool:
        """Whether the fault `lose_next_answer` set up fired (else the case proves nothing)."""
        raise NotImplementedError

    def test_is_a_hold_sink(self, sink: HoldSink) -> None:
        assert isinstance(sink, HoldSink)

    def test_nothing_is_found_before_creating(self, sink: HoldSink) -> None:
        assert sink.find_hold("hold:none") is None
        assert sink.hold_state("hold:none", "x") == "gone"
        assert sink.remove_hold("hold:none", "x") is False
        assert sink.busy(utc(3, 1), utc(4, 1)) == []

    def test_create_then_find_returns_the_same_ref(self, sink: HoldSink) -> None:
        created = sink.create_hold(hold_spec())
        assert sink.find_hold(hold_spec().key) == created
        assert sink.find_hold("hold:other") is None

    def test_create_twice_stores_one_hold(self, sink: HoldSink) -> None:
        first = sink.create_hold(hold_spec())
        assert sink.create_hold(hold_spec(summary="Another summary")) == first
        assert self.count(sink) == 1
        sink.create_hold(hold_spec("hold:other"))
        assert self.count(sink) == 2

    def test_untouched_hold_is_removed_and_then_gone(self, sink: HoldSink) -> None:
        created = sink.create_hold(hold_spec())
        assert sink.hold_state(hold_spec().key, created.fingerprint) == "untouched"
        assert sink.remove_hold(hold_spec().key, created.fingerprint) is True
        assert self.count(sink) == 0
        assert sink.hold_state(hold_spec().key, created.fingerprint) == "gone"
        assert sink.remove_hold(hold_spec().key, created.fingerprint) is False

    def test_moved_hold_is_changed_and_kept(self, sink: HoldSink) -> None:
        created = sink.create_hold(hold_spec())
        self.move(sink, created, utc(3, 21, 14), utc(3, 21, 15))
        assert sink.hold_state(hold_spec().key, created.fingerprint) == "changed"
        assert sink.remove_hold(hold_spec().key, created.fingerprint) is False
        assert self.count(sink) == 1

    def test_renamed_hold_is_changed_and_kept(self, sink: HoldSink) -> None:
        created = sink.create_hold(hold_spec())
        self.rename(sink, created, "Lunch with Bob")
        assert sink.hold_state(hold_spec().key, created.fingerprint) == "changed"
        assert sink.remove_hold(hold_spec().key, created.fingerprint) is False

    def test_deleted_hold_is_gone(self, sink: HoldSink) -> None:
        created = sink.create_hold(hold_spec())
        self.delete(sink, created)
        assert sink.find_hold(hold_spec().key) is None
        assert sink.hold_state(hold_spec().key, created.fingerprint) == "gone"

    def test_a_hold_is_busy_time(self, sink: HoldSink) -> None:
        sink.create_hold(hold_spec())
        assert sink.busy(utc(3, 21), utc(3, 22)) == [(utc(3, 21, 9), utc(3, 21, 10))]
        assert sink.busy(utc(3, 22), utc(3, 23)) == []

    def test_made_once_across_a_lost_answer(self, sink: HoldSink) -> None:
        if self.no_lost_answer is not None:
            pytest.skip(self.no_lost_answer)
        self.lose_next_answer(sink)
        created = once_more_if_unavailable(lambda: sink.create_hold(hold_spec()))
        assert self.answer_was_lost(sink), "the answer was not lost: the case proved nothing"
        assert self.count(sink) == 1
        assert sink.find_hold(hold_spec().key) == created
        assert sink.hold_state(hold_spec().key, created.fingerprint) == "untouched"
        assert sink.create_hold(hold_spec()) == created
        assert self.count(sink) == 1
