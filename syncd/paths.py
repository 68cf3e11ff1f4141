"""What to say when syncd cannot write a folder or reach its store.

`ensure_folder` (syncd/folders.py, re-exported here) makes a missing folder 0700 and checks
that an existing one can be written. `os_error_line` turns any other permission error that
reaches the CLI into the same kind of one-line error with its fix; `handled_error` does so
for a store that refuses.
"""

from __future__ import annotations

from syncd.errors import StoreError, SyncdError
from syncd.folders import ensure_folder, user_name

__all__ = ["ensure_folder", "handled_error", "os_error_line"]


def handled_error(exc: BaseException) -> SyncdError | None:
    """What the CLI prints for an error that is the environment's, not a bug: a file it
    cannot write or read (one that names its path), a store that refuses or does not answer.
    None for anything else (a bug, printed with its traceback)."""
    from syncd.store.errors import refusal_detail

    if isinstance(exc, OSError) and exc.filename is not None:
        return os_error_line(exc)
    detail = refusal_detail(exc)
    if detail is not None:
        hint = "check store.url and that the database server runs"
        if "readonly" in detail or "unable to open" in detail:
            user = user_name()
            hint = f"the store's file and folder must belong to the user syncd runs as ({user})"
        return StoreError(f"the store refused: {detail}", hint=hint)
    return None


def os_error_line(exc: OSError) -> SyncdError:
    """A handled error for an OSError that names a file: one line with a fix."""
    name = exc.filename or "a file"
    user = user_name()
    if isinstance(exc, PermissionError):
        return SyncdError(
            f"cannot write or read {name}: {exc.strerror}",
            hint=f"syncd runs as {user}: give that user the folder (chown {user} ...) or set"
            " SYNCD_STATE_DIR to a folder it can write",
        )
    return SyncdError(f"{name}: {exc.strerror or exc}", hint="check the path and its folder")
