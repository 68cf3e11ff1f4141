"""The narrow boundary between syncd's core and every provider.

A connector knows how to talk to one kind of provider and nothing else: it has no database
access and keeps no state between calls. What it reads it yields as frozen dataclasses in
`Batch`es, each carrying the opaque cursor that is valid *after* its items; the core stores
items and cursor in one transaction. When a provider says the cursor is no longer valid the
connector raises `CursorExpired` and the core runs a full resync of that stream.

Exceptions raised by connectors::

    ConnectorError
    ├── CursorExpired        the stored cursor is no longer accepted: resync the stream
    ├── AuthFailed           credentials revoked or missing: the account needs re-auth
    ├── SourceUnavailable    transient (network, 5xx, throttling): retry later
    ├── SourceInvalid        the source is misconfigured (a path that is not a Maildir, ...)
    └── NotReconcilable      this stream cannot list its recent ids (see `Reconcilable`)
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

StreamKind = Literal["mail", "calendar"]
FolderRole = Literal["inbox", "sent", "drafts", "junk", "trash", "archive", "all", "other"]
Response = Literal["accepted", "declined", "tentative", "needs_action"]
EventStatus = Literal["confirmed", "tentative", "cancelled"]


class ConnectorError(Exception):
    """Base of every error a connector raises."""


def server_text(exc: BaseException) -> str:
    """An exception's text for people: a server's answer that a library kept as bytes (and
    printed as ``b'[AUTHENTICATIONFAILED] ...'``) decoded to its words."""
    args = exc.args
    if len(args) == 1 and isinstance(args[0], bytes):
        return args[0].decode("utf-8", "replace").strip()
    text = str(exc)
    m = re.fullmatch(r"""b(['"])(.*)\1""", text.strip(), re.DOTALL)
    if m is None:
        return text
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return m.group(2)
    return value.decode("utf-8", "replace").strip() if isinstance(value, bytes) else text


class CursorExpired(ConnectorError):
    """The provider no longer accepts the stored cursor; the stream needs a full resync."""


class AuthFailed(ConnectorError):
    """The provider refused the credentials; the account needs to be authorised again."""


class SourceUnavailable(ConnectorError):
    """A transient failure (network, server error, throttling); try again later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceInvalid(ConnectorError):
    """The source cannot be read as configured; the message says what to fix."""


class NotReconcilable(ConnectorError):
    """The stream offers no cheap listing of its recent ids, so it cannot be reconciled."""


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message as a mail source sees it: header fields, never the body.

    `headers` keeps the fields in order with their names as found and their values
    unfolded but not decoded (RFC 2047 words are decoded by ingest). `body_hints` holds the
    MIME types a source noticed cheaply in the body (for example ``text/calendar`` in the
    first kilobytes of a file), which helps the classifier without reading bodies.
    """

    provider_id: str
    folder: str
    headers: tuple[tuple[str, str], ...]
    internal_date: datetime | None = None
    size: int | None = None
    thread_id: str | None = None
    labels: frozenset[str] = frozenset()
    folder_role: FolderRole = "other"
    body_hints: frozenset[str] = frozenset()
    truncated: bool = False

    def get(self, name: str) -> str | None:
        """The first value of header field `name` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of header field `name` (case-insensitive), in order."""
        lname = name.lower()
        return [value for key, value in self.headers if key.lower() == lname]


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str
    name: str | None = None
    response: Response = "needs_action"
    is_organizer: bool = False
    is_self: bool = False
    is_resource: bool = False


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One event instance: recurring series arrive expanded, one RawEvent per instance.

    `uid` is the iCalendar UID, shared by every calendar that holds the event, and
    `recurrence_id` (UTC) names the instance of a series, so (uid, recurrence_id) identifies
    a meeting across calendars and providers. Datetimes are timezone-aware.
    """

    provider_id: str
    uid: str
    start: datetime
    end: datetime
    calendar: str = ""
    recurrence_id: datetime | None = None
    all_day: bool = False
    summary: str | None = None
    status: EventStatus = "confirmed"
    transparent: bool = False
    organizer: str | None = None
    attendees: tuple[Attendee, ...] = ()
    event_type: str = "default"


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A stream is what one cursor covers: a mail folder, or one calendar."""

    name: str
    kind: StreamKind
    role: FolderRole = "other"


@dataclass(frozen=True, slots=True)
class Batch:
    """Items read from one stream, and the cursor that is valid once they are stored.

    `removed` lists provider ids the source reports as gone since the previous cursor.
    `read` counts the source objects the connector had to open to produce the batch, so a
    caller (and a test) can see that an unchanged source cost nothing.
    """

    items: Sequence[RawMessage | RawEvent]
    cursor: str | None
    removed: Sequence[str] = ()
    read: int = 0
    done: bool = False


@dataclass(frozen=True, slots=True)
class PollWindow:
    """The time span a calendar poll covers (recurring events are expanded inside it)."""

    start: datetime
    end: datetime


@runtime_checkable
class Source(Protocol):
    """What every mail or calendar source offers the core."""

    def streams(self) -> list[StreamInfo]:
        """The streams of this source, each with its own cursor."""
        ...

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        """Yield batches of new or changed items since `cursor` (everything when None).

        The last batch has ``done=True``. Raises `CursorExpired` when the cursor is refused.
        """
        ...


@runtime_checkable
class Reconcilable(Protocol):
    """An optional capability of a `Source`: proof that nothing recent is missing.

    The core compares `recent_ids` with the provider ids it stored, reads what is missing
    with `fetch` and stores it through the normal ingest without touching the cursor. A
    source that cannot do this for one of its streams raises `NotReconcilable`; one that
    lacks the methods altogether is not reconcilable at all. `baseline` gives a cursor
    valid now, for re-baselining a stream after a bounded window was read.
    """

    def recent_ids(
        self, stream: StreamInfo, since: datetime, *, cursor: str | None = None
    ) -> set[str]:
        """The provider ids (as `poll` yields them) of the stream's items dated at or after
        `since` by the provider's own date (IMAP INTERNALDATE, a Maildir delivery time),
        leaving out what `poll` never yields (drafts). Providers that count in days may
        return more. Raises `CursorExpired` when `cursor` is given and no longer valid
        (the ids would then not be the ones stored under it)."""
        ...

    def fetch(self, stream: StreamInfo, ids: Collection[str]) -> Iterator[Batch]:
        """Read exactly the items `ids` (header-only, as `poll` does) in batches whose
        ``cursor`` is None: the stream's cursor is not to be touched. Ids that are gone
        or that `poll` would not yield are left out."""
        ...

    def baseline(self, stream: StreamInfo, *, now: datetime) -> str:
        """A cursor from which `poll` yields what arrives after this call, and nothing
        older. Obtained before a window is read, nothing arriving meanwhile is lost."""
        ...


# --- the write side: drafts and holds ---------------------------------------------------------

ObjectState = Literal["untouched", "changed", "gone"]


@dataclass(frozen=True, slots=True)
class DraftSpec:
    """A draft to put in the owner's mailbox. `key` is the idempotency key.

    The key travels with the draft (header ``X-Syncd-Key`` and a Message-ID derived from
    it), so that `find_draft` recognises it after a crash. Every text field may contain
    anything a contact's name or a subject can hold; sinks must never let CR or LF in a
    field start a new header.
    """

    key: str
    from_name: str
    from_address: str
    to_name: str | None
    to_address: str
    subject: str
    body: str
    date: datetime
    in_reply_to: str | None = None  # a Message-ID without angle brackets
    references: tuple[str, ...] = ()
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class HoldSpec:
    """A tentative event in the owner's calendar; `key` travels with it (UID, property)."""

    key: str
    summary: str
    description: str
    start: datetime
    end: datetime
    timezone: str  # the owner's zone, for display


@dataclass(frozen=True, slots=True)
class Created:
    """What a sink stored: its reference, and a fingerprint of the content as created.

    Comparing the fingerprint later tells whether the user edited (a draft) or moved (a
    hold) the object, so that a withdrawn action removes only what nobody touched.
    """

    ref: str
    fingerprint: str


def object_state(current: str | None, fingerprint: str) -> ObjectState:
    """A created object's state from its current fingerprint (None: it is gone)."""
    if current is None:
        return "gone"
    return "untouched" if current == fingerprint else "changed"


@runtime_checkable
class DraftSink(Protocol):
    def find_draft(self, key: str) -> Created | None: ...

    def create_draft(self, spec: DraftSpec) -> Created: ...

    def draft_state(self, key: str, fingerprint: str) -> ObjectState: ...

    def remove_draft(self, key: str, fingerprint: str) -> bool:
        """Remove the draft if it is still untouched; True if it was removed."""
        ...


@runtime_checkable
class HoldSink(Protocol):
    def find_hold(self, key: str) -> Created | None: ...

    def create_hold(self, spec: HoldSpec) -> Created: ...

    def hold_state(self, key: str, fingerprint: str) -> ObjectState: ...

    def remove_hold(self, key: str, fingerprint: str) -> bool: ...

    def busy(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Busy intervals (aware, UTC) overlapping [start, end) in the owner's calendar."""
        ...


# --- optional abilities: the core asks with isinstance ---------------------------------------


@runtime_checkable
class Closable(Protocol):
    """Holds connections or threads to let go of when the core is done with it."""

    def close(self) -> None: ...


@runtime_checkable
class SizeHinted(Protocol):
    """A `Source` that can say cheaply how many items a full read of a stream will yield
    (for the progress bar); None when it cannot tell."""

    def size_hint(self, stream: StreamInfo) -> int | None: ...


@runtime_checkable
class Waitable(Protocol):
    """A mail `Source` that can wait for new mail (IMAP IDLE) between polls."""

    def can_wait(self) -> bool:
        """Whether `wait_for_change` works now (may connect to find out)."""
        ...

    def wait_for_change(self, timeout: float, cancel: threading.Event | None = None) -> bool:
        """True as soon as something changed (or the wait ended early), False on timeout or
        once `cancel` is set."""
        ...


@runtime_checkable
class RetryAfter(Protocol):
    """An error that carries the server's wish of when to try again (seconds, or None)."""

    retry_after: float | None


def retry_after_of(exc: BaseException) -> float | None:
    """The seconds `exc` says to wait before the next try, if it says any."""
    return exc.retry_after if isinstance(exc, RetryAfter) else None


def close_if_closable(obj: object) -> None:
    """Close `obj` if it holds anything that needs closing."""
    if isinstance(obj, Closable):
        obj.close()


# --- turns: a reading thread that shares the GIL with a storing one -----------------------


class _Turns(threading.local):
    # A default on the class: in a thread that never took turns, reading it is a lookup,
    # not a getattr that fails inside (a third of a microsecond, for each item read).
    pause: Callable[[], None] | None = None


_turns = _Turns()


def take_turn() -> None:
    """Wait for this thread's turn when it reads in turns with another thread
    (syncd/sync/prefetch.py, `Gate`); return at once otherwise. Sources and the classifier
    call it before each item's Python work (splitting a header section, classifying)."""
    pause = _turns.pause
    if pause is not None:
        pause()


@contextmanager
def turns(pause: Callable[[], None]) -> Iterator[None]:
    """Inside, `take_turn` in this thread calls `pause`."""
    _turns.pause = pause
    try:
        yield
    finally:
        _turns.pause = None
