"""An IMAP account as a mail source and a draft sink (imapclient; folders kept selected).

Each folder read is a stream. Its cursor is ``{"v": 1, "uidvalidity": n, "next": uid,
"modseq": m|null}``: `next` is the first UID not yet stored. UIDs only ascend, so each
batch's cursor points just past its last message and a crash mid-folder resumes where it
stopped. A changed UIDVALIDITY raises `CursorExpired`. Flag changes are not new
interactions and are not fetched (HIGHESTMODSEQ, or the highest MODSEQ a flag update
reported, is only recorded). Expunged messages are not reported (`Batch.removed` stays
empty).

Connections. Every polled folder gets a connection of its own that keeps it EXAMINEd
(read-only, so nothing is marked \\Seen) between polls, up to `max_connections - 1` folders;
one more connection lists folders, answers STATUS, writes drafts (it SELECTs \\Drafts, which
never disturbs a kept folder) and EXAMINEs any folder past the cap on every poll. Where the
server offers IDLE (and `idle` is on), a kept folder idles between polls, so the server
notices new mail when it arrives rather than when the poll asks (see `imap_watch` for the
measurements on Dovecot's Maildir that decided this). A poll of a kept folder then costs:
the end of its IDLE (DONE) and, unless that brought an EXISTS, a NOOP; and only when the
server reported EXISTS since the last look or the cursor is behind it, ``UID SEARCH
next:*`` and the header FETCH of what is new, in chunks. That is two round trips on an
unchanged folder and three for a few new messages, at any folder size. Before that the
folder's UIDVALIDITY is compared with the cursor's. A kept connection that the server
closed (an idle timeout, a restart, Dovecot's BYE for a folder whose UIDVALIDITY changed or
that was deleted or renamed) is opened again once, with a new EXAMINE: a folder that is gone
raises `SourceInvalid`, a new UIDVALIDITY `CursorExpired`. Network errors drop the
connection and raise `SourceUnavailable`; the next call reconnects.

`wait_for_change(timeout)` holds IDLE on INBOX's kept connection (the \\All folder with
`use_all_mail`) and returns True as soon as the server reports new mail there; the next
poll of that folder then needs no new EXAMINE. It and the other verbs must not run at the
same time on one source (the daemon waits between passes).

Reconciliation (`connectors.base.Reconcilable`), on the folder's kept connection:
`recent_ids` is ``UID SEARCH SINCE <date>`` (INTERNALDATE, whole days), `fetch` the header
FETCH of the UIDs asked for, `baseline` the cursor past the highest UID now (``UID SEARCH
UID *``). A Gmail server's ids are X-GM-MSGIDs, which SEARCH does not return: its folders
are not reconcilable (the Gmail API source is).

Drafts go to the \\Drafts folder (found by SPECIAL-USE, then by name; created when missing)
and carry a Message-ID derived from their key, so a draft is found again after a crash and
is never appended twice.
"""

from __future__ import annotations

import imaplib
import ipaddress
import json
import logging
import re
import ssl
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import imapclient  # type: ignore[import-untyped]
from imapclient import exceptions as imap_errors

from connectors.base import (
    AuthFailed,
    Batch,
    Created,
    CursorExpired,
    DraftSpec,
    FolderRole,
    NotReconcilable,
    ObjectState,
    RawMessage,
    SourceInvalid,
    SourceUnavailable,
    StreamInfo,
    server_text,
)
from connectors.imap_fetch import parse_fetch, uid_set
from connectors.imap_watch import IDLE_RENEW, IdleRefused, WatchedFolder
from connectors.maildir import folder_role
from connectors.maildir_drafts import draft_fingerprint, draft_message_id, render_draft
from connectors.mailparse import parse_header_block

logger = logging.getLogger(__name__)

