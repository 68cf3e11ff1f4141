"""IMAP connections: one for listing, STATUS and drafts, one per kept folder; IDLE waits.

Every polled folder gets a connection of its own that keeps it EXAMINEd (read-only, so
nothing is marked \\Seen) between polls, up to `max_connections - 1` folders; one more
connection lists folders, answers STATUS, writes drafts (it SELECTs \\Drafts, which never
disturbs a kept folder) and EXAMINEs any folder past the cap on every poll. A kept connection
that the server closed is opened again once, with a new EXAMINE. Network errors drop the
connection and raise `SourceUnavailable`; the next call reconnects. `wait_for_change` holds
IDLE on INBOX's kept connection (see `connectors.imap` for the whole picture and
`imap_watch` for one kept folder's protocol state).
"""

from __future__ import annotations

import imaplib
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import imapclient  # type: ignore[import-untyped]
from imapclient import exceptions as imap_errors

from connectors.base import AuthFailed, SourceInvalid, SourceUnavailable, server_text
from connectors.imap_watch import IDLE_RENEW, IdleRefused, WatchedFolder
from connectors.net import is_loopback

logger = logging.getLogger("connectors.imap")

# SPECIAL-USE attributes (RFC 6154); imapclient keeps these off its top-level module.
ALL_MAIL, SENT, DRAFTS = b"\\All", b"\\Sent", b"\\Drafts"


# Errors of the transport: the connection is dropped and the poll may be retried.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # socket errors, timeouts, and ssl.SSLError
    imaplib.IMAP4.abort,
    imap_errors.IMAPClientAbortError,
    EOFError,
)
TRANSIENT_OR_REFUSED: tuple[type[BaseException], ...] = (*TRANSIENT, imaplib.IMAP4.error)


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str
    security: Literal["tls", "starttls", "none"] = "tls"
    ca_file: str | None = None
    timeout: float = 60.0
    folders: tuple[str, ...] = ()  # extra folders beyond INBOX and \Sent
    use_all_mail: bool = False  # Gmail: read \All instead of INBOX + Sent
    batch_size: int = 500
    chunk: int = 2000
    idle: bool = True  # IDLE between polls and in wait_for_change, when the server offers it
    max_connections: int = 5  # one for listing and drafts, the rest keep polled folders
    idle_renew: float = IDLE_RENEW  # seconds before an IDLE is ended and issued again


