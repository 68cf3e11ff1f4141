"""The Gmail v1 part of the fake Google (tests/fake_google.py): a mailbox with history.

What it keeps as Gmail does (API-NOTES section 1):

- messages with ids, thread ids, label ids, internalDate (ms) and header fields;
  `messages.list` returns them newest first, paged (``maxResults`` ≤ 500), ``labelIds``
  meaning all of them, SPAM and TRASH left out unless ``includeSpamTrash``;
- every change gets a history record with an id that rises with gaps; `history.list`
  answers records after ``startHistoryId`` (paged; no ``history`` key when nothing
  changed) and 404 ``notFound`` for a start id older than the retention window
  (`GmailState.expire_history`) or 0;
- `messages.get` in the four formats, ``metadataHeaders`` filtering; the metadata scope
  refuses ``q`` and the formats ``full`` and ``raw`` (403);
- drafts: create (a draft joins the thread given by ``threadId`` only when In-Reply-To or
  References name a message of that thread and the subject matches, as Gmail does), list,
  get, delete; `send_draft` and `edit_draft` do what the user does in Gmail's UI.

Where it is more helpful than Google promises (the Gmail API reference pages of
`users.messages.list`, `users.drafts.list` and the "Synchronize clients" guide are silent
on these): `messages.list` is newest first by internalDate (`GmailState.order` =
"arrival" lists by arrival instead) and a page token is an offset that stays valid; `drafts.list` shows a draft as soon as `drafts.create` made it;
history ids never expire unless `expire_history` says so. Per-user quota and concurrency
limits are in tests/fake_google_quota.py.
"""

from __future__ import annotations

import base64
import random
import re
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import TYPE_CHECKING, Any

from tests.fake_google import Answer, ApiError, Call

if TYPE_CHECKING:
    from tests.fake_google import FakeGoogle

METADATA = "https://www.googleapis.com/auth/gmail.metadata"
HIDDEN = {"SPAM", "TRASH"}


@dataclass
class Message:
    id: str
    thread_id: str
    labels: set[str]
    internal_ms: int
    headers: list[tuple[str, str]]
    body: str = "Hello.\r\n"
    history_id: int = 0

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def raw(self) -> bytes:
        head = "".join(f"{k}: {v}\r\n" for k, v in self.headers)
        return (head + "\r\n" + self.body).encode("utf-8")


@dataclass
class Record:
    id: int
    kind: str  # messageAdded | messageDeleted | labelAdded | labelRemoved
    message: dict[str, Any]
    labels: list[str] = field(default_factory=list)


def _page(items: list[Any], call: Call, default: int, maximum: int) -> tuple[list[Any], str | None]:
    try:
        size = min(int(call.arg("maxResults", str(default)) or default), maximum)
        start = int((call.arg("pageToken") or "p0").removeprefix("p"))
    except ValueError:
        raise ApiError(400, "Invalid pageToken", "invalidArgument") from None
    page = items[start : start + size]
    nxt = f"p{start + size}" if start + size < len(items) else None
    return page, nxt


