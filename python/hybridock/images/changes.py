"""Dockerfile instructions applied to an image config: ``commit -c`` and ``import -c`` now,
the builder's config-only instructions later (the same parsing and the same effects).

``parse_instruction`` splits one logical line into its keyword and arguments (the JSON "exec
form" or the shell form), ``apply_changes`` applies docker's commit subset to a config:
CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR.
Values in ENV, LABEL, EXPOSE, USER, VOLUME, WORKDIR and STOPSIGNAL see the environment built so
far (``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR:+word}``), as docker's builder expands them.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

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

_HEALTH_FLAGS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
    "retries": "Retries",
}


class Instruction(NamedTuple):
    keyword: str  # upper case
    text: str  # the arguments as written, trimmed
    exec_form: list[str] | None  # the JSON array form, when the arguments are one


def parse_instruction(line: str) -> Instruction:
    """One logical Dockerfile line: ``KEYWORD arguments``."""
    stripped = line.strip()
    if not stripped:
        raise ConfigError("dockerfile parse error: empty instruction")
    keyword, _, rest = stripped.partition(" ")
    keyword, _, tail = keyword.partition("\t")
    rest = f"{tail} {rest}".strip() if tail else rest.strip()
    return Instruction(keyword.upper(), rest, _exec_form(rest))


def _exec_form(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def apply_changes(config: Mapping[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    """A copy of the image ``config`` (its ``config`` section edited) with ``changes`` applied
    in order; ConfigError with docker's words for a change it refuses."""
    result = copy.deepcopy(dict(config))
    section = result.setdefault("config", {})
    if section is None:
        section = result["config"] = {}
    cmd_set = False
    for change in changes:
        instruction = parse_instruction(change)
        if instruction.keyword not in COMMIT_INSTRUCTIONS:
            raise ConfigError(f"{instruction.keyword.lower()} is not a valid change command")
        if instruction.keyword == "CMD":
            cmd_set = True
        _APPLY[instruction.keyword](section, instruction, cmd_set)
    return result


