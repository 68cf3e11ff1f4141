"""The hostile-input probe (issue 13): what strangers' invites, cards and mail cost.

Each case builds its input in a temporary folder, runs one `syncd` command in a child
process and prints wall and CPU time, the child's peak RSS (from wait4) and the rows it
stored. On a shared machine the CPU time is the figure to compare.

    python bench/hostile.py                  # every case
    python bench/hostile.py ics-together mbox-line --mbox-mb 600
    SYNCD_ROOT=/tmp/old-tree python bench/hostile.py ics-minutely   # an older checkout

Cases: ics-minutely (FREQ=MINUTELY, no end), ics-secondly (FREQ=SECONDLY;COUNT=1000000),
ics-unaccepted (an invitation left at NEEDS-ACTION, FREQ=MINUTELY;COUNT=100000),
ics-together (the three in one folder), mbox-line (one message whose body is a single
line of --mbox-mb MB), vcard-emails (one card with 100,000 EMAIL lines), vcard-cards
(100,000 cards).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

OWNER = """[owner]
name = "Alex Morgan"
addresses = ["alex@example.com"]
timezone = "Europe/Berlin"
"""

_NOW = datetime.now(UTC).replace(microsecond=0)
_START = (_NOW - timedelta(days=30)).strftime("%Y%m%dT%H%M%SZ")


def _event(uid: str, rule: str, partstat: str = "ACCEPTED") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//probe//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:{_START}\r\nDTSTART:{_START}\r\nDURATION:PT15M\r\n"
        f"SUMMARY:{uid}\r\nRRULE:{rule}\r\nORGANIZER:mailto:stranger@example.org\r\n"
        f"ATTENDEE;PARTSTAT={partstat}:mailto:alex@example.com\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:stranger@example.org\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


ICS = {
    "minutely": _event("minutely", "FREQ=MINUTELY"),
    "secondly": _event("secondly", "FREQ=SECONDLY;COUNT=1000000"),
    "unaccepted": _event("unaccepted", "FREQ=MINUTELY;COUNT=100000", "NEEDS-ACTION"),
}


def _config(tmp: Path, calendar: Path | None = None) -> Path:
    mail = tmp / "mail"
    for sub in ("cur", "new", "tmp"):
        (mail / sub).mkdir(parents=True, exist_ok=True)
    cal = f'calendar = {{ kind = "ics", path = "{calendar}" }}\n' if calendar else ""
    path = tmp / "syncd.toml"
    path.write_text(
        OWNER + f'[store]\nurl = "sqlite:///{tmp / "syncd.db"}"\n'
        f'[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{mail}"\n{cal}',
        encoding="utf-8",
    )
    return path


def _ics_case(names: list[str]) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        folder = tmp / "cal"
        folder.mkdir()
        for name in names:
            (folder / f"{name}.ics").write_text(ICS[name], encoding="utf-8")
        return ["--config", str(_config(tmp, folder)), "sync"]

    return build


def _mbox_line(mb: int) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        path = tmp / "long.mbox"
        with open(path, "wb") as out:
            out.write(
                b"From a@example.org Thu Jan  1 00:00:00 2026\nFrom: Ann <a@example.org>\n"
                b"To: alex@example.com\nSubject: long\nMessage-ID: <long@example.org>\n"
                b"Date: Thu, 1 Jan 2026 10:00:00 +0000\n\n"
            )
            chunk = b"x" * (1 << 20)
            for _ in range(mb):
                out.write(chunk)
            out.write(b"\n")
        return ["--config", str(_config(tmp)), "import", "mbox", str(path), "--account", "w"]

    return build


def _vcards(cards: int, emails: int) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        path = tmp / "book.vcf"
        with open(path, "w", encoding="utf-8") as out:
            for c in range(cards):
                out.write(f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Person {c}\r\n")
                for e in range(emails):
                    out.write(f"EMAIL:p{c}.{e}@example.org\r\n")
                out.write("END:VCARD\r\n")
        return ["--config", str(_config(tmp)), "import", "vcard", str(path), "--create"]

    return build


def _rows(db: Path) -> dict[str, int]:
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("interactions", "contacts", "contact_addresses")
        }


def _run(args: list[str], timeout: float) -> tuple[float, float, int, int | str]:
    env = dict(os.environ)
    root = os.environ.get("SYNCD_ROOT")
    if root:
        env["PYTHONPATH"] = root
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncd", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=root or None,
    )
    status: int | str
    while True:
        pid, raw, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status = os.waitstatus_to_exitcode(raw)
            break
        if time.monotonic() - started > timeout:
            proc.kill()
            _pid, _raw, usage = os.wait4(proc.pid, 0)
            status = f"killed at {timeout:g} s"
            break
        time.sleep(0.05)
    proc.returncode = 0  # reaped above
    cpu = usage.ru_utime + usage.ru_stime
    return time.monotonic() - started, cpu, usage.ru_maxrss // 1024, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*")
    parser.add_argument("--mbox-mb", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=180)
    opts = parser.parse_args()
    cases: dict[str, Callable[[Path], list[str]]] = {
        "ics-minutely": _ics_case(["minutely"]),
        "ics-secondly": _ics_case(["secondly"]),
        "ics-unaccepted": _ics_case(["unaccepted"]),
        "ics-together": _ics_case(["minutely", "secondly", "unaccepted"]),
        "mbox-line": _mbox_line(opts.mbox_mb),
        "vcard-emails": _vcards(1, 100_000),
        "vcard-cards": _vcards(100_000, 1),
    }
    print(f"load {os.getloadavg()[0]:.2f}; root {os.environ.get('SYNCD_ROOT') or 'this tree'}")
    for name in opts.cases or list(cases):
        with tempfile.TemporaryDirectory(prefix="syncd-hostile-") as tmp:
            args = cases[name](Path(tmp))
            elapsed, cpu, rss_mb, status = _run(args, opts.timeout)
            rows = _rows(Path(tmp) / "syncd.db")
            print(
                f"{name:15} exit {status}  wall {elapsed:6.1f} s  CPU {cpu:6.1f} s"
                f"  peak RSS {rss_mb:5d} MB  {rows}"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
