"""COPY and ADD's file side, as the executor calls it: the source trees (``trees``: the
context, a stage's or image's layers, heredocs, URLs), ``copy_into`` and ``materialize``
(``copying``), and ``instruction_source``, the tree one instruction reads: its base (the
context or ``--from``) with its heredoc bodies and, for ADD, its URLs fetched once (their
digests are part of the step's cache key, as BuildKit's)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from hybridock import _native
from hybridock.build.copying import copy_into, materialize, parse_chmod, resolve_chown
from hybridock.build.dockerfile import instructions as ins
from hybridock.build.remote import is_url, url_name, url_source
from hybridock.build.trees import (
    HEREDOC_MODE,
    HostTree,
    MemoryFile,
    MemoryTree,
    SourceTree,
    context_source,
    heredoc_source,
    layers_source,
)
from hybridock.errors import BuildError

__all__ = [
    "SourceTree",
    "context_source",
    "copy_into",
    "heredoc_source",
    "instruction_source",
    "layers_source",
    "materialize",
    "parse_chmod",
    "resolve_chown",
]


def instruction_source(
    base: SourceTree, instruction: ins.Copy, expand: Callable[[str], str]
) -> SourceTree:
    """``base`` with the instruction's heredocs (their bodies expanded when the delimiter
    was unquoted) and, for ADD, its http(s) URLs fetched: each named as the instruction
    names it (``EOF``, the URL)."""
    files: dict[str, MemoryFile] = {}
    aliases: dict[str, str] = {}
    for doc in instruction.heredocs:
        content = expand(doc.content) if doc.expand else doc.content
        files[doc.name] = MemoryFile(content.encode(), HEREDOC_MODE)
        aliases[doc.name] = doc.name
    for source in instruction.sources:
        url = expand(source)
        if instruction.add and is_url(url) and url not in aliases:
            fetched = url_source(url)
            if instruction.checksum:
                _verify(fetched.files[url_name(url)].content, expand(instruction.checksum))
            files.update(fetched.files)
            aliases[url] = url_name(url)
        elif instruction.checksum:
            raise BuildError("checksum can't be specified for non-HTTP(S) sources")
    if not aliases:
        return base
    return _WithMemory(base, MemoryTree(files), aliases)


def _verify(content: bytes, expected: str) -> None:
    """``ADD --checksum=sha256:...``: the fetched content must have it."""
    actual = _native.sha256(content)
    if actual != expected:
        raise BuildError(f"digest mismatch {actual}: {expected}")


class _WithMemory:
    """A tree whose named sources (heredocs, URLs) come from memory, the rest from ``base``."""

    def __init__(self, base: SourceTree, memory: MemoryTree, aliases: dict[str, str]) -> None:
        self.base, self.memory, self.aliases = base, memory, aliases
        self.owner = base.owner

    def _route(self, path: str) -> tuple[SourceTree, str]:
        if path in self.aliases:
            return self.memory, self.aliases[path]
        return self.base, path

    def select(self, pattern: str) -> list[str]:
        if pattern in self.aliases:
            return [pattern]
        return self.base.select(pattern)

    def digest(self, paths: Sequence[str]) -> str:
        memory = [self.aliases[path] for path in paths if path in self.aliases]
        rest = [path for path in paths if path not in self.aliases]
        parts = [
            self.memory.digest(memory) if memory else "",
            self.base.digest(rest) if rest else "",
        ]
        return _native.sha256(" ".join(parts).encode())

    def is_dir(self, path: str) -> bool:
        tree, routed = self._route(path)
        return tree.is_dir(routed)

    def write_tar(self, path: str, arcname: str, out: IO[bytes], chmod: int | None) -> None:
        tree, routed = self._route(path)
        tree.write_tar(routed, arcname, out, chmod)

    def open_file(self, path: str) -> IO[bytes] | None:
        tree, routed = self._route(path)
        return tree.open_file(routed)

    def host_path(self, path: str) -> Path | None:
        tree, routed = self._route(path)
        return tree.host_path(routed)

    def host_tree(self, path: str) -> HostTree | None:
        tree, routed = self._route(path)
        return tree.host_tree(routed)
