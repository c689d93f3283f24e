"""Dockerfile instructions applied to an image config: ``commit -c`` and ``import -c``, through
the builder's own parser and config effects (``build.dockerfile``).

``apply_changes`` applies docker's commit subset to a config: CMD, ENTRYPOINT, ENV, EXPOSE,
HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR. Values in ENV, LABEL, EXPOSE,
USER, VOLUME, WORKDIR and STOPSIGNAL see the environment built so far, as docker's builder
expands them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

from hybridock.build.dockerfile import instructions as ins
from hybridock.build.dockerfile.config import apply, environment
from hybridock.build.dockerfile.parse import json_array, split_command
from hybridock.build.dockerfile.parser import parse_line
from hybridock.build.dockerfile.shell import Lexer
from hybridock.errors import ConfigError

#: what ``docker commit --change`` accepts (moby's validCommitCommands)
COMMIT_INSTRUCTIONS = frozenset(
    {
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "ONBUILD",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)


class Instruction(NamedTuple):
    keyword: str  # upper case
    text: str  # the arguments as written, trimmed
    exec_form: list[str] | None  # the JSON array form, when the arguments are one


def parse_instruction(line: str) -> Instruction:
    """One logical Dockerfile line: ``KEYWORD arguments``."""
    if not line.strip():
        raise ConfigError("dockerfile parse error: empty instruction")
    node = split_command(line, 1)
    text = " ".join([*node.flags, node.rest]) if node.flags else node.rest
    return Instruction(node.keyword.upper(), text, json_array(text))


def apply_changes(config: Mapping[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    """A copy of the image ``config`` (its ``config`` section edited) with ``changes`` applied
    in order; ConfigError with docker's words for a change it refuses."""
    result = copy.deepcopy(dict(config))
    section = result.setdefault("config", {})
    if section is None:
        section = result["config"] = {}
    cmd_set = False
    lexer = Lexer()
    for change in changes:
        keyword = parse_instruction(change).keyword
        if keyword not in COMMIT_INSTRUCTIONS:
            raise ConfigError(f"{keyword.lower()} is not a valid change command")
        instruction = parse_line(change)
        cmd_set = cmd_set or isinstance(instruction, ins.Cmd)
        expand = partial(lexer.process_word, env=environment(section))
        apply(section, instruction, expand, cmd_set=cmd_set)
    return result


def process_word(word: str, env: Mapping[str, str]) -> str:
    """One word as the builder reads it (``shell.Lexer.process_word``)."""
    return Lexer().process_word(word, env)
