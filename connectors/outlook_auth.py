"""Microsoft identity for syncd (msal): the scopes each feature needs, the msal application
of an account, its token cache, and the HTTP client msal talks through.

Delegated scopes, least privilege per feature (docs/outlook.md explains each):

=========  ==========================  ============================================
feature    scope                       allows
=========  ==========================  ============================================
mail       Mail.ReadBasic              message properties and header fields, never
                                       bodies, attachments or extended properties
drafts     Mail.ReadWrite              create drafts, find ours by their key, delete
                                       the untouched ones
calendar   Calendars.Read              read events, attendees and their answers
holds      Calendars.ReadWrite         create tentative events; busy time
=========  ==========================  ============================================

msal adds ``offline_access openid profile`` itself (a refresh token and the account's
identity). Scopes name the Graph resource of the configured endpoint when it is one of
Microsoft's Graph hosts (national clouds included), Microsoft Graph otherwise (a proxy,
a test server).

Two ways to authorise:

- **device code** (delegated, the default): `syncd accounts auth NAME` prints a URL and a
  code, the user signs in on any machine, and msal's `SerializableTokenCache` (refresh
  and access tokens, the account) is written to a 0600 file by the core. Every later
  token comes from that cache, refreshed silently.
- **client credentials** (application permissions an administrator granted for the
  organisation's users): a client secret, scope ``<graph>/.default``, and the mailbox
  named by ``user`` (app-only tokens cannot say ``/me``).

msal refuses ``http://`` authorities; a test server serves TLS with its own CA, which the
account's ``ca_file`` names. Both msal and the Graph client verify against it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from connectors.http_retry import RetryPolicy, Transient, retry_after_seconds
from connectors.http_session import PinnedSession, ca_verify

logger = logging.getLogger(__name__)

# Their DEBUG output carries token requests and responses.
for _name in ("msal", "urllib3"):
    logging.getLogger(_name).setLevel(logging.WARNING)

AUTHORITY_HOST = "https://login.microsoftonline.com"
GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
GRAPH_RESOURCE = "https://graph.microsoft.com"
# Microsoft's Graph hosts, the global one and the national clouds'.
GRAPH_HOSTS = frozenset(
    {
        "graph.microsoft.com",
        "graph.microsoft.us",
        "dod-graph.microsoft.us",
        "microsoftgraph.chinacloudapi.cn",
        "graph.microsoft.de",
    }
)
# The tenant of personal Microsoft accounts (Outlook.com, Hotmail): getSchedule is not
# offered there.
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"

MAIL_READ = "Mail.ReadBasic"
MAIL_WRITE = "Mail.ReadWrite"
CALENDAR_READ = "Calendars.Read"
CALENDAR_WRITE = "Calendars.ReadWrite"

FEATURE_SCOPES: dict[str, tuple[str, ...]] = {
    "mail": (MAIL_READ,),
    "drafts": (MAIL_WRITE,),
    "calendar": (CALENDAR_READ,),
    "holds": (CALENDAR_WRITE,),
}
FEATURE_HELP = {
    "mail": "read message properties and header fields (never bodies or attachments)",
    "drafts": "create drafts (and remove the ones syncd made and you did not touch)",
    "calendar": "read your calendar's events and attendees' answers",
    "holds": "add tentative holds to your calendar, and read free/busy time",
}
# Errors at the token endpoint that no retry cures: the user must authorise again.
_TRANSIENT_TOKEN_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


def scope_resource(graph_endpoint: str) -> str:
    """The resource that scopes name: the Graph host's origin, or Microsoft Graph's."""
    parts = urlsplit(graph_endpoint)
    host = (parts.hostname or "").lower()
    return f"https://{host}" if host in GRAPH_HOSTS else GRAPH_RESOURCE


def scopes_for(features: Iterable[str]) -> list[str]:
    """The short scope names the features need, in a stable order."""
    wanted: dict[str, None] = {}
    chosen = set(features)
    for feature in ("mail", "drafts", "calendar", "holds"):
        if feature in chosen:
            wanted.update(dict.fromkeys(FEATURE_SCOPES[feature]))
    return list(wanted)


def qualified(scopes: Iterable[str], resource: str) -> list[str]:
    return [f"{resource}/{s}" for s in scopes]


def default_authority(tenant: str) -> str:
    return f"{AUTHORITY_HOST}/{tenant}"


class _TokenStatus(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.retry_after = status, retry_after


def _classify_identity(exc: BaseException) -> Transient | None:
    if isinstance(exc, _TokenStatus):
        return Transient(f"identity server HTTP {exc.status}", exc.retry_after)
    if isinstance(exc, requests.exceptions.SSLError):
        return None
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return Transient(type(exc).__name__)
    return None


class IdentityHttp:
    """The HTTP client msal uses: requests, with the shared retry policy in front.

    Connection errors, 429 and 5xx from the identity server are retried here, under
    msal, so msal's own throttling cache (it replays a 5xx for up to a minute) only ever
    sees the answer after our retries. What stays transient raises `SourceUnavailable`
    out of msal's call.
    """

    def __init__(self, verify: str | bool, retry: RetryPolicy, timeout: float = 60.0) -> None:
        self.session = PinnedSession(verify)
        self.retry = retry
        self.timeout = timeout

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)

        def once() -> requests.Response:
            r = self.session.request(method, url, **kwargs)
            if r.status_code == 429 or r.status_code >= 500:
                raise _TokenStatus(r.status_code, retry_after_seconds(r.headers.get("Retry-After")))
            return r

        return self.retry.call(once, classify=_classify_identity, what="Microsoft identity")

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._send("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self._send("POST", url, **kwargs)

    def close(self) -> None:
        self.session.close()


def instance_discovery(authority: str) -> bool:
    """msal's instance discovery (a request to Microsoft's global host) only for Microsoft's
    own login hosts; a proxy or a test server has no aliases to discover."""
    host = (urlsplit(authority).hostname or "").lower()
    return host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS


def make_app(
    *,
    client_id: str,
    authority: str,
    http: IdentityHttp,
    cache: msal.TokenCache | None = None,
    client_secret: str | None = None,
) -> msal.ClientApplication:
    """The msal application of an account: public (device code) or confidential."""
    common: dict[str, Any] = {
        "authority": authority,
        "http_client": http,
        "instance_discovery": instance_discovery(authority),
    }
    if cache is not None:
        common["token_cache"] = cache
    if client_secret is not None:
        return msal.ConfidentialClientApplication(
            client_id, client_credential=client_secret, **common
        )
    return msal.PublicClientApplication(client_id, **common)


def load_cache(text: str | None) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    if text:
        try:
            cache.deserialize(text)
        except ValueError as exc:
            raise ValueError(f"the token cache is not msal's JSON ({exc})") from None
    return cache


def token_error(result: dict[str, Any]) -> tuple[str, str, bool]:
    """(error, description without the trace and correlation ids, transient?) of a token
    response msal returned."""
    error = str(result.get("error") or "unknown_error")
    text = str(result.get("error_description") or "")
    first = text.splitlines()[0] if text else ""
    codes = result.get("error_codes") or []
    if codes and not first.startswith("AADSTS"):
        first = f"AADSTS{codes[0]}: {first}".strip(": ")
    return error, first[:300], error in _TRANSIENT_TOKEN_ERRORS


def device_flow(
    app: msal.PublicClientApplication,
    scopes: list[str],
    *,
    show: Callable[[str, str, str], None],
) -> dict[str, Any]:
    """Run the device code flow: `show(url, code, message)`, then wait for the sign-in.

    Returns msal's token response (``access_token`` on success, ``error`` otherwise).
    """
    flow = app.initiate_device_flow(scopes=scopes)
    if "user_code" not in flow:
        error, text, _ = token_error(flow)
        raise ValueError(f"the identity server refused to start a device login: {error} {text}")
    show(
        str(flow.get("verification_uri") or flow.get("verification_url") or ""),
        str(flow["user_code"]),
        str(flow.get("message") or ""),
    )
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow)
    return result


__all__ = [
    "CALENDAR_READ",
    "CALENDAR_WRITE",
    "CONSUMER_TENANT",
    "FEATURE_HELP",
    "FEATURE_SCOPES",
    "GRAPH_ENDPOINT",
    "MAIL_READ",
    "MAIL_WRITE",
    "IdentityHttp",
    "ca_verify",  # re-exported: its home is connectors.http_session
    "default_authority",
    "device_flow",
    "load_cache",
    "make_app",
    "qualified",
    "scope_resource",
    "scopes_for",
    "token_error",
]
