"""Small builders for tests: Maildir messages, config files, running the CLI."""

from __future__ import annotations

import atexit
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

OWNER_TOML = """
[owner]
name = "Alex Morgan"
addresses = ["alex@example.com"]
aliases = ["alex.morgan@example.com"]
timezone = "Europe/Berlin"
"""

_counter = itertools.count(1)


def make_maildir(root: Path, *folders: str) -> Path:
    for folder in folders:
        base = root if folder == "INBOX" else root / folder
        for sub in ("cur", "new", "tmp"):
            (base / sub).mkdir(parents=True, exist_ok=True)
    return root


def message(
    *,
    sender: str,
    to: str,
    subject: str,
    date: datetime,
    message_id: str | None,
    cc: str | None = None,
    in_reply_to: str | None = None,
    extra: dict[str, str] | None = None,
    body: str = "Hello,\n\nthanks.\n",
) -> bytes:
    lines = [f"From: {sender}", f"To: {to}"]
    if cc:
        lines.append(f"Cc: {cc}")
    lines += [f"Subject: {subject}", f"Date: {format_datetime(date)}"]
    if message_id:
        lines.append(f"Message-ID: <{message_id}>")
    if in_reply_to:
        lines += [f"In-Reply-To: <{in_reply_to}>", f"References: <{in_reply_to}>"]
    for k, v in (extra or {}).items():
        lines.append(f"{k}: {v}")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body]
    return "\r\n".join(lines).encode("utf-8")


def deliver(folder: Path, data: bytes, *, seen: bool = True, stamp: int | None = None) -> Path:
    """Write a message the way a delivery agent does: tmp/ first, then a rename."""
    n = next(_counter)
    stamp = stamp or 1_790_000_000 + n
    unique = f"{stamp}.M{n}P{os.getpid()}.test"
    tmp = folder / "tmp" / unique
    tmp.write_bytes(data)
    final = folder / ("cur" if seen else "new") / (unique + (":2,S" if seen else ""))
    os.rename(tmp, final)
    return final


def write_config(path: Path, body: str, *, store_url: str | None = None) -> Path:
    store = f'[store]\nurl = "{store_url}"\n' if store_url else ""
    path.write_text(OWNER_TOML + store + body, encoding="utf-8")
    return path


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m syncd ARGS` in a process of its own; forked from a pre-imported
    interpreter (tests/cli_fork.py) unless SYNCD_TEST_FORK=0 asks for a fresh one."""
    full_env = {**os.environ, **(env or {})}
    if os.environ.get("SYNCD_TEST_FORK", "1") == "0":
        proc = subprocess.run(
            [sys.executable, "-m", "syncd", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    else:
        proc = _fork_server().run(list(args), full_env, timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"syncd {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


class _ForkServer:
    """The client of tests/cli_fork.py: one server per test process, started on first use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.folder = Path(tempfile.mkdtemp(prefix="syncd-cli-fork-"))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.cli_fork"],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.buffer = b""
        atexit.register(self.close)
        if self._line(60) != "ready":
            raise RuntimeError("tests/cli_fork.py did not start")

    def _line(self, timeout: float) -> str | None:
        """The server's next answer line, or None after `timeout` seconds without one."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            data = os.read(fd, 4096)
            if not data:
                raise RuntimeError(f"tests/cli_fork.py exited with {self.process.wait()}")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode().strip()

    def run(
        self, args: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "syncd", *args]
        with self.lock:
            n = next(_counter)
            out, err = self.folder / f"{n}.out", self.folder / f"{n}.err"
            umask = os.umask(0o022)
            os.umask(umask)
            request = {
                "argv": args,
                "env": env,
                "cwd": os.getcwd(),
                "umask": umask,
                "stdout": str(out),
                "stderr": str(err),
            }
            assert self.process.stdin is not None
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
            pid = int(self._line(60) or "0")
            status = self._line(timeout)
            timed_out = status is None
            if timed_out:
                os.kill(pid, signal.SIGKILL)
                status = self._line(60)
            try:
                stdout = out.read_text(encoding="utf-8", errors="replace")
                stderr = err.read_text(encoding="utf-8", errors="replace")
            finally:
                out.unlink(missing_ok=True)
                err.unlink(missing_ok=True)
        if timed_out:
            raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr)
        return subprocess.CompletedProcess(argv, int(status or "0"), stdout, stderr)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_server: _ForkServer | None = None


def _fork_server() -> _ForkServer:
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = _ForkServer()
    return _server


def cli_json(*args: str, env: dict[str, str] | None = None) -> Any:
    proc = run_cli(*args, "--json", env=env, check=True)
    return json.loads(proc.stdout)
