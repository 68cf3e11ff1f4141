"""A real, throw-away Dovecot 2.3 on 127.0.0.1 for tests and benchmarks.

`start_dovecot(base, users=...)` writes a dovecot.conf into `base` (plaintext IMAP on a free
port, passwd-file users, Maildir under ``base/mail/<user>``, special-use folders Drafts,
Sent, Junk, Trash and Archive) and runs ``dovecot -F`` as a child process until `stop()`.

Dovecot refuses to access mail as root. Run as root (as in CI), mail belongs to the
``dovecot`` user the package created and the login processes run as ``dovenull``; run as
anyone else, everything runs as that user.

The `dovecot` fixture (session-scoped) gives a running server with user alex/secret, and
spare users that `claim_user` hands out so that each test can own an empty mailbox. Where
the binary is missing the tests that use it are skipped, unless SYNCD_REQUIRE_SERVICES
names dovecot (CI sets it): then they fail.

`append_messages` uses IMAP MULTIAPPEND (imapclient), so Dovecot indexes every message
itself and the UIDs are assigned in the order given. `connect` gives a logged-in client,
`uidvalidity`/`set_uidvalidity` read and change a folder's UIDVALIDITY through doveadm, and
`CutProxy` stands between a client and the server to cut the connection after a number of
bytes, as a network failure in the middle of a FETCH does.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

DOVECOT = os.environ.get("SYNCD_DOVECOT", "/usr/sbin/dovecot")
HOST = "127.0.0.1"
START_TIMEOUT = 15.0
SPARE_USERS = 200

_CONF = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
listen = 127.0.0.1
protocols = imap
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = 0
mail_uid = {mail_user}
mail_gid = {mail_group}
mail_location = maildir:{base}/mail/%u
mail_plugins =
# A throw-away server: no fsync (appending thousands of messages is 5x faster).
mail_fsync = never
mail_max_userip_connections = 100
imap_max_line_length = 256k

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
# No authentication penalty (Dovecot's "Authentication penalty support"): after a failed
# login, anvil delays every later login from the same IP, 2 s doubling to 15 s, for about
# half a minute, and every test connects from 127.0.0.1. A wrong password still fails at
# once, with the same answer; only the brute-force brake between logins is off.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {base}/users
  default_fields = uid={mail_user} gid={mail_group} home={base}/mail/%u
}}

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = {auto}
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = {auto}
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = {auto}
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = {auto}
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = {auto}
  }}
}}
"""


@dataclass
class Dovecot:
    """A running Dovecot; a context manager that stops it on exit."""

    base: Path
    port: int
    process: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=dict)
    spare: list[str] = field(default_factory=list)
    host: str = HOST
    tls_port: int | None = None  # implicit TLS (imaps), when started with tls=True
    ca_file: Path | None = None  # the self-signed certificate to trust, with tls=True

    @property
    def conf(self) -> Path:
        return self.base / "dovecot.conf"

    def maildir(self, user: str) -> Path:
        return self.base / "mail" / user

    def doveadm(self, *args: str) -> str:
        """Run ``doveadm -c conf ARGS`` and return its output (raises on failure)."""
        done = subprocess.run(
            [_doveadm(), "-c", str(self.conf), *args],
            capture_output=True,
            check=True,
            timeout=30,
        )
        return done.stdout.decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> Dovecot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def available() -> bool:
    return Path(DOVECOT).is_file() and os.access(DOVECOT, os.X_OK)


