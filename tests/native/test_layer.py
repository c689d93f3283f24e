"""The native layer pipeline through its Python glue: LayerSink, extract_blob, sha256_file.

Layers are built at test time with tarfile (gzip via the stdlib, zstd via ``zstandard``) and
extracted into tmp_path; every failure must raise the ``hybridock.errors`` class that fits and
leave nothing usable behind.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from hybridock import _native
from hybridock.errors import (
    DigestMismatch,
    LayerFormatError,
    LayerLimitExceeded,
    StoreError,
    UnsafeLayer,
)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Member:
    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    link: str = ""
    mode: int = 0o644
    mtime: int = 1_600_000_000


def build_tar(members: list[Member]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type = member.kind
            info.size = len(member.data)
            info.linkname = member.link
            info.mode = member.mode
            info.mtime = member.mtime
            archive.addfile(info, io.BytesIO(member.data) if member.data else None)
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=1)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


SAMPLE = [
    Member("etc", tarfile.DIRTYPE, mode=0o755),
    Member("etc/hostname", data=b"box\n"),
    Member("etc/motd", tarfile.SYMTYPE, link="hostname"),
    Member("etc/hard", tarfile.LNKTYPE, link="etc/hostname"),
    Member("usr/bin/tool", data=os.urandom(300_000), mode=0o4755),
    Member("var/.wh.cache", data=b""),
]


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
@pytest.mark.parametrize("chunk_size", [1000, 65536, 1 << 22], ids=["1k", "64k", "4m"])
def test_sink_extracts_chunked_stream(tmp_path: Path, compression: str, chunk_size: int) -> None:
    tar = build_tar(SAMPLE)
    blob = compress(tar, compression)
    dest, blob_copy = tmp_path / "dest", tmp_path / "blob"
    sink = _native.LayerSink(
        str(dest), compression, sha(blob), sha(tar), blob_path=str(blob_copy), sync=False
    )
    for chunk in chunks(blob, chunk_size):
        sink.write(chunk)
    result = sink.finish()
    assert (result.digest, result.diff_id) == (sha(blob), sha(tar))
    assert (result.compressed_size, result.uncompressed_size) == (len(blob), len(tar))
    assert result.entries == len(SAMPLE)
    assert blob_copy.read_bytes() == blob
    assert (dest / "etc/hostname").read_bytes() == b"box\n"
    assert (dest / "etc/motd").readlink() == Path("hostname")
    assert (dest / "etc/hard").stat().st_ino == (dest / "etc/hostname").stat().st_ino
    assert stat.S_IMODE((dest / "usr/bin/tool").stat().st_mode) == 0o4755
    assert (dest / "usr/bin/tool").stat().st_mtime == 1_600_000_000
    whiteout = (dest / "var/cache").lstat()
    if os.geteuid() == 0:
        assert stat.S_ISCHR(whiteout.st_mode)
        assert whiteout.st_rdev == 0
    assert not (dest / "var/.wh.cache").exists()


def test_extract_blob_and_sha256_file(tmp_path: Path) -> None:
    tar = build_tar(SAMPLE)
    blob = compress(tar, "zstd")
    blob_path = tmp_path / "blob"
    blob_path.write_bytes(blob)
    assert _native.sha256_file(str(blob_path)) == sha(blob)
    result = _native.extract_blob(str(blob_path), str(tmp_path / "dest"), "zstd", sha(blob))
    assert (result.digest, result.diff_id, result.entries) == (sha(blob), sha(tar), len(SAMPLE))
    assert (tmp_path / "dest/etc/hostname").read_bytes() == b"box\n"


def test_hardlink_to_lower_layer_is_copied(tmp_path: Path) -> None:
    lower_tar = build_tar([Member("bin/busybox", data=b"ELF", mode=0o755)])
    _native.extract_blob(
        str(write(tmp_path / "lower.tar", lower_tar)),
        str(tmp_path / "lower"),
        "none",
        sha(lower_tar),
    )
    tar = build_tar([Member("bin/sh", tarfile.LNKTYPE, link="bin/busybox")])
    result = _native.extract_blob(
        str(write(tmp_path / "upper.tar", tar)),
        str(tmp_path / "upper"),
        "none",
        sha(tar),
        lower_dirs=[str(tmp_path / "lower")],
    )
    assert result.entries == 1
    assert (tmp_path / "upper/bin/sh").read_bytes() == b"ELF"
    assert (tmp_path / "upper/bin/sh").stat().st_ino != (
        tmp_path / "lower/bin/busybox"
    ).stat().st_ino


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@dataclass(frozen=True)
class Failure:
    name: str
    members: list[Member]
    error: type[Exception]
    compression: str = "gzip"
    digest: str | None = None
    diff_id: str | None = None
    max_bytes: int | None = None
    max_entries: int | None = None
    mangle: Callable[[bytes], bytes] = lambda blob: blob


ONE_FILE = [Member("f", data=b"x" * 100_000)]
FAILURES = [
    Failure("compressed digest", ONE_FILE, DigestMismatch, digest=sha(b"other")),
    Failure("diff_id", ONE_FILE, DigestMismatch, diff_id=sha(b"other")),
    Failure("dotdot", [Member("../escape", data=b"x")], UnsafeLayer),
    Failure(
        "hardlink outside", [Member("h", tarfile.LNKTYPE, link="../../etc/passwd")], UnsafeLayer
    ),
    Failure("symlink over root", [Member(".", tarfile.SYMTYPE, link="/")], UnsafeLayer),
    Failure("whiteout dotdot", [Member("a/.wh...")], UnsafeLayer),
    Failure(
        "truncated gzip", ONE_FILE, LayerFormatError, mangle=lambda blob: blob[: len(blob) // 2]
    ),
    Failure("not zstd", ONE_FILE, LayerFormatError, compression="zstd", mangle=lambda _: b"junk"),
    Failure("byte budget", ONE_FILE, LayerLimitExceeded, max_bytes=50_000),
    Failure("entry budget", SAMPLE, LayerLimitExceeded, max_entries=2),
]


def feed(sink: _native.LayerSink, blob: bytes, chunk_size: int) -> _native.LayerResult:
    for chunk in chunks(blob, chunk_size):
        sink.write(chunk)
    return sink.finish()


def run_failure(case: Failure, tmp_path: Path, via: str, blob: bytes) -> None:
    dest, digest = str(tmp_path / "dest"), case.digest or sha(blob)
    if via == "sink":
        sink = _native.LayerSink(
            dest,
            case.compression,
            digest,
            case.diff_id,
            blob_path=str(tmp_path / "copy"),
            max_bytes=case.max_bytes,
            max_entries=case.max_entries,
        )
        feed(sink, blob, 4096)
    else:
        source = write(tmp_path / "blob", blob)
        _native.extract_blob(
            str(source),
            dest,
            case.compression,
            digest,
            case.diff_id,
            max_bytes=case.max_bytes,
            max_entries=case.max_entries,
        )


@pytest.mark.parametrize("case", FAILURES, ids=[case.name for case in FAILURES])
@pytest.mark.parametrize("via", ["sink", "extract_blob"])
def test_failures_raise_their_class_and_leave_nothing(
    tmp_path: Path, case: Failure, via: str
) -> None:
    blob = case.mangle(compress(build_tar(case.members), case.compression))
    with pytest.raises(case.error):
        run_failure(case, tmp_path, via, blob)
    assert list((tmp_path / "dest").iterdir()) == []
    assert not (tmp_path / "copy").exists()


def test_write_raises_the_worker_error_promptly(tmp_path: Path) -> None:
    tar = build_tar([Member("../escape"), Member("big", data=bytes(32 << 20))])
    sink = _native.LayerSink(str(tmp_path / "dest"), "none", sha(tar))
    written = 0

    def write_all() -> None:
        nonlocal written
        for chunk in chunks(tar, 65536):
            sink.write(chunk)
            written += len(chunk)

    with pytest.raises(UnsafeLayer, match="escape"):
        write_all()
    assert written < len(tar), "the failure surfaced before the whole stream was written"
    with pytest.raises(ValueError, match="finished or aborted"):
        sink.finish()


# Several pipeline chunks (1 MiB of tar each), so the progress has steps in between.
MANY = [*SAMPLE, *(Member(f"many/{index}", data=os.urandom(4096)) for index in range(800))]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_consumed_reaches_the_blob_size_once_the_closed_sink_ends(
    tmp_path: Path, compression: str
) -> None:
    tar = build_tar(MANY)
    blob = compress(tar, compression)
    sink = _native.LayerSink(str(tmp_path / "dest"), compression, sha(blob), sha(tar), sync=False)
    assert sink.consumed == 0
    for chunk in chunks(blob, 65536):
        sink.write(chunk)
    sink.close()
    sink.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        sink.write(b"more")
    seen = [sink.consumed]
    while not sink.wait(0.01):
        seen.append(sink.consumed)
    seen.append(sink.consumed)
    assert seen == sorted(seen)
    assert seen[-1] == len(blob)
    assert sink.wait(0)
    assert sink.finish().compressed_size == len(blob)


def test_consumed_stays_below_the_blob_size_when_the_layer_fails(tmp_path: Path) -> None:
    tar = build_tar(MANY)
    blob = compress(tar, "gzip")
    sink = _native.LayerSink(str(tmp_path / "dest"), "gzip", sha(blob), sha(b"other"))
    for chunk in chunks(blob, 65536):
        sink.write(chunk)
    sink.close()
    while not sink.wait(1.0):
        pass
    assert sink.consumed < len(blob)
    with pytest.raises(DigestMismatch):
        sink.finish()


def test_wait_refuses_a_negative_timeout(tmp_path: Path) -> None:
    sink = _native.LayerSink(str(tmp_path / "dest"), "none", sha(b""))
    with pytest.raises(ValueError, match="timeout"):
        sink.wait(-1.0)
    sink.abort()
    assert sink.wait(0)


def test_abort_stops_and_cleans(tmp_path: Path) -> None:
    tar = build_tar(SAMPLE)
    dest = tmp_path / "dest"
    sink = _native.LayerSink(str(dest), "none", sha(tar), blob_path=str(tmp_path / "copy"))
    sink.write(tar[: len(tar) // 2])
    sink.abort()
    sink.abort()  # idempotent
    with pytest.raises(ValueError, match="finished or aborted"):
        sink.write(b"more")
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "copy").exists()


@pytest.mark.parametrize(
    ("name", "call", "error"),
    [
        ("bad compression", lambda d: _native.LayerSink(d, "bzip2", sha(b"")), LayerFormatError),
        ("bad digest", lambda d: _native.LayerSink(d, "gzip", "sha256:XYZ"), ValueError),
        (
            "missing blob",
            lambda d: _native.extract_blob("/nonexistent/blob", d, "none", sha(b"")),
            StoreError,
        ),
        ("missing file", lambda _: _native.sha256_file("/nonexistent/file"), StoreError),
    ],
)
def test_argument_errors(
    tmp_path: Path, name: str, call: Callable[[str], object], error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        call(str(tmp_path / "dest"))
    if isinstance(caught.value, OSError):
        assert caught.value.errno == errno.ENOENT, name
        assert caught.value.filename.startswith("/nonexistent"), name


def can_mount_tmpfs(path: Path) -> bool:
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], check=False
    )
    return done.returncode == 0


@pytest.mark.root
def test_full_disk_is_a_store_error_with_enospc(tmp_path: Path) -> None:
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    if not can_mount_tmpfs(mountpoint):
        pytest.skip("needs root to mount a 1 MiB tmpfs")
    try:
        tar = build_tar([Member("big", data=os.urandom(2 << 20))])
        sink = _native.LayerSink(str(mountpoint / "dest"), "none", sha(tar))
        with pytest.raises(StoreError) as caught:
            feed(sink, tar, 1 << 20)
        assert caught.value.errno == errno.ENOSPC
        assert caught.value.filename.endswith("dest/big")
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


INTERRUPTED_CHILD = r"""
import os, signal, sys, threading
from hybridock import _native

