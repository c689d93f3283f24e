"""``--security-opt``: seccomp profiles and no-new-privileges, as docker reads them.

A container runs under hybridock's default profile (``seccomp_default.json``, the behaviour of
docker's default) unless it says ``seccomp=unconfined`` or ``seccomp=PROFILE.json`` (docker's
profile format). As docker's client does, a profile file is read when the container is created
and its JSON kept in the container's config, so a later ``start`` runs what ``create`` checked.
The native module compiles the profile for the capabilities the process keeps (``--cap-add``,
``--cap-drop``: ``includes.caps`` rules depend on them) right before each spawn and each
``exec``; ``--privileged`` runs unconfined, as docker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from hybridock import _native
from hybridock.errors import ConfigError
from hybridock.store.layout import write_atomic

UNCONFINED = "unconfined"
DEFAULT = ""


class SecurityOptions(NamedTuple):
    """``seccomp`` is DEFAULT, UNCONFINED or a profile's JSON; ``security_opt`` is what
    docker's inspect shows (a file's option carries its JSON, as docker's client sends it)."""

    seccomp: str = DEFAULT
    no_new_privileges: bool = False
    security_opt: tuple[str, ...] = ()


DEFAULT_PROFILE = Path(__file__).with_name("seccomp_default.json")


def default_profile() -> str:
    # A plain read: importlib.resources costs more at start-up than the whole read, and the
    # package is always installed as files (a wheel, or an editable checkout).
    return DEFAULT_PROFILE.read_text(encoding="utf-8")


def _split(option: str) -> tuple[str, str | None]:
    """docker accepts ``key=value`` and the older ``key:value``; a bare key has no value."""
    for separator in ("=", ":"):
        key, found, value = option.partition(separator)
        if found:
            return key.strip(), value
    return option.strip(), None


def _boolean(option: str, value: str | None) -> bool:
    if value is None:
        return True
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise ConfigError(f'invalid --security-opt: "{option}": expected true or false')


def _read_profile(option: str, path: str) -> str:
    """A profile file's JSON, or the JSON itself (what docker's client sends its daemon, and
    the Engine API's clients send us: never a path read on the server's side)."""
    if path.lstrip().startswith("{"):
        text = path
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"opening seccomp profile ({path}) failed: {error.strerror or error}"
            ) from error
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"decoding seccomp profile ({path}) failed: {error}") from error
    if not isinstance(data, dict):
        raise ConfigError(f'invalid --security-opt: "{option}": the profile is not a JSON object')
    # Compiled once now so that a broken profile fails at create, not at every start.
    compile_filter(text, _native.DOCKER_CAPABILITIES, source=path)
    return json.dumps(data, separators=(",", ":"))


def parse_security_options(options: Sequence[str]) -> SecurityOptions:
    """docker's ``--security-opt`` values: ``seccomp=unconfined|FILE``,
    ``no-new-privileges[=true|false]``; anything else (apparmor, label, ...) is refused rather
    than ignored."""
    seccomp = DEFAULT
    no_new_privileges = False
    shown: list[str] = []
    for option in options:
        key, value = _split(option)
        if key == "seccomp":
            if not value:
                raise ConfigError(f'invalid --security-opt: "{option}": give a profile file')
            if value == UNCONFINED:
                seccomp = UNCONFINED
                shown.append(f"seccomp={UNCONFINED}")
            else:
                seccomp = _read_profile(option, value)
                shown.append(f"seccomp={seccomp}")
        elif key == "no-new-privileges":
            no_new_privileges = _boolean(option, value)
            shown.append(f"no-new-privileges={'true' if no_new_privileges else 'false'}")
        else:
            raise ConfigError(f'invalid --security-opt: "{option}": not supported by hybridock')
    return SecurityOptions(seccomp, no_new_privileges, tuple(shown))


def compile_filter(profile: str, capabilities: int, *, source: str = "") -> bytes:
    try:
        return _native.compile_seccomp(profile, capabilities)
    except ConfigError as error:
        if not source:
            raise
        prefix = "invalid seccomp profile: "
        reason = str(error).removeprefix(prefix)
        raise ConfigError(f"invalid seccomp profile ({source}): {reason}") from error


def seccomp_filter(
    seccomp: str, capabilities: int | None, *, cache: Path | None = None
) -> bytes | None:
    """The BPF program for a container's ``seccomp`` setting and a process keeping
    ``capabilities``; None when unconfined. ``capabilities`` None is ``--privileged`` (every
    capability kept), which docker runs unconfined whatever the profile.

    With ``cache`` (a directory) the program is kept there under a hash of everything it is
    compiled from (profile, capabilities, architecture, kernel release: the profile's
    includes/excludes depend on them), so a warm run does not recompile docker's profile."""
    if seccomp == UNCONFINED or capabilities is None:
        return None
    profile = seccomp or default_profile()
    if cache is None:
        return compile_filter(profile, capabilities)
    machine = os.uname()
    key = _native.sha256(
        f"{capabilities}\0{machine.machine}\0{machine.release}\0{profile}".encode()
    )
    path = cache / f"{key.removeprefix('sha256:')}.bpf"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    program = compile_filter(profile, capabilities)
    cache.mkdir(parents=True, exist_ok=True)
    write_atomic(path, program, durable=False)
    return program
