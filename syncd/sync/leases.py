"""Leases: several `syncd run` processes on one PostgreSQL store share the accounts.

Each account's sync is a resource (`account:NAME`), and so is the owner's rules pass
(`rules`: planning and the outbox run in one worker at a time). A worker holds a resource
until `expires_at` and renews it while it works; a worker that dies stops renewing, and
after `ttl` seconds another takes its resources over (`lease.takeover`, with the old
holder). Every live worker also holds a `worker:ID` row, renewed the same way, so that the
workers can count each other and share the accounts evenly: a worker takes at most its fair
share (the accounts over the live workers, rounded up) and gives back what it holds beyond.

Claims lock the rows they take with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
two workers claiming at once never wait for each other and never take the same row; the
rows a worker already holds are locked without SKIP LOCKED (nobody else may have them, and
a takeover in flight must finish first). On SQLite one process holds the write lock for the
whole transaction (they begin IMMEDIATE), so the same statements are enough there.

The write guard: holding a lease when a sync starts is not enough, since a worker can stall
(a long GC pause, a suspended VM) past its expiry while another takes the account over. So
each batch transaction calls `still_holds(session, account)`, which locks the lease row in
that transaction and compares holder and generation with what this worker took. A takeover
must lock the same row, so it waits for the batch to commit (or finds it locked and skips
it); once it has committed, the stalled worker's next batch sees another holder and is
refused (`LeaseLost`). A generation check alone, without the row lock, would leave a window
between the check and the commit.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from syncd.store import leases as db

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from syncd.store.db import Store

log = logging.getLogger("syncd.leases")

ACCOUNT = "account:"
WORKER = "worker:"
RULES = "rules"


class LeaseLost(Exception):
    """This worker no longer holds the lease it is writing under; the write is refused.

    Control flow, not a user error: the sync of that account stops and the worker goes on.
    """

    def __init__(self, resource: str) -> None:
        super().__init__(f"lease on {resource} lost to another worker")
        self.resource = resource


def make_worker_id() -> str:
    """host:pid:random, unique even when a pid is reused after a restart."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Leases:
    """The leases of one worker for one owner."""

    def __init__(self, store: Store, owner_id: int, worker_id: str, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("a lease needs a positive ttl")
        self.store = store
        self.owner_id = owner_id
        self.worker_id = worker_id
        self.ttl = timedelta(seconds=ttl)
        self.takeovers = 0
        # resource -> the generation this worker took it at
        self._held: dict[str, int] = {}
        self._me = WORKER + worker_id

    # --- what this worker holds ---------------------------------------------------------------

    def held(self) -> list[str]:
        """The accounts this worker holds, as far as it knows."""
        return sorted(r[len(ACCOUNT) :] for r in self._held if r.startswith(ACCOUNT))

    def holds_rules(self) -> bool:
        return RULES in self._held

    # --- claiming, renewing, releasing ------------------------------------------------------------

    def claim(self, accounts: Sequence[str], now: datetime) -> list[str]:
        """Renew what this worker holds and take free or expired accounts among `accounts`,
        up to its fair share; returns the accounts of `accounts` it holds after the call."""
        wanted = [ACCOUNT + a for a in accounts]
        self._ensure_rows([*wanted, self._me], now)
        with self.store.session() as s, s.begin():
            self._renew_own(s, now)
            self._forget_dead_workers(s, now)
            share = self._fair_share(s, now)
            mine = [r for r in self._held if r.startswith(ACCOUNT)]
            if len(mine) > share:
                due = set(wanted)
                surplus = sorted(mine, key=lambda r: (r in due, r))[: len(mine) - share]
                self._give_back(s, surplus, "rebalance")
                mine = [r for r in mine if r not in surplus]
            room = share - len(mine)
            if room > 0:
                self._take(s, [r for r in wanted if r not in self._held], now, limit=room)
        return [a for a in accounts if ACCOUNT + a in self._held]

    def claim_rules(self, now: datetime) -> bool:
        """Take or renew the owner's rules lease; True if this worker may plan and execute."""
        self._ensure_rows([RULES, self._me], now)
        with self.store.session() as s, s.begin():
            self._renew_own(s, now)
            if RULES not in self._held:
                self._take(s, [RULES], now, limit=1)
        return RULES in self._held

    def renew(self, now: datetime) -> list[str]:
        """Push back the expiry of everything this worker holds; returns the accounts still
        held (a lease taken over meanwhile is dropped and logged)."""
        if self._held:
            with self.store.session() as s, s.begin():
                self._renew_own(s, now)
        return self.held()

    def release(self, accounts: Iterable[str] | None = None) -> None:
        """Give back `accounts` (all leases, the rules and the worker row if None), so
        another worker can take them at once rather than after the ttl."""
        if accounts is None:
            resources = [*self._held, self._me]
        else:
            resources = [ACCOUNT + a for a in accounts if ACCOUNT + a in self._held]
        if not resources:
            return
        with self.store.session() as s, s.begin():
            self._give_back(s, resources, "release")

    # --- the write guard ------------------------------------------------------------------------

    def still_holds(self, s: Session, account: str) -> bool:
        """Inside a write transaction: lock the account's lease row and say whether this
        worker still holds the lease it took (same holder, same generation)."""
        return self._still_holds(s, ACCOUNT + account)

    def guard(self, s: Session, account: str) -> None:
        """`still_holds`, raising `LeaseLost` (which rolls the transaction back) if not."""
        if not self._still_holds(s, ACCOUNT + account):
            self._held.pop(ACCOUNT + account, None)
            log.warning("lease.write_refused", extra={"account": account, "worker": self.worker_id})
            raise LeaseLost(ACCOUNT + account)

    def _still_holds(self, s: Session, resource: str) -> bool:
        generation = self._held.get(resource)
        if generation is None:
            return False
        row = db.holder_for_update(s, self.owner_id, resource)
        return row is not None and row[0] == self.worker_id and row[1] == generation

    # --- statements -------------------------------------------------------------------------------

    def _ensure_rows(self, resources: Sequence[str], now: datetime) -> None:
        """Insert the lease rows that do not exist yet (free, generation 0; this worker's
        own row held, so that no other worker takes it for a dead one's)."""
        if not resources:
            return
        with self.store.session() as s, s.begin():
            present = db.present(s, self.owner_id, resources)
            # sorted: concurrent inserts of the same rows in one order cannot deadlock
            missing = sorted({r for r in resources if r not in present})
            if not missing:
                return
            db.insert_missing(
                s,
                [
                    {
                        "owner_id": self.owner_id,
                        "resource": r,
                        "generation": 0,
                        "holder": self.worker_id if r == self._me else None,
                        "expires_at": now + self.ttl if r == self._me else None,
                    }
                    for r in missing
                ],
            )

    def _renew_own(self, s: Session, now: datetime) -> None:
        """Extend this worker's rows (and its worker row); forget the ones taken over."""
        expires = now + self.ttl
        rows = db.held_for_update(s, self.owner_id, self.worker_id, [*self._held, self._me])
        kept: dict[str, int] = {}
        for row in rows:
            if row.resource == self._me:
                row.expires_at = expires
            elif row.generation == self._held.get(row.resource):
                row.expires_at = expires
                kept[row.resource] = row.generation
        if not any(row.resource == self._me for row in rows):
            me = db.lease_for_update(s, self.owner_id, self._me)
            if me is not None:
                me.holder, me.expires_at, me.acquired_at = self.worker_id, expires, now
        for resource in set(self._held) - set(kept):
            log.warning("lease.lost", extra={"resource": resource, "worker": self.worker_id})
        self._held = kept

    def _forget_dead_workers(self, s: Session, now: datetime) -> None:
        """Delete the rows of workers that released theirs or stopped long ago; rows another
        worker has locked are left for later (waiting on them could deadlock)."""
        db.delete_dead_workers(s, self.owner_id, WORKER, self._me, now - self.ttl)

    def _fair_share(self, s: Session, now: datetime) -> int:
        """The accounts over the live workers (this one included), rounded up."""
        workers = db.count_live(s, self.owner_id, WORKER, self._me, now)
        accounts = db.count_prefixed(s, self.owner_id, ACCOUNT)
        return max(1, math.ceil(accounts / (workers + 1)))

    def _take(self, s: Session, resources: Sequence[str], now: datetime, *, limit: int) -> None:
        """Take up to `limit` of `resources` that are free or expired, skipping locked rows."""
        if not resources or limit <= 0:
            return
        rows = db.free_for_update(s, self.owner_id, resources, now, limit)
        for row in rows:
            old, old_expiry = row.holder, row.expires_at
            row.holder, row.expires_at, row.acquired_at = self.worker_id, now + self.ttl, now
            row.generation += 1
            self._held[row.resource] = row.generation
            if old is not None:
                self.takeovers += 1
                log.warning(
                    "lease.takeover",
                    extra={
                        "resource": row.resource,
                        "worker": self.worker_id,
                        "old_owner": old,
                        "expired_at": old_expiry.isoformat() if old_expiry else None,
                    },
                )
            else:
                log.info(
                    "lease.claimed", extra={"resource": row.resource, "worker": self.worker_id}
                )

    def _give_back(self, s: Session, resources: Sequence[str], why: str) -> None:
        rows = db.held_for_update(s, self.owner_id, self.worker_id, resources)
        for row in rows:
            if row.resource != self._me and row.generation != self._held.get(row.resource):
                continue
            row.holder, row.expires_at = None, None
            log.info(
                "lease.released",
                extra={"resource": row.resource, "worker": self.worker_id, "why": why},
            )
        for resource in resources:
            self._held.pop(resource, None)
