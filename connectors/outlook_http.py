"""Microsoft Graph calls for the Outlook mail and calendar connectors: tokens, transport,
retries, JSON batches, errors.

- **Tokens** come from msal (`connectors.outlook_auth`): `acquire_token_silent` from the
  account's token cache (refreshed with its refresh token when the access token is
  near expiry), or `acquire_token_for_client` for client credentials. When msal changed
  the cache, `save_cache` is called with its new text (the core writes it, mode 0600).
  A 401 from Graph forces one refresh and one replay.
- **Transport**: requests, verifying against the account's CA file when one is set
  (it wins over REQUESTS_CA_BUNDLE). requests never replays a request on its own.
- **Retries** go through `connectors.http_retry.RetryPolicy`: connection errors, 429,
  500/502/503/504 are transient, ``Retry-After`` is honoured. A JSON batch
  (``POST /$batch``) carries at most 4 requests, not Graph's 20: its parts run in
  parallel against the mailbox's limit of 4 concurrent requests, and the 5th and later
  would answer 429 ``ApplicationThrottled`` (MailboxConcurrency). It retries only the
  requests that failed transiently (throttling arrives per request inside a batch).
- **Errors**: a token the identity server refuses (``invalid_grant``: consent revoked,
  password changed, refresh token expired; ``interaction_required``, ...) or a 401 that
  a refresh did not cure raise `AuthFailed`, and so does a 403 (the authorisation lacks
  a permission this needs); other 4xx raise `SourceInvalid` unless the caller handles
  the status; what stays transient after the retries raises `SourceUnavailable`. Graph's
  error body is ``{"error": {"code", "message"}}``; callers branch on ``code``.

Access and refresh tokens never reach a log or an error message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import msal
import requests

from connectors.base import AuthFailed, SourceInvalid, SourceUnavailable
from connectors.http_retry import (
    PartsFailed,
    RetryPolicy,
    Transient,
    parts_failed,
    retry_after_seconds,
)
from connectors.http_session import PinnedSession, ca_verify
from connectors.outlook_auth import (
    CONSUMER_TENANT,
    GRAPH_ENDPOINT,
    IdentityHttp,
    load_cache,
    make_app,
    qualified,
    scope_resource,
    token_error,
)

logger = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
BATCH_LIMIT = 20  # requests per JSON batch (Graph's limit)
# Outlook allows 4 concurrent requests per app and mailbox, and the parts of a JSON batch
# run in parallel against it (the 5th and later answer 429 MailboxConcurrency), so a
# batch carries at most this many parts.
MAILBOX_CONCURRENCY = 4


@dataclass(frozen=True)
class GraphSettings:
    account: str
    client_id: str
    authority: str
    scopes: tuple[str, ...]  # short names (Mail.ReadBasic, ...); ignored for client credentials
    graph: str = GRAPH_ENDPOINT
    token_cache: str | None = None  # the serialized msal cache (delegated)
    save_cache: Callable[[str], None] | None = field(default=None, compare=False)
    client_secret: str | None = field(default=None, repr=False)
    user: str | None = None  # the mailbox; required with client credentials
    ca_file: str | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def base(self) -> str:
        """The root of the mailbox's paths: /me, or /users/{user}."""
        return f"/users/{quote(self.user, safe='@.')}" if self.user else "/me"


class GraphError(Exception):
    """A Graph answer other than 2xx: status, OData error code and message."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"HTTP {status} {code}: {message}".strip())
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


@dataclass(frozen=True, slots=True)
class Answer:
    """One request's answer inside a JSON batch."""

    status: int
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class BatchRequest:
    key: str
    method: str
    url: str  # relative to the Graph endpoint, e.g. /me/messages/ID?$select=...
    body: Any = None
    headers: dict[str, str] | None = None


def classify(exc: BaseException) -> Transient | None:
    """Whether a failed Graph call is worth another try."""
    if isinstance(exc, GraphError):
        if exc.status in TRANSIENT_STATUSES:
            return Transient(f"HTTP {exc.status} {exc.code}".strip(), exc.retry_after)
        return None
    if isinstance(exc, PartsFailed):
        return exc.transient()
    if isinstance(exc, requests.exceptions.SSLError):
        return None
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return Transient(type(exc).__name__)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return Transient(type(exc).__name__)
    return None


def error_of(status: int, body: Any, headers: Any) -> GraphError:
    code, message = "", ""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or "")
        message = str(body["error"].get("message") or "")
    after = retry_after_seconds(_header(headers, "Retry-After"))
    return GraphError(status, code, message[:300], after)


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for k, v in dict(headers).items():
        if str(k).lower() == name.lower():
            return str(v)
    return None