class GmailState:
    def __init__(self, owner: str, *, seed: int = 1) -> None:
        self.owner = owner
        self.messages: dict[str, Message] = {}
        self.drafts: dict[str, str] = {}  # draft id -> message id
        self.history: list[Record] = []
        self.history_id = 1000
        self.oldest_history = 0  # start ids below this are too old: 404
        # messages.list order: "date" (newest internalDate first) or "arrival" (newest
        # id first: mail imported with old dates sits among new mail). Google documents
        # neither.
        self.order = "date"
        self._rng = random.Random(seed)
        self._next_id = 0x18C0000000000000

    def register(self, fake: FakeGoogle) -> None:
        for method_id, handler in {
            "gmail.users.getProfile": self.get_profile,
            "gmail.users.messages.list": self.list_messages,
            "gmail.users.messages.get": self.get_message,
            "gmail.users.history.list": self.list_history,
            "gmail.users.drafts.create": self.create_draft,
            "gmail.users.drafts.list": self.list_drafts,
            "gmail.users.drafts.get": self.get_draft,
            "gmail.users.drafts.delete": self.delete_draft,
        }.items():
            fake.route(method_id, handler)

    # ------------------------------------------------------------------ test helpers

    def _new_id(self) -> str:
        self._next_id += self._rng.randint(1, 5000)
        return f"{self._next_id:016x}"

    def _bump(self, kind: str, msg: Message, labels: list[str] | None = None) -> None:
        self.history_id += self._rng.randint(1, 4)  # ids rise with gaps
        msg.history_id = self.history_id
        ref = {"id": msg.id, "threadId": msg.thread_id, "labelIds": sorted(msg.labels)}
        self.history.append(Record(self.history_id, kind, ref, labels or []))

    def add_message(
        self,
        headers: list[tuple[str, str]] | dict[str, str],
        *,
        labels: tuple[str, ...] = ("INBOX",),
        internal_ms: int,
        thread_id: str | None = None,
        body: str = "Hello.\r\n",
    ) -> str:
        pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
        mid = self._new_id()
        msg = Message(mid, thread_id or mid, set(labels), internal_ms, pairs, body)
        self.messages[mid] = msg
        self._bump("messageAdded", msg)
        return mid

    def add_labels(self, mid: str, *labels: str) -> None:
        msg = self.messages[mid]
        msg.labels |= set(labels)
        self._bump("labelAdded", msg, list(labels))

    def remove_labels(self, mid: str, *labels: str) -> None:
        msg = self.messages[mid]
        msg.labels -= set(labels)
        self._bump("labelRemoved", msg, list(labels))

    def delete_message(self, mid: str) -> None:
        msg = self.messages.pop(mid)
        self._bump("messageDeleted", msg)

    def expire_history(self) -> None:
        """Every history id handed out so far is now too old (404 on history.list)."""
        self.oldest_history = self.history_id + 1

    def send_draft(self, draft_id: str) -> str:
        """The user presses Send in Gmail: the draft's message becomes a sent message."""
        mid = self.drafts.pop(draft_id)
        msg = self.messages[mid]
        msg.labels.discard("DRAFT")
        self._bump("labelRemoved", msg, ["DRAFT"])
        msg.labels.add("SENT")
        self._bump("labelAdded", msg, ["SENT"])
        return mid

    def edit_draft(self, draft_id: str, body: str) -> None:
        """The user edits a draft: Gmail stores it as a new message under the same draft."""
        old = self.messages.pop(self.drafts[draft_id])
        self._bump("messageDeleted", old)
        mid = self._new_id()
        new = Message(mid, old.thread_id, set(old.labels), old.internal_ms, list(old.headers), body)
        self.messages[mid] = new
        self.drafts[draft_id] = mid
        self._bump("messageAdded", new)

    def draft_messages(self) -> list[Message]:
        return [self.messages[m] for m in self.drafts.values()]

    # ------------------------------------------------------------------ handlers

    def _user(self, call: Call) -> None:
        if call.params.get("userId") not in ("me", self.owner):
            raise ApiError(403, "Delegation denied for " + self.owner, "forbidden")

    def _no_q_under_metadata(self, call: Call) -> None:
        # Even with a broader scope besides it (google-api-python-client issue 582).
        if call.arg("q") and METADATA in call.scopes:
            raise ApiError(403, "Metadata scope does not support 'q' parameter", "forbidden")

    def get_profile(self, call: Call) -> Answer:
        self._user(call)
        return Answer.json(
            200,
            {
                "emailAddress": self.owner,
                "messagesTotal": len(self.messages),
                "threadsTotal": len({m.thread_id for m in self.messages.values()}),
                "historyId": str(self.history_id),
            },
        )

    def list_messages(self, call: Call) -> Answer:
        self._user(call)
        self._no_q_under_metadata(call)
        wanted = set(call.args("labelIds"))
        spam_trash = call.flag("includeSpamTrash")
        q = call.arg("q") or ""
        found = [
            m
            for m in self.messages.values()
            if wanted <= m.labels and (spam_trash or not (m.labels & HIDDEN)) and _matches_q(m, q)
        ]
        if self.order == "date":
            found.sort(key=lambda m: (m.internal_ms, m.id), reverse=True)
        else:
            found.sort(key=lambda m: m.id, reverse=True)
        page, nxt = _page(found, call, 100, 500)
        doc: dict[str, Any] = {"resultSizeEstimate": len(found)}
        if page:
            doc["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if nxt:
            doc["nextPageToken"] = nxt
        return Answer.json(200, doc)

    def get_message(self, call: Call) -> Answer:
        self._user(call)
        msg = self.messages.get(call.params["id"])
        if msg is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        return Answer.json(200, self._message_doc(msg, call.arg("format", "full") or "full", call))

    def _message_doc(self, msg: Message, fmt: str, call: Call) -> dict[str, Any]:
        if fmt in ("full", "raw") and METADATA in call.scopes:
            raise ApiError(403, f"Metadata scope doesn't allow format {fmt.upper()}", "forbidden")
        doc: dict[str, Any] = {
            "id": msg.id,
            "threadId": msg.thread_id,
            "labelIds": sorted(msg.labels),
            "snippet": "",
            "sizeEstimate": len(msg.raw()),
            "historyId": str(msg.history_id),
            "internalDate": str(msg.internal_ms),
        }
        if fmt == "minimal":
            return doc
        if fmt == "raw":
            doc["raw"] = base64.urlsafe_b64encode(msg.raw()).decode()
            return doc
        names = {h.lower() for h in call.args("metadataHeaders")}
        headers = [
            {"name": k, "value": v}
            for k, v in msg.headers
            if fmt != "metadata" or not names or k.lower() in names
        ]
        payload: dict[str, Any] = {
            "partId": "",
            "mimeType": "text/plain",
            "filename": "",
            "headers": headers,
        }
        if fmt == "full":
            data = base64.urlsafe_b64encode(msg.body.encode()).decode()
            payload["body"] = {"size": len(msg.body), "data": data}
        doc["payload"] = payload
        return doc

    def list_history(self, call: Call) -> Answer:
        self._user(call)
        start_text = call.arg("startHistoryId")
        if not start_text:
            raise ApiError(400, "Missing required field: startHistoryId", "invalidArgument")
        try:
            start = int(start_text)
        except ValueError:
            raise ApiError(400, "Invalid startHistoryId", "invalidArgument") from None
        if start <= 0 or start < self.oldest_history or start > self.history_id:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        types = set(call.args("historyTypes"))
        label = call.arg("labelId")
        records = [
            r
            for r in self.history
            if r.id > start
            and (not types or r.kind in types)
            and (label is None or label in r.message["labelIds"] or label in r.labels)
        ]
        page, nxt = _page(records, call, 100, 500)
        doc: dict[str, Any] = {"historyId": str(self.history_id)}
        if page:
            doc["history"] = [_record_doc(r) for r in page]
        if nxt:
            doc["nextPageToken"] = nxt
        return Answer.json(200, doc)

    def create_draft(self, call: Call) -> Answer:
        self._user(call)
        body = call.json()
        message = body.get("message") or {}
        raw = message.get("raw")
        if not raw:
            raise ApiError(
                400, "Invalid draft: a message with raw content is required", "invalidArgument"
            )
        try:
            data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        except ValueError:
            raise ApiError(400, "Invalid value for ByteString", "invalidArgument") from None
        parsed = BytesHeaderParser(policy=compat32).parsebytes(data)
        headers = [(k, " ".join(str(v).split())) for k, v in parsed.items()]
        thread = message.get("threadId")
        if thread is not None and not any(m.thread_id == thread for m in self.messages.values()):
            raise ApiError(404, "Requested entity was not found.", "notFound")
        mid = self._new_id()
        tid = thread if thread and self._threads(thread, headers) else mid
        msg = Message(
            mid,
            tid,
            {"DRAFT"},
            0,
            headers,
            data.split(b"\r\n\r\n", 1)[-1].decode("utf-8", "replace"),
        )
        self.messages[mid] = msg
        draft_id = "r" + str(int(mid, 16) % 10**18)
        self.drafts[draft_id] = mid
        self._bump("messageAdded", msg)
        return Answer.json(
            200, {"id": draft_id, "message": {"id": mid, "threadId": tid, "labelIds": ["DRAFT"]}}
        )

    def _threads(self, thread: str, headers: list[tuple[str, str]]) -> bool:
        """Gmail's rule: the reply names a message of the thread and keeps its subject."""
        values = {k.lower(): v for k, v in headers}
        refs = set(
            re.findall(r"<[^>]+>", values.get("in-reply-to", "") + values.get("references", ""))
        )
        members = [m for m in self.messages.values() if m.thread_id == thread]
        ids = {(m.header("Message-ID") or "").strip() for m in members}
        if not refs & ids:
            return False
        subject = _base_subject(values.get("subject", ""))
        return any(_base_subject(m.header("Subject") or "") == subject for m in members)

    def list_drafts(self, call: Call) -> Answer:
        self._user(call)
        self._no_q_under_metadata(call)
        items = [
            {"id": d, "message": {"id": m, "threadId": self.messages[m].thread_id}}
            for d, m in sorted(self.drafts.items())
        ]
        page, nxt = _page(items, call, 100, 500)
        doc: dict[str, Any] = {"resultSizeEstimate": len(items)}
        if page:
            doc["drafts"] = page
        if nxt:
            doc["nextPageToken"] = nxt
        return Answer.json(200, doc)

    def get_draft(self, call: Call) -> Answer:
        self._user(call)
        mid = self.drafts.get(call.params["id"])
        if mid is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        fmt = call.arg("format", "full") or "full"
        return Answer.json(
            200,
            {"id": call.params["id"], "message": self._message_doc(self.messages[mid], fmt, call)},
        )

    def delete_draft(self, call: Call) -> Answer:
        self._user(call)
        mid = self.drafts.pop(call.params["id"], None)
        if mid is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        self.delete_message(mid)
        return Answer(204)


def _base_subject(subject: str) -> str:
    return re.sub(r"^\s*((re|fwd?|aw|sv)\s*:\s*)+", "", subject, flags=re.I).strip().lower()


def _matches_q(msg: Message, q: str) -> bool:
    """A small subset of Gmail's search syntax: rfc822msgid:, label:, in:."""
    for term in q.split():
        key, _, value = term.partition(":")
        if key == "rfc822msgid" and (msg.header("Message-ID") or "").strip("<>") != value.strip(
            "<>"
        ):
            return False
        if key in ("label", "in") and value.upper() not in msg.labels:
            return False
    return True


def _record_doc(r: Record) -> dict[str, Any]:
    ref = {"id": r.message["id"], "threadId": r.message["threadId"]}
    doc: dict[str, Any] = {"id": str(r.id), "messages": [ref]}
    if r.kind == "messageAdded":
        doc["messagesAdded"] = [{"message": {**ref, "labelIds": r.message["labelIds"]}}]
    elif r.kind == "messageDeleted":
        doc["messagesDeleted"] = [{"message": ref}]
    elif r.kind == "labelAdded":
        doc["labelsAdded"] = [
            {"message": {**ref, "labelIds": r.message["labelIds"]}, "labelIds": r.labels}
        ]
    else:
        doc["labelsRemoved"] = [
            {"message": {**ref, "labelIds": r.message["labelIds"]}, "labelIds": r.labels}
        ]
    return doc
