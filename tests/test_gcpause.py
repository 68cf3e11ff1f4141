"""The cyclic collector paused or frozen (syncd/gcpause.py).

`no_cyclic_gc`: paused for a block, and with `keep` the block's survivors frozen so that
resuming does not walk them all. `frozen_heap`, the collector during a backfill: the
objects alive when it starts are frozen (left out of collections) while its batches are
stored, and given back afterwards, also when it fails; a poll from a cursor leaves the
collector as it is."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syncd.config import load_config
from syncd.gcpause import YOUNG_OBJECTS, frozen_heap, no_cyclic_gc
from syncd.store.db import Store
from syncd.sync.passes import Syncer, sync_all
from tests.util import deliver, make_maildir, message, write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    gc.collect()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.enable()


def _collections_after(keep: bool) -> int:
    """How many collections start from the end of a block that made 20,000 objects until
    500 more are made (the youngest generation's threshold is 700 allocations)."""
    started: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with no_cyclic_gc(keep=keep):
            assert not gc.isenabled()
            made: list[list[int]] = [[] for _ in range(20_000)]
        assert gc.isenabled()
        after: list[list[int]] = [[] for _ in range(500)]
    finally:
        gc.callbacks.remove(count)
    del made, after  # freed by reference counting either way
    return len(started)


def test_resuming_walks_what_the_block_made() -> None:
    assert _collections_after(keep=False) >= 1
    assert gc.get_freeze_count() == 0


def test_keep_freezes_the_survivors_so_that_resuming_walks_none_of_them() -> None:
    assert _collections_after(keep=True) == 0
    assert gc.get_freeze_count() >= 20_000


def test_a_nested_block_leaves_resuming_to_the_outer_one() -> None:
    with no_cyclic_gc(keep=True):
        with no_cyclic_gc():
            made: list[list[int]] = [[] for _ in range(20_000)]
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() >= len(made)


def test_a_block_inside_a_disabled_collector_leaves_it_disabled() -> None:
    gc.disable()
    with no_cyclic_gc(keep=True):
        pass
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def test_frozen_heap_freezes_what_exists_and_gives_it_back() -> None:
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    assert thresholds[0] < YOUNG_OBJECTS
    before: list[object] = [object()]  # a tracked object made before
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert gc.get_threshold() == (YOUNG_OBJECTS, *thresholds[1:])
        assert not any(o is before for o in gc.get_objects())  # out of every generation
        # The same objects stay frozen: none more, none given back. (A frozen object can
        # still be freed by reference counting, by another thread of the test worker too.)
        with frozen_heap():  # nested: nothing more is frozen, nothing given back early
            assert frozen - 100 < gc.get_freeze_count() <= frozen
        assert frozen - 100 < gc.get_freeze_count() <= frozen
        made: list[list[int]] = [[] for _ in range(1000)]  # made inside: collected as usual
        assert frozen - 100 < gc.get_freeze_count() <= frozen
        del made
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
    assert any(o is before for o in gc.get_objects())


def test_frozen_heap_gives_the_heap_back_after_an_error() -> None:
    with pytest.raises(RuntimeError), frozen_heap():
        assert gc.get_freeze_count() > 0
        raise RuntimeError("the connection dropped")
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold()[0] < YOUNG_OBJECTS


class _Watch:
    """A sync's progress (the CLI's bar, here a recorder): the frozen count at each batch."""

    def __init__(self) -> None:
        self.frozen: list[int] = []

    def start_stream(self, label: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        self.frozen.append(gc.get_freeze_count())

    def end_stream(self) -> None:
        pass


def test_a_first_read_stores_its_batches_with_the_heap_frozen(tmp_path: Path) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX")
    for i in range(3):
        deliver(
            mail,
            message(
                sender="Priya Raman <priya@acme.example>",
                to="alex@example.com",
                subject=f"Plan {i}",
                date=NOW - timedelta(days=i + 1),
                message_id=f"p{i}@acme.example",
            ),
        )
    body = f'\n[[accounts]]\nname = "work"\nkind = "maildir"\npath = "{mail}"\n'
    store_url = f"sqlite:///{tmp_path / 'syncd.db'}"
    config = load_config(write_config(tmp_path / "syncd.toml", body, store_url=store_url))
    store = Store(config.store_url)
    store.check_ready()
    syncer = Syncer(store, config, store.ensure_owner("default", NOW))
    first = _Watch()
    assert not sync_all(syncer, now_fn=lambda: NOW, progress=first).errors
    assert first.frozen and all(n > 0 for n in first.frozen)
    assert gc.get_freeze_count() == 0
    deliver(
        mail,
        message(
            sender="Priya Raman <priya@acme.example>",
            to="alex@example.com",
            subject="Later",
            date=NOW,
            message_id="later@acme.example",
        ),
    )
    later = _Watch()
    assert not sync_all(syncer, now_fn=lambda: NOW, progress=later).errors
    assert later.frozen == [0]  # a poll from the cursor: the daemon's passes, untouched
    store.dispose()
