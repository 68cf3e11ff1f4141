"""Reading secrets: passwords and tokens live in files only their owner can read.

A secret file must belong to the user syncd runs as and have no permission bits for group
or others (0600 or 0400); otherwise syncd refuses it with the fix in the message. A secret
may also come from an environment variable. Secret values are never logged or printed.

Files systemd hands over with ``LoadCredential=`` (configured as
``${CREDENTIALS_DIRECTORY}/NAME``) are accepted as systemd makes them: read-only (0400,
or 0440 when an ACL grants the service user read access — the group bits then show the
ACL mask), owned by root or by the service user, on a private read-only file system.

Token files syncd writes itself (Google's authorized-user JSON, msal's token cache) can be
encrypted at rest with a Fernet key from ``[secrets] key_file`` (see docs/secrets.md):
`read_token_file` tells an encrypted file from a plain one by its first line, so turning
encryption on needs no flag day (`syncd secrets encrypt` converts the existing files).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from syncd.errors import SecretError
from syncd.logs import register_secret

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
CREDENTIALS_VAR = "${CREDENTIALS_DIRECTORY}"
ENCRYPTED_HEADER = "syncd-encrypted: fernet"


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


def check_secret_file(path: Path, *, what: str) -> None:
    """Raise SecretError, with the command that fixes it, unless only syncd can read `path`."""
    if str(path).startswith(CREDENTIALS_VAR):
        raise SecretError(
            f"{what}: {path} is a systemd credential, but ${CREDENTIALS_ENV} is not set:"
            " syncd is not running as a service with LoadCredential= (see docs/secrets.md)"
        )
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SecretError(f"{what}: {path} does not exist") from None
    except OSError as exc:
        raise SecretError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretError(f"{what}: {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    uid = os.getuid() if hasattr(os, "getuid") else st.st_uid
    if _is_systemd_credential(path):
        if mode & 0o027 or st.st_uid not in (0, uid):
            raise SecretError(
                f"{what}: {path} is not as systemd makes credentials (mode {mode:04o},"
                f" uid {st.st_uid}); check LoadCredential= in the unit"
            )
        return
    if mode & 0o077:
        raise SecretError(
            f"{what}: {path} is readable by others (mode {mode:04o}); run: chmod 600 {path}"
        )
    if st.st_uid != uid:
        raise SecretError(
            f"{what}: {path} belongs to another user (uid {st.st_uid}); run:"
            f" chown {_user_name(uid)} {path}"
        )


def _is_systemd_credential(path: Path) -> bool:
    folder = os.environ.get(CREDENTIALS_ENV)
    if not folder:
        return False
    try:
        return path.resolve().is_relative_to(Path(folder).resolve())
    except OSError:
        return False


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def read_secret_file(path: Path, *, what: str) -> str:
    check_secret_file(path, what=what)
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


# --- token files, optionally encrypted at rest ----------------------------------------------


@dataclass(frozen=True)
class TokenKey:
    """A Fernet key (from ``[secrets] key_file``) for token files syncd writes."""

    path: Path
    key: bytes

    @classmethod
    def load(cls, path: Path) -> TokenKey:
        text = read_secret_file(path, what="the token encryption key")
        try:
            from cryptography.fernet import Fernet

            Fernet(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise SecretError(
                f"{path} is not a Fernet key (44 characters of URL-safe base64);"
                f" make one with: syncd secrets keygen {path}"
            ) from None
        return cls(path, text.encode("ascii"))

    def encrypt(self, text: str) -> str:
        from cryptography.fernet import Fernet

        token = Fernet(self.key).encrypt(text.encode("utf-8")).decode("ascii")
        return f"{ENCRYPTED_HEADER}\n{token}\n"

    def decrypt(self, text: str, *, path: Path, what: str) -> str:
        from cryptography.fernet import Fernet, InvalidToken

        token = text.split("\n", 1)[1].strip() if "\n" in text else ""
        try:
            return Fernet(self.key).decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretError(
                f"{what}: {path} cannot be decrypted with the key in {self.path}"
                " (another key, or a damaged file)",
                hint="put back the key it was written with, or run `syncd accounts auth`"
                " again to make a new token file",
            ) from None


def new_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def is_encrypted(text: str) -> bool:
    return text.startswith(ENCRYPTED_HEADER)


def read_token_file(path: Path, *, what: str, key: TokenKey | None) -> str:
    """A token file's text, decrypted when it is encrypted; plain files are read as they are."""
    text = read_secret_file(path, what=what)
    if not is_encrypted(text):
        return text
    if key is None:
        raise SecretError(
            f"{what}: {path} is encrypted, but no [secrets] key_file is configured",
            hint="set [secrets] key_file to the key it was written with (docs/secrets.md)",
        )
    value = key.decrypt(text, path=path, what=what)
    _register(value)
    return value


def write_token_file(path: Path, text: str, *, what: str, key: TokenKey | None) -> None:
    """Write a token file (0600), encrypted when a key is configured."""
    write_secret_file(path, key.encrypt(text) if key else text, what=what)
