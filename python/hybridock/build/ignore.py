"""``.dockerignore``: moby's patternmatcher, as BuildKit applies it to the build context.

Reading (moby's ``dockerignore.ReadAll``): a line starting with ``#`` is a comment, the rest is
trimmed, blank lines skipped, ``!`` marks an exception, each pattern is ``filepath.Clean``ed
and a leading ``/`` dropped. ``<Dockerfile>.dockerignore`` beside the Dockerfile is preferred
to the context's ``.dockerignore``, as BuildKit does.

Matching (``MatchesOrParentMatches``): the patterns are tried in order, the last that applies
wins; a pattern applies to a path when it matches the path or one of its parent directories.
``*`` and ``?`` never cross a ``/``, ``**`` crosses any number of directories, ``[...]`` is a
class; moby's shortcuts (an exact name, ``dir/**`` as a prefix, ``**/name`` as a suffix) are
kept as it has them, since they decide some edge cases.

A directory that is excluded is still walked when an exception may re-include something
below it (``dir/`` then ``!dir/file``); it is then in the context only as the parent of
what is.
"""

from __future__ import annotations

import enum
import functools
import posixpath
import re
from collections.abc import Sequence
from pathlib import Path

from hybridock.errors import BuildError

_BOM = "\ufeff"
_WILDCARDS = frozenset("*?[\\")


class _Match(enum.Enum):
    EXACT = enum.auto()
    PREFIX = enum.auto()
    SUFFIX = enum.auto()
    REGEXP = enum.auto()


def parse_ignore(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` text, as moby's ``ReadAll`` gives them."""
    patterns = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.removeprefix(_BOM) if number == 0 else raw
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = posixpath.normpath(pattern)
            pattern = pattern.removeprefix("//") if pattern.startswith("//") else pattern
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


def read_ignore_file(context_dir: Path, dockerfile: Path | None) -> list[str]:
    """The patterns for a build: ``<Dockerfile>.dockerignore`` first, else the context's."""
    candidates = [context_dir / ".dockerignore"]
    if dockerfile is not None:
        candidates.insert(0, dockerfile.parent / f"{dockerfile.name}.dockerignore")
    for candidate in candidates:
        try:
            return parse_ignore(candidate.read_text(encoding="utf-8", errors="surrogateescape"))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return []


class _Pattern:
    def __init__(self, text: str) -> None:
        self.exclusion = text.startswith("!")
        if self.exclusion:
            if len(text) == 1:
                raise BuildError('illegal exclusion pattern: "!"')
            text = text[1:]
        self.text = posixpath.normpath(text) if text else text
        self.components = self.text.split("/")
        self.kind, regexp = _compile(self.text)
        try:
            self.regexp = re.compile(regexp, re.DOTALL)
        except re.error as error:
            raise BuildError("syntax error in pattern") from error

    def match(self, path: str) -> bool:
        if self.kind is _Match.EXACT:
            return path == self.text
        if self.kind is _Match.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Match.SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regexp.fullmatch(path) is not None


def _compile(pattern: str) -> tuple[_Match, str]:
    """moby's ``Pattern.compile``: the match kind and the regular expression."""
    kind, index = _Match.EXACT, 0
    out: list[str] = []
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*" and pattern[index : index + 1] == "*":
            index, kind = _double_star(pattern, index + 1, kind, out)
        elif char in "*?":
            out.append("[^/]*" if char == "*" else "[^/]")
            kind = _Match.REGEXP
        elif char == "\\" and index < len(pattern):
            out.append(re.escape(pattern[index]))
            kind = _Match.REGEXP
            index += 1
        elif char == "[":
            index = _char_class(pattern, index, out)
            kind = _Match.REGEXP
        else:
            out.append(re.escape(char))
    return kind, "".join(out)


def _char_class(pattern: str, index: int, out: list[str]) -> int:
    """``[...]`` (``index`` just past ``[``) as a regexp class; returns the index past ``]``."""
    out.append("[^" if pattern[index : index + 1] == "^" else "[")
    index += 1 if pattern[index : index + 1] == "^" else 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "]":
            out.append("]")
            return index
        if char == "\\" and index < len(pattern):
            char = pattern[index]
            index += 1
        out.append(re.escape(char) if char in "\\[]^" else char)
    raise BuildError("syntax error in pattern")


def _double_star(pattern: str, index: int, kind: _Match, out: list[str]) -> tuple[int, _Match]:
    """``**`` (``index`` just past it): any number of directories; moby's shortcuts for a
    pattern that starts (a suffix) or ends (a prefix) with it."""
    if pattern[index : index + 1] == "/":
        index += 1
    if index == len(pattern):
        if kind is _Match.EXACT:
            kind = _Match.PREFIX
        else:
            out.append(".*")
            kind = _Match.REGEXP
    else:
        out.append("(.*/)?")
        kind = _Match.REGEXP
    if index <= 3 and pattern.startswith("**"):
        kind = _Match.SUFFIX
    return index, kind


def has_wildcards(pattern: str) -> bool:
    return bool(_WILDCARDS & set(pattern))


def filepath_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match`` of one path component (``**`` is two ``*``: one name)."""
    if pattern == name:
        return True
    if not has_wildcards(pattern):
        return False
    regexp = _compile(re.sub(r"\*+", "*", pattern))[1]
    return re.fullmatch(regexp, name, re.DOTALL) is not None


class IgnoreMatcher:
    """``matches(path)``: whether a context path (relative, ``/``-separated) is ignored."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = [_Pattern(text) for text in patterns if text.strip()]
        self.exceptions = [pattern for pattern in self.patterns if pattern.exclusion]

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, relative_path: str) -> bool:
        path = posixpath.normpath(relative_path.lstrip("/"))
        parent_hits = self._parent_hits(posixpath.dirname(path))
        matched = False
        for pattern, parent_hit in zip(self.patterns, parent_hits, strict=True):
            if pattern.exclusion != matched:
                continue
            if parent_hit or pattern.match(path):
                matched = not pattern.exclusion
        return matched

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one matcher per build, short-lived
    def _parent_hits(self, directory: str) -> tuple[bool, ...]:
        """Per pattern: whether it matches ``directory`` or one of its parents."""
        if not directory:
            return (False,) * len(self.patterns)
        above = self._parent_hits(posixpath.dirname(directory))
        return tuple(
            hit or pattern.match(directory)
            for hit, pattern in zip(above, self.patterns, strict=True)
        )

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception may re-include something below the excluded ``directory``
        (then it must still be walked)."""
        parts = directory.split("/")
        for pattern in self.exceptions:
            wanted = pattern.components
            for index, part in enumerate(parts):
                if index >= len(wanted):
                    break
                if "**" in wanted[index]:
                    return True
                if not filepath_match(wanted[index], part):
                    break
            else:
                if len(wanted) > len(parts):
                    return True
        return False

    def decide(self, directory: str, names: list[tuple[str, bool]]) -> list[int]:
        """``_native.scan_context``'s filter: 0 left out, 1 kept, 2 walked for exceptions."""
        prefix = f"{directory}/" if directory else ""
        decisions = []
        for name, is_dir in names:
            path = prefix + name
            if not self.matches(path):
                decisions.append(1)
            elif is_dir and self.may_include_below(path):
                decisions.append(2)
            else:
                decisions.append(0)
        return decisions
