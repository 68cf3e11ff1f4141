"""Three `syncd run` processes on one PostgreSQL store share 30 Maildir accounts.

Every account is synced; no account is synced by two workers at once (each worker's log
gives the interval of every account sync, `sync.account.started` to `sync.account.done`);
a worker killed with SIGKILL has its accounts taken over by the others within the lease
ttl plus the poll interval; and neither an interaction nor a draft exists twice.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syncd.store.db import Store
from syncd.store.models import Account, Action, Interaction, InteractionSource, Lease, Stream
from tests.util import deliver, make_maildir, message, run_cli, write_config

pytestmark = pytest.mark.integration

N_ACCOUNTS = 30
N_OWN = 12  # messages only this account has
SHARED = 4  # messages every account has (one interaction each, many sources)
TTL = 3.0
# Syncs and rules see this time (drafts are due in the owner's working hours); the leases
# always run on the real clock.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
INTERVAL = 1.0


def fill_accounts(root: Path, n: int, now: datetime) -> list[tuple[str, Path]]:
    """`n` small Maildirs: their own mail, mail all of them share, and in each a message
    the owner sent ten days ago that nobody answered (a no-reply draft for each)."""
    accounts = []
    for a in range(n):
        name = f"acc{a:03d}"
        mail = make_maildir(root / name, "INBOX", "Sent", "Drafts")
        for i in range(N_OWN):
            deliver(
                mail,
                message(
                    sender=f"p{(a * 7 + i) % 40}@corp{i % 5}.example",
                    to="alex@example.com",
                    subject=f"{name} topic {i}",
                    date=now - timedelta(days=30 + i),
                    message_id=f"{name}-{i}@corp.example",
                ),
            )
        for i in range(SHARED):
            deliver(
                mail,
                message(
                    sender=f"team{i}@corp.example",
                    to="alex@example.com",
                    subject=f"All hands {i}",
                    date=now - timedelta(days=20 + i),
                    message_id=f"shared-{i}@corp.example",
                ),
            )
        deliver(
            mail / "Sent",
            message(
                sender="alex@example.com",
                to=f"client{a}@customer.example",
                subject=f"Proposal {name}",
                date=now - timedelta(days=10),
                message_id=f"{name}-sent@example.com",
            ),
        )
        accounts.append((name, mail))
    return accounts


def accounts_toml(accounts: list[tuple[str, Path]], ttl: float, interval: float) -> str:
    parts = [
        f'[daemon]\npoll_interval = "{interval:g}s"\nlease_ttl = "{ttl:g}s"\n'
        'rules_interval = "2s"\nstop_timeout = "10s"\n',
        '[[rules]]\nname = "no-reply"\nkind = "no_reply"\nafter = "3 business days"\n'
        'action = "draft"\n',
        "[limits]\nper_day = 1000\nper_week = 1000\n",
    ]
    for name, path in accounts:
        parts.append(f'[[accounts]]\nname = "{name}"\nkind = "maildir"\npath = "{path}"\n')
    return "\n".join(parts)


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path
    killed_at: float | None = None
    events: list[dict[str, object]] = field(default_factory=list)

    def read(self) -> list[dict[str, object]]:
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        self.events = [json.loads(line) for line in lines if line.startswith("{")]
        return self.events

    @property
    def worker_id(self) -> str | None:
        for e in self.events:
            if e.get("event") in ("lease.claimed", "lease.takeover") and e.get("worker"):
                return str(e["worker"])
        return None


def start_worker(config: Path, log: Path, env: dict[str, str]) -> Worker:
    out = open(log, "wb")  # noqa: SIM115 - the child owns it; closed when the test ends
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncd",
            "--config",
            str(config),
            "-v",
            "--log-format",
            "json",
            "run",
        ],
        stdout=subprocess.DEVNULL,
        stderr=out,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    out.close()
    return Worker(proc, log)


def stamp(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["time"])).timestamp()


def sync_intervals(w: Worker) -> dict[str, list[tuple[float, float]]]:
    """Per account, the [start, end] of each sync this worker ran (to its death if cut)."""
    out: dict[str, list[tuple[float, float]]] = defaultdict(list)
    open_: dict[str, float] = {}
    for e in w.events:
        if e.get("event") == "sync.account.started":
            open_[str(e["account"])] = stamp(e)
        elif e.get("event") in ("sync.account.done", "sync.account.lease_lost"):
            account = str(e["account"])
            out[account].append((open_.pop(account), stamp(e)))
    end = w.killed_at if w.killed_at is not None else time.time()
    for account, start in open_.items():
        out[account].append((start, end))
    return out


def synced_after(w: Worker, t: float) -> set[str]:
    return {
        str(e["account"])
        for e in w.events
        if e.get("event") == "sync.account.done" and stamp(e) > t
    }


def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def workers_setup(
    pg_url: str, tmp_path: Path
) -> Iterator[tuple[Path, Store, list[tuple[str, Path]]]]:
    accounts = fill_accounts(tmp_path / "mail", N_ACCOUNTS, NOW)
    config = write_config(
        tmp_path / "syncd.toml", accounts_toml(accounts, TTL, INTERVAL), store_url=pg_url
    )
    run_cli("--config", str(config), "init", check=True)
    store = Store(pg_url)
    yield config, store, accounts
    store.dispose()


def test_three_workers_share_the_accounts_and_take_over_a_dead_ones(
    workers_setup: tuple[Path, Store, list[tuple[str, Path]]], tmp_path: Path
) -> None:
    config, store, accounts = workers_setup
    names = {name for name, _ in accounts}
    env = {**os.environ, "SYNCD_STATE_DIR": str(tmp_path / "state"), "SYNCD_NOW": NOW.isoformat()}
    workers = [start_worker(config, tmp_path / f"w{i}.log", env) for i in range(3)]
    try:
        # 1. every account synced, and the accounts spread over the three workers
        def all_synced_and_shared() -> bool:
            with store.session() as s:
                synced = set(
                    s.scalars(
                        select(Account.name)
                        .join(Stream, Stream.account_id == Account.id)
                        .where(Stream.last_sync_at.is_not(None))
                    )
                )
                holders = s.execute(
                    select(Lease.holder, func.count())
                    .where(Lease.resource.startswith("account:"), Lease.holder.is_not(None))
                    .group_by(Lease.holder)
                ).all()
            return synced == names and len(holders) == 3

        # Generous: three interpreters starting on a loaded 2-core machine take a while, and
        # waiting costs nothing when they are quick. The takeover's timing is asserted below.
        wait_for(all_synced_and_shared, 120, "all accounts synced by three workers")
        for w in workers:
            assert w.proc.poll() is None, w.log.read_text()
            w.read()
        by_id = {w.worker_id: w for w in workers}
        assert None not in by_id and len(by_id) == 3

        # 2. kill the worker holding the most accounts
        with store.session() as s:
            held = s.execute(
                select(Lease.holder, Lease.resource).where(Lease.resource.startswith("account:"))
            ).all()
        per_worker: dict[str, set[str]] = defaultdict(set)
        for holder, resource in held:
            if holder:
                per_worker[holder].add(resource.removeprefix("account:"))
        victim_id = max(per_worker, key=lambda h: len(per_worker[h]))
        victim, orphans = by_id[victim_id], per_worker[victim_id]
        assert orphans
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        victim.killed_at = time.time()
        survivors = [w for w in workers if w is not victim]

        def orphans_synced_again() -> bool:
            done: set[str] = set()
            for w in survivors:
                w.read()
                done |= synced_after(w, victim.killed_at or 0)
            return orphans <= done

        wait_for(orphans_synced_again, 30, "the dead worker's accounts synced again")
        taken_after = time.time() - victim.killed_at
        # the ttl, then at most an interval until each is due again, and a pass to sync them
        assert taken_after < TTL + INTERVAL + 10, taken_after
        print(f"{len(orphans)} accounts of the killed worker synced again after {taken_after:.1f}s")
        takeovers = [e for w in survivors for e in w.events if e.get("event") == "lease.takeover"]
        taken = {str(e["resource"]).removeprefix("account:") for e in takeovers}
        assert orphans <= taken
        assert all(e["old_owner"] == victim_id for e in takeovers if e["resource"] != "rules")
        with store.session() as s:
            holders = dict(
                s.execute(
                    select(Lease.resource, Lease.holder).where(
                        Lease.resource.startswith("account:")
                    )
                ).all()
            )
        assert victim_id not in holders.values()

        # 3. new mail in an orphaned account arrives through a survivor
        name = sorted(orphans)[0]
        deliver(
            dict(accounts)[name],
            message(
                sender="late@corp.example",
                to="alex@example.com",
                subject="After the crash",
                date=NOW - timedelta(hours=1),
                message_id="after-crash@corp.example",
            ),
        )

        def late_mail_stored() -> bool:
            with store.session() as s:
                return bool(
                    s.scalar(
                        select(func.count())
                        .select_from(Interaction)
                        .where(Interaction.message_key.contains("after-crash"))
                    )
                )

        wait_for(late_mail_stored, 20, "mail delivered after the kill")
        # the rules ran somewhere: a no-reply draft for every account
        wait_for(lambda: _drafts_made(store) >= N_ACCOUNTS, 30, "a draft per account")
    finally:
        for w in workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in workers:
            w.proc.wait(timeout=30)
    for w in workers:
        if w is not victim:
            assert w.proc.returncode == 0, w.log.read_text()[-3000:]
        w.read()

    # nobody synced an account while another worker was syncing it
    intervals = [(w.worker_id, sync_intervals(w)) for w in workers]
    for name in names:
        spans = sorted(
            (start, end, wid) for wid, per in intervals for start, end in per.get(name, [])
        )
        for (s1, e1, w1), (s2, e2, w2) in itertools.pairwise(spans):
            assert w1 == w2 or e1 <= s2, f"{name}: {w1} {s1}-{e1} overlaps {w2} {s2}-{e2}"
    assert sum(len(per) for _wid, per in intervals) >= N_ACCOUNTS

    # nothing twice: each message once, each source once, each draft once
    with store.session() as s:
        interactions = s.scalar(select(func.count()).select_from(Interaction))
        sources = s.scalar(select(func.count()).select_from(InteractionSource))
        keys = s.scalars(select(Action.key)).all()
    assert interactions == N_ACCOUNTS * (N_OWN + 1) + SHARED + 1
    assert sources == N_ACCOUNTS * (N_OWN + SHARED + 1) + 1
    assert len(keys) == len(set(keys)) >= N_ACCOUNTS
    drafts: dict[str, int] = defaultdict(int)
    for _name, path in accounts:
        for f in (path / "Drafts" / "cur").iterdir():
            m = re.search(rb"^X-Syncd-Key: (.+?)\r?$", f.read_bytes(), re.M)
            if m:
                drafts[m.group(1).decode()] += 1
    assert drafts and max(drafts.values()) == 1
    assert set(drafts) <= set(keys)


def _drafts_made(store: Store) -> int:
    with store.session() as s:
        return int(
            s.scalar(select(func.count()).select_from(Action).where(Action.state == "created")) or 0
        )
