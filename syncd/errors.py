"""Errors syncd raises on purpose. The CLI prints each as one line with its remedy.

::

    SyncdError                    base of every error meant for the user
    ├── ConfigError               the config file is missing, unreadable or invalid
    ├── StoreError                the store cannot be opened or is not migrated
    ├── NotFound                  a contact, account or action named on the command line
    ├── InputError                a file given on the command line cannot be read
    └── SecretError               a secret file is missing or readable by others

Anything else that escapes is a bug: the CLI prints it with a traceback.
"""

from __future__ import annotations


class SyncdError(Exception):
    """An error the user can act on; `hint` says how."""

    hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ConfigError(SyncdError):
    hint = "fix the config file (config.example.toml documents every key)"


class StoreError(SyncdError):
    hint = "run `syncd init` to create or migrate the store"


class NotFound(SyncdError):
    pass


class InputError(SyncdError):
    pass


class SecretError(SyncdError):
    hint = "chmod 600 the file and make it owned by the user syncd runs as"
