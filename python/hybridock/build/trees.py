"""Where COPY and ADD read from: one ``SourceTree`` over the build context, a stage's or an
image's merged layers, heredoc bodies and fetched URLs.

Every read goes through a confined view (``runtime.fsview.View``): a source path is resolved
as if the tree's root were ``/`` (``COPY ../x`` is ``/x`` of the tree, a symlink on the way is
followed inside the tree), a top-level source symlink is followed inside the tree, and a
symlink below a copied directory is copied as a symlink, never followed. The context shows
only what ``.dockerignore`` kept; its digests come from the scan (no file read twice).

``select`` is COPY's globbing (Go's ``filepath.Match`` per component, BuildKit's
``"/missing.txt": not found`` for a path, nothing for a wildcard that matches nothing);
``digest`` is the cache's view of the selected subtrees: names, kinds, modes, link targets,
contents, and owners where the copy keeps them (layers), never times.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, NamedTuple, Protocol

from hybridock import _native
from hybridock.build.context import BuildContext
from hybridock.build.dockerfile.instructions import Heredoc
from hybridock.build.ignore import filepath_match, has_wildcards
from hybridock.errors import BuildError
from hybridock.runtime.archive import write_tar
from hybridock.runtime.fsview import Entry, View

CONTEXT_OWNER = (0, 0)  # BuildKit sends the context with owners 0:0
HEREDOC_MODE = 0o644


class HostTree(NamedTuple):
    """A context directory for ``_native.copy_context_tree``: its root, the directory
    (canonical, relative to the root) and the entries below it the context holds."""

    root: Path
    directory: str
    kept: list[str]


class SourceTree(Protocol):
    #: The owner a copy gives when no ``--chown`` (None: the tree's own owners).
    owner: tuple[int, int] | None

    def select(self, pattern: str) -> list[str]:
        """COPY's globbing: the matching paths (absolute in the tree), sorted."""
        ...

    def digest(self, paths: Sequence[str]) -> str:
        """``sha256:`` of the subtrees at ``paths`` as the cache sees them (never times)."""
        ...

    def is_dir(self, path: str) -> bool: ...

    def write_tar(self, path: str, arcname: str, out: IO[bytes], chmod: int | None) -> None:
        """``path`` (a directory: its contents when ``arcname`` is "") as a tar stream."""
        ...

    def open_file(self, path: str) -> IO[bytes] | None:
        """A regular file's content (ADD's archive check), None for anything else."""
        ...

    def host_path(self, path: str) -> Path | None:
        """Where ``path`` lies on the host when the tree is one plain directory (resolved
        inside it, no symlink left in the result), else None."""
        ...

    def host_tree(self, path: str) -> HostTree | None:
        """The directory ``path`` as the native copier takes it (context only), else None."""
        ...


def clean(pattern: str) -> str:
    """A source path as BuildKit cleans it: absolute in the tree, ``..`` stopping at its root."""
    return posixpath.normpath("/" + pattern.lstrip("/")).replace("//", "/")


def not_found(path: str) -> BuildError:
    return BuildError(f'"{path}": not found')


