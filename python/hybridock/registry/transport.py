"""HTTP for the registry client: TLS policy, timeouts, bounded retries and manual redirects.

One urllib3 ``PoolManager`` is shared by every thread. https is the default; plain http is
used only for loopback hosts and registries marked insecure (insecure ones may also skip TLS
verification). Every request has a connect and a read timeout, so a stalled server is an
error, not a hang. GET/HEAD are retried with exponential backoff and jitter on 429 (honouring
Retry-After), 5xx and connection failures, a bounded number of times. Redirects are followed
here, at most five, and the ``Authorization`` header never goes to a different host than the
one it was meant for (blob storage redirects). Failures become one-line RegistryError subclasses.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import (
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3Timeout,
)

from hybridock.config import Config

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection
from hybridock.errors import RegistryError, RegistryUnreachable

MAX_REDIRECTS = 5
USER_AGENT = "hybridock/0.1"
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_RETRY_CODES = frozenset({429, 500, 502, 503, 504})


class _OptedInUnverifiedPool(urllib3.HTTPSConnectionPool):
    """HTTPS without certificate checks, used only for registries the user marked insecure.

    urllib3 warns on every such request; the user asked for it in the configuration, so the
    warning (a global, thread-unsafe filter otherwise) is not raised here.
    """

    def _validate_conn(self, conn: BaseHTTPConnection) -> None:
        if conn.is_closed:
            conn.connect()


class TLSFailure(RegistryUnreachable):
    """The TLS handshake failed (a plain-http server, a bad certificate)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 10.0
    retry_after_max: float = 60.0
    connect_timeout: float = 15.0
    read_timeout: float = 60.0

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.backoff_max, self.backoff_base * (2**attempt))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def discard(response: urllib3.BaseHTTPResponse) -> None:
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
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        size = max(4, config.max_concurrent_downloads + 2)
        self._pool = pool or urllib3.PoolManager(num_pools=32, maxsize=size, retries=False)
        self._insecure_pool = urllib3.PoolManager(num_pools=8, maxsize=size, retries=False)
        self._insecure_pool.pool_classes_by_scheme = {
            "http": urllib3.HTTPConnectionPool,
            "https": _OptedInUnverifiedPool,
        }

    def close(self) -> None:
        self._pool.clear()
        self._insecure_pool.clear()

    def schemes_for(self, netloc: str) -> tuple[str, ...]:
        """URL schemes to try for a registry host, best first."""
        if self.config.allows_plain_http(netloc):
            return ("https", "http")
        return ("https",)

    def _pool_for(self, url: str) -> urllib3.connectionpool.HTTPConnectionPool:
        parts = urlsplit(url)
        pool_kwargs: dict[str, object] = {}
        if parts.scheme == "https":
            netloc = parts.netloc.lower()
            if self.config.is_insecure(netloc):
                pool_kwargs = {"cert_reqs": ssl.CERT_NONE, "assert_hostname": False}
                return self._insecure_pool.connection_from_url(url, pool_kwargs=pool_kwargs)
            if (ca_file := self.config.ca_file_for(netloc)) is not None:
                pool_kwargs = {"ca_certs": ca_file, "cert_reqs": ssl.CERT_REQUIRED}
        elif parts.scheme != "http":
            raise RegistryError(f"unsupported URL scheme in {url}")
        return self._pool.connection_from_url(url, pool_kwargs=pool_kwargs or None)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth_netloc: str | None = None,
        body: bytes | None = None,
        retry: bool = True,
    ) -> urllib3.BaseHTTPResponse:
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
    ) -> urllib3.BaseHTTPResponse:
        netloc = netloc_of(url)
        send_headers = {"User-Agent": USER_AGENT}
        for key, value in headers.items():
            if key.lower() == "authorization" and netloc != auth_netloc:
                continue
            send_headers[key] = value
        attempts = self.retry.attempts if retry and method in {"GET", "HEAD"} else 1
        timeout = urllib3.Timeout(connect=self.retry.connect_timeout, read=self.retry.read_timeout)
        pool = self._pool_for(url)
        path = urlsplit(url)._replace(scheme="", netloc="").geturl() or "/"
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = pool.urlopen(
                    method,
                    path,
                    headers=send_headers,
                    body=body,
                    redirect=False,
                    retries=False,
                    timeout=timeout,
                    preload_content=False,
                    decode_content=False,
                    assert_same_host=False,
                )
            except SSLError as error:
                raise TLSFailure(f"TLS failure talking to {netloc}: {_reason(error)}") from None
            except (NewConnectionError, Urllib3Timeout, ProtocolError, Urllib3Error) as error:
                if last:
                    raise RegistryUnreachable(
                        f"cannot reach registry {netloc}: {_reason(error)}"
                    ) from None
                self._sleep(self.retry.backoff(attempt))
                continue
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


def _reason(error: BaseException) -> str:
    """A short one-line reason from a urllib3 exception chain."""
    inner: BaseException = error
    while isinstance(getattr(inner, "reason", None), BaseException):
        inner = inner.reason  # type: ignore[attr-defined]
    if (
        isinstance(inner, ProtocolError)
        and inner.args
        and isinstance(inner.args[-1], BaseException)
    ):
        inner = inner.args[-1]
    if isinstance(inner, NewConnectionError):  # checked first: it subclasses the timeout error
        cause = inner.__cause__ or inner.__context__
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        text = str(inner).split(": ", 1)[-1]
        return text.splitlines()[0] if text else "connection failed"
    if isinstance(inner, Urllib3Timeout | TimeoutError):
        return "timed out"
    if isinstance(inner, ConnectionResetError):
        return "connection reset by peer"
    text = str(inner) or type(inner).__name__
    return text.splitlines()[0]