class ImapPool:
    """The connections of one IMAP account, and the folders kept on them."""

    def __init__(self, settings: ImapSettings) -> None:
        if settings.security == "none" and not is_loopback(settings.host):
            raise SourceInvalid(
                f"IMAP host {settings.host!r}: security 'none' sends the password in clear "
                "text and is only allowed to a loopback address; use 'tls' or 'starttls'"
            )
        self.settings = settings
        self._client: Any = None  # listing, STATUS, drafts, folders past the cap
        self._caps: frozenset[bytes] = frozenset()
        self._selected: tuple[str, bool] | None = None
        self._folder_list: list[tuple[tuple[bytes, ...], str]] | None = None
        self._drafts: str | None = None
        self._kept: dict[str, WatchedFolder] = {}  # polled folders, one connection each
        self._idle_refused = False

    # ------------------------------------------------------------------ connection

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        client = self._login()
        self._client = client
        self._selected = None
        self._folder_list = None
        return client

    def _login(self) -> Any:
        """A new logged-in connection, its failures as connector errors."""
        s = self.settings
        try:
            return self._open()
        except ssl.SSLCertVerificationError as exc:
            raise SourceInvalid(f"IMAP {s.host}:{s.port}: certificate refused: {exc}") from None
        except TRANSIENT as exc:
            raise SourceUnavailable(
                f"IMAP {s.host}:{s.port}: cannot connect: {server_text(exc)}"
            ) from None
        except imap_errors.LoginError as exc:
            raise AuthFailed(
                f"IMAP {s.host}: login as {s.username!r} refused: {server_text(exc)}"
            ) from None

    def _open(self) -> Any:
        """Connect, secure, log in and enable CONDSTORE; the client is closed on failure."""
        s = self.settings
        # Loading the trust store costs about 20 ms a connection: only for TLS or STARTTLS.
        context = None if s.security == "none" else ssl.create_default_context(cafile=s.ca_file)
        client = imapclient.IMAPClient(
            s.host,
            port=s.port,
            ssl=s.security == "tls",
            ssl_context=context if s.security == "tls" else None,
            timeout=s.timeout,
        )
        # imapclient turns imaplib's debug output up to 5 and sends every protocol line to
        # a DEBUG logger: header fields of every message (and formatting them cost 15 µs a
        # message whether or not DEBUG was on). Mail content has no place in logs.
        client._imap.debug = 0
        try:
            if s.security == "starttls":
                client.starttls(context)
            client.login(s.username, s.password)
            # Servers announce more (CONDSTORE, SPECIAL-USE, UIDPLUS) once logged in.
            client._cached_capabilities = None
            self._caps = frozenset(bytes(c).upper() for c in client.capabilities())
            client.normalise_times = False
            if b"CONDSTORE" in self._caps and b"ENABLE" in self._caps:
                client.enable("CONDSTORE")
        except BaseException:
            quietly_shutdown(client)
            raise
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            quietly_shutdown(client)

    @contextmanager
    def _guard(self, what: str) -> Iterator[Any]:
        """The connection, with transport failures turned into `SourceUnavailable`."""
        client = self._connect()
        with self._errors(what, self._drop):
            yield client

    @contextmanager
    def _errors(
        self, what: str, drop: Callable[[], None], *, refused_drops: bool = False
    ) -> Iterator[None]:
        """Transport failures call `drop` and become `SourceUnavailable`; so does a NO or BAD,
        which leaves the connection as it is unless `refused_drops`."""
        try:
            yield
        except ssl.SSLCertVerificationError as exc:
            drop()
            raise SourceInvalid(f"IMAP {self.settings.host}: certificate refused: {exc}") from None
        except TRANSIENT as exc:
            drop()
            raise SourceUnavailable(f"IMAP {self.settings.host}: {what}: {exc}") from None
        except (imap_errors.IMAPClientError, imaplib.IMAP4.error) as exc:
            # A NO or BAD (over quota, server trouble): the connection itself is still fine.
            if refused_drops:
                drop()
            raise SourceUnavailable(f"IMAP {self.settings.host}: {what} refused: {exc}") from None

    def close(self) -> None:
        for name in list(self._kept):
            self._unkeep(name)
        client, self._client = self._client, None
        self._selected = None
        if client is not None:
            try:
                client.logout()
            except Exception:  # a dead connection needs no goodbye
                quietly_shutdown(client)

    def _select(self, client: Any, folder: str, *, readonly: bool) -> dict[bytes, Any]:
        try:
            info: dict[bytes, Any] = client.select_folder(folder, readonly=readonly)
        except imap_errors.IMAPClientAbortError:
            raise
        except imap_errors.IMAPClientError as exc:
            self._selected = None
            raise SourceInvalid(
                f"IMAP {self.settings.host}: folder {folder!r} cannot be opened "
                f"(deleted or renamed?): {exc}"
            ) from None
        self._selected = (folder, readonly)
        return info

    def _folders(self, client: Any) -> list[tuple[tuple[bytes, ...], str]]:
        if self._folder_list is None:
            self._folder_list = [
                (tuple(bytes(f).lower() for f in flags), name)
                for flags, _sep, name in client.list_folders()
            ]
        return self._folder_list

    def _special(self, client: Any, flag: bytes) -> str | None:
        for flags, name in self._folders(client):
            if flag.lower() in flags:
                return name
        found: str | None = client.find_special_folder(flag)
        return found

    # ------------------------------------------------------------------ kept folders

    def _look(self, folder: str) -> WatchedFolder:
        """`folder`, up to date: on its kept connection (opened again once if the server
        closed it), on a new kept connection, or past the cap EXAMINEd on the main one."""
        kept = self._kept.get(folder)
        if kept is not None:
            try:
                with self._errors(f"checking {folder}", self._dropper(kept), refused_drops=True):
                    kept.refresh()
                return kept
            except SourceUnavailable as exc:
                logger.info(
                    "imap.reconnect",
                    extra={"host": self.settings.host, "folder": folder, "error": str(exc)},
                )
        if len(self._kept) >= self._kept_cap():
            return self._examine(folder)
        try:
            return self._keep(folder)
        except SourceUnavailable as exc:
            # A server may refuse one more connection (a per-user limit): read it as before.
            logger.warning(
                "imap.keep.failed",
                extra={"host": self.settings.host, "folder": folder, "error": str(exc)},
            )
            return self._examine(folder)

    def _kept_cap(self) -> int:
        return max(0, self.settings.max_connections - 1)

    def _keep(self, folder: str) -> WatchedFolder:
        """A new connection with `folder` EXAMINEd on it, kept until closed or failed."""
        self._unkeep(folder)
        client = self._login()
        with self._errors(f"EXAMINE {folder}", lambda: quietly_shutdown(client)):
            try:
                watched = self._watch(client, folder, idle=self._idles())
            except SourceInvalid:
                quietly_shutdown(client)
                raise
        self._kept[folder] = watched
        return watched

    def _examine(self, folder: str) -> WatchedFolder:
        """EXAMINE `folder` on the main connection for one poll; a main connection the
        server has closed since it was last used is opened again once."""
        kept = self._client is not None
        try:
            return self._examine_once(folder)
        except SourceUnavailable:
            if not kept:
                raise
            logger.info("imap.reconnect", extra={"host": self.settings.host, "folder": folder})
            return self._examine_once(folder)

    def _examine_once(self, folder: str) -> WatchedFolder:
        with self._guard(f"EXAMINE {folder}") as client:
            self._selected = None
            view = self._watch(client, folder, idle=False)
            self._selected = (folder, True)
            return view

    def _watch(self, client: Any, folder: str, *, idle: bool) -> WatchedFolder:
        try:
            return WatchedFolder(client, folder, idle=idle, idle_renew=self.settings.idle_renew)
        except imap_errors.IMAPClientAbortError:
            raise
        except imap_errors.IMAPClientError as exc:
            raise SourceInvalid(
                f"IMAP {self.settings.host}: folder {folder!r} cannot be opened "
                f"(deleted or renamed?): {exc}"
            ) from None

    def _idles(self) -> bool:
        return self.settings.idle and b"IDLE" in self._caps and not self._idle_refused

    def _dropper(self, view: WatchedFolder) -> Callable[[], None]:
        """How to drop the connection `view` is on."""
        if self._kept.get(view.name) is view:
            return lambda: self._unkeep(view.name, politely=False)
        return self._drop

    def _unkeep(self, folder: str, *, politely: bool = True) -> None:
        watched = self._kept.pop(folder, None)
        if watched is None:
            return
        if politely:
            watched.close()
        else:
            quietly_shutdown(watched.client)

    def _rest(self, view: WatchedFolder) -> None:
        """After a complete poll, a kept folder IDLEs until the next one. A failure here
        only drops the connection: what the poll read is already in the caller's hands."""
        if self._kept.get(view.name) is not view:
            return
        try:
            view.rest()
        except TRANSIENT_OR_REFUSED as exc:
            logger.info("imap.idle.failed", extra={"folder": view.name, "error": str(exc)})
            self._unkeep(view.name, politely=False)

    # ------------------------------------------------------------------ waiting for mail

    def can_wait(self) -> bool:
        """Whether `wait_for_change` works here: `idle` is on, a folder can be kept and the
        server offers IDLE (which needs a connection: this connects if there is none)."""
        if not self.settings.idle or self._kept_cap() < 1 or self._idle_refused:
            return False
        with self._guard("reading capabilities"):
            return b"IDLE" in self._caps

    def wait_for_change(self, timeout: float, cancel: threading.Event | None = None) -> bool:
        """Hold IDLE on INBOX (\\All with `use_all_mail`) for up to `timeout` seconds.

        True as soon as the server reports new mail there, or ends the session (then the next
        poll reconnects and finds out what changed); False on timeout, or once `cancel` is
        set. Raises `SourceInvalid` where `can_wait()` is False and `SourceUnavailable` when
        the folder cannot be opened. Not to be called while another verb runs.
        """
        if not self.can_wait():
            raise SourceInvalid(
                f"IMAP {self.settings.host}: cannot wait for new mail (IDLE is off, not "
                "offered by the server, or max_connections leaves no folder connection)"
            )
        folder = self._wait_folder()
        kept = self._kept.get(folder)
        if kept is None:
            kept = self._keep(folder)
        try:
            with self._errors(f"IDLE in {folder}", self._dropper(kept), refused_drops=True):
                try:
                    return kept.wait(timeout, cancel)
                except IdleRefused:
                    self._idle_refused = True
                    raise
        except SourceUnavailable as exc:
            if self._idle_refused:
                raise SourceInvalid(f"IMAP {self.settings.host}: {exc}") from None
            logger.info("imap.idle.ended", extra={"folder": folder, "error": str(exc)})
            return True

    def _wait_folder(self) -> str:
        if not self.settings.use_all_mail:
            return "INBOX"
        with self._guard("listing folders") as client:
            every = self._special(client, ALL_MAIL)
        if every is None:
            raise SourceInvalid(
                f"IMAP {self.settings.host}: use_all_mail is set but no \\All folder"
            )
        return every


def quietly_shutdown(client: Any) -> None:
    try:
        client.shutdown()
    except Exception:  # a dead socket is dead whatever the error says
        logger.debug("imap.shutdown.failed", exc_info=True)
