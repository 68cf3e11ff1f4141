"""Google API calls for the Gmail and Calendar connectors: transport, retries, errors.

- **Services** are built by google-api-python-client from the discovery documents it
  bundles (no network at build time), with ``client_options.api_endpoint`` set to the
  configured endpoint; Gmail's batch endpoint is ``<gmail endpoint>batch/gmail/v1``
  (the library would otherwise post batches to Google's public host whatever the endpoint).
- **Transport**: google-auth's `AuthorizedSession` (requests) behind the small interface
  the client library expects of an ``httplib2.Http``. It refreshes the access token
  before it expires and once on a 401. Unlike httplib2, requests never sends a request a
  second time on its own: a POST whose answer was lost is not silently replayed, so the
  caller's find-before-create stays the only way a write is repeated.
- **Retries** go through `connectors.http_retry.RetryPolicy`: connection errors and 5xx
  are transient; 429 and 403 ``rateLimitExceeded``/``userRateLimitExceeded`` are
  *throttled* (wait for the quota window, not a failed attempt). ``Retry-After`` is
  honoured (seconds or an HTTP date), and so is the time in Google's documented message
  "User-rate limit exceeded. Retry after <time>". A batch retries only its failed parts.
- **Quota**: Gmail calls are paced by the account's `connectors.google_quota.QuotaBucket`
  (``quota_per_minute``); each attempt, retries included, takes its units first.
- **Errors**: a refresh token Google refuses (``invalid_grant``), a 401 that a refresh
  did not cure, or a token without the scope a feature needs raise `AuthFailed`; other
  4xx raise `SourceInvalid`; what stays transient after the retries `SourceUnavailable`.

Access and refresh tokens never reach a log: the client libraries' own loggers are kept
above DEBUG, and error messages carry Google's text, never a request.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from connectors.base import AuthFailed, SourceInvalid, SourceUnavailable
from connectors.google_auth import granted_scopes, has_scope, load_credentials
from connectors.google_quota import DEFAULT_QUOTA_PER_MINUTE, QuotaBucket
from connectors.http_retry import (
    PartsFailed,
    RetryPolicy,
    Transient,
    parts_failed,
    retry_after_seconds,
)
from connectors.http_session import PinnedSession, ca_verify

logger = logging.getLogger(__name__)

# Their DEBUG output carries request bodies and headers (a refresh grant holds the token).
for _name in ("google.auth", "google_auth_httplib2", "googleapiclient", "urllib3", "oauthlib"):
    logging.getLogger(_name).setLevel(logging.WARNING)

GMAIL_ENDPOINT = "https://gmail.googleapis.com/"
CALENDAR_ENDPOINT = "https://www.googleapis.com/calendar/v3/"
TOKEN_URI = "https://oauth2.googleapis.com/token"
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})


@dataclass(frozen=True)
class GoogleSettings:
    account: str
    credentials: str  # the authorized-user JSON text
    gmail_endpoint: str = GMAIL_ENDPOINT
    calendar_endpoint: str = CALENDAR_ENDPOINT
    token_uri: str = TOKEN_URI
    ca_file: str | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    quota_per_minute: int = DEFAULT_QUOTA_PER_MINUTE  # Gmail units per user and minute

    @property
    def gmail_batch_uri(self) -> str:
        return _slash(self.gmail_endpoint) + "batch/gmail/v1"


class ApiStatus(Exception):
    """An HTTP status the caller said it handles itself (404 for a gone message, ...)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