def odata_quote(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


class GraphApi:
    """One Outlook account's authorised Graph client, shared by its mail and calendar."""

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings
        verify = ca_verify(settings.ca_file)
        self.session = PinnedSession(verify)
        self.identity = IdentityHttp(verify, settings.retry, settings.timeout)
        self.resource = scope_resource(settings.graph)
        self._endpoint = settings.graph.rstrip("/")
        self._app: msal.ClientApplication | None = None
        self._cache: msal.SerializableTokenCache | None = None
        self._token: str | None = None
        self._token_until = 0.0
        self.requests = 0  # HTTP requests sent to Graph (a batch is one)

    # ------------------------------------------------------------------ tokens

    @property
    def app(self) -> msal.ClientApplication:
        if self._app is None:
            s = self.settings
            try:
                if s.client_secret is None:
                    self._cache = load_cache(s.token_cache)
                self._app = make_app(
                    client_id=s.client_id,
                    authority=s.authority,
                    http=self.identity,
                    cache=self._cache,
                    client_secret=s.client_secret,
                )
            except ValueError as exc:  # msal: a bad authority, discovery refused
                raise SourceInvalid(f"account {s.account}: {exc}") from None
        return self._app

    @property
    def app_only(self) -> bool:
        return self.settings.client_secret is not None

    def _again(self) -> str:
        return f"run `syncd accounts auth {self.settings.account}`"

    def token(self, *, force: bool = False) -> str:
        """A valid access token (from the cache when it is still good)."""
        if self._token is not None and not force and time.monotonic() < self._token_until:
            return self._token
        app = self.app
        s = self.settings
        if isinstance(app, msal.ConfidentialClientApplication) and self.app_only:
            result = app.acquire_token_for_client(scopes=[f"{self.resource}/.default"])
        else:
            accounts = app.get_accounts()
            if not accounts:
                raise AuthFailed(
                    f"account {s.account}: the token cache holds no signed-in account (no"
                    f" authorisation yet); {self._again()}"
                )
            result = app.acquire_token_silent_with_error(
                qualified(s.scopes, self.resource), account=accounts[0], force_refresh=force
            )
            self._save()
        if not result or "access_token" not in result:
            if not result:
                raise AuthFailed(
                    f"account {s.account}: the stored authorisation holds no usable token;"
                    f" {self._again()}"
                )
            error, text, transient = token_error(result)
            if transient:
                raise SourceUnavailable(f"Microsoft identity: {error}: {text}")
            raise AuthFailed(
                f"account {s.account}: Microsoft refused the stored authorisation ({error}:"
                f" {text}); consent was revoked or it expired: {self._again()}"
            )
        self._token = str(result["access_token"])
        # msal answers from its cache until shortly before expiry; ask it again by then.
        lifetime = float(result.get("expires_in") or 300)
        self._token_until = time.monotonic() + max(0.0, min(lifetime - 120, 600))
        return self._token

    def _save(self) -> None:
        cache = self._cache
        if cache is not None and cache.has_state_changed and self.settings.save_cache:
            self.settings.save_cache(cache.serialize())
            cache.has_state_changed = False

    def account_tenant(self) -> str | None:
        """The home tenant of the signed-in account (None for client credentials)."""
        if self.app_only:
            return None
        accounts = self.app.get_accounts()
        if not accounts:
            return None
        home = str(accounts[0].get("home_account_id") or "")
        return home.partition(".")[2] or str(accounts[0].get("realm") or "") or None

    def username(self) -> str | None:
        """The mailbox's address: `user`, or the signed-in account's username."""
        if self.settings.user:
            return self.settings.user
        accounts = self.app.get_accounts()
        return str(accounts[0].get("username") or "") or None if accounts else None

    @property
    def personal(self) -> bool:
        """A personal Microsoft account (Outlook.com), where getSchedule is not offered."""
        return self.account_tenant() in (CONSUMER_TENANT, "consumers")

    # ------------------------------------------------------------------ requests

    def url(self, path: str) -> str:
        """An absolute URL: links from Graph are used verbatim, paths go under the endpoint."""
        if path.startswith(("https://", "http://")):
            return path
        return self._endpoint + path

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None,
        body: Any,
        headers: dict[str, str] | None,
        raw_body: bytes | None = None,
    ) -> tuple[int, Any, Any]:
        def once(force: bool) -> requests.Response:
            h = {"Authorization": f"Bearer {self.token(force=force)}", "Accept": "application/json"}
            h.update(headers or {})
            self.requests += 1
            return self.session.request(
                method,
                url,
                params=params,
                json=body if raw_body is None else None,
                data=raw_body,
                headers=h,
                timeout=self.settings.timeout,
                allow_redirects=False,
            )

        r = once(False)
        if r.status_code == 401:  # the access token expired or was revoked: refresh once
            self._token = None
            r = once(True)
            if r.status_code == 401:
                err = error_of(401, _json(r), r.headers)
                raise AuthFailed(
                    f"account {self.settings.account}: Graph refused the access token"
                    f" ({err.code or 'unauthorised'}); the authorisation was revoked:"
                    f" {self._again()}"
                )
        return r.status_code, _json(r), r.headers

    def once(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One request, no retry: its JSON answer (None when empty), or `GraphError`."""
        status, doc, hdrs = self._send(
            method, self.url(path), params=params, body=body, headers=headers
        )
        if status >= 400:
            raise error_of(status, doc, hdrs)
        return doc

    def run(self, fn: Callable[[], Any], what: str, *, handles: Sequence[int] = ()) -> Any:
        """`fn()` under the retry policy, its failures mapped to connector errors.

        A `GraphError` whose status is in `handles` is raised as is, for the caller.
        """
        try:
            return self.settings.retry.call(fn, classify=classify, what=what)
        except GraphError as exc:
            if exc.status in handles:
                raise
            raise self.failure(exc, what) from None
        except requests.exceptions.SSLError as exc:
            raise SourceInvalid(f"{what}: TLS failed: {_short(exc)}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SourceUnavailable(f"{what}: {type(exc).__name__}") from None

    def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        handles: Sequence[int] = (),
    ) -> Any:
        """One request under the retry policy (reads, and writes safe to repeat)."""
        return self.run(
            lambda: self.once(method, path, params=params, body=body, headers=headers),
            what,
            handles=handles,
        )

    def batch(
        self, calls: Sequence[BatchRequest], what: str, *, size: int = MAILBOX_CONCURRENCY
    ) -> dict[str, Answer]:
        """Run `calls` as JSON batches of `size` (4 by default, at most 20), retrying only
        the requests that failed transiently. Every other answer (2xx, 403, 404, ...) is
        returned by key."""
        size = max(1, min(size, BATCH_LIMIT))
        results: dict[str, Answer] = {}
        for start in range(0, len(calls), size):
            self._batch_chunk(list(calls[start : start + size]), results, what)
        return results

    def _batch_chunk(
        self, chunk: list[BatchRequest], results: dict[str, Answer], what: str
    ) -> None:
        pending = {c.key: c for c in chunk}
        ids = {c.key: str(i + 1) for i, c in enumerate(chunk)}
        keys = {v: k for k, v in ids.items()}

        def round_trip() -> None:
            requests_ = []
            for key, c in pending.items():
                item: dict[str, Any] = {"id": ids[key], "method": c.method, "url": c.url}
                if c.body is not None:
                    item["body"] = c.body
                    item["headers"] = {"Content-Type": "application/json", **(c.headers or {})}
                elif c.headers:
                    item["headers"] = c.headers
                requests_.append(item)
            status, doc, hdrs = self._send(
                "POST", self.url("/$batch"), params=None, body={"requests": requests_}, headers=None
            )
            if status >= 400:
                raise error_of(status, doc, hdrs)
            transient: list[Transient] = []
            for answer in (doc or {}).get("responses", []):
                found = keys.get(str(answer.get("id")))
                if found is None or found not in pending:
                    continue
                key = found
                st = int(answer.get("status", 0))
                body, h = answer.get("body"), answer.get("headers") or {}
                if st == 401:
                    self._token = None  # the next round trip refreshes first
                    transient.append(Transient("HTTP 401 inside a batch"))
                    continue
                if st in TRANSIENT_STATUSES:
                    err = error_of(st, body, h)
                    transient.append(Transient(f"HTTP {st} {err.code}", err.retry_after))
                    continue
                results[key] = Answer(st, body, {str(k): str(v) for k, v in h.items()})
                pending.pop(key)
            if pending:
                raise parts_failed(len(pending), transient, "request(s)")

        try:
            self.settings.retry.call(round_trip, classify=classify, what=what)
        except GraphError as exc:
            raise self.failure(exc, what) from None
        except requests.exceptions.SSLError as exc:
            raise SourceInvalid(f"{what}: TLS failed: {_short(exc)}") from None

    def failure(self, exc: GraphError, what: str) -> Exception:
        """The connector error for a Graph error that is not (or no longer) transient."""
        account = self.settings.account
        if exc.status == 401:
            return AuthFailed(f"account {account}: {what}: {exc.code}; {self._again()}")
        if exc.status == 403:
            return AuthFailed(
                f"account {account}: {what}: {exc.code or 'forbidden'}: the authorisation lacks"
                f" a permission this needs; {self._again()}"
            )
        if classify(exc) is not None:
            return SourceUnavailable(f"{what}: {exc}", retry_after=exc.retry_after)
        return SourceInvalid(f"{what}: {exc}")

    def close(self) -> None:
        self.session.close()
        self.identity.close()


def _json(r: requests.Response) -> Any:
    if not r.content:
        return None
    try:
        return r.json()
    except ValueError:
        return None


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text[:200]


def host_of(url: str) -> str:
    return urlsplit(url).netloc


__all__ = [
    "BATCH_LIMIT",
    "MAILBOX_CONCURRENCY",
    "Answer",
    "BatchRequest",
    "GraphApi",
    "GraphError",
    "GraphSettings",
    "classify",
    "error_of",
    "odata_quote",
]
