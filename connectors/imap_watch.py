"""One IMAP folder kept EXAMINEd on a connection of its own, and IDLE between polls.

Why (measured on Dovecot 2.3 with Maildir storage, 60,000 versus 6,000 messages): EXAMINE
costs about 20 ms versus 2 ms on an unchanged folder and about 120 ms versus 10 ms after
new mail, because the server reads the folder's index and rescans its ``cur/`` directory;
on a folder that stays selected, NOOP costs 0.1-0.4 ms at either size when nothing changed
and ``UID SEARCH``/``UID FETCH`` of a few new messages about 1 ms. The rescan after new mail
is still paid once by the first session that looks (a NOOP: about 120 ms versus 10 ms), so a
folder held in IDLE lets the server do it when the mail arrives, which it reports with
EXISTS about 0.3 s later; a poll then costs DONE, SEARCH and FETCH, a few milliseconds at
either size. Re-entering IDLE makes the server look again (up to 300 ms on the large
folder), so the continuation of a new IDLE is read at the next poll rather than waited for.

`WatchedFolder` keeps that connection's protocol state: whether an IDLE is in flight and
whether its continuation came, the folder's UIDVALIDITY and HIGHESTMODSEQ as reported, and
`covered`, a UID such that every message at or above it arrived after the last look (so the
server announced it with EXISTS). It speaks imaplib underneath imapclient, which opened and
logged in the connection, because it reads untagged responses as they come. It raises the
errors of imaplib and the socket as they are; a changed UIDVALIDITY is raised as
`imaplib.IMAP4.abort`, as Dovecot's BYE for it is, and the caller reconnects and compares.
Not thread-safe: one thread uses a folder at a time.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import select
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

IDLE_RENEW = 20 * 60.0  # RFC 2177: end and re-issue IDLE at least every 29 minutes
WAKE_SLICE = 0.5  # how often a wait looks at its cancel event

_MODSEQ = re.compile(rb"MODSEQ \((\d+)\)", re.IGNORECASE)


class IdleRefused(imaplib.IMAP4.error):
    """The server answered IDLE with NO or BAD although it announced the capability."""


@dataclass(frozen=True, slots=True)
class Reported:
    """What a run of untagged responses said about the selected folder."""

    exists: bool = False  # the message count changed: new mail may be there
    uidvalidity: int | None = None
    modseq: int | None = None  # the highest MODSEQ reported
    bye: str | None = None


def read_untagged(untagged: dict[str, list[Any]]) -> Reported:
    """Read and clear imaplib's store of untagged responses (a pure function of it).

    EXISTS means new mail may have come; EXPUNGE, RECENT and flag updates do not. MODSEQ
    comes in flag updates (CONDSTORE) and HIGHESTMODSEQ in an OK response code; UIDVALIDITY
    in an OK response code when a server reports a change to a selected folder.
    """
    exists = bool(untagged.get("EXISTS"))
    uidvalidity = _last_int(untagged.get("UIDVALIDITY", ()))
    modseqs = [int(v) for v in _ints(untagged.get("HIGHESTMODSEQ", ()))]
    for item in untagged.get("FETCH", ()):
        meta = item[0] if isinstance(item, tuple) else item
        if isinstance(meta, bytes):
            modseqs.extend(int(m) for m in _MODSEQ.findall(meta))
    bye_lines = untagged.get("BYE")
    bye = None
    if bye_lines:
        last = bye_lines[-1]
        bye = last.decode("utf-8", "replace") if isinstance(last, bytes) else str(last)
    untagged.clear()
    return Reported(exists, uidvalidity, max(modseqs) if modseqs else None, bye)


def _ints(values: Any) -> list[bytes]:
    return [v.strip() for v in values if isinstance(v, bytes) and v.strip().isdigit()]


def _last_int(values: Any) -> int | None:
    found = _ints(values)
    return int(found[-1]) if found else None


class WatchedFolder:
    """`name` EXAMINEd (read-only: nothing is marked \\Seen) on `client`, kept between polls."""

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        idle: bool,
        idle_renew: float = IDLE_RENEW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.imap: imaplib.IMAP4 = client._imap
        self.name = name
        self.idle = idle
        self.idle_renew = idle_renew
        self._clock = clock
        self._idle_tag: bytes | None = None
        self._continued = False  # the server answered our IDLE with its "+"
        self._idle_since = 0.0
        info: dict[bytes, Any] = client.select_folder(name, readonly=True)
        self.imap.untagged_responses.clear()  # the EXAMINE's own EXISTS is not news
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        modseq = info.get(b"HIGHESTMODSEQ")
        self.modseq: int | None = int(modseq) if modseq is not None else None
        uidnext = int(info.get(b"UIDNEXT", 0) or 0)
        # Every message at or above `covered` arrived after the last look, with an EXISTS.
        self.covered: int | None = uidnext or None
        self.fresh = False  # an EXISTS came since `covered` was set

    # ------------------------------------------------------------------ polling

    def refresh(self) -> None:
        """Let the server report what changed: end the IDLE in flight, and unless that
        brought an EXISTS, send NOOP. (Dovecot may end an IDLE without looking at the folder
        again, so mail delivered a moment before would wait for the next poll; the NOOP is
        cheap when nothing changed, and when the IDLE already let the server look.)"""
        if self._idle_tag is not None:
            self._end_idle()
            self._note()
            if self.fresh:
                return
        typ, data = self.imap.noop()
        if typ != "OK":
            raise imaplib.IMAP4.error(f"NOOP answered {typ}: {data!r}")
        self._note()

    def maybe_new(self, start: int) -> bool:
        """Whether a message with a UID at or above `start` may be there."""
        return self.fresh or self.covered is None or start < self.covered

    def search_from(self, start: int) -> list[int]:
        """The UIDs at or above `start`, ascending (``start:*`` also matches the highest UID
        when it is below `start`: that one is left out)."""
        self.fresh = False  # an EXISTS during or after the SEARCH marks it fresh again
        typ, data = self.imap.uid("SEARCH", "UID", f"{start}:*")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"UID SEARCH answered {typ}: {data!r}")
        found = sorted(
            {int(word) for line in data if isinstance(line, bytes) for word in line.split()}
        )
        found = [uid for uid in found if uid >= start]
        # Nothing at or above `start` but `found` is there, and nothing newer than the
        # EXAMINE's UIDNEXT arrived without an EXISTS, so both bounds hold.
        self.covered = max(self.covered or 0, start, found[-1] + 1 if found else 0)
        self._note()
        return found

    def rest(self) -> None:
        """After a poll: IDLE until the next one, when the server offers it.

        The IDLE is sent and not waited for: the server looks at the folder before it answers
        "+" (a rescan on a large Maildir), and the next poll or wait reads that answer.
        """
        if self.idle and self._idle_tag is None:
            self._idle_tag = self.imap._command("IDLE")
            self._continued = False
            self._idle_since = self._clock()

    # ------------------------------------------------------------------ waiting

    def wait(self, timeout: float, cancel: threading.Event | None = None) -> bool:
        """IDLE for up to `timeout` seconds; True as soon as the server reports new mail.

        False on timeout or when `cancel` is set (looked at every `WAKE_SLICE` seconds). The
        IDLE is renewed every `idle_renew` seconds and left running on return.
        """
        if self.fresh:
            return True
        if not self.idle:
            raise imaplib.IMAP4.error(f"IDLE is not in use on the connection of {self.name!r}")
        deadline = self._clock() + timeout
        while True:
            if self._idle_tag is not None and self._clock() - self._idle_since >= self.idle_renew:
                self._end_idle()
                self._note()
                if self.fresh:
                    return True
            self.rest()
            self._await_continuation()
            if self._idle_tag is None:
                raise IdleRefused(f"IDLE refused in {self.name!r}")
            remaining = deadline - self._clock()
            if remaining <= 0 or (cancel is not None and cancel.is_set()):
                return False
            renew_in = self.idle_renew - (self._clock() - self._idle_since)
            if self._readable(max(0.0, min(remaining, WAKE_SLICE, renew_in))):
                self.imap._get_response()
                self._idle_ended_by_server()
                self._note()
                if self.fresh:
                    return True

    def _readable(self, timeout: float) -> bool:
        """Whether a response can be read, waiting up to `timeout` seconds.

        imaplib reads through a buffered file, which may already hold lines that the socket
        no longer shows to select(): look there first, without blocking.
        """
        sock = self.imap.sock
        buffered: Any = self.imap.file  # an io.BufferedReader over the socket
        before = sock.gettimeout()
        sock.setblocking(False)
        try:
            if buffered.peek(1):
                return True
        except (BlockingIOError, ssl.SSLWantReadError):
            pass
        finally:
            sock.settimeout(before)
        if hasattr(select, "poll"):  # select() refuses descriptors past 1023
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            return bool(poller.poll(timeout * 1000))
        ready, _w, _x = select.select([sock], [], [], timeout)
        return bool(ready)

    # ------------------------------------------------------------------ IDLE bookkeeping

    def _await_continuation(self) -> None:
        """Read responses until the server's "+" for our IDLE (or its refusal)."""
        tag = self._idle_tag
        while tag is not None and not self._continued:
            if self.imap._get_response() is None:
                self._continued = True
                return
            if self.imap.tagged_commands.get(tag):  # refused (NO or BAD): NOOP from now on
                self.imap.tagged_commands.pop(tag)
                self._idle_tag = None
                self.idle = False
            self._note()
            tag = self._idle_tag

    def _end_idle(self) -> None:
        tag = self._idle_tag
        self._await_continuation()
        if self._idle_tag is None or tag is None:
            return
        self.imap.send(b"DONE\r\n")
        typ, data = self.imap._get_tagged_response(tag)
        self._idle_tag = None
        if typ != "OK":
            raise imaplib.IMAP4.error(f"IDLE ended with {typ}: {data!r}")

    def _idle_ended_by_server(self) -> None:
        """A server may end an IDLE with its tagged answer; then there is none in flight."""
        tag = self._idle_tag
        if tag is not None and self.imap.tagged_commands.get(tag):
            self.imap.tagged_commands.pop(tag)
            self._idle_tag = None

    def _note(self) -> None:
        seen = read_untagged(self.imap.untagged_responses)
        if seen.bye is not None:
            raise imaplib.IMAP4.abort(seen.bye)
        if seen.uidvalidity is not None and seen.uidvalidity != self.uidvalidity:
            raise imaplib.IMAP4.abort(
                f"UIDVALIDITY of {self.name!r} changed ({self.uidvalidity} → {seen.uidvalidity})"
            )
        if seen.exists:
            self.fresh = True
        if seen.modseq is not None:
            self.modseq = max(self.modseq or 0, seen.modseq)

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """End the IDLE in flight and log out; a dead connection is just shut."""
        try:
            if self._idle_tag is not None:
                self._end_idle()
            self.client.logout()
        except Exception:  # a dead connection needs no goodbye
            with contextlib.suppress(Exception):  # nor does a dead socket
                self.client.shutdown()


__all__ = ["IDLE_RENEW", "IdleRefused", "Reported", "WatchedFolder", "read_untagged"]
