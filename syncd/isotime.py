"""`iso(value)`: the one spelling of a time in JSON and tables, `YYYY-MM-DDTHH:MM:SSZ`;
`naive_utc(value)`: an instant as the store's columns hold it.

Its own module, so that `syncd plan --json` can write times without importing the SQL
expressions of syncd/store/sqltime.py (and SQLAlchemy with them)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC to the second (`2026-11-25T12:00:00Z`), None for None."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def naive_utc(value: datetime) -> datetime:
    """The naive UTC the store's instant columns hold (syncd/store/models.py, `UTCDateTime`)."""
    return value.astimezone(UTC).replace(tzinfo=None)
