#!/usr/bin/env python3
"""Outlook (Microsoft Graph) backfill against the fake Microsoft (tests/fake_microsoft.py)
on 127.0.0.1, over TLS with a throw-away CA.

Fills the fake mailbox with N messages (20,000 by default: three quarters in the Inbox, a
quarter in Sent Items, spread over 300 days) and the calendar with a few meetings, then
runs `syncd sync` of an outlook account with its Outlook calendar in a child process (the
fake serves from this one) and prints:

  - Graph HTTP requests per 1,000 messages for the backfill (a JSON batch is one
    request; identity requests are counted apart);
  - messages per second (wall time of the child process: start, msal, backfill, ingest,
    SQLite);
  - the requests of an incremental poll with no change and with 10 new messages, per
    stream.

  python bench/graph_backfill.py            # N=20,000
  python bench/graph_backfill.py --n 5000
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.outlook_auth import scopes_for  # noqa: E402
from tests.fake_microsoft import FakeMicrosoft  # noqa: E402

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ME = "alex@contoso.example"


def fill(fake: FakeMicrosoft, n: int) -> None:
    span = timedelta(days=300)
    g = fake.graph
    for i in range(n):
        when = NOW - span * (i / n) - timedelta(minutes=1)
        inbound = i % 4 != 0
        peer = (f"Person {i % 700}", f"p{i % 700}@corp{i % 37}.example")
        headers = {"List-Id": "<news.corp.example>"} if i % 5 == 1 else {}
        g.add_message(
            folder="inbox" if inbound else "sentitems",
            sender=peer if inbound else ("Alex Morgan", ME),
            to=[("Alex Morgan", ME)] if inbound else [peer],
            subject=f"Project note {i}",
            received=when,
            message_id=f"<b{i}@corp.example>",
            headers=headers,
        )
    for d in range(20):
        start = NOW - timedelta(days=d * 7 + 1)
        g.add_event(
            f"Meeting {d}",
            start,
            start + timedelta(hours=1),
            attendees=[(ME, "none"), (f"p{d}@corp{d}.example", "accepted")],
        )


def sync(cfg: Path, env: dict[str, str]) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(cfg), "sync", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"syncd sync failed:\n{proc.stderr}")
    return elapsed, json.loads(proc.stdout)


def stream_of(path: str, route: str) -> str:
    if route.startswith("identity."):
        return "identity"
    if route == "graph.batch":
        return "mail (headers)"  # JSON batches carry GET /messages/{id} for header fields
    if "/calendarView" in path or "/events" in path:
        return "calendar"
    for folder in ("inbox", "sentitems"):
        if f"/mailFolders/{folder}/" in path:
            return f"mail:{folder}"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages in the mailbox")
    args = parser.parse_args()

    fake = FakeMicrosoft(seed=7).start()
    try:
        t0 = time.perf_counter()
        fill(fake, args.n)
        print(
            f"filled the fake mailbox with {args.n:,} messages in {time.perf_counter() - t0:.1f} s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            cache = base / "state" / "credentials" / "m365.json"
            cache.parent.mkdir(parents=True)
            cache.write_text(fake.signed_in_cache(scopes_for(["mail", "calendar"])))
            cache.chmod(0o600)
            cfg = base / "syncd.toml"
            cfg.write_text(
                f'[owner]\nname = "Alex Morgan"\naddresses = ["{ME}"]\n'
                f'[store]\nurl = "sqlite:///{base}/s.db"\n'
                f'[[accounts]]\nname = "m365"\nkind = "outlook"\n'
                f'client_id = "{next(iter(fake.identity.public))}"\n'
                'calendar = { kind = "outlook" }\n'
                f'[accounts.endpoints]\nauthority = "{fake.authority}"\n'
                f'graph = "{fake.graph_endpoint}"\nca_file = "{fake.ca_file}"\n'
            )
            env = {
                **os.environ,
                "SYNCD_NOW": NOW.isoformat(),
                "SYNCD_STATE_DIR": str(base / "state"),
            }

            fake.clear_log()
            elapsed, doc = sync(cfg, env)
            top = [c for c in fake.log if not c.in_batch]
            graph = [c for c in top if c.route.startswith("graph.")]
            mail = [c for c in graph if stream_of(c.path, c.route).startswith("mail")]
            identity = [c for c in top if c.route.startswith("identity.")]
            parts = [c for c in fake.log if c.in_batch]
            streams = {s["stream"]: s for s in doc["streams"]}  # type: ignore[union-attr]
            read = sum(int(streams[f"mail:{f}"]["read"]) for f in ("inbox", "sentitems"))
            per_k = 1000 / args.n
            print(f"\nbackfill of {args.n:,} messages ({read:,} read):")
            print(
                f"  HTTP requests (Graph, mail):  {len(mail):>6,}"
                f"  = {len(mail) * per_k:.2f} per 1,000 messages"
            )
            print(f"    {dict(collections.Counter(c.route for c in mail))}")
            print(f"    requests inside JSON batches: {len(parts):,}")
            print(
                f"  all Graph requests (+calendar): {len(graph):>4,};"
                f" identity requests: {len(identity)} {[c.route for c in identity]}"
            )
            print(
                f"  wall time of syncd sync:      {elapsed:>6.1f} s"
                f" = {args.n / elapsed:,.0f} messages/s"
            )

            for changes in (0, 10):
                for i in range(changes):
                    fake.graph.add_message(
                        sender=(f"New {i}", f"new{i}@corp.example"),
                        subject=f"New {i}",
                        received=NOW - timedelta(seconds=i),
                    )
                fake.clear_log()
                elapsed, _doc = sync(cfg, env)
                by_stream: dict[str, list[str]] = collections.defaultdict(list)
                for c in fake.log:
                    if not c.in_batch:
                        by_stream[stream_of(c.path, c.route)].append(c.route)
                inner = len([c for c in fake.log if c.in_batch])
                print(f"\nincremental poll with {changes} new messages ({elapsed:.2f} s):")
                for name, calls in sorted(by_stream.items()):
                    print(f"  {name:14} {len(calls)} request(s): {', '.join(calls)}")
                if inner:
                    print(f"  (the JSON batches carried {inner} requests)")
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
