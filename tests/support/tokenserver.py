"""A Docker token server (the ``auth: token`` realm) for tests.

It implements what distribution 2.x checks (registry/auth/token/token.go): a compact JWS
signed ES256 (signature as the raw 64-byte r||s), header ``typ``/``alg`` plus ``x5c`` (the
signing certificate, which the registry verifies against its ``rootcertbundle``) or ``kid``
(the libtrust fingerprint of the key), claims ``iss`` (must be the configured issuer), ``aud``
(the service), ``exp``/``nbf`` (60 s leeway on the registry's side), ``iat``, ``jti``, ``sub``
and ``access: [{type, name, actions}]``.

Policy: users with passwords get every action they ask for on repositories matching their
patterns; anyone (no credentials) gets ``pull`` on repositories matching ``anonymous_pull``;
other scopes are silently left out of the token, as Docker Hub does, so the registry answers
401 insufficient_scope. Wrong credentials get 401. ``GET`` with Basic auth and the OAuth2
``POST`` (grant_type=password / refresh_token) are both served. Each request is recorded.
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.support.images import Credentials
from tests.support.registry import Registry, TokenAuth
from tests.support.tls import SigningKey, TLSFiles, make_signing_key

ACTIONS = ("pull", "push", "delete", "*")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The key id libtrust computes: base32 of the first 240 bits of sha256(SPKI DER)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        rest, _, actions = text.rpartition(":")
        kind, _, name = rest.partition(":")
        return cls(kind, name, tuple(a for a in actions.split(",") if a))


@dataclass
class TokenRequest:
    method: str
    params: dict[str, list[str]]
    username: str | None
    status: int
    granted: list[dict[str, Any]] = field(default_factory=list)


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


class TokenServer:
    """Issues registry tokens on 127.0.0.1 from a thread; ``realm`` goes into the registry."""

    def __init__(
        self,
        signing_key: SigningKey,
        *,
        users: Mapping[str, str] | None = None,
        user_repositories: Mapping[str, Sequence[str]] | None = None,
        anonymous_pull: Sequence[str] = ("public/*",),
        service: str = "hybridock-test-registry",
        issuer: str = "hybridock-test-issuer",
        expires_in: int = 300,
        header: Literal["x5c", "kid"] = "x5c",
        tls: TLSFiles | None = None,
    ) -> None:
        self.signing_key = signing_key
        self.users = dict(users or {})
        self.user_repositories = {k: tuple(v) for k, v in (user_repositories or {}).items()}
        self.anonymous_pull = tuple(anonymous_pull)
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.header = header
        self.tls = tls
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._refresh_tokens: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle ---

    def start(self) -> TokenServer:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _make_handler(self))
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.server_context().wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    def registry_auth(self) -> TokenAuth:
        """The registry configuration that trusts this server's tokens."""
        return TokenAuth(self.realm, self.service, self.issuer, self.signing_key.cert_path)

    # --- records ---

    @property
    def requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    # --- policy and signing ---

    def authenticate(self, username: str | None, password: str | None) -> bool:
        return username is None or self.users.get(username) == password

    def grant(self, username: str | None, scopes: Sequence[Scope]) -> list[dict[str, Any]]:
        access = []
        for scope in scopes:
            if scope.type != "repository":
                continue
            if username is not None and _matches(
                scope.name, self.user_repositories.get(username, ("*",))
            ):
                allowed = tuple(a for a in scope.actions if a in ACTIONS)
            elif _matches(scope.name, self.anonymous_pull):
                allowed = tuple(a for a in scope.actions if a == "pull")
            else:
                allowed = ()
            if allowed:
                access.append({"type": scope.type, "name": scope.name, "actions": list(allowed)})
        return access

    def issue(
        self,
        subject: str,
        access: list[dict[str, Any]],
        *,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: int | None = None,
        key_header: Literal["x5c", "kid"] | None = None,
    ) -> str:
        """A signed token; tests may call it directly to craft wrong-audience tokens etc."""
        now = int(time.time())
        header: dict[str, Any] = {"typ": "JWT", "alg": "ES256"}
        if (key_header or self.header) == "x5c":
            der = self.signing_key.certificate.public_bytes(serialization.Encoding.DER)
            header["x5c"] = [base64.b64encode(der).decode()]
        else:
            header["kid"] = libtrust_key_id(self.signing_key.key.public_key())
        claims = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "aud": audience or self.service,
            "exp": now + (self.expires_in if expires_in is None else expires_in),
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        der_signature = self.signing_key.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der_signature)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input + "." + _b64url(signature)

    def answer(
        self, method: str, params: dict[str, list[str]], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        """The (status, JSON body) for one token request."""
        username, password = basic if basic else (None, None)
        grant_type = (params.get("grant_type") or [""])[0]
        if method == "POST" and grant_type == "password":
            username = (params.get("username") or [""])[0]
            password = (params.get("password") or [""])[0]
        elif method == "POST" and grant_type == "refresh_token":
            with self._lock:
                username = self._refresh_tokens.get((params.get("refresh_token") or [""])[0])
            if username is None:
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad refresh token"}]}
            password = self.users.get(username)
        service = (params.get("service") or [self.service])[0]
        if service != self.service:
            return 400, {"errors": [{"code": "DENIED", "message": f"unknown service {service}"}]}
        if not self.authenticate(username, password):
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "wrong credentials"}]}
        scopes = [Scope.parse(s) for text in params.get("scope", []) for s in text.split(" ")]
        access = self.grant(username, scopes)
        token = self.issue(username or "", access)
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        if method == "POST" and username is not None:
            refresh = secrets.token_urlsafe(24)
            with self._lock:
                self._refresh_tokens[refresh] = username
            body["refresh_token"] = refresh
        return 200, body


