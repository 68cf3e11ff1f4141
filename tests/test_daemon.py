"""`syncd run`: the schedule (pure, with an injected clock), the loop against a real store and
real Maildirs, and the process itself: SIGTERM in the middle of a backfill, SIGHUP with a
broken and then a good config, the systemd notify protocol over a real socket."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from connectors.base import Batch, SourceUnavailable, StreamInfo
from syncd.config import load_config
from syncd.daemon.loop import Daemon, Schedule
from syncd.store.db import Store
from syncd.store.models import Account
from syncd.sync.passes import AccountSources, Syncer
from tests.util import deliver, make_maildir, message, write_config

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# --- the schedule ------------------------------------------------------------------------------


def test_each_account_on_its_own_interval_with_jitter_within_bounds() -> None:
    for r, factor in ((0.0, 0.9), (0.5, 1.0), (1.0, 1.1)):
        sched = Schedule(jitter=0.1, max_backoff=3600, rand=lambda r=r: r)
        sched.configure({"fast": 60, "slow": 600}, now=0)
        assert sched.due(0) == ["fast", "slow"]  # new accounts are due at once
        assert sched.done("fast", 0, failed=False) == pytest.approx(60 * factor)
        assert sched.done("slow", 0, failed=False) == pytest.approx(600 * factor)
        assert sched.due(60 * factor) == ["fast"]
        assert sched.due(600 * factor) == ["fast", "slow"]  # the longest overdue first


def test_failures_back_off_exponentially_up_to_the_cap_and_recover() -> None:
    sched = Schedule(jitter=0.0, max_backoff=1000, rand=lambda: 0.5)
    sched.configure({"a": 60}, now=0)
    waits = [sched.done("a", 0, failed=True) for _ in range(6)]
    assert waits == [120, 240, 480, 960, 1000, 1000]
    assert sched.done("a", 0, failed=False) == 60  # one success resets it
    # An interval longer than the cap is never shortened by a failure.
    sched.configure({"a": 7200}, now=0)
    assert sched.done("a", 0, failed=True) == 7200


def test_retry_after_is_honoured_even_past_the_backoff() -> None:
    sched = Schedule(jitter=0.1, max_backoff=600, rand=lambda: 1.0)
    sched.configure({"a": 60}, now=0)
    assert sched.done("a", 100, failed=True, retry_after=3600) == 3600
    assert sched.due(100 + 3599) == []
    assert sched.due(100 + 3600) == ["a"]
    # A short Retry-After does not bring the next try before the backoff.
    assert sched.done("a", 0, failed=True, retry_after=1) == pytest.approx(240 * 1.1)


def test_reconfigure_adds_drops_and_shortens() -> None:
    sched = Schedule(jitter=0.0, max_backoff=3600, rand=lambda: 0.5)
    sched.configure({"a": 600, "b": 600}, now=0)
    sched.done("a", 0, failed=False)
    sched.done("b", 0, failed=False)
    sched.configure({"a": 60, "c": 600}, now=10)
    assert set(sched.slots) == {"a", "c"}
    assert sched.next_due(["a"]) == 70
    assert sched.due(10) == ["c"]
    sched.wake("a", 20)  # new mail
    assert sched.due(20) == ["c", "a"]  # c waits since 10


def test_a_connectors_retry_after_reaches_the_report(tmp_path: Path) -> None:
    """SourceUnavailable's retry_after (set by the shared HTTP retry policy) is what the
    schedule is given."""

    class Throttled:
        def streams(self) -> list[StreamInfo]:
            return [StreamInfo("INBOX", "mail")]

        def poll(
            self, stream: StreamInfo, cursor: str | None, *, now: datetime, full: bool = False
        ) -> Iterator[Batch]:
            raise SourceUnavailable("429 Too Many Requests", retry_after=120)

    config = load_config(
        write_config(tmp_path / "c.toml", "", store_url=f"sqlite:///{tmp_path}/s.db")
    )
    store = Store(config.store_url)
    store.check_ready()
    try:
        syncer = Syncer(store, config, store.ensure_owner("default", NOW))
        reports = syncer.sync_account(
            AccountSources("x", "gmail", [("mail:", Throttled())]), now=NOW
        )
    finally:
        store.dispose()
    assert [(r.error_kind, r.retry_after) for r in reports] == [("unavailable", 120)]


# --- the loop, in-process, with an injected clock -----------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _one_message(root: Path, i: int) -> None:
    deliver(
        root,
        message(
            sender=f"p{i}@corp.example",
            to="alex@example.com",
            subject=f"hello {i}",
            date=NOW - timedelta(days=1, minutes=i),
            message_id=f"m{i}-{root.name}@corp.example",
        ),
    )


def test_failing_and_parked_accounts_do_not_hold_up_the_others(tmp_path: Path) -> None:
    good = make_maildir(tmp_path / "good", "INBOX")
    _one_message(good, 1)
    later = make_maildir(tmp_path / "later", "INBOX")
    _one_message(later, 2)
    db = tmp_path / "s.db"
    cfg = write_config(
        tmp_path / "c.toml",
        '[daemon]\npoll_interval = "1m"\njitter = 0.0\nmax_backoff = "1h"\n'
        f'[[accounts]]\nname = "good"\nkind = "maildir"\npath = "{good}"\n'
        f'[[accounts]]\nname = "broken"\nkind = "maildir"\npath = "{tmp_path / "missing"}"\n'
        f'[[accounts]]\nname = "later"\nkind = "maildir"\npath = "{later}"\n'
        'poll_interval = "10m"\n',
        store_url=f"sqlite:///{db}",
    )
    config = load_config(cfg)
    store = Store(config.store_url)
    store.check_ready()
    owner = store.ensure_owner("default", NOW)
    clock = FakeClock()
    daemon = Daemon(config, store, owner, now=lambda: NOW, clock=clock)
    try:
        daemon._pass()
        slots = daemon.schedule.slots
        assert (slots["good"].due, slots["later"].due) == (1060, 1600)
        assert slots["broken"].failures == 1 and slots["broken"].due == 1120  # 2 × 1m
        assert _interactions(db) == 2

        # A minute on only the healthy one-minute account is due; the broken one waits.
        clock.t = 1060
        assert daemon.schedule.due(clock.t) == ["good"]
        daemon._pass()
        clock.t = 1120
        daemon._pass()
        assert slots["broken"].failures == 2 and slots["broken"].due == 1120 + 240

        # Revoked credentials park an account until its state changes in the store (as
        # `syncd accounts auth` in another process does); then it is polled at once.
        _set_state(store, "later", "needs_reauth")
        clock.t = 2000
        daemon._pass()
        assert daemon._parked == {"later"} and slots["later"].due == 1600  # not polled
        _one_message(later, 3)
        _set_state(store, "later", "ok")
        clock.t = 2001
        daemon._pass()
        assert daemon._parked == set() and slots["later"].due == 2001 + 600
        assert _interactions(db) == 3
    finally:
        daemon.connectors.close()
        store.dispose()


def _set_state(store: Store, name: str, state: str) -> None:
    with store.session() as s, s.begin():
        s.execute(update(Account).where(Account.name == name).values(state=state))


def _interactions(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("select count(*) from interactions").fetchone()[0])


# --- the process --------------------------------------------------------------------------------

N_BACKFILL = 6000


def _fill(mail: Path, n: int) -> None:
    """n messages written straight into cur/ (quicker than deliver() for thousands)."""
    cur = mail / "cur"
    for i in range(n):
        data = message(
            sender=f"person{i % 50}@corp{i % 7}.example",
            to="alex@example.com",
            subject=f"Topic {i}",
            date=NOW - timedelta(minutes=17 * i),
            message_id=f"m{i}@corp.example",
        )
        (cur / f"{1_700_000_000 + i}.M{i}P1.test:2,S").write_bytes(data)


class Daemon_:
    """`syncd run` as a child process, its stderr in a file."""

    def __init__(self, cfg: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = cfg.parent / "daemon.log"
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syncd", "--config", str(cfg), "-v", "run", *args],
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, what: Callable[[], bool], limit: float = 60) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"syncd run exited:\n{self.text()[-3000:]}"
            if what():
                return
            time.sleep(0.05)
        pytest.fail(f"timed out; the log:\n{self.text()[-3000:]}")

    def logged(self, event: str, after: int = 0) -> Callable[[], bool]:
        return lambda: event in self.text()[after:]

    def stop(self, limit: float = 30) -> tuple[int, float]:
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"no exit within {limit} s of SIGTERM:\n{self.text()[-3000:]}")
        return code, time.monotonic() - started


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    with closing(sqlite3.connect(db, timeout=10)) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # the schema is being made
            return 0


@pytest.mark.e2e
def test_sigterm_mid_backfill_exits_0_and_the_next_run_completes_without_duplicates(
    tmp_path: Path,
) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX")
    _fill(mail, N_BACKFILL)
    db = tmp_path / "s.db"
    cfg = write_config(
        tmp_path / "c.toml",
        '[sync]\nbatch_size = 100\n[daemon]\nstop_timeout = "20s"\n'
        f'[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{mail}"\n',
        store_url=f"sqlite:///{db}",
    )
    daemon = Daemon_(cfg)
    stored = "select count(*) from interactions"
    daemon.wait_for(lambda: _count(db, stored) >= 300)  # a few batches in
    code, took = daemon.stop()
    log = daemon.text()
    assert code == 0, log[-3000:]
    assert took < 10, log[-3000:]
    assert "daemon.stopping signal=SIGTERM" in log and "daemon.stopped" in log
    assert "sync.stream.stopped" in log, log[-3000:]  # it stopped between batches...
    partial = _count(db, stored)
    assert 0 < partial < N_BACKFILL  # ...in the middle of the backfill
    assert _count(db, "select count(*) from streams where last_error is not null") == 0

    done = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(cfg), "run", "--once", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert _count(db, stored) == N_BACKFILL
    assert _count(db, "select count(distinct message_key) from interactions") == N_BACKFILL
    assert _count(db, "select count(*) from interaction_sources") == N_BACKFILL


@pytest.mark.e2e
def test_sighup_refuses_a_broken_config_and_applies_a_good_one(tmp_path: Path) -> None:
    first = make_maildir(tmp_path / "first", "INBOX")
    _one_message(first, 1)
    second = make_maildir(tmp_path / "second", "INBOX")
    _one_message(second, 2)
    db = tmp_path / "s.db"
    accounts = f'[[accounts]]\nname = "first"\nkind = "maildir"\npath = "{first}"\n'
    cfg = write_config(
        tmp_path / "c.toml",
        '[daemon]\npoll_interval = "1h"\n' + accounts,
        store_url=f"sqlite:///{db}",
    )
    good = cfg.read_text()
    daemon = Daemon_(cfg)
    try:
        daemon.wait_for(daemon.logged("daemon.pass.done"))
        mark = len(daemon.text())
        cfg.write_text(good.replace('poll_interval = "1h"', 'poll_interval = "often"'))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(daemon.logged("daemon.reload.refused", mark))
        refusal = daemon.text()[mark:]
        assert "daemon.poll_interval" in refusal and "is not a duration" in refusal
        assert daemon.proc.poll() is None  # still running, on the old config

        mark = len(daemon.text())
        cfg.write_text(
            good + f'[[accounts]]\nname = "second"\nkind = "maildir"\npath = "{second}"\n'
        )
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for(daemon.logged("daemon.reload.done", mark))
        # The new account is polled at once, not an hour later.
        daemon.wait_for(lambda: _count(db, "select count(*) from interactions") == 2)
    finally:
        code, _took = daemon.stop()
    assert code == 0, daemon.text()[-3000:]


@pytest.mark.e2e
def test_notify_protocol_over_a_real_socket(tmp_path: Path) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX")
    _one_message(mail, 1)
    cfg = write_config(
        tmp_path / "c.toml",
        f'[[accounts]]\nname = "w"\nkind = "maildir"\npath = "{mail}"\n',
        store_url=f"sqlite:///{tmp_path / 's.db'}",
    )
    path = tmp_path / "notify.sock"
    with closing(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)) as sock:
        sock.bind(str(path))
        sock.settimeout(0.2)
        # systemd's WatchdogSec=2: a ping at least every second, from the main loop.
        daemon = Daemon_(cfg, env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"})
        got: list[dict[str, str]] = []

        def receive() -> None:
            try:
                data = sock.recv(4096).decode()
            except TimeoutError:
                return
            got.append(dict(line.split("=", 1) for line in data.split("\n")))

        def pings() -> int:
            receive()
            return sum(1 for m in got if m.get("WATCHDOG") == "1")

        daemon.wait_for(lambda: pings() >= 3, limit=30)
        code, _took = daemon.stop()
        while True:  # what it sent on the way out
            before = len(got)
            receive()
            if len(got) == before:
                break
    assert code == 0, daemon.text()[-3000:]
    assert got[0]["READY"] == "1" and got[0]["STATUS"]
    statuses = [m["STATUS"] for m in got if "STATUS" in m and "READY" not in m]
    assert any("1 account" in s and "1 new since start" in s for s in statuses), statuses
    assert got[-1]["STOPPING"] == "1" and "SIGTERM" in got[-1]["STATUS"]
    assert all("\n" not in s for s in statuses)
