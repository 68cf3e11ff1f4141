"""Personalising a draft with the user's own program (an LLM wrapper, a script, ...).

`personalise(command, context)` runs `command` (an argv list, never through a shell) with
the template context as one JSON object on its standard input, and takes what it prints
on standard output as the draft body. The writer may fail in any way it likes: it is
killed, with everything it started, when it runs past `timeout`, and every failure comes
back as `WriterResult.error`, one line that says what happened, never as an exception, so
the caller can fall back to the template's text.

The writer runs in a session (and process group) of its own, with an allow-list of the
parent's environment: PATH, LANG, LC_*, HOME, TZ and the names the rule's ``writer_env``
lists, nothing else. So syncd's secrets (a ``password_env`` variable, a ``DATABASE_URL``
with a password, whatever the service manager passes) never reach it unless named.
Datetimes and dates in the context become ISO 8601 strings, sets become sorted lists,
anything else unknown its ``str()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time

from rules.templates import header_safe

_ALLOWED = frozenset({"PATH", "LANG", "HOME", "TZ"})
_STDERR_KEEP = 64 * 1024
_CHUNK = 64 * 1024
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass(frozen=True, slots=True)
class WriterResult:
    """The body the writer printed (stripped), or None and a one-line `error`."""

    body: str | None
    error: str | None


def personalise(
    command: Sequence[str],
    context: Mapping[str, object],
    *,
    timeout: float = 20.0,
    max_output: int = 100_000,
    env_names: Sequence[str] = (),
) -> WriterResult:
    """Run the writer `command` on `context`; see the module docstring."""
    if not command:
        return _failed("writer command is empty")
    payload = json.dumps(context, default=_json_default, ensure_ascii=False).encode("utf-8")
    try:
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=writer_environment(os.environ, env_names),
            start_new_session=True,
            close_fds=True,
        )
    except FileNotFoundError:
        return _failed(f"writer not found: {command[0]}")
    except PermissionError:
        return _failed(f"writer not executable: {command[0]}")
    except OSError as exc:
        return _failed(f"writer could not start: {command[0]}: {exc.strerror or exc}")

    try:
        outcome = _exchange(proc, payload, time.monotonic() + timeout, 4 * max_output + 4)
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    stdout, stderr, problem = outcome
    if problem == "timeout":
        _kill_group(proc)
        return _failed(f"writer timed out after {timeout:g} s")
    if problem == "overflow":
        _kill_group(proc)
        return _failed(f"writer output over {max_output} characters")
    return _judge(proc.returncode, stdout, stderr, max_output)


def writer_environment(environ: Mapping[str, str], names: Sequence[str] = ()) -> dict[str, str]:
    """The variables of `environ` the writer may see: the allow-list and `names`."""
    extra = frozenset(names)
    return {
        name: value
        for name, value in environ.items()
        if name in _ALLOWED or name.startswith("LC_") or name in extra
    }


def _judge(returncode: int | None, stdout: bytes, stderr: bytes, max_output: int) -> WriterResult:
    if returncode is None:  # pragma: no cover - _exchange waits for the exit
        return _failed("writer did not exit")
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return _failed(_with_detail(f"writer killed by signal {name}", stderr))
    if returncode != 0:
        return _failed(_with_detail(f"writer exited {returncode}", stderr))
    body = stdout.decode("utf-8", errors="replace").strip()
    if not body:
        return _failed("writer printed nothing")
    if len(body) > max_output:
        return _failed(f"writer output over {max_output} characters")
    return WriterResult(body=body, error=None)


def _exchange(
    proc: subprocess.Popen[bytes], payload: bytes, deadline: float, out_limit: int
) -> tuple[bytes, bytes, str | None]:
    """Feed stdin and drain stdout/stderr until the writer exits, times out or overflows."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    out_size = err_size = 0
    sel = selectors.DefaultSelector()
    try:
        stdin_fd = proc.stdin.fileno()
        os.set_blocking(stdin_fd, False)
        view = memoryview(payload)
        if view:
            sel.register(stdin_fd, selectors.EVENT_WRITE, "in")
        else:
            proc.stdin.close()
        sel.register(proc.stdout.fileno(), selectors.EVENT_READ, "out")
        sel.register(proc.stderr.fileno(), selectors.EVENT_READ, "err")
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b"", b"", "timeout"
            for key, _ in sel.select(remaining):
                if key.data == "in":
                    try:
                        written = os.write(stdin_fd, view[:_CHUNK])
                    except BlockingIOError:
                        continue
                    except OSError:  # the writer stopped reading (EPIPE); that is its call
                        written = len(view)
                    view = view[written:]
                    if not view:
                        sel.unregister(stdin_fd)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    sel.unregister(key.fd)
                elif key.data == "out":
                    out.append(chunk)
                    out_size += len(chunk)
                    if out_size > out_limit:
                        return b"", b"", "overflow"
                elif err_size < _STDERR_KEEP:
                    err.append(chunk)
                    err_size += len(chunk)
    finally:
        sel.close()
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return b"", b"", "timeout"
    return b"".join(out), b"".join(err), None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _with_detail(message: str, stderr: bytes) -> str:
    """`message` and the first line the writer wrote to stderr, if any."""
    for line in stderr.decode("utf-8", errors="replace").splitlines():
        text = header_safe(_ANSI_ESCAPE.sub("", line), 200)
        if text:
            return f"{message}: {text}"
    return message


def _failed(error: str) -> WriterResult:
    return WriterResult(body=None, error=error)


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date | clock_time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)
