"""The build context, read once: every entry ``.dockerignore`` keeps, with the sha256 of each
file's content computed in the native core (``_native.scan_context``: a confined walk, no
symlink followed, the files hashed on all cores with the GIL released; the ignore matcher is
asked once per directory).

Nothing is sent anywhere (there is no daemon): COPY reads the files in place, through a
confined view of the context directory, and only what the scan kept is visible to it. The
digests are the cache's: a step that reads context files is keyed by their names, modes,
link targets and contents, never by their times or owners (BuildKit sends the context with
owners 0:0).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from hybridock import _native
from hybridock.build.ignore import IgnoreMatcher
from hybridock.errors import BuildError


class ContextEntry(NamedTuple):
    path: str  # relative to the context root, "/"-separated
    kind: str  # "d" "f" "l" "c" "b" "p" "s"
    mode: int  # permission bits
    uid: int
    gid: int
    size: int
    link: str  # a symlink's target
    sha256: str | None  # hex of a regular file's content

    def record(self) -> str:
        """What the cache key takes of the entry (no time, no owner)."""
        return f"{self.kind} {self.mode:o} {self.link!r} {self.sha256 or ''}"


class BuildContext:
    """The context directory as the build sees it: ``entries`` by path, in walk order."""

    def __init__(self, root: Path, entries: Sequence[ContextEntry]) -> None:
        self.root = root
        self.entries = {entry.path: entry for entry in entries}
        self._sorted = sorted(self.entries)

    @classmethod
    def scan(cls, root: Path, excludes: Sequence[str]) -> BuildContext:
        root = Path(root).absolute()
        if not root.is_dir():
            raise BuildError(f"unable to prepare context: path {str(root)!r} not found")
        matcher = IgnoreMatcher(excludes)
        try:
            scanned = _native.scan_context(str(root), matcher.decide if matcher else None)
        except OSError as error:
            raise BuildError(f"error from sender: {error}") from error
        return cls(root, [ContextEntry._make(row) for row in scanned])

    def __contains__(self, path: str) -> bool:
        return path == "" or path in self.entries

    def below(self, path: str) -> Iterator[ContextEntry]:
        """The entries under the directory ``path`` ("" for the root), sorted by path."""
        if not path:
            yield from (self.entries[name] for name in self._sorted)
            return
        prefix = f"{path}/"
        start = bisect.bisect_left(self._sorted, prefix)
        for name in self._sorted[start:]:
            if not name.startswith(prefix):
                break
            yield self.entries[name]
