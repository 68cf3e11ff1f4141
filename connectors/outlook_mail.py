"""Outlook / Microsoft 365 mail (Microsoft Graph v1.0) as a mail source and a draft sink.

Streams: ``inbox`` and ``sentitems`` (Graph's well-known folder names) and the folders
configured besides them (a well-known name such as ``archive``, or a display name, with
``/`` between a parent and a child folder). Each folder is tracked on its own with a
delta query; the cursor is ``{"v": 1, "link": <@odata.nextLink or @odata.deltaLink>}``
(plus ``"full": true`` while a first read is under way, so a crash resumes it).

- **Delta**: ``GET {mailbox}/mailFolders/{folder}/messages/delta`` with ``$select`` of
  only the properties the classifier reads (addresses, subject, dates, Internet
  Message-ID, conversationId), ``changeType=created`` (read flags and other updates
  change nothing syncd keeps; a message moved into the folder counts as created),
  ``$orderby=receivedDateTime desc`` (newest first, so a first read reaches the
  look-back window's end early and the header fields of a page lie in one time range),
  and ``Prefer: odata.maxpagesize`` (1,000 by default). The links are followed verbatim
  until ``@odata.deltaLink``; each page is stored with the link that comes after it. A
  410, or a 4xx whose code names the sync state (``syncStateNotFound``,
  ``resyncRequired``, ``syncStateInvalid``), raises `CursorExpired`: the core reads the
  folder again and the idempotent ingest stores nothing twice. No ``$filter`` on dates
  (Graph caps a filtered delta at 5,000 messages): messages older than the look-back
  window are passed over. Removals are not reported (an archived message stays part of
  the history), as for IMAP.
- **Header fields** delta cannot return (List-Id, List-Unsubscribe, Auto-Submitted,
  Precedence, In-Reply-To, ...: ``internetMessageHeaders``) are fetched only for
  messages that need them: received mail, not meeting messages (``eventMessage``,
  calendar machinery whatever their headers say) and not Sent Items (Exchange keeps no
  transport headers on those copies; the message's own properties say all). On a first
  read, one listing of the folder over the page's time range returns them for up to
  1,000 messages a request; otherwise (incremental polls, stragglers) JSON batches of 20
  ``GET {mailbox}/messages/{id}?$select=internetMessageHeaders``. A delta row with only
  some properties (an update despite ``changeType``) is read in full the same way.
- ``conversationId`` is `RawMessage.thread_id`; provider ids are Graph message ids.
  Drafts (``isDraft``) are never read as mail.

Drafts (``Mail.ReadWrite``): the key is stored in a single-value extended property of
the message (``String {guid} Name SyncKey``) and, for a new message, also in the header
``X-Syncd-Key``. `find_draft` looks the key up in the Drafts folder with
``$filter=singleValueExtendedProperties/Any(...)``. A reply (a draft whose spec names
the message it answers, as ``no_reply`` drafts do) is made with ``createReply`` on that
message, found by its Internet Message-ID, so Exchange threads it (In-Reply-To,
References, conversationId); the key travels in the same request, so no draft without
a key can exist. Otherwise a new draft is made with ``POST {mailbox}/messages``. A create
whose answer was lost is retried only after the lookup shows it did not happen. The
fingerprint is ``<id>/<changeKey>``: an edit by the user changes the changeKey, sending
or deleting the draft takes it out of Drafts.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import quote

from connectors.base import (
    Batch,
    Created,
    CursorExpired,
    DraftSpec,
    FolderRole,
    ObjectState,
    RawMessage,
    SourceInvalid,
    SourceUnavailable,
    StreamInfo,
)
from connectors.outlook_http import BATCH_LIMIT, BatchRequest, GraphApi, GraphError, odata_quote

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
KEY_HEADER = "X-Syncd-Key"
# The extended property that carries an action key on drafts and holds (a syncd GUID).
KEY_PROPERTY = "String {5b2f8c1e-6d0a-4c1f-9a53-3f0d8e7b6a41} Name SyncKey"
MESSAGE_SELECT = (
    "id",
    "internetMessageId",
    "conversationId",
    "subject",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "receivedDateTime",
    "sentDateTime",
    "isDraft",
    "inferenceClassification",
)
_CORE = ("from", "sender", "toRecipients", "internetMessageId", "receivedDateTime")
EVENT_MESSAGE = "#microsoft.graph.eventMessage"
# Header fields the classifier reads that the message's properties do not carry.
HEADER_NAMES = frozenset(
    {
        "in-reply-to",
        "references",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-post",
        "mailing-list",
        "x-mailing-list",
        "precedence",
        "auto-submitted",
        "x-auto-response-suppress",
        "x-autoreply",
        "x-autorespond",
        "x-autogenerated",
        "content-type",
        "content-class",
        "return-path",
        "x-failed-recipients",
        "x-spam-flag",
        "x-spam-status",
        "x-spam",
        "x-ms-exchange-organization-scl",
        "feedback-id",
        "x-ses-outgoing",
        "x-sg-eid",
        "x-github-reason",
        "x-google-group-id",
        "x-mailman-version",
        "x-beenthere",
        "authentication-results",
        "x-forefront-antispam-report",
        "x-mailer",
        "user-agent",
        "x-cron-env",
    }
)
HEADER_PREFIXES = (
    "x-mailgun-",
    "x-campaign",
    "x-mailchimp",
    "x-mc-user",
    "x-jira",
    "x-atlassian",
    "x-gitlab-",
    "x-sympa",
)
WELL_KNOWN: dict[str, FolderRole] = {
    "inbox": "inbox",
    "sentitems": "sent",
    "archive": "archive",
    "drafts": "drafts",
    "junkemail": "junk",
    "deleteditems": "trash",
}
_SYNC_CODES = ("syncstate", "resync")


@dataclass(frozen=True)
class OutlookMailSettings:
    folders: tuple[str, ...] = ()
    lookback: timedelta = timedelta(days=365)
    page_size: int = 1000  # Prefer: odata.maxpagesize
    items: int = 500  # messages per yielded Batch
    list_threshold: int = 2 * BATCH_LIMIT  # more header fetches than this: list by range


@dataclass(frozen=True, slots=True)
class _Cursor:
    link: str
    full: bool = False

    def dump(self) -> str:
        doc: dict[str, Any] = {"v": CURSOR_VERSION, "link": self.link}
        if self.full:
            doc["full"] = True
        return json.dumps(doc, separators=(",", ":"))


def load_cursor(cursor: str) -> _Cursor:
    try:
        doc = json.loads(cursor)
        if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION or not doc.get("link"):
            raise ValueError("unknown version")
        return _Cursor(str(doc["link"]), bool(doc.get("full")))
    except (ValueError, TypeError) as exc:
        raise CursorExpired(f"unreadable Outlook mail cursor: {exc}") from None


def sync_state_lost(exc: GraphError) -> bool:
    """Graph no longer knows the delta token: 410, or a 4xx naming the sync state."""
    code = exc.code.lower()
    return exc.status == 410 or (400 <= exc.status < 500 and any(c in code for c in _SYNC_CODES))


class OutlookMailSource:
    """A `Source` and `DraftSink` over one Outlook / Microsoft 365 mailbox."""

    def __init__(self, api: GraphApi, settings: OutlookMailSettings | None = None) -> None:
        self.api = api
        self.settings = settings or OutlookMailSettings()
        self._folder_ids: dict[str, str] = {}

    @property
    def _base(self) -> str:
        return self.api.settings.base

    def _prefer(self) -> dict[str, str]:
        return {"Prefer": f"odata.maxpagesize={self.settings.page_size}"}

    # ------------------------------------------------------------------ Source

    def streams(self) -> list[StreamInfo]:
        out = [StreamInfo("inbox", "mail", "inbox"), StreamInfo("sentitems", "mail", "sent")]
        for name in self.settings.folders:
            if name.lower() in ("inbox", "sentitems"):
                continue
            out.append(StreamInfo(name, "mail", WELL_KNOWN.get(name.lower(), "other")))
        return out

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        folder = self._folder_id(stream.name)
        if cursor is None or full:
            state = _Cursor(self._initial_link(folder), full=True)
            params: dict[str, str] | None = {
                "$select": ",".join(MESSAGE_SELECT),
                "changeType": "created",
                "$orderby": "receivedDateTime desc",
            }
            previous: str | None = None
        else:
            state = load_cursor(cursor)
            params, previous = None, cursor
        cutoff = now - self.settings.lookback
        link = state.link
        while True:
            page = self._page(link, params, resumed=previous is not None)
            params = None
            rows = [r for r in page.get("value", []) if "@removed" not in r]
            docs = self._complete_rows(rows, stream)
            docs = [d for d in docs if not d.get("isDraft") and _in_window(d, cutoff)]
            headers = self._header_fields(folder, stream, docs, first_read=state.full)
            items = [parse_message(d, stream, headers.get(str(d["id"]))) for d in docs]
            nxt, delta = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
            if nxt:
                after = _Cursor(str(nxt), state.full)
            elif delta:
                after = _Cursor(str(delta))
            else:
                raise SourceUnavailable(
                    f"Graph: a delta page of {stream.name} without nextLink or deltaLink"
                )
            yield from self._chunks(items, previous, after.dump(), read=len(rows), done=not nxt)
            if not nxt:
                return
            link, previous = after.link, after.dump()

    def _chunks(
        self, items: list[RawMessage], before: str | None, after: str, *, read: int, done: bool
    ) -> Iterator[Batch]:
        """The page's items in batches; only the last carries the cursor after the page."""
        step = self.settings.items
        if len(items) <= step:
            yield Batch(items=items, cursor=after, read=read, done=done)
            return
        for start in range(0, len(items), step):
            last = start + step >= len(items)
            yield Batch(
                items=items[start : start + step],
                cursor=after if last else before,
                read=read if last else 0,
                done=done and last,
            )

    def _initial_link(self, folder: str) -> str:
        return f"{self._base}/mailFolders/{quote(folder, safe='')}/messages/delta"

    def _page(self, link: str, params: dict[str, str] | None, *, resumed: bool) -> dict[str, Any]:
        what = "Graph messages delta"
        try:
            doc = self.api.call(
                "GET", link, what, params=params, headers=self._prefer(), handles=range(400, 500)
            )
        except GraphError as exc:
            if sync_state_lost(exc) and resumed:
                raise CursorExpired(
                    f"Graph no longer knows the delta token ({exc.status} {exc.code});"
                    " the folder is read again"
                ) from None
            raise self.api.failure(exc, what) from None
        return doc if isinstance(doc, dict) else {}

    def _folder_id(self, name: str) -> str:
        """A well-known name as is; a display name (``Parent/Child``) looked up once."""
        if name.lower() in WELL_KNOWN:
            return name.lower()
        if name in self._folder_ids:
            return self._folder_ids[name]
        parent: str | None = None
        for part in [p for p in name.split("/") if p]:
            path = (
                f"{self._base}/mailFolders"
                if parent is None
                else f"{self._base}/mailFolders/{quote(parent, safe='')}/childFolders"
            )
            doc = self.api.call(
                "GET",
                path,
                "Graph mailFolders",
                params={"$filter": f"displayName eq {odata_quote(part)}", "$select": "id"},
            )
            found = (doc or {}).get("value") or []
            if not found:
                raise SourceInvalid(f"Outlook: no mail folder named {name!r}")
            parent = str(found[0]["id"])
        assert parent is not None
        self._folder_ids[name] = parent
        return parent

    # ------------------------------------------------------------------ header fields

    def _complete_rows(
        self, rows: list[dict[str, Any]], stream: StreamInfo
    ) -> list[dict[str, Any]]:
        """Rows with only some properties are read in full (JSON batches)."""
        partial = [r for r in rows if not any(k in r for k in _CORE)]
        if not partial:
            return rows
        select = ",".join(
            (*MESSAGE_SELECT, *(() if stream.role == "sent" else ("internetMessageHeaders",)))
        )
        answers = self.api.batch(
            [
                BatchRequest(str(r["id"]), "GET", self._message_url(str(r["id"]), select))
                for r in partial
            ],
            "Graph messages (full read)",
        )
        partial_ids = {str(r["id"]) for r in partial}
        out: list[dict[str, Any]] = []
        for r in rows:
            if str(r["id"]) in partial_ids:
                a = answers.get(str(r["id"]))
                if a is None or a.status != 200 or not isinstance(a.body, dict):
                    continue  # gone since (404)
                out.append({**r, **a.body})
            else:
                out.append(r)
        return out

    def _message_url(self, mid: str, select: str) -> str:
        return f"{self._base}/messages/{quote(mid, safe='')}?$select={select}"

    def _header_fields(
        self, folder: str, stream: StreamInfo, docs: list[dict[str, Any]], *, first_read: bool
    ) -> dict[str, list[tuple[str, str]]]:
        need = [
            d for d in docs if needs_headers(d, stream.role) and "internetMessageHeaders" not in d
        ]
        found: dict[str, list[tuple[str, str]]] = {
            str(d["id"]): kept_headers(d["internetMessageHeaders"])
            for d in docs
            if isinstance(d.get("internetMessageHeaders"), list)
        }
        if not need:
            return found
        if first_read and len(need) > self.settings.list_threshold:
            found.update(self._list_headers(folder, need))
        rest = [d for d in need if str(d["id"]) not in found]
        if rest:
            answers = self.api.batch(
                [
                    BatchRequest(
                        str(d["id"]),
                        "GET",
                        self._message_url(str(d["id"]), "internetMessageHeaders"),
                    )
                    for d in rest
                ],
                "Graph message headers",
            )
            for d in rest:
                a = answers.get(str(d["id"]))
                if a is not None and a.status == 200 and isinstance(a.body, dict):
                    found[str(d["id"])] = kept_headers(a.body.get("internetMessageHeaders") or [])
        return found

    def _list_headers(
        self, folder: str, need: list[dict[str, Any]]
    ) -> dict[str, list[tuple[str, str]]]:
        """The header fields of a time range of the folder, 1,000 messages a request.

        Bounded: it stops when every message needed was seen, or after as many pages as
        the messages needed fill plus one (the rest go to JSON batches).
        """
        stamps = sorted(str(d["receivedDateTime"]) for d in need if d.get("receivedDateTime"))
        if not stamps:
            return {}
        wanted = {str(d["id"]) for d in need}
        found: dict[str, list[tuple[str, str]]] = {}
        link = f"{self._base}/mailFolders/{quote(folder, safe='')}/messages"
        params: dict[str, str] | None = {
            "$filter": f"receivedDateTime ge {stamps[0]} and receivedDateTime le {stamps[-1]}",
            "$select": "internetMessageHeaders",
            "$top": str(self.settings.page_size),
        }
        pages = len(need) // self.settings.page_size + 2
        while pages > 0 and wanted - found.keys():
            doc = self.api.call(
                "GET",
                link,
                "Graph message headers (by range)",
                params=params,
                headers=self._prefer(),
            )
            params = None
            pages -= 1
            for m in (doc or {}).get("value", []):
                mid = str(m.get("id"))
                if mid in wanted:
                    found[mid] = kept_headers(m.get("internetMessageHeaders") or [])
            nxt = (doc or {}).get("@odata.nextLink")
            if not nxt:
                break
            link = str(nxt)
        return found

    # ------------------------------------------------------------------ DraftSink

    def find_draft(self, key: str) -> Created | None:
        found = self._find(key)
        return _created(found) if found else None

    def _find(self, key: str) -> dict[str, Any] | None:
        doc = self.api.call(
            "GET",
            f"{self._base}/mailFolders/drafts/messages",
            "Graph drafts (lookup by key)",
            params={
                "$filter": key_filter(key),
                "$select": "id,changeKey,isDraft",
                "$top": "10",
            },
        )
        for m in (doc or {}).get("value", []):
            if m.get("isDraft", True):
                found: dict[str, Any] = m
                return found
        return None

    def create_draft(self, spec: DraftSpec) -> Created:
        existing = self._find(spec.key)
        if existing is not None:
            logger.debug("outlook.draft.exists", extra={"key": spec.key, "ref": existing["id"]})
            return _created(existing)
        original = self._original(spec) if spec.in_reply_to else None
        recipient = {"emailAddress": _address(spec.to_name, spec.to_address)}
        prop = [{"id": KEY_PROPERTY, "value": spec.key}]
        if original is not None:
            path = f"{self._base}/messages/{quote(original, safe='')}/createReply"
            body: dict[str, Any] = {
                "comment": spec.body,
                "message": {"toRecipients": [recipient], "singleValueExtendedProperties": prop},
            }
        else:
            path = f"{self._base}/messages"
            body = {
                "subject": spec.subject,
                "body": {"contentType": "text", "content": spec.body},
                "toRecipients": [recipient],
                "internetMessageHeaders": [{"name": KEY_HEADER, "value": spec.key}],
                "singleValueExtendedProperties": prop,
            }
        attempts = 0

        def create() -> Any:
            nonlocal attempts
            attempts += 1
            if attempts > 1:  # the last answer may have been lost after Exchange made it
                made = self._find(spec.key)
                if made is not None:
                    return made
            return self.api.once("POST", path, body=body)

        what = "Graph createReply" if original else "Graph create draft"
        try:
            doc = self.api.run(create, what, handles=(404,))
        except GraphError:  # the original went away meanwhile: a new draft instead
            logger.info("outlook.draft.original_gone", extra={"key": spec.key})
            from dataclasses import replace

            return self.create_draft(replace(spec, in_reply_to=None, thread_id=None))
        if not isinstance(doc, dict) or "id" not in doc:
            raise SourceUnavailable(f"{what}: the answer carries no message id")
        logger.info("outlook.draft.created", extra={"key": spec.key, "ref": doc["id"]})
        return _created(doc)

    def _original(self, spec: DraftSpec) -> str | None:
        """The Graph id of the message a reply answers, found by its Internet Message-ID."""
        mid = f"<{spec.in_reply_to}>"
        doc = self.api.call(
            "GET",
            f"{self._base}/messages",
            "Graph message (lookup by Message-ID)",
            params={
                "$filter": f"internetMessageId eq {odata_quote(mid)}",
                "$select": "id,conversationId,isDraft",
                "$top": "10",
            },
        )
        found = [m for m in (doc or {}).get("value", []) if not m.get("isDraft")]
        if spec.thread_id:
            same = [m for m in found if m.get("conversationId") == spec.thread_id]
            found = same or found
        return str(found[0]["id"]) if found else None

    def draft_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self._find(key)
        if found is None:
            return "gone"
        return "untouched" if _created(found).fingerprint == fingerprint else "changed"

    def remove_draft(self, key: str, fingerprint: str) -> bool:
        found = self._find(key)
        if found is None or _created(found).fingerprint != fingerprint:
            return False
        # A 404: gone already (an earlier attempt whose answer was lost removed it).
        with contextlib.suppress(GraphError):
            self.api.call(
                "DELETE",
                f"{self._base}/messages/{quote(str(found['id']), safe='')}",
                "Graph delete draft",
                handles=(404,),
            )
        return True

    def close(self) -> None:
        self.api.close()


