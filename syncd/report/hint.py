"""The one line `syncd report` adds when its period is empty but the store has older mail:
an all-zero report of an old mailbox otherwise looks like a broken one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from syncd.store.overview import newest_interaction_before

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def older_mail_hint(session: Session, owner_id: int, doc: dict[str, Any]) -> str | None:
    """``"nothing between ...; the newest interaction is from ...: try --since ..."``."""
    if doc["interactions"]["total"]:
        return None
    since = datetime.fromisoformat(doc["since"].replace("Z", "+00:00"))
    newest = newest_interaction_before(session, owner_id, since)
    if newest is None:
        return None
    # The twelve months up to the newest mail, from the first of a month.
    start = (newest.replace(day=1) - timedelta(days=334)).replace(day=1).date().isoformat()
    return (
        f"no interactions between {doc['since'][:10]} and {doc['until'][:10]}; the newest is"
        f" from {newest.date().isoformat()}: try --since {start}"
    )
