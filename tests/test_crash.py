"""A sync killed with SIGKILL at a random moment, then run again, leaves exactly the store of
an uninterrupted run. Real processes, a real Maildir, a real SQLite file."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.util import deliver, make_maildir, message, write_config

N_MESSAGES = 3000
PEOPLE = [f"person{i}@corp{i % 7}.example" for i in range(60)]


def _fill(mail: Path) -> None:
    rnd = random.Random(7)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(N_MESSAGES):
        who = rnd.choice(PEOPLE)
        when = base + timedelta(minutes=97 * i)
        if i % 3 == 0:
            data = message(
                sender="alex@example.com",
                to=who,
                subject=f"Topic {i // 3}",
                date=when,
                message_id=f"m{i}@example.com",
                in_reply_to=f"m{i - 1}@example.com" if i else None,
            )
            deliver(mail / "Sent", data, stamp=1_700_000_000 + i)
        elif i % 10 == 1:
            data = message(
                sender="news@letters.example",
                to="alex@example.com",
                subject="News",
                date=when,
                message_id=f"m{i}@letters.example",
                extra={"List-Unsubscribe": "<mailto:u@letters.example>", "Precedence": "bulk"},
            )
            deliver(mail, data, stamp=1_700_000_000 + i)
        else:
            data = message(
                sender=who,
                to="alex@example.com",
                subject=f"Re: Topic {i // 3}",
                date=when,
                message_id=f"m{i}@{who.split('@')[1]}",
                in_reply_to=f"m{i - 1}@example.com",
                body="x" * rnd.randint(100, 4000),
            )
            deliver(mail, data, stamp=1_700_000_000 + i, seen=bool(i % 2))
    cal = mail.parent / "cal"
    cal.mkdir()
    for i in range(40):
        start = base + timedelta(days=7 * i, hours=9)
        (cal / f"ev{i}.ics").write_text(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:ev{i}@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\r\n"
            "SUMMARY:Sync\r\nORGANIZER:mailto:alex@example.com\r\n"
            f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{PEOPLE[i % len(PEOPLE)]}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n"
        )


def _mbox(mail: Path) -> Path:
    """The same mail as one mbox file (as a Takeout export would hold it)."""
    path = mail.parent / "export.mbox"
    with open(path, "wb") as out:
        for folder in (mail / "cur", mail / "Sent" / "cur", mail / "new"):
            for f in sorted(folder.iterdir()):
                data = f.read_bytes().replace(b"\r\n", b"\n")
                data = data.replace(b"\nFrom ", b"\n>From ")
                out.write(b"From sender@example.org Thu Jan  1 00:00:00 2026\n" + data + b"\n\n")
    return path


def _config(tmp: Path, mail: Path, db: Path) -> Path:
    return write_config(
        tmp / f"{db.stem}.toml",
        f'[sync]\nbatch_size = 100\n[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{mail}"\n'
        f'calendar = {{ kind = "ics", path = "{mail.parent / "cal"}" }}\n',
        store_url=f"sqlite:///{db}",
    )


def _sync_cmd(cfg: Path, mbox: Path | None = None) -> list[str]:
    if mbox is not None:
        return [
            sys.executable,
            "-m",
            "syncd",
            "--config",
            str(cfg),
            "import",
            "mbox",
            str(mbox),
            "--account",
            "takeout",
        ]
    return [sys.executable, "-m", "syncd", "--config", str(cfg), "sync"]


ENV = {**os.environ, "SYNCD_NOW": "2026-11-25T12:00:00Z"}


def _dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """The store's content without surrogate ids or wall-clock times."""
    conn = sqlite3.connect(db)
    try:
        q = {
            "interactions": "select message_key, kind, category, is_interaction, direction,"
            " occurred_at, ends_at, subject, thread_key from interactions",
            "sources": "select i.message_key, s.provider_id, s.folder from interaction_sources s"
            " join interactions i on i.id = s.interaction_id",
            "participants": "select i.message_key, p.address, p.role, p.is_counterpart,"
            " (select min(address) from contact_addresses a where a.contact_id = p.contact_id)"
            " from participants p join interactions i on i.id = p.interaction_id",
            "contacts": "select (select group_concat(address) from contact_addresses a"
            " where a.contact_id = c.id), c.name from contacts c",
            "streams": "select name, cursor is not null from streams",
        }
        return {k: sorted(conn.execute(sql).fetchall(), key=repr) for k, sql in q.items()}
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("job", ["sync", "import-mbox"])
def test_sigkill_at_random_moments_leaves_the_store_of_an_uninterrupted_run(
    tmp_path: Path, job: str
) -> None:
    """Maildir batches before the last keep the old cursor; mbox imports advance it with
    every batch, so a cursor stored apart from its items would lose mail there."""
    mail = make_maildir(tmp_path / "mail", "INBOX", "Sent")
    _fill(mail)
    mbox = _mbox(mail) if job == "import-mbox" else None

    ref_db = tmp_path / "ref.db"
    ref = subprocess.run(
        _sync_cmd(_config(tmp_path, mail, ref_db), mbox),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ref.returncode == 0, ref.stderr
    expected = _dump(ref_db)
    assert len(expected["interactions"]) == N_MESSAGES + (40 if mbox is None else 0)

    rnd = random.Random(int(os.environ.get("SYNCD_CRASH_SEED", "1234")))
    for attempt in range(3):
        db = tmp_path / f"crash{attempt}.db"
        cfg = _config(tmp_path, mail, db)
        kills = 0
        for _ in range(3):
            proc = subprocess.Popen(
                _sync_cmd(cfg, mbox), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rnd.uniform(0.4, 1.7))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
        final = subprocess.run(
            _sync_cmd(cfg, mbox), env=ENV, capture_output=True, text=True, timeout=300
        )
        assert final.returncode == 0, final.stderr
        assert _dump(db) == expected, f"attempt {attempt} ({kills} kills) differs"
        # And once more: nothing changes.
        subprocess.run(_sync_cmd(cfg, mbox), env=ENV, capture_output=True, timeout=300, check=True)
        assert _dump(db) == expected
