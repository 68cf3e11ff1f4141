#!/usr/bin/env python3
"""IMAP backfill against a real Dovecot on 127.0.0.1: syncd versus the client libraries.

Fills a Dovecot INBOX with N messages (100,000 by default; the mail of bench/ingest.py's
generator, written into Dovecot's Maildir and indexed with doveadm), warms the server's
cache, then measures in one run:

  (a) the raw limit: imaplib, UID FETCH of syncd's items in chunks (range strings)
  (b) imapclient's own fetch of the same items, nothing parsed beyond the library
  (c) `syncd sync` of an imap account on that mailbox (a child process: wall time, peak RSS)

and prints the three rates, the ratios c/a and c/b, and the cost of an incremental poll
(round trips and time) after 10 new messages, on a kept connection, at N and at --small.

  python bench/imap_backfill.py                 # N=100,000, and 10,000 for comparison
  python bench/imap_backfill.py --n 20000 --small 5000
"""

from __future__ import annotations

import argparse
import imaplib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ingest import generate  # noqa: E402  (bench/ingest.py's generator)

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
    "print(json.dumps({'wall': wall, 'rss_kb': resource.getrusage(resource.RUSAGE_CHILDREN)"
    ".ru_maxrss, 'rc': p.returncode, 'err': p.stderr.decode()[-800:]}))"
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


def raw_imaplib(server, user: str) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    conn = imaplib.IMAP4(server.host, server.port)
    conn.login(user, server.users[user])
    conn.select("INBOX", readonly=True)
    _typ, data = conn.uid("SEARCH", "ALL")
    uids = [int(u) for u in data[0].split()]
    t = time.perf_counter()
    count = 0
    for i in range(0, len(uids), CHUNK):
        part = uids[i : i + CHUNK]
        _typ, resp = conn.uid("FETCH", f"{part[0]}:{part[-1]}", RAW_FETCH_ITEMS)
        count += sum(1 for r in resp if isinstance(r, tuple))
    elapsed = time.perf_counter() - t
    conn.logout()
    return count, elapsed


def lib_imapclient(server, user: str) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    import imapclient  # type: ignore[import-untyped]

    client = imapclient.IMAPClient(server.host, port=server.port, ssl=False)
    client.login(user, server.users[user])
    client.select_folder("INBOX", readonly=True)
    uids = client.search("ALL")
    t = time.perf_counter()
    count = 0
    for i in range(0, len(uids), CHUNK):
        count += len(client.fetch(uids[i : i + CHUNK], FETCH_ITEMS))
    elapsed = time.perf_counter() - t
    client.logout()
    return count, elapsed


def syncd_run(server, user: str, work: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    secret = work / f"{user}.pass"
    secret.write_text(server.users[user])
    secret.chmod(0o600)
    cfg = work / f"{user}.toml"
    cfg.write_text(
        f'[owner]\nname = "Alex Morgan"\naddresses = ["alex@example.com",'
        f' "alex.morgan@example.com"]\n[store]\nurl = "sqlite:///{work}/{user}.db"\n'
        f'[[accounts]]\nname = "bench"\nkind = "imap"\nhost = "127.0.0.1"\n'
        f'port = {server.port}\nsecurity = "none"\nusername = "{user}"\n'
        f'password_file = "{secret}"\n',
        encoding="utf-8",
    )
    syncd = shutil.which("syncd", path=str(Path(sys.executable).parent)) or "syncd"
    subprocess.run([syncd, "--config", str(cfg), "init"], check=True, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, syncd, "--config", str(cfg), "sync"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc: dict[str, float] = json.loads(out.stdout)
    if doc["rc"] != 0:
        raise SystemExit(f"syncd sync failed: {doc['err']}")
    return doc


def incremental(server, user: str) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Round trips and seconds of one poll of INBOX after 10 new messages, kept connection."""
    from connectors.imap import ImapSettings, ImapSource

    src = ImapSource(
        ImapSettings(
            host=server.host,
            port=server.port,
            username=user,
            password=server.users[user],
            security="none",
        )
    )
    now = datetime.now(UTC)
    [inbox] = [s for s in src.streams() if s.name == "INBOX"]
    cursor = None
    for batch in src.poll(inbox, None, now=now):
        cursor = batch.cursor
    append_messages(
        server,
        user,
        "INBOX",
        (
            f"From: n{i}@example.org\r\nTo: {user}@example.com\r\nSubject: new {i}\r\n"
            f"Message-ID: <new{i}.{time.time()}@example.org>\r\n\r\nhi\r\n".encode()
            for i in range(10)
        ),
    )
    imap = src._client._imap  # the imaplib connection under imapclient: count its tags
    before, t = imap.tagnum, time.perf_counter()
    got = sum(len(b.items) for b in src.poll(inbox, cursor, now=now))
    elapsed = time.perf_counter() - t
    trips = imap.tagnum - before
    src.close()
    assert got == 10, got
    return trips, elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=10_000, help="the comparison size")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
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
            c = syncd_run(server, user, work)
            trips, secs = incremental(server, user)
            rows[n] = (a, b, c, trips, secs)
        for n, (a, b, c, trips, secs) in rows.items():
            ra, rb, rc = a[0] / a[1], b[0] / b[1], n / c["wall"]
            print(
                f"N={n:,}: (a) imaplib {ra:,.0f}/s  (b) imapclient {rb:,.0f}/s"
                f"  (c) syncd sync {rc:,.0f}/s ({c['wall']:.1f} s, peak RSS"
                f" {c['rss_kb'] / 1024:.0f} MB)  c/a {rc / ra:.2f}  c/b {rc / rb:.2f}"
            )
            print(
                f"        incremental poll after 10 new: {trips} round trips, {secs * 1000:.1f} ms"
            )
    finally:
        server.stop()
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
