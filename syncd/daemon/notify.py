"""The systemd notify protocol: READY, STATUS, WATCHDOG and STOPPING for `Type=notify`.

systemd passes a datagram socket in ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the
abstract namespace) and, with ``WatchdogSec=``, the interval in ``$WATCHDOG_USEC`` (and the
pid it is meant for in ``$WATCHDOG_PID``). A message is newline-separated ``KEY=value``
lines in one datagram (sd_notify(3)). Outside systemd the variables are unset and every
call does nothing, so the daemon needs no special mode to run by hand.

The protocol is a dozen lines; the libsystemd bindings need the C library and headers at
install time, and the small pure-Python packages for it are unmaintained, so it is written
out here and tested against a real socket.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("syncd.notify")

MAX_STATUS = 200  # systemctl status shows one line; keep it short


class Notifier:
    """Sends state changes to systemd when it asked for them, else does nothing."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._address = _address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog = _watchdog_seconds(env)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """How often to ping: half the configured watchdog timeout, or None when unset."""
        return None if self._watchdog is None else self._watchdog / 2

    def ready(self, status: str | None = None) -> None:
        self._send({"READY": "1", "STATUS": status})

    def status(self, text: str) -> None:
        self._send({"STATUS": text})

    def watchdog(self) -> None:
        if self._watchdog is not None:
            self._send({"WATCHDOG": "1"})

    def reloading(self) -> None:
        self._send({"RELOADING": "1"})

    def stopping(self, status: str | None = None) -> None:
        self._send({"STOPPING": "1", "STATUS": status})

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self, fields: Mapping[str, str | None]) -> None:
        if self._address is None:
            return
        lines = []
        for key, value in fields.items():
            if value is None:
                continue
            if key == "STATUS":
                value = " ".join(value.split())[:MAX_STATUS]  # one line, whatever it holds
            lines.append(f"{key}={value}")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode("utf-8"), self._address)
        except OSError as exc:
            # systemd going away must not take the daemon with it; the next send retries.
            log.warning("notify.failed", extra={"error": str(exc)})
            self.close()


def _address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode("utf-8")  # the abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock and other transports are not used for services


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None  # meant for another process (e.g. the parent that started us)
    return int(usec) / 1_000_000