class _Transport:
    """What googleapiclient asks of an ``httplib2.Http``, over an `AuthorizedSession`."""

    def __init__(self, credentials: Credentials, verify: str | bool, timeout: float) -> None:
        self.credentials = credentials  # read by the library to sign batch parts
        self.verify = verify
        self.timeout = timeout
        self.auth_session = PinnedSession(verify)
        self.auth_request = Request(self.auth_session)
        self.session = AuthorizedSession(credentials, auth_request=self.auth_request)  # type: ignore[no-untyped-call]
        self.session.verify = verify

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        redirections: int = 5,
        connection_type: Any = None,
    ) -> tuple[Any, bytes]:
        data = body.encode("utf-8") if isinstance(body, str) else body
        r = self.session.request(  # type: ignore[no-untyped-call]
            method,
            uri,
            data=data,
            headers=headers,
            timeout=self.timeout,
            verify=self.verify,
            allow_redirects=False,
        )
        info = {k.lower(): v for k, v in r.headers.items()}
        info["status"] = str(r.status_code)
        response = httplib2.Response(info)
        response.reason = r.reason
        return response, r.content

    def close(self) -> None:
        self.session.close()  # type: ignore[no-untyped-call]
        self.auth_session.close()
        # google-auth's Request closes its session again when collected, which fails
        # noisily if that happens while the interpreter shuts down.
        self.auth_request.session = None  # type: ignore[assignment]


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def error_reason(exc: HttpError) -> tuple[str, str]:
    """(reason, message) from Google's JSON error body."""
    try:
        doc = json.loads(exc.content.decode("utf-8"))
        err = doc["error"]
        if isinstance(err, str):  # the token endpoint's form
            return err, str(doc.get("error_description", ""))
        items = err.get("errors") or [{}]
        return str(items[0].get("reason") or err.get("status") or ""), str(err.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return "", exc.resp.reason or ""


def classify(exc: BaseException) -> Transient | None:
    """Whether a failure of a Google call is worth another try."""
    if isinstance(exc, HttpError):
        status = exc.resp.status
        reason, message = error_reason(exc)
        throttled = status == 429 or (status == 403 and reason in RATE_REASONS)
        if throttled or status >= 500:
            after = retry_after_seconds(exc.resp.get("retry-after"))
            if after is None and throttled:
                after = _retry_after_in(message)
            return Transient(f"HTTP {status} {reason}".strip(), after, throttled)
        return None
    if isinstance(exc, PartsFailed):
        return exc.transient()
    if isinstance(exc, RefreshError):
        return Transient("token refresh failed") if exc.retryable else None
    if isinstance(exc, (OSError, http.client.HTTPException, TransportError, BatchError)):
        return Transient(type(exc).__name__)
    return None


_RETRY_AFTER_TEXT = re.compile(r"Retry after (\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d))")


def _retry_after_in(message: str, now: datetime | None = None) -> float | None:
    """The seconds until the time in "User-rate limit exceeded. Retry after <RFC 3339>"."""
    m = _RETRY_AFTER_TEXT.search(message)
    if m is None:
        return None
    try:
        when = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class GoogleApi:
    """One Google account's authorised transport and the helpers both connectors use."""

    def __init__(self, settings: GoogleSettings) -> None:
        self.settings = settings
        self.credentials = load_credentials(
            settings.credentials, token_uri=settings.token_uri, account=settings.account
        )
        self.transport = _Transport(self.credentials, ca_verify(settings.ca_file), settings.timeout)
        self._services: dict[str, Any] = {}
        self.quota = QuotaBucket(settings.quota_per_minute, sleep=settings.retry.sleep)

    def service(self, name: str) -> Any:
        """The discovery-based client of 'gmail' (v1) or 'calendar' (v3)."""
        if name not in self._services:
            version, endpoint = (
                ("v1", self.settings.gmail_endpoint)
                if name == "gmail"
                else ("v3", self.settings.calendar_endpoint)
            )
            self._services[name] = build(
                name,
                version,
                http=self.transport,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": _slash(endpoint)},
            )
        return self._services[name]

    def require(self, scope: str, feature: str) -> None:
        """Fail clearly, before any request, when the token was not granted `scope`."""
        if not has_scope(granted_scopes(self.credentials), scope):
            raise AuthFailed(
                f"account {self.settings.account}: the Google authorisation does not cover"
                f" {feature} ({scope.rsplit('/', 1)[-1]}); run"
                f" `syncd accounts auth {self.settings.account}` again"
            )

    def execute(
        self,
        make: Callable[[], HttpRequest],
        what: str,
        *,
        handles: Sequence[int] = (),
        units: int = 0,
    ) -> Any:
        """Run one request with the retry policy. Statuses in `handles` raise `ApiStatus`.

        `units`: the Gmail quota units of the call, paced by the account's bucket."""

        def once() -> Any:
            if units:
                self.quota.take(units)
            return make().execute(num_retries=0)

        try:
            return self.retry(once, what)
        except HttpError as exc:
            reason, message = error_reason(exc)
            if exc.resp.status in handles:
                raise ApiStatus(exc.resp.status, reason, message) from None
            raise self.failure(exc, what) from None
        except RefreshError as exc:
            raise self.failure(exc, what) from None

    def retry(self, fn: Callable[[], Any], what: str) -> Any:
        """`fn` under the account's retry policy."""
        return self.settings.retry.call(fn, classify=classify, what=what)

    def batch(
        self,
        calls: Sequence[tuple[str, Callable[[], HttpRequest]]],
        what: str,
        *,
        uri: str,
        size: int,
        missing_ok: bool = True,
        units: int = 0,
    ) -> dict[str, Any]:
        """Run `calls` in batches of `size`, retrying failed parts only.

        Returns each call's result by its key; a 404 part (the object is gone) gives None
        when `missing_ok`. `units`: the Gmail quota units of each call.
        """
        results: dict[str, Any] = {}
        for start in range(0, len(calls), size):
            chunk = dict(calls[start : start + size])
            self.batch_chunk(chunk, results, what, uri=uri, missing_ok=missing_ok, units=units)
        return results

    def batch_chunk(
        self,
        chunk: dict[str, Callable[[], HttpRequest]],
        results: dict[str, Any],
        what: str,
        *,
        uri: str,
        missing_ok: bool = True,
        units: int = 0,
    ) -> None:
        """One batch request of `chunk` (at most 100 calls), its failed parts again until
        each has an answer; results go into `results` as they come."""
        pending = dict(chunk)
        fatal: list[BaseException] = []

        def round_trip() -> None:
            transient: list[Transient] = []

            def done(key: str, response: Any, exc: BaseException | None) -> None:
                if exc is None:
                    results[key] = response
                    pending.pop(key, None)
                    return
                if isinstance(exc, HttpError) and exc.resp.status == 404 and missing_ok:
                    results[key] = None
                    pending.pop(key, None)
                    return
                verdict = classify(exc)
                if verdict is None:
                    fatal.append(exc)
                else:
                    transient.append(verdict)

            if units:
                self.quota.take(units * len(pending))
            self._ensure_token(what)
            batch = BatchHttpRequest(callback=done, batch_uri=uri)
            for key, make in pending.items():
                batch.add(make(), request_id=key)
            batch.execute()
            if fatal:
                return
            if pending:
                raise parts_failed(len(pending), transient, "part(s)")

        try:
            self.retry(round_trip, what)
        except (HttpError, RefreshError) as exc:
            raise self.failure(exc, what) from None
        if fatal:
            raise self.failure(fatal[0], what)

    def _ensure_token(self, what: str) -> None:
        """A valid access token before a batch, refreshed through our transport.

        (The client library would refresh through a bare httplib2 of its own, without the
        configured CA file.)
        """
        if not self.credentials.valid:
            self.credentials.refresh(self.transport.auth_request)  # type: ignore[no-untyped-call]

    def failure(self, exc: BaseException, what: str) -> Exception:
        """The connector error for a failure that is not (or no longer) transient."""
        account = self.settings.account
        again = f"run `syncd accounts auth {account}`"
        if isinstance(exc, RefreshError):
            if exc.retryable:
                return SourceUnavailable(f"{what}: token refresh failed: {_short(exc)}")
            return AuthFailed(
                f"account {account}: Google refused the stored authorisation"
                f" ({_short(exc)}); it was revoked or has expired: {again}"
            )
        if isinstance(exc, HttpError):
            status = exc.resp.status
            reason, message = error_reason(exc)
            if status == 401:
                refused = message or "unauthorised"
                return AuthFailed(f"account {account}: {what}: {refused}; {again}")
            if status == 403 and reason in SCOPE_REASONS:
                return AuthFailed(
                    f"account {account}: {what}: the authorisation lacks a scope this needs;"
                    f" {again}"
                )
            if classify(exc) is not None:
                return SourceUnavailable(f"{what}: HTTP {status} {reason}: {message}")
            return SourceInvalid(f"{what}: HTTP {status} {reason}: {message}")
        return SourceUnavailable(f"{what}: {exc}")

    def close(self) -> None:
        self.transport.close()


def _short(exc: RefreshError) -> str:
    """google-auth's refresh error text without the response body it may quote."""
    args = exc.args
    if len(args) >= 2 and isinstance(args[1], dict):
        doc = args[1]
        return f"{doc.get('error', '?')}: {doc.get('error_description', '')}".strip(": ")
    text = str(args[0]) if args else type(exc).__name__
    return text.split(" {", 1)[0][:200]


__all__ = ["ApiStatus", "GoogleApi", "GoogleSettings", "classify", "error_reason"]
