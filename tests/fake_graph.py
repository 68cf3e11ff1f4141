"""The Microsoft Graph part of the fake (tests/fake_microsoft.py): a mailbox and a calendar.

What it keeps as Graph does (API-NOTES section 3):

- mail folders (well-known names ``inbox``, ``sentitems``, ``drafts``, ``archive``, ...,
  and user folders with child folders, found by ``displayName``) and messages with
  their properties, ``internetMessageHeaders`` (returned only when selected, never for
  Sent Items copies, never by delta), ``conversationId``, ``changeKey``;
- message delta per folder: ``$select`` (``id`` always), ``changeType``,
  ``$orderby=receivedDateTime desc``, ``Prefer: odata.maxpagesize`` (default 10, at most
  1,000, answered with ``Preference-Applied``); ``@odata.nextLink`` (``$skiptoken``) on
  every page but the last, which carries ``@odata.deltaLink`` (``$deltatoken``); both
  absolute; a round after a token returns what was created, updated (only the changed
  properties: ``partial_updates``) or removed (``@removed``, also for a move out) since;
  `expire_delta_tokens` makes every token answer 410 ``syncStateNotFound`` (or another
  status and code);
- listing messages with ``$filter`` on ``receivedDateTime`` ranges, ``internetMessageId``
  and ``singleValueExtendedProperties/Any(...)``; ``$top``; ``GET /messages/{id}``,
  ``/$value``;
- drafts: ``POST /messages`` (only ``x-`` names in ``internetMessageHeaders``: else 400
  ``InvalidInternetMessageHeader``), ``createReply`` (threaded: In-Reply-To, References,
  conversationId; ``comment`` and ``message.body`` together are refused; extended
  properties in ``message`` are ignored, as the docs name only POST and PATCH for
  setting them), ``PATCH``, ``DELETE``; ``$expand`` of one extended property;
  `edit_draft` and `send_draft` do what the user does in Outlook;
- events: ``calendarView/delta`` (``startDateTime`` and ``endDateTime`` required on the
  first request and frozen into the token; ``@removed`` for deleted events and for
  changed ones outside the window), ``calendarView``, ``events`` with the extended
  property filter, ``GET /events/{id}``, ``POST /events`` (a repeated ``transactionId``
  gets what `GraphState.transaction_replay` says: the first event, a 400, or a second
  event; the docs do not say), ``DELETE``; ``getSchedule`` (not for personal accounts:
  400).

Settings for the least helpful plausible behaviour where the docs are silent:
`transaction_replay`, `deny_headers` (403 on ``internetMessageHeaders``),
`refuse_delta_orderby` (400 on a first delta with ``$orderby``), `header_page_limit`
(504 on header listings of more than 200 a page).

Where this fake is still more lenient than the documentation:

- throttling ("Microsoft Graph throttling guidance", Outlook service limits): the
  10,000 requests per 10 minutes per app and mailbox and the 150 MB upload per 5
  minutes are not counted; only the 4 concurrent requests are (see fake_microsoft);
- delta query overview: tokens never expire by themselves (only through
  `expire_delta_tokens`), and a round never replays an item already sent;
- "Get single-value extended property" / ``$filter`` on messages: lookups are
  immediately consistent with the write that preceded them (no index delay is modelled);
- permissions reference (``Mail.ReadBasic``): ``internetMessageHeaders`` are returned
  under ``Mail.ReadBasic`` unless `deny_headers` is set (the page does not say);
- message resource: ``bodyPreview`` is the body's first 255 characters as stored, where
  Exchange renders the body (HTML) first;
- OData query parameters: only the ``$filter`` forms syncd sends are understood; others
  get a 400 (stricter), but ``$top`` above 1,000 is silently clamped.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
import secrets
from dataclasses import dataclass, field
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, unquote

from tests.fake_microsoft import Answer, GraphFail, Token

if TYPE_CHECKING:
    from tests.fake_microsoft import FakeMicrosoft

UTC = dt.UTC
MAIL_READ = frozenset({"Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"})
MAIL_FULL = frozenset({"Mail.Read", "Mail.ReadWrite"})
MAIL_WRITE = frozenset({"Mail.ReadWrite"})
CAL_READ = frozenset({"Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite"})
CAL_WRITE = frozenset({"Calendars.ReadWrite"})
WELL_KNOWN = ("inbox", "sentitems", "drafts", "archive", "deleteditems", "junkemail")
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"
MAX_PAGE = 1000
DEFAULT_PAGE = 10
READ_BASIC_FORBIDDEN = frozenset(
    {"body", "bodypreview", "uniquebody", "attachments", "singlevalueextendedproperties"}
)
_ANY = re.compile(
    r"^singleValueExtendedProperties/Any\(\s*(\w+)\s*:\s*\1/id eq '((?:[^']|'')*)'"
    r"\s+and\s+\1/value eq '((?:[^']|'')*)'\s*\)$",
    re.I,
)
_RANGE = re.compile(r"receivedDateTime (ge|gt|le|lt) (\S+)", re.I)
_EQ = re.compile(r"^(\w+) eq '((?:[^']|'')*)'$")


def gtime(value: dt.datetime) -> str:
    """Graph's dateTime form in UTC: 2026-11-22T11:00:00.0000000."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def ztime(value: dt.datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _unq(text: str) -> str:
    return text.replace("''", "'")


def _recipient(addr: str, name: str = "") -> dict[str, Any]:
    return {"emailAddress": {"name": name or addr, "address": addr}}


