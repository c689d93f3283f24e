"""Instruction flags as BuildKit reads them: ``--name=value`` words before the arguments
(``extractBuilderFlags``), checked against what each instruction knows (``BFlags``), with the
values typed: Go durations, ``RUN --mount`` csv specs (``commands_runmount.go``).
"""

from __future__ import annotations

import csv
import posixpath
import re
from collections.abc import Mapping
from typing import Literal

from hybridock.build.dockerfile.instructions import Mount
from hybridock.build.dockerfile.shell import go_quote
from hybridock.errors import DockerfileError

FlagKind = Literal["string", "strings", "bool"]
FlagValue = str | bool | list[str]

_DURATION_UNITS = {
    "ns": 1,
    "us": 10**3,
    "µs": 10**3,
    "μs": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds (``1m30s``, ``500ms``, ``-1s``, ``0``);
    ValueError with Go's words."""
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    parts = re.findall(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)", body)
    whole = "".join(number + unit for number, unit in parts) == body
    if not body or not whole or any(number in ("", ".") for number, _ in parts):
        raise ValueError(f'time: invalid duration "{text}"')
    total = sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)
    return sign * round(total)


def _flag_word(text: str, index: int) -> tuple[str, bool, int]:
    """The word at ``index`` (quotes removed, backslash escapes resolved), whether it was
    quoted, and the index after it."""
    word, quote, quoted = "", "", False
    while index < len(text):
        char = text[index]
        index += 1
        if not quote and char.isspace():
            break
        if char == quote or (not quote and char in "'\""):
            quote = "" if quote else char
            quoted = True
            continue
        if char == "\\" and index < len(text):
            char = text[index]
            index += 1
        elif char == "\\":
            continue
        word += char
    return word, quoted, index


def split_flags(text: str) -> tuple[list[str], str]:
    """The leading ``--flag`` words of an instruction's arguments (quotes and backslashes
    resolved; ``--`` ends them) and the rest of the text."""
    words: list[str] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if not text.startswith("--", index):
            return words, text[index:]
        word, quoted, index = _flag_word(text, index)
        if word == "--" and not quoted:
            return words, text[index:]
        words.append(word)


def parse_flags(words: list[str], known: Mapping[str, FlagKind]) -> dict[str, FlagValue]:
    """BFlags.Parse: the value of each flag given (a list for repeatable ones)."""
    values: dict[str, FlagValue] = {}
    for word in words:
        if not word.startswith("--"):
            raise DockerfileError(f"arg should start with -- : {word}")
        name, equals, value = word[2:].partition("=")
        kind = known.get(name)
        if kind is None:
            raise DockerfileError(f"unknown flag: {name}")
        if name in values and kind != "strings":
            raise DockerfileError(f"duplicate flag specified: {name}")
        if kind == "bool":
            if equals and not value:
                raise DockerfileError(f"missing a value on flag: {name}")
            if value.lower() not in ("", "true", "false"):
                raise DockerfileError(f"expecting boolean value for flag {name}, not: {value}")
            values[name] = value.lower() != "false"
        elif not equals:
            raise DockerfileError(f"missing a value on flag: {name}")
        elif kind == "strings":
            previous = values.get(name)
            values[name] = [*(previous if isinstance(previous, list) else []), value]
        else:
            values[name] = value
    return values


_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_SHARING = ("shared", "private", "locked")
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmMgGtTpP])?[iI]?[bB]?$")


