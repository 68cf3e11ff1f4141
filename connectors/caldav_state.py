"""The state a CalDAV calendar source keeps and parses, apart from its requests: the settings,
a calendar, the cursor and its serialisation, and the parse of one calendar object under the
recurrence limits. Shared by `connectors.caldav` and `connectors.caldav_reconcile`, which
would otherwise import each other.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.base import CursorExpired, RawEvent
from connectors.caldav_xml import DavObject
from connectors.ical import DEFAULT_LIMITS, IcsFileError, RecurrenceLimits, parse_ics

logger = logging.getLogger("connectors.caldav")

CURSOR_VERSION = 1
MULTIGET_CHUNK = 500


@dataclass(frozen=True)
class CalDavSettings:
    url: str
    username: str
    password: str
    calendar: str | None = None  # display name or URL path; None: read all, hold in first
    ca_file: str | None = None
    timeout: float = 30.0
    lookback: timedelta = timedelta(days=365)
    horizon: timedelta = timedelta(days=90)
    batch_size: int = 500
    limits: RecurrenceLimits = DEFAULT_LIMITS
    owner: frozenset[str] = frozenset()  # the owner's addresses: their invitations


@dataclass(frozen=True, slots=True)
class _Calendar:
    url: str
    path: str
    display_name: str | None


@dataclass(slots=True)
class _Cursor:
    token: str
    window_end: datetime
    upcoming: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def dump(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "token": self.token,
                "window_end": self.window_end.isoformat(),
                "upcoming": {h: [list(e) for e in up] for h, up in self.upcoming.items() if up},
            },
            separators=(",", ":"),
            sort_keys=True,
        )


def _parse(
    obj: DavObject,
    start: datetime,
    end: datetime,
    calendar: str,
    settings: CalDavSettings,
    budget: int | None = None,
) -> tuple[list[RawEvent], int]:
    """The object's instances in the window, and how many of them recurring series made."""
    assert obj.data is not None
    try:
        parsed = parse_ics(
            obj.data,
            window_start=start,
            window_end=end,
            calendar=calendar,
            relpath=obj.href,
            limits=settings.limits,
            owner=settings.owner,
            budget=budget,
        )
    except IcsFileError as exc:
        logger.warning("caldav.object.skipped", extra={"href": obj.href, "reason": str(exc)})
        return [], 0
    return parsed.events, parsed.expanded


def _load_cursor(cursor: str) -> _Cursor:
    try:
        data = json.loads(cursor)
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise ValueError("unknown cursor version")
        token = data["token"]
        window_end = datetime.fromisoformat(data["window_end"])
        if not isinstance(token, str) or window_end.tzinfo is None:
            raise ValueError("bad token or window end")
        upcoming = {
            str(href): [(str(pid), int(start)) for pid, start in entries]
            for href, entries in dict(data.get("upcoming", {})).items()
        }
    except (ValueError, TypeError, KeyError) as exc:
        raise CursorExpired(f"unreadable CalDAV cursor: {exc}") from exc
    return _Cursor(token=token, window_end=window_end, upcoming=upcoming)
