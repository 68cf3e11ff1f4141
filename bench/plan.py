#!/usr/bin/env python3
"""`syncd plan` over a large store: N contacts (50,000) and M interactions (2,000,000).

Builds a SQLite store with the real schema (`syncd init`), fills it directly with sqlite3
(deterministic for --seed: people, two-way threads, noise, meetings, tiers, birthdays),
then runs `syncd plan --json` in a child process and prints its wall time and peak RSS,
and the same for `syncd contacts list --json` for comparison. The planner reads the store
with SQL aggregates; memory should follow the number of contacts, not of interactions.

  python bench/plan.py                   # 50,000 contacts, 2,000,000 interactions
  python bench/plan.py --contacts 5000 --interactions 200000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONFIG = """
[owner]
name = "Alex Morgan"
addresses = ["alex@example.com"]
timezone = "Europe/Berlin"

[store]
url = "sqlite:///{db}"

[tiers]
key = {{ cadence = "14d" }}
regular = {{ cadence = "90d" }}

[[rules]]
name = "no-reply"
kind = "no_reply"

[[rules]]
name = "cadence"
kind = "cadence"

[[rules]]
name = "thanks"
kind = "after_meeting"

[[rules]]
name = "reconnect"
kind = "dormant"

[[rules]]
name = "dates"
kind = "date"

