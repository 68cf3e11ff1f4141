"""Drafts in a local Maildir tree: the write side of `connectors.maildir`.

A draft is an RFC 5322 message built with the stdlib `email` package and delivered into
the tree's Drafts folder the way a delivery agent does it (``tmp/``, then a rename into
``cur/`` with the flags Draft and Seen). The idempotency key travels in the message twice:
as ``X-Syncd-Key`` and as a Message-ID derived from it, so `find_draft` recognises the
draft after a crash, after a mail client renamed the file to change its flags, and even
when a client dropped the unknown header.

The Drafts folder is the one the read side would call "drafts" (``Drafts``, ``.Drafts``,
``Entwürfe``, ``[Gmail]/Drafts``, ...; the shallowest wins), or the configured one. When
there is none it is created in the layout the tree uses: ``Drafts/`` next to the other
folders, or ``.Drafts`` when the root is a Maildir++ mailbox.

Every text of a `DraftSpec` may come from a contact's name or a template, so anything
that could end a header line (CR, LF and the other Unicode line breaks, control
characters) is turned into a space before a header is built: no field can add a header.
"""

from __future__ import annotations

import email
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import socket
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy, default
from email.utils import format_datetime
from pathlib import Path

from connectors.base import Created, DraftSpec, ObjectState, SourceInvalid, object_state
from connectors.maildir import MaildirSource, folder_role
from connectors.mailparse import parse_header_block, read_header_section

logger = logging.getLogger(__name__)

KEY_HEADER = "X-Syncd-Key"
DEFAULT_DRAFTS = "Drafts"
DRAFT_FLAGS = "DS"  # Maildir info flags: D (draft), S (seen)

_LINE_BREAKS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")
# Identifiers longer than a line are still one token: the default policy would turn them
# into RFC 2047 encoded words, which breaks threading and the key lookup.
_VERBATIM_HEADERS = frozenset({"message-id", "in-reply-to", "references", KEY_HEADER.lower()})
_FOLD_AT = 78
_sequence = itertools.count()


def draft_message_id(key: str) -> str:
    """The Message-ID (without angle brackets) of the draft made for `key`."""
    return f"syncd.{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@syncd.invalid"


