"""What a config instruction does to an image config's ``config`` section, docker's semantics
(BuildKit's ``dispatch*`` of ENV LABEL EXPOSE USER WORKDIR VOLUME STOPSIGNAL CMD ENTRYPOINT
HEALTHCHECK SHELL ONBUILD MAINTAINER): the one place both ``hybridock build`` and
``commit -c`` / ``import -c`` apply them.

``expand`` is applied to the words BuildKit expands (ENV and LABEL keys and values, EXPOSE,
USER, VOLUME, WORKDIR, STOPSIGNAL): the caller's lexer with the stage's environment. CMD,
ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER are taken as written.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, MutableMapping
from typing import Any

from hybridock.build.dockerfile import instructions as ins
from hybridock.errors import DockerfileError

DEFAULT_SHELL = ("/bin/sh", "-c")

_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/([^/]*))?$")
_PROTOCOLS = ("tcp", "udp", "sctp")

Section = MutableMapping[str, Any]
Expand = Callable[[str], str]


def environment(section: Section) -> dict[str, str]:
    """The section's ``Env`` as a mapping (a later duplicate wins)."""
    env: dict[str, str] = {}
    for item in section.get("Env") or ():
        key, _, value = str(item).partition("=")
        env[key] = value
    return env


def with_shell(section: Section, command: ins.Command) -> list[str] | None:
    """The argv a CMD or ENTRYPOINT stands for: the exec form as given, the shell form after
    the section's SHELL (default ``/bin/sh -c``)."""
    if not command.shell_form:
        return list(command.words)
    shell = list(section.get("Shell") or DEFAULT_SHELL)
    return [*shell, " ".join(command.words)]


def exposed_ports(words: list[str]) -> list[str]:
    """``80``, ``53/udp``, ``8000-8001`` as docker's ``80/tcp`` keys."""
    ports: list[str] = []
    for word in words:
        match = _PORT.match(word)
        if match is None:
            raise DockerfileError(f"invalid containerPort: {word}")
        protocol = (match[3] or "tcp").lower()
        if protocol not in _PROTOCOLS:
            raise DockerfileError(f"invalid proto: {match[3]}")
        first = int(match[1])
        last = int(match[2] or first)
        if last < first or last > 65535:
            raise DockerfileError(f"invalid containerPort: {word}")
        ports.extend(f"{port}/{protocol}" for port in range(first, last + 1))
    return ports


def _set_env(section: Section, key: str, value: str) -> None:
    env = list(section.get("Env") or [])
    for index, item in enumerate(env):
        if str(item).partition("=")[0] == key:
            env[index] = f"{key}={value}"
            break
    else:
        env.append(f"{key}={value}")
    section["Env"] = env


def _health(check: ins.Healthcheck) -> dict[str, Any]:
    health: dict[str, Any] = {"Test": list(check.test)}
    if check.test == ("NONE",):
        return health
    for key, value in (
        ("Interval", check.interval),
        ("Timeout", check.timeout),
        ("StartPeriod", check.start_period),
        ("StartInterval", check.start_interval),
        ("Retries", check.retries),
    ):
        if value:
            health[key] = value
    return health


def _env(section: Section, instruction: ins.Env, expand: Expand) -> None:
    for key, value in [(expand(k), expand(v)) for k, v in instruction.pairs]:
        _set_env(section, key, value)


def _label(section: Section, instruction: ins.Label, expand: Expand) -> None:
    labels = dict(section.get("Labels") or {})
    labels.update((expand(key), expand(value)) for key, value in instruction.pairs)
    section["Labels"] = labels


def _expose(section: Section, instruction: ins.Expose, expand: Expand) -> None:
    expanded = [part for word in instruction.ports for part in expand(word).split()]
    ports = dict(section.get("ExposedPorts") or {})
    ports.update((port, {}) for port in exposed_ports(expanded))
    section["ExposedPorts"] = ports


def _workdir(section: Section, instruction: ins.Workdir, expand: Expand) -> None:
    current = section.get("WorkingDir") or "/"
    path = posixpath.join("/", current, expand(instruction.path))
    section["WorkingDir"] = posixpath.normpath(path)


def _volume(section: Section, instruction: ins.Volume, expand: Expand) -> None:
    volumes = dict(section.get("Volumes") or {})
    for path in map(expand, instruction.paths):
        if not path:
            raise DockerfileError("VOLUME specified can not be an empty string")
        volumes[path] = {}
    section["Volumes"] = volumes


def _onbuild(section: Section, instruction: ins.Onbuild, _expand: Expand) -> None:
    section["OnBuild"] = [*(section.get("OnBuild") or []), instruction.trigger]


_EFFECTS: dict[type[ins.Instruction], Callable[[Section, Any, Expand], None]] = {
    ins.Env: _env,
    ins.Label: _label,
    ins.Expose: _expose,
    ins.User: lambda section, user, expand: section.update(User=expand(user.user)),
    ins.Workdir: _workdir,
    ins.Volume: _volume,
    ins.StopSignal: lambda section, stop, expand: section.update(StopSignal=expand(stop.signal)),
    ins.Cmd: lambda section, cmd, _: section.update(Cmd=with_shell(section, cmd.command)),
    ins.Healthcheck: lambda section, check, _: section.update(Healthcheck=_health(check)),
    ins.Shell: lambda section, shell, _: section.update(Shell=list(shell.shell)),
    ins.Onbuild: _onbuild,
}

#: the instructions ``apply`` knows
CONFIG_INSTRUCTIONS = frozenset({*_EFFECTS, ins.Entrypoint, ins.Maintainer})


def apply(
    section: Section,
    instruction: ins.Instruction,
    expand: Expand,
    *,
    cmd_set: bool = False,
    image: MutableMapping[str, Any] | None = None,
) -> None:
    """Applies a config instruction to ``section`` in place. ``cmd_set``: a CMD came earlier in
    the same stage (or change list), so an ENTRYPOINT keeps it; otherwise an ENTRYPOINT resets
    the inherited CMD. ``image``: the whole image config, where MAINTAINER sets ``author``.
    TypeError for an instruction that is not a config one (FROM, ARG, RUN, COPY, ADD)."""
    if isinstance(instruction, ins.Entrypoint):
        command = instruction.command
        section["Entrypoint"] = with_shell(section, command) if command.words else None
        if not cmd_set:
            section["Cmd"] = None
    elif isinstance(instruction, ins.Maintainer):
        if image is not None:
            image["author"] = instruction.name
    elif type(instruction) in _EFFECTS:
        _EFFECTS[type(instruction)](section, instruction, expand)
    else:
        raise TypeError(f"{type(instruction).__name__} is not a config instruction")
