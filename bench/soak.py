#!/usr/bin/env python3
"""Soak: `syncd run` for a long time with fast polls, new mail arriving and the rules running.

Copies the example config and data (as scripts/demo.sh does) into a throw-away folder, polls
its Maildir account every second (jitter 0), drops a new message into INBOX or Sent every
--mail-every seconds (a fixed circle of correspondents, so the contacts stay few while the
interactions grow), and samples the daemon's resident memory, open file descriptors and CPU
time once a second. Prints one row per --report-every seconds, then the growth after the
warm-up: RSS, descriptors and CPU per poll at the end of the warm-up against the end.

  python bench/soak.py                          # an hour, 5 minutes of warm-up
  python bench/soak.py --duration 600 --warmup 120
  python bench/soak.py --csv /tmp/soak.csv      # every sample, for a plot

Flat means: RSS within 1 MB and the same descriptors from the end of the warm-up to the end.

Before the daemon starts, --seed messages (spread over the past 90 days) are put in the
Maildir, so the store is past the size of SQLite's page cache (2,000 KiB a connection) by
the end of the warm-up, as any real store is. On the bare demo store (--seed 0) that cache
fills from a few hundred KiB as the new mail arrives: about 1 KiB a message, a growth that
stops at the bound and is not a leak (bench/soak_probe.py shows it beside Python's
allocated blocks, which stay flat).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYNCD = [sys.executable, "-m", "syncd"]
OWNER = "alex@example.com"
PEOPLE = [f"person{i:02d}@partner{i % 5}.example" for i in range(20)]
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    t: float  # seconds since start
    rss_kb: int
    fds: int
    cpu_s: float
    passes: int
    mails: int


def prepare(work: Path) -> Path:
    """The demo's config and data under `work`, polled every second; the config's path."""
    shutil.copytree(ROOT / "examples", work / "examples")
    text = (ROOT / "config.example.toml").read_text()
    for key, value in (
        ("poll_interval", '"1s"'),
        ("jitter", "0"),
        ("rules_interval", '"1m"'),
    ):
        text, n = re.subn(rf"(?m)^{key} = \S+", f"{key} = {value}", text, count=1)
        assert n == 1, key
    config = work / "config.toml"
    config.write_text(text)
    return config


def write_mail(maildir: Path, n: int, when: datetime | None = None, tag: str = "soak") -> None:
    """Message n: from a correspondent into INBOX, or from the owner into Sent, by turns."""
    who = PEOPLE[n % len(PEOPLE)]
    outgoing = n % 2 == 0
    folder = maildir / ("Sent" if outgoing else "INBOX")
    sender, to = (OWNER, who) if outgoing else (who, OWNER)
    date = format_datetime(when or datetime.now(UTC))
    body = (
        f"From: {sender}\r\nTo: {to}\r\nDate: {date}\r\n"
        f"Message-ID: <{tag}-{n}-{os.getpid()}@soak.example>\r\n"
        f"Subject: soak message {n}\r\nContent-Type: text/plain\r\n\r\n"
        f"Hello, this is message {n}.\r\n"
    )
    name = f"{time.time():.6f}.{tag}{n}.bench"
    tmp = folder / "tmp" / name
    tmp.write_text(body)
    tmp.rename(folder / "new" / name)


def read_proc(pid: int) -> tuple[int, int, float]:
    """(VmRSS in kB, open descriptors, user+system CPU seconds) of a live process."""
    rss = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return rss, fds, cpu


def count_passes(log: Path, state: dict[str, int]) -> int:
    """daemon.pass.done lines so far (reads only what was appended since the last call)."""
    with open(log, "rb") as fh:
        fh.seek(state.get("offset", 0))
        chunk = fh.read()
    end = chunk.rfind(b"\n") + 1
    state["offset"] = state.get("offset", 0) + end
    state["passes"] = state.get("passes", 0) + chunk[:end].count(b'"daemon.pass.done"')
    state["rules"] = state.get("rules", 0) + chunk[:end].count(b'"daemon.rules.done"')
    return state["passes"]


def row(s: Sample, prev: Sample | None) -> str:
    polls = s.passes - prev.passes if prev else s.passes
    cpu = s.cpu_s - prev.cpu_s if prev else s.cpu_s
    per_poll = f"{1000 * cpu / polls:8.1f}" if polls else "       -"
    return (
        f"{s.t:7.0f} {s.passes:7d} {s.mails:6d} {s.rss_kb / 1024:9.2f} {s.fds:5d}"
        f" {s.cpu_s:8.1f} {per_poll}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=3600, help="seconds (default 3600)")
    ap.add_argument("--warmup", type=float, default=300, help="seconds (default 300)")
    ap.add_argument("--mail-every", type=float, default=10, help="seconds between new messages")
    ap.add_argument("--report-every", type=float, default=60, help="seconds between rows")
    ap.add_argument("--csv", type=Path, help="write every sample here")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it")
    ap.add_argument(
        "--seed", type=int, default=4000, help="messages in the Maildir before the start"
    )
    args = ap.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="syncd-soak."))
    work.mkdir(parents=True, exist_ok=True)
    config = prepare(work)
    start_at = datetime.now(UTC)
    for n in range(args.seed):
        ago = timedelta(days=90) * (args.seed - n) / args.seed
        write_mail(work / "examples" / "mail", n, start_at - ago, tag="seed")
    env = {**os.environ, "SYNCD_STATE_DIR": str(work / "state"), "PYTHONPATH": str(ROOT)}
    env.pop("SYNCD_NOW", None)
    subprocess.run(
        [*SYNCD, "--config", str(config), "init"],
        env=env,
        cwd=work,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    log = work / "daemon.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*SYNCD, "--config", str(config), "-v", "--log-format", "json", "run"],
            env=env,
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    print(
        f"soak: pid {proc.pid}, {args.duration:.0f} s, warm-up {args.warmup:.0f} s,"
        f" {args.seed} messages to start with, a message every {args.mail_every:g} s;"
        f" work folder {work}",
        flush=True,
    )
    print(
        f"{'t (s)':>7} {'polls':>7} {'mails':>6} {'RSS (MB)':>9} {'fds':>5} {'cpu (s)':>8}"
        f" {'ms/poll':>8}",
        flush=True,
    )
    samples: list[Sample] = []
    state: dict[str, int] = {}
    start = time.monotonic()
    next_mail = start + args.mail_every
    mails = 0
    last_row: Sample | None = None
    try:
        while (now := time.monotonic()) - start < args.duration:
            if proc.poll() is not None:
                sys.exit(f"soak: syncd run exited with {proc.returncode}; see {log}")
            if now >= next_mail:
                write_mail(work / "examples" / "mail", mails)
                mails += 1
                next_mail += args.mail_every
            rss, fds, cpu = read_proc(proc.pid)
            s = Sample(now - start, rss, fds, cpu, count_passes(log, state), mails)
            samples.append(s)
            if last_row is None or s.t - last_row.t >= args.report_every:
                print(row(s, last_row), flush=True)
                last_row = s
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    if samples and samples[-1] is not last_row:
        print(row(samples[-1], last_row))
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["t", "rss_kb", "fds", "cpu_s", "passes", "mails"])
            for s in samples:
                w.writerow([f"{s.t:.1f}", s.rss_kb, s.fds, f"{s.cpu_s:.2f}", s.passes, s.mails])
    summarise(samples, args.warmup, state.get("rules", 0))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def summarise(samples: list[Sample], warmup: float, rules: int) -> None:
    after = [s for s in samples if s.t >= warmup]
    if len(after) < 2:
        print("soak: too short to say anything after the warm-up")
        return
    first, last = after[0], after[-1]
    window = max(1, len(after) // 10)  # CPU per poll over the first and last tenth
    head, tail = after[: window + 1], after[-window - 1 :]

    def per_poll(part: list[Sample]) -> float:
        polls = part[-1].passes - part[0].passes
        return 1000 * (part[-1].cpu_s - part[0].cpu_s) / polls if polls else float("nan")

    rss = [s.rss_kb for s in after]
    print()
    print(
        json.dumps(
            {
                "after_warmup_s": round(last.t - first.t),
                "polls": last.passes,
                "rules_runs": rules,
                "mails": last.mails,
                "rss_mb_at_warmup": round(first.rss_kb / 1024, 2),
                "rss_mb_at_end": round(last.rss_kb / 1024, 2),
                "rss_growth_mb": round((last.rss_kb - first.rss_kb) / 1024, 2),
                "rss_range_mb": round((max(rss) - min(rss)) / 1024, 2),
                "fds_at_warmup": first.fds,
                "fds_at_end": last.fds,
                "fds_max": max(s.fds for s in after),
                "cpu_ms_per_poll_first_tenth": round(per_poll(head), 1),
                "cpu_ms_per_poll_last_tenth": round(per_poll(tail), 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
