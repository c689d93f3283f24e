"""``store.programs.discard``: a tree leaves the store with one rename and the real
``hybridock-monitor --reclaim`` deletes it in the background, confined to the tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.integration.test_containers import wait_for

from hybridock.store import programs
from hybridock.store.layout import Layout


def hostile_tree(path: Path, outside: Path) -> None:
    """What a container leaves: read-only and unreadable dirs, links out of the tree."""
    (path / "upper" / "etc").mkdir(parents=True)
    (path / "upper" / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (path / "upper" / "escape").symlink_to(outside)
    (path / "upper" / "escape-dir").symlink_to(outside.parent)
    os.link(outside, path / "upper" / "hardlink")
    (path / "work" / "work").mkdir(parents=True)
    (path / "work" / "work").chmod(0)
    (path / "readonly").mkdir()
    (path / "readonly" / "file").write_text("x")
    (path / "readonly").chmod(0o500)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    root = Layout(tmp_path / "root")
    root.ensure()
    return root


def test_the_tree_is_gone_at_once_and_deleted_in_the_background(
    layout: Layout, tmp_path: Path
) -> None:
    outside = tmp_path / "host-file"
    outside.write_text("keep me\n")
    container = layout.container("c" * 64)
    hostile_tree(container, outside)
    programs.discard(layout, container)
    assert not container.exists()
    wait_for(lambda: not any(layout.trash.iterdir()))
    assert outside.read_text() == "keep me\n", "nothing outside the tree is touched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host-file", "root"]


def test_a_reclaim_cut_short_is_finished_by_the_next(layout: Layout, tmp_path: Path) -> None:
    outside = tmp_path / "host-file"
    outside.write_text("keep me\n")
    layout.trash.mkdir()
    leftover = layout.trash / "container.1234.abcd"
    hostile_tree(leftover, outside)
    several = [layout.layer(f"sha256:{str(n) * 64}") for n in range(3)]
    for path in several:
        (path / "usr" / "bin").mkdir(parents=True)
    programs.discard(layout, *several, layout.container("missing"))
    assert not any(path.exists() for path in several)
    wait_for(lambda: not any(layout.trash.iterdir()))
    assert outside.exists()


def test_without_the_program_the_caller_deletes(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_layout: Layout) -> Path:
        return layout.root / "bin" / "missing-program"

    monkeypatch.setattr(programs, "monitor_path", broken)
    container = layout.container("d" * 64)
    (container / "upper").mkdir(parents=True)
    programs.discard(layout, container)
    assert not container.exists()
    assert list(layout.trash.iterdir()) == []
