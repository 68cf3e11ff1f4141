"""Folders syncd writes to (the state folder above all): `ensure_folder` makes a missing
folder 0700 (with its parents) and checks that an existing one can be written; each failure
is a `StoreError` of one line whose hint is the command that fixes it, run as the user syncd
runs as (``install -d``, ``chown``).

A leaf module: the store calls it for an SQLite file's folder, and syncd/paths.py (which
asks the store what a refusal says) builds on it.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from syncd.errors import StoreError


def user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return str(os.getuid())


def ensure_folder(folder: Path, what: str = "the state folder") -> None:
    """Make `folder` (0700) if missing; StoreError with the fix when it cannot be written."""
    user = user_name()
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
