"""docker's ``cp``, ``diff`` and ``export``.

A running container is read and written through its own root (``/proc/PID/root``: what its
processes see, volumes and binds included); a created or exited one through its upper dir over
its image layers, with its binds and volumes mounted in the view as docker mounts them for
``cp`` (``fsview.MountPoint``; its ``/etc/hostname``, ``hosts`` and ``resolv.conf`` once it
has started; its tmpfs mounts not, so what lies below shows, as docker's does), writes landing
in the upper dir or the mount's source. That copy holds the container's lifecycle lock, so a
``start`` waits rather than mount the overlay over a half-written upper dir. A write under a
read-only mount, or outside every mount of a ``--read-only`` container, is refused in
docker's words. ``diff`` and ``export`` always read the layers, as docker's do: the
container's own changes and its image, never its mounts.

Each copy is a tar stream from one view into another (docker's archive rules decide the
entry names: ``PrepareArchiveCopy``), with a thread writing and the caller extracting; a host
path is resolved on the host, as docker's client does, and a container path only inside the
container's root (``fsview``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat
import threading
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, NamedTuple

from hybridock.errors import ContainerPathNotFound, FileCopyError, os_words
from hybridock.runtime.archive import extract_tar, write_tar
from hybridock.runtime.containers import Container, process_alive
from hybridock.runtime.fsview import Entry, MountPoint, View, is_whiteout, opened, split
from hybridock.runtime.lifecycle import Runtime, make_bind_source

if TYPE_CHECKING:
    from hybridock.runtime.config import Mount

#: a running container's kernel filesystems, which cp shows as empty directories (as docker)
KERNEL_MOUNTS = frozenset({b"proc", b"sys"})


READ_ONLY = "container rootfs is marked read-only"
READ_ONLY_MOUNT = "mounted volume is marked read-only"
#: docker's network files, bound from the container's directory once it has started
ETC_FILES = ("hostname", "hosts", "resolv.conf")


class Source(NamedTuple):
    is_dir: bool
    content_only: bool  # docker's SRC/.
    base: str


def has_trailing_separator(path: str) -> bool:
    return path.endswith(("/", "/."))


def lexical(path: str) -> bytes:
    """A container path as docker's daemon takes it (``filepath.Join("/", path)``): a typed
    ``..`` removes the name before it, before any symlink is looked at; what is left is
    resolved in the container."""
    return os.fsencode(posixpath.normpath("/" + path.lstrip("/")))


def plan(source: Source, destination: str, *, exists: bool, is_dir: bool) -> tuple[str, str]:
    """docker's ``PrepareArchiveCopy``: the directory to extract into and the name the
    source's top entry gets there ("" for a directory's content only)."""
    if exists and is_dir:
        return destination, "" if source.content_only else source.base
    parent, name = os.path.split(destination.rstrip("/") or "/")
    if exists:
        if source.is_dir:
            raise FileCopyError("cannot copy directory")
        return parent, name
    if has_trailing_separator(destination) and not source.is_dir:
        raise FileCopyError("no such directory")
    return parent, name


class PathStat(NamedTuple):
    """docker's ``container.PathStat`` (``mode``: Go's ``os.FileMode`` bits; ``mtime``: Unix
    nanoseconds)."""

    name: str
    size: int
    mode: int
    mtime: int
    link_target: str


#: Go's os.FileMode type bits, by the stat type they stand for
_GO_TYPES = (
    (stat.S_ISDIR, 1 << 31),
    (stat.S_ISLNK, 1 << 27),
    (stat.S_ISBLK, 1 << 26),
    (stat.S_ISFIFO, 1 << 25),
    (stat.S_ISSOCK, 1 << 24),
    (stat.S_ISCHR, (1 << 26) | (1 << 21)),
)


def go_file_mode(mode: int) -> int:
    """A stat ``st_mode`` as Go's ``os.FileMode`` (what docker's archive routes report)."""
    bits = stat.S_IMODE(mode) & 0o777
    for test, flag in _GO_TYPES:
        if test(mode):
            bits |= flag
            break
    for unix, go in ((stat.S_ISUID, 1 << 23), (stat.S_ISGID, 1 << 22), (stat.S_ISVTX, 1 << 20)):
        if mode & unix:
            bits |= go
    return bits


class Files:
    """``cp``, ``diff`` and ``export`` for one store."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @contextlib.contextmanager
    def copy_view(self, container: Container) -> Iterator[View]:
        """The container's root as ``cp`` sees it: a running container's own root, or a
        stopped one's layers with its mounts, under its lifecycle lock (taken before the
        state is read again, so a start that won the race is seen running)."""
        containers = self.runtime.containers
        current = containers.reconcile(containers.get(container.id))
        with contextlib.ExitStack() as stack:
            view = _live_view(current)
            if view is None:
                current = stack.enter_context(self.runtime.exclusive(current))
                view = _live_view(current) or self._stopped_view(current)
            with view:
                yield view

    def _stopped_view(self, container: Container) -> View:
        """The upper dir over the layers, each mount spliced in at its mount point (made
        when missing, as docker's cp makes it), parents before children."""
        view = View(self.layer_dirs(container), overlay=True)
        try:
            for destination, source, readonly in self._mounts(container):
                directory = os.path.isdir(source)
                point = view.make_mount_point(os.fsencode(destination), directory=directory)
                view.mount(MountPoint(point, source, readonly))
        except BaseException:
            view.close()
            raise
        return view

    def _mounts(self, container: Container) -> list[tuple[str, str, bool]]:
        """(destination, source, read-only) as docker's ``setupMounts`` lists them for cp:
        binds and volumes by depth (a volume's device mounted, a -v bind's missing source
        made, as a start does), then the network files not bound by the user."""
        config = container.config
        if any(mount.is_volume for mount in config.mounts):
            from hybridock.runtime.volumes import VolumeStore  # noqa: PLC0415

            VolumeStore(self.runtime.layout, self.runtime.containers.db).mount_devices(
                config.mounts
            )
        mounts = []
        for mount in config.mounts:
            if mount.create_source and not mount.is_volume:
                make_bind_source(mount.source)
            if os.path.exists(mount.source):
                mounts.append((mount.destination, mount.source, mount.readonly))
        mounts.sort(key=lambda mount: len(split(os.fsencode(mount[0]))))
        bound = {os.path.normpath(mount.destination) for mount in config.mounts}
        directory = self.runtime.layout.container(container.id)
        for name in ETC_FILES:
            source = directory / name
            if f"/etc/{name}" not in bound and source.is_file():
                mounts.append((f"/etc/{name}", str(source), config.security.read_only))
        return mounts

    def view(self, container: Container) -> View:
        """The container's root as ``diff`` and ``export`` see it: its layers alone."""
        containers = self.runtime.containers
        return View(
            self.layer_dirs(containers.reconcile(containers.get(container.id))), overlay=True
        )

    def layer_dirs(self, container: Container) -> list[str]:
        upper = self.runtime.layout.container(container.id) / "upper"
        upper.mkdir(mode=0o755, exist_ok=True)
        return [str(upper), *self.runtime.images.layer_dirs(container.image_id)]

    # --- cp ----------------------------------------------------------------------------------

    def copy_out(
        self,
        container: Container,
        path: str,
        destination: str | IO[bytes],
        *,
        archive: bool,
        follow: bool,
    ) -> None:
        """``cp CONTAINER:PATH DEST`` (a host path) or ``cp CONTAINER:PATH -`` (a stream)."""
        with self.copy_view(container) as view, _failures(container, path):
            trailing = has_trailing_separator(path)
            target = _link_target(view, path) if follow else None
            with (
                _failures(container, target or path),
                opened(view, lexical(path), follow=follow or trailing) as resolved,
            ):
                entry = resolved.entry
                if entry is None:
                    shown = target or path
                    raise ContainerPathNotFound(f"No such container:path: {container.name}:{shown}")
                if trailing and not entry.is_dir:
                    raise FileCopyError("not a directory")
                # docker names the entry as typed (``link/`` follows the link, keeps its name)
                typed = posixpath.basename(path.rstrip("/"))
                base = typed if path.endswith("/") and typed not in ("", ".", "..") else None
                source = Source(
                    entry.is_dir,
                    path.endswith("/.") and entry.is_dir,
                    base or os.fsdecode(resolved.name),
                )
                if not isinstance(destination, str):
                    write_tar(view, entry, source.base, destination)
                    return
                directory, arcname = _host_plan(source, destination)
                owner = None if archive else (os.getuid(), os.getgid())
                with View([directory], overlay=False) as host:
                    _pipe(
                        lambda out: write_tar(view, entry, arcname, out),
                        lambda stream: extract_tar(host, (), stream, owner=owner),
                    )

    def copy_in(
        self,
        container: Container,
        source: str | IO[bytes],
        path: str,
        *,
        archive: bool,
        follow: bool,
    ) -> None:
        """``cp SRC CONTAINER:PATH`` (a host path) or ``cp - CONTAINER:PATH`` (a stream)."""
        owner = None if archive else (0, 0)
        with self.copy_view(container) as view, _failures(container, path):
            settled = path  # docker's client copies to a symlink's target
            if not has_trailing_separator(path):
                settled = _link_target(view, path) or path
            with _failures(container, settled):
                self._copy_in(view, container, source, settled, path, owner=owner, follow=follow)

    def _copy_in(
        self,
        view: View,
        container: Container,
        source: str | IO[bytes],
        path: str,
        typed: str,
        *,
        owner: tuple[int, int] | None,
        follow: bool,
    ) -> None:
        """The copy into the view, ``path`` as docker's client settled it (``typed``: as the
        user typed it)."""
        try:
            target = view.resolve(lexical(path), follow=True)
        except (FileNotFoundError, NotADirectoryError):
            parent = os.path.dirname(path.rstrip("/")) or "/"
            raise ContainerPathNotFound(
                f"No such container:path: {container.name}:{parent}"
            ) from None
        try:
            entry = target.entry
            if not isinstance(source, str):
                if entry is None:
                    raise ContainerPathNotFound(f"No such container:path: {container.name}:{path}")
                if not entry.is_dir:
                    raise FileCopyError(
                        f'destination "{container.name}:{typed}" must be a directory'
                    )
                _check_writable(container, target.components)
                extract_tar(view, target.components, source, owner=owner)
                return
            with _host_source(source, follow) as (host, host_entry, described):
                _, arcname = plan(
                    described,
                    path,
                    exists=entry is not None,
                    is_dir=entry is not None and entry.is_dir,
                )
                into_directory = entry is not None and entry.is_dir
                base = target.components if into_directory else target.components[:-1]
                _check_writable(container, base)
                _pipe(
                    lambda out: write_tar(host, host_entry, arcname, out),
                    lambda stream: extract_tar(view, base, stream, owner=owner),
                )
        finally:
            view.release(target)

    def stat(self, container: Container, path: str) -> PathStat:
        """docker's ``ContainerStatPath``: the entry at ``path`` (a last symlink not followed;
        its target, absolute in the container, as ``link_target``)."""
        with (
            self.copy_view(container) as view,
            _failures(container, path),
            opened(view, lexical(path), follow=False) as resolved,
        ):
            entry = resolved.entry
            if entry is None:
                raise ContainerPathNotFound(f"No such container:path: {container.name}:{path}")
            name = os.fsdecode(resolved.components[-1]) if resolved.components else "/"
            return PathStat(
                name=name,
                size=entry.stat.st_size,
                mode=go_file_mode(entry.stat.st_mode),
                mtime=entry.stat.st_mtime_ns,
                link_target=(_link_target(view, path) or "") if entry.is_symlink else "",
            )

    # --- diff and export ---------------------------------------------------------------------

    def changes(self, container: Container) -> list[tuple[str, str]]:
        """docker's ``diff``: (kind, path) from the upper dir, by path, a directory right
        before what changed inside it (docker's own order follows a Go map's)."""
        layers = self.layer_dirs(container)
        with View(layers[:1], overlay=False) as upper, View(layers[1:], overlay=True) as lower:
            found: list[tuple[str, str]] = []
            _walk_changes(upper, lower, upper.root, b"", found)
            return found

    def export(self, container: Container, out: IO[bytes]) -> None:
        """docker's ``export``: the container's filesystem (upper dir over its image)."""
        with self.view(container) as view:
            write_tar(view, view.root, "", out)


