"""Headless Chromium for tests, driven over the DevTools protocol on a pipe.

`Chromium.open(url)` loads a page and records what a person would see go wrong in the
browser's console: console errors, uncaught exceptions, log entries of level error (a
blocked or failed load, a CSP violation), and every network request the page made.
`evaluate(js)` runs an expression in the page and returns its value.

The protocol goes over `--remote-debugging-pipe` (Chromium reads commands on fd 3 and
writes answers on fd 4, one JSON message each, ended by NUL), so no WebSocket client or
other package is needed. Debian's package installs the browser as /usr/bin/chromium
(override with SYNCD_CHROMIUM). Where it is missing the tests that use the `chromium`
fixture are skipped, unless SYNCD_REQUIRE_SERVICES names chromium (CI sets it): then they
fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import required

CHROMIUM = os.environ.get("SYNCD_CHROMIUM", "/usr/bin/chromium")
TIMEOUT = 30.0


class ChromiumError(RuntimeError):
    pass


@dataclass
class PageLog:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Chromium:
    def __init__(self, binary: str = CHROMIUM) -> None:
        self.profile = tempfile.mkdtemp(prefix="syncd-chromium.")
        commands_r, self._to_child = _pipe()
        self._from_child, answers_w = _pipe()
        args = [
            binary,
            "--headless=new",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--metrics-recording-only",
            "--mute-audio",
        ]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
        args.append("about:blank")
        # bash (dash takes single-digit fds only) puts the pipe ends on fds 3 and 4, where
        # Chromium expects them.
        wire = f'exec "$0" "$@" 3<&{commands_r} 4>&{answers_w}'
        self.proc = subprocess.Popen(
            ["bash", "-c", wire, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(commands_r, answers_w),
        )
        os.close(commands_r)
        os.close(answers_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._session: str | None = None

    # --- the wire ---

    def _send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> int:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self._session is not None:
            msg["sessionId"] = self._session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _read_one(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChromiumError("no answer from Chromium in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 16)
                if not chunk:
                    raise ChromiumError(f"Chromium exited (status {self.proc.poll()})")
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = True
    ) -> dict[str, Any]:
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + TIMEOUT
        while True:
            msg = self._read_one(deadline)
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise ChromiumError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            if "method" in msg:
                self._events.append(msg)

    def _wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        for i, ev in enumerate(self._events):
            if ev["method"] == method:
                return self._events.pop(i)
        while True:
            msg = self._read_one(deadline)
            if msg.get("method") == method:
                return msg
            if "method" in msg:
                self._events.append(msg)

    # --- pages ---

    def open(self, url: str) -> PageLog:
        """Load `url` in a fresh tab; what went wrong is collected until `close_page`."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.call(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self._session = attached["sessionId"]
        self._target = target["targetId"]
        self._events.clear()
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable")
        self.call("Page.navigate", {"url": url})
        self._wait_event("Page.loadEventFired")
        self.evaluate("1")  # let late console messages arrive before they are read
        return self._page_log()

    def _page_log(self) -> PageLog:
        log = PageLog()
        for ev in self._events:
            method, params = ev["method"], ev.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = params.get("args", [])
                log.errors.append("console: " + " ".join(str(a.get("value")) for a in args))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                what = details.get("exception", {}).get("description") or details.get("text")
                log.errors.append(f"exception: {what}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                log.errors.append("log: " + str(params["entry"].get("text")))
            elif method == "Network.requestWillBeSent":
                log.requests.append(params.get("request", {}).get("url", ""))
        return log

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise ChromiumError(f"evaluate: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def set_width(self, width: int, height: int = 900) -> None:
        """Lay the open page out in a window `width` CSS pixels wide."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def screenshot(self) -> bytes:
        """The whole page (not only the window) as PNG."""
        import base64

        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        return base64.b64decode(shot["data"])

    def close_page(self) -> None:
        self._session = None
        self.call("Target.closeTarget", {"targetId": self._target}, session=False)

    def quit(self) -> None:
        with contextlib.suppress(ChromiumError, OSError):
            self.call("Browser.close", session=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        if required("chromium"):
            pytest.fail(f"Chromium is required here but {CHROMIUM} is missing")
        pytest.skip(f"no Chromium at {CHROMIUM} (set SYNCD_REQUIRE_SERVICES=chromium to fail)")
    browser = Chromium()
    try:
        browser.call("Browser.getVersion", session=False)
    except ChromiumError as exc:
        browser.quit()
        if required("chromium"):
            pytest.fail(f"Chromium is required here but did not start: {exc}")
        pytest.skip(f"Chromium did not start (set SYNCD_REQUIRE_SERVICES=chromium to fail): {exc}")
    yield browser
    browser.quit()


def _pipe() -> tuple[int, int]:
    """A pipe whose ends are above fd 9, so that moving them to 3 and 4 clobbers neither."""
    r, w = os.pipe()
    ends = (fcntl.fcntl(r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 10))
    os.close(r)
    os.close(w)
    return ends
