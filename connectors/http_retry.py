"""The one retry policy of every HTTP connector (tenacity).

What is retried is decided by the connector, which knows its library's errors: it passes a
`classify` function that says, for an exception, "not transient" (None) or "transient,
and the server asked for this many seconds" (a `Transient`). The policy then

- waits exponentially with full jitter: attempt n sleeps a random time in
  ``[0, min(max_wait, first_wait * 2 ** (n - 1))]``, and at least what the server's
  ``Retry-After`` asked for;
- gives up after `RetryPolicy.attempts` calls, or at once when ``Retry-After`` asks for
  more than `RetryPolicy.max_wait`, raising `SourceUnavailable` (carrying the server's
  ``retry_after``), so the stream is marked failing and tried again on the next poll.

A failure the connector marks ``throttled`` (a quota that is simply used up for now:
Google's 429 and 403 ``rateLimitExceeded``/``userRateLimitExceeded``) is not a failed
attempt: it waits for the window (the server's ``Retry-After``, else a backoff of its own
that starts at `RetryPolicy.first_wait` and doubles up to `RetryPolicy.max_wait`) and does
not count against `RetryPolicy.attempts`. Throttled waits are bounded in total by
`RetryPolicy.throttle_limit`; past it the call gives up with a `SourceUnavailable` that
says the quota stayed exhausted. Connectors that never mark a failure throttled (Graph)
keep the plain policy.

Only what is safe to repeat goes through `RetryPolicy.call`: reads, and writes made
idempotent by their caller (a create that looks for its key first). The sleep function
is a parameter, so tests run the policy without waiting.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import tenacity

from connectors.base import SourceUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Transient:
    """A failure worth another try; `retry_after` is the server's wish in seconds."""

    reason: str
    retry_after: float | None = None
    throttled: bool = False  # a quota used up for now: wait for the window, not a failure


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    first_wait: float = 1.0
    max_wait: float = 60.0
    throttle_limit: float = 900.0  # seconds of throttled waiting in one call, at most
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_wait, self.first_wait * 2 ** (attempt - 1))
        jittered: float = self.rand() * ceiling
        return max(jittered, retry_after or 0.0)

    def throttle_backoff(self, times: int, retry_after: float | None) -> float:
        """Seconds to wait after the `times`-th throttled answer in a row (1-based): what
        the server asked for, else half to all of a doubling ceiling (never near zero, so
        the window can pass)."""
        ceiling: float = min(self.max_wait, self.first_wait * 2 ** (times - 1))
        share: float = 0.5 + 0.5 * self.rand()
        return max(share * ceiling, retry_after or 0.0)

    def call(
        self,
        fn: Callable[[], T],
        *,
        classify: Callable[[BaseException], Transient | None],
        what: str,
    ) -> T:
        """`fn()`, again after each transient failure, within the policy's bounds."""
        tally = _Tally()

        def transient(exc: BaseException) -> bool:
            return classify(exc) is not None

        def verdict(state: tenacity.RetryCallState) -> Transient | None:
            exc = state.outcome.exception() if state.outcome else None
            return classify(exc) if exc is not None else None

        def wait(state: tenacity.RetryCallState) -> float:
            # tenacity asks `wait` before `stop`: the tally is kept here.
            v = verdict(state)
            after = v.retry_after if v else None
            if v is not None and v.throttled:
                tally.throttles += 1
                seconds = self.throttle_backoff(tally.throttles, after)
                tally.throttled_for += seconds
                tally.last_throttled = True
                return seconds
            tally.failures += 1
            tally.throttles = 0
            tally.last_throttled = False
            return self.backoff(tally.failures, after)

        def stop(state: tenacity.RetryCallState) -> bool:
            v = verdict(state)
            if tally.last_throttled:
                return tally.throttled_for > self.throttle_limit
            too_long = v is not None and (v.retry_after or 0.0) > self.max_wait
            return too_long or tally.failures >= self.attempts

        def before_sleep(state: tenacity.RetryCallState) -> None:
            v = verdict(state)
            logger.info(
                "http.throttled" if tally.last_throttled else "http.retry",
                extra={
                    "what": what,
                    "attempt": state.attempt_number,
                    "reason": v.reason if v else "?",
                    "wait": round(state.upcoming_sleep, 3),
                },
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(transient),
            wait=wait,
            stop=stop,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except Exception as exc:
            v = classify(exc)
            if v is None:
                raise
            if tally.last_throttled:
                raise SourceUnavailable(
                    f"{what}: the quota stayed exhausted for {tally.throttled_for:.0f} s"
                    f" ({v.reason}); the next poll goes on",
                    retry_after=v.retry_after,
                ) from exc
            raise SourceUnavailable(
                f"{what}: still failing after retries ({v.reason})", retry_after=v.retry_after
            ) from exc


class PartsFailed(Exception):
    """Parts of a batch request still without a final answer: the round trip is worth
    another try (for those parts only), as long as the policy allows."""

    def __init__(
        self, message: str, reason: str, retry_after: float | None, throttled: bool = False
    ) -> None:
        super().__init__(message)
        self.reason, self.retry_after, self.throttled = reason, retry_after, throttled

    def transient(self) -> Transient:
        return Transient(str(self), self.retry_after, self.throttled)


def parts_failed(pending: int, transient: Sequence[Transient], noun: str) -> PartsFailed:
    """The failure of a batch round trip that left `pending` parts (`noun`: "part(s)",
    "request(s)") without an answer: the first part's reason, the longest wait any part
    asked for, throttled when any part was."""
    waits = [t.retry_after for t in transient if t.retry_after is not None]
    reason = transient[0].reason if transient else "no answer"
    throttled = any(t.throttled for t in transient)
    return PartsFailed(
        f"{pending} batch {noun} failed ({reason})",
        reason,
        max(waits) if waits else None,
        throttled,
    )


@dataclass
class _Tally:
    failures: int = 0  # failed attempts (throttled answers are not counted)
    throttles: int = 0  # throttled answers in a row
    throttled_for: float = 0.0  # seconds waited for throttles in all
    last_throttled: bool = False


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header's seconds: delay-seconds, or an HTTP-date (RFC 9110 10.2.3)
    counted from `now` (the clock by default). An unreadable value is read as 'a while':
    60 s."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return 60.0
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


__all__ = ["PartsFailed", "RetryPolicy", "Transient", "parts_failed", "retry_after_seconds"]
