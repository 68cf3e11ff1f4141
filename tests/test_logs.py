"""Log lines: fields printed in text and JSON, and registered secrets scrubbed from both."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.logs import REDACTED, register_secret, setup_logging
from syncd.secrets import read_secret_file


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    setup_logging(logging.DEBUG, fmt, out)  # type: ignore[arg-type]
    return logging.getLogger("syncd.test"), out


def test_text_lines_carry_the_event_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")  # journald stamps the time itself
    log, out = _capture("text")
    log.warning(
        "sync.stream.failed", extra={"account": "work", "stream": "INBOX", "error": "no route"}
    )
    assert out.getvalue().strip() == (
        'WARNING syncd.test sync.stream.failed account=work stream=INBOX error="no route"'
    )


def test_json_lines_are_one_object_each() -> None:
    log, out = _capture("json")
    log.info("sync.batch.stored", extra={"stream": "INBOX", "items": 2000})
    doc = json.loads(out.getvalue())
    assert doc["event"] == "sync.batch.stored" and doc["level"] == "info"
    assert doc["stream"] == "INBOX" and doc["items"] == 2000 and doc["logger"] == "syncd.test"


def test_registered_secrets_never_reach_a_line(tmp_path: Path) -> None:
    register_secret("hunter2-is-a-password")
    token_file = tmp_path / "token.json"
    token_file.write_text(
        json.dumps(
            {
                "refresh_token": "1//0refresh-token-value-xyz",
                "client_secret": "GOCSPX-secret-value",
                "token_uri": "https://oauth2.example.test/token",
            }
        )
    )
    token_file.chmod(0o600)
    read_secret_file(token_file, what="test token")
    for fmt in ("text", "json"):
        log, out = _capture(fmt)
        log.error(
            "login failed for hunter2-is-a-password",
            extra={"error": "bad refresh 1//0refresh-token-value-xyz / GOCSPX-secret-value"},
        )
        logging.getLogger("imapclient.imaplib").debug("> LOGIN alex hunter2-is-a-password")
        text = out.getvalue()
        assert "hunter2-is-a-password" not in text
        assert "1//0refresh-token-value-xyz" not in text and "GOCSPX-secret-value" not in text
        assert text.count(REDACTED) == 4
    # URLs in token files are not secrets and stay readable.
    log, out = _capture("text")
    log.info("auth.endpoint", extra={"url": "https://oauth2.example.test/token"})
    assert "https://oauth2.example.test/token" in out.getvalue()


def test_text_lines_start_with_the_time_unless_journald_stamps_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    log, out = _capture("text")
    log.warning("daemon.account.failing", extra={"account": "work"})
    stamp, rest = out.getvalue().strip().split(" ", 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp), stamp
    assert rest == "WARNING syncd.test daemon.account.failing account=work"
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    log, out = _capture("text")
    log.warning("daemon.account.failing", extra={"account": "work"})
    assert out.getvalue().startswith("WARNING syncd.test")


def test_the_daemons_start_and_passes_show_at_the_default_level() -> None:
    out = io.StringIO()
    setup_logging(logging.WARNING, "json", out)
    logging.getLogger("syncd.daemon").info("daemon.pass.done", extra={"new": 3})
    logging.getLogger("syncd.sync").info("sync.stream.done")
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["daemon.pass.done"]
    setup_logging(logging.DEBUG, "json", out)
    assert logging.getLogger("syncd.daemon").getEffectiveLevel() == logging.DEBUG
