"""Heredocs (``RUN <<EOF``, ``COPY <<EOF /file``) as BuildKit's parser finds them, and how a
RUN with heredocs is to be run (``dockerfile2llb``'s dispatchRun).

A word of the instruction's line (lexed with quotes and escapes kept) of the form
``[fd]<<[-]WORD`` opens a heredoc; the bodies follow the line in the order of the words, each
up to a line that is exactly its name (leading tabs ignored for ``<<-``). A quoted name
(``<<"EOF"``, ``<<'EOF'``, ``<<E"O"F``) means no expansion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hybridock.build.dockerfile.instructions import Heredoc, Run
from hybridock.build.dockerfile.shell import Lexer
from hybridock.errors import DockerfileError

_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)

#: where a RUN heredoc script that starts with ``#!`` is mounted (read-only, mode 0755)
SCRIPT_DIRECTORY = "/dev/pipes"


@dataclass(frozen=True)
class Opening:
    """A ``<<WORD`` of an instruction's line."""

    name: str
    chomp: bool  # <<-: leading tabs stripped from the body and the terminator
    expand: bool


def opening(word: str) -> Opening | None:
    """The heredoc a word opens, or None (BuildKit's ParseHeredoc)."""
    match = _HEREDOC.match(word)
    if match is None or not match[3]:
        return None
    rest = match[3]
    plain = Lexer(skip_unset=True).process_words(rest, {})
    if len(plain) != 1:
        return None
    raw = Lexer(skip_unset=True, raw_quotes=True).process_words(rest, {})
    if len(raw) != 1:
        raise DockerfileError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    quotes = plain[0].count("'") + plain[0].count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Opening(plain[0], chomp=match[2] == "-", expand=quotes == raw_quotes)


def openings(line: str) -> list[Opening]:
    """The heredocs a logical line opens, in order."""
    if "<<" not in line:
        return []
    lexer = Lexer(raw_quotes=True, raw_escapes=True, skip_unset=True)
    try:
        words = lexer.process_words(line, {})
    except DockerfileError:
        return []
    return [found for found in map(opening, words) if found is not None]


def chomped(content: str) -> str:
    return _LEADING_TABS.sub("", content)


def read_bodies(found: list[Opening], lines: list[str], start: int) -> tuple[list[Heredoc], int]:
    """The bodies of ``found`` from ``lines[start:]`` (lines with their line endings) and the
    index of the first line after them; DockerfileError "unterminated heredoc"."""
    heredocs = []
    index = start
    for each in found:
        body: list[str] = []
        while True:
            if index >= len(lines):
                raise DockerfileError("unterminated heredoc")
            line = lines[index]
            index += 1
            candidate = line.rstrip("\r\n")
            if each.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == each.name:
                break
            body.append(line)
        content = "".join(body)
        heredocs.append(
            Heredoc(each.name, chomped(content) if each.chomp else content, each.expand)
        )
    return heredocs, index


@dataclass(frozen=True)
class Script:
    """What the shell of a RUN runs: ``text`` goes after the SHELL words (``/bin/sh -c
    text``); ``executable`` is a heredoc to mount as ``SCRIPT_DIRECTORY/<name>`` (mode 0755,
    read-only) first, for a script that starts with ``#!``."""

    text: str
    executable: Heredoc | None = None


def run_script(run: Run) -> Script:
    """BuildKit's rule for a shell-form RUN: a command that is exactly one heredoc runs the
    heredoc's body as the shell's script (or, when the body starts with ``#!``, runs it as a
    file); otherwise the heredocs are handed back to the shell, which reads them itself
    (``RUN python3 <<EOF`` feeds the body on stdin). The builder never expands a RUN heredoc:
    the shell does, for unquoted names."""
    text = run.command.words[0] if run.command.words else ""
    if not run.heredocs or not run.command.shell_form:
        return Script(text)
    if opening(text) is not None:
        first = run.heredocs[0]
        if first.content.startswith("#!"):
            return Script(f"{SCRIPT_DIRECTORY}/{first.name}", executable=first)
        return Script(first.content)
    return Script(text + "".join(f"\n{heredoc.content}{heredoc.name}" for heredoc in run.heredocs))
