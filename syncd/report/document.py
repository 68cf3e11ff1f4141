"""`syncd report`: the network measures of a period assembled into one document.

The measures themselves are SQL (`syncd.store.report_measures`, whose docstring gives the rules;
docs/report.md explains them for the user); this module puts their few rows together
into the JSON document that `syncd report --json` prints and the terminal and HTML forms
show, and formats figures for reading.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from syncd.isotime import iso
from syncd.store.report_measures import (
    ContactStates,
    ReportParams,
    Responses,
    active_network,
    contact_states,
    empty_response,
    interactions_by_month,
    month_ends,
    rate,
    responses,
    staged,
    tier_activity,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["ReportParams", "build_report", "default_since", "month_ends"]

DAY = 86400.0
AVG_MONTH_DAYS = 365.25 / 12


# --- the whole report -------------------------------------------------------------------------


def build_report(session: Session, owner_id: int, p: ReportParams) -> dict[str, Any]:
    """Every measure, as the JSON document `syncd report --json` prints."""
    ends = month_ends(p.since, p.now)
    with staged(session, owner_id, p):
        by_month = interactions_by_month(session)
        both_ways = responses(session, p)
        active = active_network(session, p, ends)
        activity = tier_activity(session, p)
        states = contact_states(session, owner_id, p)
    sent, received = both_ways["out"], both_ways["in"]

    months: list[dict[str, Any]] = []
    previous: int | None = None
    for m, end in ends:
        counts = by_month.get(m, {"in": 0, "out": 0, "mutual": 0, "total": 0, "two_way": 0})
        a = active[m]
        months.append(
            {
                "month": m,
                "end": iso(end),
                **counts,
                "two_way_share": rate(counts["two_way"], counts["total"]),
                "active_network": a,
                "active_change": None if previous is None else a - previous,
                "sent_response": sent.by_month.get(m, empty_response()),
                "received_response": received.by_month.get(m, empty_response()),
            }
        )
        previous = a
    total = sum(c["total"] for c in by_month.values())
    two_way = sum(c["two_way"] for c in by_month.values())
    days = max((p.now - p.since).total_seconds() / DAY, 1.0)
    first, last = (months[0]["active_network"], months[-1]["active_network"]) if months else (0, 0)
    return {
        "generated_at": iso(p.now),
        "since": iso(p.since),
        "until": iso(p.now),
        "settings": {
            "reply_within_days": p.reply_days,
            "active_window_days": p.active_days,
            "dormant_after_days": p.dormant_days,
        },
        "interactions": {
            "total": total,
            "in": sum(c["in"] for c in by_month.values()),
            "out": sum(c["out"] for c in by_month.values()),
            "mutual": sum(c["mutual"] for c in by_month.values()),
            "per_week": round(total / days * 7, 2),
            "per_month": round(total / days * AVG_MONTH_DAYS, 2),
            "two_way": two_way,
            "two_way_share": rate(two_way, total),
        },
        "response": {"sent": sent.overall, "received": received.overall},
        "active_network": {
            "window_days": p.active_days,
            "current": last,
            "at_start": first,
            "growth": last - first,
            "growth_pct": round(100 * (last - first) / first, 1) if first else None,
        },
        "overdue": sum(t["overdue"] for t in states.by_tier.values()),
        "dormant": sum(t["dormant"] for t in states.by_tier.values()),
        "months": months,
        "tiers": _tiers(p, days, activity, states, sent, received),
        "neglected": states.neglected,
    }


def _tiers(
    p: ReportParams,
    days: float,
    activity: dict[str | None, dict[str, int]],
    states: ContactStates,
    sent: Responses,
    received: Responses,
) -> list[dict[str, Any]]:
    names: list[str | None] = list(p.tiers)
    seen = set(names)
    extra = {t for t in (*activity, *states.by_tier) if t not in seen and t is not None}
    names += sorted(extra)
    names.append(None)
    out = []
    for tier in names:
        act = activity.get(tier, {"interactions": 0, "two_way": 0, "contacts_reached": 0})
        st = states.by_tier.get(tier, {"contacts": 0, "overdue": 0, "dormant": 0})
        if tier is None and not st["contacts"] and not act["interactions"]:
            continue
        contacts = st["contacts"]
        per = act["interactions"] / contacts / (days / AVG_MONTH_DAYS) if contacts else None
        out.append(
            {
                "tier": tier,
                "cadence_days": p.tiers.get(tier) if tier is not None else None,
                "contacts": contacts,
                "contacts_reached": act["contacts_reached"],
                "interactions": act["interactions"],
                "per_contact_per_month": None if per is None else round(per, 3),
                "two_way": act["two_way"],
                "two_way_share": rate(act["two_way"], act["interactions"]),
                "sent_response": sent.by_tier.get(tier, empty_response()),
                "received_response": received.by_tier.get(tier, empty_response()),
                "overdue": st["overdue"],
                "dormant": st["dormant"],
            }
        )
    return out


def default_since(now: datetime, months: int = 12) -> datetime:
    """The first day of the month `months - 1` months before now's (UTC): `months` months."""
    y, m = now.year, now.month - (months - 1)
    while m <= 0:
        y, m = y - 1, m + 12
    return datetime(y, m, 1, tzinfo=UTC)


# --- how figures read (the terminal and the HTML page) -------------------------------------


def format_rate(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.0f}%"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_answered(r: dict[str, Any]) -> str:
    return f"{format_rate(r['rate'])} ({r['answered']}/{r['messages']})"