def _live_view(container: Container) -> View | None:
    """A running container's own root (``None`` when it is not running)."""
    if not container.running or container.pid is None:
        return None
    view = View([f"/proc/{container.pid}/root"], overlay=False, sealed=KERNEL_MOUNTS)
    if process_alive(container.pid, container.pid_start):
        return view
    view.close()
    return None


def _link_target(view: View, path: str) -> str | None:
    """What the symlink at ``path`` points at, made absolute in the container (``None``: not
    a symlink). docker's client copies from there with ``-L``, and names it when it is not
    there."""
    try:
        with opened(view, lexical(path), follow=False) as resolved:
            if resolved.entry is None or not resolved.entry.is_symlink:
                return None
            parent = b"/" + b"/".join(resolved.components[:-1])
            target = posixpath.join(parent, resolved.entry.read_link())
    except (FileNotFoundError, NotADirectoryError):
        return None
    return os.fsdecode(posixpath.normpath(target))


def _check_writable(container: Container, directory: tuple[bytes, ...]) -> None:
    """docker's ``checkIfPathIsInAVolume`` for the directory an archive is extracted into
    (resolved in the container): the deepest mount holding it decides; outside every mount,
    a read-only rootfs refuses."""
    holding: Mount | None = None
    depth = -1
    for mount in container.config.mounts:
        point = tuple(split(os.fsencode(mount.destination)))
        if directory[: len(point)] == point and len(point) > depth:
            holding, depth = mount, len(point)
    if holding is not None and holding.readonly:
        raise FileCopyError(READ_ONLY_MOUNT)
    if holding is None and container.config.security.read_only:
        raise FileCopyError(READ_ONLY)


