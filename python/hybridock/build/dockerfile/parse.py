"""One logical line to its typed instruction: BuildKit's line parsers (``line_parsers.go``: JSON
or shell form, name=value pairs, whitespace-separated words) and ``instructions/parse.go``
(argument counts, flags, heredoc sources). Errors carry BuildKit's bare words; ``parser``
adds ``dockerfile parse error on line N:``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hybridock.build.dockerfile import instructions as ins
from hybridock.build.dockerfile.flags import (
    FlagKind,
    FlagValue,
    parse_duration,
    parse_flags,
    parse_mount,
    split_flags,
)
from hybridock.build.dockerfile.heredocs import opening
from hybridock.build.dockerfile.shell import split_words
from hybridock.errors import DockerfileError

_BLANKS = re.compile(r"[\t\v\f\r ]+")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_MINIMUM_INTERVAL = 10**6  # docker's container.MinimumDuration, 1ms


@dataclass(frozen=True)
class Node:
    """A logical line split as BuildKit's ``splitCommand`` does."""

    keyword: str  # as written
    flags: list[str]
    rest: str  # the arguments after the flags, trimmed
    original: str
    line: int
    escape: str = "\\"
    heredocs: tuple[ins.Heredoc, ...] = ()


def split_command(line: str, number: int, escape: str = "\\") -> Node:
    """The keyword, the leading flags and the rest of a logical line."""
    parts = _BLANKS.split(line.strip(), maxsplit=1)
    keyword = parts[0]
    flags, rest = split_flags(parts[1]) if len(parts) == 2 else ([], "")
    return Node(keyword, flags, rest.strip(), line, number, escape)


def json_array(rest: str) -> list[str] | None:
    """The exec (JSON) form's words, None when ``rest`` is not a JSON array of strings."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _blank_separated(rest: str) -> list[str]:
    return _BLANKS.split(rest) if rest else []


def _list(node: Node) -> list[str]:
    """parseMaybeJSONToList: a JSON array, else blank-separated words."""
    array = json_array(node.rest)
    return array if array is not None else _blank_separated(node.rest)


def _command(rest: str) -> ins.Command:
    """parseMaybeJSON: the exec form, else the shell form's text."""
    array = json_array(rest)
    if array is not None:
        return ins.Command(tuple(array), shell_form=False)
    return ins.Command((rest,) if rest else (), shell_form=True)