def start_dovecot(
    base: Path,
    *,
    users: dict[str, str],
    spare_users: int = 0,
    tls: bool = False,
    autocreate: bool = True,
) -> Dovecot:
    """Write a config into `base`, start Dovecot on a free port, wait for its greeting.

    The special-use folders are made at login unless `autocreate` is False: then a folder
    exists only once a client makes it, and a deleted Drafts folder stays deleted.

    `spare_users` more users named ``spare1``, ``spare2``, ... (password ``pw-spare1``, ...)
    are there for `claim_user`. With `tls`, a self-signed certificate for 127.0.0.1 is made
    (openssl): the plain port then also offers STARTTLS, and `tls_port` speaks imaps.
    """
    spare = [f"spare{n}" for n in range(1, spare_users + 1)]
    users = {**users, **{name: f"pw-{name}" for name in spare}}
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    for sub in ("run", "state", "mail"):
        (base / sub).mkdir(exist_ok=True)
    if os.geteuid() == 0:
        mail_user, internal_user, login_user = "dovecot", "dovecot", "dovenull"
    else:
        mail_user = internal_user = login_user = pwd.getpwuid(os.geteuid()).pw_name
    entry = pwd.getpwnam(mail_user)
    if os.geteuid() == 0:
        _check_reachable(base)
        # Mail is written as the dovecot user: it needs to reach and own its folders.
        os.chmod(base, 0o755)
        shutil.chown(base / "mail", entry.pw_uid, entry.pw_gid)
    port = _free_port()
    tls_port = _free_port() if tls else 0
    ssl_conf = "ssl = no"
    ca_file: Path | None = None
    if tls:
        ca_file = _self_signed(base)
        ssl_conf = f"ssl = yes\nssl_cert = <{ca_file}\nssl_key = <{base / 'key.pem'}"
    lines = [f"{name}:{{PLAIN}}{password}::::::" for name, password in users.items()]
    (base / "users").write_text("\n".join(lines) + "\n", encoding="utf-8")
    conf = base / "dovecot.conf"
    conf.write_text(
        _CONF.format(
            base=base,
            port=port,
            mail_user=mail_user,
            mail_group=entry.pw_gid,
            internal_user=internal_user,
            login_user=login_user,
            ssl=ssl_conf,
            tls_port=tls_port,
            auto="subscribe" if autocreate else "no",
        ),
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Dovecot(
        base=base,
        port=port,
        process=process,
        users=users,
        spare=spare,
        tls_port=tls_port or None,
        ca_file=ca_file,
    )
    try:
        _wait_for_greeting(server)
    except BaseException:
        server.stop()
        raise
    return server


def _self_signed(base: Path) -> Path:
    cert = base / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(base / "key.pem"), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    os.chmod(base / "key.pem", 0o644)  # read by Dovecot's processes, in a throw-away dir
    return cert


def _check_reachable(base: Path) -> None:
    for parent in base.parents:
        if not os.stat(parent).st_mode & 0o001:
            raise RuntimeError(
                f"{parent} is not searchable by other users; Dovecot's processes (running as "
                f"dovecot/dovenull) could not reach {base}: use a directory such as /tmp/x"
            )


def _doveadm() -> str:
    return shutil.which("doveadm") or "/usr/bin/doveadm"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_greeting(server: Dovecot) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            err = server.process.stderr.read().decode() if server.process.stderr else ""
            log = server.base / "dovecot.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"dovecot exited with {server.process.returncode}: {err}{tail}")
        try:
            with socket.create_connection((server.host, server.port), timeout=1.0) as sock:
                if sock.recv(200).startswith(b"* OK"):
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"dovecot did not greet on {server.host}:{server.port}: {last}")


def claim_user(server: Dovecot) -> str:
    """A spare user nobody has logged in as yet (its mailbox is empty), for one test.

    Spare users are written with the rest at start-up: Dovecot re-reads a changed
    passwd-file at most once a second, so users added later would fail to log in at random.
    """
    if not server.spare:
        raise RuntimeError("no spare Dovecot users left: start it with more spare_users")
    return server.spare.pop(0)


def append_messages(
    server: Dovecot,
    user: str,
    folder: str,
    messages: Iterable[bytes],
    *,
    flags: tuple[bytes, ...] = (),
    per_command: int = 500,
) -> None:
    """APPEND `messages` to `folder` (created when missing), in order, over one connection.

    Messages go `per_command` at a time in one MULTIAPPEND (RFC 3502) command, which is
    about ten times faster than one APPEND each (benchmarks append tens of thousands).
    """
    import imapclient  # type: ignore[import-untyped]

    client = imapclient.IMAPClient(server.host, port=server.port, ssl=False, timeout=60)
    try:
        client.login(user, server.users[user])
        if not client.folder_exists(folder):
            client.create_folder(folder)
        batch: list[dict[str, object]] = []
        for data in messages:
            batch.append({"msg": data, "flags": flags} if flags else {"msg": data})
            if len(batch) >= per_command:
                client.multiappend(folder, batch)
                batch = []
        if batch:
            client.multiappend(folder, batch)
    finally:
        client.logout()


