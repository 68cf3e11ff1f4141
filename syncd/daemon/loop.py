"""`syncd run`: the daemon loop. Each account on its own schedule; signals; systemd; metrics.

The loop, over and over:

1. Ask which accounts are due (`Schedule`, pure: it takes the clock reading), leave out those
   waiting for re-authorisation (read from the store every time, so `syncd accounts auth`
   in another process lets them go on), and ask `Daemon._claim` which of the rest this
   process may sync (all of them, until leases decide; see "Leases" below).
2. Sync each claimed account, one after the other. A pass that went well schedules the next
   one an interval later, give or take the jitter; a failing account waits its interval
   times 2^failures (capped by `max_backoff`), and at least what the provider's Retry-After
   asked for. A failure stays with its account: the others go on.
3. Run the rules when a sync found something new, and every `rules_interval` anyway.
4. Pause until the next account is due; an IMAP account whose server offers IDLE ends the
   pause early when new mail comes (`syncd/daemon/wake.py`), and makes that account due at once.

Signals only set flags; the loop does the work. SIGTERM or SIGINT: the sync in progress
stops after the batch it is storing (`Syncer.should_stop`: each batch commits with its
cursor, so nothing is half-written), then the process exits 0. Should a read hang, a guard
thread ends the process `stop_timeout` after the signal (an open transaction is rolled back
by the database). SIGHUP: the config file is read again with the same loader; an invalid
one is refused (logged as ``daemon.reload.refused`` with the reason) and the old one stays;
a valid one replaces it and every connector is rebuilt (``daemon.reload.done``).

Under systemd (`Type=notify`) the daemon sends READY=1 once it has started, a one-line
STATUS after every pass, WATCHDOG=1 from the loop (between batches of a long sync too), and
STOPPING=1 on the way out (`syncd/daemon/notify.py`).

Leases: several `syncd run` processes on one PostgreSQL store must not sync the same account.
The loop asks through three methods only, which a leases implementation fills in:
``_claim(due, now) -> the accounts this process may sync now``, ``_renew(now)`` (called from
the loop and, at most every `RENEW_EVERY` seconds, between batches of a long sync) and
``_release()`` on the way out. `now` is the real wall clock (aware UTC), never the pinned
`SYNCD_NOW`, because leases expire across machines. `syncd/sync/leases.py` fills them in: a
process syncs only the accounts it holds a lease on (its fair share of them), renews the
leases at least three times per `lease_ttl`, and takes over the accounts of a worker that
stopped renewing; a due account another worker holds is asked for again an interval later.
Every batch is stored only if its lease is still this process's (`Leases.guard`), and the
rules run in the one process that holds the owner's rules lease.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from connectors.base import ConnectorError
from syncd.config import AnyAccount, Config, load_config, metrics_address, parse_duration
from syncd.daemon.metrics import Metrics
from syncd.daemon.notify import Notifier
from syncd.daemon.wake import pause, waiters
from syncd.errors import ConfigError, SyncdError
from syncd.hints import auth_fix_by_name
from syncd.store.accounts import account_names_in_state
from syncd.store.db import Store
from syncd.store.errors import DatabaseError
from syncd.sync.connect import Connectors
from syncd.sync.leases import Leases, make_worker_id
from syncd.sync.passes import StreamReport, Syncer, sources_for
from syncd.sync.reconcile import reconcile_if_due

log = logging.getLogger("syncd.daemon")

REAUTH_RECHECK = 60.0  # seconds between looks at parked accounts' state in the store
TICK_EVERY = 60.0  # the longest pause slice without a watchdog (leases are renewed per slice)
RENEW_EVERY = 10.0  # seconds between lease renewals during a long sync
STORE_RETRY = 30.0  # seconds before the next pass after the store itself failed


# --- the schedule (pure) ------------------------------------------------------------------


@dataclass
class Slot:
    interval: float  # seconds between polls while all is well
    due: float  # a clock reading: poll at or after this
    failures: int = 0  # consecutive failed polls


class Schedule:
    """When each account is next polled. Times are readings of the caller's clock (seconds);
    nothing here reads a clock or sleeps."""

    def __init__(
        self, *, jitter: float, max_backoff: float, rand: Callable[[], float] = random.random
    ) -> None:
        self.jitter = jitter
        self.max_backoff = max_backoff
        self.rand = rand
        self.slots: dict[str, Slot] = {}

    def configure(self, intervals: Mapping[str, float], now: float) -> None:
        """Set the accounts and their intervals: new ones are due now, removed ones are
        forgotten, and a shorter interval brings a healthy account's next poll forward."""
        for name in list(self.slots):
            if name not in intervals:
                del self.slots[name]
        for name, interval in intervals.items():
            slot = self.slots.get(name)
            if slot is None:
                self.slots[name] = Slot(interval, now)
            else:
                if slot.failures == 0:
                    slot.due = min(slot.due, now + interval)
                slot.interval = interval

    def due(self, now: float) -> list[str]:
        """The accounts due at `now`, the longest overdue first."""
        ready = [(slot.due, name) for name, slot in self.slots.items() if slot.due <= now]
        return [name for _due, name in sorted(ready)]

    def next_due(self, names: Iterable[str] | None = None) -> float | None:
        wanted = self.slots if names is None else [n for n in names if n in self.slots]
        times = [self.slots[n].due for n in wanted]
        return min(times) if times else None

    def wake(self, name: str, now: float) -> None:
        """Poll `name` now (new mail was reported, or it was re-authorised)."""
        slot = self.slots.get(name)
        if slot is not None:
            slot.due = min(slot.due, now)

    def done(
        self, name: str, now: float, *, failed: bool, retry_after: float | None = None
    ) -> float:
        """Record a poll of `name` that ended at `now`; returns the seconds until the next."""
        slot = self.slots[name]
        slot.failures = slot.failures + 1 if failed else 0
        delay = self.delay(slot.interval, slot.failures)
        if retry_after is not None:
            delay = max(delay, retry_after)
        slot.due = now + delay
        return delay

    def delay(self, interval: float, failures: int) -> float:
        """interval × (1 ± jitter); after n failures interval × 2^n, capped, jittered too."""
        factor = 1 + self.jitter * (2 * self.rand() - 1)
        if failures == 0:
            return interval * factor
        cap = max(self.max_backoff, interval)
        return min(cap, interval * float(2 ** min(failures, 32)) * factor)


