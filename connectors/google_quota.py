"""Gmail's per-user quota, kept by the client: a pacing bucket over quota units.

Gmail counts every call in quota units (the "Usage limits" page of the Gmail API:
getProfile 1, history.list 2, messages.list/get 5, drafts.list/get 5, drafts.create 10,
drafts.delete 10, drafts.update 15, messages.send 100; a batch of n calls costs the sum
of its calls) against a per-user limit per minute: 15,000 units for older Cloud projects,
6,000 for projects created from May 2026, which is the default here. Past it Google
answers 403 ``userRateLimitExceeded`` or 429 ``rateLimitExceeded``, which the retry
policy treats as "wait for the window" (`connectors.http_retry`).

`QuotaBucket` paces the calls so that the limit is rarely reached at all: a generic cell
rate algorithm (a token bucket kept as one "theoretical arrival time"), filled at
`PACE` of the budget (the rest is headroom for window edges the client cannot see and
for other clients of the same user), allowing a burst of `BURST` seconds of budget.
`take(units)` sleeps until the units may be spent (a retried call takes them again: a
refused call may count at Google too). One bucket serves one account (one
user), shared by its mail source and its draft sink. The clock and the sleep are
parameters, so tests run it without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_QUOTA_PER_MINUTE = 6_000
PACE = 0.9
BURST = 0.1  # seconds of budget that may be spent at once, besides the call itself

GMAIL_UNITS = {
    "getProfile": 1,
    "labels.list": 1,
    "history.list": 2,
    "messages.list": 5,
    "messages.get": 5,
    "drafts.list": 5,
    "drafts.get": 5,
    "drafts.create": 10,
    "drafts.delete": 10,
    "drafts.update": 15,
    "messages.send": 100,
}


def units_of(method: str) -> int:
    """The quota units of one Gmail call ("messages.get", ...); unknown methods cost 5."""
    return GMAIL_UNITS.get(method, 5)


class QuotaBucket:
    """Paces quota units to `per_minute` (times `PACE`)."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("quota_per_minute must be positive")
        self.per_minute = per_minute
        self.rate = per_minute * PACE / 60.0  # units per second
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._tat = clock()  # when the units handed out so far are paid for
        self.spent = 0  # units handed out in all
        self.waited = 0.0  # seconds slept in `take`

    def take(self, units: int) -> float:
        """Sleep until `units` may be spent now; returns the seconds slept."""
        with self._lock:
            now = self.clock()
            self._tat = max(self._tat, now) + units / self.rate
            wait = self._tat - BURST - units / self.rate - now
            self.spent += units
        if wait <= 0:
            return 0.0
        self.waited += wait
        self.sleep(wait)
        return wait


__all__ = ["DEFAULT_QUOTA_PER_MINUTE", "GMAIL_UNITS", "QuotaBucket", "units_of"]
