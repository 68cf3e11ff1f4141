"""Hostile input: what strangers put in names, subjects, invitations and cards (issue 13).

Hand-written payloads (rich markup, terminal escapes, C1 controls, bidi overrides, NULs,
over-long text) and hypothesis-generated text go into mail headers, .ics SUMMARY/CN and
recurrence rules, and vCard fields; `syncd sync` and `import vcard` store them, then every
command runs, with and without --json, on a pseudo-terminal. Each must exit 0 with no
traceback, write no control character but the styles rich itself draws, and stay within
its time and memory caps.

The commands run in a child forked from this process with the pty as its terminal
(`pty.fork`) after syncd is imported here, so each costs no interpreter start and no
imports; its peak RSS comes from wait4.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import ical, vcard
from syncd.cli.root import main as syncd_main
from syncd.ingest.sanitize import MAX_LINE, clean_block, clean_line, terminal_text
from tests.util import OWNER_TOML, deliver, make_maildir

NOW = datetime.now(UTC).replace(microsecond=0)
PRELOADED = (ical, vcard)  # imported once here, not in every forked command

HOSTILE = [
    "[/bold]",
    "[link=https://evil.example/]Click here[/link]",
    "[bold red]loud[/]",
    "\x1b]8;;https://evil.example/\x07Click\x1b]8;;\x07",
    "\x1b[2J\x1b[Hscreen cleared",
    "\x1b]0;window title\x07named",
    "\x1b[31mred\x1b[0m",
    "\x9b31mC1 CSI\x9dC1 OSC\x9c and \x85NEL",
    "\u202egnp.exe\u202c bidi",
    "nul\x00bell\x07back\x08space",
    "x" * 5000,
]
# What rich itself may draw on a terminal: styles, and the cursor moves of a progress bar.
_RICH = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[[0-9]*[ABGK]")
_BIDI = {"\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}  # fmt: skip
SECONDS = 60  # per command, generous for a loaded machine; each takes about a second alone
RSS_MB = 400


def bad_characters(text: str) -> list[str]:
    """Control characters (but line breaks, tabs and rich's own styles) and bidi controls."""
    rest = _RICH.sub("", text)
    return sorted(
        {
            repr(ch)
            for ch in rest
            if (unicodedata.category(ch) == "Cc" and ch not in "\n\r\t") or ch in _BIDI
        }
    )


# --- the sanitiser, on anything --------------------------------------------------------------


@given(st.text(), st.integers(min_value=1, max_value=2000))
def test_clean_line_leaves_no_control_and_respects_the_cap(text: str, limit: int) -> None:
    out = clean_line(text, limit)
    assert out is None or (len(out) <= limit and not bad_characters(out) and "\n" not in out)
    assert clean_line(out, limit) == out  # idempotent: applying it twice changes nothing


@given(st.text())
def test_clean_block_and_terminal_text_leave_no_control(text: str) -> None:
    assert not bad_characters(clean_block(text) or "")
    assert not bad_characters(terminal_text(text))
    assert "\x1b" not in terminal_text(text)


@pytest.mark.parametrize("payload", HOSTILE)
def test_hand_written_payloads_lose_their_escapes_but_keep_their_text(payload: str) -> None:
    out = clean_line(payload) or ""
    assert not bad_characters(out) and len(out) <= MAX_LINE
    if "Click" in payload or "red" in payload:
        assert "Click" in out or "red" in out
    assert "8;;" not in out and "window title" not in out


# --- the world: mail, invitations and cards carrying the payloads ----------------------------


def _message(sender: str, to: str, subject: str, when: datetime, mid: str) -> bytes:
    from email.header import Header

    def header(value: str) -> str:
        return Header(value, "utf-8").encode()

    lines = [
        f"From: {header(sender.split(' <')[0])} <{sender.split('<')[1]}",
        f"To: {to}",
        f"Subject: {header(subject)}",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <{mid}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Hello.",
    ]
    return "\r\n".join(lines).encode("utf-8")


def _ics_text(value: str) -> str:
    # iCalendar TEXT escapes; control characters other than ESC/C1 would make the line
    # invalid, which the parser skips: keep them out of .ics, they go in through mail.
    clean = "".join(ch for ch in value if ch == "\x1b" or ch >= " ")
    return clean.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")


def _invitation(n: int, summary: str, name: str, rule: str, partstat: str) -> str:
    start = (NOW - timedelta(days=20)).strftime("%Y%m%dT%H%M%SZ")
    cn = name.replace('"', "'")
    cn = "".join(ch for ch in cn if ch == "\x1b" or ch >= " ")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hostile//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:hostile-{n}\r\nDTSTAMP:{start}\r\nDTSTART:{start}\r\nDURATION:PT30M\r\n"
        f"SUMMARY:{_ics_text(summary)}\r\nRRULE:{rule}\r\n"
        f'ORGANIZER;CN="{cn}":mailto:guest{n}@example.org\r\n'
        f"ATTENDEE;PARTSTAT={partstat}:mailto:alex@example.com\r\n"
        f'ATTENDEE;CN="{cn}";PARTSTAT=ACCEPTED:mailto:guest{n}@example.org\r\n'
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def _vcard(n: int, value: str) -> str:
    text = _ics_text(value)
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{text}\r\nORG:{text}\r\nNOTE:{text}\r\n"
        f"EMAIL:person{n}@example.org\r\nEND:VCARD\r\n"
    )


RULES = [
    "FREQ=MINUTELY",
    "FREQ=SECONDLY;COUNT=1000000",
    "FREQ=DAILY;BYHOUR=1,2,3",
    "FREQ=WEEKLY;COUNT=5",
    "FREQ=DAILY;UNTIL=99991231T000000Z",
]


