"""An mbox file (a Google Takeout export, or any mboxo/mboxrd file) as a one-shot source.

The file is read line by line, and a long line in pieces: header sections are kept,
bodies are skipped, so a multi-gigabyte export, even one whose body is a single line of
hundreds of megabytes, costs the memory of one header section. The cursor is the byte
offset of the next message, so an import killed half-way resumes where it stopped.

Takeout adds ``X-Gmail-Labels`` and ``X-GM-THRID`` to every message; they become Gmail
label ids (SENT, SPAM, CATEGORY_PROMOTIONS, ...) and the thread id, as the Gmail API
would give them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from connectors.base import Batch, FolderRole, RawMessage, SourceInvalid, StreamInfo
from connectors.gmail_parse import label_role
from connectors.mailparse import MAX_HEADER_BYTES, parse_header_block

_PIECE = 64 * 1024  # the most of one line held at a time

_TAKEOUT_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "spam": "SPAM",
    "trash": "TRASH",
    "drafts": "DRAFT",
    "draft": "DRAFT",
    "important": "IMPORTANT",
    "starred": "STARRED",
    "unread": "UNREAD",
    "chat": "CHAT",
    "category promotions": "CATEGORY_PROMOTIONS",
    "category updates": "CATEGORY_UPDATES",
    "category social": "CATEGORY_SOCIAL",
    "category forums": "CATEGORY_FORUMS",
    "category personal": "CATEGORY_PERSONAL",
}


def takeout_labels(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    out = set()
    for raw in value.split(","):
        label = raw.strip()
        if label:
            out.add(_TAKEOUT_LABELS.get(label.lower(), label))
    return frozenset(out)


# A Takeout message's role by its labels, first match wins; none of them: All Mail.
_ROLE_LABELS: tuple[tuple[str, FolderRole], ...] = (
    ("DRAFT", "drafts"),
    ("SPAM", "junk"),
    ("SENT", "sent"),
    ("INBOX", "inbox"),
)


def _role(labels: frozenset[str]) -> FolderRole:
    return label_role(labels, _ROLE_LABELS, "all")


class MboxFile:
    """One mbox file; a single stream named after the file."""

    def __init__(self, path: Path, *, batch_size: int = 500) -> None:
        self.path = path
        self.batch_size = batch_size

    def streams(self) -> list[StreamInfo]:
        if not self.path.is_file():
            raise SourceInvalid(f"{self.path}: no such file")
        return [StreamInfo(name=self.path.name, kind="mail", role="all")]

    def size_hint(self, stream: StreamInfo) -> int | None:
        return None

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        start = 0 if full else _offset(cursor)
        items: list[RawMessage] = []
        read = 0
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise SourceInvalid(f"{self.path}: cannot read: {exc.strerror}") from None
        try:
            fh.seek(start)
            for offset, end, head, truncated in _messages(fh, start):
                msg = self._message(offset, head, truncated)
                if msg is None:
                    continue
                items.append(msg)
                read += 1
                if len(items) >= self.batch_size:
                    yield Batch(items=items, cursor=json.dumps({"offset": end}), read=read)
                    items, read = [], 0
            size = fh.tell()
        finally:
            fh.close()
        yield Batch(items=items, cursor=json.dumps({"offset": size}), read=read, done=True)

    def _message(self, offset: int, head: bytes, truncated: bool) -> RawMessage | None:
        headers = parse_header_block(head)
        if not headers:
            return None
        msg = RawMessage(provider_id="", folder=self.path.name, headers=headers)
        labels = takeout_labels(msg.get("X-Gmail-Labels"))
        mid = (msg.get("Message-ID") or "").strip()
        provider_id = (
            f"mid:{mid}"
            if mid and len(mid) < 900
            else "sha1:" + hashlib.sha1(head, usedforsecurity=False).hexdigest()
        )
        return RawMessage(
            provider_id=provider_id,
            folder=self.path.name,
            headers=headers,
            internal_date=None,
            thread_id=msg.get("X-GM-THRID"),
            labels=labels,
            folder_role=_role(labels),
            truncated=truncated,
        )


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        value = json.loads(cursor).get("offset", 0)
    except (ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) and value >= 0 else 0


def _messages(stream: BinaryIO, start: int) -> Iterator[tuple[int, int, bytes, bool]]:
    """Yield (start offset, end offset, header bytes, truncated) for each message.

    Lines are read in pieces of at most `_PIECE` bytes, so one enormous line (a body
    without line breaks) costs a piece of memory, not the line.
    """
    pos = start
    msg_start: int | None = None
    head = bytearray()
    in_head = False
    truncated = False
    prev_blank = True
    line_start = True
    while piece := stream.readline(_PIECE):
        blank = line_start and piece in (b"\n", b"\r\n")
        if line_start and prev_blank and piece.startswith(b"From "):
            if msg_start is not None:
                yield msg_start, pos, bytes(head), truncated
            msg_start, head, in_head, truncated = pos, bytearray(), True, False
        elif in_head:
            if blank:
                in_head = False
            elif len(head) < MAX_HEADER_BYTES:
                head += piece
            else:
                truncated = True
        pos += len(piece)
        line_start = piece.endswith(b"\n")
        if line_start:
            prev_blank = blank
    if msg_start is not None:
        yield msg_start, pos, bytes(head), truncated
