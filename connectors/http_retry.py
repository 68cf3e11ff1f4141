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

Only what is safe to repeat goes through `RetryPolicy.call`: reads, and writes made
idempotent by their caller (a create that looks for its key first). The sleep function
is a parameter, so tests run the policy without waiting.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    first_wait: float = 1.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rand: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_wait, self.first_wait * 2 ** (attempt - 1))
        jittered: float = self.rand() * ceiling
        return max(jittered, retry_after or 0.0)

    def call(
        self,
        fn: Callable[[], T],
        *,
        classify: Callable[[BaseException], Transient | None],
        what: str,
    ) -> T:
        """`fn()`, again after each transient failure, within the policy's bounds."""

        def transient(exc: BaseException) -> bool:
            return classify(exc) is not None

        def verdict(state: tenacity.RetryCallState) -> Transient | None:
            exc = state.outcome.exception() if state.outcome else None
            return classify(exc) if exc is not None else None

        def wait(state: tenacity.RetryCallState) -> float:
            v = verdict(state)
            return self.backoff(state.attempt_number, v.retry_after if v else None)

        def stop(state: tenacity.RetryCallState) -> bool:
            v = verdict(state)
            too_long = v is not None and (v.retry_after or 0.0) > self.max_wait
            return too_long or state.attempt_number >= self.attempts

        def before_sleep(state: tenacity.RetryCallState) -> None:
            v = verdict(state)
            logger.info(
                "http.retry",
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
            raise SourceUnavailable(
                f"{what}: still failing after retries ({v.reason})", retry_after=v.retry_after
            ) from exc


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's seconds (the HTTP-date form is read as 'a while': 60 s)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return 60.0 if value else None


__all__ = ["RetryPolicy", "Transient", "retry_after_seconds"]