@contextlib.contextmanager
def _failures(container: Container, path: str) -> Iterator[None]:
    """An error of the filesystem as docker words it (``lstat /x: not a directory``)."""
    try:
        yield
    except FileNotFoundError:
        raise ContainerPathNotFound(f"No such container:path: {container.name}:{path}") from None
    except NotADirectoryError:
        raise FileCopyError(f"lstat {path}: not a directory") from None
    except OSError as error:
        if error.errno == errno.EROFS and container.config.security.read_only:
            raise FileCopyError(READ_ONLY) from None
        raise FileCopyError(f"{path}: {os_words(error)}") from None


def _host_plan(source: Source, destination: str) -> tuple[str, str]:
    absolute = os.path.abspath(destination)
    if has_trailing_separator(destination):
        absolute += "/"
    try:
        status = os.stat(absolute.rstrip("/") or "/")
    except FileNotFoundError:
        parent = os.path.dirname(absolute.rstrip("/")) or "/"
        if not os.path.isdir(parent):
            raise FileCopyError(f"lstat {parent}: no such file or directory") from None
        return plan(source, absolute, exists=False, is_dir=False)
    return plan(source, absolute, exists=True, is_dir=stat.S_ISDIR(status.st_mode))


class _host_source:
    """A host path as a view entry (symlinks resolved by the host, as docker's client)."""

    def __init__(self, path: str, follow: bool) -> None:
        self.path = os.path.abspath(path)
        self.content_only = path.endswith("/.") or path == "."
        self.trailing = has_trailing_separator(path)
        self.follow = follow or self.trailing
        self.view = View(["/"], overlay=False)

    def __enter__(self) -> tuple[View, Entry, Source]:
        try:
            self.resolved = self.view.resolve(os.fsencode(self.path), follow=self.follow)
        except (FileNotFoundError, NotADirectoryError):
            self.view.close()
            raise FileCopyError(f"lstat {self.path}: no such file or directory") from None
        entry = self.resolved.entry
        if entry is None:
            self.__exit__()
            raise FileCopyError(f"lstat {self.path}: no such file or directory")
        if self.trailing and not entry.is_dir:
            self.__exit__()
            raise FileCopyError("not a directory")
        described = Source(
            entry.is_dir, self.content_only and entry.is_dir, os.fsdecode(self.resolved.name)
        )
        return self.view, entry, described

    def __exit__(self, *_: object) -> None:
        self.view.release(self.resolved)
        self.view.close()


