"""One registry conversation: ping, challenge, authenticated requests, bounded reads, login.

``RegistrySession`` owns the transport and the authenticator shared by every thread of a
client. As containerd's resolver, it sends no ``/v2/`` ping before a pull: the first request
to an endpoint learns its scheme (https first; plain http only after a TLS failure and only
for loopback or insecure registries) and, from a 401, its auth challenge; a 401 is retried
once with a fresh challenge and token. A pull of a cached image is one HEAD request. Login
pings ``/v2/`` to learn the challenge before it sends credentials. Error answers become
docker-style one-line errors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from hybridock.config import Config, normalize_registry
from hybridock.errors import (
    AuthenticationError,
    ManifestInvalid,
    ManifestUnknown,
    RegistryError,
    RegistryUnreachable,
)
from hybridock.reference import DEFAULT_REGISTRY_HOST, Reference
from hybridock.registry.auth import (
    Authenticator,
    basic_header,
    parse_www_authenticate,
    registry_error_text,
)
from hybridock.registry.connection import Response
from hybridock.registry.credentials import (
    Credentials,
    erase_credentials,
    lookup_credentials,
    store_credentials,
)
from hybridock.registry.transport import (
    RegistryTimeout,
    RetryPolicy,
    TLSFailure,
    Transport,
    discard,
    failure_reason,
)

MAX_ERROR_BODY = 64 * 1024


class Endpoint(NamedTuple):
    """One place a repository can be fetched from: a mirror or the registry itself."""

    netloc: str
    scheme: str | None = None  # None: https, or http for loopback/insecure hosts (probed)
    mirror: bool = False


def registry_netloc(registry: str) -> str:
    """The host[:port] to talk to for a registry name (docker.io -> registry-1.docker.io)."""
    key = normalize_registry(registry or "docker.io")
    return DEFAULT_REGISTRY_HOST if key == "docker.io" else key


class RegistrySession:
    """Transport + authentication + per-endpoint state; thread-safe."""

    def __init__(
        self,
        config: Config,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        credentials: Mapping[str, Credentials] | None = None,
    ) -> None:
        self.config = config
        self.transport = Transport(config, retry=retry, sleep=sleep)
        self.auth = Authenticator(self.transport, config, self.credentials, clock=clock)
        self._lock = threading.Lock()
        self._bases: dict[Endpoint, str] = {}
        self._credential_cache: dict[str, Credentials | None] = {}
        self._given = {normalize_registry(key): value for key, value in (credentials or {}).items()}

    def credentials(self, registry: str) -> Credentials | None:
        """The registry's credentials: those this session was given, else the saved ones."""
        if registry in self._given:
            return self._given[registry]
        with self._lock:
            if registry in self._credential_cache:
                return self._credential_cache[registry]
        found = lookup_credentials(self.config.auth_file, registry)
        with self._lock:
            self._credential_cache[registry] = found
        return found

    def base_url(self, endpoint: Endpoint) -> str:
        """The endpoint's ``scheme://host``, pinging ``/v2/`` to learn its challenge if no
        request went there yet."""
        with self._lock:
            known = self._bases.get(endpoint)
        if known is not None:
            return known
        response = self._probe(endpoint, lambda base: self.transport.request("GET", f"{base}/v2/"))
        try:
            status = response.status
            challenges = parse_www_authenticate(response.headers.getlist("WWW-Authenticate"))
        finally:
            discard(response)
        if status >= 500:
            raise RegistryUnreachable(f"registry {endpoint.netloc} answered HTTP {status}")
        self.auth.set_challenges(endpoint.netloc, challenges if status == 401 else [])
        with self._lock:
            return self._bases[endpoint]

    def _probe(self, endpoint: Endpoint, send: Callable[[str], Response]) -> Response:
        """``send(base)`` on the endpoint's first scheme that completes a TLS handshake (or
        plain http, where allowed); the scheme that answered is remembered."""
        schemes = (
            (endpoint.scheme,) if endpoint.scheme else self.transport.schemes_for(endpoint.netloc)
        )
        tls_failure: TLSFailure | None = None
        for position, scheme in enumerate(schemes):
            base = f"{scheme}://{endpoint.netloc}"
            try:
                response = send(base)
            except TLSFailure as error:
                if position == len(schemes) - 1:
                    raise
                tls_failure = error
                continue
            except RegistryUnreachable as error:
                # https failed its handshake and plain http failed too: a TLS registry whose
                # certificate is not trusted. Its TLS error says why; "connection reset" not.
                # (A TLS server does not stall on a plain request: a timeout is http's own.)
                if tls_failure is not None and not isinstance(error, RegistryTimeout):
                    raise tls_failure from None
                raise
            with self._lock:
                self._bases.setdefault(endpoint, base)
            return response
        raise RegistryUnreachable(f"cannot reach registry {endpoint.netloc}")

    def request(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        *,
        scope: str | None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """A request with authentication; a 401 refreshes the challenge and token once.
        ``scope``: one or more token scopes, separated by spaces."""
        with self._lock:
            known = self._bases.get(endpoint)
        if known is not None:
            return self._authenticated(endpoint, known, method, path, scope, headers, body)
        return self._probe(
            endpoint,
            lambda base: self._authenticated(endpoint, base, method, path, scope, headers, body),
        )

    def _authenticated(
        self,
        endpoint: Endpoint,
        base: str,
        method: str,
        path: str,
        scope: str | None,
        headers: Mapping[str, str] | None,
        body: bytes | None = None,
    ) -> Response:
        for attempt in range(2):
            send = dict(headers or {})
            authorization = self.auth.authorization(endpoint.netloc, scope)
            if authorization:
                send["Authorization"] = authorization
            response = self.transport.request(
                method, base + path, headers=send, auth_netloc=endpoint.netloc, body=body
            )
            if response.status != 401 or attempt == 1:
                return response
            challenges = parse_www_authenticate(response.headers.getlist("WWW-Authenticate"))
            if not challenges:
                return response
            discard(response)
            self.auth.set_challenges(endpoint.netloc, challenges)
            self.auth.forget_token(endpoint.netloc, scope)
        raise AssertionError("unreachable: the second attempt returns")

    def raise_for_status(self, response: Response, ref: Reference, what: str) -> None:
        if response.status in {200, 206}:
            return
        try:
            body = response.read(MAX_ERROR_BODY) or b""
        except OSError:
            body = b""
        discard(response)
        status = response.status
        text = registry_error_text(body, f"HTTP {status}")
        if status in {401, 403}:
            raise AuthenticationError(
                f"pull access denied for {ref.familiar_name}, repository does not exist or "
                f"may require 'hybridock login': {text}"
            )
        if status == 404:
            if text.startswith("name unknown"):
                raise ManifestUnknown(f"repository {ref.familiar_name} not found: {text}")
            if what == "manifest":
                if text == "HTTP 404":
                    text = "manifest unknown"
                raise ManifestUnknown(f"manifest for {ref.familiar} not found: {text}")
            raise ManifestUnknown(f"{what} not found in {ref.familiar_name}: {text}")
        raise RegistryError(f"fetching {what} for {ref.familiar}: {text}")

    @staticmethod
    def read_bounded(response: Response, limit: int, what: str, netloc: str) -> bytes:
        """Read a whole (small) body, refusing more than ``limit`` bytes before reading it."""
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            response.close()
            response.release_conn()
            raise ManifestInvalid(f"{what} is larger than {limit} bytes")
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in response.stream(64 * 1024):
                total += len(chunk)
                if total > limit:
                    response.close()
                    raise ManifestInvalid(f"{what} is larger than {limit} bytes")
                chunks.append(chunk)
        except OSError as error:
            if isinstance(error, RegistryError):
                raise
            raise RegistryUnreachable(
                f"reading {what} from {netloc} failed: {failure_reason(error)}"
            ) from None
        finally:
            response.release_conn()
        return b"".join(chunks)

    # --- login ---------------------------------------------------------------------------

    def login(self, registry: str, username: str, password: str) -> None:
        """Check the credentials against the registry, then save them in the auth file."""
        endpoint = Endpoint(registry_netloc(registry))
        base = self.base_url(endpoint)
        challenge = self.auth.challenge(endpoint.netloc)
        credentials = Credentials(username, password)
        if challenge is not None and challenge.scheme == "bearer":
            self.auth.fetch_token(challenge, None, credentials, offline=True)
        elif challenge is not None:
            response = self.transport.request(
                "GET",
                f"{base}/v2/",
                headers={"Authorization": basic_header(username, password)},
                auth_netloc=endpoint.netloc,
            )
            status = response.status
            try:
                body = response.read(MAX_ERROR_BODY) or b""
            except OSError as error:
                raise RegistryUnreachable(
                    f"reading the answer of {endpoint.netloc} failed: {failure_reason(error)}"
                ) from None
            finally:
                discard(response)
            if status != 200:
                raise AuthenticationError(
                    registry_error_text(body, "unauthorized: incorrect username or password")
                )
        store_credentials(
            self.config.auth_file, normalize_registry(registry or "docker.io"), username, password
        )
        with self._lock:
            self._credential_cache.clear()
        self.auth.forget_tokens()

    def logout(self, registry: str) -> bool:
        """Forget saved credentials; True when there were some."""
        removed = erase_credentials(
            self.config.auth_file, normalize_registry(registry or "docker.io")
        )
        with self._lock:
            self._credential_cache.clear()
        self.auth.forget_tokens()
        return removed
