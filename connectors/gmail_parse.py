"""Gmail API JSON as syncd's dataclasses: pure functions, no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import CursorExpired, FolderRole, RawMessage

STREAM_NAME = "all"
CURSOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class GmailCursor:
    """``{"v": 1, "history": "<historyId>"}``; while a backfill is under way also
    ``"page"`` (the next `messages.list` page token), ``"rest"`` (ids of the page listed
    last that are still to be read: the resume point inside a page) and ``"inwin"``
    (whether that page held a message inside the look-back window so far)."""

    history: str
    page: str | None = None
    rest: tuple[str, ...] = ()
    inwin: bool = False

    @property
    def backfilling(self) -> bool:
        return bool(self.page or self.rest)

    def dump(self) -> str:
        doc: dict[str, Any] = {"v": CURSOR_VERSION, "history": self.history}
        if self.page:
            doc["page"] = self.page
        if self.rest:
            doc["rest"] = list(self.rest)
        if self.backfilling and self.inwin:
            doc["inwin"] = True
        return json.dumps(doc, separators=(",", ":"))


def load_cursor(cursor: str) -> GmailCursor:
    try:
        doc = json.loads(cursor)
        if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION:
            raise ValueError("unknown version")
        history = str(int(doc["history"]))
        page = doc.get("page")
        rest = doc.get("rest") or []
        if not isinstance(rest, list):
            raise ValueError("rest is not a list")
        return GmailCursor(
            history,
            str(page) if page else None,
            tuple(str(i) for i in rest),
            bool(doc.get("inwin")),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise CursorExpired(f"unreadable Gmail cursor: {exc}") from None


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
        folder=STREAM_NAME,
        headers=headers,
        internal_date=(
            datetime.fromtimestamp(int(internal) / 1000, UTC) if internal is not None else None
        ),
        size=int(size) if size is not None else None,
        thread_id=str(doc["threadId"]) if doc.get("threadId") else None,
        labels=labels,
        folder_role=_role(labels),
    )


# Which system label makes a message's role, first match wins; none of them: archived.
_ROLE_LABELS: tuple[tuple[str, FolderRole], ...] = (
    ("SENT", "sent"),
    ("SPAM", "junk"),
    ("TRASH", "trash"),
    ("INBOX", "inbox"),
)


def label_role(
    labels: frozenset[str], order: Sequence[tuple[str, FolderRole]], default: FolderRole
) -> FolderRole:
    """The role of the first label in `order` that `labels` carries, else `default`."""
    return next((role for label, role in order if label in labels), default)


def _role(labels: frozenset[str]) -> FolderRole:
    return label_role(labels, _ROLE_LABELS, "archive")


def header_value(doc: dict[str, Any] | None, name: str) -> str | None:
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


__all__ = [
    "METADATA_HEADERS",
    "GmailCursor",
    "gmail_thread_id",
    "header_value",
    "label_role",
    "load_cursor",
    "parse_message",
]
