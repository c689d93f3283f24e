"""A Dockerfile's text to its stages, as BuildKit's ``parser.Parse`` and ``instructions.Parse``
read it.

Parser directives (``# syntax=``, ``# escape=``, ``# check=``) count only before any other
line, comment or blank line, once each. A logical line is a line whose escape character at
the end (blanks after it allowed) continues it on the next; comment lines and blank lines
inside a continuation are skipped. RUN, COPY and ADD lines (not in JSON form; also behind
ONBUILD) may open heredocs whose bodies follow the line. Keywords are case-insensitive.
Every error is ``DockerfileError("dockerfile parse error on line N: ...", line=N)``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from hybridock.build.dockerfile import instructions as ins
from hybridock.build.dockerfile.heredocs import openings, read_bodies
from hybridock.build.dockerfile.parse import (
    HEREDOC_KEYWORDS,
    Node,
    instruction,
    json_array,
    split_command,
)
from hybridock.errors import DockerfileError

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_DIRECTIVES = ("escape", "syntax", "check")
_BOM = "\ufeff"


class _Directives:
    def __init__(self) -> None:
        self.done = False
        self.values: dict[str, str] = {}
        self.escape = "\\"
        self._continuation = _continuation_pattern(self.escape)

    def see(self, line: str) -> bool:
        """Reads ``line`` as a possible directive; True when it was one."""
        if self.done:
            return False
        match = _DIRECTIVE.match(line)
        name = match[1].lower() if match else ""
        if match is None or name not in _DIRECTIVES:
            self.done = True
            return False
        if name in self.values:
            raise DockerfileError(f"only one {name} parser directive can be used")
        self.values[name] = match[2]
        if name == "escape":
            if match[2] not in ("\\", "`"):
                raise DockerfileError(f"invalid escape token '{match[2]}' does not match ` or \\")
            self.escape = match[2]
            self._continuation = _continuation_pattern(self.escape)
        return True

    def continued(self, line: str) -> tuple[str, bool]:
        """The line without its continuation character, and whether it had one."""
        trimmed, count = self._continuation.subn(r"\1", line)
        return trimmed, count > 0


def _continuation_pattern(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")


def _lines(text: str) -> list[str]:
    """The lines with their endings kept (bufio's lines, ``\\n`` only)."""
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]]
    return [*lines, pieces[-1]] if pieces[-1] else lines


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _failure(error: DockerfileError, line: int) -> DockerfileError:
    return DockerfileError(f"dockerfile parse error on line {line}: {error}", line=line)


def _nodes(text: str) -> tuple[list[Node], _Directives]:
    directives = _Directives()
    lines = _lines(text[1:] if text.startswith(_BOM) else text)
    nodes: list[Node] = []
    index = 0
    while index < len(lines):
        token = lines[index].rstrip("\r\n").lstrip()
        index += 1
        try:
            directives.see(token)
        except DockerfileError as error:
            raise _failure(error, index) from None
        start = index
        logical, continued = directives.continued("" if _is_comment(token) else token)
        if not continued and not logical:
            continue
        parts = [logical]
        while continued and index < len(lines):
            token = lines[index].rstrip("\r\n")
            index += 1
            directives.see(token)
            if _is_comment(token) or not token.strip():
                continue
            token, continued = directives.continued(token)
            parts.append(token)
        line = "".join(parts)
        try:
            node = split_command(line, start, directives.escape)
            if _may_open_heredocs(node):
                found = openings(line)
                heredocs, index = read_bodies(found, lines, index)
                node = replace(node, heredocs=tuple(heredocs))
        except DockerfileError as error:
            raise _failure(error, start) from None
        nodes.append(node)
    return nodes, directives


def _may_open_heredocs(node: Node) -> bool:
    keyword, rest = node.keyword.lower(), node.rest
    if keyword == "onbuild":
        keyword, _, rest = rest.partition(" ")
        keyword = keyword.lower()
    if keyword not in HEREDOC_KEYWORDS or "<<" not in rest:
        return False
    return json_array(rest.strip()) is None


def parse(text: str) -> ins.Dockerfile:
    """The Dockerfile's stages, its ARGs before the first FROM, its escape character."""
    if not text:
        raise DockerfileError("the Dockerfile cannot be empty")
    nodes, directives = _nodes(text)
    if not nodes:
        last = len(_lines(text))
        raise _failure(DockerfileError("file with no instructions"), last)
    meta_args: list[ins.Arg] = []
    stages: list[ins.Stage] = []
    body: list[ins.Instruction] = []
    for node in nodes:
        try:
            parsed = instruction(node)
        except DockerfileError as error:
            raise _failure(error, node.line) from None
        if isinstance(parsed, ins.From):
            if stages:
                stages[-1] = ins.Stage(stages[-1].index, stages[-1].base, tuple(body))
            stages.append(ins.Stage(len(stages), parsed))
            body = []
        elif not stages and isinstance(parsed, ins.Arg):
            meta_args.append(parsed)
        elif not stages:
            raise _failure(DockerfileError("no build stage in current context"), node.line)
        else:
            body.append(parsed)
    if not stages:
        raise DockerfileError("dockerfile contains no stages to build")
    stages[-1] = ins.Stage(stages[-1].index, stages[-1].base, tuple(body))
    return ins.Dockerfile(
        meta_args=tuple(meta_args),
        stages=tuple(stages),
        escape=directives.escape,
        syntax=directives.values.get("syntax"),
    )


def parse_line(text: str, escape: str = "\\") -> ins.Instruction:
    """One logical line (``commit -c``'s changes: no heredocs), with BuildKit's bare words."""
    return instruction(split_command(text, 1, escape))