# ----------------------------------------------------------------------------- parsing


def needs_headers(doc: dict[str, Any], role: FolderRole) -> bool:
    """Whether the classifier needs this message's header fields to judge it."""
    if role == "sent" or doc.get("isDraft"):
        return False
    return doc.get("@odata.type") != EVENT_MESSAGE


def kept_headers(values: Sequence[Any]) -> list[tuple[str, str]]:
    """The classifier's header fields out of Graph's ``internetMessageHeaders``."""
    out: list[tuple[str, str]] = []
    for h in values:
        if not isinstance(h, dict):
            continue
        name = str(h.get("name") or "")
        lname = name.lower()
        if lname in HEADER_NAMES or lname.startswith(HEADER_PREFIXES):
            out.append((name, " ".join(str(h.get("value") or "").split())))
    return out


def parse_message(
    doc: dict[str, Any], stream: StreamInfo, headers: list[tuple[str, str]] | None = None
) -> RawMessage:
    """A delta row (with the header fields fetched for it) as a RawMessage."""
    fields: list[tuple[str, str]] = []
    for name, key in (("From", "from"), ("Sender", "sender")):
        value = _addresses([doc.get(key)] if doc.get(key) else [])
        if value:
            fields.append((name, value))
    for name, key in (("To", "toRecipients"), ("Cc", "ccRecipients"), ("Bcc", "bccRecipients")):
        value = _addresses(doc.get(key) or [])
        if value:
            fields.append((name, value))
    reply_to = _addresses(doc.get("replyTo") or [])
    if reply_to:
        fields.append(("Reply-To", reply_to))
    if doc.get("subject") is not None:
        fields.append(("Subject", _one_line(str(doc["subject"]))))
    sent = _parse_time(doc.get("sentDateTime"))
    if sent is not None:
        fields.append(("Date", format_datetime(sent)))
    if doc.get("internetMessageId"):
        fields.append(("Message-ID", _one_line(str(doc["internetMessageId"]))))
    fields.extend(headers or ())
    hints = frozenset({"text/calendar"}) if doc.get("@odata.type") == EVENT_MESSAGE else frozenset()
    return RawMessage(
        provider_id=str(doc["id"]),
        folder=stream.name,
        headers=tuple(fields),
        internal_date=_parse_time(doc.get("receivedDateTime")),
        thread_id=str(doc["conversationId"]) if doc.get("conversationId") else None,
        folder_role=stream.role,
        body_hints=hints,
        # Graph's Focused Inbox verdict, for the classifier (a label, like Gmail's categories).
        labels=frozenset(
            {"inference:other"} if doc.get("inferenceClassification") == "other" else ()
        ),
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _addresses(recipients: Sequence[Any]) -> str:
    out = []
    for r in recipients:
        email = (r or {}).get("emailAddress") or {}
        addr = _one_line(str(email.get("address") or ""))
        if not addr or "@" not in addr:
            continue
        name = _one_line(str(email.get("name") or ""))
        out.append(formataddr((name if name and name != addr else "", addr)))
    return ", ".join(out)


def _address(name: str | None, address: str) -> dict[str, str]:
    doc = {"address": address}
    if name:
        doc["name"] = name
    return doc


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _in_window(doc: dict[str, Any], cutoff: datetime) -> bool:
    received = _parse_time(doc.get("receivedDateTime"))
    return received is None or received >= cutoff


def key_filter(key: str) -> str:
    return (
        f"singleValueExtendedProperties/Any(ep: ep/id eq {odata_quote(KEY_PROPERTY)}"
        f" and ep/value eq {odata_quote(key)})"
    )


def _created(doc: dict[str, Any]) -> Created:
    return Created(ref=str(doc["id"]), fingerprint=f"{doc['id']}/{doc.get('changeKey') or ''}")


__all__ = [
    "KEY_PROPERTY",
    "MESSAGE_SELECT",
    "OutlookMailSettings",
    "OutlookMailSource",
    "kept_headers",
    "key_filter",
    "load_cursor",
    "needs_headers",
    "parse_message",
    "sync_state_lost",
]
