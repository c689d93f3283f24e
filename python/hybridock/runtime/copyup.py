"""Docker's copy-up: a new, empty volume mounted where the image has a directory gets that
directory's content first (owners, modes, times, xattrs, symlinks, hardlinks kept).

The image's view is read from its layer directories (overlayfs format, top-most first) as
overlayfs would merge them: a whiteout (a 0/0 character device) hides a name below it, an opaque
directory (``trusted.overlay.opaque=y``) hides the layers below it. Every lookup goes through
directory fds with ``O_NOFOLLOW``: a symlink in the image is copied as a symlink, never followed,
and the destination path's own symlinks are resolved inside the image's root, so nothing outside
the layers is ever read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

MAX_SYMLINKS = 40
OPAQUE = "trusted.overlay.opaque"
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_directory(name: str, dir_fd: int | None) -> int | None:
    try:
        return os.open(name, DIRECTORY_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise


def _is_whiteout(status: os.stat_result) -> bool:
    return stat.S_ISCHR(status.st_mode) and status.st_rdev == 0


def _opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, OPAQUE) == b"y"
    except OSError:
        return False


def _entry(fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _resolve(layers: Sequence[int], path: str) -> tuple[list[int], os.stat_result] | None:
    """The directory fds, top-most first, whose union is the image's directory at ``path``
    (symlinks on the way resolved inside the image's root); None if it is not a directory."""
    components = [part for part in path.split("/") if part]
    current = [os.dup(fd) for fd in layers]
    done: list[str] = []
    hops = 0
    try:
        while components:
            name = components.pop(0)
            if name == "..":
                done = done[:-1]
                components = [*done, *components]
                done = []
                _close(current)
                current = [os.dup(fd) for fd in layers]
                continue
            if name == ".":
                continue
            top = next((status for fd in current if (status := _entry(fd, name))), None)
            if top is None or _is_whiteout(top):
                return None
            if stat.S_ISLNK(top.st_mode):
                hops += 1
                if hops > MAX_SYMLINKS:
                    return None
                holder = next(fd for fd in current if _entry(fd, name) is not None)
                target = os.readlink(name, dir_fd=holder)
                base = "/" if target.startswith("/") else "/" + "/".join(done)
                components = [
                    *posixpath.normpath(posixpath.join(base, target)).split("/"),
                    *components,
                ]
                components = [part for part in components if part]
                done = []
                _close(current)
                current = [os.dup(fd) for fd in layers]
                continue
            if not stat.S_ISDIR(top.st_mode):
                return None
            current = _descend(current, name)
            done.append(name)
        status = os.fstat(current[0]) if current else None
        if status is None:
            return None
        result, current = current, []
        return result, status
    finally:
        _close(current)


def _descend(directories: list[int], name: str) -> list[int]:
    """The layers' directories ``name`` under ``directories`` down to the first that hides the
    rest (a whiteout, a non-directory, an opaque directory); closes ``directories``."""
    found: list[int] = []
    try:
        for fd in directories:
            status = _entry(fd, name)
            if status is None:
                continue
            if not stat.S_ISDIR(status.st_mode):
                break
            child = _open_directory(name, fd)
            if child is None:
                break
            found.append(child)
            if _opaque(child):
                break
    finally:
        _close(directories)
    return found


def _close(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _merged(directories: Sequence[int]) -> Iterator[tuple[str, int, os.stat_result]]:
    """(name, fd of the directory holding it, its status) for the union, top-most winning."""
    seen: set[str] = set()
    for fd in directories:
        for name in sorted(os.listdir(fd)):  # noqa: PTH208 (a directory fd, not a path)
            if name in seen:
                continue
            seen.add(name)
            status = _entry(fd, name)
            if status is not None and not _is_whiteout(status):
                yield name, fd, status


def _copy_metadata(status: os.stat_result, source_fd: int | None, target_fd: int) -> None:
    """Owner, mode, xattrs and times onto the open ``target_fd``: through the fd, never a name
    that a container sharing the volume could have swapped for a symlink meanwhile."""
    os.fchown(target_fd, status.st_uid, status.st_gid)
    os.fchmod(target_fd, stat.S_IMODE(status.st_mode))  # after chown, which clears set-id bits
    if source_fd is not None:
        with contextlib.suppress(OSError):
            for key in os.listxattr(source_fd):
                if not key.startswith("trusted.overlay."):
                    os.setxattr(target_fd, key, os.getxattr(source_fd, key))
    os.utime(target_fd, ns=(status.st_atime_ns, status.st_mtime_ns))


def _copy_node_metadata(status: os.stat_result, name: str, dir_fd: int) -> None:
    """The same for a symlink, a device or a fifo, which cannot be opened for it: by name,
    without following a symlink (a device or fifo swapped for one is left as it is)."""
    os.chown(name, status.st_uid, status.st_gid, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISLNK(status.st_mode):
        node = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            if not stat.S_ISLNK(os.fstat(node).st_mode):
                Path(f"/proc/self/fd/{node}").chmod(stat.S_IMODE(status.st_mode))
        finally:
            os.close(node)
    times = (status.st_atime_ns, status.st_mtime_ns)
    os.utime(name, ns=times, dir_fd=dir_fd, follow_symlinks=False)


class _Copier:
    def __init__(self) -> None:
        self.links: dict[tuple[int, int], tuple[int, str]] = {}

    def tree(self, sources: Sequence[int], target_fd: int) -> None:
        for name, holder, status in _merged(sources):
            if stat.S_ISDIR(status.st_mode):
                os.mkdir(name, 0o700, dir_fd=target_fd)
                children = _descend([os.dup(fd) for fd in sources], name)
                child_target = _open_directory(name, target_fd)
                assert child_target is not None  # noqa: S101 - made just above
                try:
                    self.tree(children, child_target)
                    _copy_metadata(status, children[0] if children else None, child_target)
                finally:
                    _close([*children, child_target])
                continue
            self.entry(name, holder, status, target_fd)

    def entry(self, name: str, holder: int, status: os.stat_result, target_fd: int) -> None:
        key = (status.st_dev, status.st_ino)
        if status.st_nlink > 1 and key in self.links:
            linked_fd, linked_name = self.links[key]
            os.link(
                linked_name, name, src_dir_fd=linked_fd, dst_dir_fd=target_fd,
                follow_symlinks=False,
            )  # fmt: skip
            return
        mode = status.st_mode
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=holder), name, dir_fd=target_fd)
            _copy_node_metadata(status, name, target_fd)
            return
        if stat.S_ISREG(mode):
            source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=holder)
            try:
                target = os.open(
                    name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600,
                    dir_fd=target_fd,
                )  # fmt: skip
                try:
                    while os.sendfile(target, source, None, 1 << 20):
                        pass
                    _copy_metadata(status, source, target)
                finally:
                    os.close(target)
            finally:
                os.close(source)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            os.mknod(name, stat.S_IFMT(mode) | 0o600, status.st_rdev, dir_fd=target_fd)
            _copy_node_metadata(status, name, target_fd)
        else:
            return  # a socket: nothing to carry
        if status.st_nlink > 1:
            self.links[key] = (os.dup(target_fd), name)

    def close(self) -> None:
        _close([fd for fd, _ in self.links.values()])


def copy_up(layer_dirs: Sequence[str], path: str, target: str) -> bool:
    """Fill the empty directory ``target`` with the image's directory at ``path``; False when
    the image has no directory there (nothing copied)."""
    layers = [
        fd for directory in layer_dirs if (fd := _open_directory(directory, None)) is not None
    ]
    try:
        resolved = _resolve(layers, path)
        if resolved is None:
            return False
        sources, status = resolved
        target_fd = os.open(target, DIRECTORY_FLAGS)
        copier = _Copier()
        try:
            copier.tree(sources, target_fd)
            _copy_metadata(status, sources[0], target_fd)
        finally:
            copier.close()
            _close([*sources, target_fd])
        return True
    finally:
        _close(layers)
