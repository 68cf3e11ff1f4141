"""`no_cyclic_gc()`: the cyclic garbage collector paused for a block that builds many
objects and leaves no garbage cycles behind (importing a command's modules, reading and
planning a snapshot). Reference counting still frees what the block drops; collections
resume afterwards. Never around a loop that runs for long (the daemon's passes)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
