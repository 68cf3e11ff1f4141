"""A fake Google: OAuth token endpoint, Gmail v1 and Calendar v3 over HTTP on 127.0.0.1.

It speaks the documented wire format to the unmodified client libraries
(google-api-python-client, google-auth, google-auth-oauthlib), not just what syncd sends:

- routes, HTTP methods and scopes come from the discovery documents bundled with
  google-api-python-client, so a path or scope our code gets wrong fails here as it would
  at Google; every API call needs ``Authorization: Bearer`` with a live access token whose
  scopes the method accepts (401 ``authError`` or 403 ``insufficientPermissions``);
- batch requests (``POST /batch/gmail/v1``, ``/batch``, ``/batch/calendar/v3``) are
  multipart/mixed with ``application/http`` parts, answered part by part with
  ``Content-ID: <response-…>``;
- errors carry Google's JSON body ``{"error": {"code", "message", "errors": [{"reason",
  "domain", "message"}], "status"}}``; the token endpoint answers ``invalid_grant`` for a
  revoked refresh token;
- the Gmail and Calendar state machines (tests/fake_gmail.py, tests/fake_gcal.py) keep
  history ids, sync tokens and paging as the API guides describe.

Faults, for tests and the bench: `FakeGoogle.inject` queues a scripted answer (status,
body, headers, or a dropped connection, before or after the request is carried out; with
``after=True`` an error answer comes after the request was carried out: the object is
made, the answer lost) for the next requests matching a method id or path;
`FakeGoogle.fail_share` makes a share of requests (and of batch parts) fail at random
with 500, 503, 429 (with Retry-After), a dropped connection, or ``500-after`` /
``429-after`` (carried out, then an error), from a seeded generator. `FakeGoogle.log`
records every request with its time.

Limits: `FakeGoogle.limit` turns on Gmail's per-user quota window and concurrency limit
(tests/fake_google_quota.py), off by default.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import compat32
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import googleapiclient
import pytest

from tests.fake_faults import FaultHandler, FaultInjector, ServedFake, apply_fault
from tests.fake_google_quota import CONCURRENT_BODY, RATE_BODY, UserQuota

DISCOVERY = os.path.join(os.path.dirname(googleapiclient.__file__), "discovery_cache", "documents")
BATCH_PATHS = ("/batch/gmail/v1", "/batch", "/batch/calendar/v3")
STATUS_TEXT = {
    200: "OK",
    204: "No Content",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
STATUS_NAME = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    410: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, doc: Any, headers: dict[str, str] | None = None) -> Answer:
        data = json.dumps(doc).encode()
        return cls(
            status, data, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
        )


class ApiError(Exception):
    """Raised by a handler: becomes Google's JSON error body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        domain: str = "global",
        headers: dict[str, str] | None = None,
        item_message: str | None = None,
        **extra: str,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.reason, self.domain = code, message, reason, domain
        self.headers = headers or {}
        self.item_message = item_message or message
        self.extra = extra

    def answer(self) -> Answer:
        item = {"message": self.item_message, "domain": self.domain, "reason": self.reason}
        item.update(self.extra)
        doc = {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [item],
                "status": STATUS_NAME.get(self.code, "UNKNOWN"),
            }
        }
        return Answer.json(self.code, doc, self.headers)


def error_answer(code: int, reason: str, message: str, **headers: str) -> Answer:
    return ApiError(code, message, reason, headers=dict(headers)).answer()


@dataclass(frozen=True)
class Call:
    """One API call as a handler sees it."""

    method_id: str
    http_method: str
    path: str
    params: dict[str, str]  # path parameters
    query: dict[str, list[str]]
    body: bytes
    scopes: frozenset[str]  # of the access token

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.arg(name)
        return default if value is None else value.lower() == "true"

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received.", "parseError") from None


