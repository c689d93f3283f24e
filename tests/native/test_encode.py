"""The native layer encoder through its Python glue: encode_layer, compress_file, EncodedLayer.

Trees are built in tmp_path; the output is checked with hashlib (both digests), Python's
tarfile (the entries), the stdlib's gzip and ``zstandard``, and the system's ``gzip``, ``zcat``
and ``zstd``. Every failure raises a ``hybridock.errors`` class with a one-line message and
leaves no output file behind.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest
import zstandard

from hybridock import _native
from hybridock.errors import HybridockError, LayerFormatError, StoreError

COMPRESSIONS = ["gzip", "zstd", "none"]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def decompress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.decompress(data)
    if compression == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def make_tree(root: Path) -> None:
    (root / "etc" / "ssl").mkdir(parents=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "etc" / "hostname").write_bytes(b"box\n")
    (root / "usr" / "bin" / "tool").write_bytes(os.urandom(300_000) + b"text " * 100_000)
    (root / "usr" / "bin" / "tool").chmod(0o755)
    os.link(root / "usr" / "bin" / "tool", root / "usr" / "bin" / "alias")
    (root / "etc" / "link").symlink_to("hostname")
    os.mkfifo(root / "etc" / "fifo")
    long_dir = root / ("d" * 120) / ("e" * 120)
    long_dir.mkdir(parents=True)
    (long_dir / ("f" * 110)).write_bytes(b"deep")
    os.setxattr(root / "etc" / "hostname", "user.origin", b"test")
    os.utime(root / "etc" / "hostname", (1_600_000_000, 1_600_000_000))


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_digests_match_hashlib_and_tarfile_reads_the_layer(
    tmp_path: Path, compression: str
) -> None:
    source = tmp_path / "source"
    make_tree(source)
    out = tmp_path / "layer"
    result = _native.encode_layer(str(source), str(out), compression, threads=2)
    written = out.read_bytes()
    tar = decompress(written, compression)
    assert result.digest == sha(written)
    assert result.diff_id == sha(tar)
    assert result.size == len(written)
    assert result.uncompressed_size == len(tar)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        members = {member.name: member for member in archive}
        assert result.entries == len(members)
        # The first path in walk order holds the data, the later one links to it.
        assert members["usr/bin/alias"].isfile()
        assert members["usr/bin/tool"].islnk()
        assert members["usr/bin/tool"].linkname == "usr/bin/alias"
        assert members["etc/link"].issym() and members["etc/link"].linkname == "hostname"
        assert members["etc/fifo"].isfifo()
        hostname = members["etc/hostname"]
        assert hostname.mtime == 1_600_000_000
        assert hostname.uname == "" and hostname.gname == ""
        assert hostname.pax_headers.get("SCHILY.xattr.user.origin") == "test"
        deep = f"{'d' * 120}/{'e' * 120}/{'f' * 110}"
        reader = archive.extractfile(members[deep])
        assert reader is not None and reader.read() == b"deep"
        reader = archive.extractfile(members["usr/bin/alias"])
        assert reader is not None
        assert reader.read() == (source / "usr" / "bin" / "tool").read_bytes()
    assert "EncodedLayer(" in repr(result)


def test_system_tools_read_gzip_and_zstd(tmp_path: Path) -> None:
    source = tmp_path / "source"
    make_tree(source)
    plain = _native.encode_layer(str(source), str(tmp_path / "layer.tar"), "none")
    tar = (tmp_path / "layer.tar").read_bytes()
    for compression, tool, suffix in [("gzip", "gzip", ".gz"), ("zstd", "zstd", ".zst")]:
        out = tmp_path / f"layer{suffix}"
        result = _native.encode_layer(str(source), str(out), compression, threads=2)
        assert result.diff_id == plain.diff_id
        subprocess.run([tool, "-t", str(out)], check=True, capture_output=True)
        reader = ["zcat", str(out)] if tool == "gzip" else ["zstd", "-dc", str(out)]
        assert subprocess.run(reader, check=True, capture_output=True).stdout == tar


def test_gzip_is_one_member_with_the_right_trailer(tmp_path: Path) -> None:
    source = tmp_path / "source"
    make_tree(source)
    out = tmp_path / "layer.gz"
    _native.encode_layer(str(source), str(out), "gzip", 9, threads=2)
    data = out.read_bytes()
    decompressor = zlib.decompressobj(wbits=31)  # one gzip member, no more
    tar = decompressor.decompress(data)
    assert decompressor.eof and decompressor.unused_data == b"", "exactly one gzip member"
    assert sha(tar) == sha(gzip.decompress(data))


def test_same_tree_same_bytes_whatever_the_threads(tmp_path: Path) -> None:
    source = tmp_path / "source"
    make_tree(source)
    for compression in ["gzip", "zstd"]:
        digests = {
            _native.encode_layer(
                str(source),
                str(tmp_path / f"{compression}-{threads}"),
                compression,
                threads=threads,
            ).digest
            for threads in (1, 2, 3)
        }
        assert len(digests) == 1, compression


def test_epoch_and_overlay(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "new").write_bytes(b"n")
    (upper / "etc" / "gone").write_bytes(b"")
    os.setxattr(upper / "etc" / "gone", "user.overlay.whiteout", b"y")
    (upper / "cache").mkdir()
    os.setxattr(upper / "cache", "user.overlay.opaque", b"y")
    out = tmp_path / "layer.tar"
    _native.encode_layer(str(upper), str(out), "none", overlay=True, epoch=1_000_000_000)
    with tarfile.open(out) as archive:
        members = archive.getmembers()
    assert [member.name for member in members] == [
        "cache",
        "cache/.wh..wh..opq",
        "etc",
        "etc/.wh.gone",
        "etc/new",
    ]
    assert all(member.mtime == 1_000_000_000 for member in members)
    assert all(
        not key.startswith("SCHILY.xattr.user.overlay.")
        for member in members
        for key in member.pax_headers
    )


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compress_file(tmp_path: Path, compression: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("hello")
        data = b"hello world\n" * 10_000
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    tar = buffer.getvalue()
    source = tmp_path / "layer.tar"
    source.write_bytes(tar)
    out = tmp_path / "layer.out"
    result = _native.compress_file(str(source), str(out), compression, threads=2)
    written = out.read_bytes()
    assert result.diff_id == sha(tar)
    assert result.digest == sha(written)
    assert (result.size, result.uncompressed_size, result.entries) == (len(written), len(tar), 0)
    assert decompress(written, compression) == tar


def check_one_line(error: BaseException) -> None:
    assert isinstance(error, HybridockError)
    assert "\n" not in str(error)


def test_errors_are_one_line_and_leave_no_file(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "f").write_bytes(b"x")
    out = tmp_path / "out"
    missing = tmp_path / "missing"
    for call in (_native.encode_layer, _native.compress_file):
        with pytest.raises(StoreError) as caught:
            call(str(missing), str(out))
        check_one_line(caught.value)
        assert caught.value.errno == errno.ENOENT
        assert str(missing) in str(caught.value)
        assert not out.exists()

    existing = tmp_path / "existing"
    existing.write_bytes(b"keep")
    with pytest.raises(StoreError) as caught:
        _native.encode_layer(str(source), str(existing))
    check_one_line(caught.value)
    assert caught.value.errno == errno.EEXIST
    assert existing.read_bytes() == b"keep"

    for compression, level in [("bzip2", None), ("gzip", 10), ("gzip", 0), ("zstd", 20)]:
        with pytest.raises(LayerFormatError) as format_error:
            _native.encode_layer(str(source), str(out), compression, level)
        check_one_line(format_error.value)
        assert not out.exists(), (compression, level)
    with pytest.raises(ValueError, match="threads"):
        _native.encode_layer(str(source), str(out), threads=0)
    assert not out.exists()
