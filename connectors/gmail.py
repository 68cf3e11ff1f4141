"""Gmail (API v1) as a mail source and a draft sink.

One stream, ``all``: the whole mailbox less SPAM and TRASH, read through the metadata scope
(header fields and labels, never bodies). Its cursor is ``{"v": 1, "history": "<id>"}``,
Gmail's historyId, with ``"page"`` (the next listing page) and ``"rest"`` (the ids of the
current page still to read) added while a backfill is under way
(`connectors.gmail_parse.GmailCursor`).

- **Backfill** (no cursor, ``full``, or a resync): `users.getProfile` first, whose
  historyId becomes the cursor once the listing is done (so what changes during the
  backfill is read again by the next incremental poll, never lost); then `messages.list`
  (500 ids a page) and `messages.get` with ``format=metadata`` and only the header fields
  the classifier reads, in batch requests of `GmailSettings.batch_size` calls (25: Google
  advises against large batches, which draw "too many concurrent requests"). Each batch
  request is one `Batch`, whose cursor names the next page and the ids of the current
  page still to read, so a poll that stops (a crash, a quota that stayed exhausted)
  resumes where it stopped and reads no message twice (an expired page token restarts the
  listing). Gmail does not document the listing's order: listing stops after a whole page
  with nothing inside the look-back window, not at the first old message.
- **Quota**: every call takes its quota units from the account's bucket first
  (`connectors.google_quota`); a 429 or 403 rate-limit answer waits for the window.
- **Incremental**: `history.list` from the stored historyId (one request when nothing
  changed), collecting messages added and messages that gained SENT or INBOX or lost
  DRAFT (a draft the user sent); their metadata is fetched in batches. A historyId Gmail
  no longer knows (404) raises `CursorExpired`: the core reads the window again, and the
  idempotent ingest stores nothing twice.
- Drafts are never read as mail: a message labelled DRAFT is skipped until it is sent.

Reconciliation (`connectors.base.Reconcilable`): `recent_ids` lists the mailbox and reads
each listed message's internalDate (5 units a message: a 14-day window of 1,000 messages
costs about 5,000 units, paced like the rest) until a whole page lies before the window;
`fetch` reads the ids asked for; `baseline` is getProfile's historyId.

Gmail's threadId is `RawMessage.thread_id`; provider ids are Gmail message ids.

Drafts (`gmail.compose`): `drafts.create` with the RFC 5322 message of
`connectors.maildir_drafts.render_draft` (``X-Syncd-Key`` header, Message-ID derived from
the key); a reply carries ``threadId``, In-Reply-To and References so Gmail keeps it in
the thread. There is no idempotency key at Gmail and the metadata scope forbids search
(``q``), so drafts are found by listing them (`drafts.list`) and reading each draft
message's ``X-Syncd-Key`` once (a message id never changes its headers; the index is
listed again at each sync pass). A create whose answer was lost is retried only after
the listing shows it did not happen. The fingerprint of a draft is ``<draft id>/<message
id>``: Gmail gives an edited draft a new message id, so a changed message id means the
user touched it, and a missing draft id means it was sent or deleted.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.base import (
    Batch,
    Created,
    CursorExpired,
    DraftSpec,
    ObjectState,
    SourceUnavailable,
    StreamInfo,
    object_state,
)
from connectors.gmail_parse import (
    METADATA_HEADERS,
    STREAM_NAME,
    GmailCursor,
    gmail_thread_id,
    header_value,
    load_cursor,
    parse_message,
)
from connectors.google_auth import GMAIL_COMPOSE, GMAIL_METADATA
from connectors.google_http import ApiStatus, GoogleApi
from connectors.google_quota import units_of
from connectors.maildir_drafts import KEY_HEADER, render_draft

logger = logging.getLogger(__name__)

STREAM = StreamInfo(name=STREAM_NAME, kind="mail", role="all")
HISTORY_TYPES = ("messageAdded", "labelAdded", "labelRemoved")


@dataclass(frozen=True)
class GmailSettings:
    lookback: timedelta = timedelta(days=365)
    page_size: int = 500  # ids per messages.list page (Gmail's maximum)
    batch_size: int = 25  # calls per batch request (Gmail: at most 100; large ones throttle)
    items: int = 500  # messages per yielded Batch on incremental polls


@dataclass(frozen=True, slots=True)
class _Draft:
    draft_id: str
    message_id: str

    @property
    def created(self) -> Created:
        return Created(ref=self.draft_id, fingerprint=f"{self.draft_id}/{self.message_id}")


class GmailSource:
    """A `Source` and `DraftSink` over one Gmail account."""

    def __init__(self, api: GoogleApi, settings: GmailSettings | None = None) -> None:
        self.api = api
        self.settings = settings or GmailSettings()
        self._drafts: dict[str, _Draft] | None = None  # key -> draft, per sync pass
        self._keys: dict[str, str | None] = {}  # message id -> its X-Syncd-Key (immutable)
        self._by_draft: dict[str, str] = {}  # draft id -> message id, as last listed
        self._resources: Any = None

    @property
    def _users(self) -> Any:
        # Building a discovery resource costs milliseconds (every method is made anew):
        # make each once, not per call.
        if self._resources is None:
            self._resources = self.api.service("gmail").users()
        return self._resources

    @functools.cached_property
    def _messages(self) -> Any:
        return self._users.messages()

    @functools.cached_property
    def _history(self) -> Any:
        return self._users.history()

    @functools.cached_property
    def _draft_calls(self) -> Any:
        return self._users.drafts()

    # ------------------------------------------------------------------ Source

    def streams(self) -> list[StreamInfo]:
        self._drafts = None  # a new pass: the user may have sent or deleted drafts since
        return [STREAM]

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        self.api.require(GMAIL_METADATA, "reading mail")
        if cursor is None or full:
            yield from self._backfill(None, now)
            return
        state = load_cursor(cursor)
        if state.backfilling:
            yield from self._backfill(state, now)
        else:
            yield from self._incremental(state)

    def size_hint(self, stream: StreamInfo) -> int | None:
        return None  # messagesTotal counts far more than the look-back window

    def _profile_history(self) -> str:
        profile = self.api.execute(
            lambda: self._users.getProfile(userId="me"),
            "Gmail getProfile",
            units=units_of("getProfile"),
        )
        return str(profile["historyId"])

    def _backfill(self, resume: GmailCursor | None, now: datetime) -> Iterator[Batch]:
        """One `Batch` per batch request, each with the resume point after it."""
        state = resume or GmailCursor(self._profile_history())
        listed = resume is not None and bool(resume.rest)  # the page of `rest` is listed
        cutoff = (now - self.settings.lookback).timestamp() * 1000
        page, rest, inwin = state.page, list(state.rest), state.inwin
        while True:
            if not listed:
                resumed = resume is not None and page == resume.page
                listing = self._list_page(page, resumed=resumed)
                rest = [m["id"] for m in listing.get("messages", [])]
                page, inwin, listed = listing.get("nextPageToken"), False, True
            chunk, rest = rest[: self.settings.batch_size], rest[self.settings.batch_size :]
            found: dict[str, Any] = {}
            try:
                self._metadata_chunk(chunk, found)
            except SourceUnavailable:
                # What did arrive is stored; the resume point names only what did not.
                missing = tuple(i for i in chunk if i not in found)
                docs = [found[i] for i in chunk if found.get(i) is not None]
                after = GmailCursor(state.history, page, missing + tuple(rest), inwin)
                yield self._window_batch(docs, cutoff, after, done=False)
                raise
            docs = [found[i] for i in chunk if found.get(i) is not None]
            inwin = inwin or any(int(d.get("internalDate", 0)) >= cutoff for d in docs)
            # A page with nothing inside the window is the page past it: Gmail does not
            # document the listing's order, so one whole page is read past the first old one.
            done = not rest and (not page or not inwin)
            after = (
                GmailCursor(state.history)
                if done
                else GmailCursor(state.history, page, tuple(rest), inwin)
            )
            yield self._window_batch(docs, cutoff, after, done=done)
            if done:
                return
            listed = bool(rest)

    def _window_batch(
        self, docs: list[dict[str, Any]], cutoff: float, after: GmailCursor, *, done: bool
    ) -> Batch:
        items = [
            parse_message(d)
            for d in docs
            if int(d.get("internalDate", 0)) >= cutoff and "DRAFT" not in d.get("labelIds", ())
        ]
        return Batch(items=items, cursor=after.dump(), read=len(docs), done=done)

    def _list_page(self, page: str | None, *, resumed: bool) -> dict[str, Any]:
        def make() -> Any:
            return self._messages.list(
                userId="me", maxResults=self.settings.page_size, pageToken=page
            )

        try:
            result: dict[str, Any] = self.api.execute(
                make,
                "Gmail messages.list",
                handles=(400, 404) if resumed else (),
                units=units_of("messages.list"),
            )
        except ApiStatus as exc:  # the page token of an interrupted backfill expired
            raise CursorExpired(f"Gmail refused the saved listing position: {exc}") from None
        return result

    def _incremental(self, state: GmailCursor) -> Iterator[Batch]:
        wanted: dict[str, None] = {}
        latest, page = state.history, None
        while True:
            listing = self._history_page(state.history, page)
            for record in listing.get("history", []):
                for added in record.get("messagesAdded", []):
                    wanted[added["message"]["id"]] = None
                for change in record.get("labelsAdded", []):
                    if {"SENT", "INBOX"} & set(change.get("labelIds", [])):
                        wanted[change["message"]["id"]] = None
                for change in record.get("labelsRemoved", []):
                    if "DRAFT" in change.get("labelIds", []):
                        wanted[change["message"]["id"]] = None
            latest = str(listing.get("historyId", latest))
            page = listing.get("nextPageToken")
            if not page:
                break
        ids = list(wanted)
        step = self.settings.items
        for start in range(0, len(ids), step):
            docs = self._metadata(ids[start : start + step])
            items = [parse_message(d) for d in docs if "DRAFT" not in d.get("labelIds", ())]
            last = start + step >= len(ids)
            cursor = GmailCursor(latest) if last else state
            yield Batch(items=items, cursor=cursor.dump(), read=len(docs), done=last)
        if not ids:
            yield Batch(items=(), cursor=GmailCursor(latest).dump(), read=0, done=True)

    def _history_page(self, start: str, page: str | None) -> dict[str, Any]:
        def make() -> Any:
            return self._history.list(
                userId="me",
                startHistoryId=start,
                historyTypes=list(HISTORY_TYPES),
                maxResults=500,
                pageToken=page,
            )

        try:
            result: dict[str, Any] = self.api.execute(
                make, "Gmail history.list", handles=(404,), units=units_of("history.list")
            )
        except ApiStatus as exc:
            raise CursorExpired(
                f"Gmail no longer knows history id {start} ({exc.message}); a full resync follows"
            ) from None
        return result

    def _metadata(self, ids: list[str]) -> list[dict[str, Any]]:
        """The metadata of `ids` in batch requests; messages deleted meanwhile drop out."""
        found: dict[str, Any] = {}
        for start in range(0, len(ids), self.settings.batch_size):
            self._metadata_chunk(ids[start : start + self.settings.batch_size], found)
        return [found[mid] for mid in ids if found.get(mid) is not None]

    def _metadata_chunk(
        self, ids: list[str], found: dict[str, Any], headers: Collection[str] = METADATA_HEADERS
    ) -> None:
        """One batch request of `messages.get` (format=metadata); answers go into `found`
        as they come (None for a message deleted meanwhile), even if the call then fails."""

        def getter(mid: str) -> Callable[[], Any]:
            return lambda: self._messages.get(
                userId="me", id=mid, format="metadata", metadataHeaders=list(headers)
            )

        if not ids:
            return
        self.api.batch_chunk(
            {mid: getter(mid) for mid in ids},
            found,
            "Gmail messages.get",
            uri=self.api.settings.gmail_batch_uri,
            units=units_of("messages.get"),
        )

    # ------------------------------------------------------------------ Reconcilable

    def recent_ids(
        self, stream: StreamInfo, since: datetime, *, cursor: str | None = None
    ) -> set[str]:
        """Ids of the messages dated (internalDate) at or after `since`, drafts left out:
        `messages.list` page after page, each id's date by `messages.get` (format=minimal
        would do, but metadata with one header costs the same 5 units), until a whole page
        lies before `since` (the listing's order is not documented)."""
        self.api.require(GMAIL_METADATA, "reading mail")
        if cursor is not None:
            load_cursor(cursor)  # Gmail ids never change: a readable cursor is enough
        cutoff = since.timestamp() * 1000
        ids: set[str] = set()
        page: str | None = None
        while True:
            listing = self._list_page(page, resumed=False)
            listed = [m["id"] for m in listing.get("messages", [])]
            found: dict[str, Any] = {}
            for start in range(0, len(listed), self.settings.batch_size):
                chunk = listed[start : start + self.settings.batch_size]
                self._metadata_chunk(chunk, found, headers=("Date",))
            inside = [
                d
                for d in (found.get(i) for i in listed)
                if d is not None and int(d.get("internalDate", 0)) >= cutoff
            ]
            ids.update(str(d["id"]) for d in inside if "DRAFT" not in d.get("labelIds", ()))
            page = listing.get("nextPageToken")
            if not page or not inside:
                return ids

    def fetch(self, stream: StreamInfo, ids: Collection[str]) -> Iterator[Batch]:
        self.api.require(GMAIL_METADATA, "reading mail")
        wanted = sorted(ids)
        step = self.settings.items
        for start in range(0, len(wanted), step):
            docs = self._metadata(wanted[start : start + step])
            items = [parse_message(d) for d in docs if "DRAFT" not in d.get("labelIds", ())]
            last = start + step >= len(wanted)
            yield Batch(items=items, cursor=None, read=len(docs), done=last)
        if not wanted:
            yield Batch(items=(), cursor=None, read=0, done=True)

    def baseline(self, stream: StreamInfo, *, now: datetime) -> str:
        self.api.require(GMAIL_METADATA, "reading mail")
        return GmailCursor(self._profile_history()).dump()

    # ------------------------------------------------------------------ DraftSink

    def find_draft(self, key: str) -> Created | None:
        self.api.require(GMAIL_COMPOSE, "drafts")
        found = self._draft_index().get(key)
        return found.created if found else None

    def create_draft(self, spec: DraftSpec) -> Created:
        self.api.require(GMAIL_COMPOSE, "drafts")
        existing = self._draft_index().get(spec.key)
        if existing is not None:
            logger.debug("gmail.draft.exists", extra={"key": spec.key, "ref": existing.draft_id})
            return existing.created
        raw = base64.urlsafe_b64encode(render_draft(spec).replace(b"\n", b"\r\n")).decode()
        message: dict[str, Any] = {"raw": raw}
        thread = gmail_thread_id(spec.thread_id)
        if thread is not None:
            message["threadId"] = thread
        attempts = 0

        def create() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the last answer may have been lost after Gmail made it
                self._drafts = None
                made = self._draft_index().get(spec.key)
                if made is not None:
                    return {"id": made.draft_id, "message": {"id": made.message_id}}
            self.api.quota.take(units_of("drafts.create"))
            request = self._draft_calls.create(userId="me", body={"message": message})
            result: dict[str, Any] = request.execute(num_retries=0)
            return result

        try:
            doc = self.api.retry(create, "Gmail drafts.create")
        except Exception as exc:
            if isinstance(exc, SourceUnavailable):
                raise
            status = getattr(getattr(exc, "resp", None), "status", None)
            if status == 404 and "threadId" in message:  # the thread is gone: a new one
                logger.info("gmail.draft.thread_gone", extra={"key": spec.key})
                return self._create_unthreaded(spec)
            raise self.api.failure(exc, "Gmail drafts.create") from None
        draft = _Draft(str(doc["id"]), str(doc["message"]["id"]))
        self._keys[draft.message_id] = spec.key
        if self._drafts is not None:  # this pass's listing now holds it, for its state too
            self._drafts[spec.key] = draft
            self._by_draft[draft.draft_id] = draft.message_id
        logger.info("gmail.draft.created", extra={"key": spec.key, "ref": draft.draft_id})
        return draft.created

    def _create_unthreaded(self, spec: DraftSpec) -> Created:
        from dataclasses import replace

        return self.create_draft(replace(spec, thread_id=None))

    def draft_state(self, key: str, fingerprint: str) -> ObjectState:
        self.api.require(GMAIL_COMPOSE, "drafts")
        draft_id, _, message_id = fingerprint.partition("/")
        self._draft_index()
        return object_state(self._by_draft.get(draft_id), message_id)

    def remove_draft(self, key: str, fingerprint: str) -> bool:
        if self.draft_state(key, fingerprint) != "untouched":
            return False
        draft_id = fingerprint.partition("/")[0]
        # A 404: gone already (an earlier attempt whose answer was lost removed it).
        with contextlib.suppress(ApiStatus):
            self.api.execute(
                lambda: self._draft_calls.delete(userId="me", id=draft_id),
                "Gmail drafts.delete",
                handles=(404,),
                units=units_of("drafts.delete"),
            )
        self._drafts = None
        return True

    def _draft_index(self) -> dict[str, _Draft]:
        """Our drafts by key: one drafts.list, and the key of each message not seen yet."""
        if self._drafts is not None:
            return self._drafts
        listed: list[tuple[str, str]] = []
        page: str | None = None
        while True:
            doc = self.api.execute(
                self._drafts_page(page), "Gmail drafts.list", units=units_of("drafts.list")
            )
            listed.extend((d["id"], d["message"]["id"]) for d in doc.get("drafts", []))
            page = doc.get("nextPageToken")
            if not page:
                break
        unknown = [mid for _d, mid in listed if mid not in self._keys]
        if unknown:
            heads = self.api.batch(
                [(mid, self._key_getter(mid)) for mid in unknown],
                "Gmail draft headers",
                uri=self.api.settings.gmail_batch_uri,
                size=self.settings.batch_size,
                units=units_of("messages.get"),
            )
            for mid in unknown:
                self._keys[mid] = header_value(heads.get(mid), KEY_HEADER)
        self._by_draft = {d: m for d, m in listed}
        index: dict[str, _Draft] = {}
        for draft_id, mid in listed:
            key = self._keys.get(mid)
            if key and key not in index:
                index[key] = _Draft(draft_id, mid)
        self._drafts = index
        return index

    def _drafts_page(self, page: str | None) -> Callable[[], Any]:
        return lambda: self._draft_calls.list(userId="me", maxResults=500, pageToken=page)

    def _key_getter(self, mid: str) -> Callable[[], Any]:
        return lambda: self._messages.get(
            userId="me", id=mid, format="metadata", metadataHeaders=[KEY_HEADER]
        )

    def close(self) -> None:
        self.api.close()


__all__ = ["METADATA_HEADERS", "GmailSettings", "GmailSource", "load_cursor", "parse_message"]