@dataclass(frozen=True)
class Logged:
    method_id: str  # "gmail.users.messages.get", "batch", "oauth.token", ...
    http_method: str
    path: str
    query: dict[str, list[str]]
    status: int  # 0: the connection was dropped
    in_batch: bool = False
    at: float = 0.0  # time.monotonic() when it was answered


@dataclass
class _Route:
    method_id: str
    http_method: str
    pattern: re.Pattern[str]
    names: list[str]
    scopes: frozenset[str]
    handler: Callable[[Call], Answer]


def _routes_of(doc_name: str) -> dict[str, tuple[str, str, frozenset[str]]]:
    """method id -> (HTTP method, full path template, scopes), from a discovery document."""
    with open(os.path.join(DISCOVERY, doc_name), encoding="utf-8") as fh:
        doc = json.load(fh)
    out: dict[str, tuple[str, str, frozenset[str]]] = {}

    def walk(resources: dict[str, Any]) -> None:
        for res in resources.values():
            for m in res.get("methods", {}).values():
                path = "/" + doc["servicePath"] + m["path"]
                out[m["id"]] = (m["httpMethod"], path, frozenset(m.get("scopes", ())))
            walk(res.get("resources", {}))

    walk(doc.get("resources", {}))
    return out


DISCOVERED = {**_routes_of("gmail.v1.json"), **_routes_of("calendar.v3.json")}


def _compile(template: str) -> tuple[re.Pattern[str], list[str]]:
    names: list[str] = []

    def repl(m: re.Match[str]) -> str:
        names.append(m.group(1).lstrip("+"))
        return "([^/]+)"

    return re.compile(
        "^"
        + re.sub(r"\{([^}]+)\}", repl, re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        + "$"
    ), names


class OAuth:
    """Clients, refresh tokens, access tokens and authorization codes."""

    def __init__(self) -> None:
        self.clients: dict[str, str] = {}
        self.refresh: dict[str, tuple[str, frozenset[str]]] = {}  # token -> (client, scopes)
        self.revoked: set[str] = set()
        self.access: dict[str, frozenset[str]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.refreshes = 0

    def add_client(
        self, client_id: str = "syncd-test.apps", secret: str = "s3cret"
    ) -> tuple[str, str]:
        self.clients[client_id] = secret
        return client_id, secret

    def grant(self, client_id: str, scopes: list[str] | tuple[str, ...]) -> str:
        token = "1//" + secrets.token_urlsafe(24)
        self.refresh[token] = (client_id, frozenset(scopes))
        return token

    def revoke(self, refresh_token: str) -> None:
        self.revoked.add(refresh_token)
        self.access.clear()

    def expire_access_tokens(self) -> None:
        self.access.clear()

    def _issue(self, scopes: frozenset[str]) -> str:
        token = "ya29." + secrets.token_urlsafe(24)
        self.access[token] = scopes
        return token

    def authorize(self, query: dict[str, list[str]]) -> Answer:
        """GET /o/oauth2/auth: the consent screen says yes at once and redirects."""
        q = {k: v[-1] for k, v in query.items()}
        if q.get("client_id") not in self.clients or q.get("response_type") != "code":
            return Answer(400, b"invalid_request")
        redirect = q.get("redirect_uri", "")
        if not re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/", redirect):
            return Answer(400, b"redirect_uri_mismatch: loopback redirects only")
        code = "4/" + secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": q["client_id"],
            "redirect_uri": redirect,
            "scopes": frozenset(q.get("scope", "").split()),
            "challenge": q.get("code_challenge"),
            "method": q.get("code_challenge_method", "plain"),
        }
        target = (
            redirect
            + ("&" if "?" in redirect else "?")
            + urlencode({"state": q.get("state", ""), "code": code, "scope": q.get("scope", "")})
        )
        return Answer(302, b"", {"Location": target})

    def token(self, body: bytes, authorization: str = "") -> Answer:
        """POST /token. Client credentials in the body or as HTTP Basic (RFC 6749 2.3.1)."""
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        client, secret = form.get("client_id"), form.get("client_secret")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client, _, secret = (unquote(p) for p in decoded.partition(":"))
        if client not in self.clients or self.clients[client] != secret:
            return Answer.json(
                401, {"error": "invalid_client", "error_description": "Unauthorized"}
            )
        grant = form.get("grant_type")
        if grant == "refresh_token":
            rt = form.get("refresh_token", "")
            if rt not in self.refresh or rt in self.revoked or self.refresh[rt][0] != client:
                return Answer.json(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    },
                )
            self.refreshes += 1
            scopes = self.refresh[rt][1]
            return Answer.json(200, self._token_doc(scopes))
        if grant == "authorization_code":
            info = self.codes.pop(form.get("code", ""), None)
            if (
                info is None
                or info["client_id"] != client
                or info["redirect_uri"] != form.get("redirect_uri")
            ):
                return Answer.json(
                    400, {"error": "invalid_grant", "error_description": "Bad Request"}
                )
            if info["challenge"]:
                verifier = form.get("code_verifier", "")
                if info["method"] == "S256":
                    digest = hashlib.sha256(verifier.encode()).digest()
                    verifier = base64.urlsafe_b64encode(digest).decode().rstrip("=")
                if verifier != info["challenge"]:
                    return Answer.json(
                        400,
                        {"error": "invalid_grant", "error_description": "Missing code verifier."},
                    )
            doc = self._token_doc(info["scopes"])
            doc["refresh_token"] = self.grant(client, sorted(info["scopes"]))
            return Answer.json(200, doc)
        return Answer.json(400, {"error": "unsupported_grant_type"})

    def _token_doc(self, scopes: frozenset[str]) -> dict[str, Any]:
        return {
            "access_token": self._issue(scopes),
            "expires_in": 3599,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }


