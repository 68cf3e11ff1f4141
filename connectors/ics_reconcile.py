"""Proof of completeness (`connectors.base.Reconcilable`) for a folder of .ics files.

Mixed into `connectors.ics.IcsFolderSource`. The folder is local, so the listing is the
source's own poll: every id is the one `poll` gives, under the same window
``[now - lookback, now + horizon]``, the same `RecurrenceLimits` and the same
per-calendar budget spent across the files in the order poll walks them.

- `recent_ids`: a first poll at the source's clock, keeping the instances that start at or
  after `since`. A `cursor` given is only checked: one that cannot be read raises
  `CursorExpired`.
- `fetch`: only the files that hold the ids asked for (their relative path is the part of
  the id before a ``#``) are read, over the poll window; only the instances asked for are
  yielded, in batches with cursor None.
- `baseline`: the cursor a first poll at `now` leaves.

This module never imports `connectors.ics` at run time (that module imports this one).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, cast

from connectors.base import Batch, RawEvent, SourceInvalid, StreamInfo
from connectors.ical import IcsFileError, parse_ics

if TYPE_CHECKING:
    from connectors.ics import IcsFolderSource


class IcsReconcile:
    """`Reconcilable` for `IcsFolderSource`."""

    def recent_ids(
        self, stream: StreamInfo, since: datetime, *, cursor: str | None = None
    ) -> set[str]:
        source = cast("IcsFolderSource", self)
        source._check_cursor(cursor)
        found: set[str] = set()
        for batch in source.poll(stream, None, now=source.clock()):
            found.update(
                e.provider_id for e in batch.items if isinstance(e, RawEvent) and e.start >= since
            )
        return found

    def fetch(self, stream: StreamInfo, ids: Collection[str]) -> Iterator[Batch]:
        source = cast("IcsFolderSource", self)
        wanted = set(ids)
        prefixes = {i[:at] for i in wanted for at, ch in enumerate(i) if ch == "#"}
        now = source.clock()
        start, end = now - source.lookback, now + source.horizon
        directory = source._stream_dir(stream.name)
        items: list[RawEvent] = []
        for entry in source._entries(directory):
            path = directory / entry.name
            relpath = path.relative_to(source.path).as_posix()
            if relpath not in prefixes:
                continue
            try:
                parsed = parse_ics(
                    path.read_bytes(),
                    window_start=start,
                    window_end=end,
                    calendar=stream.name,
                    relpath=relpath,
                    limits=source.limits,
                    owner=source.owner,
                )
            except (OSError, IcsFileError):
                continue  # gone or garbage since: poll would not yield it either
            items.extend(e for e in parsed.events if e.provider_id in wanted)
            if len(items) >= source.batch_size:
                yield Batch(items=items, cursor=None, read=len(items))
                items = []
        yield Batch(items=items, cursor=None, read=len(items), done=True)

    def baseline(self, stream: StreamInfo, *, now: datetime) -> str:
        source = cast("IcsFolderSource", self)
        cursor: str | None = None
        for batch in source.poll(stream, None, now=now):
            cursor = batch.cursor
        if cursor is None:  # poll always ends with a batch carrying its cursor
            raise SourceInvalid(f"{source.path}: no cursor for {stream.name!r}")
        return cursor


__all__ = ["IcsReconcile"]
