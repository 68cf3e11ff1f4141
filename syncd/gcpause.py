"""`no_cyclic_gc()`: the cyclic garbage collector paused for a block that builds many
objects and leaves no garbage cycles behind (importing a command's modules, reading and
planning a snapshot). Reference counting still frees what the block drops; collections
resume afterwards. Never around a loop that runs for long (the daemon's passes).

`frozen_heap()`: for a long block that makes and drops many objects (a backfill's batches),
the objects that exist when it starts are set aside from collection (`gc.freeze`) and
given back when it ends (`gc.unfreeze`). Collections still run, over what the block made:
a backfill's full collections otherwise walked the 200,000-odd objects of the modules
every time, a sixth of its CPU at 20,000 messages."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Collections inside skip what was alive at the start (nested: only the outermost
    freezes and unfreezes)."""
    global _frozen
    if _frozen:
        yield
        return
    _frozen = True
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        _frozen = False


_frozen = False


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
