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

Writes go to the top tree: the running container's root, or the upper dir, where the
directories on the way are copied up from the layers below (mode, owner, times) and a
whiteout a new entry replaces is removed (a directory made over one is marked opaque).
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


class Entry(NamedTuple):
    """One name in the view: ``fds`` are ``O_PATH`` fds, the topmost first; a directory has
    one per tree that contributes to it (merged), anything else exactly one."""

    fds: tuple[int, ...]
    stat: os.stat_result
    sealed: bool = False  # a kernel filesystem's mount point: shown empty

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

    # --- reading ------------------------------------------------------------------------------

    def child(self, directory: Entry, name: bytes) -> Entry | None:
        """``name`` in ``directory``, as the merged view shows it (``None``: no such entry)."""
        if directory.sealed:
            return None
        found: list[int] = []
        top: os.stat_result | None = None
        for parent in directory.fds:
            try:
                fd = os.open(name, _PATH_FLAGS, dir_fd=parent)
            except (FileNotFoundError, NotADirectoryError):
                continue
            status = os.fstat(fd)
            if top is None:
                if self.overlay and is_whiteout(status):
                    os.close(fd)
                    break
                found.append(fd)
                top = status
                if not stat.S_ISDIR(status.st_mode) or (self.overlay and _is_opaque(fd)):
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
        return Entry(tuple(found), top, sealed)

    def names(self, directory: Entry) -> list[bytes]:
        """The names the merged directory may show, sorted (``child`` decides each)."""
        if directory.sealed:
            return []
        names: set[bytes] = set()
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
        by the caller): for a stopped container, the upper dir's copy, made as needed."""
        if not self.overlay or not resolved.chain:
            return os.dup(resolved.parent.fds[0] if resolved.chain else self.root.fds[0])
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

    def clear_name(self, directory: int, name: bytes) -> bool:
        """Removes a non-directory or a whiteout at ``name`` in a writable directory; true
        when a whiteout was there (a directory made in its place must be opaque)."""
        try:
            status = os.stat(name, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(status.st_mode):
            return False
        os.unlink(name, dir_fd=directory)
        return self.overlay and is_whiteout(status)


@contextlib.contextmanager
def opened(view: View, path: bytes, *, follow: bool) -> Iterator[Resolved]:
    resolved = view.resolve(path, follow=follow)
    try:
        yield resolved
    finally:
        view.release(resolved)
