"""Gmail (API v1) as a mail source and a draft sink.

One stream, ``all``: the whole mailbox less SPAM and TRASH, read through the metadata scope
(header fields and labels, never bodies). Its cursor is ``{"v": 1, "history": "<id>"}``,
Gmail's historyId, with ``"page": "<pageToken>"`` added while a backfill is under way.

- **Backfill** (no cursor, ``full``, or a resync): `users.getProfile` first, whose
  historyId becomes the cursor once the listing is done (so what changes during the
  backfill is read again by the next incremental poll, never lost); then `messages.list`
  (500 ids a page, newest first) and, for each page, `messages.get` with
  ``format=metadata`` and only the header fields the classifier reads, in batch requests
  of `GmailSettings.batch_size` calls. Listing stops at the first page that reaches past
  the look-back window. Each page is one `Batch`, whose cursor names the next page, so a
  crash resumes the listing where it stopped (an expired page token restarts it).
- **Incremental**: `history.list` from the stored historyId (one request when nothing
  changed), collecting messages added and messages that gained SENT or INBOX or lost
  DRAFT (a draft the user sent); their metadata is fetched in batches. A historyId Gmail
  no longer knows (404) raises `CursorExpired`: the core reads the window again, and the
  idempotent ingest stores nothing twice.
- Drafts are never read as mail: a message labelled DRAFT is skipped until it is sent.

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
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import (
    Batch,
    Created,
    CursorExpired,
    DraftSpec,
    FolderRole,
    ObjectState,
    RawMessage,
    SourceUnavailable,
    StreamInfo,
)
from connectors.google_auth import GMAIL_COMPOSE, GMAIL_METADATA
from connectors.google_http import ApiStatus, GoogleApi, classify
from connectors.maildir_drafts import KEY_HEADER, render_draft

logger = logging.getLogger(__name__)

# The header fields the classifier reads (the same as the IMAP connector's FETCH).
METADATA_HEADERS = (
    "From",
    "To",
    "Cc",
    "Bcc",
    "Date",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Post",
    "Precedence",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "X-Autoreply",
    "X-Autorespond",
    "Content-Type",
    "Return-Path",
    "Sender",
    "Reply-To",
    "X-Failed-Recipients",
    "X-Spam-Flag",
    "X-Spam-Status",
    "Feedback-ID",
    "X-Mailgun-Sid",
    "X-SG-EID",
    "X-Campaign",
    "X-GitHub-Reason",
    "Content-Class",
    "Authentication-Results",
    "X-Mailer",
    "X-Cron-Env",
    "X-Google-Group-Id",
    "Mailing-List",
)
STREAM = StreamInfo(name="all", kind="mail", role="all")
HISTORY_TYPES = ("messageAdded", "labelAdded", "labelRemoved")
CURSOR_VERSION = 1


@dataclass(frozen=True)
class GmailSettings:
    lookback: timedelta = timedelta(days=365)
    page_size: int = 500  # ids per messages.list page (Gmail's maximum)
    batch_size: int = 50  # calls per batch request (Gmail: at most 100, 50 recommended)
    items: int = 500  # messages per yielded Batch on incremental polls


@dataclass(frozen=True, slots=True)
class _Cursor:
    history: str
    page: str | None = None

    def dump(self) -> str:
        doc: dict[str, Any] = {"v": CURSOR_VERSION, "history": self.history}
        if self.page:
            doc["page"] = self.page
        return json.dumps(doc, separators=(",", ":"))


def load_cursor(cursor: str) -> _Cursor:
    try:
        doc = json.loads(cursor)
        if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION:
            raise ValueError("unknown version")
        history = str(int(doc["history"]))
        page = doc.get("page")
        return _Cursor(history, str(page) if page else None)
    except (ValueError, TypeError, KeyError) as exc:
        raise CursorExpired(f"unreadable Gmail cursor: {exc}") from None


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
        if state.page is not None:
            yield from self._backfill(state, now)
        else:
            yield from self._incremental(state)

    def size_hint(self, stream: StreamInfo) -> int | None:
        return None  # messagesTotal counts far more than the look-back window

    def _backfill(self, resume: _Cursor | None, now: datetime) -> Iterator[Batch]:
        if resume is None:
            profile = self.api.execute(
                lambda: self._users.getProfile(userId="me"), "Gmail getProfile"
            )
            history, page = str(profile["historyId"]), None
        else:
            history, page = resume.history, resume.page
        cutoff = (now - self.settings.lookback).timestamp() * 1000
        while True:
            listing = self._list_page(page, resumed=resume is not None and page == resume.page)
            ids = [m["id"] for m in listing.get("messages", [])]
            docs = self._metadata(ids)
            items = []
            past_window = False
            for doc in docs:
                if int(doc.get("internalDate", 0)) < cutoff:
                    past_window = True
                    continue
                if "DRAFT" not in doc.get("labelIds", ()):
                    items.append(parse_message(doc))
            page = listing.get("nextPageToken")
            done = past_window or not page
            cursor = _Cursor(history, None if done else page)
            yield Batch(items=items, cursor=cursor.dump(), read=len(docs), done=done)
            if done:
                return

    def _list_page(self, page: str | None, *, resumed: bool) -> dict[str, Any]:
        def make() -> Any:
            return self._messages.list(
                userId="me", maxResults=self.settings.page_size, pageToken=page
            )

        try:
            result: dict[str, Any] = self.api.execute(
                make, "Gmail messages.list", handles=(400, 404) if resumed else ()
            )
        except ApiStatus as exc:  # the page token of an interrupted backfill expired
            raise CursorExpired(f"Gmail refused the saved listing position: {exc}") from None
        return result

    def _incremental(self, state: _Cursor) -> Iterator[Batch]:
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
            cursor = _Cursor(latest) if last else state
            yield Batch(items=items, cursor=cursor.dump(), read=len(docs), done=last)
        if not ids:
            yield Batch(items=(), cursor=_Cursor(latest).dump(), read=0, done=True)

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
            result: dict[str, Any] = self.api.execute(make, "Gmail history.list", handles=(404,))
        except ApiStatus as exc:
            raise CursorExpired(
                f"Gmail no longer knows history id {start} ({exc.message}); a full resync follows"
            ) from None
        return result

    def _metadata(self, ids: list[str]) -> list[dict[str, Any]]:
        """The metadata of `ids` in batch requests; messages deleted meanwhile drop out."""

        def getter(mid: str) -> Callable[[], Any]:
            return lambda: self._messages.get(
                userId="me", id=mid, format="metadata", metadataHeaders=list(METADATA_HEADERS)
            )

        found = self.api.batch(
            [(mid, getter(mid)) for mid in ids],
            "Gmail messages.get",
            uri=self.api.settings.gmail_batch_uri,
            size=self.settings.batch_size,
        )
        return [found[mid] for mid in ids if found.get(mid) is not None]

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
            request = self._draft_calls.create(userId="me", body={"message": message})
            result: dict[str, Any] = request.execute(num_retries=0)
            return result

        try:
            doc = self.api.settings.retry.call(
                create, classify=classify, what="Gmail drafts.create"
            )
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
        if self._drafts is not None:
            self._drafts[spec.key] = draft
        logger.info("gmail.draft.created", extra={"key": spec.key, "ref": draft.draft_id})
        return draft.created

    def _create_unthreaded(self, spec: DraftSpec) -> Created:
        from dataclasses import replace

        return self.create_draft(replace(spec, thread_id=None))

    def draft_state(self, key: str, fingerprint: str) -> ObjectState:
        self.api.require(GMAIL_COMPOSE, "drafts")
        draft_id, _, message_id = fingerprint.partition("/")
        self._draft_index()
        current = self._by_draft.get(draft_id)
        if current is None:
            return "gone"
        return "untouched" if current == message_id else "changed"

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
            doc = self.api.execute(self._drafts_page(page), "Gmail drafts.list")
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
            )
            for mid in unknown:
                self._keys[mid] = _header(heads.get(mid), KEY_HEADER)
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


# ----------------------------------------------------------------------------- parsing


def parse_message(doc: dict[str, Any]) -> RawMessage:
    """A `messages.get` (format=metadata) answer as a RawMessage."""
    labels = frozenset(str(label) for label in doc.get("labelIds", ()))
    headers = tuple(
        (str(h.get("name", "")), " ".join(str(h.get("value", "")).split()))
        for h in doc.get("payload", {}).get("headers", ())
    )
    internal = doc.get("internalDate")
    size = doc.get("sizeEstimate")
    return RawMessage(
        provider_id=str(doc["id"]),
        folder=STREAM.name,
        headers=headers,
        internal_date=(
            datetime.fromtimestamp(int(internal) / 1000, UTC) if internal is not None else None
        ),
        size=int(size) if size is not None else None,
        thread_id=str(doc["threadId"]) if doc.get("threadId") else None,
        labels=labels,
        folder_role=_role(labels),
    )


def _role(labels: frozenset[str]) -> FolderRole:
    if "SENT" in labels:
        return "sent"
    if "SPAM" in labels:
        return "junk"
    if "TRASH" in labels:
        return "trash"
    if "INBOX" in labels:
        return "inbox"
    return "archive"


def _header(doc: dict[str, Any] | None, name: str) -> str | None:
    if not doc:
        return None
    for h in doc.get("payload", {}).get("headers", ()):
        if str(h.get("name", "")).lower() == name.lower():
            return str(h.get("value", "")).strip() or None
    return None


_HEX = re.compile(r"^[0-9a-f]{1,16}$")


def gmail_thread_id(value: str | None) -> str | None:
    """Gmail's API thread id; IMAP's X-GM-THRID is the same number in decimal."""
    if not value:
        return None
    if value.isdigit() and len(value) > 16:
        return f"{int(value):x}"
    return value if _HEX.match(value) else None


__all__ = ["METADATA_HEADERS", "GmailSettings", "GmailSource", "load_cursor", "parse_message"]