def environment(section: Mapping[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in section.get("Env") or ():
        key, _, value = str(item).partition("=")
        env[key] = value
    return env


def _command(instruction: Instruction) -> list[str]:
    if instruction.exec_form is not None:
        return instruction.exec_form
    return ["/bin/sh", "-c", instruction.text]


def _cmd(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    section["Cmd"] = _command(instruction)


def _entrypoint(section: dict[str, Any], instruction: Instruction, cmd_set: bool) -> None:
    if instruction.exec_form == [] or (instruction.exec_form is None and not instruction.text):
        section["Entrypoint"] = None
    else:
        section["Entrypoint"] = _command(instruction)
    if not cmd_set:  # docker: an ENTRYPOINT resets a CMD that was not set beside it
        section["Cmd"] = None


def _pairs(instruction: Instruction, section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``key=value ...`` (or the legacy ``key value`` of one pair), expanded."""
    words = split_words(instruction.text)
    if not words:
        raise ConfigError(f"{instruction.keyword} requires at least one argument")
    env = environment(section)
    if "=" not in words[0]:
        key, _, value = instruction.text.partition(" ")
        if not value.strip():
            raise ConfigError(f"{instruction.keyword} must have two arguments")
        return [(key, process_word(value.strip(), env))]
    pairs = []
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise ConfigError(
                f"Syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        pairs.append((process_word(key, env), process_word(value, env)))
    return pairs


def _env(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    env = list(section.get("Env") or [])
    for key, value in _pairs(instruction, section):
        env = [item for item in env if item.partition("=")[0] != key]
        env.append(f"{key}={value}")
    section["Env"] = env


def _label(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    labels = dict(section.get("Labels") or {})
    labels.update(_pairs(instruction, section))
    section["Labels"] = labels


_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


def _expose(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    ports = dict(section.get("ExposedPorts") or {})
    env = environment(section)
    words = [process_word(word, env) for word in split_words(instruction.text)]
    if not words:
        raise ConfigError("EXPOSE requires at least one argument")
    for word in words:
        match = _PORT.match(word)
        if match is None:
            raise ConfigError(f"invalid containerPort: {word}")
        first = int(match[1])
        last = int(match[2] or first)
        protocol = (match[3] or "tcp").lower()
        if last < first or last > 65535:
            raise ConfigError(f"invalid containerPort: {word}")
        for port in range(first, last + 1):
            ports[f"{port}/{protocol}"] = {}
    section["ExposedPorts"] = ports


def _user(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    if not instruction.text:
        raise ConfigError("USER requires exactly one argument")
    section["User"] = process_word(instruction.text, environment(section))


def _workdir(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    if not instruction.text:
        raise ConfigError("WORKDIR requires exactly one argument")
    path = process_word(instruction.text, environment(section))
    base = section.get("WorkingDir") or "/"
    section["WorkingDir"] = posixpath.normpath(posixpath.join(base, path))


def _volume(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    env = environment(section)
    paths = instruction.exec_form
    if paths is None:
        paths = [process_word(word, env) for word in split_words(instruction.text)]
    if not paths or any(not path.strip() for path in paths):
        raise ConfigError("VOLUME specified can not be an empty string")
    volumes = dict(section.get("Volumes") or {})
    for path in paths:
        volumes[path] = {}
    section["Volumes"] = volumes


def _stopsignal(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    if not instruction.text:
        raise ConfigError("STOPSIGNAL requires exactly one argument")
    section["StopSignal"] = process_word(instruction.text, environment(section))


def _onbuild(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    trigger = parse_instruction(instruction.text) if instruction.text else None
    if trigger is None:
        raise ConfigError("ONBUILD requires at least one argument")
    if trigger.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
        raise ConfigError(f"{trigger.keyword} isn't allowed as an ONBUILD trigger")
    section["OnBuild"] = [*(section.get("OnBuild") or []), f"{trigger.keyword} {trigger.text}"]


def _healthcheck(section: dict[str, Any], instruction: Instruction, _cmd_set: bool) -> None:
    from hybridock.runtime.supervision import parse_duration  # noqa: PLC0415

    words = instruction.text.split()
    if words and words[0].upper() == "NONE":
        if len(words) > 1:
            raise ConfigError("HEALTHCHECK NONE takes no arguments")
        section["Healthcheck"] = {"Test": ["NONE"]}
        return
    check: dict[str, Any] = {}
    rest = instruction.text
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, equals, value = flag[2:].partition("=")
        if name not in _HEALTH_FLAGS or not equals:
            raise ConfigError(f"Unknown flag: {name}")
        if name == "retries":
            if not value.isdigit():
                raise ConfigError(f'strconv.ParseInt: parsing "{value}": invalid syntax')
            check["Retries"] = int(value)
            continue
        try:
            check[_HEALTH_FLAGS[name]] = parse_duration(value)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    command = parse_instruction(rest) if rest else None
    if command is None or command.keyword != "CMD":
        raise ConfigError("Unknown type in HEALTHCHECK (try CMD)")
    if command.exec_form is not None:
        test = ["CMD", *command.exec_form]
    else:
        test = ["CMD-SHELL", command.text]
    section["Healthcheck"] = {"Test": test, **check}


_APPLY = {
    "CMD": _cmd,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "HEALTHCHECK": _healthcheck,
    "LABEL": _label,
    "ONBUILD": _onbuild,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}


def split_words(text: str) -> list[str]:
    """Whitespace-separated words, quotes kept (``a="b c" d`` is two words), as the builder's
    word splitter does before it removes the quotes of each part."""
    words: list[str] = []
    word: list[str] = []
    quote: str | None = None
    escaped = False
    for char in text:
        if escaped:
            word.append(char)
            escaped = False
        elif char == "\\" and quote != "'":
            word.append(char)
            escaped = True
        elif quote is not None:
            word.append(char)
            if char == quote:
                quote = None
        elif char in "\"'":
            word.append(char)
            quote = char
        elif char.isspace():
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(char)
    if quote is not None:
        raise ConfigError(f"unexpected end of statement while looking for matching {quote}")
    if word:
        words.append("".join(word))
    return words


def process_word(word: str, env: Mapping[str, str]) -> str:
    """One word as the builder reads it: quotes removed, backslash escapes resolved, and
    ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR:+word}`` expanded outside single quotes."""
    out: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(word):
        char = word[index]
        if char == "\\" and quote != "'":
            out.append(word[index + 1 : index + 2])
            index += 2
            continue
        if quote is not None and char == quote:
            quote = None
        elif quote is None and char in "\"'":
            quote = char
        elif char == "$" and quote != "'":
            match = _VARIABLE.match(word, index)
            if match is not None:
                out.append(_variable(match, env))
                index = match.end()
                continue
            out.append(char)
        else:
            out.append(char)
        index += 1
    return "".join(out)


_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))")


def _variable(match: re.Match[str], env: Mapping[str, str]) -> str:
    current = env.get(match[1] or match[4], "")
    if match[2] == "-":
        return current or match[3]
    if match[2] == "+":
        return match[3] if current else ""
    return current
