"""Log output: one line per event, as text or JSON, with the event's fields; secrets scrubbed.

syncd logs events, not sentences: the message is a dotted name (``sync.stream.failed``) and
the facts go in ``extra`` (``account``, ``stream``, ``error``, counts). The text format
prints them as ``key=value`` after the time, level and name; the JSON format prints one
object per line for a log shipper. Either way the account and stream of an event are
fields, so they can be filtered on.

Every secret syncd reads (a password file, a password from the environment, a token) is
registered with `register_secret`, and every line is scrubbed of registered secrets before
it is written, whoever logs it (a library's debug output included). That is the second line
of defence: the first is that syncd never passes secrets, tokens or message bodies to a
logger, which an end-to-end test checks by capturing every line of a run.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

# The attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)
_MIN_SECRET = 6  # shorter values would scrub ordinary words
REDACTED = "[redacted]"

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Scrub `value` from every log line from now on."""
    value = value.strip()
    if len(value) >= _MIN_SECRET:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    if not _secrets:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL logger event key=value ...``, values with spaces quoted. The time (UTC,
    ISO 8601) is left out under journald (`$JOURNAL_STREAM` set), which stamps every line."""

    def __init__(self, timestamps: bool | None = None) -> None:
        super().__init__()
        self.timestamps = "JOURNAL_STREAM" not in os.environ if timestamps is None else timestamps

    def format(self, record: logging.LogRecord) -> str:
        parts = [record.levelname, record.name, record.getMessage()]
        if self.timestamps:
            when = datetime.fromtimestamp(record.created, UTC)
            parts.insert(0, when.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        for key, value in fields_of(record).items():
            text = str(_plain(value))
            if not text or any(c in text for c in ' "=\n'):
                text = json.dumps(text, ensure_ascii=False)
            parts.append(f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return scrub(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in fields_of(record).items():
            doc.setdefault(key, _plain(value))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(doc, ensure_ascii=False))


def setup_logging(level: int, fmt: LogFormat = "text", stream: TextIO | None = None) -> None:
    """Route every logger to `stream` (stderr) in `fmt`, replacing earlier handlers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # At the default level (warnings) the daemon still says that it started and what each
    # pass did: one line each, so a quiet log means a quiet daemon, not a dead one.
    daemon = logging.getLogger("syncd.daemon")
    daemon.setLevel(logging.INFO if level > logging.INFO else logging.NOTSET)
