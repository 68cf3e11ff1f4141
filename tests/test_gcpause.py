"""`no_cyclic_gc`: the collector paused for a block, and with `keep` the block's survivors
frozen so that resuming does not walk them all (syncd/gcpause.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from syncd.gcpause import no_cyclic_gc


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
