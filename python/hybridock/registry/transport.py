"""HTTP for the registry client: TLS policy, timeouts, bounded retries and manual redirects.

Connections come from ``connection.Pool`` (keep-alive, shared by every thread). https is the
default; plain http is used only for loopback hosts and registries marked insecure (insecure
ones may also skip TLS verification); a registry with its own CA file trusts only that CA.
Every request has a connect timeout and a read timeout (the config's ``registry-read-timeout``:
the longest silence while an answer is awaited or read), so a stalled server is an error, not a
hang.
GET/HEAD are retried with exponential backoff and jitter on 429 (honouring Retry-After), 5xx
and transient connection failures (resets, timeouts), a bounded number of times. Permanent
failures fail at once, as docker's and containerd's resolvers do (no retry around the
registry ping): a host name that does not exist (EAI_NONAME), and a connection refused or
unroutable to a host that has not answered this process yet (nothing listens there). A host
that answered before and now refuses is restarting: that is retried. Redirects are followed
here, at most five, and the ``Authorization`` header never goes to a different host than the
one it was meant for (blob storage redirects). Failures become one-line RegistryError
subclasses.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import SplitResult, urljoin, urlsplit

from hybridock.config import DEFAULT_REGISTRY_READ_TIMEOUT, Config
from hybridock.errors import RegistryError, RegistryUnreachable
from hybridock.registry.connection import (
    Connection,
    Pool,
    ProtocolViolation,
    ReadTimeout,
    Response,
    TLSError,
    request_head,
)

if TYPE_CHECKING:
    import ssl

MAX_REDIRECTS = 5
USER_AGENT = "hybridock/0.1"
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_RETRY_CODES = frozenset({429, 500, 502, 503, 504})
_UNKNOWN_HOST = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)
_NOTHING_LISTENS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class TLSFailure(RegistryUnreachable):
    """The TLS handshake failed (a plain-http server, a bad certificate)."""


class RegistryTimeout(RegistryUnreachable):
    """The registry accepted the connection, or not, but did not answer in time."""


class RetryPolicy(NamedTuple):
    attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 10.0
    retry_after_max: float = 60.0
    connect_timeout: float = 15.0
    read_timeout: float = DEFAULT_REGISTRY_READ_TIMEOUT

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.backoff_max, self.backoff_base * (2**attempt))
        import random  # noqa: PLC0415 - only a retry needs it

        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # noqa: PLC0415 - ~20 ms of imports, needed only for a date

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def discard(response: Response) -> None:
    """Drop a response whose body is not (entirely) wanted: close its connection rather than
    read an unbounded body or hand a half-read connection back to the pool."""
    response.close()
    response.release_conn()


def netloc_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


class Transport:
    """Sends requests to registries; thread-safe, shared by a RegistryClient's threads."""

    def __init__(
        self,
        config: Config,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.retry = retry or RetryPolicy(read_timeout=config.registry_read_timeout)
        self._sleep = sleep
        self._pool = Pool(per_key=max(4, config.max_concurrent_downloads + 2))
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._answered: set[str] = set()  # hosts that sent an HTTP answer in this process

    def close(self) -> None:
        self._pool.clear()

    def schemes_for(self, netloc: str) -> tuple[str, ...]:
        """URL schemes to try for a registry host, best first."""
        if self.config.allows_plain_http(netloc):
            return ("https", "http")
        return ("https",)

    def _tls_policy(self, netloc: str) -> str:
        """'insecure' (no verification), 'ca:<file>' (only that CA) or 'system'."""
        if self.config.is_insecure(netloc):
            return "insecure"
        if (ca_file := self.config.ca_file_for(netloc)) is not None:
            return f"ca:{ca_file}"
        return "system"

    def _context(self, policy: str) -> ssl.SSLContext:
        context = self._contexts.get(policy)
        if context is not None:
            return context
        import ssl  # noqa: PLC0415 - plain-http registries never pay for it

        if policy == "insecure":  # the user marked this registry insecure in the configuration
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(
                cafile=policy.removeprefix("ca:") if policy.startswith("ca:") else None
            )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return self._contexts.setdefault(policy, context)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth_netloc: str | None = None,
        body: bytes | None = None,
        retry: bool = True,
    ) -> Response:
        """Send a request and return the final (non-redirect) response, body not yet read.

        ``Authorization`` in ``headers`` is sent only to ``auth_netloc`` (default: the host
        of ``url``). 429/5xx are retried while attempts remain; the last such response is
        returned for the caller to turn into an error. The caller must release the response.
        """
        auth_netloc = auth_netloc or netloc_of(url)
        for redirect in range(MAX_REDIRECTS + 1):
            response = self._send_with_retries(
                method, url, headers or {}, auth_netloc, body, retry=retry
            )
            location = response.headers.get("Location")
            if response.status not in _REDIRECT_CODES or not location:
                return response
            discard(response)
            if redirect == MAX_REDIRECTS:
                break
            url = urljoin(url, location)
            if response.status == 303:
                method, body = ("HEAD" if method == "HEAD" else "GET"), None
        raise RegistryError(f"too many redirects (more than {MAX_REDIRECTS}) fetching {url}")

    def _send_with_retries(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        auth_netloc: str,
        body: bytes | None,
        *,
        retry: bool,
    ) -> Response:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS:
            raise RegistryError(f"unsupported URL scheme in {url}")
        netloc = parts.netloc.lower()
        send_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        for key, value in headers.items():
            if key.lower() == "authorization" and netloc != auth_netloc:
                continue
            send_headers[key] = value
        path = parts._replace(scheme="", netloc="").geturl() or "/"
        try:
            head = request_head(method, path, parts.netloc, send_headers, body)
        except ValueError as error:  # a header or redirect a server sent us, not sendable
            raise RegistryError(
                f"refusing to send a malformed request to {netloc}: {error}"
            ) from None
        attempts = self.retry.attempts if retry and method in {"GET", "HEAD"} else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._exchange(parts, method, head, body)
            except TLSError as error:
                raise TLSFailure(f"TLS failure talking to {netloc}: {error}") from None
            except OSError as error:
                if last or self._permanent(error, netloc):
                    failure = (
                        RegistryTimeout if isinstance(error, TimeoutError) else RegistryUnreachable
                    )
                    reason = failure_reason(error)
                    raise failure(f"cannot reach registry {netloc}: {reason}") from None
                self._sleep(self.retry.backoff(attempt))
                continue
            self._answered.add(netloc)
            if response.status not in _RETRY_CODES or last:
                return response
            delay = self.retry.backoff(attempt)
            if response.status == 429:
                after = parse_retry_after(response.headers.get("Retry-After"))
                if after is not None:
                    delay = min(after, self.retry.retry_after_max)
            discard(response)
            self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _exchange(
        self, parts: SplitResult, method: str, head: bytes, body: bytes | None
    ) -> Response:
        """One request on a pooled connection, or a new one. A pooled connection the server
        closed while it was idle fails before any answer: then once more on a new one."""
        scheme, netloc = parts.scheme, parts.netloc.lower()
        policy = self._tls_policy(netloc) if scheme == "https" else "plain"
        key = (scheme, netloc, policy)
        while True:
            connection = self._pool.take(key)
            reused = connection is not None
            if connection is None:
                connection = self._connect(scheme, netloc, policy)
            try:
                connection.send(head, body)
                return Response(connection, self._pool, key, method)
            except BaseException as error:
                connection.close()
                if reused and method in {"GET", "HEAD"} and isinstance(error, ConnectionError):
                    continue
                raise

    def _connect(self, scheme: str, netloc: str, policy: str) -> Connection:
        parts = urlsplit(f"//{netloc}")
        host = parts.hostname or ""
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            raise RegistryError(f"invalid port in {netloc}") from None
        return Connection.open(
            host,
            port,
            tls=self._context(policy) if scheme == "https" else None,
            connect_timeout=self.retry.connect_timeout,
            read_timeout=self.retry.read_timeout,
        )

    def _permanent(self, error: OSError, netloc: str) -> bool:
        """A failure that a retry cannot mend: the name does not exist, or nothing listens at
        a host that never answered (a host that answered before is restarting)."""
        if isinstance(error, socket.gaierror):
            return error.errno in _UNKNOWN_HOST
        return error.errno in _NOTHING_LISTENS and netloc not in self._answered


def failure_reason(error: OSError) -> str:
    """A short one-line reason for a connection failure."""
    if isinstance(error, ReadTimeout):
        return str(error)
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ProtocolViolation):
        return f"invalid HTTP answer: {error}"
    if error.strerror:
        return error.strerror.lower()
    text = str(error) or type(error).__name__
    return text.splitlines()[0]
