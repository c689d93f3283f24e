"""``.dockerignore`` as moby's patternmatcher reads and matches it (its test tables' edge
cases), and the walk decisions the context scan asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridock.build.ignore import IgnoreMatcher, parse_ignore, read_ignore_file
from hybridock.errors import BuildError

# (pattern, path, ignored): moby's TestMatches / TestWildcardMatches cases, parent matching
# included (MatchesOrParentMatches: a pattern that matches a parent directory applies).
SINGLE = [
    ("**", "file", True),
    ("**", "dir/file", True),
    ("**/", "file", True),
    ("**/**", "dir/file", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir", False),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**file", "file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**file", "dir/dir", False),
    ("**/file", "dir/dir", False),
    ("**/file*", "dir/dir/file", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/*.go", "main.go", True),
    ("**/*.go", "a/b/c/main.go", True),
    ("**/*.go", "a/b/main.goo", False),
    ("a**/*.txt", "abc/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("abc.def", "abcdef", False),
    ("abc?def", "abcxdef", True),
    ("abc?def", "abc/def", False),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("[a-c]x", "bx", True),
    ("[^a-c]x", "dx", True),
    ("[^a-c]x", "ax", False),
    ("*.md", "README.md", True),
    ("*.md", "docs/a.md", False),
    ("*/*.md", "docs/a.md", True),
    ("a/*", "a/b/c", True),
    ("dir", "dir/sub/file", True),
    ("/abs", "abs", True),
    ("./dot/../x", "x", True),
    ("a.(b)+{c}$", "a.(b)+{c}$", True),
]


@pytest.mark.parametrize(("pattern", "path", "ignored"), SINGLE)
def test_single_pattern(pattern: str, path: str, ignored: bool) -> None:
    assert IgnoreMatcher(parse_ignore(pattern)).matches(path) is ignored


# (patterns, path, ignored): exceptions, later patterns win.
SEVERAL = [
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["!README.md", "*.md"], "README.md", True),
    (["dir/", "!dir/file"], "dir/file", False),
    (["dir/", "!dir/file"], "dir/other", True),
    (["dir/", "!dir/file"], "dir", True),
    (["**", "!keep"], "keep", False),
    (["**", "!keep"], "keep/inner", False),
    (["**", "!keep"], "other", True),
    (["**/*.go", "!vendor/**"], "vendor/x/a.go", False),
    (["**/*.go", "!vendor/**"], "src/a.go", True),
    (["docs", "!docs/keep.md", "docs/keep.md"], "docs/keep.md", True),
    (["Dockerfile", ".dockerignore"], "Dockerfile", True),
]


@pytest.mark.parametrize(("patterns", "path", "ignored"), SEVERAL)
def test_several_patterns(patterns: list[str], path: str, ignored: bool) -> None:
    assert IgnoreMatcher(patterns).matches(path) is ignored


def test_reading_comments_blanks_and_cleaning() -> None:
    text = "\ufeff# comment\n\n  *.tmp  \n ! keep.tmp\n/abs/../x\n./y/\n #not a comment\n"
    assert parse_ignore(text) == ["*.tmp", "!keep.tmp", "x", "y", "#not a comment"]


def test_lone_exclamation_is_refused() -> None:
    with pytest.raises(BuildError, match='illegal exclusion pattern: "!"'):
        IgnoreMatcher(["!"])


def test_bad_class_is_a_syntax_error() -> None:
    with pytest.raises(BuildError, match="syntax error in pattern"):
        IgnoreMatcher(["[a-"])


def test_walk_decisions_keep_exceptions_reachable() -> None:
    matcher = IgnoreMatcher(["dir/", "!dir/sub/file", "skip", "*.log"])
    decisions = matcher.decide(
        "", [("dir", True), ("skip", True), ("a.log", False), ("main.c", False)]
    )
    assert decisions == [2, 0, 0, 1]
    assert matcher.decide("dir", [("sub", True), ("other", True), ("x", False)]) == [2, 0, 0]
    assert matcher.decide("dir/sub", [("file", False), ("more", False)]) == [1, 0]


def test_double_star_exception_walks_everything_excluded() -> None:
    matcher = IgnoreMatcher(["*", "!**/*.c"])
    assert matcher.decide("", [("src", True), ("x.c", False), ("x.h", False)]) == [2, 1, 0]


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("general\n")
    dockerfile = tmp_path / "sub" / "app.Dockerfile"
    dockerfile.parent.mkdir()
    dockerfile.write_text("FROM scratch\n")
    assert read_ignore_file(tmp_path, dockerfile) == ["general"]
    (tmp_path / "sub" / "app.Dockerfile.dockerignore").write_text("specific\n")
    assert read_ignore_file(tmp_path, dockerfile) == ["specific"]
    assert read_ignore_file(tmp_path, None) == ["general"]
    (tmp_path / ".dockerignore").unlink()
    assert read_ignore_file(tmp_path / "sub", None) == []
