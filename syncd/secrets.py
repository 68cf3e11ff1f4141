"""Reading secrets: passwords and tokens live in files only their owner can read.

A secret file must belong to the user syncd runs as and have no permission bits for group
or others (0600 or 0400); otherwise syncd refuses it with the fix in the message. A secret
may also come from an environment variable (for systemd's `LoadCredential=`, point the
file at `$CREDENTIALS_DIRECTORY/NAME`). Secret values are never logged or printed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from syncd.errors import SecretError
from syncd.logs import register_secret


def read_secret(path: Path | None, env: str | None, *, what: str) -> str:
    """The secret from `path` (checked) or the environment variable `env`."""
    if path is not None:
        return read_secret_file(path, what=what)
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise SecretError(f"{what}: the environment variable {env} is not set or empty")
        register_secret(value)
        return value
    raise SecretError(f"{what}: no password_file or password_env is configured")


def read_secret_file(path: Path, *, what: str) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SecretError(f"{what}: {path} does not exist") from None
    except OSError as exc:
        raise SecretError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretError(f"{what}: {path} is not a regular file")
    if st.st_mode & 0o077:
        raise SecretError(
            f"{what}: {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o});"
            f" run: chmod 600 {path}"
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SecretError(f"{what}: {path} belongs to another user (uid {st.st_uid})")
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{what}: cannot read {path}: {exc}") from None
    if not value:
        raise SecretError(f"{what}: {path} is empty")
    _register(value)
    return value


def _register(value: str) -> None:
    """Keep the secret (or, for a JSON token file, each token in it) out of every log line."""
    try:
        doc = json.loads(value)
    except ValueError:
        register_secret(value)
        return
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif (
            isinstance(item, str)
            and len(item) >= 16
            and " " not in item
            and not item.startswith(("http://", "https://"))
        ):
            register_secret(item)  # tokens and client secrets; not names, scopes or URLs


def write_secret_file(path: Path, text: str, *, what: str) -> None:
    """Write `text` to `path` with mode 0600, atomically (a new file, then a rename).

    The folder is made (0700) when missing. The file is never readable by others, not
    even for a moment: it is created with mode 0600 before anything is written to it.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask or an old file said
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        raise SecretError(f"{what}: cannot write {path}: {exc.strerror or exc}") from None
