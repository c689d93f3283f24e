"""Fixtures of the build-context tests: a hostile-ish context, one image layer with
symlinks climbing out, whiteouts and owners, a step's upper dir, and ``copy`` with the
executor's defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybridock.build.sources import SourceTree, copy_into


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "context"
    (root / "src" / "sub").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("a\n")
    (root / "src" / "sub" / "b.txt").write_text("b\n")
    (root / "README.md").write_text("readme\n")
    (root / "notes.md").write_text("notes\n")
    (root / "main.c").write_text("int main;\n")
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "passwd-link").symlink_to("/etc/passwd")
    (root / "inside-link").symlink_to("src/a.txt")
    (root / "src" / "out").symlink_to("/etc/shadow")
    (tmp_path / "secret").write_text("outside the context\n")
    return root


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """One layer directory: /etc/passwd and /etc/group, /opt (0750 owned 7:7), /escape ->
    /.., /rel -> ../../.., /gone (a whiteout), /keep/file owned 5:6."""
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/h:/bin/sh\n"
    )
    (layer / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\n")
    (layer / "opt").mkdir(mode=0o750)
    os.chown(layer / "opt", 7, 7)
    (layer / "escape").symlink_to("/..")
    (layer / "rel").symlink_to("../../..")
    os.mknod(layer / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    (layer / "keep").mkdir()
    (layer / "keep" / "file").write_text("kept\n")
    os.chown(layer / "keep" / "file", 5, 6)
    return layer


@pytest.fixture
def upper(tmp_path: Path) -> Path:
    path = tmp_path / "step" / "upper"
    path.mkdir(parents=True)
    return path


def copy(
    source: SourceTree,
    paths: list[str],
    destination: str,
    upper: Path,
    lower: list[Path],
    **options: object,
) -> None:
    settings: dict[str, object] = {
        "chown": None,
        "chmod": None,
        "link": False,
        "add": False,
        "working_dir": "/",
    }
    settings.update(options)
    copy_into(source, paths, destination, upper, [str(p) for p in lower], **settings)  # type: ignore[arg-type]
