"""Leases on both engines: exclusive claims (also when two workers claim at once), renewal,
takeover after expiry, release, the fair share, and a write refused once a lease is lost."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syncd.config import load_config
from syncd.store.db import Store, migrate
from syncd.store.models import Interaction, Lease
from syncd.sync.leases import LeaseLost, Leases
from syncd.sync.passes import Syncer, sources_for
from tests.util import deliver, make_maildir, message, write_config

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ACCOUNTS = [f"acc{i:02d}" for i in range(6)]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    migrate(s.engine)
    yield s
    s.dispose()


@pytest.fixture
def owner(store: Store) -> int:
    return store.ensure_owner("default", T0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_lone_worker_takes_every_account_and_renews_them(store: Store, owner: int) -> None:
    a = Leases(store, owner, "a", ttl=10)
    assert a.claim(ACCOUNTS, at(0)) == ACCOUNTS
    assert a.renew(at(8)) == ACCOUNTS
    b = Leases(store, owner, "b", ttl=10)
    # a's leases now run to 18 s: at 15 s b gets nothing, though a's first expiry has passed
    assert b.claim(ACCOUNTS, at(15)) == []
    assert b.takeovers == 0


def test_the_accounts_are_shared_out_between_live_workers(store: Store, owner: int) -> None:
    a = Leases(store, owner, "a", ttl=30)
    b = Leases(store, owner, "b", ttl=30)
    assert a.claim(ACCOUNTS, at(0)) == ACCOUNTS
    assert b.claim(ACCOUNTS, at(1)) == []  # b is now known: a gives back its surplus
    assert len(a.claim(ACCOUNTS, at(2))) == 3
    got_b = b.claim(ACCOUNTS, at(3))
    assert len(got_b) == 3
    assert set(got_b).isdisjoint(a.held())
    assert sorted(a.held() + b.held()) == ACCOUNTS
    assert a.takeovers == b.takeovers == 0


def test_two_workers_claiming_at_once_never_share_an_account(store: Store, owner: int) -> None:
    workers = [Leases(store, owner, f"w{i}", ttl=30) for i in range(3)]
    for rounds in range(4):
        results: dict[str, list[str]] = {}
        barrier = threading.Barrier(len(workers))

        def claim(
            w: Leases, now: datetime, barrier: threading.Barrier, results: dict[str, list[str]]
        ) -> None:
            barrier.wait()
            results[w.worker_id] = w.claim(ACCOUNTS, now)

        threads = [
            threading.Thread(target=claim, args=(w, at(rounds), barrier, results)) for w in workers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        claimed = [acc for got in results.values() for acc in got]
        assert len(claimed) == len(set(claimed)), results
        with store.session() as s:
            rows = {r: h for r, h in s.execute(select(Lease.resource, Lease.holder))}
        for w in workers:
            for acc in w.held():
                assert rows[f"account:{acc}"] == w.worker_id
    assert sorted(acc for w in workers for acc in w.held()) == ACCOUNTS


def test_an_expired_lease_is_taken_over_and_logged(
    store: Store, owner: int, caplog: pytest.LogCaptureFixture
) -> None:
    a = Leases(store, owner, "a", ttl=10)
    b = Leases(store, owner, "b", ttl=10)
    assert a.claim(ACCOUNTS, at(0)) == ACCOUNTS
    with caplog.at_level(logging.INFO, logger="syncd.leases"):
        assert b.claim(ACCOUNTS, at(11)) == ACCOUNTS  # a died: its worker row expired too
    assert b.takeovers == len(ACCOUNTS)
    takeovers = [r for r in caplog.records if r.msg == "lease.takeover"]
    assert {r.__dict__["old_owner"] for r in takeovers} == {"a"}
    assert a.renew(at(12)) == []  # a came back: it holds nothing any more


def test_a_released_account_is_free_at_once(store: Store, owner: int) -> None:
    a = Leases(store, owner, "a", ttl=60)
    b = Leases(store, owner, "b", ttl=60)
    a.claim(ACCOUNTS, at(0))
    a.release(["acc00"])
    assert "acc00" not in a.held()
    assert b.claim(["acc00"], at(1)) == ["acc00"]
    a.release()
    assert sorted(b.claim(ACCOUNTS, at(2))) == ACCOUNTS
    assert b.takeovers == 0
    with store.session() as s:  # a's worker row went with it
        workers = s.scalars(select(Lease.resource).where(Lease.resource.startswith("worker:")))
        assert list(workers) == ["worker:b"]


def test_one_worker_at_a_time_runs_the_rules(store: Store, owner: int) -> None:
    a = Leases(store, owner, "a", ttl=10)
    b = Leases(store, owner, "b", ttl=10)
    assert a.claim_rules(at(0))
    assert not b.claim_rules(at(5))
    assert a.claim_rules(at(9))  # renewed to 19 s
    assert not b.claim_rules(at(15))
    assert b.claim_rules(at(20))
    assert b.takeovers == 1
    assert not a.claim_rules(at(21))


def test_a_lost_lease_refuses_the_write(store: Store, owner: int) -> None:
    a = Leases(store, owner, "a", ttl=10)
    b = Leases(store, owner, "b", ttl=10)
    a.claim(["acc00"], at(0))
    with store.session() as s, s.begin():
        assert a.still_holds(s, "acc00")
    b.claim(["acc00"], at(11))
    with store.session() as s, s.begin():
        assert not a.still_holds(s, "acc00")
        assert b.still_holds(s, "acc00")
    with pytest.raises(LeaseLost), store.session() as s, s.begin():
        a.guard(s, "acc00")
    # a takes it back later: the old lease still does not count, the new one does
    b.release()
    a.claim(["acc00"], at(12))
    with store.session() as s, s.begin():
        assert a.still_holds(s, "acc00")


def test_a_syncer_that_lost_its_lease_stores_nothing(
    store: Store, owner: int, tmp_path: Path
) -> None:
    mail = make_maildir(tmp_path / "mail", "INBOX")
    for i in range(5):
        deliver(
            mail,
            message(
                sender=f"p{i}@corp.example",
                to="alex@example.com",
                subject=f"Hello {i}",
                date=T0 - timedelta(days=i + 1),
                message_id=f"m{i}@corp.example",
            ),
        )
    config = load_config(
        write_config(
            tmp_path / "c.toml",
            f'[[accounts]]\nname = "acc00"\nkind = "maildir"\npath = "{mail}"\n',
            store_url=store.url,
        )
    )
    a = Leases(store, owner, "a", ttl=10)
    b = Leases(store, owner, "b", ttl=10)
    a.claim(["acc00"], at(0))
    b.claim(["acc00"], at(11))  # a stalled past its expiry; b took the account over
    syncer = Syncer(store, config, owner)
    syncer.guard = a.guard
    account = sources_for(syncer.connectors, config.settings.account("acc00"))
    assert syncer.sync_account(account, now=at(12)) == []
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 0
    syncer.guard = b.guard
    reports = syncer.sync_account(account, now=at(12))
    assert [r.error for r in reports] == [None]
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 5
