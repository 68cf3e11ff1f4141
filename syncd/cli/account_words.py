"""What `syncd accounts status` shows beside the raw state: each health word explained (for
its --help) and the last error with its age, so the reason of a `failing` is in the table."""

from __future__ import annotations

from datetime import datetime

HEALTH_HELP = """\b
health of an account or stream:
  healthy     synced, and the last reconciliation (a comparison of the provider's
              ids with the store, `syncd accounts reconcile`) found nothing missing
  unverified  synced without error, but no recent reconciliation proves it complete
              (the normal state until `syncd run` has reconciled it; see
              [daemon] reconcile_interval)
  behind      the last reconciliation found items missing that no sync has fetched yet
  failing     the last sync failed: the error column says why and how long ago
\b
state of an account: ok; failing (its last sync failed); needs_reauth (its credentials
were refused: gmail and outlook need `syncd accounts auth NAME`, imap a correct password);
never synced."""


def ago(at: datetime | None, now: datetime) -> str:
    """``"5m ago"``, ``"3h ago"``, ``"2d ago"`` (empty when unknown)."""
    if at is None:
        return ""
    seconds = max(0, int((now - at).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def error_cell(error: str | None, at: str | None, now: datetime) -> str:
    """The error of a row with its age, ``"(2h ago) IMAP host: login ... refused: ..."``."""
    if not error:
        return ""
    when = ago(datetime.fromisoformat(at.replace("Z", "+00:00")), now) if at else ""
    return f"({when}) {error}" if when else error
