"""Tar streams out of and into a ``View`` (``fsview``): what ``cp``, ``export`` and a ``cp -``
carry. Written from the fds the view examined; extracted with ``*at`` calls on directory fds
the view resolved, so an entry name never becomes a host path. A member's parent directories
are looked up as the container sees them (symlinks followed inside its root); the member
itself is never followed, an existing non-directory is replaced, a directory is kept (docker's
archive rules, refusing a directory over a non-directory and the reverse).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from typing import IO

from hybridock.errors import FileCopyError
from hybridock.runtime.fsview import (
    Entry,
    MountPoint,
    Resolved,
    View,
    mark_opaque,
    opened,
    split,
)

CAPABILITY = "security.capability"
PAX_CAPABILITY = f"SCHILY.xattr.{CAPABILITY}"
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


# --- writing -------------------------------------------------------------------------------


#: Decides per entry whether it goes into the stream and may rewrite its header (a build's
#: COPY leaves out what ``.dockerignore`` excludes and applies ``--chmod``).
Rewrite = Callable[[Entry, tarfile.TarInfo], bool]


def write_tar(
    view: View, entry: Entry, arcname: str, out: IO[bytes], rewrite: Rewrite | None = None
) -> None:
    """``entry`` (and below it) as a tar stream; ``arcname`` "" puts a directory's children at
    the top (docker's ``SRC/.``)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        _add(view, archive, entry, arcname, {}, rewrite)


def _add(
    view: View,
    archive: tarfile.TarFile,
    entry: Entry,
    name: str,
    links: dict[tuple[int, int], str],
    rewrite: Rewrite | None = None,
) -> None:
    status = entry.stat
    if name:
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(status.st_mode)
        info.uid, info.gid = status.st_uid, status.st_gid
        info.mtime = status.st_mtime
        if rewrite is not None and not rewrite(entry, info):
            return
        if not _describe(entry, info, links):
            return
        if info.type in (tarfile.REGTYPE, tarfile.DIRTYPE):
            _add_capability(entry, info)
        if info.type == tarfile.REGTYPE:
            fd = entry.open_file()
            with os.fdopen(fd, "rb") as content:
                info.size = os.fstat(fd).st_size
                archive.addfile(info, content)
        else:
            archive.addfile(info)
    if entry.is_dir:
        prefix = f"{name}/" if name else ""
        for child_name, child in view.children(entry):
            try:
                _add(view, archive, child, prefix + os.fsdecode(child_name), links, rewrite)
            finally:
                child.close()


def _add_capability(entry: Entry, info: tarfile.TarInfo) -> None:
    """File capabilities, the one xattr docker's archives carry."""
    try:
        value = os.getxattr(f"/proc/self/fd/{entry.fds[0]}", CAPABILITY)
    except OSError:
        return
    info.pax_headers = {
        **info.pax_headers,
        PAX_CAPABILITY: value.decode("utf-8", "surrogateescape"),
    }


def _describe(entry: Entry, info: tarfile.TarInfo, links: dict[tuple[int, int], str]) -> bool:
    """Fills the type of ``info``; false for what a tar does not carry (sockets)."""
    mode = entry.stat.st_mode
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.fsdecode(entry.read_link())
    elif stat.S_ISREG(mode):
        key = (entry.stat.st_dev, entry.stat.st_ino)
        if entry.stat.st_nlink > 1 and key in links:
            info.type = tarfile.LNKTYPE
            info.linkname = links[key]
        else:
            info.type = tarfile.REGTYPE
            if entry.stat.st_nlink > 1:
                links[key] = info.name
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor = os.major(entry.stat.st_rdev)
        info.devminor = os.minor(entry.stat.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return False
    return True


# --- extracting ----------------------------------------------------------------------------


def extract_tar(
    view: View,
    base: tuple[bytes, ...],
    stream: IO[bytes],
    *,
    owner: tuple[int, int] | None,
) -> None:
    """Extracts a tar stream below the view's directory ``base``; ``owner`` fixes every
    entry's uid and gid (``None``: the archive's)."""
    directory_times: list[tuple[tuple[bytes, ...], float]] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                _extract(view, base, archive, member, owner, directory_times)
    except tarfile.TarError as error:
        raise FileCopyError(f"invalid tar stream: {error}") from error
    # A directory's time last, once nothing more is made in it; looked up again (confined)
    # rather than kept open: a tree may have more directories than we may hold fds.
    for path, mtime in reversed(directory_times):
        with contextlib.suppress(OSError), opened(view, b"/".join(path), follow=False) as found:
            if found.entry is not None and found.entry.is_dir:
                os.utime(f"/proc/self/fd/{found.entry.fds[0]}", (mtime, mtime))


def _member_path(base: tuple[bytes, ...], name: str) -> tuple[bytes, ...] | None:
    parts: list[bytes] = []
    for part in split(os.fsencode(name)):
        if part == b"..":
            if not parts:
                raise FileCopyError(f"invalid path in archive: {name!r} leaves the destination")
            parts.pop()
        else:
            parts.append(part)
    return (*base, *parts) if parts else None


@contextlib.contextmanager
def _place(
    view: View, path: tuple[bytes, ...], owner: tuple[int, int] | None = None
) -> Iterator[tuple[Resolved, int]]:
    """The entry at ``path`` as it is now (parents made as needed, owned by ``owner`` when
    given) and a writable fd of its directory."""
    parent = _directory(view, path[:-1], owner)
    try:
        assert parent.entry is not None  # noqa: S101 - _directory returns a directory
        chain = (*parent.chain, parent.entry) if parent.chain else (view.root,)
        resolved = Resolved(
            (*parent.components, path[-1]), chain, view.child(parent.entry, path[-1])
        )
        writable = view.writable_directory(resolved)
        try:
            yield resolved, writable
        finally:
            os.close(writable)
            if resolved.entry is not None:
                resolved.entry.close()
    finally:
        view.release(parent)


def make_directories(view: View, path: str, owner: tuple[int, int] | None = None) -> None:
    """``mkdir -p`` in the view (each missing directory 0755, owned by ``owner`` when given:
    a build's WORKDIR makes its directory as its USER's, as BuildKit does)."""
    components = tuple(split(os.fsencode(path)))
    if components:
        view.release(_directory(view, components, owner))


def _directory(
    view: View, path: tuple[bytes, ...], owner: tuple[int, int] | None = None
) -> Resolved:
    """The directory at ``path``, made (0755) with its missing parents as ``mkdir -p``."""
    try:
        resolved = view.resolve(b"/".join(path), follow=True)
    except FileNotFoundError:
        resolved = None
    if resolved is not None and resolved.entry is not None:
        if resolved.entry.is_dir:
            return resolved
        view.release(resolved)
        raise FileCopyError(f"not a directory: /{os.fsdecode(b'/'.join(path))}")
    if resolved is not None:
        view.release(resolved)
    with _place(view, path, owner) as (place, writable):
        opaque = view.clear_name(writable, place)
        os.mkdir(place.name, 0o755, dir_fd=writable)
        if owner is not None:
            os.chown(place.name, *owner, dir_fd=writable, follow_symlinks=False)
        if opaque:
            mark_opaque(writable, place.name)
    return _directory(view, path, owner)


def _extract(
    view: View,
    base: tuple[bytes, ...],
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    owner: tuple[int, int] | None,
    directory_times: list[tuple[tuple[bytes, ...], float]],
) -> None:
    path = _member_path(base, member.name)
    if path is None:
        return  # "." is the destination itself: docker leaves its metadata alone
    with _place(view, path) as (place, writable):
        name = place.name
        existing = place.entry
        shown = f"/{os.fsdecode(b'/'.join(path))}"
        if member.isdir():
            if existing is not None and not existing.is_dir:
                raise FileCopyError(
                    f'cannot overwrite non-directory "{shown}" with directory "{member.name}"'
                )
            if existing is not None and existing.is_mount_point:
                _set_mount_point_metadata(member, existing, owner)
                directory_times.append((path, member.mtime))
                return
            opaque = existing is None and view.clear_name(writable, place)
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=writable)
            if opaque:
                mark_opaque(writable, name)
        else:
            if existing is not None and existing.is_dir:
                raise FileCopyError(
                    f'cannot overwrite directory "{shown}" with non-directory "{member.name}"'
                )
            view.clear_name(writable, place)
            if member.islnk():
                mount = place.parent.mount if place.chain else None
                _link(view, base, member, (writable, name, mount))
                return
            _create(archive, member, writable, name)
        _set_metadata(member, writable, name, owner)
    if member.isdir():
        directory_times.append((path, member.mtime))


def _create(archive: tarfile.TarFile, member: tarfile.TarInfo, directory: int, name: bytes) -> None:
    if member.isreg():
        fd = os.open(name, _CREATE, 0o600, dir_fd=directory)
        with os.fdopen(fd, "wb") as target:
            source = archive.extractfile(member)
            assert source is not None  # noqa: S101 - a regular member has content
            shutil.copyfileobj(source, target, 1 << 20)
    elif member.issym():
        os.symlink(member.linkname, name, dir_fd=directory)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        device = os.makedev(member.devmajor, member.devminor)
        os.mknod(name, kind | 0o600, device, dir_fd=directory)
    elif member.isfifo():
        os.mkfifo(name, 0o600, dir_fd=directory)
    else:
        raise FileCopyError(f"unsupported tar entry type for {member.name!r}")


def _link(
    view: View,
    base: tuple[bytes, ...],
    member: tarfile.TarInfo,
    place: tuple[int, bytes, MountPoint | None],
) -> None:
    """A hard link, within one tree: across a mount point it fails as link(2) does there."""
    directory, name, place_mount = place
    target_path = _member_path(base, member.linkname)
    if target_path is None:
        raise FileCopyError(f"invalid hardlink {member.name!r} -> {member.linkname!r}")
    with _place(view, target_path) as (target, target_directory):
        if target.entry is None or target.entry.is_dir:
            raise FileCopyError(f"invalid hardlink {member.name!r} -> {member.linkname!r}")
        if target.entry.mount != place_mount:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), member.name)
        os.link(
            target.name,
            name,
            src_dir_fd=target_directory,
            dst_dir_fd=directory,
            follow_symlinks=False,
        )


