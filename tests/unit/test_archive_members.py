"""How ``load`` reads an archive's members (images/load.py): by normalised name, links as
aliases that stay inside, nothing that climbs out, sizes bounded."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridock.errors import ArchiveError
from hybridock.images.load import _Archive, _normalised


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("manifest.json", "manifest.json"),
        ("./manifest.json", "manifest.json"),
        ("blobs//sha256/./abc", "blobs/sha256/abc"),
        ("abc/", "abc"),
    ],
)
def test_names_are_normalised(name: str, expected: str) -> None:
    assert _normalised(name) == expected


@pytest.mark.parametrize("name", ["../x", "a/../../x", "a/../b", "/etc/passwd", "//x"])
def test_names_that_climb_or_are_absolute_are_refused(name: str) -> None:
    with pytest.raises(ArchiveError, match="unsafe member"):
        _normalised(name)


@contextlib.contextmanager
def _archive(tmp_path: Path, members: list[tuple[str, bytes | str]]) -> Iterator[_Archive]:
    """A tar of regular members (bytes) and symlinks (a str: the target), indexed."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    path = tmp_path / "archive.tar"
    path.write_bytes(data.getvalue())
    with path.open("rb") as file:
        yield _Archive(file)


def test_members_are_read_by_name_and_links_are_aliases(tmp_path: Path) -> None:
    members: list[tuple[str, bytes | str]] = [
        ("./one/layer.tar", b"layer bytes"),
        ("two/layer.tar", "../one/layer.tar"),
        ("three", "two/layer.tar"),
    ]
    with _archive(tmp_path, members) as archive:
        _reads(archive, tmp_path)


def _reads(archive: _Archive, tmp_path: Path) -> None:
    assert archive.read("one/layer.tar", 100) == b"layer bytes"
    assert archive.read("two/layer.tar", 100) == b"layer bytes"
    assert archive.read("three", 100) == b"layer bytes"
    assert "missing" not in archive
    with pytest.raises(ArchiveError, match="is larger than 5 bytes"):
        archive.read("one/layer.tar", 5)
    with pytest.raises(ArchiveError, match="missing is not in the archive"):
        archive.read("missing", 100)
    copy = tmp_path / "copy"
    assert archive.copy("two/layer.tar", copy, None) == len(b"layer bytes")
    assert copy.read_bytes() == b"layer bytes"


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd", "../.."])
def test_links_out_of_the_archive_are_refused(tmp_path: Path, target: str) -> None:
    with (
        pytest.raises(ArchiveError, match="points outside the archive"),
        _archive(tmp_path, [("a/link", target)]),
    ):
        pass


def test_a_link_loop_is_refused_when_read(tmp_path: Path) -> None:
    with (
        _archive(tmp_path, [("a", "b"), ("b", "a")]) as archive,
        pytest.raises(ArchiveError, match="too many levels of links"),
    ):
        archive.read("a", 100)
