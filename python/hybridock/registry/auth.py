"""Registry authentication: WWW-Authenticate challenges, Bearer tokens and Basic auth.

The client pings ``/v2/`` once per registry host and remembers the challenge; each request then
carries a Bearer token for its scope (fetched from the challenge's realm, cached until
``expires_in``) or Basic credentials. A 401 refreshes the challenge and the token once.

Token realms on another host. Docker Hub's registry (registry-1.docker.io) names
auth.docker.io as its realm, so, like docker, the registry's credentials are sent (as Basic,
or as an OAuth refresh token when an identity token is stored) to whatever realm the registry's
own challenge names: the registry chose its token server. Two limits docker's distribution
client also has in effect: credentials never go over plain http unless the realm host is
loopback or marked insecure, and a redirect from the token server to yet another host loses the
Authorization header (the transport drops it).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from hybridock.config import Config, normalize_registry
from hybridock.errors import AuthenticationError, RegistryError, RegistryUnreachable
from hybridock.registry.connection import Response
from hybridock.registry.credentials import Credentials
from hybridock.registry.transport import (
    RegistryTimeout,
    Transport,
    discard,
    failure_reason,
    netloc_of,
)

CLIENT_ID = "hybridock"
MIN_TOKEN_LIFETIME = 60.0
MAX_TOKEN_RESPONSE = 1024 * 1024
_TokenKey = tuple[str, str, str, str]  # (registry host, realm, service, scope)


class Challenge(NamedTuple):
    scheme: str  # lowercased: "bearer" or "basic"
    params: Mapping[str, str] = {}  # shared by every default: a Mapping, never mutated


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _read_token(text: str, pos: int) -> tuple[str, int]:
    start = pos
    while pos < len(text) and text[pos] not in ' \t,="':
        pos += 1
    return text[start:pos], pos


def _read_quoted(text: str, pos: int) -> tuple[str, int]:
    pos += 1  # opening quote
    out: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    return "".join(out), pos


def parse_www_authenticate(headers: str | Iterable[str]) -> list[Challenge]:
    """Parse one or more WWW-Authenticate values (RFC 7235) into challenges."""
    values = [headers] if isinstance(headers, str) else list(headers)
    challenges: list[Challenge] = []
    for text in values:
        pos = 0
        current: tuple[str, dict[str, str]] | None = None
        while pos < len(text):
            pos = _skip_spaces(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            token, pos = _read_token(text, pos)
            if not token:
                pos += 1  # stray character; skip it
                continue
            after = _skip_spaces(text, pos)
            if after < len(text) and text[after] == "=" and current is not None:
                pos = _skip_spaces(text, after + 1)
                if pos < len(text) and text[pos] == '"':
                    value, pos = _read_quoted(text, pos)
                else:
                    value, pos = _read_token(text, pos)
                current[1][token.lower()] = value
                continue
            if current is not None:
                challenges.append(Challenge(current[0], current[1]))
            current = (token.lower(), {})
            pos = after
        if current is not None:
            challenges.append(Challenge(current[0], current[1]))
    return challenges


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def registry_error_text(body: bytes, fallback: str) -> str:
    """docker's one-line rendering of a registry/token error body ("code: message")."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return fallback
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code", "")).lower().replace("_", " ")
            message = str(errors[0].get("message", "")).strip()
            text = f"{code}: {message}" if code and message else code or message
            return text.splitlines()[0] if text else fallback
        details = data.get("details") or data.get("error_description") or data.get("error")
        if isinstance(details, str) and details:
            return f"unauthorized: {details.splitlines()[0]}"
    return fallback


