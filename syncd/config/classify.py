"""The ``[classify]`` config section: a user's additions to the classifier's sender data.

The shipped data (``syncd/data/senders.toml``) knows the big services; a user adds the
senders only they get (an employer's HR system, a building's intercom, a school portal).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from syncd.ingest.classify import ClassifyOptions

_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
_LOCAL = re.compile(r"[a-z0-9][a-z0-9._+-]*")


class ClassifySettings(BaseModel):
    """What the classifier should also treat as machine mail."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sending_domains: list[str] = Field(
        default=[],
        description="Domains (subdomains included) that only send machine mail: mail From"
        " them is a notification, and never a counterpart.",
    )
    machine_local_parts: list[str] = Field(
        default=[],
        description="Local parts no person reads (matched whole or as a '-', '_', '.', '+'"
        ' separated part: "hr-portal" matches hr-portal@ and acme.hr-portal@).',
    )

    @field_validator("sending_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = [d.strip().lower().strip(".") for d in value]
        bad = [d for d in out if not _DOMAIN.fullmatch(d)]
        if bad:
            raise ValueError(f"not a domain: {bad[0]!r}")
        return out

    @field_validator("machine_local_parts")
    @classmethod
    def _locals(cls, value: list[str]) -> list[str]:
        out = [p.strip().lower() for p in value]
        bad = [p for p in out if not _LOCAL.fullmatch(p)]
        if bad:
            raise ValueError(f"not a local part: {bad[0]!r}")
        return out

    def options(self, max_group_size: int) -> ClassifyOptions:
        """The classifier options for these settings."""
        # Here, not at the top: loading the config (every command does) needs no classifier.
        from syncd.ingest.classify import ClassifyOptions
        from syncd.ingest.classify_data import default_sender_data

        data = default_sender_data().extended(self.sending_domains, self.machine_local_parts)
        return ClassifyOptions(max_group_size=max_group_size, senders=data)


__all__ = ["ClassifySettings"]
