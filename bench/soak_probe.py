"""In-process probe for bench/soak.py: the daemon's passes back to back on a fake clock.

Builds the soak's folder, then runs `Daemon._pass` N times in this process, the clock one
second further each time and a new message every --mail-every passes; every --every passes
prints RSS, Python's allocated blocks (flat: no Python object leaks), SQLite's own heap
(sqlite3_memory_used: its page and statement caches), SQLAlchemy's compiled-cache size, the
pool, and the gc object types that grew most; --trace adds a tracemalloc diff (slow).
Finds what grows in minutes instead of an hour; bench/soak.py is the proof. The store starts
as the bare demo one (SQLite's page cache is seen filling as the mail comes) or with --seed
messages, as bench/soak.py does.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import gc
import os
import sys
import tempfile
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from soak import prepare, read_proc, write_mail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=3000)
    ap.add_argument("--mail-every", type=int, default=10)
    ap.add_argument("--every", type=int, default=300)
    ap.add_argument("--trace", action="store_true", help="tracemalloc diff at the end")
    ap.add_argument("--seed", type=int, default=0, help="messages before the first pass")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="syncd-probe."))
    config = prepare(work)
    start_at = datetime.now(UTC)
    for n in range(args.seed):
        ago = timedelta(days=90) * (args.seed - n) / args.seed
        write_mail(work / "examples" / "mail", n, start_at - ago, tag="seed")
    os.environ["SYNCD_STATE_DIR"] = str(work / "state")
    os.environ.pop("SYNCD_NOW", None)
    os.chdir(work)
    from syncd.cli.root import main as cli_main

    with contextlib.suppress(SystemExit):
        cli_main(["--config", str(config), "init"])
    import _sqlite3

    from syncd.cli.app import App
    from syncd.daemon.loop import Daemon

    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    used.restype = ctypes.c_int64
    app = App(str(config))
    fake = [1000.0]
    d = Daemon(app.config, app.store, app.owner_id, now=app.now, clock=lambda: fake[0])
    if args.trace:
        tracemalloc.start(15)
    first = None
    base_types: collections.Counter[str] | None = None
    mails = 0
    for i in range(1, args.passes + 1):
        fake[0] += 1.0
        if i % args.mail_every == 0:
            write_mail(work / "examples" / "mail", mails)
            mails += 1
        d._pass()
        if i % args.every == 0:
            gc.collect()
            rss, fds, cpu = read_proc(os.getpid())
            cache = d.store.engine._compiled_cache
            traced = tracemalloc.get_traced_memory()[0] if args.trace else 0
            types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
            grew = ""
            if base_types is not None:
                top = (types - base_types).most_common(6)
                grew = " ".join(f"{k}+{v}" for k, v in top)
            else:
                base_types = types
            print(
                f"pass {i:6d} mails {mails:5d} rss {rss / 1024:7.2f} MB fds {fds:3d}"
                f" cpu {cpu:7.1f}s traced {traced / 1024:8.1f} KiB"
                f" blocks {sys.getallocatedblocks()}"
                f" sa_cache {len(cache) if cache is not None else '-'}"
                f" sqlite {used() / 1024:7.1f} KiB pool {d.store.engine.pool.status()} {grew}",
                flush=True,
            )
            if args.trace and i == args.every * 2:
                first = tracemalloc.take_snapshot()
    if args.trace and first is not None:
        last = tracemalloc.take_snapshot()
        for stat in last.compare_to(first, "traceback")[:12]:
            if stat.size_diff <= 0:
                continue
            print(f"\n+{stat.size_diff / 1024:.1f} KiB, +{stat.count_diff} blocks")
            for line in stat.traceback.format(limit=15):
                print("   ", line)


if __name__ == "__main__":
    main()
