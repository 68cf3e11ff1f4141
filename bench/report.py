#!/usr/bin/env python3
"""`syncd report` over a large store: 50,000 contacts and 2,000,000 interactions.

Fills a SQLite store with bench/plan.py's generator (the same people, threads, noise,
meetings and tiers over three years), then runs `syncd report --json` and
`syncd report --html FILE` in child processes and prints their wall time and peak RSS,
and the time of each measure in this process (one query or a few each; nothing loads the
history into Python, so memory follows the number of months and tiers).

  python bench/report.py                  # 50,000 contacts, 2,000,000 interactions
  python bench/report.py --contacts 5000 --interactions 200000
  python bench/report.py --since 2024-01-01   # a longer period: three years of months
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan import (  # bench/plan.py, beside this file
    CACHE,
    NOW,
    _fig,
    _load,
    floor,
    measure,
    prepared_store,
)


def _rebuild(db: Path, module: str, table: str, what: str) -> None:
    """The generator writes rows with sqlite3, past ingest: build the derived `table` it
    skipped, with `syncd.store.<module>.rebuild_all` (a migration backfills it on an older
    store, which is what a cached store copied to a newer schema's name gets)."""
    import importlib

    try:
        derived = importlib.import_module(f"syncd.store.{module}")
    except ImportError:  # the code before the table existed
        return
    from syncd.store.db import Store

    conn = sqlite3.connect(db)
    present = conn.execute(f"select count(*) from {table}").fetchone()[0]
    conn.close()
    if present:
        return
    store = Store(f"sqlite:///{db}")
    t = time.perf_counter()
    with store.session() as s, s.begin():
        n = derived.rebuild_all(s)
    store.dispose()
    print(f"{what} rebuilt: {n:,} rows in {time.perf_counter() - t:.1f} s")


def per_measure(db: Path, since: datetime) -> list[tuple[str, float, float]]:
    """Each step of the report timed on its own, in this process: wall and CPU time."""
    from syncd.store.db import Store
    from syncd.store.report_measures import (
        ReportParams,
        active_network,
        contact_states,
        interactions_by_month,
        month_ends,
        responses,
        staged,
        tier_activity,
    )

    store = Store(f"sqlite:///{db}")
    owner = store.ensure_owner("default", NOW)
    p = ReportParams(now=NOW, since=since, tiers={"key": 14, "regular": 90})
    steps = [
        ("interactions by month", lambda s: interactions_by_month(s)),
        ("responses, both ways", lambda s: responses(s, p)),
        ("active network by month", lambda s: active_network(s, p, month_ends(since, NOW))),
        ("per tier activity", lambda s: tier_activity(s, p)),
        ("overdue, dormant, neglected", lambda s: contact_states(s, owner, p)),
    ]
    out = []
    clock = [0.0, 0.0]

    def table_staged(table: str) -> None:  # staged() calls it as each table is filled
        out.append((f"  of which {table}", *_since(*clock)))
        clock[:] = [time.perf_counter(), time.process_time()]

    with store.session() as s:
        t, c = time.perf_counter(), time.process_time()
        clock[:] = [t, c]
        with staged(s, owner, p, table_staged):
            out.append(("staging (the period, the contacts)", *_since(t, c)))
            for name, step in steps:
                t, c = time.perf_counter(), time.process_time()
                step(s)
                out.append((name, *_since(t, c)))
    store.dispose()
    return out


def _since(wall: float, cpu: float) -> tuple[float, float]:
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--contacts", type=int, default=50_000)
    ap.add_argument("--interactions", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--since", help="report period start (default: the report's, 12 months)")
    ap.add_argument("--keep", action="store_true", help="keep the store (its path is printed)")
    ap.add_argument("--cache", type=Path, default=CACHE, help="where filled stores are kept")
    ap.add_argument("--no-cache", action="store_true", help="fill a new store, keep none")
    ap.add_argument(
        "--syncd", default=shutil.which("syncd", path=str(Path(sys.executable).parent)) or "syncd"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="syncd-bench-report."))
    try:
        cache = None if args.no_cache else args.cache
        db, cfg, env = prepared_store(
            tmp, args.contacts, args.interactions, args.seed, args.syncd, cache
        )
        _rebuild(db, "rollups", "contact_buckets", "monthly rollup")
        _rebuild(db, "facts", "interaction_facts", "interaction facts")
        print(f"baseline, bare SQL aggregate per contact (sqlite3): {floor(db):.2f} s")
        since = ["--since", args.since] if args.since else []
        cmd = [args.syncd, "--config", str(cfg), "report", *since]
        first = measure([*cmd, "--json"], env)
        again = measure([*cmd, "--json"], env)
        html = measure([*cmd, "--html", str(tmp / "report.html")], env)
        doc = json.loads(
            subprocess.run(
                [*cmd, "--json"], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        print(
            f"  (wall time; CPU time, user + system, beside it: the machine is shared; {_load()})"
        )
        print(f"syncd report --json: {_fig(first)} (again {_fig(again)})")
        size = (tmp / "report.html").stat().st_size / 1e3
        print(f"syncd report --html: {_fig(html)}, a page of {size:.0f} kB")
        i, a = doc["interactions"], doc["active_network"]
        print(
            f"period {doc['since'][:10]} to {doc['until'][:10]} ({len(doc['months'])} months):"
            f" {i['total']:,} interactions, two-way {i['two_way_share']:.0%},"
            f" owner's mail answered {doc['response']['sent']['rate']:.0%},"
            f" active network {a['at_start']:,} -> {a['current']:,},"
            f" overdue {doc['overdue']:,}, dormant {doc['dormant']:,}"
        )
        start = (
            datetime.fromisoformat(args.since).replace(tzinfo=UTC)
            if args.since
            else datetime.fromisoformat(doc["since"].replace("Z", "+00:00"))
        )
        print(f"each measure on its own (in process; {_load()}):")
        for name, seconds, cpu in per_measure(db, start):
            print(f"  {name:36} {seconds:6.2f} s (CPU {cpu:5.2f} s)")
        if args.keep:
            print(f"kept: {tmp}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