[[accounts]]
name = "bench"
kind = "maildir"
path = "{maildir}"
"""


def ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def fill(db: Path, contacts: int, interactions: int, seed: int) -> None:
    rnd = random.Random(seed)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    owner = conn.execute("select id from owners").fetchone()[0]
    account = conn.execute("select id from accounts").fetchone()[0]
    conn.execute(
        "insert into streams (owner_id, account_id, name, kind, items) values (?,?,?,?,0)",
        (owner, account, "mail:INBOX", "mail"),
    )
    stream = conn.execute("select id from streams").fetchone()[0]
    created = ts(NOW - timedelta(days=1200))
    tiers = [None] * 6 + ["key", "regular", "regular"]
    conn.executemany(
        "insert into contacts (id, owner_id, name, tier, do_not_contact, created_at, updated_at)"
        " values (?,?,?,?,?,?,?)",
        (
            (i, owner, f"Person {i}", rnd.choice(tiers), rnd.random() < 0.01, created, created)
            for i in range(1, contacts + 1)
        ),
    )
    conn.executemany(
        "insert into contact_addresses (owner_id, contact_id, address) values (?,?,?)",
        ((owner, i, f"person{i}@corp{i % 997}.example") for i in range(1, contacts + 1)),
    )
    conn.executemany(
        "insert into contact_dates (owner_id, contact_id, kind, label, year, month, day)"
        " values (?,?,?,?,?,?,?)",
        (
            (owner, i, "birthday", "", None, rnd.randint(1, 12), rnd.randint(1, 28))
            for i in range(1, contacts + 1, 4)
        ),
    )
    span = 3 * 365 * 86400
    batch_i, batch_p, batch_s = [], [], []
    iid = 0
    while iid < interactions:
        contact = rnd.randint(1, contacts)
        address = f"person{contact}@corp{contact % 997}.example"
        thread_len = rnd.randint(1, 6)
        start = NOW - timedelta(seconds=rnd.randint(0, span))
        thread = f"t{iid}@example.com"
        meeting = rnd.random() < 0.08
        for k in range(thread_len):
            iid += 1
            when = start + timedelta(hours=5 * k)
            if when > NOW:
                when = NOW - timedelta(minutes=iid % 600)
            if meeting:
                kind, direction, category, ends = (
                    "meeting",
                    "mutual",
                    "meeting",
                    when + timedelta(hours=1),
                )
            else:
                kind, category, ends = "email", "human", None
                direction = "out" if (k % 2 == 0) else "in"
            noise = not meeting and rnd.random() < 0.15
            batch_i.append(
                (
                    iid,
                    owner,
                    kind,
                    "newsletter" if noise else category,
                    not noise,
                    direction,
                    ts(when),
                    ts(ends) if ends else None,
                    f"Subject {iid // 7}",
                    None if meeting else thread,
                    f"mid:m{iid}@example.com",
                    ts(NOW),
                )
            )
            role = "attendee" if meeting else ("to" if direction == "out" else "from")
            copy = (kind, direction, not noise, ts(when), ts(ends) if ends else None)
            batch_p.append((owner, iid, address, None, role, False, not noise, contact, *copy))
            batch_p.append(
                (
                    owner,
                    iid,
                    "alex@example.com",
                    None,
                    "from" if direction == "out" else "to",
                    True,
                    False,
                    None,
                    *copy,
                )
            )
            batch_s.append((owner, iid, account, stream, f"INBOX/{iid}", "INBOX"))
            if meeting or iid >= interactions:
                break
        if len(batch_i) >= 50_000:
            _flush(conn, batch_i, batch_p, batch_s)
    _flush(conn, batch_i, batch_p, batch_s)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _flush(conn: sqlite3.Connection, bi: list, bp: list, bs: list) -> None:  # type: ignore[type-arg]
    conn.executemany(
        "insert into interactions (id, owner_id, kind, category, is_interaction, direction,"
        " occurred_at, ends_at, subject, thread_key, message_key, created_at)"
        " values (?,?,?,?,?,?,?,?,?,?,?,?)",
        bi,
    )
    conn.executemany(
        "insert into participants (owner_id, interaction_id, address, name, role, is_owner,"
        " is_counterpart, contact_id, kind, direction, is_interaction, occurred_at, ends_at)"
        " values (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        bp,
    )
    conn.executemany(
        "insert into interaction_sources (owner_id, interaction_id, account_id, stream_id,"
        " provider_id, folder) values (?,?,?,?,?,?)",
        bs,
    )
    bi.clear()
    bp.clear()
    bs.clear()


MEASURE = (
    "import resource, subprocess, sys, time, json;"
    "t = time.perf_counter();"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE);"
    "wall = time.perf_counter() - t;"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "rss, cpu = u.ru_maxrss, u.ru_utime + u.ru_stime;"
    "print(json.dumps({'wall': wall, 'cpu': cpu, 'rss_kb': rss, 'rc': p.returncode,"
    " 'out': len(p.stdout), 'err': p.stderr.decode()[-500:]}))"
)


def measure(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, env=env, check=True
    )
    doc: dict[str, float] = json.loads(out.stdout)
    if doc["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {doc['err']}")
    return doc


def compile_code(env: dict[str, str]) -> None:
    """Byte-compile the syncd that `env` imports, as pip does when it installs a package.

    Where PYTHONDONTWRITEBYTECODE is set (this machine sets it), an editable checkout would
    otherwise compile every module it imports at each start, 0.2-0.3 s that an installed
    `syncd` does not pay. scripts/bootstrap.sh does the same for the project's .venv.
    """
    code = (
        "import compileall, importlib.util, os\n"
        "for name in ('syncd', 'connectors', 'rules'):\n"
        "    spec = importlib.util.find_spec(name)\n"
        "    compileall.compile_dir(os.path.dirname(spec.origin), quiet=1)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


CACHE = Path(tempfile.gettempdir()) / "syncd-bench-cache"


def prepared_store(
    tmp: Path, contacts: int, interactions: int, seed: int, syncd: str, cache: Path | None
) -> tuple[Path, Path, dict[str, str]]:
    """A filled store in `tmp`: a copy of the cached one when there is one, else a new fill.

    Filling 2,000,000 interactions is CPU-heavy, so the filled store is kept under `cache`
    (outside the repository) and copied for each run; `syncd init` then brings the copy to
    the current schema (a migration backfills what it adds), as it would a user's store.
    """
    db, maildir = tmp / "syncd.db", tmp / "mail"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    cfg = tmp / "syncd.toml"
    cfg.write_text(CONFIG.format(db=db, maildir=maildir), encoding="utf-8")
    env = {**os.environ, "SYNCD_NOW": NOW.isoformat(), "SYNCD_STATE_DIR": str(tmp / "state")}
    key = f"plan-{contacts}-{interactions}-{seed}-schema{_schema()}"
    cached = cache / f"{key}.db" if cache else None
    older = _older_cached(cached) if cached is not None and not cached.exists() else None
    if cached is not None and (cached.exists() or older is not None):
        source = cached if cached.exists() else older
        assert source is not None
        t = time.perf_counter()
        shutil.copyfile(source, db)
        print(f"copied the cached store {source} in {time.perf_counter() - t:.1f} s")
        if source is older:
            print("  (filled under an older schema: `syncd init` migrates it, as a user's store)")
    else:
        _init(syncd, cfg, env)
        t = time.perf_counter()
        fill(db, contacts, interactions, seed)
        print(
            f"filled {contacts:,} contacts and {interactions:,} interactions"
            f" in {time.perf_counter() - t:.1f} s ({db.stat().st_size / 1e6:.0f} MB)"
        )
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(db, cached.with_suffix(".part"))
            cached.with_suffix(".part").rename(cached)
    t = time.perf_counter()
    _init(syncd, cfg, env)
    print(f"syncd init (migrations up to date) in {time.perf_counter() - t:.1f} s")
    _rebuild_statistics(db)
    compile_code(env)
    return db, cfg, env


def _schema() -> str:
    """The newest migration of the code under test: the fill writes the tables directly, so
    a store is cached per schema (an older one is migrated, `_older_cached`)."""
    import syncd

    versions = Path(syncd.__file__).parent / "store" / "migrations" / "versions"
    return max(p.name.split("_", 1)[0] for p in versions.glob("[0-9]*_*.py"))


def _older_cached(cached: Path) -> Path | None:
    """The newest cached store of the same size and seed filled under an older schema.

    A migration brings it to the current schema as it brings a user's store (and backfills
    what it adds), so a new migration does not cost a new fill of millions of rows. A store
    of a newer schema than the code under test is never taken.
    """
    prefix, schema = cached.stem.rsplit("-schema", 1)
    older = [
        p
        for p in cached.parent.glob(f"{prefix}-schema*.db")
        if p.stem.rsplit("-schema", 1)[1] < schema
    ]
    return max(older, key=lambda p: p.stem.rsplit("-schema", 1)[1], default=None)


def _init(syncd: str, cfg: Path, env: dict[str, str]) -> None:
    subprocess.run([syncd, "--config", str(cfg), "init"], check=True, env=env, capture_output=True)


def _rebuild_statistics(db: Path) -> None:
    """The generator writes rows with sqlite3, past ingest: build the statistics it skipped
    (a store filled by ingest, or migrated by `syncd init`, has them already)."""
    try:
        from syncd.store.stats import rebuild_all
    except ImportError:  # the code before the statistics existed
        return
    from syncd.store.db import Store

    conn = sqlite3.connect(db)
    present = conn.execute("select count(*) from contact_stats").fetchone()[0]
    conn.close()
    if present:  # `syncd init` migrated the store: the migration backfilled them
        return
    store = Store(f"sqlite:///{db}")
    t = time.perf_counter()
    with store.session() as s, s.begin():
        n = rebuild_all(s)
    store.dispose()
    print(f"statistics rebuilt for {n:,} contacts in {time.perf_counter() - t:.1f} s")


def floor(db: Path) -> float:
    """The baseline: a bare SQL aggregate per contact over the participations (sqlite3)."""
    conn = sqlite3.connect(db)
    t = time.perf_counter()
    conn.execute(
        "select contact_id, max(occurred_at), count(*) from participants"
        " where contact_id is not null and is_counterpart = 1 group by contact_id"
    ).fetchall()
    wall = time.perf_counter() - t
    conn.close()
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--contacts", type=int, default=50_000)
    ap.add_argument("--interactions", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the store (its path is printed)")
    ap.add_argument("--cache", type=Path, default=CACHE, help="where filled stores are kept")
    ap.add_argument("--no-cache", action="store_true", help="fill a new store, keep none")
    ap.add_argument(
        "--syncd", default=shutil.which("syncd", path=str(Path(sys.executable).parent)) or "syncd"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="syncd-bench-plan."))
    try:
        cache = None if args.no_cache else args.cache
        db, cfg, env = prepared_store(
            tmp, args.contacts, args.interactions, args.seed, args.syncd, cache
        )
        base = [args.syncd, "--config", str(cfg)]
        start = measure([args.syncd, "--help"], env)
        plan = measure([*base, "plan", "--json"], env)
        again = measure([*base, "plan", "--json"], env)
        page = _first_page(base, env)
        listing = measure([*base, "contacts", "list", "--json"], env)
        print(f"baseline, bare SQL aggregate per contact (sqlite3): {floor(db):.2f} s")
        print(
            f"  (wall time; CPU time, user + system, beside it: the machine is shared; {_load()})"
        )
        print(f"baseline, syncd --help (process start):           {_fig(start)}")
        print(f"syncd plan:          {_fig(plan)} (again {_fig(again)}),")
        if page is not None:
            print(f"syncd contacts list, first page (--limit 50 --json): {_fig(page)}")
        print(f"syncd contacts list --json (all): {_fig(listing)}")
        if args.keep:
            print(f"kept: {tmp}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _fig(m: dict[str, float]) -> str:
    return f"{m['wall']:.2f} s (CPU {m['cpu']:.2f} s), peak RSS {m['rss_kb'] / 1024:.0f} MB"


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _first_page(base: list[str], env: dict[str, str]) -> dict[str, float] | None:
    """`contacts list --limit 50 --json`; None for code that has no --limit."""
    try:
        return measure([*base, "contacts", "list", "--limit", "50", "--json"], env)
    except SystemExit:
        return None


if __name__ == "__main__":
    main()
