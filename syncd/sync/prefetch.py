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

Two threads of Python do not run at once (the GIL), so the producer gains time only while
the consumer is inside one long call that lets go of the GIL: one SQL statement, a commit.
Left to itself, the producer also runs while the consumer needs the GIL, and the consumer
then waits for it at every step of the interpreter's switching: an ``executemany`` gives
the GIL up and takes it back at every row, and each time waited up to the switch interval
(5 ms) for the producer to let go. Measured on a 100k IMAP backfill: the thread made the
store's inserts 3.4 times slower in wall time and the whole backfill no faster than
without the thread. With a `Gate`, the producer runs in turns: while the consumer waits
for it, and while the consumer is inside a single statement or a commit
(`Store.around_long_calls` opens the gate then). The producer's thread waits for its turn
before each message it parses or classifies (`connectors.base.take_turn`). Meanwhile the
switch interval is 0.5 ms, so the consumer, back from its call, has the GIL within that.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Generator, Iterator
from contextlib import nullcontext
from typing import Generic, TypeVar

from connectors.base import close_if_closable, turns

T = TypeVar("T")

_DONE = object()
_POLL_SECONDS = 0.1
SWITCH_SECONDS = 0.0005  # the interpreter's switch interval while a gated prefetch runs


class Gate:
    """When the producer of a prefetch may run: open while the consumer waits for it or
    sits in a long call without the GIL, closed while the consumer runs Python.

    The producer's thread calls `pause` between items of its work (through
    `connectors.base.take_turn`, which the readers and the classifier call); the consumer
    calls `open` and `close`. Open when made, and opened again when the prefetch ends, so
    that a paused producer sees that it is told to stop."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()

    def pause(self) -> None:
        self._open.wait()

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Prefetch(Generic[T]):
    def __init__(self, source: Iterator[T], depth: int, gate: Gate | None) -> None:
        self._source = source
        self._gate = gate
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
        # With a gate, the source's `take_turn` calls wait for this thread's turn.
        gated = turns(self._gate.pause) if self._gate is not None else nullcontext()
        try:
            with gated:
                for item in self._source:
                    if not self._put(item):
                        break
                else:
                    self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, not swallowed
            self._put(_Failure(exc))
        finally:
            # A generator's finally blocks run here, in the thread that ran it (no turns).
            close_if_closable(self._source)

    def __iter__(self) -> Generator[T, None, None]:
        gate = self._gate or Gate()
        switch = sys.getswitchinterval()
        if self._gate is not None:
            sys.setswitchinterval(min(switch, SWITCH_SECONDS))
        self._thread.start()
        try:
            while True:
                gate.open()  # the producer's turn while this thread waits
                got = self._queue.get()
                gate.close()
                if got is _DONE:
                    return
                if isinstance(got, _Failure):
                    raise got.exc
                yield got  # type: ignore[misc]
        finally:
            self._stop.set()
            gate.open()
            self._thread.join()
            sys.setswitchinterval(switch)


def prefetch(
    source: Iterator[T], depth: int = 1, gate: Gate | None = None
) -> Generator[T, None, None]:
    """Iterate `source` in a background thread, up to `depth` items ahead of the caller.

    With a `gate` (whose `pause` the source calls between items), the thread runs only
    while the caller waits for an item or opens the gate."""
    return _Prefetch(source, depth, gate).__iter__()
