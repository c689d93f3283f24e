"""The confined walk of ``runtime/fsview.py`` on a plain tree (no root needed): symlinks and
``..`` never lead out of the view's root, whatever they point at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybridock.runtime.fsview import View, opened


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("inside")
    (tmp_path / "passwd").write_text("outside")
    links = {
        "absolute": "/etc",
        "climb": "../../../../..",
        "climb-file": "../passwd",
        "chain": "absolute/passwd",
        "loop": "loop",
        "host": str(tmp_path),
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    return root


@pytest.mark.parametrize(
    ("path", "follow", "expected"),
    [
        ("etc/passwd", False, "inside"),
        ("absolute/passwd", False, "inside"),
        ("chain", True, "inside"),
        ("climb/etc/passwd", False, "inside"),
        ("climb-file", True, None),  # ../passwd from the root is /passwd: not there
        ("etc/../../../etc/passwd", False, "inside"),
        ("host/passwd", False, None),  # the host's path, looked up inside: not there
    ],
)
def test_lookups_stay_inside(tree: Path, path: str, follow: bool, expected: str | None) -> None:
    with View([str(tree)], overlay=False) as view:
        try:
            resolved_context = opened(view, path.encode(), follow=follow)
            with resolved_context as resolved:
                if resolved.entry is None:
                    content = None
                else:
                    fd = resolved.entry.open_file()
                    with os.fdopen(fd, "rb") as file:
                        content = file.read().decode()
        except FileNotFoundError:
            content = None
    assert content == expected


def test_symlink_loops_end(tree: Path) -> None:
    with View([str(tree)], overlay=False) as view, pytest.raises(OSError, match="symbolic"):
        view.resolve(b"loop/x", follow=True)


def test_the_last_symlink_is_kept_unless_followed(tree: Path) -> None:
    with View([str(tree)], overlay=False) as view, opened(view, b"absolute", follow=False) as got:
        assert got.entry is not None and got.entry.is_symlink
        assert got.entry.read_link() == b"/etc"
        assert got.path == "/absolute"