fifo, dest, prefix_path = sys.argv[1:4]
release = threading.Event()


def on_sigint(signum, frame):
    release.set()
    raise KeyboardInterrupt


signal.signal(signal.SIGINT, on_sigint)


def feed():
    with open(fifo, "wb") as pipe:
        with open(prefix_path, "rb") as prefix:
            pipe.write(prefix.read())
        pipe.flush()
        os.kill(os.getpid(), signal.SIGINT)
        release.wait()


threading.Thread(target=feed, daemon=True).start()
try:
    _native.extract_blob(fifo, dest, "none", "sha256:" + "0" * 64)
except KeyboardInterrupt:
    print("interrupted", sorted(os.listdir(dest)))
"""


def test_ctrl_c_interrupts_extraction_and_cleans(tmp_path: Path) -> None:
    """SIGINT while the pipeline waits for data: KeyboardInterrupt, and nothing left behind.

    The stream is a FIFO fed with one whole entry; the feeder sends SIGINT only after that,
    and closes the FIFO only once the handler ran, so the order is fixed without any timing.
    """
    tar = build_tar([Member("first", data=b"1" * 4096), Member("second", data=b"2")])
    prefix = write(tmp_path / "prefix", tar[: 512 + 4096])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    dest = tmp_path / "dest"
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_CHILD, str(fifo), str(dest), str(prefix)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "interrupted []"), done.stderr


def test_spread_subdirectories(tmp_path: Path) -> None:
    """The store's tmp/ gets ext4's top-directory flag (lsattr 'T'); where the filesystem has
    no such flag the call says so instead of failing; a missing path is a StoreError."""
    marked = _native.spread_subdirectories(str(tmp_path))
    assert _native.spread_subdirectories(str(tmp_path)) is marked  # idempotent
    if marked:
        shown = subprocess.run(
            ["lsattr", "-d", str(tmp_path)], capture_output=True, text=True, check=False
        )
        if shown.returncode == 0:
            assert "T" in shown.stdout.split()[0]
    with pytest.raises(StoreError):
        _native.spread_subdirectories(str(tmp_path / "missing"))