class FakeGoogle(FaultInjector, ServedFake):
    """The whole fake: start() it, point the clients at `url`, stop() it."""

    def __init__(self, *, seed: int = 1, owner: str = "alex@example.com") -> None:
        from tests.fake_gcal import CalendarState
        from tests.fake_gmail import GmailState

        self._init_faults(seed, ("500", "503", "429", "drop-before", "drop-after"))
        self.owner = owner
        self.oauth = OAuth()
        self.gmail = GmailState(owner, seed=seed)
        self.calendar = CalendarState(owner)
        self.log: list[Logged] = []
        self.quota = UserQuota()
        self._routes: list[_Route] = []
        self.gmail.register(self)
        self.calendar.register(self)

    # ------------------------------------------------------------------ set-up

    def route(self, method_id: str, handler: Callable[[Call], Answer]) -> None:
        http_method, template, scopes = DISCOVERED[method_id]
        pattern, names = _compile(template)
        self._routes.append(_Route(method_id, http_method, pattern, names, scopes, handler))

    def start(self) -> FakeGoogle:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.serve(server)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def gmail_endpoint(self) -> str:
        return self.url

    @property
    def calendar_endpoint(self) -> str:
        return self.url + "calendar/v3/"

    @property
    def token_uri(self) -> str:
        return self.url + "token"

    @property
    def auth_uri(self) -> str:
        return self.url + "o/oauth2/auth"

    def authorized_user(self, scopes: list[str] | tuple[str, ...]) -> str:
        """A google-auth authorized-user document for a fresh grant of `scopes`."""
        with self.lock:
            if not self.oauth.clients:
                self.oauth.add_client()
            client_id, secret = next(iter(self.oauth.clients.items()))
            token = self.oauth.grant(client_id, scopes)
        doc = {
            "type": "authorized_user",
            "client_id": client_id,
            "client_secret": secret,
            "refresh_token": token,
            "token_uri": self.token_uri,
            "scopes": list(scopes),
        }
        return json.dumps(doc)

    def refresh_token_of(self, authorized_user: str) -> str:
        return str(json.loads(authorized_user)["refresh_token"])

    # ------------------------------------------------------------------ faults and log

    def inject(
        self,
        what: str,
        *,
        status: int | None = None,
        reason: str = "backendError",
        message: str = "Backend Error",
        headers: dict[str, str] | None = None,
        answer: Answer | None = None,
        drop: str | None = None,
        times: int = 1,
        after: bool = False,
    ) -> None:
        """The next `times` requests whose method id or path starts with `what` fail;
        `after`: they are carried out first, and the error is the answer."""
        if answer is None and status is not None:
            answer = error_answer(status, reason, message, **(headers or {}))
        self.add_fault(what, answer, drop, times, after=after)

    def limit(self, *, units: int = 0, window: float = 60.0, concurrent: int = 0) -> None:
        """Gmail's per-user limits: `units` quota units per sliding `window` seconds (past
        them 403 userRateLimitExceeded) and `concurrent` requests at once (past them 429)."""
        with self.lock:
            self.quota = UserQuota(units=units, window=window, concurrent=concurrent)

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def calls(self, prefix: str = "", *, in_batch: bool | None = None) -> list[Logged]:
        with self.lock:
            return [
                e
                for e in self.log
                if e.method_id.startswith(prefix) and (in_batch is None or e.in_batch == in_batch)
            ]

    never_random = "oauth.auth"

    def _random_kinds(self, name: str, kinds: list[str]) -> list[str]:
        return [k for k in kinds if k in ("500", "503")] if name == "oauth.token" else kinds

    def _random_fault(self, kind: str) -> tuple[Answer, str | None]:
        made = "made" if kind.endswith("-after") else None
        if kind.startswith("429"):
            return (
                error_answer(
                    429,
                    "rateLimitExceeded",
                    "Too many concurrent requests for user.",
                    **{"Retry-After": self.retry_after},
                ),
                made,
            )
        code = int(kind.removesuffix("-after"))
        return error_answer(code, "backendError", "Backend Error"), made

    # ------------------------------------------------------------------ dispatch

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, *, part: bool = False
    ) -> Answer:
        split = urlsplit(target)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        method_id, route, params = self._resolve(method, path)
        if not self.quota.charge(method_id):
            answer = ApiError(403, *reversed(RATE_BODY), domain="usageLimits").answer()
            self._log(method_id, method, path, query, answer.status, part)
            return answer
        answer, drop = self.fault_for(method_id, path, part=part)

        def carry_out(sent: bool) -> Answer:
            done = self._carry_out(method_id, route, params, method, path, query, headers, body)
            if sent and method_id == "gmail.users.messages.get" and done.status == 200:
                self.quota.gets[params.get("id", "")] += 1
            return done

        def log(status: int) -> None:
            self._log(method_id, method, path, query, status, part)

        result: Answer = apply_fault(answer, drop, carry_out, log)
        return result

    def _log(
        self,
        method_id: str,
        method: str,
        path: str,
        query: dict[str, list[str]],
        status: int,
        part: bool,
    ) -> None:
        with self.lock:
            self.log.append(Logged(method_id, method, path, query, status, part, time.monotonic()))

    def _resolve(self, method: str, path: str) -> tuple[str, _Route | None, dict[str, str]]:
        if path == "/token":
            return "oauth.token", None, {}
        if path == "/o/oauth2/auth":
            return "oauth.auth", None, {}
        if path in BATCH_PATHS:
            return "batch", None, {}
        for r in self._routes:
            m = r.pattern.match(path)
            if m and r.http_method == method:
                return (
                    r.method_id,
                    r,
                    {n: unquote(v) for n, v in zip(r.names, m.groups(), strict=True)},
                )
        return "unknown", None, {}

    def _carry_out(
        self,
        method_id: str,
        route: _Route | None,
        params: dict[str, str],
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Answer:
        if method_id == "oauth.token":
            with self.lock:
                return self.oauth.token(body, headers.get("authorization", ""))
        if method_id == "oauth.auth":
            with self.lock:
                return self.oauth.authorize(query)
        if method_id == "batch":
            return self._batch(headers, body)
        if route is None:
            return error_answer(404, "notFound", f"Not Found: {method} {path}")
        auth = headers.get("authorization", "")
        with self.lock:
            scopes = (
                self.oauth.access.get(auth.removeprefix("Bearer ").strip())
                if auth.startswith("Bearer ")
                else None
            )
        if scopes is None:
            return ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                "authError",
                item_message="Invalid Credentials",
                location="Authorization",
                locationType="header",
            ).answer()
        if not scopes & route.scopes:
            return error_answer(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        call = Call(method_id, method, path, params, query, body, scopes)
        try:
            with self.lock:
                return route.handler(call)
        except ApiError as exc:
            return exc.answer()

    # ------------------------------------------------------------------ batch

    def _batch(self, headers: dict[str, str], body: bytes) -> Answer:
        ctype = headers.get("content-type", "")
        if not ctype.startswith("multipart/mixed"):
            return error_answer(400, "badRequest", "Batch requests must be multipart/mixed")
        msg = BytesParser(policy=compat32).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        parts = msg.get_payload()
        if not isinstance(parts, list):
            return error_answer(400, "badRequest", "Batch without parts")
        if len(parts) > 100:
            return error_answer(400, "badRequest", "Too many requests in batch (at most 100)")
        outer_auth = headers.get("authorization", "")
        boundary = "batch_" + secrets.token_hex(8)
        out: list[bytes] = []
        for part in parts:
            cid = part.get("Content-ID", "")
            payload = part.get_payload(decode=False)
            if isinstance(payload, list):
                return error_answer(400, "badRequest", "Nested multipart in batch")
            method, target, sub_headers, sub_body = _parse_http_request(payload.encode("utf-8"))
            if "authorization" not in sub_headers and outer_auth:
                sub_headers["authorization"] = outer_auth
            answer = self.handle(method, target, sub_headers, sub_body, part=True)
            rid = "<response-" + cid.strip("<>") + ">"
            head = f"HTTP/1.1 {answer.status} {STATUS_TEXT.get(answer.status, 'Status')}\r\n"
            for k, v in answer.headers.items():
                head += f"{k}: {v}\r\n"
            head += f"Content-Length: {len(answer.body)}\r\n\r\n"
            out.append(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: {rid}\r\n\r\n".encode()
                + head.encode()
                + answer.body
                + b"\r\n"
            )
        out.append(f"--{boundary}--\r\n".encode())
        return Answer(200, b"".join(out), {"Content-Type": f"multipart/mixed; boundary={boundary}"})


def _parse_http_request(data: bytes) -> tuple[str, str, dict[str, str], bytes]:
    """A batch part's request: 'GET /path?q HTTP/1.1', headers, a blank line, a body.

    The client library writes the part with LF line ends; CRLF is accepted too.
    """
    data = data.lstrip(b"\r\n")
    m = re.search(rb"\r?\n\r?\n", data)
    head, body = (data[: m.start()], data[m.end() :]) if m else (data, b"")
    lines = head.decode("utf-8").splitlines()
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if sep:
            headers[k.strip().lower()] = v.strip()
    length = headers.get("content-length")
    return method, target, headers, body[: int(length)] if length is not None else body.strip()


class _Handler(FaultHandler):
    fake: FakeGoogle
    status_text = STATUS_TEXT

    def _serve(self) -> None:
        # A request is in flight from its first line to its answer.
        limited = not self.path.startswith(("/token", "/o/oauth2/"))
        crowded = limited and not self.fake.quota.enter()
        limited = limited and not crowded
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}

        def make() -> Answer:
            try:
                if crowded:
                    return ApiError(
                        429, CONCURRENT_BODY[1], CONCURRENT_BODY[0], "usageLimits"
                    ).answer()
                return self.fake.handle(self.command, self.path, headers, body)
            finally:
                if limited:
                    self.fake.quota.leave()

        self.answer_or_drop(make)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle().start()
    try:
        yield fake
    finally:
        fake.stop()