# --- the daemon ------------------------------------------------------------------------------


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Daemon:
    def __init__(
        self,
        config: Config,
        store: Store,
        owner_id: int,
        *,
        now: Callable[[], datetime],
        interval: timedelta | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.owner_id = owner_id
        self.now = now  # the time syncs and rules see (SYNCD_NOW may pin it)
        self.wall = _wall_clock  # the real time, for leases
        self.clock = clock  # monotonic seconds, for the schedule
        self.interval_override = interval
        self.notifier = notifier or Notifier()
        self.metrics = Metrics(store, owner_id, now)
        self._stopping = False
        self._stop_signal: str | None = None
        self._reload_requested = False
        self._interrupt = threading.Event()  # ends a pause: a signal came
        self._stop_requested = threading.Event()  # starts the stop guard's clock
        self._done = threading.Event()  # the loop has ended: the stop guard stands down
        self._held: set[str] = set()  # accounts this process holds (claimed, not released)
        self._parked: set[str] = set()  # needs_reauth at the last look
        self._next_ping = 0.0
        self._next_renew = 0.0
        self._passes = 0
        self._new_total = 0
        self._last_pass: datetime | None = None
        self.schedule = Schedule(jitter=0.0, max_backoff=3600.0, rand=rand)
        self.config = config
        ttl = parse_duration(config.settings.daemon.lease_ttl).total_seconds()
        self.leases = Leases(store, owner_id, make_worker_id(), ttl)
        self._renew_every = RENEW_EVERY
        self.connectors = Connectors(config)
        self.syncer = self._syncer()
        self._configure(config)
        self._rules_due = self.clock()

    # --- leases hook (see the module docstring) ---

    def _claim(self, due: list[str], now: datetime) -> list[str]:
        """The accounts of `due` this process holds a lease on; the others (another worker
        has them, or this one has its share) are asked for again an interval later."""
        mine = self.leases.claim(due, now)
        self._held = set(self.leases.held())
        for name in set(due) - set(mine):
            self.schedule.done(name, self.clock(), failed=False)
        return mine

    def _renew(self, now: datetime) -> None:
        """Keep the accounts this process holds; forget those taken over meanwhile."""
        self._held = set(self.leases.renew(now))

    def _release(self) -> None:
        """Give up every account this process holds (on the way out)."""
        self.leases.release()
        self._held.clear()

    # --- configuration ---

    def _syncer(self) -> Syncer:
        syncer = Syncer(
            self.store,
            self.config,
            self.owner_id,
            self.connectors,
            should_stop=self._between_batches,
        )
        syncer.guard = self.leases.guard
        return syncer

    def _configure(self, config: Config) -> None:
        d = config.settings.daemon
        self.schedule.jitter = d.jitter
        self.schedule.max_backoff = parse_duration(d.max_backoff).total_seconds()
        self.rules_interval = parse_duration(d.rules_interval).total_seconds()
        self.stop_timeout = parse_duration(d.stop_timeout).total_seconds()
        self.leases.ttl = parse_duration(d.lease_ttl)
        self._renew_every = min(RENEW_EVERY, self.leases.ttl.total_seconds() / 3)
        self.accounts: dict[str, AnyAccount] = {a.name: a for a in config.settings.accounts}
        self.schedule.configure(
            {name: self._interval_of(acc) for name, acc in self.accounts.items()}, self.clock()
        )

    def _interval_of(self, acc: AnyAccount) -> float:
        if acc.poll_interval is not None:
            return parse_duration(acc.poll_interval).total_seconds()
        if self.interval_override is not None:
            return self.interval_override.total_seconds()
        return self.config.settings.daemon.interval_of(acc).total_seconds()

    def _reload(self) -> None:
        self.notifier.reloading()
        path = self.config.path
        try:
            new = load_config(path, self.config.team_owner)
            if new.store_url != self.config.store_url:
                raise ConfigError(f"{path.name}: store.url changed: restart syncd to switch stores")
        except SyncdError as exc:
            log.error("daemon.reload.refused", extra={"path": str(path), "error": str(exc)})
            self.notifier.ready(f"config reload refused, running on the old one: {exc}")
            return
        if new.settings.daemon.metrics != self.config.settings.daemon.metrics:
            log.warning("daemon.reload.metrics_kept", extra={"reason": "restart to move metrics"})
        old = self.connectors
        self.config = new
        self.connectors = Connectors(new)
        self.syncer = self._syncer()
        self._configure(new)
        self._held &= set(self.accounts)
        old.close()
        log.info("daemon.reload.done", extra={"path": str(path), "accounts": len(self.accounts)})
        self.notifier.ready(self._status())

    # --- signals ---

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested = True
        else:
            self._stopping = True
            self._stop_signal = signal.Signals(signum).name
        # Event.set takes a lock the interrupted main thread may hold: set it from a thread.
        threading.Thread(target=self._wake_loop, args=(signum,), daemon=True).start()

    def _wake_loop(self, signum: int) -> None:
        if signum != signal.SIGHUP:
            self._stop_requested.set()
        self._interrupt.set()

    def _install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _guard_stop(self) -> None:
        """End the process `stop_timeout` after SIGTERM, should the loop not get there."""
        self._stop_requested.wait()
        if self._done.wait(self.stop_timeout):
            return
        log.error(
            "daemon.stop.forced",
            extra={"timeout": self.stop_timeout, "reason": "the current read did not end"},
        )
        logging.shutdown()
        os._exit(0)

    # --- the loop ---

    def run(self) -> None:
        """Until SIGTERM or SIGINT; returns normally then (exit status 0)."""
        self._install_signals()
        threading.Thread(target=self._guard_stop, name="syncd-stop-guard", daemon=True).start()
        address = self.config.settings.daemon.metrics
        if address is not None:
            self.metrics.serve(*metrics_address(address))
        intervals = sorted({self._interval_of(a) for a in self.accounts.values()})
        log.info(
            "daemon.started",
            extra={
                "accounts": ",".join(self.accounts) or "none",
                "store": self.store.display_url,
                "interval": "/".join(f"{int(i)}s" for i in intervals) or "-",
                "pid": os.getpid(),
                "metrics": address,
            },
        )
        self.notifier.ready(self._status("starting"))
        try:
            while not self._stopping:
                self._interrupt.clear()
                if self._reload_requested:
                    self._reload_requested = False
                    self._reload()
                try:
                    self._pass()
                except DatabaseError as exc:
                    log.error("daemon.pass.failed", extra={"error": str(exc)[:500]})
                    self._rest(STORE_RETRY)
                    continue
                if not self._stopping and not self._reload_requested:
                    self._pause()
        finally:
            self._shutdown()

    def _pass(self) -> None:
        self._tick(force_renew=True)
        parked = self._parked_accounts()
        for name in self._parked - parked:
            log.info("daemon.account.unparked", extra={"account": name})
            self.schedule.wake(name, self.clock())
        for name in parked - self._parked:
            log.warning(
                "daemon.account.parked",
                extra={"account": name, "hint": auth_fix_by_name(self.config, name)},
            )
        self._parked = parked
        due = [name for name in self.schedule.due(self.clock()) if name not in parked]
        mine = self._claim(due, self.wall()) if due else []
        reports: list[StreamReport] = []
        for name in mine:
            if self._stopping or self._reload_requested:
                break
            reports.extend(self._sync(name))
            self._tick()
        self._reconcile_due(mine, reports)
        changed = any(r.result.new_interactions or r.result.removed for r in reports)
        new = sum(r.result.new_interactions for r in reports)
        self._new_total += new
        if mine:
            self._passes += 1
            self._last_pass = self.now()
            log.info(
                "daemon.pass.done",
                extra={
                    "accounts": len(mine),
                    "read": sum(r.read for r in reports),
                    "new": new,
                    "contacts": sum(r.result.new_contacts for r in reports),
                    "errors": sum(1 for r in reports if r.error),
                },
            )
        if not self._stopping and (changed or self.clock() >= self._rules_due):
            self._run_rules()
        self.notifier.status(self._status())

    def _sync(self, name: str) -> list[StreamReport]:
        acc = self.accounts[name]
        started = self.clock()
        try:
            sources = sources_for(self.connectors, acc)
            reports = self.syncer.sync_account(sources, now=self.now())
        except (SyncdError, ConnectorError) as exc:
            # A missing secret or an unusable source fails this account, not the daemon.
            self.syncer.record_account_failure(acc.name, acc.kind, exc, self.now())
            kind = "auth" if "authoris" in str(exc) else "setup"
            reports = [StreamReport(name, "*", "?", error=str(exc), error_kind=kind)]
        except Exception as exc:  # a bug must not stop the other accounts: log it, back off
            log.exception("daemon.account.crashed", extra={"account": name})
            reports = [StreamReport(name, "*", "?", error=repr(exc), error_kind="bug")]
        elapsed = self.clock() - started
        self.metrics.observe_sync(name, reports, elapsed)
        if any(r.stopped for r in reports):
            return reports  # cut short by SIGTERM: neither a success nor a failure
        self._schedule_next(name, reports)
        return reports

    def _reconcile_due(self, names: Sequence[str], reports: Sequence[StreamReport]) -> None:
        """Proof of completeness (syncd/sync/reconcile.py) for the accounts this pass synced
        without error whose last reconciliation is older than `reconcile_interval`."""
        synced = {r.account for r in reports} - {r.account for r in reports if r.error}
        for name in names:
            if self._stopping or self._reload_requested or name not in synced:
                continue
            reconcile_if_due(self.syncer, self.connectors, self.accounts[name], now=self.now())
            self._tick()

    def _schedule_next(self, name: str, reports: Sequence[StreamReport]) -> None:
        errors = [r for r in reports if r.error]
        before = self.schedule.slots[name].failures
        waits = [r.retry_after for r in errors if r.retry_after is not None]
        delay = self.schedule.done(
            name, self.clock(), failed=bool(errors), retry_after=max(waits) if waits else None
        )
        if errors:
            extra: dict[str, Any] = {
                "account": name,
                "failures": before + 1,
                "retry_in": round(delay, 1),
                "error": errors[0].error,
            }
            if waits:
                extra["retry_after"] = max(waits)
            # Once when it starts failing, then quietly until it recovers.
            log.log(
                logging.WARNING if before == 0 else logging.INFO,
                "daemon.account.failing",
                extra=extra,
            )
        elif before:
            log.warning("daemon.account.recovered", extra={"account": name, "failures": before})

    def _run_rules(self) -> None:
        self._rules_due = self.clock() + self.rules_interval
        if not self.config.settings.rules:
            return
        if not self.leases.claim_rules(self.wall()):
            return  # another worker plans and executes this owner's rules
        from syncd.outbox.planning import apply_rules, sinks_for

        try:
            _plan, report = apply_rules(
                self.store,
                self.config,
                self.owner_id,
                self.now(),
                sinks_for(self.config, self.connectors),
            )
        except (SyncdError, ConnectorError, DatabaseError) as exc:
            self.metrics.rules_runs.labels("failed").inc()
            log.error("daemon.rules.failed", extra={"error": str(exc)[:500]})
            return
        self.metrics.rules_runs.labels("done").inc()
        log.info(
            "daemon.rules.done",
            extra={
                "actions_new": report.planned,
                "actions_created": report.created,
                "actions_failed": report.failed,
                "actions_withdrawn": report.withdrawn,
            },
        )

    def _parked_accounts(self) -> set[str]:
        with self.store.session() as s:
            names = account_names_in_state(s, self.owner_id, "needs_reauth")
        return set(names) & set(self.accounts)

    # --- pauses, ticks ---

    def _pause(self) -> None:
        now = self.clock()
        runnable = set(self.accounts) - self._parked
        until = self.schedule.next_due(runnable)
        if until is None:
            until = now + REAUTH_RECHECK
        if self.config.settings.rules:
            until = min(until, self._rules_due)
        if self._parked:
            until = min(until, now + REAUTH_RECHECK)
        if until <= now:
            return
        held = [self.accounts[n] for n in sorted(self._held & runnable)]
        waiting = waiters(self.connectors, held) if held else []
        while not self._interrupt.is_set():
            left = until - self.clock()
            if left <= 0:
                return
            woken = pause(waiting, self._interrupt, min(left, self._tick_every()))
            self._tick(force_renew=True)
            if woken not in ("stop", "interval"):
                self.schedule.wake(woken, self.clock())
                return

    def _rest(self, seconds: float) -> None:
        deadline = self.clock() + seconds
        while not self._interrupt.is_set() and self.clock() < deadline:
            self._interrupt.wait(min(self._tick_every(), deadline - self.clock()))
            self._tick()

    def _tick_every(self) -> float:
        ping = self.notifier.watchdog_interval
        every = min(TICK_EVERY, self._renew_every)
        return min(every, ping) if ping else every

    def _tick(self, *, force_renew: bool = False) -> None:
        """Keep the watchdog fed and the leases renewed; cheap enough to call per batch."""
        now = self.clock()
        ping = self.notifier.watchdog_interval
        if ping and now >= self._next_ping:
            self.notifier.watchdog()
            self._next_ping = now + ping
        if force_renew or now >= self._next_renew:
            self._renew(self.wall())
            self._next_renew = now + self._renew_every

    def _between_batches(self) -> bool:
        """`Syncer.should_stop`: the watchdog and leases, then whether to stop."""
        self._tick()
        return self._stopping

    def _status(self, state: str | None = None) -> str:
        n = len(self.accounts)
        parts = [state or f"{n} account{'s' if n != 1 else ''}"]
        failing = sum(1 for s in self.schedule.slots.values() if s.failures)
        if failing:
            parts.append(f"{failing} failing")
        if self._parked:
            parts.append(f"{len(self._parked)} need re-auth")
        if self._last_pass is not None:
            parts.append(f"last pass {self._last_pass:%H:%M:%S} UTC")
        parts.append(f"{self._new_total} new since start")
        return ", ".join(parts)

    def _shutdown(self) -> None:
        reason = self._stop_signal or "error"
        log.info("daemon.stopping", extra={"signal": reason})
        self.notifier.stopping(f"stopping ({reason})")
        try:
            self._release()
        finally:
            self.connectors.close()
            self.metrics.close()
            self.notifier.close()
            self._done.set()
        log.info("daemon.stopped", extra={"passes": self._passes, "new": self._new_total})


__all__ = ["Daemon", "Schedule", "Slot"]
