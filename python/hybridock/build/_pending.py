"""Stand-ins for what the language and context work (issue 15's siblings) bring, with their
contract's signatures, used until their modules are on main (``steps.sibling``). Deliberately
small: ``$VAR``/``${VAR}``/``${VAR:-w}`` expansion, a few config effects, the stage graph of
``FROM <stage>`` and ``COPY --from``, and COPY of context files."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from hybridock.build.dockerfile import instructions as ins
from hybridock.errors import BuildError, DockerfileError

_VARIABLE = re.compile(r"\$(?:\{(\w+)(?::?([-+])([^}]*))?\}|(\w+))")


class Lexer:
    def __init__(self, escape: str = "\\") -> None:
        self.escape = escape

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(4)
            value = env.get(name, "")
            if match.group(2) == "-":
                return value or match.group(3)
            if match.group(2) == "+":
                return match.group(3) if value else ""
            return value

        return _VARIABLE.sub(one, word).replace('"', "")

    def process_words(self, text: str, env: Mapping[str, str]) -> list[str]:
        return [self.process_word(word, env) for word in text.split()]

    def used_variables(self, text: str) -> set[str]:
        return {m.group(1) or m.group(4) for m in _VARIABLE.finditer(text)}


def stage_index(dockerfile: ins.Dockerfile, name_or_index: str) -> int | None:
    for stage in dockerfile.stages:
        if stage.name == name_or_index.lower() or str(stage.index) == name_or_index:
            return stage.index
    return None


def dependencies(dockerfile: ins.Dockerfile, stage: ins.Stage) -> set[int]:
    names = [stage.base.image] + [
        i.from_stage for i in stage.instructions if isinstance(i, ins.Copy) and i.from_stage
    ]
    found = {stage_index(dockerfile, name) for name in names}
    return {index for index in found if index is not None and index < stage.index}


def needed(dockerfile: ins.Dockerfile, target: str | None) -> list[int]:
    last = len(dockerfile.stages) - 1
    chosen = last if target is None else stage_index(dockerfile, target)
    if chosen is None:
        raise DockerfileError(f'target stage "{target}" could not be found')
    order: list[int] = []

    def visit(index: int) -> None:
        for dependency in sorted(dependencies(dockerfile, dockerfile.stages[index])):
            visit(dependency)
        if index not in order:
            order.append(index)

    visit(chosen)
    return order


def apply(
    section: dict[str, Any], instruction: ins.Instruction, expand: Callable[[str], str]
) -> None:
    if isinstance(instruction, ins.Env):
        env = [
            e
            for e in section.get("Env") or []
            if e.partition("=")[0] not in {expand(k) for k, _ in instruction.pairs}
        ]
        section["Env"] = env + [f"{expand(k)}={expand(v)}" for k, v in instruction.pairs]
    elif isinstance(instruction, ins.Label):
        section["Labels"] = {
            **(section.get("Labels") or {}),
            **{expand(k): expand(v) for k, v in instruction.pairs},
        }
    elif isinstance(instruction, ins.Workdir):
        path = expand(instruction.path)
        section["WorkingDir"] = str(PurePosixPath(section.get("WorkingDir") or "/", path))
    elif isinstance(instruction, ins.User):
        section["User"] = expand(instruction.user)
    elif isinstance(instruction, (ins.Cmd, ins.Entrypoint)):
        words = list(instruction.command.words)
        if instruction.command.shell_form:
            words = [*(section.get("Shell") or ["/bin/sh", "-c"]), *words]
        key = "Cmd" if isinstance(instruction, ins.Cmd) else "Entrypoint"
        section[key] = words
        if key == "Entrypoint":
            section["Cmd"] = None
    elif isinstance(instruction, ins.Expose):
        ports: dict[str, Any] = {
            p if "/" in p else f"{p}/tcp": {} for p in map(expand, instruction.ports)
        }
        section["ExposedPorts"] = {**(section.get("ExposedPorts") or {}), **ports}
    elif isinstance(instruction, ins.Shell):
        section["Shell"] = list(instruction.shell)


class ContextSource:
    def __init__(self, root: Path) -> None:
        self.root = root

    def locate(self, path: str) -> Path:
        return self.root / path

    def select(self, pattern: str) -> list[str]:
        found = sorted(str(p.relative_to(self.root)) for p in self.root.glob(pattern.lstrip("/")))
        if not found:
            raise BuildError(f'"{pattern}": not found')
        return found

    def digest(self, paths: Sequence[str]) -> str:
        hashed = hashlib.sha256()
        for path in paths:
            for file in sorted([self.root / path, *(self.root / path).rglob("*")]):
                hashed.update(str(file.relative_to(self.root)).encode() + b"\0")
                if file.is_file():
                    hashed.update(file.read_bytes())
        return "sha256:" + hashed.hexdigest()


class LayersSource(ContextSource):
    def __init__(self, dirs: Sequence[str]) -> None:
        self.dirs = [Path(d) for d in dirs]
        super().__init__(self.dirs[0] if self.dirs else Path("/nonexistent"))

    def locate(self, path: str) -> Path:
        return next((d / path for d in self.dirs if os.path.lexists(d / path)), self.root / path)

    def select(self, pattern: str) -> list[str]:
        relative = pattern.lstrip("/")
        if not any(os.path.lexists(d / relative) for d in self.dirs):
            raise BuildError(f'"{pattern}": not found')
        return [relative]

    def digest(self, paths: Sequence[str]) -> str:
        hashed = hashlib.sha256()
        for path in paths:
            file = self.locate(path)
            hashed.update(path.encode() + (file.read_bytes() if file.is_file() else b""))
        return "sha256:" + hashed.hexdigest()


def layers_source(dirs: Sequence[str]) -> LayersSource:
    return LayersSource(dirs)


def copy_into(
    source: ContextSource, paths: Sequence[str], destination: str, upper: Path, working_dir: str
) -> None:
    target = upper / str(PurePosixPath(working_dir, destination)).lstrip("/")
    for path in paths:
        origin = source.locate(path)
        several = destination.endswith("/") or len(paths) > 1
        into = target / origin.name if several else target
        into.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True, symlinks=True)
        else:
            shutil.copy2(origin, into, follow_symlinks=False)


def parse(text: str) -> ins.Dockerfile:
    """One instruction a line, ``--flag=value`` flags, ``FROM x AS y``, JSON or shell forms."""
    stages: list[ins.Stage] = []
    meta: list[ins.Arg] = []
    current: list[ins.Instruction] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        flags: dict[str, str] = {}
        mounts = []
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            if name == "mount":
                fields = dict(part.partition("=")[::2] for part in value.split(","))
                mounts.append(
                    ins.Mount(
                        type=fields.pop("type", "bind"),
                        target=fields.get("target", ""),
                        source=fields.get("source"),
                        id=fields.get("id"),
                        readonly=False if "rw" in fields else None,
                    )
                )
            flags[name] = value
        made = _instruction(keyword.upper(), rest, flags, tuple(mounts), number, line)
        if isinstance(made, ins.From):
            if stages or current:
                pass
            stages.append(ins.Stage(len(stages), made))
        elif isinstance(made, ins.Arg) and not stages:
            meta.append(made)
        else:
            last = stages[-1]
            stages[-1] = ins.Stage(last.index, last.base, (*last.instructions, made))
    return ins.Dockerfile(tuple(meta), tuple(stages))


def _command(rest: str) -> ins.Command:
    import json  # noqa: PLC0415

    try:
        words = json.loads(rest)
        if isinstance(words, list):
            return ins.Command(tuple(words), shell_form=False)
    except ValueError:
        pass
    return ins.Command((rest,), shell_form=True)


def _pairs(rest: str) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, _, v in (part.partition("=") for part in rest.split()))


def _instruction(
    keyword: str,
    rest: str,
    flags: dict[str, str],
    mounts: tuple[ins.Mount, ...],
    line: int,
    original: str,
) -> ins.Instruction:
    common: dict[str, Any] = {"line": line, "original": original}
    words = rest.split()
    if keyword == "FROM":
        name = words[2].lower() if len(words) == 3 else None
        return ins.From(image=words[0], stage_name=name, platform=None, **common)
    if keyword == "RUN":
        return ins.Run(
            command=_command(rest), mounts=mounts, network=flags.get("network"), **common
        )
    if keyword in ("COPY", "ADD"):
        return ins.Copy(
            sources=tuple(words[:-1]),
            destination=words[-1],
            add=keyword == "ADD",
            from_stage=flags.get("from"),
            **common,
        )
    if keyword == "ARG":
        return ins.Arg(
            pairs=tuple((k, v if s else None) for k, s, v in (w.partition("=") for w in words)),
            **common,
        )
    table: dict[str, Callable[[], ins.Instruction]] = {
        "ENV": lambda: ins.Env(pairs=_pairs(rest), **common),
        "LABEL": lambda: ins.Label(pairs=_pairs(rest), **common),
        "WORKDIR": lambda: ins.Workdir(path=rest, **common),
        "USER": lambda: ins.User(user=rest, **common),
        "CMD": lambda: ins.Cmd(command=_command(rest), **common),
        "ENTRYPOINT": lambda: ins.Entrypoint(command=_command(rest), **common),
        "EXPOSE": lambda: ins.Expose(ports=tuple(words), **common),
    }
    if keyword not in table:
        raise DockerfileError(f"unknown instruction: {keyword}", line=line)
    return table[keyword]()
