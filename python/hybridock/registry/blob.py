"""Streaming blob downloads with Range resume.

``BlobStream`` yields the blob's bytes from ``offset`` in chunks of up to 1 MiB. When the
connection breaks or stalls mid-body, it asks again with ``Range: bytes=<position>-`` (a bounded
number of times), so the caller sees one continuous stream. A server that ignores Range (200
instead of 206) is handled by skipping the bytes already delivered. The stream never yields more
than the descriptor's size; digests are the caller's job (the native pipeline verifies them).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from types import TracebackType

from hybridock.errors import HybridockError, RegistryError, RegistryUnreachable
from hybridock.registry.connection import Response
from hybridock.registry.manifest import Descriptor
from hybridock.registry.transport import failure_reason

CHUNK_SIZE = 1024 * 1024
MAX_RESUMES = 5
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

# Opens the blob at a byte position: (position) -> response with status 200 or 206.
Opener = Callable[[int], Response]


class BlobStream:
    """An iterable of a blob's chunks; close it (or use ``with``) to drop the connection."""

    def __init__(self, opener: Opener, descriptor: Descriptor, offset: int, netloc: str) -> None:
        if not 0 <= offset <= descriptor.size:
            raise ValueError(f"offset {offset} outside blob of {descriptor.size} bytes")
        self.descriptor = descriptor
        self.offset = offset
        self._opener = opener
        self._netloc = netloc
        self._response: Response | None = None
        self._closed = False

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        self._release()

    def abort(self) -> None:
        """From another thread: end the transfer now. A read blocked on a stalled connection
        returns at once (the socket is shut down) and the iterating thread raises instead of
        resuming."""
        self._closed = True
        response = self._response
        if response is not None:
            # shutdown(2) wakes a read blocked in another thread; close() would not.
            with contextlib.suppress(AttributeError, ValueError, RuntimeError, OSError):
                response.shutdown()

    def _cancelled(self) -> HybridockError:
        return HybridockError(f"download of {self.descriptor.digest} was cancelled")

    def _release(self) -> None:
        """Drop the connection: a half-read body must never go back to the pool."""
        if self._response is not None:
            self._response.close()
            self._response.release_conn()
            self._response = None

    def __iter__(self) -> Iterator[bytes]:
        position = self.offset
        size = self.descriptor.size
        resumes = 0
        while position < size and not self._closed:
            response = self._opener(position)
            self._response = response
            try:
                skip = self._bytes_to_skip(response, position)
                for received in response.stream(CHUNK_SIZE):
                    dropped = min(skip, len(received))
                    chunk, skip = received[dropped:], skip - dropped
                    if not chunk:
                        continue
                    if position + len(chunk) > size:
                        raise RegistryError(
                            f"blob {self.descriptor.digest} is larger than its declared "
                            f"{size} bytes"
                        )
                    position += len(chunk)
                    yield chunk
            except OSError as error:
                if isinstance(error, RegistryError):
                    raise
                if self._closed:
                    raise self._cancelled() from None
                if resumes >= MAX_RESUMES:
                    raise RegistryUnreachable(
                        f"download of {self.descriptor.digest} from {self._netloc} kept "
                        f"failing: {failure_reason(error)}"
                    ) from None
            finally:
                self._release()
            if position < size:
                if self._closed:
                    raise self._cancelled()
                resumes += 1
                if resumes > MAX_RESUMES:
                    raise RegistryUnreachable(
                        f"download of {self.descriptor.digest} from {self._netloc} ended "
                        f"early at {position} of {size} bytes"
                    )

    def _bytes_to_skip(self, response: Response, position: int) -> int:
        if response.status == 200:
            return position
        if response.status == 206:
            match = _CONTENT_RANGE_RE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match is None or int(match.group(1)) != position:
                raise RegistryError(
                    f"{self._netloc} answered a Range request for {self.descriptor.digest} "
                    f"with a wrong Content-Range"
                )
            return 0
        raise RegistryError(
            f"unexpected HTTP {response.status} for blob {self.descriptor.digest} "
            f"from {self._netloc}"
        )
