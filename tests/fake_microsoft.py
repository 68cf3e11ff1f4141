"""A fake Microsoft identity platform and Microsoft Graph over HTTPS on 127.0.0.1.

msal accepts only https authorities, so the fake serves TLS with a throw-away CA made at
test time (`TestCA`: an EC key, a CA certificate and a server certificate for 127.0.0.1);
clients trust it through the account's ``ca_file`` and verify as they would in
production. It speaks the documented wire format (API-NOTES sections 3 and 4) to the
unmodified msal and requests:

- identity: ``/{tenant}/v2.0/.well-known/openid-configuration`` (https endpoints, the
  issuer), ``/common/discovery/instance``, the device authorization endpoint
  (``/{tenant}/oauth2/v2.0/devicecode``, answered with ``interval`` 1 s), and the token
  endpoint for the device code (``authorization_pending`` until the user approves,
  ``slow_down``, ``expired_token``), refresh (``invalid_grant`` with AADSTS codes when
  consent was revoked, 65001, or the grant expired, 70008) and client credential grants.
  Token responses carry ``token_type, access_token, expires_in, scope`` and, for users,
  ``refresh_token``, an unsigned ``id_token`` and ``client_info``, as msal needs;
- Graph (`tests/fake_graph.py`): a mailbox and a calendar, every call authorised by a
  live access token whose permissions the route needs (401
  ``InvalidAuthenticationToken``, 403 ``ErrorAccessDenied``), OData error bodies
  ``{"error": {"code", "message", "innerError"}}``, JSON ``$batch`` (at most 20
  requests, ``dependsOn``, per-request status, headers and body).

Faults, for tests and the bench: `FakeMicrosoft.inject` queues answers (status and
OData code, headers such as Retry-After, or a dropped connection before or after the
request is carried out) for the next requests whose route or path matches;
`FakeMicrosoft.fail_share` makes a share of all requests (batch parts included) fail at
random with 500, 503, 504, 429 with Retry-After, a dropped connection, or an answer lost
after the request was carried out (the object made, then the connection dropped, or a
429 answered), from a seeded generator.

JSON ``$batch`` parts run in parallel against the mailbox's concurrency limit, as the
throttling page ("Outlook service limits") says: parts without ``dependsOn`` (and each
further step of ``dependsOn`` chains) are one wave, and the parts of a wave past
`FakeMicrosoft.concurrency` (4) answer 429 ``ApplicationThrottled`` ("Application is over
its MailboxConcurrency limit."). More lenient than the service: requests outside a batch
are counted only while the fake handles them (real Exchange counts its own work too). `FakeMicrosoft.log` records every request.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
import random
import secrets
import ssl
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.fake_faults import FaultHandler, FaultInjector, ServedFake, apply_fault

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
IGNORED_SCOPES = frozenset({"offline_access", "openid", "profile", "email"})


# ----------------------------------------------------------------------------- TLS


class TestCA:
    """A throw-away CA and a server certificate for 127.0.0.1, in a temporary folder."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    _shared: TestCA | None = None

    def __init__(self, folder: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syncd test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        self.ca_file = folder / "ca.pem"
        self.cert_file = folder / "server.pem"
        self.key_file = folder / "server.key"
        self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    @classmethod
    def shared(cls) -> TestCA:
        """One CA per test process (making one costs a few milliseconds, but why twice)."""
        if cls._shared is None:
            cls._shared = cls(Path(tempfile.mkdtemp(prefix="syncd-test-ca-")))
        return cls._shared

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


# ----------------------------------------------------------------------------- answers


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, doc: Any, headers: dict[str, str] | None = None) -> Answer:
        return cls(
            status,
            json.dumps(doc).encode(),
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )

    def doc(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode("utf-8", "replace")


class GraphFail(Exception):
    """Raised by a handler: becomes Graph's OData error body."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def answer(self) -> Answer:
        return odata_error(self.status, self.code, self.message, **self.headers)


def odata_error(status: int, code: str, message: str, **headers: str) -> Answer:
    doc = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "request-id": str(uuid.uuid4()),
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "client-request-id": str(uuid.uuid4()),
            },
        }
    }
    return Answer.json(status, doc, headers)


@dataclass(frozen=True)
class Logged:
    route: str  # "graph.messages.delta", "graph.batch", "identity.token", ...
    method: str
    path: str
    query: dict[str, list[str]]
    status: int  # 0: the connection was dropped
    in_batch: bool = False
    grant: str = ""  # the token endpoint's grant_type


# ----------------------------------------------------------------------------- identity


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def short_scope(scope: str) -> str:
    """https://graph.microsoft.com/Mail.Read -> Mail.Read (any resource prefix)."""
    return scope.rsplit("/", 1)[-1] if scope.startswith("https://") else scope


@dataclass
class Token:
    scopes: frozenset[str]
    app_only: bool
    user: str | None
    expires: float


@dataclass
class DeviceCode:
    client_id: str
    scopes: frozenset[str]
    user_code: str
    expires: float
    state: str = "pending"  # pending | approved | declined
    polls: int = 0
    slow_down: int = 0  # answer slow_down this many times first


class Identity:
    """Clients, consent, device codes, refresh and access tokens of one tenant."""

    def __init__(self, fake: FakeMicrosoft) -> None:
        self.fake = fake
        self.public: set[str] = set()
        self.confidential: dict[str, str] = {}  # client id -> secret
        self.consent: dict[tuple[str, str], frozenset[str]] = {}  # (client, user) -> scopes
        self.refresh: dict[str, tuple[str, str]] = {}  # token -> (client, user)
        self.revoked: dict[str, int] = {}  # refresh token -> AADSTS code
        self.access: dict[str, Token] = {}
        self.devices: dict[str, DeviceCode] = {}
        self.app_roles: frozenset[str] = frozenset({"Mail.ReadWrite", "Calendars.ReadWrite"})
        self.lifetime = 3599
        self.grants: list[str] = []

    def add_public_client(self, client_id: str = "00000000-0000-0000-0000-00000000c11e") -> str:
        self.public.add(client_id)
        return client_id

    def add_confidential_client(
        self, client_id: str = "00000000-0000-0000-0000-0000000a99c0", secret: str = "s3cret~"
    ) -> tuple[str, str]:
        self.confidential[client_id] = secret
        return client_id, secret

    def revoke_consent(self, code: int = 65001) -> None:
        """The user (or an admin) withdrew consent: refresh tokens fail, access tokens die."""
        for rt in self.refresh:
            self.revoked[rt] = code
        self.consent.clear()
        self.access.clear()

    def expire_access_tokens(self) -> None:
        self.access.clear()

    def approve(self, user_code: str | None = None) -> None:
        """The user signs in at the verification URL and consents."""
        for d in self.devices.values():
            if user_code is None or d.user_code == user_code:
                d.state = "approved"

    # ---- endpoints

    def openid_configuration(self, tenant: str) -> dict[str, Any]:
        base = f"{self.fake.url}/{tenant}"
        tid = CONSUMER_TENANT if self.fake.personal else TENANT_ID
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.fake.url}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.fake.url}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "oid", "tid", "name"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "fake.test",
        }

    def instance_discovery(self, query: dict[str, list[str]]) -> dict[str, Any]:
        host = urlsplit(self.fake.url).netloc
        return {
            "tenant_discovery_endpoint": (
                f"{self.fake.url}/common/v2.0/.well-known/openid-configuration"
            ),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def devicecode(self, form: dict[str, str]) -> Answer:
        client = form.get("client_id", "")
        if client not in self.public:
            return self._error(400, "unauthorized_client", 700016, "Application not found.")
        scopes = frozenset(short_scope(s) for s in form.get("scope", "").split()) - IGNORED_SCOPES
        device = secrets.token_urlsafe(24)
        user_code = "".join(random.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(9))
        self.devices[device] = DeviceCode(client, scopes, user_code, time.time() + 900)
        url = f"{self.fake.url}/devicelogin"
        return Answer.json(
            200,
            {
                "user_code": user_code,
                "device_code": device,
                "verification_uri": url,
                "expires_in": 900,
                "interval": 1,
                "message": (
                    f"To sign in, use a web browser to open the page {url} and enter the code"
                    f" {user_code} to authenticate."
                ),
            },
        )

    def token(self, form: dict[str, str], authorization: str) -> Answer:
        client, secret = form.get("client_id", ""), form.get("client_secret")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            client, _, secret = (unquote(p) for p in decoded.partition(":"))
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        requested = frozenset(short_scope(s) for s in form.get("scope", "").split())
        if grant == "client_credentials":
            if self.confidential.get(client) != secret:
                return self._error(
                    401, "invalid_client", 7000215, "Invalid client secret provided."
                )
            if requested != {".default"}:
                return self._error(
                    400, "invalid_scope", 1002012, "The scope must end in /.default."
                )
            return Answer.json(200, self._issue(self.app_roles, True, None, with_refresh=None))
        if client not in self.public and client not in self.confidential:
            return self._error(400, "unauthorized_client", 700016, "Application not found.")
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self._device_grant(form, client)
        if grant == "refresh_token":
            return self._refresh_grant(form, client, requested - IGNORED_SCOPES)
        return self._error(400, "unsupported_grant_type", 70003, "Unsupported grant type.")

    def _device_grant(self, form: dict[str, str], client: str) -> Answer:
        d = self.devices.get(form.get("device_code", ""))
        if d is None or d.client_id != client:
            return self._error(400, "invalid_grant", 70000, "The provided device code is invalid.")
        d.polls += 1
        if time.time() > d.expires:
            return self._error(400, "expired_token", 70020, "The device code has expired.")
        if d.slow_down > 0:
            d.slow_down -= 1
            return self._error(400, "slow_down", 70016, "Polling too fast.")
        if d.state == "pending":
            return self._error(
                400, "authorization_pending", 70016, "The user has not yet completed sign-in."
            )
        if d.state == "declined":
            return self._error(400, "authorization_declined", 70019, "The user declined.")
        self.devices.pop(form.get("device_code", ""))
        user = self.fake.owner
        self.consent[(client, user)] = self.consent.get((client, user), frozenset()) | d.scopes
        return Answer.json(200, self._issue(d.scopes, False, user, with_refresh=client))

    def _refresh_grant(
        self, form: dict[str, str], client: str, requested: frozenset[str]
    ) -> Answer:
        rt = form.get("refresh_token", "")
        if rt in self.revoked:
            code = self.revoked[rt]
            text = {
                65001: "The user or administrator has not consented to use the application"
                " with ID '{c}' named 'syncd'. Send an interactive authorization request"
                " for this user and resource.",
                70008: "The provided authorization code or refresh token has expired due to"
                " inactivity. Send a new interactive authorization request for this user"
                " and resource.",
                50173: "The provided grant has expired due to it being revoked, a fresh auth"
                " token is needed.",
            }.get(code, "The refresh token was revoked.")
            sub = "consent_required" if code == 65001 else "bad_token"
            return self._error(400, "invalid_grant", code, text.format(c=client), suberror=sub)
        if rt not in self.refresh or self.refresh[rt][0] != client:
            return self._error(400, "invalid_grant", 9002313, "Invalid request. Malformed token.")
        _client, user = self.refresh[rt]
        consented = self.consent.get((client, user), frozenset())
        if not requested <= consented:
            missing = " ".join(sorted(requested - consented))
            return self._error(
                400,
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with ID"
                f" '{client}' for {missing}.",
                suberror="consent_required",
            )
        return Answer.json(
            200, self._issue(requested or consented, False, user, with_refresh=client)
        )

    def _issue(
        self, scopes: frozenset[str], app_only: bool, user: str | None, *, with_refresh: str | None
    ) -> dict[str, Any]:
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(32)
        self.access[token] = Token(scopes, app_only, user, time.time() + self.lifetime)
        resource = "https://graph.microsoft.com"
        doc: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(sorted(f"{resource}/{s}" for s in scopes)),
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": token,
        }
        if with_refresh is not None and user is not None:
            rt = "0.AX" + secrets.token_urlsafe(40)
            self.refresh[rt] = (with_refresh, user)
            doc["refresh_token"] = rt
            tid = CONSUMER_TENANT if self.fake.personal else TENANT_ID
            oid = str(uuid.uuid5(uuid.NAMESPACE_DNS, user))
            claims = {
                "aud": with_refresh,
                "iss": f"{self.fake.url}/{tid}/v2.0",
                "iat": int(time.time()),
                "nbf": int(time.time()),
                "exp": int(time.time()) + 3600,
                "name": "Alex Morgan",
                "oid": oid,
                "preferred_username": user,
                "sub": secrets.token_urlsafe(16),
                "tid": tid,
                "ver": "2.0",
            }
            doc["id_token"] = ".".join(
                [
                    _b64url(json.dumps({"typ": "JWT", "alg": "none"}).encode()),
                    _b64url(json.dumps(claims).encode()),
                    "",
                ]
            )
            doc["client_info"] = _b64url(json.dumps({"uid": oid, "utid": tid}).encode())
        return doc

    def _error(
        self, status: int, error: str, code: int, text: str, *, suberror: str | None = None
    ) -> Answer:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        doc: dict[str, Any] = {
            "error": error,
            "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {corr}\r\nTimestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": corr,
        }
        if suberror:
            doc["suberror"] = suberror
        return Answer.json(status, doc)

    def check(self, authorization: str) -> Token | None:
        if not authorization.startswith("Bearer "):
            return None
        token = self.access.get(authorization[7:].strip())
        if token is None or token.expires < time.time():
            return None
        return token