class _DraftPolicy(EmailPolicy):
    """The default policy, except that identifier headers are folded only at spaces."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in _VERBATIM_HEADERS and str(value).isascii():
            return _fold_words(name, str(value), self.linesep)
        folded: str = super().fold(name, value)
        return folded

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _VERBATIM_HEADERS and str(value).isascii():
            return _fold_words(name, str(value), self.linesep).encode("ascii")
        return super().fold_binary(name, value)


_POLICY = _DraftPolicy()


def _fold_words(name: str, value: str, linesep: str) -> str:
    lines = [f"{name}:"]
    for word in value.split():
        if len(lines[-1]) + 1 + len(word) > _FOLD_AT and lines[-1] != f"{name}:":
            lines.append("")
        lines[-1] += f" {word}"
    return linesep.join(lines) + linesep


class MaildirDrafts:
    """A `DraftSink` over the Drafts folder of a Maildir tree (see the module docstring)."""

    def __init__(self, root: Path, *, drafts_folder: str | None = None) -> None:
        self.root = Path(root)
        self.drafts_folder = drafts_folder.strip("/") if drafts_folder else None

    # ------------------------------------------------------------------ the DraftSink verbs

    def find_draft(self, key: str) -> Created | None:
        path = self._locate(key)
        if path is None:
            return None
        try:
            fingerprint = draft_fingerprint(path.read_bytes())
        except FileNotFoundError:  # renamed by a mail client since the scan: look again
            path = self._locate(key)
            if path is None:
                return None
            fingerprint = draft_fingerprint(path.read_bytes())
        return Created(ref=self._ref(path), fingerprint=fingerprint)

    def create_draft(self, spec: DraftSpec) -> Created:
        existing = self.find_draft(spec.key)
        if existing is not None:
            logger.debug("maildir.draft.exists", extra={"key": spec.key, "ref": existing.ref})
            return existing
        data = render_draft(spec)
        path = _deliver(self._ensure_drafts_dir(), data)
        return Created(ref=self._ref(path), fingerprint=draft_fingerprint(data))

    def draft_state(self, key: str, fingerprint: str) -> ObjectState:
        found = self.find_draft(key)
        return object_state(found.fingerprint if found is not None else None, fingerprint)

    def remove_draft(self, key: str, fingerprint: str) -> bool:
        found = self.find_draft(key)
        if found is None or found.fingerprint != fingerprint:
            return False
        try:
            (self.root / found.ref).unlink()
        except FileNotFoundError:
            return False
        return True

    # ------------------------------------------------------------------ the Drafts folder

    def drafts_dir(self) -> Path | None:
        """The Drafts folder drafts go to, or None while it does not exist."""
        return self._existing_drafts_dir(self._folders())

    def _ensure_drafts_dir(self) -> Path:
        folders = self._folders()
        found = self._existing_drafts_dir(folders)
        return found if found is not None else _make_folder(self._new_folder_path(folders))

    def _existing_drafts_dir(self, folders: dict[str, Path]) -> Path | None:
        if self.drafts_folder is not None:
            wanted = self.drafts_folder.lower()
            named = [path for name, path in folders.items() if name.lower() == wanted]
        else:
            named = [
                path
                for name, path in sorted(folders.items(), key=lambda f: (f[0].count("/"), f[0]))
                if folder_role(name) == "drafts"
            ]
        return named[0] if named else None

    def _folders(self) -> dict[str, Path]:
        if not self.root.is_dir():
            raise SourceInvalid(f"{self.root}: no such folder (a Maildir root was expected)")
        try:
            # The read side's walk, so both sides agree on folder names in either layout.
            return MaildirSource(self.root)._folders()
        except SourceInvalid:
            return {}  # an empty tree: the Drafts folder will be its first folder

    def _new_folder_path(self, folders: dict[str, Path]) -> Path:
        parts = (self.drafts_folder or DEFAULT_DRAFTS).split("/")
        if _is_maildir_plus_plus(self.root, folders):
            return self.root / ("." + ".".join(parts))
        return self.root.joinpath(*parts)

    def _locate(self, key: str) -> Path | None:
        folder = self.drafts_dir()
        if folder is None:
            return None
        wanted_key = _one_line(key)
        wanted_id = draft_message_id(key)
        for sub in ("cur", "new"):
            for path in _message_files(folder / sub):
                try:
                    with open(path, "rb") as fh:
                        head, _body, _cut = read_header_section(fh, peek_body=False)
                except (FileNotFoundError, IsADirectoryError, PermissionError):
                    continue
                if _carries_key(parse_header_block(head), wanted_key, wanted_id):
                    return path
        return None

    def _ref(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


# ------------------------------------------------------------------------- building


def render_draft(spec: DraftSpec) -> bytes:
    """The draft for `spec` as RFC 5322 bytes (LF line ends, as Maildir files have them).

    Raises ValueError when an address cannot be used or the date is naive.
    """
    if spec.date.tzinfo is None or spec.date.utcoffset() is None:
        raise ValueError(f"draft {spec.key!r}: date must be timezone-aware, got {spec.date!r}")
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _address(spec.from_name, spec.from_address, spec.key, "From")
    msg["To"] = _address(spec.to_name, spec.to_address, spec.key, "To")
    msg["Subject"] = _one_line(spec.subject)
    msg["Date"] = format_datetime(spec.date)
    msg["Message-ID"] = f"<{draft_message_id(spec.key)}>"
    reply_to = _message_id(spec.in_reply_to or "")
    if reply_to:
        msg["In-Reply-To"] = f"<{reply_to}>"
    references = [ref for ref in (_message_id(r) for r in spec.references) if ref]
    if references:
        msg["References"] = " ".join(f"<{ref}>" for ref in references)
    msg[KEY_HEADER] = _one_line(spec.key)
    msg.set_content(
        spec.body.replace("\r\n", "\n"), subtype="plain", charset="utf-8", cte="quoted-printable"
    )
    return msg.as_bytes()


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text).strip()


def _message_id(value: str) -> str:
    """A Message-ID as bare text: no brackets, no white space, nothing that ends a line."""
    return "".join(_one_line(value).split()).strip("<>").replace("<", "").replace(">", "")


def _address(name: str | None, address: str, key: str, field: str) -> Address:
    try:
        return Address(display_name=_one_line(name or ""), addr_spec=_one_line(address))
    except ValueError as exc:  # email.errors.HeaderParseError and friends are ValueErrors
        problem = f"draft {key!r}: {field} address {address!r} is not usable: {exc}"
        raise ValueError(problem) from None


# ------------------------------------------------------------------------- reading


def draft_fingerprint(data: bytes) -> str:
    """A digest of what a user edits in a draft: the To and Subject fields and the text.

    Flags, file names and the other headers are left out, so a mail client marking or
    moving the draft does not count as an edit.
    """
    msg = email.message_from_bytes(data, policy=default)
    to = " ".join(" ".join(str(value).split()) for value in msg.get_all("To", []))
    subject = " ".join(str(msg.get("Subject", "")).split())
    return hashlib.sha256(json.dumps([to, subject, _body_text(msg)]).encode("utf-8")).hexdigest()


def _body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if not isinstance(part, EmailMessage):
        return ""
    try:
        text = part.get_content()
    except (LookupError, UnicodeError):  # an unknown or lying charset
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(text, str):
        return ""
    return text.replace("\r\n", "\n").rstrip()


def _carries_key(headers: tuple[tuple[str, str], ...], key: str, message_id: str) -> bool:
    for name, value in headers:
        lname = name.lower()
        if lname == "x-syncd-key" and value == key:
            return True
        if lname == "message-id" and value.strip().strip("<>") == message_id:
            return True
    return False


def _message_files(directory: Path) -> list[Path]:
    try:
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries if not e.name.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise SourceInvalid(f"{directory}: cannot list the folder ({exc.strerror})") from exc
    return [directory / name for name in names]


# ------------------------------------------------------------------------- writing


def _is_maildir_plus_plus(root: Path, folders: dict[str, Path]) -> bool:
    """Whether new folders go in as ``.Name``: the root is a Maildir, and either has
    dot-folders already or no folder in the verbatim layout (a fresh Dovecot mailbox)."""
    if folders.get("INBOX") != root:
        return False
    tops = [p.relative_to(root).parts[0] for p in folders.values() if p != root]
    return any(t.startswith(".") for t in tops) or not tops


def _make_folder(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    if path.name.startswith("."):
        (path / "maildirfolder").touch()  # Maildir++ marks its sub-folders so
    return path


def _deliver(folder: Path, data: bytes) -> Path:
    """Write `data` into `folder` as a delivery agent does: tmp/, fsync, rename into cur/."""
    name = _unique_name()
    tmp = folder / "tmp" / name
    final = folder / "cur" / f"{name}:2,{DRAFT_FLAGS}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def _unique_name() -> str:
    now = time.time()
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"
    unique = f"M{int(now * 1_000_000) % 1_000_000}P{os.getpid()}Q{next(_sequence)}"
    return f"{int(now)}.{unique}R{secrets.token_hex(4)}.{host}"
