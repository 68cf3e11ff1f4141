#!/usr/bin/env python3
"""Gmail backfill against the fake Google (tests/fake_google.py) on 127.0.0.1, within
Gmail's per-user quota.

Fills the fake mailbox with N messages (3,000 by default) spread over the look-back
window, and a calendar with a few events, turns on the fake's per-user limits (by default
the issue's scaled example: 1,000 units per sliding 10 s window, i.e. the new-project
6,000 units a minute, past it 403 userRateLimitExceeded; 10 concurrent requests, past it
429), sets the account's ``quota_per_minute`` to the same budget, then runs `syncd sync`
of a gmail account with a Google calendar in a child process (the fake serves from this
one) and prints:

  - HTTP requests and Gmail quota units per 1,000 messages for the backfill, by Google's
    per-method quota table (a batch request is one HTTP request; its calls cost their own
    units);
  - the peak units in any minute (sliding) against the budget, the calls refused, the
    most times one message was fetched, and the Gmail wall time against what the quota
    allows (units / budget rate);
  - messages per second (wall time of the child process: start, backfill, ingest, SQLite);
  - the requests of an incremental poll with no change and with 10 new messages, per stream.

  python bench/gmail_backfill.py                       # N=3,000, 1,000 units / 10 s
  python bench/gmail_backfill.py --n 20000 --window-units 0   # no quota: raw speed
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.google_auth import scopes_for  # noqa: E402
from tests.fake_google import FakeGoogle  # noqa: E402
from tests.fake_google_quota import UNITS  # noqa: E402

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ME = "alex@example.com"
# Gmail API quota units per method (Google's "Usage limits" table).
QUOTA = UNITS


def fill(fake: FakeGoogle, n: int) -> None:
    span = timedelta(days=300)
    for i in range(n):
        when = NOW - span * (i / n) - timedelta(minutes=1)
        inbound = i % 4 != 0
        peer = f"Person {i % 700} <p{i % 700}@corp{i % 37}.example>"
        headers = {
            "From": peer if inbound else f"Alex Morgan <{ME}>",
            "To": f"Alex Morgan <{ME}>" if inbound else peer,
            "Subject": f"Project note {i}",
            "Date": when.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            "Message-ID": f"<b{i}@corp.example>",
            "Content-Type": "text/plain; charset=utf-8",
        }
        if i % 5 == 1:
            headers["List-Id"] = "<news.corp.example>"
        fake.gmail.add_message(
            headers,
            labels=("INBOX",) if inbound else ("SENT",),
            internal_ms=int(when.timestamp() * 1000),
        )
    for d in range(20):
        start = NOW - timedelta(days=d * 7 + 1)
        fake.calendar.add_event(
            f"Meeting {d}",
            start,
            start + timedelta(hours=1),
            attendees=[(ME, "accepted"), (f"p{d}@corp{d}.example", "accepted")],
        )


def quota_report(fake: FakeGoogle, n: int, per_minute: int, window: float) -> None:
    q = fake.quota
    gmail = [c.at for c in fake.log if c.method_id.startswith(("gmail.", "batch"))]
    span = max(gmail) - min(gmail)
    units = sum(u for _t, u in q.spent)
    allowed = units / (per_minute / 60)
    peak = q.peak(60.0)
    most = max(q.gets.values()) if q.gets else 0
    print(
        f"\nquota: {per_minute:,} units/min (the fake: {q.units:,} per {window:g} s window,"
        f" {q.concurrent} concurrent)"
    )
    print(
        f"  peak units in any minute:  {peak:>7,} of {per_minute:,}"
        f" ({100 * peak / per_minute:.0f} %)"
    )
    print(f"  peak units in any window:  {q.peak(window):>7,} of {q.units:,}")
    print(f"  calls refused:             {q.refused:>7,} (rate)  {q.crowded:,} (concurrency)")
    print(f"  messages fetched:          {len(q.gets):>7,}; most fetches of one message: {most}")
    print(
        f"  Gmail wall time:           {span:>7.1f} s; the quota allows {allowed:.1f} s"
        f" ({span / allowed:.2f}x)"
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


def requests_by_stream(fake: FakeGoogle) -> dict[str, list[str]]:
    out: dict[str, list[str]] = collections.defaultdict(list)
    for call in fake.calls(in_batch=False):
        stream = "calendar" if call.method_id.startswith("calendar") else "mail"
        if call.method_id.startswith("oauth"):
            stream = "token"
        out[stream].append(call.method_id)
    return dict(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3_000, help="messages in the mailbox")
    parser.add_argument("--window", type=float, default=10.0, help="the fake's window, s")
    parser.add_argument(
        "--window-units", type=int, default=1000, help="units per window (0: no limit)"
    )
    parser.add_argument("--concurrent", type=int, default=10, help="requests at once")
    args = parser.parse_args()
    per_minute = int(args.window_units * 60 / args.window) if args.window_units else 10**9
    import os

    fake = FakeGoogle(seed=7).start()
    try:
        t0 = time.perf_counter()
        fill(fake, args.n)
        print(
            f"filled the fake mailbox with {args.n:,} messages in {time.perf_counter() - t0:.1f} s"
        )
        fake.limit(units=args.window_units, window=args.window, concurrent=args.concurrent)
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            token = base / "state" / "credentials" / "work.json"
            token.parent.mkdir(parents=True)
            token.write_text(fake.authorized_user(scopes_for(["mail", "calendar"])))
            token.chmod(0o600)
            cfg = base / "syncd.toml"
            cfg.write_text(
                f'[owner]\nname = "Alex Morgan"\naddresses = ["{ME}"]\n'
                f'[store]\nurl = "sqlite:///{base}/s.db"\n'
                '[[accounts]]\nname = "work"\nkind = "gmail"\ncalendar = { kind = "google" }\n'
                f"quota_per_minute = {per_minute}\n"
                f'[accounts.endpoints]\ngmail = "{fake.gmail_endpoint}"\n'
                f'calendar = "{fake.calendar_endpoint}"\ntoken_uri = "{fake.token_uri}"\n'
            )
            env = {
                **os.environ,
                "SYNCD_NOW": NOW.isoformat(),
                "SYNCD_STATE_DIR": str(base / "state"),
            }

            fake.clear_log()
            elapsed, doc = sync(cfg, env)
            mail = [c for c in fake.log if not c.method_id.startswith(("calendar", "oauth"))]
            top = [c for c in mail if not c.in_batch]
            units = sum(QUOTA.get(c.method_id, 0) for c in mail)
            stored = next(s for s in doc["streams"] if s["stream"] == "mail:all")  # type: ignore[index,union-attr]
            per_k = 1000 / args.n
            by_method = collections.Counter(c.method_id for c in top)
            print(f"\nbackfill of {args.n:,} messages ({stored['read']:,} read):")  # type: ignore[index]
            print(
                f"  HTTP requests (Gmail):     {len(top):>7,}"
                f"  = {len(top) * per_k:.1f} per 1,000 messages"
            )
            print(f"    {dict(by_method)}")
            print(
                f"  quota units (Gmail):       {units:>7,}"
                f"  = {units * per_k:.1f} per 1,000 messages"
                f" ({units / args.n:.3f} per message)"
            )
            print(
                f"  wall time of syncd sync:   {elapsed:>7.1f} s"
                f" = {args.n / elapsed:,.0f} messages/s"
            )
            if args.window_units:
                quota_report(fake, args.n, per_minute, args.window)

            for changes in (0, 10):
                for i in range(changes):
                    fake.gmail.add_message(
                        {"From": f"new{i}@corp.example", "To": ME, "Subject": f"New {i}"},
                        internal_ms=int(NOW.timestamp() * 1000),
                    )
                fake.clear_log()
                elapsed, _doc = sync(cfg, env)
                streams = requests_by_stream(fake)
                parts = len(fake.calls("gmail.users.messages.get", in_batch=True))
                print(f"\nincremental poll with {changes} new messages ({elapsed:.2f} s):")
                for name, calls in sorted(streams.items()):
                    print(f"  {name:9} {len(calls)} request(s): {', '.join(calls)}")
                if parts:
                    print(f"  (the batch carried {parts} messages.get calls)")
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