@dataclass
class World:
    root: Path
    config: Path
    people: list[str]
    message: Path


def build_world(root: Path, payloads: list[str]) -> World:
    mail = make_maildir(root / "mail", "INBOX", ".Sent")
    cal = root / "cal"
    cal.mkdir()
    people = []
    for n, payload in enumerate(payloads):
        person = f"person{n}@example.org"
        people.append(person)
        when = NOW - timedelta(days=10 + n)
        deliver(
            mail / ".Sent",
            _message("Alex Morgan <alex@example.com>", person, payload, when, f"out{n}@x"),
        )
        deliver(
            mail,
            _message(f"{payload} <{person}>", "alex@example.com", payload, when, f"in{n}@x"),
        )
        rule = RULES[n % len(RULES)]
        partstat = "NEEDS-ACTION" if n % 3 == 2 else "ACCEPTED"
        (cal / f"{n}.ics").write_text(_invitation(n, payload, payload, rule, partstat), "utf-8")
    message = root / "hostile.eml"
    message.write_bytes(
        _message(f"{payloads[0]} <{people[0]}>", "alex@example.com", payloads[0], NOW, "x@x")
    )
    (root / "book.vcf").write_text(
        "".join(_vcard(n, p) for n, p in enumerate(payloads)), encoding="utf-8"
    )
    config = root / "syncd.toml"
    config.write_text(
        OWNER_TOML + f'[store]\nurl = "sqlite:///{root / "syncd.db"}"\n'
        '[sync]\ncontact_policy = "all"\n'
        f'[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{mail}"\n'
        f'calendar = {{ kind = "ics", path = "{cal}" }}\n'
        '[[rules]]\nname = "keep-in-touch"\nkind = "cadence"\n'
        '[tiers]\nkey = { cadence = "7d" }\n',
        encoding="utf-8",
    )
    return World(root, config, people, message)


# --- running a command on a pseudo-terminal ---------------------------------------------------


@dataclass
class Ran:
    status: int
    output: str
    seconds: float
    rss_mb: int


def _rss_mb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) // 1024


def run_on_pty(*args: str) -> Ran:
    """Runs one command in a forked child. Its `rss_mb` is what the command added to the
    test process's resident memory: a forked child starts with the parent's pages, and
    under pytest-xdist that parent has grown with every test before."""
    started = time.monotonic()
    base = _rss_mb()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        code = 1
        try:
            syncd_main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    chunks: list[bytes] = []
    deadline = started + SECONDS
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            break
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _pid, raw, usage = os.wait4(pid, 0)
    os.close(fd)
    return Ran(
        status=os.waitstatus_to_exitcode(raw),
        output=b"".join(chunks).decode("utf-8", errors="replace"),
        seconds=time.monotonic() - started,
        rss_mb=max(0, usage.ru_maxrss // 1024 - base),
    )


def commands(world: World) -> Iterator[list[str]]:
    cfg = ["--config", str(world.config)]
    who = world.people[0]
    yield [*cfg, "sync"]
    yield [*cfg, "import", "vcard", str(world.root / "book.vcf"), "--create"]
    for listing in (
        ["contacts", "list"],
        ["contacts", "list", "--due"],
        ["contacts", "show", who],
        ["history", who],
        ["history", world.people[-1], "--all"],
        ["plan"],
        ["actions", "list"],
        ["accounts", "list"],
        ["accounts", "status"],
        ["report"],
        ["explain", str(world.message)],
        ["run", "--once"],
    ):
        yield [*cfg, *listing]
        yield [*cfg, *listing, "--json"]


def check_every_command(world: World) -> None:
    for args in commands(world):
        ran = run_on_pty(*args)
        shown = " ".join(args[2:])
        assert ran.status == 0, f"{shown}: exit {ran.status}\n{ran.output[-2000:]}"
        assert "Traceback" not in ran.output, f"{shown}:\n{ran.output[-2000:]}"
        assert not bad_characters(ran.output), f"{shown}: {bad_characters(ran.output)}"
        assert "\x1b]" not in ran.output, f"{shown}: an OSC sequence (hyperlink, title)"
        assert ran.seconds < SECONDS and ran.rss_mb < RSS_MB, (shown, ran.seconds, ran.rss_mb)


def test_hand_written_payloads_through_sync_and_every_command(tmp_path: Path) -> None:
    world = build_world(tmp_path, HOSTILE)
    check_every_command(world)
    # nothing hostile was stored: the store holds plain text
    import sqlite3

    with sqlite3.connect(tmp_path / "syncd.db") as db:
        texts = [r[0] or "" for r in db.execute("SELECT subject FROM interactions")]
        texts += [r[0] or "" for r in db.execute("SELECT name FROM participants")]
        texts += [
            r[0] or "" for r in db.execute("SELECT coalesce(name, '') || notes FROM contacts")
        ]
        rows = db.execute("SELECT count(*) FROM interactions").fetchone()[0]
    assert not [t for t in texts if bad_characters(t)]
    # 11 people, 2 mails each; of the invitations only the accepted daily-or-slower ones
    assert rows <= 2 * len(HOSTILE) + len(HOSTILE) * 1000


_payload = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40
).filter(lambda s: s.strip() and "<" not in s and ">" not in s and "@" not in s)


@settings(
    max_examples=2,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payloads=st.lists(_payload, min_size=3, max_size=3))
def test_generated_payloads_through_sync_and_every_command(
    tmp_path_factory: pytest.TempPathFactory, payloads: list[str]
) -> None:
    world = build_world(tmp_path_factory.mktemp("hostile"), payloads)
    check_every_command(world)
