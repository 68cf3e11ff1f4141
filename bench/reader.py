#!/usr/bin/env python3
"""The IMAP reader thread's own Python work, the code of a git revision against this tree's.

A header backfill over IMAP reads in one thread (imap_read._fetch_raw: imap_fetch.read_fetch
and parse_internaldate for the FETCH answer, mailparse.parse_header_block for each header
section, a RawMessage built for each message) while the main thread stores; under the GIL
that thread's Python work costs wall time. This times those functions, without a server
(bench/imap_backfill.py runs the whole backfill against Dovecot):

  parse_header_block   over the header sections of N messages of a Maildir written by
                       bench/ingest.py: as IMAP answers BODY[HEADER.FIELDS (...)] (the
                       fields syncd asks for, CR LF, the blank line), and whole from the file
  parse_internaldate   over each message's INTERNALDATE, its Date in one server zone (+0100)
  read_fetch           over an in-memory answer of N FETCH responses in Dovecot's shape
                       (CONDSTORE: MODSEQ), read through io.BytesIO's readline and read
  _fetch_raw           the same answer through a stand-in for imaplib's connection: its own
                       work on this tree's read_fetch and parse_header_block, then the whole
                       path of each revision

The old code is `git show REV:connectors/{mailparse,imap_fetch,imap_read}.py`, imported
under other names (connectors.base and the rest are this tree's). Old and new run in turns
in one process, --repeat times each; the minimum per message is printed. Each case first
checks that both give the same output.

Examples:
  python bench/ingest.py --generate-only --n 100000 --dir /tmp/mail100k --keep
  python bench/reader.py --maildir /tmp/mail100k/n100000-seed1/maildir --against main
  python bench/reader.py --maildir DIR --n 5000 --repeat 15 --no-gc
"""

from __future__ import annotations

import argparse
import email.utils
import gc
import importlib.util
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import connectors.imap_fetch as new_fetch  # noqa: E402
import connectors.imap_read as new_read  # noqa: E402
import connectors.mailparse as new_parse  # noqa: E402
from connectors.base import StreamInfo  # noqa: E402
from connectors.imap_read import HEADER_FIELDS  # noqa: E402

