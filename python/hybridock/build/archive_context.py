"""A build context that arrives as a tar stream (the Engine API's ``POST /build`` body,
``docker build -`` of an archive): unpacked under the store's ``tmp/`` for the one build and
removed after it.

The stream may be plain or compressed (gzip, bzip2, xz: what ``docker build --compress`` and
docker-py send). Members are extracted through ``runtime.archive.extract_tar`` into a view of
the new directory alone, so a name with ``..``, an absolute name or a link out of the context
is refused as ``cp`` refuses it, never written outside; owners are the caller's (root), as
dockerd's context has them.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from hybridock.errors import BuildError, FileCopyError
from hybridock.runtime.archive import extract_tar
from hybridock.runtime.fsview import View
from hybridock.store.layout import Layout


class _Peeked:
    """A reader whose first bytes were read to sniff the compression, then given again."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head = head
        self.rest = rest

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size < 0:
                data, self.head = self.head + self.rest.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            if len(data) < size:
                data += self.rest.read(size - len(data))
            return data
        return self.rest.read(size)


def _decompressed(stream: IO[bytes]) -> IO[bytes]:
    head = stream.read(6)
    peeked: IO[bytes] = _Peeked(head, stream)  # type: ignore[assignment]
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=peeked, mode="rb"))
    if head.startswith(b"BZh"):
        return bz2.BZ2File(peeked)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(peeked)
    return peeked


@contextlib.contextmanager
def unpacked(layout: Layout, stream: IO[bytes]) -> Iterator[Path]:
    """The context ``stream`` holds, as a directory that lives as long as the block."""
    layout.ensure()
    with layout.temp_dir("context") as directory:
        root = directory / "context"
        root.mkdir()
        try:
            with View([str(root)], overlay=False) as view:
                extract_tar(view, (), _decompressed(stream), owner=(0, 0))
        except (FileCopyError, OSError, EOFError, lzma.LZMAError) as error:
            raise BuildError(f"failed to read the build context: {error}") from error
        yield root


def dockerfile_inside(root: Path, dockerfile: str | None) -> str:
    """The API's ``dockerfile`` (a path in the context, default ``Dockerfile``) as a host path
    inside ``root``; one that leaves the context is refused."""
    relative = dockerfile or "Dockerfile"
    real_root = Path(os.path.realpath(root))
    path = Path(os.path.realpath(real_root / relative.lstrip("/")))
    if real_root not in path.parents:
        raise BuildError(f"the Dockerfile {relative} is outside the build context")
    return str(path)
