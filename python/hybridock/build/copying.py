"""The write side of COPY and ADD: sources into a step's upper dir, as overlayfs would show
them over the stage's layers, so that ``_native.encode_layer(upper, out, "none",
overlay=True)`` makes the step's layer.

Everything is a tar stream from the source tree (``sources``) into ``runtime.archive.
extract_tar`` on a ``View([upper, *lower_dirs], overlay=True)``: directories on the way are
copied up with their metadata, a whiteout is replaced, a symlink in the image's path is
followed inside the rootfs (a destination through ``/link -> /..`` stays in it), a member
never leaves its destination. Docker's COPY rules: a trailing ``/`` (or ``.``) makes the
destination a directory, as does one that exists as a directory; a directory source copies
its contents; several sources need a directory destination; a relative destination is
under WORKDIR; missing parents are made 0755 (owned by ``--chown``). ADD extracts local tar
archives (plain, gzip, bzip2, xz, zstd) with the archive's owners unless ``--chown``, refusing
a member or link that escapes, and fetches http(s) URLs (``remote``).
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import lzma
import os
import posixpath
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from hybridock import _native
from hybridock.build.remote import is_url, url_name, url_source
from hybridock.build.trees import HostTree, SourceTree, clean
from hybridock.errors import BuildError, ContainerStateError, FileCopyError, os_words
from hybridock.runtime.archive import extract_tar
from hybridock.runtime.fsview import View, opened, split
from hybridock.runtime.users import resolve_user

_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


def copy_into(
    source: SourceTree,
    paths: Sequence[str],
    destination: str,
    upper: Path,
    lower_dirs: Sequence[str],
    *,
    chown: tuple[int, int] | None,
    chmod: int | None,
    link: bool,
    add: bool,
    working_dir: str,
) -> None:
    command = "ADD" if add else "COPY"
    target = posixpath.join(working_dir or "/", destination)
    wants_dir = destination.endswith(("/", "/.")) or destination == "."
    if len(paths) > 1 and not wants_dir:
        raise BuildError(
            f"When using {command} with more than one source file, "
            "the destination must be a directory and end with a /"
        )
    jobs: list[tuple[SourceTree, str]] = []
    for path in paths:
        if add and is_url(path) and not _serves(source, path):
            fetched = url_source(path)
            jobs.extend((fetched, name) for name in fetched.select(url_name(path)))
        else:
            jobs.extend((source, selected) for selected in source.select(path))
    wants_dir = wants_dir or len(jobs) > 1
    roots = [str(upper)] if link else [str(upper), *lower_dirs]
    with View(roots, overlay=True) as view:
        for tree, path in jobs:
            try:
                _copy_one(view, tree, path, target, wants_dir, chown, chmod, add, upper)
            except FileCopyError as error:
                raise BuildError(str(error)) from error
            except OSError as error:
                raise BuildError(f"failed to copy files: {clean(path)}: {_words(error)}") from error


def _copy_one(
    view: View,
    tree: SourceTree,
    path: str,
    target: str,
    wants_dir: bool,
    chown: tuple[int, int] | None,
    chmod: int | None,
    add: bool,
    upper: Path,
) -> None:
    owner = chown if chown is not None else tree.owner
    if tree.is_dir(path):
        base = make_directories(view, target, owner)
        host = tree.host_tree(path)
        if host is None:
            _transfer(tree, path, "", view, base, owner, chmod)
        else:
            _copy_host_tree(view, host, tree, path, base, owner or (0, 0), chmod, upper)
        return
    if add and not is_url(path):  # BuildKit extracts local archives only
        with _archive(tree, path, upper) as archive:
            if archive is not None:
                check_members(archive)
                archive.seek(0)
                base = make_directories(view, target, chown)
                extract_tar(view, base, archive, owner=chown)
                return
    if wants_dir or _is_directory(view, target):
        parent, name = target, url_name(path) if is_url(path) else posixpath.basename(clean(path))
    else:
        parent, name = posixpath.split(target)
    base = make_directories(view, parent, owner)
    _transfer(tree, path, name, view, base, owner, chmod)


def materialize(source: SourceTree, path: str, scratch: Path | None = None) -> Path:
    """A host path holding ``path`` of ``source``, safe to bind read-only for ``RUN
    --mount=type=bind``: in the context, the path resolved inside it (a symlink followed
    only within; one that leads out is not found); for a stage or image (no one host
    directory), a copy made below ``scratch``."""
    host = source.host_path(path)
    if host is not None:
        return host
    if scratch is None:
        raise BuildError(f"{clean(path)}: no host path for this mount source")
    name = posixpath.basename(clean(path)) or "root"
    directory = source.is_dir(path)
    target = scratch / name
    if directory:
        target.mkdir(mode=0o755)
    with View([str(scratch)], overlay=False) as view:
        base = split(os.fsencode(name)) if directory else []
        _transfer(source, path, "" if directory else name, view, tuple(base), None, None)
    return target


def resolve_chown(spec: str, layer_dirs: Sequence[str]) -> tuple[int, int]:
    """``--chown=user[:group]`` as BuildKit resolves it in the destination's /etc/passwd and
    /etc/group: a name takes its uid and primary gid, a lone number is both uid and gid."""
    user, _, group = spec.partition(":")
    if user.isdigit() and not group:
        return int(user), int(user)
    try:
        resolved = resolve_user(spec, layer_dirs)
    except ContainerStateError as error:
        raise BuildError(str(error)) from error
    return resolved.uid, resolved.gid


def parse_chmod(text: str) -> int:
    """``--chmod`` octal (BuildKit also takes symbolic modes; not these)."""
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise BuildError(f"invalid chmod parameter: {text!r}")
    return mode


def _copy_host_tree(
    view: View,
    host: HostTree,
    tree: SourceTree,
    path: str,
    base: tuple[bytes, ...],
    owner: tuple[int, int],
    chmod: int | None,
    upper: Path,
) -> None:
    """A context directory into ``base``: the names the destination does not show yet by
    the native copier straight into the upper dir's copy of ``base`` (nothing below to merge
    with), the others through the view (``_transfer``), as overlayfs would merge them."""
    with opened(view, b"/".join((*base, b"probe")), follow=False) as place:
        os.close(view.writable_directory(place))  # copies ``base`` up
        existing = {os.fsdecode(name) for name in view.names(place.parent)}
    prefix = f"{host.directory}/" if host.directory else ""
    start = len(prefix)
    clashing = {
        entry[start:].partition("/")[0]
        for entry in host.kept
        if entry[start:].partition("/")[0] in existing
    }
    kept = [entry for entry in host.kept if entry[start:].partition("/")[0] not in clashing]
    _native.copy_context_tree(
        str(host.root),
        host.directory,
        str(upper),
        os.fsdecode(b"/".join(base)),
        keep=kept,
        owner=owner,
        mode=chmod,
    )
    for name in sorted(clashing):
        _transfer(tree, f"{clean(path)}/{name}", name, view, base, owner, chmod)


def _words(error: OSError) -> str:
    """Go's words for an ``OSError``, also for the bare ones the view raises (a path only)."""
    if error.strerror is None and isinstance(error, NotADirectoryError | FileNotFoundError):
        code = errno.ENOTDIR if isinstance(error, NotADirectoryError) else errno.ENOENT
        return os.strerror(code).lower()
    return os_words(error)