# ----------------------------------------------------------------------------- the fake


class FakeMicrosoft(FaultInjector, ServedFake):
    """The whole fake: start() it, point msal at `authority` and Graph at `graph`."""

    def __init__(
        self,
        *,
        seed: int = 1,
        owner: str = "alex@contoso.example",
        tenant: str = "organizations",
        personal: bool = False,
        ca: TestCA | None = None,
    ) -> None:
        from tests.fake_graph import GraphState

        self._init_faults(
            seed, ("500", "503", "504", "429", "drop-before", "drop-after", "429-after")
        )
        self.owner = owner
        self.tenant = tenant
        self.personal = personal
        self.ca = ca or TestCA.shared()
        self.identity = Identity(self)
        self.graph = GraphState(self, seed=seed)
        self.log: list[Logged] = []
        self.in_flight = 0
        self.concurrency = 4  # Outlook's MailboxConcurrency limit

    def start(self) -> FakeMicrosoft:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = self.ca.server_context().wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.serve(server)
        return self

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"{self.url}/{self.tenant}"

    @property
    def graph_endpoint(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def ca_file(self) -> str:
        return str(self.ca.ca_file)

    # ------------------------------------------------------------------ sign-in helpers

    def signed_in_cache(
        self, scopes: list[str] | tuple[str, ...], client_id: str | None = None
    ) -> str:
        """An msal token cache as `syncd accounts auth` leaves it: the device code flow run
        through the unmodified msal against this fake, the user approving at once."""
        import msal
        import requests

        client = client_id or self.identity.add_public_client()
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_file
        cache = msal.SerializableTokenCache()
        app = msal.PublicClientApplication(
            client,
            authority=self.authority,
            token_cache=cache,
            http_client=session,
            instance_discovery=False,
        )
        flow = app.initiate_device_flow(scopes=[f"https://graph.microsoft.com/{s}" for s in scopes])
        assert "user_code" in flow, flow
        with self.lock:
            self.identity.approve(flow["user_code"])
        flow["interval"] = 0
        result = app.acquire_token_by_device_flow(flow)
        assert "access_token" in result, result
        session.close()
        return str(cache.serialize())

    # ------------------------------------------------------------------ faults and log

    def inject(
        self,
        what: str,
        *,
        status: int | None = None,
        code: str = "serviceNotAvailable",
        message: str = "Service unavailable",
        headers: dict[str, str] | None = None,
        answer: Answer | None = None,
        drop: str | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` requests whose route or path starts with `what` fail."""
        if answer is None and status is not None:
            answer = odata_error(status, code, message, **(headers or {}))
        self.add_fault(what, answer, drop, times)

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def calls(self, prefix: str = "", *, in_batch: bool | None = None) -> list[Logged]:
        with self.lock:
            return [
                e
                for e in self.log
                if e.route.startswith(prefix) and (in_batch is None or e.in_batch == in_batch)
            ]

    never_random = "identity.devicelogin"

    def _random_fault(self, kind: str) -> tuple[Answer, str | None]:
        after = {"Retry-After": self.retry_after}
        if kind == "429-after":  # carried out, but the answer says throttled
            return odata_error(429, "TooManyRequests", "Too many requests.", **after), "made"
        if kind == "429":
            return odata_error(429, "TooManyRequests", "Too many requests.", **after), None
        if kind == "503":
            return odata_error(503, "serviceNotAvailable", "Service unavailable", **after), None
        if kind == "504":
            return odata_error(504, "GatewayTimeout", "Gateway timeout"), None
        return odata_error(500, "generalException", "An error occurred"), None

    # ------------------------------------------------------------------ dispatch

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, *, part: bool = False
    ) -> Answer:
        split = urlsplit(target)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        route = self._route_name(method, path)
        answer, drop = self.fault_for(route, path, part=part)
        grant = ""
        if route == "identity.token":
            grant = parse_qs(body.decode("utf-8", "replace")).get("grant_type", [""])[-1]

        def carry_out(sent: bool) -> Answer:
            return self._carry_out(route, method, path, query, headers, body, part)

        def log(status: int) -> None:
            self._log(route, method, path, query, status, part, grant)

        result: Answer = apply_fault(answer, drop, carry_out, log)
        return result

    def _log(
        self,
        route: str,
        method: str,
        path: str,
        query: dict[str, list[str]],
        status: int,
        part: bool,
        grant: str = "",
    ) -> None:
        with self.lock:
            self.log.append(Logged(route, method, path, query, status, part, grant))

    def _route_name(self, method: str, path: str) -> str:
        if path == "/common/discovery/instance":
            return "identity.instance"
        if path.endswith("/.well-known/openid-configuration"):
            return "identity.openid"
        if path.endswith("/oauth2/v2.0/token"):
            return "identity.token"
        if path.endswith("/oauth2/v2.0/devicecode"):
            return "identity.devicecode"
        if path == "/devicelogin":
            return "identity.devicelogin"
        if path == "/v1.0/$batch":
            return "graph.batch"
        if path.startswith("/v1.0/"):
            return self.graph.route_name(method, path[len("/v1.0") :])
        return "unknown"

    def _carry_out(
        self,
        route: str,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        part: bool,
    ) -> Answer:
        if route.startswith("identity."):
            return self._identity(route, method, path, query, headers, body)
        if route == "graph.batch":
            return self._batch(headers, body)
        if not path.startswith("/v1.0/"):
            return Answer(404, b"not found")
        with self.lock:
            token = self.identity.check(headers.get("authorization", ""))
        if token is None:
            return odata_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                **{"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'},
            )
        with self.lock:
            if self.in_flight >= self.concurrency and not part:
                return odata_error(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    **{"Retry-After": "1"},
                )
            self.in_flight += 1
        try:
            with self.lock:
                return self.graph.handle(method, path[len("/v1.0") :], query, headers, body, token)
        except GraphFail as exc:
            return exc.answer()
        finally:
            with self.lock:
                self.in_flight -= 1

    def _identity(
        self,
        route: str,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
    ) -> Answer:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        with self.lock:
            if route == "identity.instance":
                return Answer.json(200, self.identity.instance_discovery(query))
            if route == "identity.openid":
                tenant = path.split("/")[1]
                return Answer.json(200, self.identity.openid_configuration(tenant))
            if route == "identity.devicecode" and method == "POST":
                return self.identity.devicecode(form)
            if route == "identity.token" and method == "POST":
                return self.identity.token(form, headers.get("authorization", ""))
            if route == "identity.devicelogin":
                code = (query.get("code") or (form.get("code") and [form["code"]]) or [""])[-1]
                self.identity.approve(code or None)
                return Answer(200, b"You have signed in to syncd.", {"Content-Type": "text/plain"})
        return Answer(405, b"method not allowed")

    # ------------------------------------------------------------------ $batch

    def _batch(self, headers: dict[str, str], body: bytes) -> Answer:
        try:
            doc = json.loads(body or b"{}")
            reqs = doc["requests"]
            if not isinstance(reqs, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return odata_error(400, "BadRequest", "Invalid batch payload format.")
        if len(reqs) > 20:
            return odata_error(
                400, "BadRequest", "Number of requests in a batch exceeds the limit of 20."
            )
        with self.lock:
            if self.identity.check(headers.get("authorization", "")) is None:
                return odata_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        ids = [str(r.get("id")) for r in reqs]
        if len(set(ids)) != len(ids):
            return odata_error(400, "BadRequest", "Batch request ids must be unique.")
        done: dict[str, int] = {}
        wave: dict[str, int] = {}  # part id -> the wave it runs in (0: no dependsOn)
        width: dict[int, int] = {}  # wave -> parts started in it
        out = []
        for r in reqs:
            rid = str(r.get("id"))
            depends = [str(d) for d in r.get("dependsOn") or []]
            unknown = [d for d in depends if d not in done]
            if unknown:
                return odata_error(
                    400, "BadRequest", f"Request {rid} depends on a later or unknown request."
                )
            wave[rid] = 1 + max((wave[d] for d in depends), default=-1)
            width[wave[rid]] = width.get(wave[rid], 0) + 1
            if any(done[d] >= 400 for d in depends):
                answer = odata_error(424, "FailedDependency", "A request it depends on failed.")
            elif width[wave[rid]] > self.concurrency:
                answer = odata_error(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    **{"Retry-After": "1"},
                )
                url = str(r.get("url") or "")
                split = urlsplit("/v1.0" + (url if url.startswith("/") else "/" + url))
                method = str(r.get("method", "GET")).upper()
                route = self._route_name(method, split.path)
                self._log(route, method, split.path, parse_qs(split.query), 429, True)
            else:
                url = str(r.get("url") or "")
                target = "/v1.0" + (url if url.startswith("/") else "/" + url)
                sub_headers = {str(k).lower(): str(v) for k, v in (r.get("headers") or {}).items()}
                sub_headers["authorization"] = headers.get("authorization", "")
                sub_body = json.dumps(r["body"]).encode() if "body" in r else b""
                answer = self.handle(
                    str(r.get("method", "GET")).upper(), target, sub_headers, sub_body, part=True
                )
            done[rid] = answer.status
            item: dict[str, Any] = {"id": rid, "status": answer.status, "headers": answer.headers}
            if answer.body:
                item["body"] = answer.doc()
            out.append(item)
        return Answer.json(200, {"responses": out})


class _Handler(FaultHandler):
    fake: FakeMicrosoft
    status_text = STATUS_TEXT

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError, ssl.SSLError):
            self.connection.do_handshake()  # type: ignore[attr-defined]

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.answer_or_drop(lambda: self.fake.handle(self.command, self.path, headers, body))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


@pytest.fixture
def fake_microsoft() -> Iterator[FakeMicrosoft]:
    fake = FakeMicrosoft().start()
    try:
        yield fake
    finally:
        fake.stop()


__all__ = [
    "Answer",
    "FakeMicrosoft",
    "GraphFail",
    "Logged",
    "TestCA",
    "odata_error",
    "short_scope",
]
