"""Which families of header names a message carries, answered once per set of names.

Mail from one program carries the same header names every time, so `families_of` keeps
its answer per (names, sender data) in a bounded cache; the rules in
`syncd.ingest.classify_rules` read the result instead of scanning every name per message.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from syncd.ingest.classify_data import SenderData

__all__ = ["Families", "families_of"]


@dataclass(frozen=True, slots=True)
class Families:
    """Header names of the families the rules look for, in header order."""

    platform: tuple[str, ...]
    sympa: bool
    esp: tuple[str, ...]
    campaign: tuple[str, ...]  # the esp names of a campaign tool
    commerce: bool
    newsletter: bool
    verdicts: bool  # a receiving server's spam verdict headers


_VERDICTS = frozenset(
    {
        "x-spam-flag",
        "x-spam-status",
        "x-spam",
        "x-ms-exchange-organization-scl",
        "x-forefront-antispam-report",
    }
)


def families(names: tuple[str, ...], data: SenderData) -> Families:
    esp = tuple(n for n in names if n.startswith(data.esp_headers))
    return Families(
        verdicts=not _VERDICTS.isdisjoint(names),
        platform=tuple(n for n in names if n.startswith(data.platform_headers)),
        sympa=any(n.startswith("x-sympa") for n in names),
        esp=esp,
        campaign=tuple(n for n in esp if n.startswith(("x-campaign", "x-mailchimp"))),
        commerce=any(n.startswith(data.commerce_headers) for n in names),
        newsletter=any(n.startswith(data.newsletter_headers) for n in names),
    )


@lru_cache(maxsize=4096)
def families_of(names: tuple[str, ...], data: SenderData) -> Families:
    """Scanning every header name against every family was a tenth of classifying; mail
    from one program carries the same set of names, so the answer is kept per set."""
    return families(names, data)