def _set_mount_point_metadata(
    member: tarfile.TarInfo, mount_point: Entry, owner: tuple[int, int] | None
) -> None:
    """A directory member landing on a mount point: the mount's top directory takes its
    owner and mode, as an extraction through the mount would give it."""
    assert mount_point.mount is not None  # noqa: S101 - a mount point lies in its mount
    if mount_point.mount.readonly:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), member.name)
    uid, gid = owner if owner is not None else (member.uid, member.gid)
    by_fd = f"/proc/self/fd/{mount_point.fds[0]}"
    os.chown(by_fd, uid, gid)
    os.chmod(by_fd, stat.S_IMODE(member.mode))


def _set_metadata(
    member: tarfile.TarInfo,
    directory: int,
    name: bytes,
    owner: tuple[int, int] | None,
) -> None:
    uid, gid = owner if owner is not None else (member.uid, member.gid)
    os.chown(name, uid, gid, dir_fd=directory, follow_symlinks=False)
    if member.issym():
        os.utime(name, (member.mtime, member.mtime), dir_fd=directory, follow_symlinks=False)
        return
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    by_fd = f"/proc/self/fd/{fd}"
    try:
        os.chmod(by_fd, stat.S_IMODE(member.mode))
        if capability := member.pax_headers.get(PAX_CAPABILITY):
            os.setxattr(by_fd, CAPABILITY, capability.encode("utf-8", "surrogateescape"))
        if not member.isdir():
            os.utime(by_fd, (member.mtime, member.mtime))
    finally:
        os.close(fd)