def _go_bool(key: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DockerfileError(f"invalid value for {key}: {value}")


def _number(key: str, value: str, base: int) -> int:
    try:
        number = int(value, base)
    except ValueError:
        number = -1
    if not 0 <= number < 2**32 or not value.isalnum():
        raise DockerfileError(f"invalid value {value} for {key}")
    return number


def _ram_bytes(value: str) -> int:
    """go-units RAMInBytes: ``64m``, ``1g``, ``512k``, bytes without a unit (binary units)."""
    match = _SIZE.match(value.strip())
    if match is None:
        raise DockerfileError(f"invalid value for size: {value}")
    power = " kmgtp".index((match[2] or " ").lower())
    return int(float(match[1]) * 1024**power)


def parse_mount(spec: str) -> Mount:
    """One ``RUN --mount=`` value, BuildKit's csv ``key=value`` fields and defaults: type bind;
    a secret's id is its ``id``, its ``source`` or its target's base name, its target
    ``/run/secrets/<id>``; a cache's id defaults to its target."""
    try:
        fields = next(csv.reader([spec]))
    except (csv.Error, StopIteration):
        raise DockerfileError(f"failed to parse csv mounts: {spec}") from None
    found: dict[str, str] = {"type": "bind"}
    switches: dict[str, bool] = {}
    for field in fields:
        key, equals, value = field.partition("=")
        key = key.lower()
        if key in ("readonly", "ro", "readwrite", "rw", "required"):
            _switch(switches, found["type"], key, value if equals else "true")
        elif not equals:
            raise DockerfileError(f"invalid field '{field}' must be a key=value pair")
        else:
            _field(found, key, value, field)
    return _validated(found, switches.get("readonly"), switches.get("required", False))


def _switch(switches: dict[str, bool], kind: str, key: str, value: str) -> None:
    if key == "required":
        if kind not in ("secret", "ssh"):
            raise DockerfileError(f"unexpected key '{key}' for mount type '{kind}'")
        switches["required"] = _go_bool(key, value)
    else:
        flag = _go_bool(key, value)
        switches["readonly"] = flag if key in ("readonly", "ro") else not flag


def _field(found: dict[str, str], key: str, value: str, field: str) -> None:
    key = {"src": "source", "dst": "target", "destination": "target"}.get(key, key)
    if key == "type":
        if value.lower() not in _MOUNT_TYPES:
            raise DockerfileError(f"unsupported mount type {go_quote(value)}")
        value = value.lower()
    elif key == "from" and re.search(r"\$.", value):
        raise DockerfileError(
            "'from' doesn't support variable expansion, define alias stage instead"
        )
    elif key == "size" and found["type"] != "tmpfs":
        raise DockerfileError(f"unexpected key '{key}' for mount type '{found['type']}'")
    elif key == "sharing":
        if value.lower() not in _SHARING:
            raise DockerfileError(f"unsupported sharing value {go_quote(value)}")
        value = value.lower()
    elif key not in ("source", "target", "from", "id", "mode", "uid", "gid", "size", "env"):
        raise DockerfileError(f"unexpected key '{key}' in '{field}'")
    found[key] = value


def _validated(found: dict[str, str], readonly: bool | None, required: bool) -> Mount:
    kind = found["type"]
    for key in ("mode", "uid", "gid"):
        if key in found and kind not in ("secret", "ssh", "cache"):
            raise DockerfileError(f'{key} not allowed for "{kind}" type mounts')
    if "sharing" in found and kind != "cache":
        raise DockerfileError(f"invalid cache sharing set for {kind} mount")
    target = found.get("target", "")
    identifier = found.get("id")
    source = found.get("source")
    if kind in ("secret", "ssh"):
        if kind == "secret" and "from" in found:
            raise DockerfileError("secret mount should not have a from")
        if kind == "secret" and not (source or target or identifier):
            raise DockerfileError("invalid secret mount. one of source, target required")
        if source and identifier:
            raise DockerfileError("both source and id can't be set")
        identifier = identifier or source or posixpath.basename(target) or None
        if kind == "secret" and not target and identifier:
            target = f"/run/secrets/{posixpath.basename(identifier)}"
    elif not target:
        raise DockerfileError("mount target must be specified")
    elif kind == "cache":
        identifier = identifier or target
    return Mount(
        type=kind,
        target=target,
        source=source,
        from_stage=found.get("from"),
        readonly=readonly,
        id=identifier,
        sharing=found.get("sharing", "shared"),
        mode=_number("mode", found["mode"], 8) if "mode" in found else None,
        uid=_number("uid", found["uid"], 10) if "uid" in found else None,
        gid=_number("gid", found["gid"], 10) if "gid" in found else None,
        size=_ram_bytes(found["size"]) if "size" in found else None,
        required=required,
        env=found.get("env"),
    )
