"""Reconciliation of an IMAP folder (`connectors.base.Reconcilable`), on its kept connection.

`recent_ids` is ``UID SEARCH SINCE <date>`` (INTERNALDATE, whole days), `fetch` the header
FETCH of the UIDs asked for, `baseline` the cursor past the highest UID now (``UID SEARCH
UID *``). A Gmail server's ids are X-GM-MSGIDs, which SEARCH does not return: its folders
are not reconcilable (the Gmail API source is).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime

from connectors.base import Batch, CursorExpired, RawMessage, StreamInfo
from connectors.imap_read import Cursor, ImapReader, load_cursor


class ImapReconciler(ImapReader):
    """The `Reconcilable` verbs of an IMAP source."""

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
        return Cursor(view.uidvalidity, after, view.modseq).dump()
