"""`syncd secrets keygen PATH` and `syncd secrets encrypt`: encryption at rest of the token
files syncd writes (docs/secrets.md). Registered on `syncd.cli.root.cli`."""

from __future__ import annotations

from pathlib import Path

import click

from syncd.cli.app import App, pass_app
from syncd.errors import ConfigError, SecretError
from syncd.secrets import is_encrypted, new_key, read_token_file, write_secret_file
from syncd.sync.connect import secret_files, token_key


@click.group()
def secrets() -> None:
    """Encrypt the token files syncd writes (Google credentials, msal token caches)."""


@secrets.command("keygen")
@click.argument("path", type=click.Path(path_type=Path))
def secrets_keygen(path: Path) -> None:
    """Write a new Fernet key to PATH (mode 0600); set [secrets] key_file to it."""
    if path.exists():
        raise SecretError(f"{path} exists: syncd never overwrites a key (its files need it)")
    write_secret_file(path, new_key() + "\n", what="the token encryption key")
    click.echo(f"wrote a new key to {path}; set [secrets] key_file and run: syncd secrets encrypt")


@secrets.command("encrypt")
@pass_app
def secrets_encrypt(app: App) -> None:
    """Encrypt every plain token file of the configured accounts with [secrets] key_file."""
    key = token_key(app.config)
    if key is None:
        raise ConfigError("no [secrets] key_file in the config: nothing to encrypt with")
    done = 0
    for item in secret_files(app.config):
        if not item.what.endswith(("credentials", "token cache")) or not item.path.exists():
            continue
        text = item.path.read_text(encoding="utf-8")
        if is_encrypted(text):
            continue
        plain = read_token_file(item.path, what=item.what, key=key)  # checks the file too
        write_secret_file(item.path, key.encrypt(plain), what=item.what)
        click.echo(f"encrypted {item.what}: {item.path}")
        done += 1
    click.echo(f"{done} token file(s) encrypted")