HEADER_FIELDS = (
    "FROM TO CC BCC DATE SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES LIST-ID LIST-UNSUBSCRIBE "
    "LIST-UNSUBSCRIBE-POST LIST-POST PRECEDENCE AUTO-SUBMITTED X-AUTO-RESPONSE-SUPPRESS "
    "X-AUTOREPLY X-AUTORESPOND CONTENT-TYPE RETURN-PATH SENDER REPLY-TO X-FAILED-RECIPIENTS "
    "X-SPAM-FLAG X-SPAM-STATUS FEEDBACK-ID X-MAILGUN-SID X-SG-EID X-CAMPAIGN X-GITHUB-REASON "
    "CONTENT-CLASS"
)
HEADER_ITEM = f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})]"
# The server echoes the item without .PEEK; imapclient keys the answer by that echo.
HEADER_KEY = f"BODY[HEADER.FIELDS ({HEADER_FIELDS})]".encode("ascii")
RAW_FETCH_ITEMS = f"(UID FLAGS INTERNALDATE RFC822.SIZE {HEADER_ITEM})"
GMAIL_ITEMS = ("X-GM-MSGID", "X-GM-THRID", "X-GM-LABELS")
MAX_CHUNK = 5000  # Dovecot refuses command lines of about 10,000 UIDs
DEFAULT_DRAFTS = "Drafts"
# SPECIAL-USE attributes (RFC 6154); imapclient keeps these off its top-level module.
ALL_MAIL, SENT, DRAFTS = b"\\All", b"\\Sent", b"\\Drafts"

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)
_LINE_END = re.compile(rb"\r?\n")
_SPECIAL_ROLES: dict[bytes, FolderRole] = {
    b"\\sent": "sent",
    b"\\drafts": "drafts",
    b"\\junk": "junk",
    b"\\trash": "trash",
    b"\\archive": "archive",
    b"\\all": "all",
}

# Errors of the transport: the connection is dropped and the poll may be retried.
_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # socket errors, timeouts, and ssl.SSLError
    imaplib.IMAP4.abort,
    imap_errors.IMAPClientAbortError,
    EOFError,
)
_TRANSIENT_OR_REFUSED: tuple[type[BaseException], ...] = (*_TRANSIENT, imaplib.IMAP4.error)


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str
    security: Literal["tls", "starttls", "none"] = "tls"
    ca_file: str | None = None
    timeout: float = 60.0
    folders: tuple[str, ...] = ()  # extra folders beyond INBOX and \Sent
    use_all_mail: bool = False  # Gmail: read \All instead of INBOX + Sent
    batch_size: int = 500
    chunk: int = 2000
    idle: bool = True  # IDLE between polls and in wait_for_change, when the server offers it
    max_connections: int = 5  # one for listing and drafts, the rest keep polled folders
    idle_renew: float = IDLE_RENEW  # seconds before an IDLE is ended and issued again


@dataclass(frozen=True, slots=True)
class _Cursor:
    uidvalidity: int
    next: int
    modseq: int | None

    def dump(self) -> str:
        return json.dumps(
            {"v": 1, "uidvalidity": self.uidvalidity, "next": self.next, "modseq": self.modseq}
        )


