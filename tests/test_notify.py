"""The systemd notify protocol against a real datagram socket, as systemd would listen."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.daemon.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock, str(path)
    sock.close()


def _recv(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


def test_ready_status_watchdog_and_stopping(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"})
    assert n.enabled and n.watchdog_interval == 15.0
    n.ready("2 accounts, first pass done")
    assert _recv(sock) == {"READY": "1", "STATUS": "2 accounts, first pass done"}
    n.status("syncing work\nINBOX")  # a newline would start a new KEY=value line
    assert _recv(sock) == {"STATUS": "syncing work INBOX"}
    n.watchdog()
    assert _recv(sock) == {"WATCHDOG": "1"}
    n.reloading()
    assert _recv(sock) == {"RELOADING": "1"}
    n.stopping("SIGTERM")
    assert _recv(sock) == {"STOPPING": "1", "STATUS": "SIGTERM"}
    n.close()


def test_abstract_socket_address() -> None:
    name = f"syncd-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        n.ready()
        assert _recv(sock) == {"READY": "1"}
        n.close()
    finally:
        sock.close()


def test_watchdog_for_another_pid_is_not_ours(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    other = Notifier(
        {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    )
    assert other.watchdog_interval is None
    other.watchdog()  # sends nothing
    other.status("still here")
    assert _recv(sock) == {"STATUS": "still here"}
    other.close()
    mine = Notifier(
        {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}
    )
    assert mine.watchdog_interval == 0.5


def test_outside_systemd_nothing_is_sent() -> None:
    n = Notifier({})
    assert not n.enabled and n.watchdog_interval is None
    n.ready("x")
    n.watchdog()
    n.stopping()


def test_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    n.ready()  # logged, not raised: systemd restarting must not take the daemon down
    n.status("again")
