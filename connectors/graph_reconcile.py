"""Proof of completeness (`connectors.base.Reconcilable`) for Outlook mail and calendar.

Mixed into `connectors.outlook_mail.OutlookMailSource` and
`connectors.outlook_calendar.OutlookCalendarSource`; the parsing and paging stay there
(the hooks each host provides are the `_MailHost` and `_CalendarHost` protocols).

- **Mail** `recent_ids`: one listing of the folder,
  ``GET {mailbox}/mailFolders/{folder}/messages?$filter=receivedDateTime ge {since}``
  with ``$select=id,isDraft``, 500 ids a page (ids only: small pages are not needed);
  drafts are left out as `poll` leaves them. `fetch` reads the messages by id in JSON
  batches of 4 with the properties and header fields `poll` reads. `baseline` reads a
  fresh delta round of the folder to its ``@odata.deltaLink`` with the same query as a
  first poll (ids only are kept: Graph offers no documented "latest" token for message
  delta), so the next poll yields only what arrived after it.
- **Calendar** `recent_ids`: ``GET {mailbox}/calendarView`` from `since` to the end of
  the cursor's window (instances, as calendarView delta yields them), leaving out the
  holds syncd made. `fetch` reads ``GET {mailbox}/events/{id}`` in JSON batches of 4.
  `baseline` reads a fresh calendarView delta round over the window for now.

A Graph message id changes when the message moves to another folder; such a message is
found under its new id in the folder it is in now, as `poll` finds it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from connectors.base import Batch, RawEvent, RawMessage, StreamInfo
from connectors.outlook_http import Answer, BatchRequest, GraphApi

ID_PAGE = 500  # ids a page when listing only ids


def _z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Settings(Protocol):
    @property
    def page_size(self) -> int: ...
    @property
    def items(self) -> int: ...


class _MailHost(Protocol):
    api: GraphApi

    @property
    def settings(self) -> _Settings: ...
    @property
    def _base(self) -> str: ...
    def _folder_id(self, name: str) -> str: ...
    def _read_full(self, ids: list[str], stream: StreamInfo) -> dict[str, Answer]: ...
    def _page(
        self, link: str, params: dict[str, str] | None, *, resumed: bool
    ) -> dict[str, Any]: ...
    def _initial_link(self, folder: str) -> str: ...
    def _raw(self, doc: dict[str, Any], stream: StreamInfo) -> RawMessage | None: ...
    def _fresh_round(self, folder: str) -> str: ...
    def _check_cursor(self, cursor: str) -> None: ...


class _CalendarHost(Protocol):
    api: GraphApi

    @property
    def settings(self) -> _Settings: ...
    @property
    def _base(self) -> str: ...
    def _prefer(self, paged: bool = True) -> dict[str, str]: ...
    def _window_for(self, cursor: str | None) -> tuple[datetime, datetime]: ...
    def _event(self, doc: dict[str, Any], calendar: str) -> RawEvent | None: ...
    def _fresh_round(self, now: datetime) -> str: ...


def _listing(api: GraphApi, link: str, params: dict[str, str] | None, what: str, **kw: Any) -> Any:
    """Every row of a listing, following ``@odata.nextLink``."""
    while True:
        doc = api.call("GET", link, what, params=params, **kw) or {}
        yield from doc.get("value", [])
        nxt = doc.get("@odata.nextLink")
        if not nxt:
            return
        link, params = str(nxt), None


class GraphMailReconcile:
    """`Reconcilable` for `OutlookMailSource`."""

    def recent_ids(
        self: _MailHost, stream: StreamInfo, since: datetime, *, cursor: str | None = None
    ) -> set[str]:
        if cursor is not None:
            self._check_cursor(cursor)
        folder = self._folder_id(stream.name)
        rows = _listing(
            self.api,
            f"{self._base}/mailFolders/{quote(folder, safe='')}/messages",
            {
                "$filter": f"receivedDateTime ge {_z(since)}",
                "$select": "id,isDraft",
                "$top": str(ID_PAGE),
            },
            "Graph message ids (reconcile)",
            headers={"Prefer": f"odata.maxpagesize={ID_PAGE}"},
        )
        return {str(r["id"]) for r in rows if not r.get("isDraft")}

    def fetch(self: _MailHost, stream: StreamInfo, ids: Collection[str]) -> Iterator[Batch]:
        wanted = sorted(ids)
        step = max(1, self.settings.items)
        for start in range(0, len(wanted), step):
            chunk = wanted[start : start + step]
            answers = self._read_full(chunk, stream)
            items = []
            for i in chunk:
                a = answers.get(i)
                if a is None or a.status != 200 or not isinstance(a.body, dict):
                    continue  # gone since (404)
                raw = self._raw(a.body, stream)
                if raw is not None:
                    items.append(raw)
            yield Batch(items=items, cursor=None, read=len(items), done=start + step >= len(wanted))

    def baseline(self: _MailHost, stream: StreamInfo, *, now: datetime) -> str:
        return self._fresh_round(self._folder_id(stream.name))


class GraphCalendarReconcile:
    """`Reconcilable` for `OutlookCalendarSource`."""

    def recent_ids(
        self: _CalendarHost, stream: StreamInfo, since: datetime, *, cursor: str | None = None
    ) -> set[str]:
        start, end = self._window_for(cursor)
        start = max(start, since)
        if end <= start:
            return set()
        rows = _listing(
            self.api,
            f"{self._base}/calendarView",
            {
                "startDateTime": _z(start),
                "endDateTime": _z(end),
                "$select": "id,start,end,isCancelled,transactionId,subject",
                "$top": str(ID_PAGE),
            },
            "Graph calendarView (reconcile)",
            headers=self._prefer(),
        )
        return {str(r["id"]) for r in rows if self._event(r, stream.name) is not None}

    def fetch(self: _CalendarHost, stream: StreamInfo, ids: Collection[str]) -> Iterator[Batch]:
        wanted = sorted(ids)
        step = max(1, self.settings.items)
        prefer = self._prefer(paged=False)
        for start in range(0, len(wanted), step):
            chunk = wanted[start : start + step]
            answers = self.api.batch(
                [
                    BatchRequest(i, "GET", f"{self._base}/events/{quote(i, safe='')}", None, prefer)
                    for i in chunk
                ],
                "Graph events (reconcile)",
            )
            items = []
            for i in chunk:
                a = answers.get(i)
                if a is None or a.status != 200 or not isinstance(a.body, dict):
                    continue
                event = self._event(a.body, stream.name)
                if event is not None:
                    items.append(event)
            yield Batch(items=items, cursor=None, read=len(items), done=start + step >= len(wanted))

    def baseline(self: _CalendarHost, stream: StreamInfo, *, now: datetime) -> str:
        return self._fresh_round(now)


__all__ = ["GraphCalendarReconcile", "GraphMailReconcile"]
