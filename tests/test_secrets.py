"""Secret files must be 0600 (or 0400) and the user's own; syncd refuses anything else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncd.errors import SecretError
from syncd.secrets import TokenKey, read_secret, read_secret_file
from tests.conftest import required


def test_a_private_file_is_read(tmp_path: Path) -> None:
    f = tmp_path / "pass"
    f.write_text("s3cret\n")
    f.chmod(0o600)
    assert read_secret_file(f, what="account a") == "s3cret"
    f.chmod(0o400)
    assert read_secret(f, None, what="account a") == "s3cret"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    f = tmp_path / "pass"
    f.write_text("s3cret")
    f.chmod(mode)
    with pytest.raises(SecretError) as exc:
        read_secret_file(f, what="account a")
    message = str(exc.value)
    assert f"chmod 600 {f}" in message and "s3cret" not in message


def test_missing_empty_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SecretError, match="does not exist"):
        read_secret_file(tmp_path / "nope", what="x")
    empty = tmp_path / "empty"
    empty.write_text("")
    empty.chmod(0o600)
    with pytest.raises(SecretError, match="is empty"):
        read_secret_file(empty, what="x")
    monkeypatch.setenv("SYNCD_TEST_PW", "from-env")
    assert read_secret(None, "SYNCD_TEST_PW", what="x") == "from-env"
    monkeypatch.delenv("SYNCD_TEST_PW")
    with pytest.raises(SecretError, match="SYNCD_TEST_PW"):
        read_secret(None, "SYNCD_TEST_PW", what="x")


def test_a_file_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.getuid() != 0:
        if required("root"):
            pytest.fail(
                "only root can give a file to another user (SYNCD_REQUIRE_SERVICES names root)"
            )
        pytest.skip("only root can give a file to another user")
    f = tmp_path / "pass"
    f.write_text("s3cret")
    f.chmod(0o600)
    os.chown(f, 65534, 65534)
    with pytest.raises(SecretError, match="belongs to another user"):
        read_secret_file(f, what="x")


# --- encryption at rest of token files, and systemd credentials ---


def _key(tmp_path: Path, name: str = "k") -> TokenKey:
    from syncd.secrets import TokenKey, new_key

    path = tmp_path / name
    path.write_text(new_key() + "\n")
    path.chmod(0o600)
    return TokenKey.load(path)


def test_a_token_file_round_trips_encrypted_and_plain_files_are_still_read(
    tmp_path: Path,
) -> None:
    from syncd.secrets import read_token_file, write_token_file

    key = _key(tmp_path)
    doc = '{"refresh_token": "1//0abcdefghijklmnopqrstuvwxyz"}'
    f = tmp_path / "work.json"
    write_token_file(f, doc, what="account work credentials", key=key)
    stored = f.read_text()
    assert stored.startswith("syncd-encrypted: fernet\n") and "refresh_token" not in stored
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    assert read_token_file(f, what="x", key=key) == doc
    plain = tmp_path / "plain.json"
    write_token_file(plain, doc, what="x", key=None)
    assert read_token_file(plain, what="x", key=key) == doc  # turning encryption on: no flag day


def test_a_wrong_or_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    from syncd.secrets import read_token_file, write_token_file

    f = tmp_path / "m365.json"
    write_token_file(f, '{"AccessToken": {}}', what="x", key=_key(tmp_path, "a"))
    other = _key(tmp_path, "b")
    with pytest.raises(SecretError, match=r"cannot be decrypted with the key in .*/b"):
        read_token_file(f, what="account m365 token cache", key=other)
    with pytest.raises(SecretError, match="encrypted, but no \\[secrets\\] key_file"):
        read_token_file(f, what="account m365 token cache", key=None)


def test_a_key_file_that_is_no_key_says_how_to_make_one(tmp_path: Path) -> None:
    from syncd.secrets import TokenKey

    bad = tmp_path / "k"
    bad.write_text("not a key")
    bad.chmod(0o600)
    with pytest.raises(SecretError, match="syncd secrets keygen"):
        TokenKey.load(bad)


def test_systemd_credentials_are_accepted_as_systemd_makes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0400, or 0440 when an ACL grants the service user read access; root's or ours."""
    creds = tmp_path / "credentials"
    creds.mkdir()
    f = creds / "imap.pass"
    f.write_text("pw-from-systemd")
    f.chmod(0o440)
    with pytest.raises(SecretError, match="chmod 600"):
        read_secret_file(f, what="x")  # outside $CREDENTIALS_DIRECTORY: the usual rule
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert read_secret_file(f, what="x") == "pw-from-systemd"
    f.chmod(0o444)
    with pytest.raises(SecretError, match="LoadCredential"):
        read_secret_file(f, what="x")


def test_credentials_directory_in_a_configured_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncd.config import load_config
    from tests.util import write_config

    body = (
        '[[accounts]]\nname = "m"\nkind = "imap"\nhost = "127.0.0.1"\nusername = "u"\n'
        'password_file = "${CREDENTIALS_DIRECTORY}/imap.pass"\n'
    )
    cfg = write_config(tmp_path / "c.toml", body)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    acc = load_config(cfg).settings.accounts[0]
    with pytest.raises(SecretError, match="CREDENTIALS_DIRECTORY is not set"):
        read_secret_file(acc.password_file, what="account m")  # type: ignore[union-attr, arg-type]
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    acc = load_config(cfg).settings.accounts[0]
    assert acc.password_file == tmp_path / "creds" / "imap.pass"  # type: ignore[union-attr]


def test_keygen_and_encrypt_convert_the_token_files(tmp_path: Path) -> None:
    from tests.util import run_cli, write_config

    state = tmp_path / "state"
    token = state / "credentials" / "work.json"
    token.parent.mkdir(parents=True)
    token.write_text('{"refresh_token": "1//secret-refresh-token-value"}')
    token.chmod(0o600)
    key = tmp_path / "syncd.key"
    cfg = write_config(
        tmp_path / "c.toml",
        f'[secrets]\nkey_file = "{key}"\n[[accounts]]\nname = "work"\nkind = "gmail"\n',
    )
    env = {"SYNCD_STATE_DIR": str(state)}
    run_cli("secrets", "keygen", str(key), env=env, check=True)
    assert key.stat().st_mode & 0o777 == 0o600
    again = run_cli("secrets", "keygen", str(key), env=env)
    assert again.returncode == 1 and "never overwrites" in again.stderr
    out = run_cli("--config", str(cfg), "secrets", "encrypt", env=env, check=True).stdout
    assert "1 token file(s) encrypted" in out
    assert token.read_text().startswith("syncd-encrypted: fernet")
    out = run_cli("--config", str(cfg), "secrets", "encrypt", env=env, check=True).stdout
    assert "0 token file(s) encrypted" in out