def _serves(source: SourceTree, path: str) -> bool:
    """Whether ``source`` has ``path`` (an ``instruction_source`` has its URLs fetched)."""
    try:
        source.select(path)
    except BuildError:
        return False
    return True


def _is_directory(view: View, path: str) -> bool:
    try:
        with opened(view, os.fsencode(path), follow=True) as place:
            return place.entry is not None and place.entry.is_dir
    except OSError:
        return False


def make_directories(view: View, path: str, owner: tuple[int, int] | None) -> tuple[bytes, ...]:
    """``mkdir -p`` in the view (0755; the ones made owned by ``owner``); the canonical
    components of the directory."""
    parts = split(os.fsencode(path))
    existing = len(parts)
    while existing > 0 and not _is_directory(view, os.fsdecode(b"/".join(parts[:existing]))):
        existing -= 1
    made = view.make_mount_point(os.fsencode(path), directory=True)
    if owner is not None and existing < len(parts):
        for depth in range(len(made) - (len(parts) - existing), len(made)):
            with opened(view, b"/".join(made[: depth + 1]), follow=False) as place:
                if place.entry is not None:
                    os.chown(f"/proc/self/fd/{place.entry.fds[0]}", *owner)
    return made


def _transfer(
    tree: SourceTree,
    path: str,
    arcname: str,
    view: View,
    base: tuple[bytes, ...],
    owner: tuple[int, int] | None,
    chmod: int | None,
) -> None:
    """The tree's ``path`` extracted below ``base``: written by a thread into a pipe."""
    read_fd, write_fd = os.pipe()
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out:
                tree.write_tar(path, arcname, out, chmod)
        except BrokenPipeError:
            pass
        except BaseException as error:
            failures.append(error)

    producer = threading.Thread(target=produce, name="copy-source", daemon=True)
    producer.start()
    try:
        with os.fdopen(read_fd, "rb") as stream:
            extract_tar(view, base, stream, owner=owner)
    finally:
        producer.join()
    if failures:
        raise failures[0]


@contextlib.contextmanager
def _archive(tree: SourceTree, path: str, upper: Path) -> Iterator[IO[bytes] | None]:
    """ADD's local archive, decompressed and seekable; None for a file that is no tar."""
    raw = tree.open_file(path)
    if raw is None:
        yield None
        return
    with raw, tempfile.TemporaryDirectory(dir=upper.parent, prefix=".add-") as scratch:
        head = raw.read(6)
        raw.seek(0)
        kind = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
        stream: IO[bytes]
        if kind == "zstd":
            plain = Path(scratch, "archive.tar")
            _native.compress_file(
                f"/proc/self/fd/{raw.fileno()}", str(plain), "none", source_compression="zstd"
            )
            stream = plain.open("rb")
        elif kind is not None:
            opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[kind]
            stream = opener(raw, "rb")  # type: ignore[operator]
        else:
            stream = raw
        with stream:
            yield stream if _is_tar(stream) else None


def _is_tar(stream: IO[bytes]) -> bool:
    try:
        with tarfile.open(fileobj=stream, mode="r:") as archive:
            first = archive.next()
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError):
        first = None
    stream.seek(0)
    return first is not None


def check_members(archive: IO[bytes]) -> None:
    """Refuses an archive whose member or link would leave the destination (moby's
    breakout checks): ``..`` past the top, a symlink whose relative target climbs out."""
    with tarfile.open(fileobj=archive, mode="r:") as members:
        for member in members:
            _inside(member.name, f"invalid path in archive: {member.name!r}")
            if member.issym() and not member.linkname.startswith("/"):
                joined = posixpath.join(posixpath.dirname(member.name), member.linkname)
                _inside(joined, f'invalid symlink "{member.name}" -> "{member.linkname}"')
            elif member.islnk():
                _inside(member.linkname, f'invalid hardlink "{member.name}" -> "{member.linkname}"')


def _inside(path: str, message: str) -> None:
    depth = 0
    for part in path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise BuildError(message)
        elif part not in ("", "."):
            depth += 1
