"""Gmail's per-user limits in the fake Google: quota units per window, concurrent requests.

From Google's pages, scaled for tests (a window of seconds instead of a minute):

- "Usage limits" (developers.google.com/workspace/gmail/api/reference/quota): each method
  costs quota units (`UNITS`), counted per user against a per-minute limit; a batch of n
  calls costs its calls' units.
- "Resolve errors" (developers.google.com/workspace/gmail/api/guides/handle-errors): past
  the per-user rate limit, 403 ``userRateLimitExceeded`` (domain ``usageLimits``, "User
  Rate Limit Exceeded"); too many requests at once for one user, 429
  ``rateLimitExceeded`` "Too many concurrent requests for user".

`UserQuota.charge` keeps a sliding window (the least helpful reading: Google does not
say whether the minute is sliding or fixed). More lenient than Google, and said so:

- a refused call costs nothing here; Google does not document whether it counts;
- a batch request holds one concurrency slot, whatever its parts; the error page only
  says that batches "with a large number of requests" can draw the 429;
- Calendar calls are not limited (the Calendar "Manage quotas" page names 600 requests
  per minute per user, sliding); the daily project limit is not enforced either.

Every Gmail call the fake carries out is counted per message id (`UserQuota.gets`), and
every charge is kept with its time (`UserQuota.spent`), so tests can show that no message
was fetched twice and measure the peak units per window.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

UNITS = {  # the "Usage limits" table
    "gmail.users.getProfile": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.history.list": 2,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.drafts.list": 5,
    "gmail.users.drafts.get": 5,
    "gmail.users.drafts.create": 10,
    "gmail.users.drafts.delete": 10,
    "gmail.users.drafts.update": 15,
    "gmail.users.messages.send": 100,
}
RATE_BODY = ("userRateLimitExceeded", "User Rate Limit Exceeded")
CONCURRENT_BODY = ("rateLimitExceeded", "Too many concurrent requests for user.")


@dataclass
class UserQuota:
    units: int = 0  # per window; 0: no limit
    window: float = 60.0  # seconds
    concurrent: int = 0  # requests in flight at once; 0: no limit
    clock: Callable[[], float] = time.monotonic
    spent: list[tuple[float, int]] = field(default_factory=list)  # (time, units) charged
    refused: int = 0  # calls refused for the rate limit
    crowded: int = 0  # requests refused for concurrency
    gets: collections.Counter[str] = field(default_factory=collections.Counter)
    _window: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def charge(self, method_id: str) -> bool:
        """Whether the call may run now; its units are charged when it may."""
        cost = UNITS.get(method_id, 0) if method_id.startswith("gmail.") else 0
        if not cost:
            return True
        with self._lock:
            now = self.clock()
            while self._window and self._window[0][0] <= now - self.window:
                self._window.popleft()
            if self.units and sum(u for _t, u in self._window) + cost > self.units:
                self.refused += 1
                return False
            self._window.append((now, cost))
            self.spent.append((now, cost))
        return True

    def enter(self) -> bool:
        """A request starts; False (and not counted) when too many are in flight."""
        with self._lock:
            if self.concurrent and self._in_flight >= self.concurrent:
                self.crowded += 1
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def peak(self, span: float) -> int:
        """The most units charged within any `span` seconds."""
        best, lo, total = 0, 0, 0
        for t, u in self.spent:
            total += u
            while self.spent[lo][0] <= t - span:
                total -= self.spent[lo][1]
                lo += 1
            best = max(best, total)
        return best
