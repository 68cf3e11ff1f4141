"""A local Maildir tree (as mbsync or offlineimap leave it) as a mail source.

Every folder is a stream with its own cursor. Only the header section of each message is
read (plus a bounded peek into multipart bodies for part types), never a whole body.

The cursor of a folder is ``{"v": 1, "new": ns, "cur": ns, "wm": ns}``: the modification
times of its ``new/`` and ``cur/`` directories and a ctime watermark. A poll whose two
directory times are unchanged opens nothing. Otherwise the directories are listed and only
files whose ctime is at or after the watermark are read: delivery and the renames a mail
client does (``new/`` to ``cur/``, flag changes) all set ctime, and re-reading a file is
harmless because ingest is an idempotent upsert. The watermark is the scan's start time
less a safety margin, so a file created while the scan runs is read by the next poll.
Batches before the last carry the old cursor: a crash mid-folder re-reads, never skips. A
cursor that cannot be read raises `CursorExpired`.

Reconciliation (`connectors.base.Reconcilable`): `recent_ids` lists the folder and keeps the
files whose delivery time (the leading seconds of the name, else the mtime) is in the
window, opening none; `fetch` reads the named files; `baseline` is the cursor a poll would
end with now.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path

from connectors.base import (
    Batch,
    CursorExpired,
    FolderRole,
    RawMessage,
    SourceInvalid,
    StreamInfo,
    take_turn,
)
from connectors.mailparse import body_part_types, parse_header_block, read_header_section

WATERMARK_MARGIN_NS = 2_000_000_000
MAX_DEPTH = 8

_ROLE_NAMES: dict[str, FolderRole] = {
    "inbox": "inbox",
    "sent": "sent",
    "sent items": "sent",
    "sent messages": "sent",
    "sent mail": "sent",
    "sent-mail": "sent",
    "gesendet": "sent",
    "gesendete elemente": "sent",
    "gesendete objekte": "sent",
    "envoyés": "sent",
    "éléments envoyés": "sent",
    "enviados": "sent",
    "posta inviata": "sent",
    "отправленные": "sent",
    "drafts": "drafts",
    "draft": "drafts",
    "entwürfe": "drafts",
    "brouillons": "drafts",
    "borradores": "drafts",
    "черновики": "drafts",
    "junk": "junk",
    "junk e-mail": "junk",
    "junk email": "junk",
    "spam": "junk",
    "bulk mail": "junk",
    "trash": "trash",
    "deleted items": "trash",
    "deleted messages": "trash",
    "bin": "trash",
    "papierkorb": "trash",
    "archive": "archive",
    "archives": "archive",
    "all mail": "all",
}


def folder_role(name: str, sent_folders: frozenset[str] = frozenset()) -> FolderRole:
    """The role of a folder from its name (last component), e.g. 'Sent Items' → sent."""
    if name.lower() in sent_folders:
        return "sent"
    leaf = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lower()
    if name.lower() == "inbox":
        return "inbox"
    return _ROLE_NAMES.get(leaf, "other")


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


class MaildirSource:
    """Reads a Maildir tree: the root (if it is a Maildir) is INBOX, sub-folders follow.

    Both layouts are understood: Maildir++ (``.Sent``, ``.Lists.python``) and the verbatim
    one mbsync writes (``Sent/``, ``Lists/python/``). The Drafts folder is never read.
    """

    def __init__(
        self,
        root: Path,
        *,
        folders: list[str] | None = None,
        exclude: list[str] | None = None,
        sent_folders: list[str] | None = None,
        batch_size: int = 500,
    ) -> None:
        self.root = root
        self.only = {f.lower() for f in folders} if folders is not None else None
        self.exclude = {f.lower() for f in (exclude or [])}
        self.sent_folders = frozenset(f.lower() for f in (sent_folders or []))
        self.batch_size = batch_size

    def _folders(self) -> dict[str, Path]:
        if not self.root.exists():
            raise SourceInvalid(f"{self.root}: no such folder")
        if not self.root.is_dir():
            raise SourceInvalid(f"{self.root}: not a folder (a Maildir root was expected)")
        found: dict[str, Path] = {}
        if _is_maildir(self.root):
            found["INBOX"] = self.root
        self._walk(self.root, [], found, 0)
        if not found:
            raise SourceInvalid(
                f"{self.root}: no Maildir folder found (a folder with cur/ and new/ inside)"
            )
        return found

    def _walk(self, path: Path, parts: list[str], found: dict[str, Path], depth: int) -> None:
        if depth >= MAX_DEPTH:
            return
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name in ("cur", "new", "tmp") or not entry.is_dir(follow_symlinks=False):
                continue
            child = Path(entry.path)
            if entry.name.startswith("."):
                # Maildir++ keeps sub-folders flat as .Parent.Child under the root.
                if depth != 0 or not _is_maildir(child):
                    continue
                name_parts = [p for p in entry.name[1:].split(".") if p]
                if name_parts and name_parts[0].upper() == "INBOX" and len(name_parts) > 1:
                    name_parts = name_parts[1:]
                found["/".join(name_parts)] = child
                continue
            here = [*parts, entry.name]
            if _is_maildir(child):
                found["/".join(here)] = child
            self._walk(child, here, found, depth + 1)

    def _wanted(self, name: str) -> bool:
        if name.lower() in self.exclude:
            return False
        if self.only is not None and name.lower() not in self.only:
            return False
        return folder_role(name, self.sent_folders) != "drafts"

    def streams(self) -> list[StreamInfo]:
        return [
            StreamInfo(name=name, kind="mail", role=folder_role(name, self.sent_folders))
            for name in self._folders()
            if self._wanted(name)
        ]

    def size_hint(self, stream: StreamInfo) -> int | None:
        """How many messages the folder holds (a directory listing, no file is opened)."""
        path = self._folders().get(stream.name)
        if path is None:
            return None
        return sum(1 for sub in ("new", "cur") for _ in _scan(path / sub))

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        path = self._folders().get(stream.name)
        if path is None:
            raise SourceInvalid(f"{self.root}: folder {stream.name!r} is gone")
        old = None if full else _load_cursor(cursor)
        dirs = {sub: path / sub for sub in ("new", "cur")}
        try:
            mtimes = {sub: os.stat(p).st_mtime_ns for sub, p in dirs.items()}
        except OSError as exc:
            raise SourceInvalid(f"{path}: cannot read: {exc.strerror}") from None
        if not full and old is not None and all(old.get(s) == m for s, m in mtimes.items()):
            yield Batch(items=(), cursor=cursor, read=0, done=True)
            return
        watermark = 0 if full or old is None else int(old.get("wm", 0))
        scan_start = time.time_ns()
        new_cursor = json.dumps(
            {"v": 1, **mtimes, "wm": max(watermark, scan_start - WATERMARK_MARGIN_NS)}
        )
        items: list[RawMessage] = []
        read = 0
        for dpath in dirs.values():
            for entry in _scan(dpath):
                try:
                    st = entry.stat()
                except OSError:
                    continue  # moved away by a mail client; its new name is scanned
                if st.st_ctime_ns < watermark:
                    continue
                msg = self._read(Path(entry.path), entry.name, stream, st.st_size, st.st_mtime)
                if msg is None:
                    continue
                read += 1
                items.append(msg)
                if len(items) >= self.batch_size:
                    yield Batch(items=items, cursor=cursor, read=read)
                    items, read = [], 0
        yield Batch(items=items, cursor=new_cursor, read=read, done=True)

    # ------------------------------------------------------------------ Reconcilable

    def recent_ids(
        self, stream: StreamInfo, since: datetime, *, cursor: str | None = None
    ) -> set[str]:
        path = self._folder(stream)
        stamp = since.timestamp()
        found: set[str] = set()
        for sub in ("new", "cur"):
            for entry in _scan(path / sub):
                unique = entry.name.partition(":")[0]
                when = _name_time(unique)
                if when is None:
                    try:
                        when = int(entry.stat().st_mtime)
                    except OSError:
                        continue
                if when >= stamp:
                    found.add(f"{stream.name}/{unique}")
        return found

    def fetch(self, stream: StreamInfo, ids: Collection[str]) -> Iterator[Batch]:
        path = self._folder(stream)
        prefix = f"{stream.name}/"
        wanted = {i[len(prefix) :] for i in ids if i.startswith(prefix)}
        items: list[RawMessage] = []
        for sub in ("new", "cur"):
            for entry in _scan(path / sub):
                if entry.name.partition(":")[0] not in wanted:
                    continue
                try:
                    st = entry.stat()
                except OSError:
                    continue
                msg = self._read(Path(entry.path), entry.name, stream, st.st_size, st.st_mtime)
                if msg is None:
                    continue
                items.append(msg)
                if len(items) >= self.batch_size:
                    yield Batch(items=items, cursor=None, read=len(items))
                    items = []
        yield Batch(items=items, cursor=None, read=len(items), done=True)

    def baseline(self, stream: StreamInfo, *, now: datetime) -> str:
        path = self._folder(stream)
        try:
            mtimes = {sub: os.stat(path / sub).st_mtime_ns for sub in ("new", "cur")}
        except OSError as exc:
            raise SourceInvalid(f"{path}: cannot read: {exc.strerror}") from None
        return json.dumps({"v": 1, **mtimes, "wm": time.time_ns() - WATERMARK_MARGIN_NS})

    def _folder(self, stream: StreamInfo) -> Path:
        path = self._folders().get(stream.name)
        if path is None:
            raise SourceInvalid(f"{self.root}: folder {stream.name!r} is gone")
        return path

    def _read(
        self, path: Path, filename: str, stream: StreamInfo, size: int, mtime: float
    ) -> RawMessage | None:
        take_turn()
        try:
            with open(path, "rb") as fh:
                head, body, truncated = read_header_section(fh)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            return None
        unique, _, info = filename.partition(":")
        flags = info[2:] if info.startswith("2,") else ""
        return RawMessage(
            provider_id=f"{stream.name}/{unique}",
            folder=stream.name,
            headers=parse_header_block(head),
            internal_date=_delivery_time(unique, mtime),
            size=size,
            labels=frozenset(f"maildir:{flag}" for flag in flags),
            folder_role=stream.role,
            body_hints=body_part_types(body),
            truncated=truncated,
        )


def _scan(path: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            for entry in it:
                if not entry.name.startswith("."):
                    yield entry
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return


def _delivery_time(unique: str, mtime: float) -> datetime:
    """Maildir names start with the delivery time in seconds; else the file's mtime."""
    stamp = _name_time(unique)
    return datetime.fromtimestamp(int(mtime) if stamp is None else stamp, tz=UTC)


def _name_time(unique: str) -> int | None:
    head = unique.split(".", 1)[0]
    return int(head) if head.isdigit() and 9 <= len(head) <= 10 else None


def _load_cursor(cursor: str | None) -> dict[str, int] | None:
    """The stored folder state, or None for a first read; an unreadable cursor raises
    `CursorExpired`, so the core resyncs the folder (and drops what is gone from it)."""
    if not cursor:
        return None
    try:
        data = json.loads(cursor)
    except ValueError as exc:
        raise CursorExpired(f"unreadable Maildir cursor: {exc}") from None
    if not isinstance(data, dict) or data.get("v") != 1:
        raise CursorExpired("unreadable Maildir cursor: not a version 1 cursor")
    return {k: int(v) for k, v in data.items() if isinstance(v, int)}
