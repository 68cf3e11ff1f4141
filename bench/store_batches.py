#!/usr/bin/env python3
"""Serial benchmark of ingest's storing alone: `store_prepared` and the commit, per batch.

A Maildir (bench/ingest.py --generate-only writes one) is read with `MaildirSource` in
batches of --batch messages and every batch is prepared first (classified: untimed, and
cached in --cache as a pickle, so that later runs skip it). Then, --reps times, a fresh
store (SQLite in --work, or a new database on the PostgreSQL server of --pg) takes the
batches one by one, each in its own transaction as `syncd sync` stores them; only
`store_prepared` and the commit are timed: wall time, this thread's CPU
(`time.thread_time`), and the wall time outside the driver (its statements, an
executemany's binding included, and the commits): Python's part, which holds the GIL. It
prints each repetition and the minimum of each figure, and with --digest a hash of what the
store holds (every table but the derived tables' own ids), to compare two versions of the
code on the same input.

No other thread runs: the figures are the main thread's work in `syncd sync`'s backfill
without the reader beside it. Run it with another checkout's code by putting that checkout
first on PYTHONPATH.

Examples:
  python bench/ingest.py --generate-only --n 20000 --dir /tmp/mail20k
  python bench/store_batches.py /tmp/mail20k/n20000-seed1/maildir --reps 5
  python bench/store_batches.py MAILDIR --reps 1 --profile 30    # cProfile, top 30
  python bench/store_batches.py MAILDIR --pg postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import pickle
import pstats
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OWNER_TOML = """[owner]
name = "Alex Morgan"
addresses = ["alex@example.com", "alex.morgan@example.com"]
timezone = "Europe/Berlin"
"""


def _config(work: Path) -> Any:
    from syncd.config import load_config

    cfg = work / "syncd.toml"
    cfg.write_text(OWNER_TOML, encoding="utf-8")
    return load_config(cfg)


def _ctx(config: Any, owner_id: int, account_id: int, stream_id: int) -> Any:
    from syncd.ingest.batch import IngestContext, Privacy

    return IngestContext(
        owner_id=owner_id,
        account_id=account_id,
        stream_id=stream_id,
        identity=config.owner.identity(),
        options=config.settings.classify.options(config.settings.sync.max_group_size),
        contact_policy=config.settings.sync.contact_policy,
        privacy=Privacy(),
        now=NOW,
    )


def prepared_batches(maildir: Path, batch: int, cache: Path, config: Any) -> list[Any]:
    """[(stream name, [Prepared, ...]), ...], from the cache when it has them."""
    key = hashlib.sha256(f"{maildir.resolve()}|{batch}".encode()).hexdigest()[:16]
    path = cache / f"prepared-{key}.pickle"
    if path.exists():
        with open(path, "rb") as fh:
            got: list[Any] = pickle.load(fh)
        return got
    from connectors.maildir import MaildirSource
    from syncd.ingest.batch import prepare_batch

    source = MaildirSource(maildir, batch_size=batch)
    ctx = _ctx(config, 0, 0, 0)
    out = []
    for info in source.streams():
        batches = [prepare_batch(ctx, b.items) for b in source.poll(info, None, now=NOW, full=True)]
        out.append((info.name, [b for b in batches if b.seen]))
    cache.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(out, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def _pg_database(admin_url: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"syncd_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def digest(store: Any) -> str:
    """A hash of every table's rows (the derived tables without their own ids)."""
    from sqlalchemy import select

    from syncd.store.models import Base

    skip_id = {"contact_buckets", "contact_stats", "interaction_facts"}
    h = hashlib.sha256()
    with store.session() as s:
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.c if not (table.name in skip_id and c.name == "id")]
            rows = s.execute(select(*cols)).all()
            h.update(table.name.encode())
            for row in sorted(repr(tuple(r)) for r in rows):
                h.update(row.encode())
    return h.hexdigest()[:16]


def _time_statements(engine: Any, totals: dict[str, list[float]]) -> None:
    """Add each statement's wall time (and count) to `totals`, by its text."""
    from sqlalchemy import event

    def before(conn: Any, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        got = totals.setdefault(statement, [0.0, 0])
        got[0] += time.perf_counter() - conn.info.pop("bench_t0")
        got[1] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)


@dataclass
class Run:
    wall: float = 0.0  # store_prepared and the commit, per batch, summed
    cpu: float = 0.0  # the same in this thread's CPU time
    driver: float = 0.0  # inside the driver: statements (an executemany's binding too), commits
    statements: dict[str, list[float]] = field(default_factory=dict)


