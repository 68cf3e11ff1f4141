"""A real Radicale on 127.0.0.1 for tests: a throw-away config, users and storage.

`start_radicale(base, users=...)` writes a config and a plain htpasswd file into `base`,
starts ``python -m radicale`` on a free port and waits until it answers HTTP. The
session-scoped `radicale` fixture yields one such server with the user alex/secret; where
Radicale cannot start it skips, unless SYNCD_REQUIRE_SERVICES names radicale (CI): then
the session fails.

`make_calendar` makes a fresh calendar for one test; `move` renames an object the way a
client does (a WebDAV MOVE: same content, same UID, a new href).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pytest
from caldav.davclient import DAVClient

from tests.conftest import required

_START_TIMEOUT = 30.0


class RadicaleError(RuntimeError):
    """Radicale did not start; the message holds the end of its log."""


@dataclass
class Radicale:
    url: str
    base: Path
    log_file: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def collections(self) -> Path:
        """Radicale's storage folder (``collection-root`` lives inside it)."""
        return self.base / "collections"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> Radicale:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def make_calendar(server: Radicale, user: str, password: str, name: str) -> tuple[DAVClient, str]:
    """MKCALENDAR `name` (also its URL segment) for `user`; the client and the calendar URL,
    which ends with a slash."""
    client = DAVClient(server.url, username=user, password=password, timeout=30)
    made = client.principal().make_calendar(name=name, cal_id=name)  # type: ignore[no-untyped-call]
    url = str(made.url)
    return client, url if url.endswith("/") else url + "/"


def calendar_toml(server: Radicale, user: str, password: str, calendar: str, secrets: Path) -> str:
    """An account's ``calendar = {...}`` inline table for `calendar` of `user` on `server`
    (the password written, mode 0600, into the folder `secrets`)."""
    password_file = secrets / f"{user}.{calendar}.dav.pass"
    password_file.write_text(password, encoding="utf-8")
    password_file.chmod(0o600)
    return (
        f'{{ kind = "caldav", url = "{server.url}", username = "{user}", '
        f'password_file = "{password_file}", calendar = "{calendar}" }}'
    )


def move(client: DAVClient, source_url: str, target_url: str) -> None:
    """WebDAV MOVE of one object (RFC 4918 section 9.9), without overwriting."""
    response = client.request(source_url, "MOVE", "", {"Destination": target_url, "Overwrite": "F"})
    if response.status not in (201, 204):
        raise AssertionError(f"MOVE {source_url} -> {target_url}: HTTP {response.status}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# `python -m radicale --config PATH` without an fsync per file: Radicale syncs each item it
# writes, and each entry of its item cache (made as it first parses an item), with their
# folders: 10,000 fsyncs for the 5,000-event calendar of tests/test_caldav.py, whose one
# test took 15-83 s with the disk shared. A throw-away server, as Dovecot's `mail_fsync =
# never` in tests/dovecot.py. The option is internal to Radicale (its own tests set it) and
# refused in a config file, so it is added to the configuration once loaded (where a
# Radicale has no such option or hook, it runs as it is).
_RUN_WITHOUT_FSYNC = """
import sys
from radicale import __main__ as main, config

load = getattr(config, "load", None)


def load_without_fsync(*args, **kwargs):
    configuration = load(*args, **kwargs)
    try:
        configuration.update(
            {"storage": {"_filesystem_fsync": "False"}}, "tests/radicale.py", privileged=True
        )
    except Exception:  # another Radicale without the option: it syncs, and is only slower
        pass
    return configuration


if load is not None:
    config.load = load_without_fsync
sys.argv = ["radicale", "--config", sys.argv[1]]
main.run()
"""


def start_radicale(base: Path, *, users: dict[str, str]) -> Radicale:
    """Start Radicale with storage, config and log in `base`; wait until it answers."""
    base.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    htpasswd = base / "users"
    htpasswd.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    (base / "collections").mkdir(exist_ok=True)
    config = base / "config"
    # No delays: Radicale sleeps 1 s before each 401 (a client's first request goes without
    # credentials, so every new session waits once) and before each 5xx, against password
    # guessing. The answers are the same; the CalDAV tests waited 90 of their 125 s.
    config.write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "delay_on_error = 0\n"
        "[auth]\n"
        "type = htpasswd\n"
        "delay = 0\n"
        f"htpasswd_filename = {htpasswd}\n"
        "htpasswd_encryption = plain\n"
        "[storage]\n"
        f"filesystem_folder = {base / 'collections'}\n"
        "[rights]\n"
        "type = owner_only\n"
        "[logging]\n"
        "level = warning\n"
    )
    log_file = base / "radicale.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", _RUN_WITHOUT_FSYNC, str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Radicale(
        url=f"http://127.0.0.1:{port}/", base=base, log_file=log_file, process=process
    )
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RadicaleError(
                f"radicale exited with {process.returncode}: {server.log()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(server.url, timeout=2):
                return server
        except urllib.error.HTTPError:
            return server  # any HTTP answer (401, 302, ...) means it is up
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RadicaleError(f"radicale did not answer: {server.log()[-2000:]}") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    base = tmp_path_factory.mktemp("radicale")
    try:
        server = start_radicale(base, users={"alex": "secret"})
    except (RadicaleError, OSError) as exc:
        if required("radicale"):
            pytest.fail(f"Radicale is required here but did not start: {exc}")
        pytest.skip(f"Radicale did not start (set SYNCD_REQUIRE_SERVICES=radicale to fail): {exc}")
    with server:
        yield server