class _ViewTree:
    """A tree read through a ``View``: the context directory or a stack of layers."""

    def __init__(
        self, roots: Sequence[str], *, overlay: bool, context: BuildContext | None = None
    ) -> None:
        self.roots = list(roots)
        self.overlay = overlay
        self.context = context
        self.owner = CONTEXT_OWNER if context is not None else None

    def _view(self) -> View:
        return View(self.roots, overlay=self.overlay)

    def _visible(self, components: Sequence[bytes]) -> bool:
        if self.context is None:
            return True
        return os.fsdecode(b"/".join(components)) in self.context

    def _resolve(self, view: View, path: str) -> tuple[tuple[bytes, ...], Entry] | None:
        """The canonical components and entry at ``path`` (symlinks followed inside the
        tree; the caller closes the entry), None when it is not there or not visible."""
        try:
            resolved = view.resolve(os.fsencode(path), follow=True)
        except OSError:
            return None
        entry = resolved.entry
        for parent in resolved.chain:
            if parent is not view.root:
                parent.close()
        if entry is None:
            return None
        if not self._visible(resolved.components):
            if entry is not view.root:
                entry.close()
            return None
        return resolved.components, entry

    def _close(self, view: View, entry: Entry) -> None:
        if entry is not view.root:
            entry.close()

    def select(self, pattern: str) -> list[str]:
        cleaned = clean(pattern)
        parts = [part for part in cleaned.split("/") if part]
        with self._view() as view:
            candidates = [""]
            for part in parts:
                if has_wildcards(part):
                    candidates = [
                        f"{base}/{name}"
                        for base in candidates
                        for name in self._names(view, base)
                        if filepath_match(part, name)
                    ]
                else:
                    candidates = [f"{base}/{part}" for base in candidates]
            found = []
            for candidate in candidates:
                resolved = self._resolve(view, candidate or "/")
                if resolved is not None:
                    self._close(view, resolved[1])
                    found.append(candidate or "/")
        if not found and not any(has_wildcards(part) for part in parts):
            raise not_found(cleaned)
        return sorted(found)  # a wildcard may match nothing (BuildKit's AllowEmptyWildcard)

    def _names(self, view: View, directory: str) -> list[str]:
        resolved = self._resolve(view, directory or "/")
        if resolved is None:
            return []
        components, entry = resolved
        try:
            if not entry.is_dir:
                return []
            names = []
            for name, child in view.children(entry):
                child.close()
                if self._visible((*components, name)):
                    names.append(os.fsdecode(name))
            return names
        finally:
            self._close(view, entry)

    def host_path(self, path: str) -> Path | None:
        if self.overlay or len(self.roots) != 1:
            return None
        with self._view() as view:
            resolved = self._resolve(view, path)
            if resolved is None:
                raise not_found(clean(path))
            self._close(view, resolved[1])
            return Path(self.roots[0], os.fsdecode(b"/".join(resolved[0])))

    def host_tree(self, path: str) -> HostTree | None:
        if self.context is None or self.overlay:
            return None
        with self._view() as view:
            resolved = self._resolve(view, path)
            if resolved is None:
                raise not_found(clean(path))
            self._close(view, resolved[1])
            if not resolved[1].is_dir:
                return None
            directory = os.fsdecode(b"/".join(resolved[0]))
        kept = [entry.path for entry in self.context.below(directory)]
        return HostTree(Path(self.roots[0]), directory, kept)

    def is_dir(self, path: str) -> bool:
        with self._view() as view:
            resolved = self._resolve(view, path)
            if resolved is None:
                raise not_found(clean(path))
            self._close(view, resolved[1])
            return resolved[1].is_dir

    def open_file(self, path: str) -> IO[bytes] | None:
        with self._view() as view:
            resolved = self._resolve(view, path)
            if resolved is None:
                raise not_found(clean(path))
            entry = resolved[1]
            try:
                if not stat.S_ISREG(entry.stat.st_mode):
                    return None
                return os.fdopen(entry.open_file(), "rb")
            finally:
                self._close(view, entry)

    def write_tar(self, path: str, arcname: str, out: IO[bytes], chmod: int | None) -> None:
        def rewrite(entry: Entry, info: tarfile.TarInfo) -> bool:
            if not self._visible(entry.path):
                return False
            if chmod is not None:
                info.mode = chmod
            return True

        with self._view() as view:
            resolved = self._resolve(view, path)
            if resolved is None:
                raise not_found(clean(path))
            try:
                write_tar(view, resolved[1], arcname, out, rewrite)
            finally:
                self._close(view, resolved[1])

    def digest(self, paths: Sequence[str]) -> str:
        lines: list[str] = []
        with self._view() as view:
            for path in paths:
                resolved = self._resolve(view, path)
                if resolved is None:
                    raise not_found(clean(path))
                components, entry = resolved
                try:
                    lines.append(f"@{clean(path)}")
                    lines.extend(self._records(view, components, entry))
                finally:
                    self._close(view, entry)
        return _native.sha256("\n".join(lines).encode("utf-8", "surrogateescape"))

    def _records(self, view: View, components: tuple[bytes, ...], top: Entry) -> Iterator[str]:
        if self.context is not None:
            base = os.fsdecode(b"/".join(components))
            own = self.context.entries.get(base)
            yield f". {own.record() if own is not None else 'd'}"
            if top.is_dir:
                start = len(base) + 1 if base else 0
                for entry in self.context.below(base):
                    yield f"{entry.path[start:]} {entry.record()}"
            return
        yield from _walk_records(view, top, "")