MONTHS = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun"]
MONTHS += [b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"]
FLAGS = [b"\\Seen", b"", b"\\Seen \\Flagged", b"\\Seen $Forwarded", b"\\Answered \\Seen"]


def old_modules(rev: str, where: Path) -> tuple[ModuleType, ModuleType, ModuleType]:
    """mailparse, imap_fetch and imap_read as they are at `rev`."""
    out = []
    for name in ("mailparse", "imap_fetch", "imap_read"):
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:connectors/{name}.py"],
            check=True,
            capture_output=True,
        ).stdout
        path = where / f"old_{name}.py"
        path.write_bytes(source)
        spec = importlib.util.spec_from_file_location(f"old_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        out.append(module)
    parse, fetch, read = out
    for name in ("read_fetch", "parse_other", "uid_set"):  # the old reader on the old parsers
        setattr(read, name, getattr(fetch, name))
    read.parse_header_block = parse.parse_header_block  # type: ignore[attr-defined]
    return parse, fetch, read


def messages(maildir: Path, n: int) -> tuple[list[bytes], list[bytes], list[int], list[float]]:
    """Header sections (whole, and as IMAP's HEADER.FIELDS), sizes and dates of n messages
    taken evenly from the Maildir's cur folders."""
    files = sorted(p for p in maildir.glob("*/cur/*") if p.is_file())
    if not files:
        raise SystemExit(f"no messages under {maildir}/*/cur (see bench/ingest.py)")
    wanted = {f.encode().lower() for f in HEADER_FIELDS.split()}
    full, fields_only, sizes, dates = [], [], [], []
    for path in files[:: max(1, len(files) // n)][:n]:
        data = path.read_bytes()
        head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
        full.append(head + b"\n")
        fields: list[list[bytes]] = []
        for line in head.split(b"\n"):
            if line[:1] in (b" ", b"\t") and fields:
                fields[-1].append(line)
            else:
                fields.append([line])
        kept = [f for f in fields if f[0].partition(b":")[0].strip().lower() in wanted]
        fields_only.append(b"".join(b"\r\n".join(f) + b"\r\n" for f in kept) + b"\r\n")
        sizes.append(len(data))
        date = next((f[0][5:] for f in fields if f[0].lower().startswith(b"date:")), b"")
        try:
            when = email.utils.parsedate_to_datetime(date.decode().strip()).timestamp()
        except (ValueError, TypeError):
            when = 1.7e9
        dates.append(when)
    return full, fields_only, sizes, dates


def internaldate(when: float) -> bytes:
    t = time.gmtime(when + 3600)
    return b"%2d-%s-%d %02d:%02d:%02d +0100" % (
        *(t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year),
        *(t.tm_hour, t.tm_min, t.tm_sec),
    )


def answer(sections: list[bytes], sizes: list[int], dates: list[bytes]) -> bytes:
    """A UID FETCH answer as Dovecot sends it for RAW_FETCH_ITEMS, CONDSTORE enabled."""
    item = f"BODY[HEADER.FIELDS ({HEADER_FIELDS})]".encode()
    out = []
    for i, (head, size, date) in enumerate(zip(sections, sizes, dates, strict=True)):
        flags = FLAGS[i % 5 if i % 3 else 0]
        out.append(
            b'* %d FETCH (UID %d MODSEQ (%d) FLAGS (%s) INTERNALDATE "%s" RFC822.SIZE %d '
            % (i + 1, i + 1, i + 7, flags, date, size)
            + b"%s {%d}\r\n%s)\r\n" % (item, len(head), head)
        )
    return b"".join(out) + b"A7 OK Fetch completed (0.001 + 0.000 secs).\r\n"


class _Imap:
    """What _fetch_raw uses of imaplib's connection, over an answer in memory."""

    def __init__(self, wire: bytes) -> None:
        stream = io.BytesIO(wire)
        self.readline, self.read = stream.readline, stream.read
        self.untagged_responses: dict[str, list[Any]] = {}
        self.tagged_commands: dict[bytes, Any] = {}

    def _command(self, *args: object) -> bytes:
        return b"A7"


class _View:
    name = "INBOX"
    uidvalidity = 1700000000

    def __init__(self, wire: bytes) -> None:
        self.imap = _Imap(wire)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--maildir", type=Path, required=True, help="written by bench/ingest.py")
    p.add_argument("--n", type=int, default=20_000, help="messages (default: 20,000)")
    p.add_argument("--against", default="HEAD", metavar="REV", help="old code (default: HEAD)")
    p.add_argument("--repeat", type=int, default=9, help="runs of each (default: 9)")
    p.add_argument("--no-gc", action="store_true", help="the collector off while timing")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        old_parse, old_fetch, old_read = old_modules(args.against, Path(tmp))
    full, fields_only, sizes, when = messages(args.maildir, args.n)
    n = len(full)
    dates = [internaldate(t) for t in when]
    wire = answer(fields_only, sizes, dates)
    stream = StreamInfo("INBOX", "mail", "inbox")
    uids = list(range(1, n + 1))

    def parse(module: ModuleType, blocks: list[bytes]) -> Callable[[], object]:
        return lambda: [module.parse_header_block(b) for b in blocks]

    def dates_of(module: ModuleType) -> Callable[[], object]:
        return lambda: [module.parse_internaldate(d) for d in dates]

    def fetch(module: ModuleType) -> Callable[[], object]:
        def run() -> object:
            s = io.BytesIO(wire)
            return module.read_fetch(s.readline, s.read, b"A7", lambda t, d: None)

        return run

    def same(old: Any, new: Any) -> bool:
        if isinstance(old, old_fetch.FetchAnswer):  # Fetched is a class of each revision's
            fields = ("uid", "flags", "internal_date", "size", "header", "truncated")

            def rows(a: Any) -> object:
                return [tuple(getattr(f, k) for k in fields) for f in a.fetched], a.other

            return bool(rows(old) == rows(new) and (old.status, old.text) == (new.status, new.text))
        return bool(old == new)

    def raw(module: ModuleType) -> Callable[[], object]:
        reader = object.__new__(module.ImapReader)
        reader._kept = {}
        reader._drop = lambda: None
        return lambda: reader._fetch_raw(_View(wire), stream, uids)

    # _fetch_raw's own work: the old one on this tree's read_fetch and parse_header_block.
    with tempfile.TemporaryDirectory() as tmp:
        own = old_modules(args.against, Path(tmp))[2]
    for name in ("read_fetch", "parse_other", "uid_set"):
        setattr(own, name, getattr(new_fetch, name))
    own.parse_header_block = new_parse.parse_header_block

    cases = [
        (
            "parse_header_block, IMAP header fields",
            parse(old_parse, fields_only),
            parse(new_parse, fields_only),
        ),
        (
            "parse_header_block, whole header sections",
            parse(old_parse, full),
            parse(new_parse, full),
        ),
        ("parse_internaldate", dates_of(old_fetch), dates_of(new_fetch)),
        ("read_fetch (with parse_internaldate)", fetch(old_fetch), fetch(new_fetch)),
        ("_fetch_raw, its own work", raw(own), raw(new_read)),
        ("_fetch_raw, read + parse + build", raw(old_read), raw(new_read)),
    ]
    print(
        f"{n} messages from {args.maildir}; old: {args.against}; min of {args.repeat}"
        f"{', collector off' if args.no_gc else ''}; us a message"
    )
    print(f"{'':44s} {'old':>7s} {'new':>7s}")
    for label, old, new in cases:
        if not same(old(), new()):
            raise SystemExit(f"{label}: old and new differ")
        best = {"old": float("inf"), "new": float("inf")}
        for _ in range(args.repeat):
            for which, fn in (("old", old), ("new", new)):
                gc.collect()
                if args.no_gc:
                    gc.disable()
                t0 = time.perf_counter()
                fn()
                best[which] = min(best[which], time.perf_counter() - t0)
                gc.enable()
        o, w = best["old"] / n * 1e6, best["new"] / n * 1e6
        print(f"{label:44s} {o:7.2f} {w:7.2f} {(w - o) / o * 100:+6.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
