"""`no_cyclic_gc()`: the cyclic garbage collector paused for a block that builds many
objects and leaves no garbage cycles behind (importing a command's modules, reading and
planning a snapshot). Reference counting still frees what the block drops; collections
resume afterwards. Never around a loop that runs for long (the daemon's passes).

Resuming is not free: everything the block made is still in the youngest generation, and
the first allocation after it starts a collection that walks all of it (64 ms after the
imports of `syncd plan`, 28 ms after its planning, at 50,000 contacts). With `keep=True`
the block's survivors are frozen instead (`gc.freeze()`: moved to the permanent
generation, never walked again): for what lives as long as the process, such as imported
modules, or a one-shot command's result that is printed before it exits. Frozen objects
are still freed by reference counting; only a cycle among them would never be, so the
daemon freezes nothing it drops again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc(keep: bool = False) -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if keep:
                gc.freeze()
            gc.enable()
