"""The CA-pinned requests session both HTTP connector layers (Google, Graph) use.

requests lets the environment (``REQUESTS_CA_BUNDLE``) override a session's `verify`; a
`PinnedSession` keeps the configured CA file instead, while proxies from the environment
still apply. `ca_verify` says what to verify against: the configured CA file, the
environment's bundle, or the one requests ships.
"""

from __future__ import annotations

import os
from typing import Any

import requests


def ca_verify(ca_file: str | None) -> str | bool:
    """What requests should verify against: the configured CA, the environment's, or
    the bundled one."""
    env = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    return ca_file or env or True


class PinnedSession(requests.Session):
    """A session whose configured CA file wins over REQUESTS_CA_BUNDLE (requests lets the
    environment override a session's `verify`; proxies from the environment still apply)."""

    def __init__(self, verify: str | bool) -> None:
        super().__init__()
        self.verify = verify

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if isinstance(self.verify, str):
            settings["verify"] = self.verify
        return settings


__all__ = ["PinnedSession", "ca_verify"]