@dataclass
class Folder:
    id: str
    name: str
    parent: str | None = None


@dataclass
class Message:
    id: str
    folder: str
    props: dict[str, Any]
    headers: list[tuple[str, str]]
    body: str = "Hello."
    ext: dict[str, str] = field(default_factory=dict)
    event_message: bool = False

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class Change:
    seq: int
    folder: str
    id: str
    kind: str  # created | updated | deleted
    changed: tuple[str, ...] = ()


@dataclass
class Event:
    id: str
    props: dict[str, Any]
    start: dt.datetime
    end: dt.datetime
    ext: dict[str, str] = field(default_factory=dict)
    seq: int = 0
    deleted: bool = False


@dataclass
class Round:
    """One delta round: its rows, computed when it starts, and the token it ends with."""

    rows: list[dict[str, Any]]
    token: str


@dataclass
class DeltaToken:
    kind: str  # mail | calendar
    scope: str  # folder id, or "calendar"
    seq: int
    params: dict[str, str]
    window: tuple[dt.datetime, dt.datetime] | None = None


class GraphState:
    def __init__(self, fake: FakeMicrosoft, *, seed: int = 1) -> None:
        self.fake = fake
        self.rng = random.Random(seed)
        self.folders: dict[str, Folder] = {name: Folder(name, name) for name in WELL_KNOWN}
        self.messages: dict[str, Message] = {}
        self.changes: list[Change] = []
        self.events: dict[str, Event] = {}
        self.seq = 0
        self.rounds: dict[str, Round] = {}
        self.tokens: dict[str, DeltaToken] = {}
        self.expired: dict[str, tuple[int, str]] = {}  # token -> (status, code)
        self.transactions: dict[str, str] = {}  # transactionId -> event id
        self.partial_updates = True
        # What a repeated transactionId on POST /events gets. Not documented (the event
        # resource page only says it lets the server avoid redundant POSTs): "first"
        # returns the event made the first time, "error" refuses the repeat with 400,
        # "second" makes another event. The connectors must stay exactly once under all.
        self.transaction_replay = "first"
        # A 403 on every request that selects internetMessageHeaders (a grant that does
        # not cover them); the rest of the mailbox stays readable.
        self.deny_headers = False
        # The first message delta request refused with 400 when it carries $orderby
        # (whether $orderby combines with changeType is not documented).
        self.refuse_delta_orderby = False
        # Listings that select internetMessageHeaders with more than this many messages a
        # page answer 504 (large pages with full payloads risk a gateway timeout: an
        # assumption, not a documented limit).
        self.header_page_limit = 200
        self._n = 0

    # ------------------------------------------------------------------ ids and links

    def _id(self, prefix: str) -> str:
        self._n += 1
        # Seeded, so two fakes seeded alike hand out the same ids.
        tail = "".join(self.rng.choice(_ID_CHARS) for _ in range(16))
        return f"{prefix}{self._n:07d}-{tail}="

    def _bump(self) -> int:
        self.seq += 1
        return self.seq

    @property
    def owner(self) -> str:
        return self.fake.owner

    # ------------------------------------------------------------------ test helpers: mail

    def add_folder(self, name: str, parent: str | None = None) -> str:
        fid = self._id("AAMkFolder")
        self.folders[fid] = Folder(fid, name, parent)
        return fid

    def _folder(self, ref: str) -> Folder:
        folder = self.folders.get(ref) or self.folders.get(ref.lower())
        if folder is None:
            raise GraphFail(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return folder

    def add_message(
        self,
        *,
        folder: str = "inbox",
        sender: tuple[str, str] | str,
        to: list[tuple[str, str] | str] | None = None,
        cc: list[tuple[str, str] | str] | None = None,
        subject: str = "Hello",
        received: dt.datetime,
        message_id: str | None = None,
        headers: list[tuple[str, str]] | dict[str, str] | None = None,
        conversation_id: str | None = None,
        event_message: bool = False,
        draft: bool = False,
        body: str = "Hello.",
    ) -> str:
        def rec(p: tuple[str, str] | str) -> dict[str, Any]:
            return _recipient(p[1], p[0]) if isinstance(p, tuple) else _recipient(p)

        mid = self._id("AAMkAGI2")
        extra = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        internet_id = message_id or f"<{secrets.token_hex(8)}@fake.example>"
        conv = conversation_id or self._conversation_of(extra) or self._id("AAQkConv")
        frm = rec(sender)
        tos = [rec(p) for p in (to if to is not None else [self.owner])]
        ccs = [rec(p) for p in cc or []]
        props = {
            "internetMessageId": internet_id,
            "conversationId": conv,
            "subject": subject,
            "from": frm,
            "sender": frm,
            "toRecipients": tos,
            "ccRecipients": ccs,
            "bccRecipients": [],
            "replyTo": [],
            "receivedDateTime": ztime(received),
            "sentDateTime": ztime(received - dt.timedelta(seconds=5)),
            "isDraft": draft,
            "isRead": False,
            "changeKey": secrets.token_urlsafe(8),
            "createdDateTime": ztime(received),
            "lastModifiedDateTime": ztime(received),
        }
        transport = [
            (
                "Received",
                "from mail.fake.example by fake.outlook.example; " + format_datetime(received),
            ),
            ("From", formataddr((frm["emailAddress"]["name"], frm["emailAddress"]["address"]))),
            ("Subject", subject),
            ("Message-ID", internet_id),
            ("DKIM-Signature", "v=1; a=rsa-sha256; d=fake.example; s=x; b=" + "A" * 40),
            ("Content-Type", "text/plain; charset=utf-8"),
            *extra,
        ]
        msg = Message(
            mid, self._folder(folder).id, props, transport, body, event_message=event_message
        )
        self.messages[mid] = msg
        self.changes.append(Change(self._bump(), msg.folder, mid, "created"))
        return mid

    def _conversation_of(self, headers: list[tuple[str, str]]) -> str | None:
        refs = " ".join(v for k, v in headers if k.lower() in ("in-reply-to", "references"))
        for ref in re.findall(r"<[^<>]+>", refs):
            for m in self.messages.values():
                if m.props["internetMessageId"] == ref:
                    return str(m.props["conversationId"])
        return None

    def mark_read(self, mid: str) -> None:
        msg = self.messages[mid]
        msg.props["isRead"] = True
        msg.props["changeKey"] = secrets.token_urlsafe(8)
        self.changes.append(Change(self._bump(), msg.folder, mid, "updated", ("isRead",)))

    def move(self, mid: str, folder: str) -> None:
        msg = self.messages[mid]
        self.changes.append(Change(self._bump(), msg.folder, mid, "deleted"))
        msg.folder = self._folder(folder).id
        self.changes.append(Change(self._bump(), msg.folder, mid, "created"))

    def delete_message(self, mid: str) -> None:
        msg = self.messages.pop(mid)
        self.changes.append(Change(self._bump(), msg.folder, mid, "deleted"))

    def drafts(self) -> list[Message]:
        return [m for m in self.messages.values() if m.folder == "drafts"]

    def edit_draft(self, mid: str, body: str = "Edited.") -> None:
        msg = self.messages[mid]
        msg.body = body
        msg.props["changeKey"] = secrets.token_urlsafe(8)
        self.changes.append(Change(self._bump(), msg.folder, mid, "updated", ("body",)))

    def send_draft(self, mid: str) -> None:
        """The user presses Send: the draft becomes a message in Sent Items."""
        msg = self.messages[mid]
        msg.props["isDraft"] = False
        msg.props["sentDateTime"] = msg.props["receivedDateTime"] = ztime(dt.datetime.now(UTC))
        self.move(mid, "sentitems")

    def expire_delta_tokens(self, status: int = 410, code: str = "syncStateNotFound") -> None:
        """Every delta and skip token handed out so far is evicted."""
        for token in [*self.tokens, *self.rounds]:
            self.expired[token] = (status, code)

    # ------------------------------------------------------------------ test helpers: events

    def add_event(
        self,
        subject: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        attendees: list[tuple[str, str]] = (),  # type: ignore[assignment]
        organizer: str | None = None,
        response: str | None = None,
        show_as: str = "busy",
        all_day: bool = False,
        series: int = 0,
        every: dt.timedelta = dt.timedelta(days=7),
        uid: str | None = None,
    ) -> list[str]:
        """An event (or `series` weekly instances); the owner attends it.

        `attendees` are (address, response) pairs, the owner among them or not;
        `response` is the owner's own (organizer when the owner organises it).
        """
        organizer = organizer or self.owner
        is_org = organizer.lower() == self.owner.lower()
        own = response or ("organizer" if is_org else "accepted")
        ids = []
        master = self._id("AAMkEvSeries") if series else None
        base_uid = uid or "040000008200E00074C5B7101A82E008" + f"{self.rng.getrandbits(128):032X}"
        for i in range(max(1, series)):
            s, e = start + every * i, end + every * i
            eid = self._id("AAMkEv")
            props: dict[str, Any] = {
                "subject": subject,
                "isAllDay": all_day,
                "showAs": show_as,
                "isCancelled": False,
                "isOrganizer": is_org,
                "organizer": _recipient(organizer),
                "responseStatus": {"response": own, "time": "0001-01-01T00:00:00Z"},
                "attendees": [
                    {
                        "type": "required",
                        "status": {"response": r, "time": "0001-01-01T00:00:00Z"},
                        "emailAddress": {"name": a, "address": a},
                    }
                    for a, r in attendees
                ],
                "iCalUId": base_uid + (f"{i:04d}" if series else ""),
                "type": "occurrence" if series else "singleInstance",
                "changeKey": secrets.token_urlsafe(8),
            }
            if master:
                props["seriesMasterId"] = master
                props["originalStart"] = ztime(s)
            self.events[eid] = Event(eid, props, s, e, seq=self._bump())
            ids.append(eid)
        return ids

    def cancel_event(self, eid: str) -> None:
        ev = self.events[eid]
        ev.props["isCancelled"] = True
        ev.seq = self._bump()

    def delete_event(self, eid: str) -> None:
        ev = self.events[eid]
        ev.deleted = True
        ev.seq = self._bump()

    def move_event(self, eid: str, start: dt.datetime, end: dt.datetime) -> None:
        ev = self.events[eid]
        ev.start, ev.end = start, end
        ev.props["changeKey"] = secrets.token_urlsafe(8)
        ev.seq = self._bump()

    def holds(self) -> list[Event]:
        return [e for e in self.events.values() if not e.deleted and "transactionId" in e.props]

    # ------------------------------------------------------------------ dispatch

    _ROUTES: ClassVar[list[tuple[str, str, str]]] = [
        ("GET", r"/mailFolders/([^/]+)/messages/delta", "graph.messages.delta"),
        ("GET", r"/mailFolders/([^/]+)/messages", "graph.messages.list"),
        ("GET", r"/mailFolders/([^/]+)/childFolders", "graph.folders.children"),
        ("GET", r"/mailFolders", "graph.folders.list"),
        ("GET", r"/messages", "graph.messages.list"),
        ("POST", r"/messages", "graph.messages.create"),
        ("GET", r"/messages/([^/]+)/\$value", "graph.messages.mime"),
        ("POST", r"/messages/([^/]+)/createReply", "graph.messages.createReply"),
        ("GET", r"/messages/([^/]+)", "graph.messages.get"),
        ("PATCH", r"/messages/([^/]+)", "graph.messages.update"),
        ("DELETE", r"/messages/([^/]+)", "graph.messages.delete"),
        ("GET", r"/calendarView/delta", "graph.calendarView.delta"),
        ("GET", r"/calendarView", "graph.calendarView"),
        ("GET", r"/events", "graph.events.list"),
        ("GET", r"/events/([^/]+)", "graph.events.get"),
        ("POST", r"/events", "graph.events.create"),
        ("POST", r"/calendar/events", "graph.events.create"),
        ("DELETE", r"/events/([^/]+)", "graph.events.delete"),
        ("POST", r"/calendar/getSchedule", "graph.getSchedule"),
    ]

    def _split(self, path: str) -> tuple[str, str, str] | None:
        """(mailbox prefix as requested, its user, the rest) of a Graph path."""
        m = re.match(r"^(/me|/users/([^/]+))(/.*)?$", path)
        if m is None:
            return None
        user = unquote(m.group(2)) if m.group(2) else "me"
        return m.group(1), user, m.group(3) or ""

    def route_name(self, method: str, path: str) -> str:
        found = self._match(method, path)
        return found[0] if found else "graph.unknown"

    def _match(self, method: str, path: str) -> tuple[str, list[str], str, str] | None:
        split = self._split(path)
        if split is None:
            return None
        prefix, user, rest = split
        for verb, pattern, name in self._ROUTES:
            m = re.fullmatch(pattern, rest)
            if m and verb == method:
                return name, [unquote(g) for g in m.groups()], prefix, user
        return None

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        token: Token,
    ) -> Answer:
        found = self._match(method, path)
        if found is None:
            raise GraphFail(400, "BadRequest", f"Resource not found for the segment in {path}.")
        name, args, prefix, user = found
        if user == "me" and token.app_only:
            raise GraphFail(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
        if user != "me" and user.lower() != self.owner.lower():
            raise GraphFail(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        q = {k: v[-1] for k, v in query.items()}
        call = _Call(name, args, prefix, q, headers, body, token, self.fake.url + "/v1.0" + prefix)
        handler = getattr(self, "_" + name.split(".", 1)[1].replace(".", "_"))
        result: Answer = handler(call)
        return result

    # ------------------------------------------------------------------ permissions

    def _need(self, call: _Call, allowed: frozenset[str]) -> None:
        if not call.token.scopes & allowed:
            raise GraphFail(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    def _check_select(self, call: _Call, select: list[str]) -> None:
        basic_only = not call.token.scopes & (MAIL_FULL | {"Mail.ReadWrite"})
        wants = {s.lower() for s in select}
        if "$expand" in call.q:
            wants.add("singlevalueextendedproperties")
        if basic_only and wants & READ_BASIC_FORBIDDEN:
            raise GraphFail(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    # ------------------------------------------------------------------ message JSON

    def message_json(
        self, msg: Message, select: list[str] | None, *, delta: bool = False
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "@odata.etag": 'W/"' + str(msg.props["changeKey"]) + '"',
            "id": msg.id,
        }
        if msg.event_message:
            doc["@odata.type"] = "#microsoft.graph.eventMessage"
        names = select or [*msg.props, "body", "bodyPreview", "parentFolderId"]
        for name in names:
            if name in ("id", ""):
                continue
            if name == "internetMessageHeaders":
                if not delta and msg.folder != "sentitems":
                    doc[name] = [{"name": k, "value": v} for k, v in msg.headers]
                continue
            if name == "body":
                doc[name] = {"contentType": "text", "content": msg.body}
            elif name == "bodyPreview":
                doc[name] = msg.body[:255]
            elif name == "parentFolderId":
                doc[name] = msg.folder
            elif name in msg.props:
                doc[name] = copy.deepcopy(msg.props[name])
        return doc

    def _select(self, call: _Call) -> list[str] | None:
        raw = call.q.get("$select")
        return [s.strip() for s in raw.split(",") if s.strip()] if raw else None

    def _page_size(self, call: _Call) -> int:
        m = re.search(r"odata\.maxpagesize=(\d+)", call.headers.get("prefer", ""))
        size = int(m.group(1)) if m else DEFAULT_PAGE
        top = call.q.get("$top")
        if top and top.isdigit():
            size = int(top) if not m else min(size, int(top))
        return max(1, min(size, MAX_PAGE))

    def _paged(self, call: _Call, rows: list[dict[str, Any]], link_path: str) -> Answer:
        """A listing (not delta) page with an absolute nextLink."""
        size = self._page_size(call)
        start = int(call.q.get("$skip", "0") or 0)
        page = rows[start : start + size]
        doc: dict[str, Any] = {"@odata.context": f"{self.fake.url}/v1.0/$metadata", "value": page}
        if start + size < len(rows):
            params = {k: v for k, v in call.q.items() if k != "$skip"}
            params["$skip"] = str(start + size)
            doc["@odata.nextLink"] = call.base + link_path + "?" + _qs(params)
        return Answer.json(200, doc, {"Preference-Applied": f"odata.maxpagesize={size}"})

    # ------------------------------------------------------------------ delta rounds

    def _delta_page(self, call: _Call, link_path: str, start_round: Any) -> Answer:
        """Follow a round: $skiptoken pages of a computed round, $deltatoken starts one."""
        skip, delta = call.q.get("$skiptoken"), call.q.get("$deltatoken")
        for token in (skip.partition(".")[0] if skip else None, delta):
            if token is not None and token in self.expired:
                status, code = self.expired[token]
                raise GraphFail(status, code, "The sync state was not found; resync is required.")
        size = self._page_size(call)
        if skip is not None:
            rid, _, offset = skip.partition(".")
            rnd = self.rounds.get(rid)
            if rnd is None:
                raise GraphFail(410, "syncStateNotFound", "The sync state was not found.")
            start = int(offset or 0)
        else:
            rid = secrets.token_hex(8)
            rnd = start_round(delta)
            self.rounds[rid] = rnd
            start = 0
        page = rnd.rows[start : start + size]
        doc: dict[str, Any] = {"@odata.context": f"{self.fake.url}/v1.0/$metadata", "value": page}
        if start + size < len(rnd.rows):
            doc["@odata.nextLink"] = f"{call.base}{link_path}?$skiptoken={rid}.{start + size}"
        else:
            doc["@odata.deltaLink"] = f"{call.base}{link_path}?$deltatoken={rnd.token}"
        return Answer.json(200, doc, {"Preference-Applied": f"odata.maxpagesize={size}"})

    def _messages_delta(self, call: _Call) -> Answer:
        self._need(call, MAIL_READ)
        folder = self._folder(call.args[0])
        link_path = f"/mailFolders/{quote(call.args[0], safe='')}/messages/delta"

        def start_round(delta: str | None) -> Round:
            if delta is not None:
                tok = self.tokens.get(delta)
                if tok is None or tok.kind != "mail" or tok.scope != folder.id:
                    raise GraphFail(410, "syncStateNotFound", "The sync state was not found.")
                params = tok.params
                rows = self._mail_changes(folder.id, tok.seq, params)
            else:
                params = {
                    k: v for k, v in call.q.items() if k in ("$select", "changeType", "$orderby")
                }
                self._check_select(call, (params.get("$select") or "").split(","))
                msgs = [m for m in self.messages.values() if m.folder == folder.id]
                if params.get("$orderby"):
                    if self.refuse_delta_orderby:
                        raise GraphFail(
                            400, "ErrorInvalidUrlQuery", "$orderby is not supported with delta."
                        )
                    if params["$orderby"].replace("+", " ") != "receivedDateTime desc":
                        raise GraphFail(
                            400, "ErrorInvalidUrlQuery", "Only receivedDateTime desc is supported."
                        )
                    msgs.sort(key=lambda m: str(m.props["receivedDateTime"]), reverse=True)
                select = _split_select(params.get("$select"))
                ct = params.get("changeType")
                rows = (
                    []
                    if ct in ("updated", "deleted")
                    else [self.message_json(m, select, delta=True) for m in msgs]
                )
            token = secrets.token_hex(10)
            self.tokens[token] = DeltaToken("mail", folder.id, self.seq, params)
            return Round(rows, token)

        return self._delta_page(call, link_path, start_round)

    def _mail_changes(
        self, folder: str, since: int, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        select = _split_select(params.get("$select"))
        ct = params.get("changeType")
        latest: dict[str, Change] = {}
        for ch in self.changes:
            if ch.folder == folder and ch.seq > since:
                prev = latest.get(ch.id)
                if prev is not None and prev.kind == "created" and ch.kind == "updated":
                    continue  # created in this round: returned whole
                latest[ch.id] = ch
        rows: list[dict[str, Any]] = []
        for ch in sorted(latest.values(), key=lambda c: c.seq):
            msg = self.messages.get(ch.id)
            gone = msg is None or msg.folder != folder
            if gone or ch.kind == "deleted":
                if ct in (None, "deleted") and (gone or ch.kind == "deleted"):
                    rows.append(
                        {
                            "@odata.type": "#microsoft.graph.message",
                            "id": ch.id,
                            "@removed": {"reason": "deleted"},
                        }
                    )
                continue
            assert msg is not None
            if ch.kind == "created" and ct in (None, "created"):
                rows.append(self.message_json(msg, select, delta=True))
            elif ch.kind == "updated" and ct in (None, "updated"):
                if self.partial_updates:
                    doc = {"@odata.etag": 'W/"x"', "id": msg.id}
                    for name in ch.changed:
                        if name in msg.props:
                            doc[name] = msg.props[name]
                    rows.append(doc)
                else:
                    rows.append(self.message_json(msg, select, delta=True))
        return rows

    # ------------------------------------------------------------------ mail routes

    def _messages_list(self, call: _Call) -> Answer:
        self._need(call, MAIL_READ)
        folder = self._folder(call.args[0]).id if call.args else None
        select = self._select(call)
        self._check_select(call, select or [])
        msgs = [m for m in self.messages.values() if folder is None or m.folder == folder]
        flt = call.q.get("$filter")
        if flt:
            msgs = self._filter_messages(call, msgs, flt)
        msgs.sort(key=lambda m: str(m.props["receivedDateTime"]), reverse=True)
        self._headers_allowed(call, select, page=self._page_size(call))
        link = f"/mailFolders/{quote(call.args[0], safe='')}/messages" if call.args else "/messages"
        rows = [self._expanded(call, m, self.message_json(m, select)) for m in msgs]
        return self._paged(call, rows, link)

    def _headers_allowed(self, call: _Call, select: list[str] | None, *, page: int = 1) -> None:
        if "internetMessageHeaders" not in (select or []):
            return
        if self.deny_headers:
            raise GraphFail(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        if page > self.header_page_limit:
            raise GraphFail(504, "GatewayTimeout", "The gateway did not receive a response.")

    def _expanded(self, call: _Call, msg: Message, doc: dict[str, Any]) -> dict[str, Any]:
        """``$expand=singleValueExtendedProperties($filter=id eq '...')``: the property when
        the message has it, nothing otherwise."""
        raw = call.q.get("$expand")
        if not raw:
            return doc
        m = re.fullmatch(r"singleValueExtendedProperties\(\$filter=id eq '((?:[^']|'')*)'\)", raw)
        if m is None:
            raise GraphFail(400, "BadRequest", f"Unsupported $expand: {raw}")
        pid = _unq(m.group(1))
        found = [{"id": k, "value": v} for k, v in msg.ext.items() if k.lower() == pid.lower()]
        if found:
            doc["singleValueExtendedProperties"] = found
        return doc

    def _filter_messages(self, call: _Call, msgs: list[Message], flt: str) -> list[Message]:
        m = _ANY.match(flt.strip())
        if m:
            self._need(call, MAIL_FULL)
            pid, value = _unq(m.group(2)), _unq(m.group(3))
            return [x for x in msgs if x.ext.get(pid, "").lower() == value.lower()]
        m = _EQ.match(flt.strip())
        if m and m.group(1) in ("internetMessageId", "conversationId", "subject"):
            value = _unq(m.group(2))
            return [x for x in msgs if str(x.props.get(m.group(1))) == value]
        ranges = _RANGE.findall(flt)
        if ranges and re.fullmatch(
            r"(receivedDateTime (ge|gt|le|lt) \S+)( and receivedDateTime (ge|gt|le|lt) \S+)*",
            flt.strip(),
            re.I,
        ):
            out = msgs
            for op, value in ranges:
                bound = parse_time(value)
                out = [
                    x for x in out if _cmp(parse_time(str(x.props["receivedDateTime"])), op, bound)
                ]
            return out
        raise GraphFail(
            400,
            "ErrorInvalidUrlQueryFilter",
            f"The query filter contains one or more invalid nodes: {flt}",
        )

    def _messages_get(self, call: _Call) -> Answer:
        self._need(call, MAIL_READ)
        msg = self._message(call.args[0])
        select = self._select(call)
        self._check_select(call, select or ["body"])
        self._headers_allowed(call, select)
        return Answer.json(200, self._expanded(call, msg, self.message_json(msg, select)))

    def _messages_mime(self, call: _Call) -> Answer:
        self._need(call, MAIL_FULL)
        msg = self._message(call.args[0])
        head = "".join(f"{k}: {v}\r\n" for k, v in msg.headers if k != "Received")
        return Answer(
            (200), (head + "\r\n" + msg.body + "\r\n").encode(), {"Content-Type": "text/plain"}
        )

    def _message(self, mid: str) -> Message:
        msg = self.messages.get(mid)
        if msg is None:
            raise GraphFail(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return msg

    def _folders_list(self, call: _Call) -> Answer:
        self._need(call, MAIL_READ)
        return self._folders(call, None)

    def _folders_children(self, call: _Call) -> Answer:
        self._need(call, MAIL_READ)
        parent = self._folder(call.args[0]).id
        return self._folders(call, parent)

    def _folders(self, call: _Call, parent: str | None) -> Answer:
        found = [f for f in self.folders.values() if f.parent == parent]
        flt = call.q.get("$filter")
        if flt:
            m = _EQ.match(flt.strip())
            if not m or m.group(1) != "displayName":
                raise GraphFail(400, "ErrorInvalidUrlQueryFilter", "Unsupported filter.")
            found = [f for f in found if f.name.lower() == _unq(m.group(2)).lower()]
        rows = [{"id": f.id, "displayName": f.name, "parentFolderId": f.parent} for f in found]
        return self._paged(call, rows, "/mailFolders")

    def _messages_create(self, call: _Call) -> Answer:
        self._need(call, MAIL_WRITE)
        doc = call.json()
        headers = []
        for h in doc.get("internetMessageHeaders") or []:
            name = str(h.get("name", ""))
            if not name.lower().startswith("x-"):
                raise GraphFail(
                    400,
                    "InvalidInternetMessageHeader",
                    f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
                )
            headers.append((name, str(h.get("value", ""))))
        to = doc.get("toRecipients") or []
        mid = self.add_message(
            folder="drafts",
            sender=self.owner,
            to=[(r["emailAddress"].get("name", ""), r["emailAddress"]["address"]) for r in to],
            subject=str(doc.get("subject") or ""),
            received=dt.datetime.now(UTC),
            headers=headers,
            draft=True,
            body=str((doc.get("body") or {}).get("content") or ""),
        )
        msg = self.messages[mid]
        self._ext(msg.ext, doc)
        return Answer.json(201, self.message_json(msg, None))

    def _messages_createReply(self, call: _Call) -> Answer:
        self._need(call, MAIL_WRITE)
        original = self._message(call.args[0])
        doc = call.json() if call.body else {}
        message = doc.get("message") or {}
        if doc.get("comment") is not None and (message.get("body") or {}).get("content"):
            raise GraphFail(
                400,
                "ErrorInvalidRequest",
                "Specify either a comment or the body of the message, not both.",
            )
        to = message.get("toRecipients") or [original.props["from"]]
        refs = " ".join(
            filter(None, [original.header("References"), original.props["internetMessageId"]])
        )
        subject = str(original.props["subject"])
        mid = self.add_message(
            folder="drafts",
            sender=self.owner,
            to=[(r["emailAddress"].get("name", ""), r["emailAddress"]["address"]) for r in to],
            subject=subject if subject.lower().startswith("re:") else "RE: " + subject,
            received=dt.datetime.now(UTC),
            headers=[("In-Reply-To", original.props["internetMessageId"]), ("References", refs)],
            conversation_id=str(original.props["conversationId"]),
            draft=True,
            body=str(doc.get("comment") or "") + "\n\n> " + original.body,
        )
        msg = self.messages[mid]
        # message.singleValueExtendedProperties is ignored: the extended-property pages
        # ("Create single-value extended property") name POST /messages, POST
        # /mailFolders/{id}/messages and PATCH, not createReply.
        return Answer.json(201, self.message_json(msg, None))

    def _ext(self, store: dict[str, str], doc: dict[str, Any]) -> None:
        for p in doc.get("singleValueExtendedProperties") or []:
            pid, value = str(p.get("id", "")), p.get("value")
            if not re.match(r"^String \{[0-9a-fA-F-]{36}\} Name \S+$", pid):
                raise GraphFail(
                    400, "ErrorInvalidProperty", f"Invalid extended property id '{pid}'."
                )
            store[pid] = str(value)

    def _messages_update(self, call: _Call) -> Answer:
        self._need(call, MAIL_WRITE)
        msg = self._message(call.args[0])
        doc = call.json()
        for k in ("subject", "toRecipients", "ccRecipients"):
            if k in doc:
                msg.props[k] = doc[k]
        if "body" in doc:
            msg.body = str(doc["body"].get("content", ""))
        self._ext(msg.ext, doc)
        msg.props["changeKey"] = secrets.token_urlsafe(8)
        self.changes.append(Change(self._bump(), msg.folder, msg.id, "updated", tuple(doc)))
        return Answer.json(200, self.message_json(msg, None))

    def _messages_delete(self, call: _Call) -> Answer:
        self._need(call, MAIL_WRITE)
        self._message(call.args[0])
        self.delete_message(call.args[0])
        return Answer(204)

    # ------------------------------------------------------------------ events

    def event_json(self, ev: Event, select: list[str] | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"@odata.etag": 'W/"' + str(ev.props["changeKey"]) + '"', "id": ev.id}
        full = {
            **ev.props,
            "start": {"dateTime": gtime(ev.start), "timeZone": "UTC"},
            "end": {"dateTime": gtime(ev.end), "timeZone": "UTC"},
        }
        for name, value in full.items():
            if select is None or name in select:
                doc[name] = copy.deepcopy(value)
        return doc

    def _window(self, call: _Call) -> tuple[dt.datetime, dt.datetime]:
        try:
            return parse_time(call.q["startDateTime"]), parse_time(call.q["endDateTime"])
        except (KeyError, ValueError):
            raise GraphFail(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
            ) from None

    def _calendarView_delta(self, call: _Call) -> Answer:
        self._need(call, CAL_READ)
        for bad in ("$select", "$filter", "$orderby", "$expand", "$search"):
            if bad in call.q:
                raise GraphFail(
                    400,
                    "ErrorInvalidUrlQuery",
                    f"The query parameter '{bad}' is not supported with change tracking over the 'Events' resource.",
                )

        def start_round(delta: str | None) -> Round:
            if delta is not None:
                tok = self.tokens.get(delta)
                if tok is None or tok.kind != "calendar" or tok.window is None:
                    raise GraphFail(410, "syncStateNotFound", "The sync state was not found.")
                window, rows = tok.window, self._event_changes(tok.seq, tok.window)
            else:
                window = self._window(call)
                rows = [
                    self.event_json(e)
                    for e in sorted(self.events.values(), key=lambda e: e.start)
                    if not e.deleted and _overlaps(e, window)
                ]
            token = secrets.token_hex(10)
            self.tokens[token] = DeltaToken("calendar", "calendar", self.seq, {}, window)
            return Round(rows, token)

        return self._delta_page(call, "/calendarView/delta", start_round)

    def _event_changes(
        self, since: int, window: tuple[dt.datetime, dt.datetime]
    ) -> list[dict[str, Any]]:
        rows = []
        for e in sorted(self.events.values(), key=lambda e: e.seq):
            if e.seq <= since:
                continue
            if e.deleted or not _overlaps(e, window):
                rows.append(
                    {
                        "@odata.type": "#microsoft.graph.event",
                        "id": e.id,
                        "@removed": {"reason": "deleted"},
                    }
                )
            else:
                rows.append(self.event_json(e))
        return rows

    def _calendarView(self, call: _Call) -> Answer:
        self._need(call, CAL_READ)
        window = self._window(call)
        select = self._select(call)
        rows = [
            self.event_json(e, select)
            for e in sorted(self.events.values(), key=lambda e: e.start)
            if not e.deleted and _overlaps(e, window)
        ]
        return self._paged(call, rows, "/calendarView")

    def _events_list(self, call: _Call) -> Answer:
        self._need(call, CAL_READ)
        evs = [e for e in self.events.values() if not e.deleted]
        flt = call.q.get("$filter")
        if flt:
            m = _ANY.match(flt.strip())
            if not m:
                raise GraphFail(400, "ErrorInvalidUrlQueryFilter", f"Unsupported filter: {flt}")
            pid, value = _unq(m.group(2)), _unq(m.group(3))
            evs = [e for e in evs if e.ext.get(pid, "").lower() == value.lower()]
        return self._paged(call, [self.event_json(e, self._select(call)) for e in evs], "/events")

    def _events_get(self, call: _Call) -> Answer:
        self._need(call, CAL_READ)
        ev = self.events.get(call.args[0])
        if ev is None or ev.deleted:
            raise GraphFail(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return Answer.json(200, self.event_json(ev, self._select(call)))

    def _events_create(self, call: _Call) -> Answer:
        self._need(call, CAL_WRITE)
        doc = call.json()
        tid = doc.get("transactionId")
        if tid and tid in self.transactions:
            if self.transaction_replay == "first":
                return Answer.json(201, self.event_json(self.events[self.transactions[tid]]))
            if self.transaction_replay == "error":
                raise GraphFail(
                    400, "ErrorDuplicateTransactionId", "The transactionId was used before."
                )
        try:
            start, end = _dtz(doc["start"]), _dtz(doc["end"])
        except (KeyError, ValueError) as exc:
            raise GraphFail(400, "ErrorInvalidRequest", f"Invalid start or end: {exc}") from None
        [eid] = self.add_event(
            str(doc.get("subject") or ""),
            start,
            end,
            attendees=[(a["emailAddress"]["address"], "none") for a in doc.get("attendees") or []],
            show_as=str(doc.get("showAs") or "busy"),
        )
        ev = self.events[eid]
        ev.props["isReminderOn"] = bool(doc.get("isReminderOn", True))
        ev.props["body"] = doc.get("body") or {}
        if tid:
            ev.props["transactionId"] = tid
            self.transactions[tid] = eid
        self._ext(ev.ext, doc)
        return Answer.json(201, self.event_json(ev))

    def _events_delete(self, call: _Call) -> Answer:
        self._need(call, CAL_WRITE)
        ev = self.events.get(call.args[0])
        if ev is None or ev.deleted:
            raise GraphFail(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        self.delete_event(ev.id)
        return Answer(204)

    def _getSchedule(self, call: _Call) -> Answer:
        self._need(call, CAL_READ)
        if self.fake.personal:
            raise GraphFail(
                400,
                "ErrorInvalidRequest",
                "getSchedule is not supported for personal Microsoft accounts.",
            )
        doc = call.json()
        try:
            window = (_dtz(doc["startTime"]), _dtz(doc["endTime"]))
        except (KeyError, ValueError):
            raise GraphFail(
                400, "ErrorInvalidRequest", "startTime and endTime are required."
            ) from None
        out = []
        for addr in doc.get("schedules") or []:
            if addr.lower() != self.owner.lower():
                out.append(
                    {
                        "scheduleId": addr,
                        "error": {
                            "message": "The user is not found.",
                            "responseCode": "ErrorMailRecipientNotFound",
                        },
                    }
                )
                continue
            items = [
                {
                    "isPrivate": False,
                    "status": e.props["showAs"],
                    "subject": e.props["subject"],
                    "start": {"dateTime": gtime(e.start), "timeZone": "UTC"},
                    "end": {"dateTime": gtime(e.end), "timeZone": "UTC"},
                }
                for e in sorted(self.events.values(), key=lambda e: e.start)
                if not e.deleted
                and not e.props["isCancelled"]
                and _overlaps(e, window)
                and e.props["showAs"] != "free"
            ]
            out.append(
                {
                    "scheduleId": addr,
                    "availabilityView": "",
                    "scheduleItems": items,
                    "workingHours": {},
                }
            )
        return Answer.json(200, {"value": out})


@dataclass
class _Call:
    name: str
    args: list[str]
    prefix: str
    q: dict[str, str]
    headers: dict[str, str]
    body: bytes
    token: Token
    base: str  # absolute URL up to the mailbox prefix, for links

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise GraphFail(400, "BadRequest", "Unable to read JSON request payload.") from None


def _split_select(raw: str | None) -> list[str] | None:
    return [s.strip() for s in raw.split(",") if s.strip()] if raw else None


def _qs(params: dict[str, str]) -> str:
    return "&".join(f"{k}={quote(v, safe=',$')}" for k, v in params.items())


def _cmp(a: dt.datetime, op: str, b: dt.datetime) -> bool:
    return {"ge": a >= b, "gt": a > b, "le": a <= b, "lt": a < b}[op.lower()]


def _overlaps(e: Event, window: tuple[dt.datetime, dt.datetime]) -> bool:
    return e.start < window[1] and e.end > window[0]


def _dtz(value: dict[str, Any]) -> dt.datetime:
    from zoneinfo import ZoneInfo

    parsed = dt.datetime.fromisoformat(str(value["dateTime"]))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(str(value.get("timeZone") or "UTC")))
    return parsed.astimezone(UTC)