def load_cursor(cursor: str | None) -> _Cursor | None:
    """The cursor as stored, or None for none; an unreadable one is an expired one."""
    if cursor is None:
        return None
    try:
        data = json.loads(cursor)
        if data.get("v") != 1:
            raise ValueError("unknown version")
        modseq = data.get("modseq")
        return _Cursor(
            uidvalidity=int(data["uidvalidity"]),
            next=max(1, int(data["next"])),
            modseq=None if modseq is None else int(modseq),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CursorExpired(f"unreadable IMAP cursor {cursor!r}: {exc}") from None


class ImapSource:
    """Reads INBOX, the \\Sent folder and configured folders; writes drafts to \\Drafts."""

    # The header fetch bypasses imapclient's parser (see imap_fetch); Gmail's extra items
    # (labels, ids) always go through imapclient.
    raw_fetch = True

    def __init__(self, settings: ImapSettings) -> None:
        if settings.security == "none" and not _is_loopback(settings.host):
            raise SourceInvalid(
                f"IMAP host {settings.host!r}: security 'none' sends the password in clear "
                "text and is only allowed to a loopback address; use 'tls' or 'starttls'"
            )
        self.settings = settings
        self._client: Any = None  # listing, STATUS, drafts, folders past the cap
        self._caps: frozenset[bytes] = frozenset()
        self._selected: tuple[str, bool] | None = None
        self._folder_list: list[tuple[tuple[bytes, ...], str]] | None = None
        self._drafts: str | None = None
        self._kept: dict[str, WatchedFolder] = {}  # polled folders, one connection each
        self._idle_refused = False

    # ------------------------------------------------------------------ connection

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        client = self._login()
        self._client = client
        self._selected = None
        self._folder_list = None
        return client

    def _login(self) -> Any:
        """A new logged-in connection, its failures as connector errors."""
        s = self.settings
        try:
            return self._open()
        except ssl.SSLCertVerificationError as exc:
            raise SourceInvalid(f"IMAP {s.host}:{s.port}: certificate refused: {exc}") from None
        except _TRANSIENT as exc:
            raise SourceUnavailable(
                f"IMAP {s.host}:{s.port}: cannot connect: {server_text(exc)}"
            ) from None
        except imap_errors.LoginError as exc:
            raise AuthFailed(
                f"IMAP {s.host}: login as {s.username!r} refused: {server_text(exc)}"
            ) from None

    def _open(self) -> Any:
        """Connect, secure, log in and enable CONDSTORE; the client is closed on failure."""
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file)
        client = imapclient.IMAPClient(
            s.host,
            port=s.port,
            ssl=s.security == "tls",
            ssl_context=context if s.security == "tls" else None,
            timeout=s.timeout,
        )
        # imapclient turns imaplib's debug output up to 5 and sends every protocol line to
        # a DEBUG logger: header fields of every message (and formatting them cost 15 µs a
        # message whether or not DEBUG was on). Mail content has no place in logs.
        client._imap.debug = 0
        try:
            if s.security == "starttls":
                client.starttls(context)
            client.login(s.username, s.password)
            # Servers announce more (CONDSTORE, SPECIAL-USE, UIDPLUS) once logged in.
            client._cached_capabilities = None
            self._caps = frozenset(bytes(c).upper() for c in client.capabilities())
            client.normalise_times = False
            if b"CONDSTORE" in self._caps and b"ENABLE" in self._caps:
                client.enable("CONDSTORE")
        except BaseException:
            _quietly_shutdown(client)
            raise
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            _quietly_shutdown(client)

    @contextmanager
    def _guard(self, what: str) -> Iterator[Any]:
        """The connection, with transport failures turned into `SourceUnavailable`."""
        client = self._connect()
        with self._errors(what, self._drop):
            yield client

    @contextmanager
    def _errors(
        self, what: str, drop: Callable[[], None], *, refused_drops: bool = False
    ) -> Iterator[None]:
        """Transport failures call `drop` and become `SourceUnavailable`; so does a NO or BAD,
        which leaves the connection as it is unless `refused_drops`."""
        try:
            yield
        except ssl.SSLCertVerificationError as exc:
            drop()
            raise SourceInvalid(f"IMAP {self.settings.host}: certificate refused: {exc}") from None
        except _TRANSIENT as exc:
            drop()
            raise SourceUnavailable(f"IMAP {self.settings.host}: {what}: {exc}") from None
        except (imap_errors.IMAPClientError, imaplib.IMAP4.error) as exc:
            # A NO or BAD (over quota, server trouble): the connection itself is still fine.
            if refused_drops:
                drop()
            raise SourceUnavailable(f"IMAP {self.settings.host}: {what} refused: {exc}") from None

    def close(self) -> None:
        for name in list(self._kept):
            self._unkeep(name)
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            try:
                client.logout()
            except Exception:  # a dead connection needs no goodbye
                _quietly_shutdown(client)

    def _select(self, client: Any, folder: str, *, readonly: bool) -> dict[bytes, Any]:
        try:
            info: dict[bytes, Any] = client.select_folder(folder, readonly=readonly)
        except imap_errors.IMAPClientAbortError:
            raise
        except imap_errors.IMAPClientError as exc:
            self._selected = None
            raise SourceInvalid(
                f"IMAP {self.settings.host}: folder {folder!r} cannot be opened "
                f"(deleted or renamed?): {exc}"
            ) from None
        self._selected = (folder, readonly)
        return info

    # ------------------------------------------------------------------ streams

    def _folders(self, client: Any) -> list[tuple[tuple[bytes, ...], str]]:
        if self._folder_list is None:
            self._folder_list = [
                (tuple(bytes(f).lower() for f in flags), name)
                for flags, _sep, name in client.list_folders()
            ]
        return self._folder_list

    def _special(self, client: Any, flag: bytes) -> str | None:
        for flags, name in self._folders(client):
            if flag.lower() in flags:
                return name
        found: str | None = client.find_special_folder(flag)
        return found

    def streams(self) -> list[StreamInfo]:
        kept = self._client is not None
        try:
            return self._list_streams()
        except SourceUnavailable:
            if not kept:
                raise
            # The main connection idles between passes, and a server may close it meanwhile.
            logger.info("imap.reconnect", extra={"host": self.settings.host})
            return self._list_streams()

    def _list_streams(self) -> list[StreamInfo]:
        with self._guard("listing folders") as client:
            self._folder_list = None
            folders = self._folders(client)
            found: list[StreamInfo] = []
            if self.settings.use_all_mail:
                every = self._special(client, ALL_MAIL)
                if every is None:
                    raise SourceInvalid(
                        f"IMAP {self.settings.host}: use_all_mail is set but no \\All folder"
                    )
                found.append(StreamInfo(name=every, kind="mail", role="all"))
            else:
                found.append(StreamInfo(name="INBOX", kind="mail", role="inbox"))
                sent = self._special(client, SENT)
                if sent is not None:
                    found.append(StreamInfo(name=sent, kind="mail", role="sent"))
            attrs = {name: flags for flags, name in folders}
            for name in self.settings.folders:
                if any(s.name == name for s in found):
                    continue
                # A configured folder that is gone (renamed or deleted) stays a stream: its
                # poll fails on its own, naming it, and the other folders are still read.
                flags = attrs.get(name, ())
                found.append(StreamInfo(name=name, kind="mail", role=_role(name, flags)))
            return found

    def size_hint(self, stream: StreamInfo) -> int | None:
        """How many messages the folder holds (one STATUS)."""
        with self._guard("STATUS") as client:
            if self._selected is not None and self._selected[0] == stream.name:
                client.unselect_folder()  # STATUS on the selected folder is not allowed
                self._selected = None
            try:
                status = client.folder_status(stream.name, [b"MESSAGES"])
            except imap_errors.IMAPClientAbortError:
                raise
            except imap_errors.IMAPClientError:
                return None
            return int(status[b"MESSAGES"])

    # ------------------------------------------------------------------ reading

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Batch]:
        old = None if full else load_cursor(cursor)
        view = self._look(stream.name)
        if old is not None and old.uidvalidity != view.uidvalidity:
            raise CursorExpired(
                f"IMAP folder {stream.name!r}: UIDVALIDITY changed "
                f"({old.uidvalidity} → {view.uidvalidity}); every UID is new"
            )
        uidvalidity = view.uidvalidity
        start = 1 if old is None else old.next
        if not view.maybe_new(start):
            final = _Cursor(uidvalidity, start, view.modseq)
            yield Batch(items=(), cursor=final.dump(), read=0, done=True)
            self._rest(view)
            return
        with self._errors(f"UID SEARCH {stream.name}", self._dropper(view)):
            uids = view.search_from(start)
        last = start - 1
        items: list[RawMessage] = []
        for offset in range(0, len(uids), self._chunk()):
            chunk = uids[offset : offset + self._chunk()]
            for msg, uid in self._fetch(view, stream, chunk):
                items.append(msg)
                last = uid
                if len(items) >= self.settings.batch_size:
                    mid = _Cursor(uidvalidity, last + 1, old.modseq if old else None)
                    yield Batch(items=items, cursor=mid.dump(), read=len(items))
                    items = []
        final = _Cursor(uidvalidity, max(view.covered or start, last + 1), view.modseq)
        yield Batch(items=items, cursor=final.dump(), read=len(items), done=True)
        self._rest(view)

    # ------------------------------------------------------------------ Reconcilable

    def recent_ids(
        self, stream: StreamInfo, since: datetime, *, cursor: str | None = None
    ) -> set[str]:
        self._not_gmail(stream)
        old = load_cursor(cursor)
        view = self._look(stream.name)
        if old is not None and old.uidvalidity != view.uidvalidity:
            raise CursorExpired(
                f"IMAP folder {stream.name!r}: UIDVALIDITY changed "
                f"({old.uidvalidity} → {view.uidvalidity}); every UID is new"
            )
        day = since.astimezone(UTC).strftime("%d-%b-%Y")
        uids = self._search(view, stream, "SINCE", day)
        self._rest(view)
        return {f"{stream.name}/{view.uidvalidity}/{uid}" for uid in uids}

    def fetch(self, stream: StreamInfo, ids: Collection[str]) -> Iterator[Batch]:
        self._not_gmail(stream)
        view = self._look(stream.name)
        prefix = f"{stream.name}/{view.uidvalidity}/"
        uids = sorted(
            int(i[len(prefix) :])
            for i in ids
            if i.startswith(prefix) and i[len(prefix) :].isdigit()
        )
        items: list[RawMessage] = []
        for offset in range(0, len(uids), self._chunk()):
            for msg, _uid in self._fetch(view, stream, uids[offset : offset + self._chunk()]):
                items.append(msg)
                if len(items) >= self.settings.batch_size:
                    yield Batch(items=items, cursor=None, read=len(items))
                    items = []
        yield Batch(items=items, cursor=None, read=len(items), done=True)
        self._rest(view)

    def baseline(self, stream: StreamInfo, *, now: datetime) -> str:
        self._not_gmail(stream)
        view = self._look(stream.name)
        highest = self._search(view, stream, "UID", "*")
        after = max([view.covered or 1, *(uid + 1 for uid in highest)])
        self._rest(view)
        return _Cursor(view.uidvalidity, after, view.modseq).dump()

    def _search(self, view: WatchedFolder, stream: StreamInfo, *criteria: str) -> list[int]:
        with self._errors(f"UID SEARCH {stream.name}", self._dropper(view)):
            typ, data = view.imap.uid("SEARCH", *criteria)
        if typ != "OK":
            raise SourceUnavailable(f"IMAP UID SEARCH in {stream.name!r} answered {typ}: {data}")
        return sorted(
            {int(word) for line in data if isinstance(line, bytes) for word in line.split()}
        )

    def _not_gmail(self, stream: StreamInfo) -> None:
        self._connect()
        if b"X-GM-EXT-1" in self._caps:
            raise NotReconcilable(
                f"IMAP {self.settings.host} {stream.name}: Gmail's message ids (X-GM-MSGID)"
                " cannot be listed by date over IMAP"
            )

    def _chunk(self) -> int:
        return max(1, min(self.settings.chunk, MAX_CHUNK))

    def _fetch(
        self, view: WatchedFolder, stream: StreamInfo, uids: Sequence[int]
    ) -> list[tuple[RawMessage, int]]:
        items = ["FLAGS", "INTERNALDATE", "RFC822.SIZE", HEADER_ITEM]
        gmail = b"X-GM-EXT-1" in self._caps
        if gmail:
            items.extend(GMAIL_ITEMS)
        if self.raw_fetch and not gmail:
            return self._fetch_raw(view, stream, uids)
        with self._errors(f"UID FETCH {stream.name}", self._dropper(view)):
            response: dict[int, dict[bytes, Any]] = view.client.fetch(list(uids), items)
        out: list[tuple[RawMessage, int]] = []
        for uid in sorted(response):
            if uid < uids[0]:
                continue
            out.append((_message(stream, view.uidvalidity, uid, response[uid], gmail), uid))
        return out

    def _fetch_raw(
        self, view: WatchedFolder, stream: StreamInfo, uids: Sequence[int]
    ) -> list[tuple[RawMessage, int]]:
        """The header fetch through imaplib underneath imapclient, parsed by imap_fetch."""
        wanted = set(uids)
        with self._errors(f"UID FETCH {stream.name}", self._dropper(view)):
            imap = view.imap
            imap.untagged_responses.pop("FETCH", None)  # stale unsolicited updates
            try:
                typ, data = imap.uid("FETCH", uid_set(uids), RAW_FETCH_ITEMS)
            except imaplib.IMAP4.abort:
                raise
            except imaplib.IMAP4.error as exc:
                raise SourceUnavailable(f"IMAP UID FETCH in {stream.name!r}: {exc}") from None
        if typ != "OK":
            raise SourceUnavailable(f"IMAP UID FETCH in {stream.name!r} answered {typ}: {data}")
        out: list[tuple[RawMessage, int]] = []
        for uid, got in sorted(parse_fetch(data).items()):
            if uid not in wanted:
                continue
            msg = RawMessage(
                provider_id=f"{stream.name}/{view.uidvalidity}/{uid}",
                folder=stream.name,
                headers=parse_header_block(got.header),
                internal_date=got.internal_date,
                size=got.size,
                labels=frozenset(f for f in got.flags if f.lower() != "\\recent"),
                folder_role=stream.role,
            )
            out.append((msg, uid))
        return out

    # ------------------------------------------------------------------ kept folders

    def _look(self, folder: str) -> WatchedFolder:
        """`folder`, up to date: on its kept connection (opened again once if the server
        closed it), on a new kept connection, or past the cap EXAMINEd on the main one."""
        kept = self._kept.get(folder)
        if kept is not None:
            try:
                with self._errors(f"checking {folder}", self._dropper(kept), refused_drops=True):
                    kept.refresh()
                return kept
            except SourceUnavailable as exc:
                logger.info(
                    "imap.reconnect",
                    extra={"host": self.settings.host, "folder": folder, "error": str(exc)},
                )
        if len(self._kept) >= self._kept_cap():
            return self._examine(folder)
        try:
            return self._keep(folder)
        except SourceUnavailable as exc:
            # A server may refuse one more connection (a per-user limit): read it as before.
            logger.warning(
                "imap.keep.failed",
                extra={"host": self.settings.host, "folder": folder, "error": str(exc)},
            )
            return self._examine(folder)

    def _kept_cap(self) -> int:
        return max(0, self.settings.max_connections - 1)

    def _keep(self, folder: str) -> WatchedFolder:
        """A new connection with `folder` EXAMINEd on it, kept until closed or failed."""
        self._unkeep(folder)
        client = self._login()
        with self._errors(f"EXAMINE {folder}", lambda: _quietly_shutdown(client)):
            try:
                watched = self._watch(client, folder, idle=self._idles())
            except SourceInvalid:
                _quietly_shutdown(client)
                raise
        self._kept[folder] = watched
        return watched

    def _examine(self, folder: str) -> WatchedFolder:
        """EXAMINE `folder` on the main connection for one poll; a main connection the
        server has closed since it was last used is opened again once."""
        kept = self._client is not None
        try:
            return self._examine_once(folder)
        except SourceUnavailable:
            if not kept:
                raise
            logger.info("imap.reconnect", extra={"host": self.settings.host, "folder": folder})
            return self._examine_once(folder)

    def _examine_once(self, folder: str) -> WatchedFolder:
        with self._guard(f"EXAMINE {folder}") as client:
            self._selected = None
            view = self._watch(client, folder, idle=False)
            self._selected = (folder, True)
            return view

    def _watch(self, client: Any, folder: str, *, idle: bool) -> WatchedFolder:
        try:
            return WatchedFolder(client, folder, idle=idle, idle_renew=self.settings.idle_renew)
        except imap_errors.IMAPClientAbortError:
            raise
        except imap_errors.IMAPClientError as exc:
            raise SourceInvalid(
                f"IMAP {self.settings.host}: folder {folder!r} cannot be opened "
                f"(deleted or renamed?): {exc}"
            ) from None

    def _idles(self) -> bool:
        return self.settings.idle and b"IDLE" in self._caps and not self._idle_refused

    def _dropper(self, view: WatchedFolder) -> Callable[[], None]:
        """How to drop the connection `view` is on."""
        if self._kept.get(view.name) is view:
            return lambda: self._unkeep(view.name, politely=False)
        return self._drop

    def _unkeep(self, folder: str, *, politely: bool = True) -> None:
        watched = self._kept.pop(folder, None)
        if watched is None:
            return
        if politely:
            watched.close()
        else:
            _quietly_shutdown(watched.client)

    def _rest(self, view: WatchedFolder) -> None:
        """After a complete poll, a kept folder IDLEs until the next one. A failure here
        only drops the connection: what the poll read is already in the caller's hands."""
        if self._kept.get(view.name) is not view:
            return
        try:
            view.rest()
        except _TRANSIENT_OR_REFUSED as exc:
            logger.info("imap.idle.failed", extra={"folder": view.name, "error": str(exc)})
            self._unkeep(view.name, politely=False)

    # ------------------------------------------------------------------ waiting for mail

    def can_wait(self) -> bool:
        """Whether `wait_for_change` works here: `idle` is on, a folder can be kept and the
        server offers IDLE (which needs a connection: this connects if there is none)."""
        if not self.settings.idle or self._kept_cap() < 1 or self._idle_refused:
            return False
        with self._guard("reading capabilities"):
            return b"IDLE" in self._caps

    def wait_for_change(self, timeout: float, cancel: threading.Event | None = None) -> bool:
        """Hold IDLE on INBOX (\\All with `use_all_mail`) for up to `timeout` seconds.

        True as soon as the server reports new mail there, or ends the session (then the next
        poll reconnects and finds out what changed); False on timeout, or once `cancel` is
        set. Raises `SourceInvalid` where `can_wait()` is False and `SourceUnavailable` when
        the folder cannot be opened. Not to be called while another verb runs.
        """
        if not self.can_wait():
            raise SourceInvalid(
                f"IMAP {self.settings.host}: cannot wait for new mail (IDLE is off, not "
                "offered by the server, or max_connections leaves no folder connection)"
            )
        folder = self._wait_folder()
        kept = self._kept.get(folder)
        if kept is None:
            kept = self._keep(folder)
        try:
            with self._errors(f"IDLE in {folder}", self._dropper(kept), refused_drops=True):
                try:
                    return kept.wait(timeout, cancel)
                except IdleRefused:
                    self._idle_refused = True
                    raise
        except SourceUnavailable as exc:
            if self._idle_refused:
                raise SourceInvalid(f"IMAP {self.settings.host}: {exc}") from None
            logger.info("imap.idle.ended", extra={"folder": folder, "error": str(exc)})
            return True

    def _wait_folder(self) -> str:
        if not self.settings.use_all_mail:
            return "INBOX"
        with self._guard("listing folders") as client:
            every = self._special(client, ALL_MAIL)
        if every is None:
            raise SourceInvalid(
                f"IMAP {self.settings.host}: use_all_mail is set but no \\All folder"
            )
        return every

    # ------------------------------------------------------------------ the DraftSink verbs

    def find_draft(self, key: str) -> Created | None:
        with self._guard("looking up a draft") as client:
            folder = self._drafts_folder(client)
            found = self._locate(client, folder, key)
            if found is None:
                return None
            uidvalidity, uid, data = found
            return Created(ref=f"{folder}/{uidvalidity}/{uid}", fingerprint=draft_fingerprint(data))

    def create_draft(self, spec: DraftSpec) -> Created:
        existing = self.find_draft(spec.key)
        if existing is not None:
            logger.debug("imap.draft.exists", extra={"key": spec.key, "ref": existing.ref})
            return existing
        data = _LINE_END.sub(b"\r\n", render_draft(spec))
        with self._guard("appending a draft") as client:
            folder = self._drafts_folder(client)
            answer = client.append(
                folder, data, flags=(imapclient.DRAFT, imapclient.SEEN), msg_time=spec.date
            )
            m = _APPENDUID.search(answer if isinstance(answer, bytes) else b"")
            if m is not None:
                ref = f"{folder}/{int(m.group(1))}/{int(m.group(2))}"
            else:
                found = self._locate(client, folder, spec.key)
                if found is None:
                    raise SourceUnavailable(f"IMAP {self.settings.host}: appended draft not found")
                ref = f"{folder}/{found[0]}/{found[1]}"
        return Created(ref=ref, fingerprint=draft_fingerprint(data))

    def draft_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self.find_draft(key)
        if found is None:
            return "gone"
        return "untouched" if found.fingerprint == fingerprint else "changed"

    def remove_draft(self, key: str, fingerprint: str) -> bool:
        with self._guard("removing a draft") as client:
            folder = self._drafts_folder(client)
            found = self._locate(client, folder, key, readonly=False)
            if found is None or draft_fingerprint(found[2]) != fingerprint:
                return False
            uid = found[1]
            client.add_flags([uid], [imapclient.DELETED], silent=True)
            if b"UIDPLUS" in self._caps:
                client.uid_expunge([uid])
            else:
                client.expunge()
            return True

    def _drafts_folder(self, client: Any) -> str:
        if self._drafts is None:
            folder = self._special(client, DRAFTS)
            if folder is None:
                folder = DEFAULT_DRAFTS
                client.create_folder(folder)
                self._folder_list = None
            self._drafts = folder
        return self._drafts

    def _locate(
        self, client: Any, folder: str, key: str, *, readonly: bool = True
    ) -> tuple[int, int, bytes] | None:
        """(UIDVALIDITY, UID, message bytes) of the newest draft carrying `key`, or None."""
        try:
            info = self._select(client, folder, readonly=readonly)
        except SourceInvalid:
            if client.folder_exists(folder):
                raise
            # Deleted by the user: no draft is there, and the next create makes the folder.
            self._drafts = None
            self._folder_list = None
            return None
        uids = client.search(["NOT", "DELETED", "HEADER", "Message-ID", draft_message_id(key)])
        if not uids:
            return None
        uid = max(uids)
        data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
        if not isinstance(data, bytes):
            return None  # expunged by another client in between
        return int(info[b"UIDVALIDITY"]), uid, data