def connect(server: Dovecot, user: str) -> Any:
    """An imapclient connection logged in as `user` (the caller logs out)."""
    import imapclient

    client = imapclient.IMAPClient(server.host, port=server.port, ssl=False, timeout=30)
    client.login(user, server.users[user])
    return client


def uidvalidity(server: Dovecot, user: str, folder: str) -> int:
    out = server.doveadm("mailbox", "status", "-u", user, "uidvalidity", folder)
    return int(out.strip().rpartition("=")[2])


def set_uidvalidity(server: Dovecot, user: str, folder: str, value: int) -> None:
    """Give `folder` a new UIDVALIDITY (its UIDs stay): what a server restored from a backup
    or migrated to other software does; every client must then forget the folder's UIDs."""
    server.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(value), folder)


def account_toml(
    server: Dovecot,
    user: str,
    secrets: Path,
    *,
    name: str = "mail",
    port: int | None = None,
    folders: Iterable[str] = (),
    calendar: str | None = None,
) -> str:
    """An ``[[accounts]]`` table of kind imap for `user` (its password written, mode 0600,
    into the folder `secrets`), reached on `port` (a proxy's) or the server's own port;
    `calendar` is an inline table for the account's calendar."""
    password_file = secrets / f"{name}.imap.pass"
    password_file.write_text(server.users[user], encoding="utf-8")
    password_file.chmod(0o600)
    lines = [
        "[[accounts]]",
        f'name = "{name}"',
        'kind = "imap"',
        f'host = "{server.host}"',
        f"port = {port or server.port}",
        'security = "none"',
        f'username = "{user}"',
        f'password_file = "{password_file}"',
        "folders = [" + ", ".join(f'"{f}"' for f in folders) + "]",
    ]
    if calendar:
        lines.append(f"calendar = {calendar}")
    return "\n".join(lines) + "\n"


class CutProxy:
    """A TCP relay on 127.0.0.1 to `target`; `cut_after(n)` closes the next connection that
    has carried `n` bytes from the server, once (connections after it are relayed whole);
    `cut_at(marker)` closes the connection, once, instead of relaying the first data from
    the server that holds `marker` (an answer the server sent, lost on the way).

    `downstream` counts the bytes relayed from the server since the last `reset()`.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server((HOST, 0))
        self.port: int = self.listener.getsockname()[1]
        self.downstream = 0
        self.cuts = 0
        self._limit: int | None = None
        self._marker: bytes | None = None
        self._lock = threading.Lock()
        self._closing = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, n: int) -> None:
        with self._lock:
            self._limit = n
            self.downstream = 0

    def cut_at(self, marker: bytes) -> None:
        with self._lock:
            self._marker = marker

    def reset(self) -> None:
        with self._lock:
            self.downstream = 0

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _addr = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=30)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_server and self._over(data):
                    for sock in (src, dst):
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _over(self, data: bytes) -> bool:
        with self._lock:
            self.downstream += len(data)
            if self._limit is not None and self.downstream >= self._limit:
                self._limit = None
                self.cuts += 1
                return True
            if self._marker is not None and self._marker in data:
                self._marker = None
                self.cuts += 1
                return True
            return False

    def close(self) -> None:
        self._closing = True
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()


@pytest.fixture(scope="session", name="dovecot")
def dovecot_server() -> Iterator[Dovecot]:
    """A running Dovecot with user alex/secret, shared by the whole session.

    Its directory is not under pytest's tmp_path: that is private to root (mode 0700), and
    Dovecot's auth and mail processes run as other users when the tests run as root.
    """
    if not available():
        names = os.environ.get("SYNCD_REQUIRE_SERVICES", "")
        if "dovecot" in {n.strip() for n in names.split(",")}:
            pytest.fail(f"Dovecot is required here but {DOVECOT} is missing")
        pytest.skip(f"no Dovecot at {DOVECOT} (set SYNCD_REQUIRE_SERVICES=dovecot to fail)")
    base = Path(tempfile.mkdtemp(prefix="syncd-dovecot-"))
    try:
        with start_dovecot(base, users={"alex": "secret"}, spare_users=SPARE_USERS) as server:
            yield server
    finally:
        shutil.rmtree(base, ignore_errors=True)