def run_once(
    url: str, config: Any, streams: list[Any], profile: cProfile.Profile | None
) -> tuple[Run, Any]:
    from syncd.gcpause import frozen_heap
    from syncd.ingest.batch import store_prepared
    from syncd.store.db import Store, lock_owner_writes
    from syncd.store.models import Account, Stream

    store = Store(url)
    store.check_ready()
    with store.session() as s, s.begin():
        owner_id = store.ensure_owner("bench", NOW)
        account = Account(owner_id=owner_id, name="bench", kind="maildir", created_at=NOW)
        s.add(account)
        s.flush()
        rows = [
            Stream(owner_id=owner_id, account_id=account.id, name=name, kind="mail", items=0)
            for name, _ in streams
        ]
        s.add_all(rows)
        s.flush()
        ctxs = [_ctx(config, owner_id, account.id, r.id) for r in rows]
    run = Run()
    _time_statements(store.engine, run.statements)
    commits = 0.0
    with store.backfill_cache(), frozen_heap():
        for ctx, (_, batches) in zip(ctxs, streams, strict=True):
            for prepared in batches:
                t0, c0 = time.perf_counter(), time.thread_time()
                if profile is not None:
                    profile.enable()
                with store.session() as s:
                    tx = s.begin()
                    lock_owner_writes(s, owner_id)
                    store_prepared(s, ctx, prepared)
                    t1 = time.perf_counter()
                    tx.commit()
                    commits += time.perf_counter() - t1
                if profile is not None:
                    profile.disable()
                run.wall += time.perf_counter() - t0
                run.cpu += time.thread_time() - c0
    run.driver = commits + sum(t for t, _ in run.statements.values())
    return run, store


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("maildir", type=Path)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--work", type=Path, default=Path("/tmp/store-bench"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/store-bench-cache"))
    ap.add_argument("--pg", help="a PostgreSQL URL to create the stores' databases on")
    ap.add_argument("--digest", action="store_true", help="hash the store after the last run")
    ap.add_argument("--profile", type=int, metavar="N", help="cProfile; print the top N")
    ap.add_argument("--profile-out", type=Path, help="with --profile, also save the stats")
    ap.add_argument(
        "--statements", type=int, metavar="N", help="the N statements that took longest (a run)"
    )
    args = ap.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    config = _config(args.work)
    streams = prepared_batches(args.maildir, args.batch, args.cache, config)
    n = sum(b.seen for _, bs in streams for b in bs)
    print(f"{n} messages in {sum(len(bs) for _, bs in streams)} batches", file=sys.stderr)
    gc.collect()
    profile = cProfile.Profile() if args.profile else None
    runs: list[Run] = []
    for rep in range(args.reps):
        drop = None
        if args.pg:
            url, drop = _pg_database(args.pg)
        else:
            shutil.rmtree(args.work / "state", ignore_errors=True)
            url = f"sqlite:///{args.work / 'state' / 'syncd.db'}"
        run, store = run_once(url, config, streams, profile)
        runs.append(run)
        print(
            f"rep {rep + 1}: store {run.wall:.2f} s wall, {run.cpu:.2f} s CPU;"
            f" {run.driver:.2f} s in the driver, {run.wall - run.driver:.2f} s outside",
            file=sys.stderr,
        )
        if args.digest and rep == args.reps - 1:
            print(f"digest {digest(store)}")
        store.dispose()
        if drop is not None:
            drop()
    print(
        f"min of {args.reps}: store {min(r.wall for r in runs):.2f} s wall,"
        f" {min(r.cpu for r in runs):.2f} s CPU;"
        f" {min(r.wall - r.driver for r in runs):.2f} s outside the driver"
    )
    if args.statements:
        totals: dict[str, list[float]] = {}
        for run in runs:
            for sql, (spent, count) in run.statements.items():
                got = totals.setdefault(sql, [0.0, 0])
                got[0] += spent / len(runs)
                got[1] += count / len(runs)
        top = sorted(totals.items(), key=lambda kv: -kv[1][0])[: args.statements]
        for sql, (spent, count) in top:
            print(f"{spent:8.2f} s {int(count):6d}x  {' '.join(sql.split())[:150]}")
    if profile is not None:
        if args.profile_out:
            profile.dump_stats(str(args.profile_out))
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
