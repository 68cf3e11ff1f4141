"""Folders syncd writes to (the state folder above all) and what to say when it cannot.

`ensure_folder` makes a missing folder 0700 (with its parents) and checks that an existing
one can be written; each failure is a `StoreError` of one line whose hint is the command
that fixes it, run as the user syncd runs as (``install -d``, ``chown``). `os_error_line`
turns any other permission error that reaches the CLI into the same kind of line.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from syncd.errors import StoreError, SyncdError


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return str(os.getuid())


def ensure_folder(folder: Path, what: str = "the state folder") -> None:
    """Make `folder` (0700) if missing; StoreError with the fix when it cannot be written."""
    user = _user()
    if not folder.exists():
        try:
            folder.mkdir(parents=True, mode=0o700)
        except OSError as exc:
            raise StoreError(
                f"cannot create {what} {folder}: {exc.strerror}",
                hint=f"create it for the user syncd runs as ({user}), e.g. as root:"
                f" install -d -m 0700 -o {user} {folder}; or point SYNCD_STATE_DIR or"
                " [store] state_dir at a folder that user can write",
            ) from None
        return
    if not folder.is_dir():
        raise StoreError(f"{what} {folder} is not a folder", hint="remove it or use another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(
            f"{what} {folder} is not writable by {user}",
            hint=f"as root: chown -R {user} {folder} && chmod 700 {folder}",
        )


def handled_error(exc: BaseException) -> SyncdError | None:
    """What the CLI prints for an error that is the environment's, not a bug: a file it
    cannot write or read (one that names its path), a store that refuses or does not answer.
    None for anything else (a bug, printed with its traceback)."""
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OSError) and exc.filename is not None:
        return os_error_line(exc)
    if isinstance(exc, OperationalError):
        detail = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        hint = "check store.url and that the database server runs"
        if "readonly" in detail or "unable to open" in detail:
            hint = f"the store's file and folder must belong to the user syncd runs as ({_user()})"
        return StoreError(f"the store refused: {detail}", hint=hint)
    return None


def os_error_line(exc: OSError) -> SyncdError:
    """A handled error for an OSError that names a file: one line with a fix."""
    name = exc.filename or "a file"
    user = _user()
    if isinstance(exc, PermissionError):
        return SyncdError(
            f"cannot write or read {name}: {exc.strerror}",
            hint=f"syncd runs as {user}: give that user the folder (chown {user} ...) or set"
            " SYNCD_STATE_DIR to a folder it can write",
        )
    return SyncdError(f"{name}: {exc.strerror or exc}", hint="check the path and its folder")