def _pipe(produce: Callable[[IO[bytes]], None], consume: Callable[[IO[bytes]], None]) -> None:
    """``produce`` writes a stream in a thread while ``consume`` reads it. The producer's
    error comes first (the consumer then only saw a stream cut short); a producer stopped by
    a consumer that failed and closed the pipe leaves the consumer's."""
    read_end, write_end = os.pipe()
    produced: list[BaseException] = []

    def writer() -> None:
        try:
            with os.fdopen(write_end, "wb") as out:
                produce(out)
        except BrokenPipeError:
            pass
        except BaseException as error:  # handed to the caller
            produced.append(error)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with os.fdopen(read_end, "rb") as stream:
            consume(stream)
            while stream.read(1 << 16):
                pass
    except BaseException:
        thread.join()
        if produced:
            raise produced[0] from None
        raise
    thread.join()
    if produced:
        raise produced[0]


#: what docker keeps in a container's init layer, not in its diff: here bind mount points
HIDDEN_FROM_DIFF = frozenset({b"/etc/hosts", b"/etc/hostname", b"/etc/resolv.conf"})


def _walk_changes(
    upper: View,
    lower: View,
    directory: Entry,
    prefix: bytes,
    found: list[tuple[str, str]],
) -> None:
    """docker 20.10's ``ChangesDirs`` (its overlay2 diff on this kind of kernel): the merged
    tree against the image's, a directory ``C`` only for its own mode or owner, or before
    the first change inside it; what a whiteout or an opaque directory hides, ``D`` each."""
    opaque = bool(prefix) and _opaque(directory)
    shown: set[bytes] = set()
    for name, entry in upper.children(directory):
        try:
            path = prefix + b"/" + name
            if path in HIDDEN_FROM_DIFF:
                continue
            shown.add(name)
            at_entry = len(found)
            kind = _change_kind(lower, path, entry, hidden=opaque)
            if kind is not None:
                found.append((kind, os.fsdecode(path)))
            if entry.is_dir:
                _walk_changes(upper, lower, entry, path, found)
                if kind is None and len(found) > at_entry:
                    found.insert(at_entry, ("C", os.fsdecode(path)))
        finally:
            entry.close()
    if opaque:
        found.extend(
            ("D", os.fsdecode(prefix + b"/" + name))
            for name in _lower_names(lower, prefix)
            if name not in shown
        )


