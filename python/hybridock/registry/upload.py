"""The registry's upload protocol: blobs in, manifests put, for one repository.

``RepositoryUpload`` speaks for one repository of one registry through the client's
``RegistrySession`` (its transport, challenges, tokens and credentials). Every request asks for
a token with ``repository:<name>:pull,push``; a cross-repository mount adds
``repository:<from>:pull``. A blob is checked with HEAD (present: nothing to send), mounted
from a sibling repository (``POST .../blobs/uploads/?mount=<digest>&from=<repo>``: 201 is done,
202 is an upload the registry opened instead), or uploaded: small blobs in one ``PUT
?digest=`` after the ``POST``, big ones in ``PATCH`` chunks with ``Content-Range`` and a final
empty ``PUT``. Each answer's ``Location`` (relative or absolute, its query kept: distribution
puts its upload state there) says where the next request goes. A blob whose upload fails with
a retryable answer (429, 5xx, a broken connection) starts again from a new ``POST``, a bounded
number of times, with the pull's backoff. A manifest goes up with its media type as
Content-Type; the registry's Docker-Content-Digest must be the digest of what was sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NamedTuple
from urllib.parse import quote, urljoin, urlsplit

from hybridock.errors import AuthenticationError, HybridockError, RegistryError, RegistryUnreachable
from hybridock.reference import Reference
from hybridock.registry.auth import registry_error_text
from hybridock.registry.connection import Response
from hybridock.registry.session import MAX_ERROR_BODY, Endpoint, RegistrySession, registry_netloc
from hybridock.registry.transport import discard, failure_reason

#: blobs up to this size go in one PUT; larger ones in PATCH chunks of UPLOAD_CHUNK bytes
MONOLITHIC_MAX = 16 * 1024 * 1024
UPLOAD_CHUNK = 16 * 1024 * 1024
UPLOAD_ATTEMPTS = 5
#: docker's words when the registry refuses a push (401/403 with a token or credentials)
PUSH_DENIED = "denied: requested access to the resource is denied"
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})

#: bytes of the blob the registry has received so far
Sent = Callable[[int], None]


class UploadRetry(RegistryError):
    """A blob upload failed in a way a new upload may not (429, 5xx, a broken connection)."""


class Mount(NamedTuple):
    mounted: bool
    location: str | None  # when not mounted: the upload the registry opened instead


class RepositoryUpload:
    """Blobs and manifests into one repository; thread-safe (the session is)."""

    def __init__(
        self,
        session: RegistrySession,
        reference: Reference,
        *,
        sleep: Callable[[float], None] = time.sleep,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.session = session
        self.reference = reference
        self.endpoint = Endpoint(registry_netloc(reference.domain))
        self.repository = reference.repository
        self.scope = f"repository:{self.repository}:pull,push"
        self._sleep = sleep
        self._cancelled = cancelled

    # --- requests --------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        target: str,
        *,
        scope: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """A request to a path of the registry, or to an absolute ``Location`` (another host
        gets no credentials: the transport keeps Authorization for the registry)."""
        if target.startswith("/"):
            return self.session.request(
                self.endpoint, method, target, scope=scope or self.scope, headers=headers, body=body
            )
        return self.session.transport.request(
            method, target, headers=headers, auth_netloc=self.endpoint.netloc, body=body
        )

    def _location(self, response: Response, current: str) -> str:
        """Where the upload goes next: the answer's Location against the current URL; the
        registry's own host becomes a path again (it keeps the session's authentication)."""
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(
                f"{self.endpoint.netloc} answered HTTP {response.status} without a Location"
            )
        base = self.session.base_url(self.endpoint)
        absolute = urljoin(base + current if current.startswith("/") else current, location)
        parts = urlsplit(absolute)
        if f"{parts.scheme}://{parts.netloc.lower()}" == base.lower():
            return parts._replace(scheme="", netloc="").geturl() or "/"
        return absolute

    def _fail(self, response: Response, what: str) -> HybridockError:
        """The one-line error for an answer that is not what the protocol wants."""
        status = response.status
        try:
            body = response.read(MAX_ERROR_BODY) or b""
        except OSError:
            body = b""
        discard(response)
        text = registry_error_text(body, f"HTTP {status}")
        if status in {401, 403}:
            return AuthenticationError(text if text.startswith("denied") else PUSH_DENIED)
        if status in _RETRY_STATUS:
            return UploadRetry(f"{what} to {self.endpoint.netloc} failed: {text}")
        return RegistryError(f"{what} to {self.reference.familiar_name} failed: {text}")

    @staticmethod
    def _done(response: Response) -> None:
        """Read an answer's (small) body so its connection goes back to the pool."""
        try:
            response.read(MAX_ERROR_BODY)
        except OSError:
            response.close()
        response.release_conn()

    # --- blobs -----------------------------------------------------------------------------

    def blob_exists(self, digest: str) -> bool:
        """HEAD of the blob in this repository."""
        path = f"/v2/{self.repository}/blobs/{digest}"
        response = self._request("HEAD", path)
        if response.status == 200:
            self._done(response)
            return True
        if response.status == 404:
            self._done(response)
            return False
        raise self._fail(response, f"checking blob {digest}")

    def mount(self, digest: str, source: str) -> Mount:
        """Ask the registry to link ``digest`` from the sibling repository ``source``."""
        path = f"/v2/{self.repository}/blobs/uploads/?mount={quote(digest)}&from={quote(source)}"
        scope = f"{self.scope} repository:{source}:pull"
        response = self._request("POST", path, scope=scope)
        if response.status == 201:
            self._done(response)
            return Mount(mounted=True, location=None)
        if response.status == 202:
            location = self._location(response, path)
            self._done(response)
            return Mount(mounted=False, location=location)
        raise self._fail(response, f"mounting blob {digest}")

    def upload(
        self,
        path: Path,
        digest: str,
        size: int,
        *,
        sent: Sent | None = None,
        location: str | None = None,
    ) -> None:
        """Upload the file ``path`` as ``digest``; ``location``: an upload already opened."""
        for attempt in range(UPLOAD_ATTEMPTS):
            try:
                self._upload_once(path, digest, size, sent=sent, location=location)
            except (UploadRetry, RegistryUnreachable) as error:
                if attempt == UPLOAD_ATTEMPTS - 1 or self._cancelled():
                    if isinstance(error, UploadRetry):
                        raise RegistryError(str(error)) from None
                    raise
                location = None  # a failed upload is abandoned: the next starts anew
                self._sleep(self.session.transport.retry.backoff(attempt))
            else:
                return
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _start(self) -> str:
        path = f"/v2/{self.repository}/blobs/uploads/"
        response = self._request("POST", path)
        if response.status != 202:
            raise self._fail(response, "starting an upload")
        location = self._location(response, path)
        self._done(response)
        return location

    def _upload_once(
        self, path: Path, digest: str, size: int, *, sent: Sent | None, location: str | None
    ) -> None:
        location = location or self._start()
        try:
            with path.open("rb") as source:
                if size <= MONOLITHIC_MAX:
                    self._finish(location, digest, source.read())
                else:
                    location = self._chunks(location, source, size, sent)
                    self._finish(location, digest, None)
        except OSError as error:
            if isinstance(error, RegistryError):
                raise
            raise HybridockError(f"reading blob {digest}: {failure_reason(error)}") from None
        if sent is not None:
            sent(size)

    def _chunks(self, location: str, source: BinaryIO, size: int, sent: Sent | None) -> str:
        position = 0
        while position < size:
            if self._cancelled():
                raise HybridockError("push cancelled")
            chunk = source.read(UPLOAD_CHUNK)
            if not chunk:
                raise HybridockError(f"blob file ended at {position} of {size} bytes")
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{position}-{position + len(chunk) - 1}",
            }
            response = self._request("PATCH", location, headers=headers, body=chunk)
            if response.status != 202:
                raise self._fail(response, "uploading a blob")
            location = self._location(response, location)
            self._done(response)
            position += len(chunk)
            if sent is not None:
                sent(position)
        return location

    def _finish(self, location: str, digest: str, body: bytes | None) -> None:
        separator = "&" if "?" in location else "?"
        target = f"{location}{separator}digest={quote(digest)}"
        headers = {"Content-Type": "application/octet-stream"}
        response = self._request("PUT", target, headers=headers, body=body)
        if response.status not in {201, 204}:
            raise self._fail(response, f"uploading blob {digest}")
        answered = response.headers.get("Docker-Content-Digest")
        self._done(response)
        if answered and answered != digest:
            raise RegistryError(f"{self.endpoint.netloc} stored blob {digest} as {answered}")

    # --- manifests -------------------------------------------------------------------------

    def put_manifest(self, identifier: str, data: bytes, media_type: str, digest: str) -> None:
        """PUT a manifest or index under a tag (or its digest); the registry must agree on
        its digest."""
        path = f"/v2/{self.repository}/manifests/{identifier}"
        response = self._request("PUT", path, headers={"Content-Type": media_type}, body=data)
        if response.status not in {200, 201, 202}:
            error = self._fail(response, "pushing the manifest")
            if isinstance(error, UploadRetry):
                raise RegistryError(str(error))
            raise error
        answered = response.headers.get("Docker-Content-Digest")
        self._done(response)
        if answered and answered != digest:
            raise RegistryError(
                f"{self.endpoint.netloc} stored the manifest as {answered}, not {digest}"
            )
