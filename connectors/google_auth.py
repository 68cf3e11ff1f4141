"""Google OAuth for syncd: the scopes each feature needs, stored credentials, and the
installed-app flow in the two forms that work on a headless server.

Scopes, least privilege per feature (docs/google.md explains each):

=========  =====================================================  ======================
feature    scope                                                  allows
=========  =====================================================  ======================
mail       gmail.metadata                                         labels and header fields
drafts     gmail.compose                                          create, list, delete drafts
calendar   calendar.events.readonly                               read events and attendees
holds      calendar.events.owned, calendar.freebusy               write own events; busy time
=========  =====================================================  ======================

The credentials are google-auth's "authorized user" JSON (client id and secret, refresh
token, token URI, granted scopes). The core reads and writes the file (0600); this module
only turns its text into `Credentials` and back.

The flow (google-auth-oauthlib's `InstalledAppFlow`, with PKCE) redirects to a loopback
address. On a headless server either
- `paste_flow`: the user opens the printed URL on any machine, consents, and pastes back
  the address the browser was sent to (the page itself fails to load: nothing listens
  there) or just its ``code``; or
- `loopback_flow`: syncd listens on 127.0.0.1:PORT and the user forwards that port with
  ``ssh -L PORT:127.0.0.1:PORT server`` before opening the URL.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.oauth2.credentials import Credentials

from connectors.base import AuthFailed

GMAIL_METADATA = "https://www.googleapis.com/auth/gmail.metadata"
GMAIL_COMPOSE = "https://www.googleapis.com/auth/gmail.compose"
CALENDAR_READ = "https://www.googleapis.com/auth/calendar.events.readonly"
CALENDAR_OWNED = "https://www.googleapis.com/auth/calendar.events.owned"
CALENDAR_FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"

FEATURE_SCOPES: dict[str, tuple[str, ...]] = {
    "mail": (GMAIL_METADATA,),
    "drafts": (GMAIL_COMPOSE,),
    "calendar": (CALENDAR_READ,),
    "holds": (CALENDAR_OWNED, CALENDAR_FREEBUSY),
}
FEATURE_HELP = {
    "mail": "read labels and header fields of your mail (never bodies)",
    "drafts": "create drafts (and remove the ones syncd made and you did not touch)",
    "calendar": "read your calendar's events and attendees' answers",
    "holds": "add tentative holds to calendars you own, and read free/busy time",
}
# Scopes that also grant a feature (a token made with a broader scope still works).
BROADER: dict[str, tuple[str, ...]] = {
    GMAIL_METADATA: (
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.modify",
        "https://mail.google.com/",
    ),
    GMAIL_COMPOSE: ("https://www.googleapis.com/auth/gmail.modify", "https://mail.google.com/"),
    CALENDAR_READ: (
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar.events",
        CALENDAR_OWNED,
        "https://www.googleapis.com/auth/calendar",
    ),
    CALENDAR_OWNED: (
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar",
    ),
    CALENDAR_FREEBUSY: (
        "https://www.googleapis.com/auth/calendar.readonly",
        "https://www.googleapis.com/auth/calendar",
    ),
}


def scopes_for(features: Iterable[str]) -> list[str]:
    """The scopes the features need, in a stable order."""
    wanted: dict[str, None] = {}
    for feature in ("mail", "drafts", "calendar", "holds"):
        if feature in set(features):
            wanted.update(dict.fromkeys(FEATURE_SCOPES[feature]))
    return list(wanted)


def has_scope(granted: Iterable[str] | None, scope: str) -> bool:
    """Whether `granted` covers `scope` (itself or a broader one). None: not known, yes."""
    if granted is None:
        return True
    have = set(granted)
    return scope in have or any(b in have for b in BROADER.get(scope, ()))


def load_credentials(text: str, *, token_uri: str, account: str) -> Credentials:
    """Credentials from an authorized-user JSON document; `token_uri` overrides its own."""
    try:
        info = json.loads(text)
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not info.get(k)]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
    except ValueError as exc:
        raise AuthFailed(
            f"account {account}: the stored Google credentials are unusable ({exc});"
            f" run `syncd accounts auth {account}`"
        ) from None
    scopes = info.get("scopes")
    if isinstance(scopes, str):
        scopes = scopes.split()
    return Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=info["refresh_token"],
        token_uri=token_uri,
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        scopes=scopes or None,
    )


def granted_scopes(credentials: Credentials) -> list[str] | None:
    scopes = credentials.granted_scopes or credentials.scopes
    return list(scopes) if scopes else None


def credentials_json(credentials: Credentials) -> str:
    """The authorized-user document to store: no access token, nothing short-lived."""
    doc = {
        "type": "authorized_user",
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "refresh_token": credentials.refresh_token,
        "token_uri": credentials.token_uri,
        "scopes": granted_scopes(credentials) or [],
    }
    return json.dumps(doc, indent=2) + "\n"


# ----------------------------------------------------------------------------- the flow


@dataclass(frozen=True)
class ClientConfig:
    """The OAuth client ("Desktop app") as downloaded from the Google Cloud console."""

    doc: dict[str, Any]

    @classmethod
    def parse(cls, text: str, *, token_uri: str) -> ClientConfig:
        try:
            data = json.loads(text)
            section = data.get("installed") or data.get("web")
            if not isinstance(section, dict):
                raise ValueError("no 'installed' section (create a Desktop app client)")
            for key in ("client_id", "client_secret", "auth_uri"):
                if not section.get(key):
                    raise ValueError(f"no {key}")
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"not an OAuth client secrets file: {exc}") from None
        section = {**section, "token_uri": token_uri}
        return cls({"installed": section})


def _allow_loopback_http(uri: str) -> None:
    """oauthlib refuses plain http; allow it for a token endpoint on this machine only."""
    host = urlsplit(uri).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if urlsplit(uri).scheme == "http" and loopback:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


def _flow(client: ClientConfig, scopes: list[str], redirect_uri: str) -> Any:
    from google_auth_oauthlib.flow import InstalledAppFlow

    _allow_loopback_http(client.doc["installed"]["token_uri"])
    flow = InstalledAppFlow.from_client_config(client.doc, scopes=scopes)
    flow.redirect_uri = redirect_uri
    return flow


def paste_flow(
    client: ClientConfig,
    scopes: list[str],
    *,
    port: int,
    show: Callable[[str], None],
    ask: Callable[[], str],
) -> Credentials:
    """Print the consent URL, read back the redirected address (or the code), get tokens."""
    flow = _flow(client, scopes, f"http://127.0.0.1:{port}/")
    url, state = flow.authorization_url(access_type="offline", prompt="consent")
    show(url)
    answer = ask().strip()
    if not answer:
        raise ValueError("nothing was pasted")
    code = answer
    if "://" in answer or answer.startswith("/?") or answer.startswith("?"):
        query = parse_qs(urlsplit(answer).query)
        if "error" in query:
            raise ValueError(f"Google said: {query['error'][0]}")
        if query.get("state", [state])[0] != state:
            raise ValueError("the pasted address belongs to another attempt (state differs)")
        if "code" not in query:
            raise ValueError("the pasted address has no code= in it")
        code = query["code"][0]
    flow.fetch_token(code=code)
    creds: Credentials = flow.credentials
    return creds


def loopback_flow(
    client: ClientConfig, scopes: list[str], *, port: int, show: Callable[[str], None]
) -> Credentials:
    """Listen on 127.0.0.1:`port` for Google's redirect (reach it through an SSH tunnel)."""
    flow = _flow(client, scopes, f"http://127.0.0.1:{port}/")

    class _Printer:
        def format(self, url: str) -> str:
            show(url)
            return ""

    creds: Credentials = flow.run_local_server(
        host="127.0.0.1",
        bind_addr="127.0.0.1",
        port=port,
        open_browser=False,
        authorization_prompt_message=_Printer(),
        success_message="syncd is authorised. You can close this window.",
        access_type="offline",
        prompt="consent",
    )
    return creds
