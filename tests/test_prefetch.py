"""prefetch: the next batch is read while the current one is stored, and nothing else changes."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

from connectors.base import take_turn
from syncd.sync.prefetch import SWITCH_SECONDS, Gate, prefetch


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


def _gated_source(started: list[int], n: int) -> Iterator[int]:
    for i in range(n):
        take_turn()  # as the readers and prepare_batch do before each message
        started.append(i)
        yield i


def test_a_gated_producer_waits_while_the_caller_runs_and_works_while_it_waits() -> None:
    gate = Gate()
    started: list[int] = []
    switch = sys.getswitchinterval()
    it = prefetch(_gated_source(started, 50), depth=1, gate=gate)
    assert next(it) == 0
    time.sleep(0.2)  # the caller "stores" item 0, with the gate closed
    # At most the item it had begun when the gate closed. Ungated, it would have begun
    # item 2 as well (item 1 queued, item 2 read and waiting to be put).
    assert len(started) <= 2
    assert sys.getswitchinterval() == min(switch, SWITCH_SECONDS)
    gate.open()  # a long database call: the producer's turn
    deadline = time.monotonic() + 10
    while len(started) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(started) >= 3
    gate.close()
    assert list(it) == list(range(1, 50))  # waiting for an item opens the gate each time
    assert sys.getswitchinterval() == switch


def test_stopping_with_the_gate_closed_releases_the_paused_producer() -> None:
    gate = Gate()
    started: list[int] = []
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from _gated_source(started, 1000)
        finally:
            closed.set()

    it = prefetch(source(), gate=gate)
    assert next(it) == 0
    time.sleep(0.05)  # the producer is paused at the gate, which the caller keeps closed
    it.close()  # would wait for ever if the paused producer were not let go
    assert closed.is_set()
    assert len(started) <= 3