def _make_handler(owner: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: requests are recorded on the server object."""

        def _basic(self) -> tuple[str, str] | None:
            header = self.headers.get("Authorization", "")
            if not header.lower().startswith("basic "):
                return None
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except (ValueError, UnicodeDecodeError):
                return ("", "")
            username, _, password = decoded.partition(":")
            return username, password

        def _serve(self, params: dict[str, list[str]]) -> None:
            path = urllib.parse.urlsplit(self.path).path
            basic = self._basic()
            if path != "/token":
                status, body = 404, {"errors": [{"code": "NOT_FOUND", "message": path}]}
            else:
                status, body = owner.answer(self.command, params, basic)
            granted: list[dict[str, Any]] = []
            if status == 200:
                granted = _claims(str(body["token"]))["access"]
            username = basic[0] if basic else next(iter(params.get("username", [])), None)
            owner._record(TokenRequest(self.command, params, username, status, granted))
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="hybridock-test-tokens"')
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._serve(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = self.rfile.read(length).decode()
            params = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            params.update(urllib.parse.parse_qs(form))
            self._serve(params)

    return Handler


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def decode_claims(token: str) -> dict[str, Any]:
    """The claims of a token (unverified), for assertions."""
    return _claims(token)


@dataclass
class TokenRegistry:
    """A registry with token auth and the token server it trusts, started and stopped together."""

    registry: Registry
    tokens: TokenServer

    @classmethod
    def create(
        cls,
        workdir: Path,
        *,
        users: Mapping[str, str],
        anonymous_pull: Sequence[str] = ("public/*",),
        tls: TLSFiles | None = None,
    ) -> TokenRegistry:
        tokens = TokenServer(
            make_signing_key(workdir / "token-keys"), users=users, anonymous_pull=anonymous_pull
        )
        tokens.start()
        try:
            registry = Registry(
                workdir / "registry",
                tls=tls,
                token=tokens.registry_auth(),
                push_credentials=Credentials(*next(iter(users.items()))),
            )
            registry.start()
        except BaseException:
            tokens.stop()
            raise
        return cls(registry, tokens)

    def stop(self) -> None:
        try:
            self.registry.stop()
        finally:
            self.tokens.stop()

    def reset(self) -> None:
        self.registry.reset_requests()
        self.tokens.reset()
