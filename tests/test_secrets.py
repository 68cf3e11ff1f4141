"""Secret files must be 0600 (or 0400) and the user's own; syncd refuses anything else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncd.errors import SecretError
from syncd.secrets import read_secret, read_secret_file


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
        pytest.skip("only root can give a file to another user")
    f = tmp_path / "pass"
    f.write_text("s3cret")
    f.chmod(0o600)
    os.chown(f, 65534, 65534)
    with pytest.raises(SecretError, match="belongs to another user"):
        read_secret_file(f, what="x")