def _lower_names(lower: View, path: bytes) -> list[bytes]:
    try:
        with opened(lower, path, follow=False) as resolved:
            if resolved.entry is None or not resolved.entry.is_dir:
                return []
            names = []
            for name, entry in lower.children(resolved.entry):
                entry.close()
                names.append(name)
            return names
    except (FileNotFoundError, NotADirectoryError):
        return []


def _change_kind(lower: View, path: bytes, entry: Entry, *, hidden: bool) -> str | None:
    """The change ``entry`` of the upper dir is; ``hidden``: under an opaque directory,
    where the image's entries do not count."""
    if is_whiteout(entry.stat):
        return "D"
    if hidden:
        return "A"
    try:
        with opened(lower, path, follow=False) as resolved:
            below = resolved.entry
            if below is None:
                return "A"
            if entry.is_dir and below.is_dir:
                return None if _same_owner_and_mode(below.stat, entry.stat) else "C"
            changed = not _same_owner_and_mode(below.stat, entry.stat) or (
                below.stat.st_mtime_ns != entry.stat.st_mtime_ns
                or below.stat.st_size != entry.stat.st_size
            )
            return "C" if changed else None
    except (FileNotFoundError, NotADirectoryError):
        return "A"


def _opaque(entry: Entry) -> bool:
    try:
        return os.getxattr(f"/proc/self/fd/{entry.fds[0]}", "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def _same_owner_and_mode(below: os.stat_result, above: os.stat_result) -> bool:
    return (below.st_mode, below.st_uid, below.st_gid, below.st_rdev) == (
        above.st_mode,
        above.st_uid,
        above.st_gid,
        above.st_rdev,
    )
