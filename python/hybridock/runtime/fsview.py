"""A container's filesystem seen from the host, every lookup confined to the container's root.

A ``View`` is a stack of directory trees, top first: a running container's root
(``/proc/PID/root``, one tree: its mounts, volumes and binds included) or a stopped one's
upper dir over its image layers (overlayfs semantics read by hand: a whiteout, a character
device 0/0, hides what is below it; an opaque directory, ``trusted.overlay.opaque=y``, hides
the lower directories of its name). A running container's ``/proc`` and ``/sys`` are shown
as docker's ``cp`` shows them, as empty directories: what is mounted there is the kernel's,
not the container's files (``sealed``).

Nothing here joins a container path onto a host path. Each component is opened with
``O_PATH | O_NOFOLLOW`` relative to its parent's fd and examined through that fd; a symlink is
read through its own fd and its target spliced into the rest of the path, an absolute one
restarting at the root, and ``..`` steps back one directory of our own chain and stops at the
root. So a symlink the container swaps in while we walk (CVE-2018-15664) is at worst followed
inside the container: the kernel never follows one for us, not even a magic link of the
container's ``/proc``. Files are read by reopening their ``O_PATH`` fd through
``/proc/self/fd``, which names the inode we examined, not a path.

A stopped container's binds and volumes are spliced in as docker mounts them for its ``cp``
(``MountPoint``): at a mount point the walk continues in the mount's source, a plain tree
(no whiteouts there), the deepest mount winning. The path stays the container's: ``..`` from
a mount's top returns to the mount point's parent and an absolute symlink inside a volume
restarts at the container's root, never the host's.

Writes go to the top tree: the running container's root, or the upper dir, where the
directories on the way are copied up from the layers below (mode, owner, times) and a
whiteout a new entry replaces is removed (a directory made over one is marked opaque); under
a mount point, into the mount's source, unless the mount is read-only (``EROFS``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections import deque
from collections.abc import Iterator
from typing import NamedTuple

OPAQUE_XATTR = "trusted.overlay.opaque"
MAX_SYMLINKS = 40
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class MountPoint(NamedTuple):
    """A host directory or file shown at ``components`` (canonical, in the container)."""

    components: tuple[bytes, ...]
    source: str
    readonly: bool


class Entry(NamedTuple):
    """One name in the view: ``fds`` are ``O_PATH`` fds, the topmost first; a directory has
    one per tree that contributes to it (merged), anything else exactly one."""

    fds: tuple[int, ...]
    stat: os.stat_result
    sealed: bool = False  # a kernel filesystem's mount point: shown empty
    path: tuple[bytes, ...] = ()  # canonical components, in the container
    mount: MountPoint | None = None  # the mount it lies in (None: the view's own trees)

    @property
    def is_mount_point(self) -> bool:
        return self.mount is not None and self.mount.components == self.path

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.stat.st_mode)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)

    def read_link(self) -> bytes:
        return os.fsencode(os.readlink(b"", dir_fd=self.fds[0]))

    def open_file(self) -> int:
        """A readable fd of this regular file (the very inode examined)."""
        return os.open(f"/proc/self/fd/{self.fds[0]}", os.O_RDONLY | os.O_CLOEXEC)


class Resolved(NamedTuple):
    """A path resolved in a view: its canonical components and the directory chain down to
    its parent (the root first). ``entry`` is ``None`` for a name that does not exist."""

    components: tuple[bytes, ...]
    chain: tuple[Entry, ...]
    entry: Entry | None

    @property
    def parent(self) -> Entry:
        return self.chain[-1]

    @property
    def name(self) -> bytes:
        return self.components[-1] if self.components else b"."

    @property
    def path(self) -> str:
        return "/" + os.fsdecode(b"/".join(self.components))


def split(path: bytes) -> list[bytes]:
    return [part for part in path.split(b"/") if part and part != b"."]


def is_whiteout(status: os.stat_result) -> bool:
    return stat.S_ISCHR(status.st_mode) and status.st_rdev == 0


def _is_opaque(fd: int) -> bool:
    try:
        return os.getxattr(f"/proc/self/fd/{fd}", OPAQUE_XATTR) == b"y"
    except OSError:
        return False


class View:
    """Trees stacked as overlayfs stacks them (``overlay=True``) or one plain tree."""

    def __init__(
        self, roots: list[str], *, overlay: bool, sealed: frozenset[bytes] = frozenset()
    ) -> None:
        self.overlay = overlay
        self.sealed = sealed
        self.mounts: dict[tuple[bytes, ...], MountPoint] = {}
        self._mounted_names: dict[tuple[bytes, ...], set[bytes]] = {}
        fds: list[int] = []
        try:
            for root in roots:
                fds.append(os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        self.root = Entry(tuple(fds), os.fstat(fds[0]))

    def close(self) -> None:
        self.root.close()

    def __enter__(self) -> View:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def mount(self, point: MountPoint) -> None:
        """Shows ``point.source`` at ``point.components`` from now on (parents first)."""
        self.mounts[point.components] = point
        parent, name = point.components[:-1], point.components[-1]
        self._mounted_names.setdefault(parent, set()).add(name)

    # --- reading ------------------------------------------------------------------------------

    def child(self, directory: Entry, name: bytes) -> Entry | None:
        """``name`` in ``directory``, as the merged view shows it (``None``: no such entry)."""
        if directory.sealed:
            return None
        path = (*directory.path, name)
        if (point := self.mounts.get(path)) is not None:
            fd = os.open(point.source, os.O_PATH | os.O_CLOEXEC)  # a host path, as mount(2)
            return Entry((fd,), os.fstat(fd), path=path, mount=point)
        overlay = self.overlay and directory.mount is None
        found: list[int] = []
        top: os.stat_result | None = None
        for parent in directory.fds:
            try:
                fd = os.open(name, _PATH_FLAGS, dir_fd=parent)
            except (FileNotFoundError, NotADirectoryError):
                continue
            status = os.fstat(fd)
            if top is None:
                if overlay and is_whiteout(status):
                    os.close(fd)
                    break
                found.append(fd)
                top = status
                if not stat.S_ISDIR(status.st_mode) or (overlay and _is_opaque(fd)):
                    break
                continue
            if not stat.S_ISDIR(status.st_mode):
                os.close(fd)
                break
            found.append(fd)
            if _is_opaque(fd):
                break
        if top is None:
            return None
        sealed = (
            name in self.sealed
            and directory.fds == self.root.fds
            and top.st_dev != self.root.stat.st_dev
        )
        return Entry(tuple(found), top, sealed, path, directory.mount)

    def names(self, directory: Entry) -> list[bytes]:
        """The names the merged directory may show, sorted (``child`` decides each)."""
        if directory.sealed:
            return []
        names = set(self._mounted_names.get(directory.path, ()))
        for fd in directory.fds:
            listing = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
            try:
                names.update(os.fsencode(name) for name in os.listdir(listing))
            finally:
                os.close(listing)
        return sorted(names)

    def children(self, directory: Entry) -> Iterator[tuple[bytes, Entry]]:
        """Each entry of a directory, sorted by name; the caller closes each."""
        for name in self.names(directory):
            entry = self.child(directory, name)
            if entry is not None:
                yield name, entry

    def resolve(self, path: bytes, *, follow: bool) -> Resolved:
        """``path`` resolved as if the root were ``/``; symlinks in the way are followed
        inside the view, the last one only with ``follow``. The caller closes the chain and
        the entry (``release``). A missing directory on the way is ``FileNotFoundError``."""
        chain: list[Entry] = [self.root]
        try:
            return self._walk(path, chain, follow=follow)
        except BaseException:
            for opened_entry in chain[1:]:
                opened_entry.close()
            raise

    def _walk(self, path: bytes, chain: list[Entry], *, follow: bool) -> Resolved:
        components: list[bytes] = []
        pending = deque(split(path))
        links = 0
        while pending:
            name = pending.popleft()
            if name == b"..":
                if len(chain) > 1:
                    chain.pop().close()
                    components.pop()
                continue
            last = not pending
            entry = self.child(chain[-1], name)
            if entry is None:
                if last:
                    return Resolved((*components, name), tuple(chain), None)
                raise FileNotFoundError(path)
            if entry.is_symlink and (follow or not last):
                links += 1
                target = entry.read_link()
                entry.close()
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                if target.startswith(b"/"):
                    while len(chain) > 1:
                        chain.pop().close()
                    components.clear()
                pending.extendleft(reversed(split(target)))
                continue
            if last:
                return Resolved((*components, name), tuple(chain), entry)
            chain.append(entry)
            components.append(name)
            if not entry.is_dir:
                raise NotADirectoryError(path)
        # The path named a directory already in the chain (the root, or one `..` led to).
        top = chain.pop()
        if not chain:
            return Resolved((), (), self.root)
        return Resolved(tuple(components), tuple(chain), top)

    def release(self, resolved: Resolved) -> None:
        for entry in resolved.chain:
            if entry is not self.root:
                entry.close()
        if resolved.entry is not None and resolved.entry is not self.root:
            resolved.entry.close()

    # --- writing ------------------------------------------------------------------------------

    def writable_directory(self, resolved: Resolved) -> int:
        """An ``O_PATH`` fd, in the top tree, of the directory holding ``resolved`` (closed
        by the caller): for a stopped container, the upper dir's copy, made as needed, or
        the directory in the mount's source (``EROFS`` for a read-only mount)."""
        if not resolved.chain:
            return os.dup(self.root.fds[0])
        mount = resolved.parent.mount
        if mount is not None and mount.readonly:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), resolved.path)
        if not self.overlay or mount is not None:
            return os.dup(resolved.parent.fds[0])
        current = os.dup(self.root.fds[0])
        try:
            for name, entry in zip(resolved.components, resolved.chain[1:], strict=False):
                child = self._copy_up_directory(current, name, entry)
                os.close(current)
                current = child
        except BaseException:
            os.close(current)
            raise
        return current

    @staticmethod
    def _copy_up_directory(parent: int, name: bytes, merged: Entry) -> int:
        """The upper dir's ``name`` in ``parent``, made as the merged directory is."""
        try:
            return os.open(name, _PATH_FLAGS | os.O_DIRECTORY, dir_fd=parent)
        except FileNotFoundError:
            pass
        os.mkdir(name, 0o700, dir_fd=parent)
        fd = os.open(name, _PATH_FLAGS | os.O_DIRECTORY, dir_fd=parent)
        by_fd, status = f"/proc/self/fd/{fd}", merged.stat
        try:
            os.chown(by_fd, status.st_uid, status.st_gid)
            os.chmod(by_fd, stat.S_IMODE(status.st_mode))
            os.utime(by_fd, ns=(status.st_atime_ns, status.st_mtime_ns))
        except BaseException:
            os.close(fd)
            raise
        return fd

    def clear_name(self, directory: int, place: Resolved) -> bool:
        """Removes a non-directory or a whiteout at ``place`` in its writable directory; true
        when a whiteout was there (a directory made in its place must be opaque). A mount
        point is not removed (``EBUSY``, as the kernel answers)."""
        if place.entry is not None and place.entry.is_mount_point:
            if place.entry.is_dir:
                return False
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), place.path)
        name = place.name
        try:
            status = os.stat(name, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(status.st_mode):
            return False
        os.unlink(name, dir_fd=directory)
        in_overlay = self.overlay and (not place.chain or place.parent.mount is None)
        return in_overlay and is_whiteout(status)

    def make_mount_point(self, path: bytes, *, directory: bool) -> tuple[bytes, ...]:
        """The canonical components of ``path`` (symlinks followed inside the view), made
        when missing as docker makes a mount point for ``cp``: ``mkdir -p`` (0755), the last
        an empty file (0755) for the mount of a file."""
        made: tuple[bytes, ...] = ()
        parts = split(path)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            with opened(self, b"/".join((*made, part)), follow=True) as place:
                if place.entry is None:
                    writable = self.writable_directory(place)
                    try:
                        opaque = self.clear_name(writable, place)
                        if last and not directory:
                            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                            os.close(
                                os.open(place.name, flags | os.O_CLOEXEC, 0o755, dir_fd=writable)
                            )
                        else:
                            os.mkdir(place.name, 0o755, dir_fd=writable)
                            if opaque:
                                mark_opaque(writable, place.name)
                    finally:
                        os.close(writable)
                elif not last and not place.entry.is_dir:
                    raise NotADirectoryError(path)
                made = place.components
        return made


def mark_opaque(directory: int, name: bytes) -> None:
    """Marks the directory ``name`` made over a whiteout: what lies below is hidden."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    try:
        os.setxattr(f"/proc/self/fd/{fd}", OPAQUE_XATTR, b"y")
    finally:
        os.close(fd)


@contextlib.contextmanager
def opened(view: View, path: bytes, *, follow: bool) -> Iterator[Resolved]:
    resolved = view.resolve(path, follow=follow)
    try:
        yield resolved
    finally:
        view.release(resolved)