class Authenticator:
    """Challenges per registry host and a token cache per (realm, service, scope)."""

    def __init__(
        self,
        transport: Transport,
        config: Config,
        credentials_for: Callable[[str], Credentials | None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._config = config
        self._credentials_for = credentials_for
        self._clock = clock
        self._lock = threading.Lock()
        self._challenges: dict[str, Challenge | None] = {}
        self._tokens: dict[_TokenKey, tuple[str, float]] = {}

    def known(self, netloc: str) -> bool:
        with self._lock:
            return netloc in self._challenges

    def challenge(self, netloc: str) -> Challenge | None:
        with self._lock:
            return self._challenges.get(netloc)

    def set_challenges(self, netloc: str, challenges: list[Challenge]) -> None:
        chosen = next((c for c in challenges if c.scheme == "bearer"), None)
        chosen = chosen or next((c for c in challenges if c.scheme == "basic"), None)
        with self._lock:
            self._challenges[netloc] = chosen

    def forget_token(self, netloc: str, scope: str | None) -> None:
        with self._lock:
            challenge = self._challenges.get(netloc)
            if challenge is not None and challenge.scheme == "bearer":
                key = self._token_key(netloc, challenge, scope)
                self._tokens.pop(key, None)

    def forget_tokens(self) -> None:
        """Drop every cached token (after login or logout changed the credentials)."""
        with self._lock:
            self._tokens.clear()

    @staticmethod
    def _token_key(netloc: str, challenge: Challenge, scope: str | None) -> _TokenKey:
        """Tokens are per registry host too: two registries may share a realm, not credentials."""
        params = challenge.params
        return (netloc, params.get("realm", ""), params.get("service", ""), scope or "")

    def authorization(self, netloc: str, scope: str | None) -> str | None:
        """The Authorization header value for a request to ``netloc`` in ``scope``."""
        with self._lock:
            challenge = self._challenges.get(netloc)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            credentials = self._credentials_for(normalize_registry(netloc))
            if credentials is None or not credentials.username:
                raise AuthenticationError(
                    f"unauthorized: authentication required (no credentials for {netloc})"
                )
            return basic_header(credentials.username, credentials.password)
        key = self._token_key(netloc, challenge, scope)
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[1] > self._clock():
            return f"Bearer {cached[0]}"
        credentials = self._credentials_for(normalize_registry(netloc))
        token, lifetime = self.fetch_token(challenge, scope, credentials)
        with self._lock:
            self._tokens[key] = (token, self._clock() + lifetime)
        return f"Bearer {token}"

    def _oauth_refresh(self, realm: str, query: Mapping[str, str], refresh_token: str) -> Response:
        form = {
            **query,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
        }
        return self._transport.request(
            "POST",
            realm,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urllib.parse.urlencode(form).encode(),
            auth_netloc=netloc_of(realm),
        )

    def fetch_token(
        self,
        challenge: Challenge,
        scope: str | None,
        credentials: Credentials | None,
        *,
        offline: bool = False,
    ) -> tuple[str, float]:
        """Get a token from the challenge's realm; returns (token, lifetime in seconds)."""
        realm = challenge.params.get("realm", "")
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise AuthenticationError(f"registry sent an invalid token realm {realm!r}")
        realm_netloc = netloc_of(realm)
        if (
            parts.scheme == "http"
            and credentials is not None
            and not self._config.allows_plain_http(realm_netloc)
        ):
            raise AuthenticationError(
                f"refusing to send credentials over plain http to token server {realm_netloc}"
            )
        query: dict[str, str] = {}
        if challenge.params.get("service"):
            query["service"] = challenge.params["service"]
        if scope:
            query["scope"] = scope  # the form's one field: scopes separated by spaces
        response = None
        if credentials is not None and credentials.identity_token:
            response = self._oauth_refresh(realm, query, credentials.identity_token)
            if response.status in {404, 405}:  # no OAuth endpoint: docker falls back to GET
                discard(response)
                response = None
        if response is None:
            headers: dict[str, str] = {}
            if credentials is not None and credentials.username:
                headers["Authorization"] = basic_header(credentials.username, credentials.password)
                if offline:
                    query.update({"offline_token": "true", "client_id": CLIENT_ID})
            separator = "&" if parts.query else "?"
            # several scopes (a push that mounts from another repository): one parameter each
            pairs = [(key, value) for key, value in query.items() if key != "scope"]
            pairs += [("scope", each) for each in (scope or "").split(" ") if each]
            url = realm + (separator + urllib.parse.urlencode(pairs) if pairs else "")
            response = self._transport.request(
                "GET", url, headers=headers, auth_netloc=realm_netloc
            )
        status, body = _read_answer(response, realm_netloc)
        if status in {401, 403}:
            raise AuthenticationError(
                registry_error_text(body, "unauthorized: incorrect username or password")
            )
        if status != 200:
            raise RegistryError(f"token server {realm_netloc} answered HTTP {status}")
        return _parse_token(body, realm_netloc)


def _read_answer(response: Response, realm_netloc: str) -> tuple[int, bytes]:
    """The token server's status and (bounded) body; a stalled or cut answer is one line."""
    try:
        return response.status, response.read(MAX_TOKEN_RESPONSE + 1)
    except OSError as error:
        failure = RegistryTimeout if isinstance(error, TimeoutError) else RegistryUnreachable
        raise failure(f"token server {realm_netloc} failed: {failure_reason(error)}") from None
    finally:
        discard(response)


def _parse_token(body: bytes, realm_netloc: str) -> tuple[str, float]:
    if len(body) > MAX_TOKEN_RESPONSE:
        raise AuthenticationError(f"token server {realm_netloc} sent an oversized answer")
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise AuthenticationError(f"token server {realm_netloc} sent invalid JSON") from None
    if not isinstance(data, dict):
        raise AuthenticationError(f"token server {realm_netloc} sent invalid JSON")
    token = data.get("token") or data.get("access_token")
    if not isinstance(token, str) or not token:
        raise AuthenticationError(f"token server {realm_netloc} sent no token")
    expires = data.get("expires_in")
    lifetime = float(expires) if isinstance(expires, int | float) and expires > 0 else 0.0
    return token, max(lifetime, MIN_TOKEN_LIFETIME)
