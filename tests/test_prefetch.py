"""prefetch: the next batch is read while the current one is stored, and nothing else changes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from syncd.sync.prefetch import prefetch


def test_items_arrive_in_order_and_whole() -> None:
    assert list(prefetch(iter(range(1000)), depth=3)) == list(range(1000))
    assert list(prefetch(iter([]))) == []


def test_the_next_item_is_read_while_the_caller_holds_the_current_one() -> None:
    reading_second = threading.Event()

    def source() -> Iterator[int]:
        yield 1
        reading_second.set()
        yield 2

    it = prefetch(source())
    assert next(it) == 1
    # Without a thread, the second item would only be read when asked for.
    assert reading_second.wait(timeout=10)
    assert next(it) == 2


def test_a_source_error_arrives_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("dropped mid-fetch")

    got: list[int] = []
    with pytest.raises(ConnectionError, match="dropped mid-fetch"):
        for item in prefetch(source(), depth=5):
            got.append(item)
    assert got == [1, 2]


def test_stopping_early_closes_the_source_in_its_thread_and_waits_for_it() -> None:
    closed = threading.Event()
    threads: set[str] = set()
    produced: list[int] = []

    def source() -> Iterator[int]:
        try:
            for i in range(10_000):
                threads.add(threading.current_thread().name)
                produced.append(i)
                yield i
        finally:
            closed.set()

    it = prefetch(source(), depth=2)
    for item in it:
        if item == 3:
            break
    it.close()  # what a for loop's owner does when an error leaves it
    assert closed.is_set()  # closed before close() returned: the source is idle now
    assert threads == {"syncd-prefetch"}
    assert len(produced) <= 3 + 1 + 2 + 1  # taken, in hand, queued, and one being put


def test_an_error_while_storing_stops_the_producer() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.set()

    def store_all() -> None:
        for item in prefetch(source()):
            if item == 5:
                raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store_all()
    assert closed.wait(timeout=10)
