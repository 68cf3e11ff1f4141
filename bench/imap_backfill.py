#!/usr/bin/env python3
"""IMAP backfill against a real Dovecot on 127.0.0.1: syncd versus the client libraries.

Fills a Dovecot INBOX with N messages (100,000 by default; the mail of bench/ingest.py's
generator, written into Dovecot's Maildir and indexed with doveadm), warms the server's
cache, then measures in one run:

  (a) the raw limit: imaplib, UID FETCH of syncd's items in chunks (range strings)
  (b) imapclient's own fetch of the same items, nothing parsed beyond the library
  (c) `syncd sync` of an imap account on that mailbox, in one process (a child process:
      wall time, peak RSS); and for comparison (c2) the same with the reader in a process
      of its own (`sync.parallel_backfill_min`, syncd/sync/pipeline.py), both peaks printed

and prints the rates, the ratios c/a and c/b, the CPU time (user + system) per message of
(b) and (c) (comparable on a loaded machine, where wall time is not) with the load average,
and the cost of the incremental poll `syncd run` makes (round trips and time, see
`incremental`), at N and at --small.

  python bench/imap_backfill.py                 # N=100,000, and 10,000 for comparison
  python bench/imap_backfill.py --n 20000 --small 5000
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import generate  # noqa: E402  (bench/ingest.py's generator)
from plan import compile_code  # noqa: E402  (bench/plan.py: byte-compile what is measured)

from connectors.imap import HEADER_ITEM, RAW_FETCH_ITEMS  # noqa: E402
from tests.dovecot import append_messages, start_dovecot  # noqa: E402

# (a) and (b) ask for exactly what syncd's backfill asks for (connectors/imap.py): the same
# 30 header fields the classifier reads, with FLAGS, INTERNALDATE and RFC822.SIZE. The number
# of field names matters to imapclient, which parses the echoed item name of every message:
# with a 14-field list it fetched about 2.8 times faster here than with this one.
FETCH_ITEMS = ["FLAGS", "INTERNALDATE", "RFC822.SIZE", HEADER_ITEM]
CHUNK = 2000

MEASURE = (
    "import resource, subprocess, sys, time, json;"
    "t = time.perf_counter();"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE);"
    "wall = time.perf_counter() - t;"
    "err = p.stderr.decode();"
    "reader = [json.loads(l).get('reader_peak_rss_mb') for l in err.splitlines()"
    " if '\"pipeline.done\"' in l];"
    "ru = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(json.dumps({'wall': wall, 'rss_kb': ru.ru_maxrss, 'cpu': ru.ru_utime + ru.ru_stime,"
    " 'reader_mb': max(reader, default=None), 'rc': p.returncode,"
    " 'err': err[-800:]}))"
)


def fill(server, user: str, n: int, work: Path) -> None:  # type: ignore[no-untyped-def]
    """Generate N messages (bench/ingest.py's mail) and APPEND them to the user's INBOX."""
    gen = work / f"gen-{n}"
    generate(gen, n, 1, 2000)
    files = sorted(
        p
        for folder in ("INBOX", "Sent")
        for sub in ("cur", "new")
        for p in (gen / folder / sub).iterdir()
    )
    append_messages(server, user, "INBOX", (f.read_bytes() for f in files))


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def raw_imaplib(server, user: str) -> tuple[int, float, float]:  # type: ignore[no-untyped-def]
    conn = imaplib.IMAP4(server.host, server.port)
    conn.login(user, server.users[user])
    conn.select("INBOX", readonly=True)
    _typ, data = conn.uid("SEARCH", "ALL")
    uids = [int(u) for u in data[0].split()]
    t, cpu = time.perf_counter(), _cpu()
    count = 0
    for i in range(0, len(uids), CHUNK):
        part = uids[i : i + CHUNK]
        _typ, resp = conn.uid("FETCH", f"{part[0]}:{part[-1]}", RAW_FETCH_ITEMS)
        count += sum(1 for r in resp if isinstance(r, tuple))
    elapsed, cpu = time.perf_counter() - t, _cpu() - cpu
    conn.logout()
    return count, elapsed, cpu


def lib_imapclient(server, user: str) -> tuple[int, float, float]:  # type: ignore[no-untyped-def]
    import imapclient  # type: ignore[import-untyped]

    client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
    client.login(user, server.users[user])
    client.select_folder("INBOX", readonly=True)
    uids = client.search("ALL")
    t, cpu = time.perf_counter(), _cpu()
    count = 0
    for i in range(0, len(uids), CHUNK):
        count += len(client.fetch(uids[i : i + CHUNK], FETCH_ITEMS))
    elapsed, cpu = time.perf_counter() - t, _cpu() - cpu
    client.logout()
    return count, elapsed, cpu


def syncd_run(server, user: str, work: Path, processes: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """`syncd sync` into a new store, the reader in its own process when `processes` is 2."""
    secret = work / f"{user}.pass"
    secret.write_text(server.users[user])
    secret.chmod(0o600)
    cfg = work / f"{user}-{processes}.toml"
    cfg.write_text(
        f'[owner]\nname = "Alex Morgan"\naddresses = ["alex@example.com",'
        f' "alex.morgan@example.com"]\n[store]\nurl = "sqlite:///{work}/{user}-{processes}.db"\n'
        f"[sync]\nparallel_backfill_min = {0 if processes == 1 else 1}\n"
        f'[[accounts]]\nname = "bench"\nkind = "imap"\nhost = "127.0.0.1"\n'
        f'port = {server.port}\nsecurity = "none"\nusername = "{user}"\n'
        f'password_file = "{secret}"\n',
        encoding="utf-8",
    )
    syncd = shutil.which("syncd", path=str(Path(sys.executable).parent)) or "syncd"
    subprocess.run([syncd, "--config", str(cfg), "init"], check=True, capture_output=True)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            syncd,
            "--config",
            str(cfg),
            "-v",
            "--log-format",
            "json",
            "sync",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    doc: dict[str, float] = json.loads(out.stdout)
    if doc["rc"] != 0:
        raise SystemExit(f"syncd sync failed: {doc['err']}")
    return doc


REPEAT = 11  # polls measured per case: the median is printed, and the fastest
SETTLE = 1.5  # seconds a kept connection idles before a measured poll, as between passes


@dataclass
class Poll:
    """What a measured poll cost: the commands it waited for (DONE and tagged commands;
    the IDLE it sends at the end is not waited for), and milliseconds (the median of
    REPEAT polls, and the fastest)."""

    commands: list[str] = field(default_factory=list)
    ms: float = 0.0
    fastest: float = 0.0


def _watch_commands(imap: Any, into: list[str]) -> None:
    """Record the commands sent on `imap` (its tagged lines, and DONE) into `into`."""
    send = imap.send

    def recording(data: bytes) -> None:
        if data.startswith(imap.tagpre):
            words = data.split()
            into.append(b" ".join(words[1:3] if words[1] == b"UID" else words[1:2]).decode())
        elif data.strip() == b"DONE":
            into.append("DONE")
        send(data)

    imap.send = recording


def _new_mail(server, user: str, k: int) -> None:  # type: ignore[no-untyped-def]
    append_messages(
        server,
        user,
        "INBOX",
        (
            f"From: n{i}@example.org\r\nTo: {user}@example.com\r\nSubject: new {i}\r\n"
            f"Message-ID: <new{i}.{time.time()}@example.org>\r\n\r\nhi\r\n".encode()
            for i in range(k)
        ),
    )


class _Poller:
    """One ImapSource polling one user's INBOX, its commands on the poll's connection
    recorded, from the cursor its backfill left."""

    def __init__(self, server, user: str, **settings: object) -> None:  # type: ignore[no-untyped-def]
        from connectors.imap import ImapSettings, ImapSource

        self.server, self.user = server, user
        self.src = ImapSource(
            ImapSettings(
                host=server.host,
                port=server.port,
                username=user,
                password=server.users[user],
                security="none",
                **settings,  # type: ignore[arg-type]
            )
        )
        self.now = datetime.now(UTC)
        [self.inbox] = [s for s in self.src.streams() if s.name == "INBOX"]
        self.cursor: str | None = None
        self.poll()
        kept = self.src._kept.get("INBOX")  # the connection the poll runs on
        self.commands: list[str] = []
        _watch_commands(kept.imap if kept is not None else self.src._client._imap, self.commands)

    def poll(self) -> int:
        got = 0
        for batch in self.src.poll(self.inbox, self.cursor, now=self.now):
            got += len(batch.items)
            self.cursor = batch.cursor
        return got

    def measure(self, expect: int, before: Callable[[], None]) -> Poll:
        """The median of REPEAT polls, each after `before()`, each reading `expect` items."""
        polls = []
        for _ in range(REPEAT):
            before()
            self.commands.clear()
            t = time.perf_counter()
            got = self.poll()
            ms = (time.perf_counter() - t) * 1000
            assert got == expect, (got, expect)
            polls.append(Poll([c for c in self.commands if c != "IDLE"], ms))
        polls.sort(key=lambda poll: poll.ms)
        median = polls[len(polls) // 2]
        median.fastest = polls[0].ms
        return median

    def settle(self) -> None:
        time.sleep(SETTLE)

    def new_mail(self) -> None:
        self.settle()
        _new_mail(self.server, self.user, 10)  # one MULTIAPPEND

    def reported_mail(self) -> None:
        self.new_mail()
        assert self.src.wait_for_change(30), "the server did not report the new mail"


def incremental(server, user: str) -> dict[str, Poll]:  # type: ignore[no-untyped-def]
    """The poll `syncd run` makes of INBOX, on the source's kept connection, at its median.

    First a poll from nothing (the backfill), then each case REPEAT times:
      unchanged   a poll with nothing new, after the connection idled SETTLE seconds
      after IDLE  10 new messages; `wait_for_change` returns when the server reports them
                  (what the daemon waits on between passes), then the poll
      at once     10 new messages polled right after the APPEND, before the server has
                  reported them (its Maildir rescan then falls on the poll)
      EXAMINE     10 new messages with max_connections = 1: the folder is EXAMINEd on
                  every poll, as before connections were kept
    """
    kept = _Poller(server, user)
    out = {
        "unchanged": kept.measure(0, kept.settle),
        "after IDLE": kept.measure(10, kept.reported_mail),
        "at once": kept.measure(10, kept.new_mail),
    }
    kept.src.close()
    examined = _Poller(server, user, max_connections=1)
    out["EXAMINE"] = examined.measure(10, examined.new_mail)
    examined.src.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=10_000, help="the comparison size")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    compile_code(dict(os.environ))  # as an installed syncd is (PYTHONDONTWRITEBYTECODE)
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-imap."))
    work.chmod(0o755)  # Dovecot's processes run as other users when we are root
    server = start_dovecot(work / "dovecot", users={"big": "secret", "small": "secret"})
    try:
        rows = {}
        for user, n in (("big", args.n), ("small", args.small)):
            fill(server, user, n, work)
            raw_imaplib(server, user)  # warm the server's cache
            a = raw_imaplib(server, user)
            b = lib_imapclient(server, user)
            load = os.getloadavg()[0]
            c = syncd_run(server, user, work, 1)
            c2 = syncd_run(server, user, work, 2)
            load = max(load, os.getloadavg()[0])
            polls = incremental(server, user)
            rows[n] = (a, b, c, c2, load, polls)
        for n, (a, b, c, c2, load, polls) in rows.items():
            ra, rb, rc, rc2 = a[0] / a[1], b[0] / b[1], n / c["wall"], n / c2["wall"]
            # In (c2) the peak is the larger of the two processes; the reader's is beside it.
            reader = f", reader process {c2['reader_mb']:.0f} MB" if c2.get("reader_mb") else ""
            us = {k: v * 1e6 / n for k, v in (("b", b[2]), ("c", c["cpu"]), ("c2", c2["cpu"]))}
            print(
                f"N={n:,}: (a) imaplib {ra:,.0f}/s  (b) imapclient {rb:,.0f}/s"
                f"  (c) syncd sync, one process {rc:,.0f}/s ({c['wall']:.1f} s, peak RSS"
                f" {c['rss_kb'] / 1024:.0f} MB)  c/a {rc / ra:.2f}  c/b {rc / rb:.2f}"
            )
            print(
                f"        (c2) two processes {rc2:,.0f}/s ({c2['wall']:.1f} s, peak RSS"
                f" {c2['rss_kb'] / 1024:.0f} MB{reader})  c2/b {rc2 / rb:.2f}"
            )
            print(
                f"        CPU per message (user+sys, load {load:.1f}): (b) {us['b']:.0f} µs"
                f"  (c) {us['c']:.0f} µs  (c2) {us['c2']:.0f} µs  b/c {us['b'] / us['c']:.2f}"
            )
            for case, poll in polls.items():
                print(
                    f"        incremental poll, {case:<10} {len(poll.commands)} round trips"
                    f" ({' '.join(poll.commands)}), {poll.ms:.1f} ms"
                    f" (fastest {poll.fastest:.1f})"
                )
    finally:
        server.stop()
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
