"""Read a source's next batch while the current one is being stored.

A backfill alternates two kinds of work: the source reads (socket or disk waits, parsing)
and the store writes (SQLite and psycopg do their work with the GIL released). Run one
after the other, each waits for the other. `prefetch` runs the iterator in a thread, at
most `depth` items ahead, so the two overlap; the consumer still sees the items in order,
one at a time, and commits each batch with its cursor as before, so what a crash leaves
behind is unchanged: the producer never writes anything.

An exception in the producer is raised in the consumer at the point where the next item
would have come. When the consumer stops early (an error while storing, or it simply
stops iterating), the producer is told to stop and is waited for, so the source is never
used by two threads at once and is idle when `prefetch` returns.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import Generic, TypeVar

from connectors.base import close_if_closable

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.1


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Prefetch(Generic[T]):
    def __init__(self, source: Iterator[T], depth: int) -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="syncd-prefetch", daemon=True)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    break
            else:
                self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, not swallowed
            self._put(_Failure(exc))
        finally:
            # A generator's finally blocks run here, in the thread that ran it.
            close_if_closable(self._source)

    def __iter__(self) -> Generator[T, None, None]:
        self._thread.start()
        try:
            while True:
                got = self._queue.get()
                if got is _DONE:
                    return
                if isinstance(got, _Failure):
                    raise got.exc
                yield got  # type: ignore[misc]
        finally:
            self._stop.set()
            self._thread.join()


def prefetch(source: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """Iterate `source` in a background thread, up to `depth` items ahead of the caller."""
    return _Prefetch(source, depth).__iter__()
