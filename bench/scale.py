#!/usr/bin/env python3
"""Three `syncd run` workers on one PostgreSQL store sharing 200 accounts.

The accounts are Maildirs (tests/test_workers.py builds them: own mail, mail they all
share, one unanswered sent message each): the fake Google and Microsoft servers serve one
user each, so 200 accounts on them would mean 200 servers; a Maildir account costs the same
on the store side (ingest, leases, rules) and nothing on the network side. The workers poll
every `--interval` with a lease ttl of `--ttl`. Prints:

- accounts synced per minute by the three workers together, in a steady window after
  every account was synced once;
- the lease takeovers after the worker holding the most accounts is killed (SIGKILL);
- the time from the kill until every account it held was synced again by the others.

  python bench/scale.py                      # 200 accounts, 3 workers, 10 s interval, 10 s ttl
  python bench/scale.py --accounts 50 --interval 5 --ttl 5
  SYNCD_TEST_PG=postgresql+psycopg://postgres@127.0.0.1:5432/test python bench/scale.py
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from syncd.store.db import Store  # noqa: E402
from syncd.store.models import Account, Lease, Stream  # noqa: E402
from tests.test_workers import (  # noqa: E402
    NOW,
    Worker,
    accounts_toml,
    fill_accounts,
    stamp,
    start_worker,
)
from tests.util import run_cli, write_config  # noqa: E402

PG_ADMIN = os.environ.get("SYNCD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def wait_for(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.25)
    raise SystemExit(f"gave up after {timeout:.0f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--interval", type=float, default=10.0, help="poll interval, seconds")
    ap.add_argument("--ttl", type=float, default=10.0, help="lease ttl, seconds")
    ap.add_argument("--window", type=float, default=60.0, help="steady window, seconds")
    args = ap.parse_args()

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"syncd_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    workers: list[Worker] = []
    try:
        with tempfile.TemporaryDirectory(prefix="syncd-scale-") as tmp_s:
            tmp = Path(tmp_s)
            accounts = fill_accounts(tmp / "mail", args.accounts, NOW)
            body = accounts_toml(accounts, args.ttl, args.interval)
            config = write_config(tmp / "syncd.toml", body, store_url=url)
            run_cli("--config", str(config), "init", check=True)
            store = Store(url)
            env = {
                **os.environ,
                "SYNCD_STATE_DIR": str(tmp / "state"),
                "SYNCD_NOW": NOW.isoformat(),
            }
            t0 = time.monotonic()
            workers = [start_worker(config, tmp / f"w{i}.log", env) for i in range(args.workers)]

            def all_synced() -> bool:
                with store.session() as s:
                    n = s.scalar(
                        select(func.count(func.distinct(Account.name)))
                        .join(Stream, Stream.account_id == Account.id)
                        .where(Stream.last_sync_at.is_not(None))
                    )
                return n == args.accounts

            wait_for(all_synced, 600)
            first = time.monotonic() - t0
            # let the leases settle into fair shares before measuring
            time.sleep(2 * args.interval)
            w_start = time.time()
            time.sleep(args.window)
            w_end = time.time()
            done = 0
            for w in workers:
                w.read()
                done += sum(
                    1
                    for e in w.events
                    if e.get("event") == "sync.account.done" and w_start <= stamp(e) < w_end
                )
            per_minute = done * 60 / (w_end - w_start)

            with store.session() as s:
                rows = s.execute(
                    select(Lease.holder, Lease.resource).where(
                        Lease.resource.startswith("account:"), Lease.holder.is_not(None)
                    )
                ).all()
            held: dict[str, set[str]] = defaultdict(set)
            for holder, resource in rows:
                held[holder].add(resource.removeprefix("account:"))
            victim_id = max(held, key=lambda h: len(held[h]))
            orphans = held[victim_id]
            victim = next(w for w in workers if w.worker_id == victim_id)
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait()
            killed = time.time()
            victim.killed_at = killed
            survivors = [w for w in workers if w is not victim]

            def orphans_synced() -> bool:
                seen: set[str] = set()
                for w in survivors:
                    w.read()
                    seen |= {
                        str(e["account"])
                        for e in w.events
                        if e.get("event") == "sync.account.done" and stamp(e) > killed
                    }
                return orphans <= seen

            wait_for(orphans_synced, 600)
            recovered = time.time() - killed
            takeovers = [
                e
                for w in survivors
                for e in w.events
                if e.get("event") == "lease.takeover"
                and stamp(e) > killed
                and e.get("old_owner") == victim_id
            ]
            shares = sorted(len(v) for v in held.values())
            print(
                f"accounts: {args.accounts} (Maildir), workers: {args.workers}, "
                f"interval {args.interval:g}s, lease ttl {args.ttl:g}s, PostgreSQL"
            )
            print(f"first sync of every account: {first:.1f}s")
            print(f"accounts held per worker before the kill: {shares}")
            print(
                f"accounts synced per minute (all workers, {args.window:g}s window): "
                f"{per_minute:.0f}"
            )
            print(
                f"killed worker held {len(orphans)} accounts; lease takeovers after the kill: "
                f"{len(takeovers)} ({sum(1 for e in takeovers if e['resource'] == 'rules')} of"
                " them the rules lease)"
            )
            print(f"time until all of its accounts were synced again: {recovered:.1f}s")
            store.dispose()
            for w in survivors:
                w.proc.send_signal(signal.SIGTERM)
            for w in survivors:
                w.proc.wait(timeout=60)
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
