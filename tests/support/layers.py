"""Image layers built in code from a declarative list of entries.

A layer is a tar stream (PAX format, so long names and xattrs need no special handling) made
of ``File``, ``Dir``, ``Symlink``, ``Hardlink``, ``Whiteout``, ``OpaqueWhiteout``, ``Device``
and ``Fifo`` entries, written in the order given, compressed with gzip, zstd or nothing.
Everything is deterministic: the same entries give the same bytes, so digests are stable
across runs. Entry paths are written verbatim (``../x`` and ``/abs`` stay as they are), which
is what tests of hostile layers need.

Only the standard library is used at import time; zstd support loads ``zstandard`` on first use
so that scripts/demo-registry runs under any python3.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Compression = Literal["gzip", "zstd", "none"]

# A fixed timestamp (2023-11-14) for entries that do not set one: digests stay reproducible.
DEFAULT_MTIME = 1_700_000_000

OCI_LAYER_MEDIA_TYPES: Mapping[Compression, str] = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
DOCKER_LAYER_MEDIA_TYPES: Mapping[Compression, str] = {
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "zstd": "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "none": "application/vnd.docker.image.rootfs.diff.tar",
}


@dataclass(frozen=True)
class File:
    path: str
    content: bytes | str = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME
    xattrs: Mapping[str, bytes | str] = field(default_factory=dict)
    uname: str = ""
    gname: str = ""

    @property
    def data(self) -> bytes:
        return self.content.encode() if isinstance(self.content, str) else self.content


@dataclass(frozen=True)
class Dir:
    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME
    xattrs: Mapping[str, bytes | str] = field(default_factory=dict)


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str
    uid: int = 0
    gid: int = 0
    mtime: int = DEFAULT_MTIME


@dataclass(frozen=True)
class Hardlink:
    """A hard link to ``target``, an entry path written earlier in the same layer."""

    path: str
    target: str
    # the header's mode: tar tools write the target's, and docker applies it to the inode
    mode: int = 0o644


@dataclass(frozen=True)
class Whiteout:
    """Hides ``path`` from the layers below: written as ``dir/.wh.name``."""

    path: str


@dataclass(frozen=True)
class OpaqueWhiteout:
    """Hides everything below ``directory`` in lower layers: ``directory/.wh..wh..opq``."""

    directory: str


@dataclass(frozen=True)
class Device:
    path: str
    major: int
    minor: int
    kind: Literal["char", "block"] = "char"
    mode: int = 0o666
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Fifo:
    path: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


Entry = File | Dir | Symlink | Hardlink | Whiteout | OpaqueWhiteout | Device | Fifo


def _split(path: str) -> tuple[str, str]:
    head, _, tail = path.rstrip("/").rpartition("/")
    return head, tail


def _pax_xattrs(xattrs: Mapping[str, bytes | str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in xattrs.items():
        text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
        headers[f"SCHILY.xattr.{name}"] = text
    return headers


def _tarinfo(entry: Entry) -> tuple[tarfile.TarInfo, bytes | None]:
    if isinstance(entry, File):
        info = tarfile.TarInfo(entry.path)
        info.type = tarfile.REGTYPE
        info.size = len(entry.data)
        info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, entry.mtime
        info.uname, info.gname = entry.uname, entry.gname
        info.pax_headers = _pax_xattrs(entry.xattrs)
        return info, entry.data
    if isinstance(entry, Dir):
        info = tarfile.TarInfo(entry.path.rstrip("/") + "/")
        info.type = tarfile.DIRTYPE
        info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, entry.mtime
        info.pax_headers = _pax_xattrs(entry.xattrs)
        return info, None
    if isinstance(entry, Symlink):
        info = tarfile.TarInfo(entry.path)
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
        info.mode, info.uid, info.gid, info.mtime = 0o777, entry.uid, entry.gid, entry.mtime
        return info, None
    if isinstance(entry, Hardlink):
        info = tarfile.TarInfo(entry.path)
        info.type = tarfile.LNKTYPE
        info.linkname = entry.target
        info.mode = entry.mode
        info.mtime = DEFAULT_MTIME
        return info, None
    if isinstance(entry, Whiteout):
        head, tail = _split(entry.path)
        info = tarfile.TarInfo(f"{head}/.wh.{tail}" if head else f".wh.{tail}")
        info.mtime = DEFAULT_MTIME
        return info, b""
    if isinstance(entry, OpaqueWhiteout):
        info = tarfile.TarInfo(entry.directory.rstrip("/") + "/.wh..wh..opq")
        info.mtime = DEFAULT_MTIME
        return info, b""
    if isinstance(entry, Device):
        info = tarfile.TarInfo(entry.path)
        info.type = tarfile.CHRTYPE if entry.kind == "char" else tarfile.BLKTYPE
        info.devmajor, info.devminor = entry.major, entry.minor
        info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, DEFAULT_MTIME
        return info, None
    info = tarfile.TarInfo(entry.path)
    info.type = tarfile.FIFOTYPE
    info.mode, info.uid, info.gid, info.mtime = entry.mode, entry.uid, entry.gid, DEFAULT_MTIME
    return info, None


def build_tar(entries: Iterable[Entry]) -> bytes:
    """The uncompressed tar stream of ``entries``, in order, PAX format."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in entries:
            info, data = _tarinfo(entry)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def compress(data: bytes, compression: Compression) -> bytes:
    if compression == "none":
        return data
    if compression == "gzip":
        buffer = io.BytesIO()
        # mtime=0 and no file name keep the gzip header, and so the digest, reproducible.
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="") as stream:
            stream.write(data)
        return buffer.getvalue()
    import zstandard  # noqa: PLC0415 - optional: the demo script runs without it

    return zstandard.ZstdCompressor(level=3, write_content_size=True).compress(data)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class LayerBlob:
    """A built layer: its compressed bytes and both digests."""

    data: bytes
    digest: str
    diff_id: str
    compression: Compression

    @property
    def size(self) -> int:
        return len(self.data)

    def media_type(self, manifest_format: Literal["oci", "docker"]) -> str:
        table = OCI_LAYER_MEDIA_TYPES if manifest_format == "oci" else DOCKER_LAYER_MEDIA_TYPES
        return table[self.compression]


@dataclass(frozen=True)
class Layer:
    """A declarative layer: entries plus the compression to ship them with."""

    entries: Sequence[Entry]
    compression: Compression = "gzip"

    def build(self) -> LayerBlob:
        tar = build_tar(self.entries)
        data = compress(tar, self.compression)
        return LayerBlob(data, sha256_digest(data), sha256_digest(tar), self.compression)


def raw_layer(tar: bytes, compression: Compression = "gzip") -> LayerBlob:
    """A layer from an already-made tar stream (hand-crafted or truncated tars for error tests)."""
    data = compress(tar, compression)
    return LayerBlob(data, sha256_digest(data), sha256_digest(tar), compression)