def _pairs(node: Node, keyword: str) -> tuple[tuple[str, str], ...]:
    """parseNameVal and parseKvps: ``name=value ...`` or the legacy ``name value``."""
    _flags(node)
    words = split_words(node.rest, node.escape)
    if not words:
        raise DockerfileError(f"{keyword} requires at least one argument")
    if "=" not in words[0]:
        parts = _BLANKS.split(node.rest, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(f"{keyword} must have two arguments")
        pairs = [(parts[0], parts[1])]
    else:
        pairs = []
        for word in words:
            if "=" not in word:
                raise DockerfileError(
                    f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value'
                )
            key, _, value = word.partition("=")
            pairs.append((key, value))
    if any(not key for key, _ in pairs):
        raise DockerfileError(f"{keyword} names can not be blank")
    return tuple(pairs)


def _flags(node: Node, known: dict[str, FlagKind] | None = None) -> dict[str, FlagValue]:
    return parse_flags(node.flags, known or {})


def _one(node: Node, keyword: str) -> str:
    _flags(node)
    if not node.rest:
        raise DockerfileError(f"{keyword} requires exactly one argument")
    return node.rest


def _base(node: Node) -> dict[str, Any]:
    return {"line": node.line, "original": node.original.strip()}


def _from(node: Node) -> ins.From:
    args = _blank_separated(node.rest)
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise DockerfileError(
                f'invalid name for build stage: "{args[2]}", name can\'t start with a number or '
                "contain symbols"
            )
    elif len(args) != 1:
        raise DockerfileError("FROM requires either one or three arguments")
    platform = _flags(node, {"platform": "string"}).get("platform")
    return ins.From(image=args[0], stage_name=name, platform=_text(platform), **_base(node))


def _text(value: FlagValue | None) -> str | None:
    return value if isinstance(value, str) else None


def _run(node: Node) -> ins.Run:
    flags = _flags(node, {"mount": "strings", "network": "string", "security": "string"})
    network = _text(flags.get("network"))
    if network is not None and network not in ("none", "host", "default"):
        raise DockerfileError(f'unsupported network mode "{network}"')
    security = _text(flags.get("security"))
    if security is not None and security not in ("sandbox", "insecure"):
        raise DockerfileError(f'unsupported security mode "{security}"')
    specs = flags.get("mount")
    mounts = tuple(parse_mount(spec) for spec in specs) if isinstance(specs, list) else ()
    command = _command(node.rest)
    if not command.words and command.shell_form:
        raise DockerfileError("RUN requires at least one argument")
    return ins.Run(
        command=command,
        heredocs=node.heredocs if command.shell_form else (),
        mounts=mounts,
        network=network,
        security=security,
        **_base(node),
    )


def _copy(node: Node, *, add: bool) -> ins.Copy:
    keyword = "ADD" if add else "COPY"
    args = _list(node)
    if len(args) < 2:
        raise DockerfileError(
            f"{keyword} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    known: dict[str, FlagKind] = {"chown": "string", "chmod": "string", "link": "bool"}
    known["exclude"] = "strings"
    if add:
        known.update({"keep-git-dir": "bool", "checksum": "string"})
    else:
        known.update({"from": "string", "parents": "bool"})
    flags = _flags(node, known)
    *sources, destination = args
    if opening(destination) is not None:
        raise DockerfileError(f"{keyword} cannot accept a heredoc as a destination")
    bodies = {heredoc.name: heredoc for heredoc in node.heredocs}
    names, heredocs = [], []
    for source in sources:
        found = opening(source)
        if found is None:
            names.append(source)
            continue
        names.append(found.name)
        body = bodies.get(found.name, ins.Heredoc(found.name, "", found.expand))
        heredocs.append(body)
    excludes = flags.get("exclude")
    return ins.Copy(
        sources=tuple(names),
        destination=destination,
        add=add,
        from_stage=_text(flags.get("from")),
        chown=_text(flags.get("chown")),
        chmod=_text(flags.get("chmod")),
        link=flags.get("link") is True,
        heredocs=tuple(heredocs),
        checksum=_text(flags.get("checksum")),
        keep_git_dir=flags.get("keep-git-dir") is True,
        excludes=tuple(excludes) if isinstance(excludes, list) else (),
        parents=flags.get("parents") is True,
        **_base(node),
    )


def _arg(node: Node) -> ins.Arg:
    _flags(node)
    words = split_words(node.rest, node.escape)
    if not words:
        raise DockerfileError("ARG requires at least one argument")
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        key, equals, value = word.partition("=")
        if equals and not key:
            raise DockerfileError("ARG names can not be blank")
        pairs.append((key, value if equals else None))
    return ins.Arg(pairs=tuple(pairs), **_base(node))


def _interval(flags: dict[str, FlagValue], name: str) -> int:
    text = _text(flags.get(name)) or ""
    if not text:
        return 0
    try:
        duration = parse_duration(text)
    except ValueError as error:
        raise DockerfileError(str(error)) from None
    if 0 < duration < _MINIMUM_INTERVAL or duration < 0:
        raise DockerfileError(f'Interval "{name}" cannot be less than 1ms')
    return duration


def _healthcheck(node: Node) -> ins.Healthcheck:
    kind, _, rest = node.rest.partition(" ")
    if not kind:
        raise DockerfileError("HEALTHCHECK requires at least one argument")
    kind, rest = kind.upper(), rest.strip()
    if kind == "NONE":
        if rest:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments")
        return ins.Healthcheck(test=("NONE",), **_base(node))
    durations = ("interval", "timeout", "start-period", "start-interval")
    known: dict[str, FlagKind] = dict.fromkeys((*durations, "retries"), "string")
    flags = _flags(node, known)
    if kind != "CMD":
        raise DockerfileError(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    command = _command(rest)
    if not command.words:
        raise DockerfileError("Missing command after HEALTHCHECK CMD")
    test = ("CMD-SHELL" if command.shell_form else "CMD", *command.words)
    retries_text = _text(flags.get("retries")) or ""
    retries = 0
    if retries_text:
        if not re.fullmatch(r"[+-]?\d+", retries_text):
            raise DockerfileError(f'strconv.ParseInt: parsing "{retries_text}": invalid syntax')
        retries = int(retries_text)
        if retries < 0:
            raise DockerfileError(f"--retries cannot be negative ({retries})")
    interval, timeout, start_period, start_interval = (_interval(flags, n) for n in durations)
    return ins.Healthcheck(
        test=test,
        interval=interval,
        timeout=timeout,
        start_period=start_period,
        start_interval=start_interval,
        retries=retries,
        **_base(node),
    )


def _onbuild(node: Node) -> ins.Onbuild:
    _flags(node)
    if not node.rest:
        raise DockerfileError("ONBUILD requires at least one argument")
    trigger = _BLANKS.split(node.rest, maxsplit=1)[0].upper()
    if trigger == "ONBUILD":
        raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise DockerfileError(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    expression += "".join(f"\n{heredoc.content}{heredoc.name}" for heredoc in node.heredocs)
    return ins.Onbuild(trigger=expression, **_base(node))


def _shell(node: Node) -> ins.Shell:
    _flags(node)
    array = json_array(node.rest)
    if array == [] or not node.rest:
        raise DockerfileError("SHELL requires at least one argument")
    if array is None:
        raise DockerfileError("SHELL requires the arguments to be in JSON form")
    return ins.Shell(shell=tuple(array), **_base(node))


def _volume(node: Node) -> ins.Volume:
    _flags(node)
    paths = _list(node)
    if not paths:
        raise DockerfileError("VOLUME requires at least one argument")
    if any(not path.strip() for path in paths):
        raise DockerfileError("VOLUME specified can not be an empty string")
    return ins.Volume(paths=tuple(path.strip() for path in paths), **_base(node))


def _expose(node: Node) -> ins.Expose:
    _flags(node)
    ports = _blank_separated(node.rest)
    if not ports:
        raise DockerfileError("EXPOSE requires at least one argument")
    return ins.Expose(ports=tuple(sorted(ports)), **_base(node))


def _entrypoint(node: Node, *, cmd: bool) -> ins.Instruction:
    _flags(node)
    if cmd:
        return ins.Cmd(command=_command(node.rest), **_base(node))
    return ins.Entrypoint(command=_command(node.rest), **_base(node))


_BUILDERS: dict[str, Callable[[Node], ins.Instruction]] = {
    "add": lambda node: _copy(node, add=True),
    "arg": _arg,
    "cmd": lambda node: _entrypoint(node, cmd=True),
    "copy": lambda node: _copy(node, add=False),
    "entrypoint": lambda node: _entrypoint(node, cmd=False),
    "env": lambda node: ins.Env(pairs=_pairs(node, "ENV"), **_base(node)),
    "expose": _expose,
    "from": _from,
    "healthcheck": _healthcheck,
    "label": lambda node: ins.Label(pairs=_pairs(node, "LABEL"), **_base(node)),
    "maintainer": lambda node: ins.Maintainer(name=_one(node, "MAINTAINER"), **_base(node)),
    "onbuild": _onbuild,
    "run": _run,
    "shell": _shell,
    "stopsignal": lambda node: ins.StopSignal(signal=_one(node, "STOPSIGNAL"), **_base(node)),
    "user": lambda node: ins.User(user=_one(node, "USER"), **_base(node)),
    "volume": _volume,
    "workdir": lambda node: ins.Workdir(path=_one(node, "WORKDIR"), **_base(node)),
}

#: the keywords whose lines may open heredocs (BuildKit: not in their JSON form)
HEREDOC_KEYWORDS = frozenset({"add", "copy", "run"})


def instruction(node: Node) -> ins.Instruction:
    """The typed instruction of a node; DockerfileError with BuildKit's bare words."""
    builder = _BUILDERS.get(node.keyword.lower())
    if builder is None:
        raise DockerfileError(f"unknown instruction: {node.keyword}")
    return builder(node)