def _walk_records(view: View, entry: Entry, name: str) -> Iterator[str]:
    status = entry.stat
    mode = status.st_mode
    content = ""
    if stat.S_ISREG(mode):
        content = _native.sha256_file(f"/proc/self/fd/{entry.fds[0]}")
    elif stat.S_ISLNK(mode):
        content = repr(os.fsdecode(entry.read_link()))
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        content = f"{os.major(status.st_rdev)}:{os.minor(status.st_rdev)}"
    owner = f"{status.st_uid}:{status.st_gid}"
    yield f"{name or '.'} {stat.S_IFMT(mode):o} {stat.S_IMODE(mode):o} {owner} {content}"
    if entry.is_dir:
        for child_name, child in view.children(entry):
            try:
                prefix = f"{name}/" if name else ""
                yield from _walk_records(view, child, prefix + os.fsdecode(child_name))
            finally:
                child.close()


class MemoryFile(NamedTuple):
    content: bytes
    mode: int
    mtime: float = 0.0


class MemoryTree:
    """Files that exist only in the build: heredoc bodies, fetched URLs."""

    def __init__(self, files: dict[str, MemoryFile]) -> None:
        self.files = files
        self.owner: tuple[int, int] | None = CONTEXT_OWNER

    def _file(self, path: str) -> MemoryFile:
        name = clean(path).lstrip("/")
        if name not in self.files:
            raise not_found(clean(path))
        return self.files[name]

    def select(self, pattern: str) -> list[str]:
        self._file(pattern)
        return [clean(pattern)]

    def digest(self, paths: Sequence[str]) -> str:
        records = [
            f"{clean(path)} {self._file(path).mode:o} {_native.sha256(self._file(path).content)}"
            for path in paths
        ]
        return _native.sha256("\n".join(records).encode())

    def is_dir(self, path: str) -> bool:
        self._file(path)
        return False

    def host_path(self, path: str) -> Path | None:
        self._file(path)
        return None

    def host_tree(self, path: str) -> HostTree | None:
        self._file(path)
        return None

    def open_file(self, path: str) -> IO[bytes] | None:
        return io.BytesIO(self._file(path).content)

    def write_tar(self, path: str, arcname: str, out: IO[bytes], chmod: int | None) -> None:
        file = self._file(path)
        info = tarfile.TarInfo(arcname or clean(path).lstrip("/"))
        info.size, info.mtime = len(file.content), file.mtime
        info.mode = chmod if chmod is not None else file.mode
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            archive.addfile(info, io.BytesIO(file.content))


def context_source(context: BuildContext) -> SourceTree:
    return _ViewTree([str(context.root)], overlay=False, context=context)


def layers_source(layer_dirs: Sequence[str]) -> SourceTree:
    """A stage's or an image's merged tree; ``layer_dirs`` top first."""
    if not layer_dirs:
        return MemoryTree({})  # FROM scratch: nothing to copy
    return _ViewTree(layer_dirs, overlay=True)


def heredoc_source(heredocs: Sequence[Heredoc]) -> SourceTree:
    """``COPY <<EOF /file``: one file per heredoc, named by its delimiter, 0644 (the executor
    passes bodies already expanded where the delimiter was unquoted)."""
    return MemoryTree(
        {doc.name: MemoryFile(doc.content.encode(), HEREDOC_MODE) for doc in heredocs}
    )