# ------------------------------------------------------------------------- parsing


def _message(
    stream: StreamInfo, uidvalidity: int, uid: int, data: dict[bytes, Any], gmail: bool
) -> RawMessage:
    """One FETCH response (as imapclient parses it) as a RawMessage."""
    head = data.get(HEADER_KEY) or b""
    # \Recent belongs to the session that saw the message first, not to the message.
    labels = {_text(flag) for flag in data.get(b"FLAGS", ()) if flag.lower() != b"\\recent"}
    thread_id: str | None = None
    provider_id = f"{stream.name}/{uidvalidity}/{uid}"
    if gmail:
        labels.update(_text(label) for label in data.get(b"X-GM-LABELS", ()))
        if data.get(b"X-GM-MSGID") is not None:
            provider_id = f"gm/{data[b'X-GM-MSGID']}"
        if data.get(b"X-GM-THRID") is not None:
            thread_id = str(data[b"X-GM-THRID"])
    internal = data.get(b"INTERNALDATE")
    size = data.get(b"RFC822.SIZE")
    return RawMessage(
        provider_id=provider_id,
        folder=stream.name,
        headers=parse_header_block(head if isinstance(head, bytes) else b""),
        internal_date=_utc(internal) if isinstance(internal, datetime) else None,
        size=int(size) if size is not None else None,
        thread_id=thread_id,
        labels=frozenset(labels),
        folder_role=stream.role,
    )


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _text(value: bytes | str | int) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _role(name: str, flags: tuple[bytes, ...]) -> FolderRole:
    for flag in flags:
        role = _SPECIAL_ROLES.get(flag)
        if role is not None:
            return role
    return folder_role(name)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _quietly_shutdown(client: Any) -> None:
    try:
        client.shutdown()
    except Exception:  # a dead socket is dead whatever the error says
        logger.debug("imap.shutdown.failed", exc_info=True)


__all__ = ["HEADER_ITEM", "ImapSettings", "ImapSource", "load_cursor"]
