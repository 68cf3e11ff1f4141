"""`syncd import ics`: one .ics file as well as a folder of them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import Batch, StreamInfo
from connectors.ics import IcsFolderSource, read_ics_file


class SingleIcs(IcsFolderSource):
    """`syncd import ics` takes one .ics file as well as a folder of them."""

    def __init__(self, path: Path, lookback: timedelta, horizon: timedelta, batch: int) -> None:
        self.file = path if path.is_file() else None
        super().__init__(
            path.parent if self.file else path, lookback=lookback, horizon=horizon, batch_size=batch
        )

    def streams(self) -> list[StreamInfo]:
        if self.file is None:
            return super().streams()
        return [StreamInfo(name=self.file.name, kind="calendar")]

    def poll(
        self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Any]:
        if self.file is None:
            yield from super().poll(stream, cursor, now=now, full=full)
            return

        events = read_ics_file(
            self.file,
            window_start=now - self.lookback,
            window_end=now + self.horizon,
            calendar=self.file.name,
        )
        for i in range(0, len(events), self.batch_size):
            yield Batch(items=events[i : i + self.batch_size], cursor=None, read=1)
        yield Batch(items=(), cursor=None, read=0, done=True)
