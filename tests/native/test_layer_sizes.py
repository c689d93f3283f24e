"""A layer's unpacked size, counted by the extraction itself, is docker's directory.Size of the
tree it made (``tree_size``): what ``images``, ``history`` and ``system df`` show."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from hybridock.store.layout import tree_size
from tests.native.test_layer_deferred import BASE, MIDDLE, TOP, Member, extract

HOSTILE_TO_COUNT = [
    Member("etc", tarfile.DIRTYPE, mode=0o755),
    Member("etc/os-release", data=b"ID=test\n"),
    Member("etc/alias", tarfile.LNKTYPE, link="etc/os-release"),
    Member("bin", tarfile.DIRTYPE, mode=0o755),
    Member("bin/tool", data=b"x" * 5000, mode=0o755),
    Member("bin/sh", tarfile.SYMTYPE, link="tool"),
    Member("lib", tarfile.SYMTYPE, link="usr/lib"),  # a symlink to a directory
    Member("usr/lib/libc.so", data=b"libc" * 100),
    Member("usr/lib/libc.so.6", tarfile.LNKTYPE, link="usr/lib/libc.so"),
    Member("run/fifo", tarfile.FIFOTYPE, mode=0o600),
    Member(".wh.gone"),  # a whiteout of a lower file
    Member("opaque/.wh..wh..opq"),
    Member("replaced", data=b"first version"),
    Member("replaced", data=b"second"),
    Member("tree/a", data=b"aaaa"),
    Member("tree/b", tarfile.LNKTYPE, link="tree/a"),
    Member("outside-link", tarfile.LNKTYPE, link="tree/a"),
    Member("tree", data=b"a file now"),  # the subtree goes; its inode lives on outside
    Member("etc/.wh.alias"),  # a whiteout of this layer's own earlier name
]


def test_tree_size_counts_a_symlink_to_a_directory_as_docker_does(tmp_path: Path) -> None:
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/f").write_bytes(b"12345")
    (tmp_path / "lib").symlink_to("usr/lib")  # 7 bytes: docker's Walk lstats it
    (tmp_path / "host").symlink_to("/etc")  # 4 bytes, and never followed to the host
    assert tree_size(tmp_path) == 5 + 7 + 4


@pytest.mark.parametrize(
    ("name", "members"), [("hostile", HOSTILE_TO_COUNT), ("base", BASE), ("middle", MIDDLE)]
)
def test_unpacked_size_is_the_trees_size(tmp_path: Path, name: str, members: list[Member]) -> None:
    result = extract(tmp_path, name, members)
    assert result.unpacked_size == tree_size(tmp_path / name)
    assert result.unpacked_size < result.uncompressed_size  # not the tar's length


def test_hostile_layer_counts_what_docker_counts(tmp_path: Path) -> None:
    result = extract(tmp_path, "layer", HOSTILE_TO_COUNT)
    # os-release 8 (its alias, the same inode, once), tool 5000, sh 4, lib 7, libc 400 once,
    # replaced 6, the inode of tree/a 4 (left as outside-link), tree 10; whiteouts nothing
    assert result.unpacked_size == 8 + 5000 + 4 + 7 + 400 + 6 + 4 + 10


def test_links_to_lower_layers_count_once_made(tmp_path: Path) -> None:
    result = extract(tmp_path, "top", TOP, defer_lower_links=True)
    before = result.unpacked_size
    assert before == tree_size(tmp_path / "top")  # the placeholders are empty
    extract(tmp_path, "base", BASE)
    extract(tmp_path, "middle", MIDDLE, lower_dirs=[str(tmp_path / "base")])
    result.link_lower([str(tmp_path / "middle"), str(tmp_path / "base")], sync=False)
    # the copies of bin/busybox (3 bytes, two names) and of the middle's etc/issue (7)
    assert result.unpacked_size == tree_size(tmp_path / "top") == before + 3 + 7


def test_links_to_lower_layers_copied_at_once_count(tmp_path: Path) -> None:
    extract(tmp_path, "base", BASE)
    extract(tmp_path, "middle", MIDDLE, lower_dirs=[str(tmp_path / "base")])
    result = extract(
        tmp_path, "top", TOP, lower_dirs=[str(tmp_path / "middle"), str(tmp_path / "base")]
    )
    assert result.unpacked_size == tree_size(tmp_path / "top")
