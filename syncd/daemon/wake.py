"""The pause between two passes of `syncd run`: the interval, or less when new mail comes.

A mail source that can wait for a change (an IMAP account whose server offers IDLE: it has
`can_wait()` and `wait_for_change(timeout, cancel)`) is held by a thread of its own during
the pause; the first to report new mail ends the pause for every account, and the next pass
reads every account as usual (a pass over unchanged folders costs a round trip or two per
folder). Sources that cannot wait (Maildir, calendars) are read on the interval as before,
so the interval stays the longest pause. A source that fails while waiting only stops
waiting (logged); its next poll reports the failure. A pass that new mail starts begins at
least `MIN_GAP` seconds after the previous one ended, so a folder that keeps reporting
cannot spin the loop.

Each source is used by one thread at a time: the waiting threads are cancelled and joined
before the pause returns, and no pass runs during a pause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from connectors.base import ConnectorError, Waitable
from syncd.config import AnyAccount
from syncd.errors import SyncdError
from syncd.sync.connect import Connectors

log = logging.getLogger("syncd.wake")

MIN_GAP = 5.0  # seconds from the end of a pass to the start of one that new mail starts
TICK = 0.2  # how often the pause looks at the stop event


@dataclass(frozen=True)
class Waiter:
    account: str
    source: Waitable


def waiters(connectors: Connectors, accounts: Sequence[AnyAccount]) -> list[Waiter]:
    """The accounts' mail sources that can wait for new mail right now."""
    found: list[Waiter] = []
    for acc in accounts:
        try:
            source = connectors.mail(acc)
            if isinstance(source, Waitable) and source.can_wait():
                found.append(Waiter(acc.name, source))
        except (ConnectorError, SyncdError) as exc:  # the pass reports it; here, just poll
            log.info("daemon.wait.unavailable", extra={"account": acc.name, "error": str(exc)})
    return found


def pause(
    waiting: Sequence[Waiter],
    stop: threading.Event,
    seconds: float,
    *,
    since: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Wait until `seconds` after `since` (a `clock` reading: when the last pass ended; by
    default now), until `stop` is set, or until new mail (then at least until `MIN_GAP`
    after `since`).

    Returns "stop", "interval" or the name of the account that reported new mail.
    """
    since = clock() if since is None else since
    deadline = since + seconds
    if not waiting:
        stop.wait(max(0.0, deadline - clock()))
        return "stop" if stop.is_set() else "interval"
    woken: list[str] = []
    wake = threading.Event()
    cancel = threading.Event()

    def hold(waiter: Waiter) -> None:
        try:
            if waiter.source.wait_for_change(max(0.0, deadline - clock()), cancel):
                woken.append(waiter.account)
                wake.set()
        except ConnectorError as exc:
            log.warning("daemon.wait.failed", extra={"account": waiter.account, "error": str(exc)})

    threads = [
        threading.Thread(target=hold, args=(w,), name=f"wait-{w.account}", daemon=True)
        for w in waiting
    ]
    for thread in threads:
        thread.start()
    try:
        while not stop.is_set() and clock() < deadline:
            if wake.wait(min(TICK, max(0.0, deadline - clock()))):
                break
    finally:
        cancel.set()
        for thread in threads:
            thread.join()
    if stop.is_set():
        return "stop"
    if not woken:
        return "interval"
    log.info("daemon.woken", extra={"account": woken[0]})
    earliest = since + min(MIN_GAP, seconds)
    stop.wait(max(0.0, earliest - clock()))
    return "stop" if stop.is_set() else woken[0]


__all__ = ["MIN_GAP", "Waiter", "pause", "waiters"]
