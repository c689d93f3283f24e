"""Leave nothing behind: unmount whatever is mounted under a directory, then remove it."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    return field.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root``, deepest first."""
    resolved = root.resolve()
    found = []
    with Path("/proc/self/mountinfo").open() as mountinfo:
        for line in mountinfo:
            point = Path(_unescape(line.split()[4]))
            if point == resolved or resolved in point.parents:
                found.append(point)
    return sorted(found, key=lambda path: len(path.parts), reverse=True)


def unmount_under(root: Path) -> None:
    """Unmount everything below ``root``; lazily when a mount is busy."""
    for _ in range(5):  # stacked mounts on one point need one umount each
        points = mounts_under(root)
        if not points:
            return
        for point in points:
            result = subprocess.run(["umount", str(point)], capture_output=True, check=False)
            if result.returncode != 0:
                subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)


def _make_writable_and_retry(function: Callable[..., object], name: str, error: object) -> None:
    failure = error[1] if isinstance(error, tuple) else error  # onerror's exc_info, onexc's
    if isinstance(failure, FileNotFoundError):
        return  # deleted meanwhile: the store's background reclaim of its trash/
    path = Path(name)
    parent = path.parent
    try:
        parent.chmod(stat.S_IRWXU | parent.stat().st_mode)
        if path.is_dir() and not path.is_symlink():
            path.chmod(stat.S_IRWXU | path.stat().st_mode)
        function(name)
    except FileNotFoundError:
        return


def remove_tree(root: Path) -> None:
    """Unmount, then delete ``root`` even where a test left read-only directories."""
    if not root.exists():
        return
    unmount_under(root)
    if sys.version_info >= (3, 12):
        shutil.rmtree(root, onexc=_make_writable_and_retry)
    else:
        shutil.rmtree(root, onerror=_make_writable_and_retry)
