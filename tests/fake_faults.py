"""Fault injection shared by the fake HTTP services (tests/fake_google.py,
tests/fake_microsoft.py).

A fake mixes in `FaultInjector` and asks `fault_for` before it answers a request (or a
batch part), then lets `apply_fault` carry the request out or not:

- **named faults** (`add_fault`, behind each fake's ``inject``): the next `times`
  requests whose name or path starts with a prefix get an error answer, a dropped
  connection (``drop="before"``: nothing done; ``"after"``: done, then dropped), or
  are carried out and answered with the error (``after=True``, or ``drop="lost"``:
  the answer was lost);
- **random faults** (`fail_share`): a share of all requests fail, drawn from the fake's
  seeded random generator, with one of `share_kinds` (``"drop-before"``,
  ``"drop-after"``, or a kind the fake turns into an answer in `_random_fault`).

Batch parts cannot drop a connection: drop faults pass them by.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class Drop(Exception):
    """Close the connection without an answer."""


@dataclass
class Fault:
    match: Callable[[str, str], bool]  # (request name, path) -> bool
    answer: Any  # the fake's Answer, or None
    # "before" | "after": the connection is dropped; "lost" (fake_microsoft's inject):
    # carried out, then the error answer. Batch parts pass a fault with a drop by.
    drop: str | None
    times: int
    after: bool = False  # carried out, then the error is the answer


class FaultInjector:
    """Named and random faults; the fake sets `never_random` and `_random_fault`."""

    never_random = ""  # a request name random faults leave alone

    def _init_faults(self, seed: int, kinds: tuple[str, ...]) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.share = 0.0
        self.share_kinds = kinds
        self.retry_after = "1"
        self.faults: list[Fault] = []

    def add_fault(
        self, what: str, answer: Any, drop: str | None, times: int, *, after: bool = False
    ) -> None:
        """The next `times` requests whose name or path starts with `what` fail; `after`:
        they are carried out first, and the error is the answer."""

        def match(name: str, path: str) -> bool:
            return name.startswith(what) or path.startswith(what)

        with self.lock:
            self.faults.append(Fault(match, answer, drop, times, after))

    def fail_share(
        self, share: float, *, kinds: tuple[str, ...] | None = None, retry_after: str = "1"
    ) -> None:
        """Make `share` of requests (and batch parts) fail at random."""
        with self.lock:
            self.share = share
            if kinds is not None:
                self.share_kinds = kinds
            self.retry_after = retry_after

    def fault_for(self, name: str, path: str, *, part: bool) -> tuple[Any, str | None]:
        """(error answer, drop): drop is "before", "after" (the connection), or "made"
        (carried out, then the error answer)."""
        with self.lock:
            for f in self.faults:
                if f.times > 0 and f.match(name, path):
                    if part and f.drop:
                        continue
                    f.times -= 1
                    return f.answer, "made" if f.after else f.drop
            if self.share and name != self.never_random and self.rng.random() < self.share:
                kinds = [k for k in self.share_kinds if not (part and k.startswith("drop"))]
                kinds = self._random_kinds(name, kinds)
                if not kinds:
                    return None, None
                kind = self.rng.choice(kinds)
                if kind.startswith("drop"):
                    return None, kind.split("-")[1]
                return self._random_fault(kind)
        return None, None

    def _random_kinds(self, name: str, kinds: list[str]) -> list[str]:
        """The random fault kinds that fit a request named `name`."""
        return kinds

    def _random_fault(self, kind: str) -> tuple[Any, str | None]:
        """The (answer, drop) of a random fault of `kind` (neither "drop-" kind)."""
        raise NotImplementedError


class ServedFake:
    """A fake's HTTP server on 127.0.0.1, served by a daemon thread until `stop`."""

    _server: ThreadingHTTPServer | None = None

    def serve(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])


def apply_fault(
    answer: Any,
    drop: str | None,
    carry_out: Callable[[bool], Any],
    log: Callable[[int], None],
) -> Any:
    """Answer a request under the fault `fault_for` chose: `carry_out(sent)` does the
    request (`sent`: its answer is the one sent back); `log(status)` records it, status 0
    for a dropped connection. Raises `Drop` for a connection to close unanswered."""
    if drop == "before":
        log(0)
        raise Drop()
    if answer is None:
        answer = carry_out(True)
    elif drop in ("after", "made", "lost"):  # carried out, then the answer is lost
        carry_out(False)
    if drop == "after":
        log(0)
        raise Drop()
    log(answer.status)
    return answer


class FaultHandler(BaseHTTPRequestHandler):
    """The fakes' request handler: a `Drop` closes the connection, an answer is sent."""

    protocol_version = "HTTP/1.1"
    status_text: ClassVar[dict[int, str]] = {}
    # The headers and the body go out in two writes; with Nagle's algorithm on, the body
    # waits for the client's delayed ACK of the headers (40 ms on Linux) on every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # the tests' output stays clean
        pass

    def answer_or_drop(self, make: Callable[[], Any]) -> None:
        try:
            answer = make()
        except Drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        self.send_response(answer.status, self.status_text.get(answer.status))
        for k, v in answer.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)


__all__ = ["Drop", "Fault", "FaultHandler", "FaultInjector", "ServedFake", "apply_fault"]
