"""An IMAP account as a mail source and a draft sink (imapclient; folders kept selected).

`ImapSource` is assembled from one module per concern: `imap_pool` (the connections, kept
folders, IDLE waits), `imap_watch` (one kept folder's protocol state), `imap_read` (the
cursor and the header FETCH), `imap_fetch` (parsing the FETCH response), `imap_reconcile`
(the `Reconcilable` verbs) and `imap_drafts` (the draft sink); this module lists the
folders and polls them.

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

import logging
from collections.abc import Iterator
from datetime import datetime

from imapclient import exceptions as imap_errors  # type: ignore[import-untyped]

from connectors.base import (
    Batch,
    CursorExpired,
    FolderRole,
    RawMessage,
    SourceInvalid,
    SourceUnavailable,
    StreamInfo,
)
from connectors.imap_drafts import ImapDraftSink
from connectors.imap_pool import ALL_MAIL, SENT, ImapSettings
from connectors.imap_read import HEADER_ITEM, RAW_FETCH_ITEMS, Cursor, load_cursor
from connectors.imap_reconcile import ImapReconciler
from connectors.maildir import folder_role

logger = logging.getLogger(__name__)

_SPECIAL_ROLES: dict[bytes, FolderRole] = {
    b"\\sent": "sent",
    b"\\drafts": "drafts",
    b"\\junk": "junk",
    b"\\trash": "trash",
    b"\\archive": "archive",
    b"\\all": "all",
}


class ImapSource(ImapReconciler, ImapDraftSink):
    """Reads INBOX, the \\Sent folder and configured folders; writes drafts to \\Drafts."""

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
            final = Cursor(uidvalidity, start, view.modseq)
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
                    mid = Cursor(uidvalidity, last + 1, old.modseq if old else None)
                    yield Batch(items=items, cursor=mid.dump(), read=len(items))
                    items = []
        final = Cursor(uidvalidity, max(view.covered or start, last + 1), view.modseq)
        yield Batch(items=items, cursor=final.dump(), read=len(items), done=True)
        self._rest(view)


def _role(name: str, flags: tuple[bytes, ...]) -> FolderRole:
    for flag in flags:
        role = _SPECIAL_ROLES.get(flag)
        if role is not None:
            return role
    return folder_role(name)


__all__ = [
    "HEADER_ITEM",
    "RAW_FETCH_ITEMS",
    "ImapSettings",
    "ImapSource",
    "load_cursor",
]
