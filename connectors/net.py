"""Network helpers shared by connectors (pure: no socket is opened)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether `host` is ``localhost`` or a loopback address (127.0.0.0/8, ::1).

    Other names are not resolved: a name that resolves to a loopback address today may not
    tomorrow, so only the literal forms count.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
