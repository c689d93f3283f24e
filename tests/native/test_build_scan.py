"""``scan_context`` and ``copy_context_tree`` through the Python glue: the filter callback
(asked per directory, its exception propagated, its bad answer refused), the entry tuples, and
the copier's refusal to follow a symlink on either side."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from hybridock import _native


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "context"
    (root / "dir" / "deep").mkdir(parents=True)
    (root / "dir" / "deep" / "f").write_bytes(b"data")
    (root / "top").write_bytes(b"")
    (root / "link").symlink_to("/etc")
    return root


def test_entries_in_walk_order_with_digests(tree: Path) -> None:
    entries = _native.scan_context(str(tree), threads=2)
    assert [row[:2] for row in entries] == [
        ("dir", "d"),
        ("dir/deep", "d"),
        ("dir/deep/f", "f"),
        ("link", "l"),
        ("top", "f"),
    ]
    by_path = {row[0]: row for row in entries}
    assert by_path["dir/deep/f"][5] == 4
    assert f"sha256:{by_path['dir/deep/f'][7]}" == _native.sha256(b"data")
    assert by_path["link"][6] == "/etc"
    assert by_path["top"][7] == _native.sha256(b"").removeprefix("sha256:")


def test_filter_is_asked_per_directory(tree: Path) -> None:
    asked: list[tuple[str, list[tuple[str, bool]]]] = []

    def decide(directory: str, names: list[tuple[str, bool]]) -> list[int]:
        asked.append((directory, names))
        return [0 if name == "top" else 1 for name, _ in names]

    entries = _native.scan_context(str(tree), decide)
    assert "top" not in [row[0] for row in entries]
    assert asked[0] == ("", [("dir", True), ("link", False), ("top", False)])
    assert [directory for directory, _ in asked] == ["", "dir", "dir/deep"]


def test_filter_errors_propagate(tree: Path) -> None:
    def broken(directory: str, names: list[tuple[str, bool]]) -> list[int]:
        raise KeyError(directory)

    with pytest.raises(KeyError):
        _native.scan_context(str(tree), broken)
    with pytest.raises(ValueError, match="bad decision 7"):
        _native.scan_context(str(tree), lambda _directory, names: [7] * len(names))


def test_copier_refuses_symlinks_on_either_side(tree: Path, tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "dest").mkdir(parents=True)
    (upper / "via").symlink_to(tmp_path)
    with pytest.raises(OSError, match="link"):
        _native.copy_context_tree(str(tree), "link", str(upper), "dest")
    with pytest.raises(OSError, match="dest"):
        _native.copy_context_tree(str(tree), "dir", str(upper), "via/upper/dest")
    assert _native.copy_context_tree(str(tree), "dir", str(upper), "dest", owner=(1, 2)) == 2
    copied = upper / "dest" / "deep" / "f"
    assert copied.read_bytes() == b"data"
    assert (copied.stat().st_uid, copied.stat().st_gid) == (1, 2)
    # nothing made outside
    assert sorted(path.name for path in tmp_path.iterdir()) == ["context", "upper"]
    assert [path.name for path in (upper / "dest").iterdir()] == ["deep"]


def test_copier_keeps_file_capabilities(tree: Path, tmp_path: Path) -> None:
    # struct vfs_cap_data, revision 2, effective: cap_net_bind_service permitted
    capability = struct.pack("<IIIII", 0x02000001, 1 << 10, 0, 0, 0)
    os.setxattr(tree / "dir" / "deep" / "f", "security.capability", capability)
    upper = tmp_path / "upper"
    (upper / "dest").mkdir(parents=True)
    _native.copy_context_tree(str(tree), "dir", str(upper), "dest", owner=(5, 5))
    copied = upper / "dest" / "deep" / "f"
    assert os.getxattr(copied, "security.capability") == capability
    assert copied.stat().st_uid == 5
