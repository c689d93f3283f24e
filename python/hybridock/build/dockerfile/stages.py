"""The stage graph: which stage needs which, and the stages a target needs.

A stage needs another when its FROM names an earlier stage (later names are images, as in
BuildKit), or a ``COPY --from`` / ``RUN --mount=from=`` names a stage (by name, any stage, or
by index). Names are case-insensitive; FROM and ``--from`` words are expanded with the ARGs
before the first FROM (their defaults, overridden by the build arguments) first. A cycle is
refused as BuildKit refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping

from hybridock.build.dockerfile.instructions import Copy, Dockerfile, Run, Stage
from hybridock.build.dockerfile.shell import Lexer
from hybridock.errors import DockerfileError


def meta_environment(dockerfile: Dockerfile, build_args: Mapping[str, str]) -> dict[str, str]:
    """The values of the ARGs before the first FROM: a build argument, else the default
    (expanded with the ones before it); an ARG with neither is unset."""
    lexer = Lexer(dockerfile.escape)
    env: dict[str, str] = {}
    for arg in dockerfile.meta_args:
        for name, default in arg.pairs:
            if name in build_args:
                env[name] = build_args[name]
            elif default is not None:
                env[name] = lexer.process_word(default, env)
    return env


def stage_index(dockerfile: Dockerfile, name_or_index: str) -> int | None:
    """The stage named so (case-insensitive), else the stage of that index, else None."""
    lowered = name_or_index.lower()
    for stage in dockerfile.stages:
        if stage.name == lowered:
            return stage.index
    if name_or_index.isdigit() and int(name_or_index) < len(dockerfile.stages):
        return int(name_or_index)
    return None


def _referenced(dockerfile: Dockerfile, word: str, env: Mapping[str, str]) -> int | None:
    """The stage a ``--from`` word names, None for an image; DockerfileError for an index out
    of range."""
    expanded = Lexer(dockerfile.escape).process_word(word, env)
    found = stage_index(dockerfile, expanded)
    if found is None and expanded.lstrip("-").isdigit():
        raise DockerfileError(f"invalid stage index {expanded}")
    return found


def dependencies(
    dockerfile: Dockerfile, stage: Stage | int, build_args: Mapping[str, str] | None = None
) -> set[int]:
    """The stages ``stage`` reads directly."""
    if isinstance(stage, int):
        stage = dockerfile.stages[stage]
    env = meta_environment(dockerfile, build_args or {})
    found: set[int] = set()
    base = Lexer(dockerfile.escape).process_word(stage.base.image, env).lower()
    for earlier in dockerfile.stages[: stage.index]:
        if earlier.name is not None and earlier.name == base:
            found.add(earlier.index)
    for instruction in stage.instructions:
        words: list[str] = []
        if isinstance(instruction, Copy) and instruction.from_stage is not None:
            words.append(instruction.from_stage)
        elif isinstance(instruction, Run):
            words.extend(m.from_stage for m in instruction.mounts if m.from_stage is not None)
        for word in words:
            index = _referenced(dockerfile, word, env)
            if index is not None:
                found.add(index)
    return found


def _named(stage: Stage) -> str:
    return stage.name or str(stage.index)


def needed(
    dockerfile: Dockerfile, target: str | None, build_args: Mapping[str, str] | None = None
) -> list[int]:
    """The target stage (default: the last) and every stage it needs, each after the stages
    it needs."""
    if target is None:
        start = len(dockerfile.stages) - 1
    else:
        named = [s.index for s in dockerfile.stages if s.name == target.lower()]
        if not named:
            raise DockerfileError(f'target stage "{target}" could not be found')
        start = named[0]
    graph = {s.index: dependencies(dockerfile, s, build_args) for s in dockerfile.stages}
    order: list[int] = []
    visiting: set[int] = set()

    def visit(index: int) -> None:
        if index in order:
            return
        if index in visiting:
            stage = dockerfile.stages[index]
            raise DockerfileError(f"circular dependency detected on stage: {_named(stage)}")
        visiting.add(index)
        for dependency in sorted(graph[index]):
            visit(dependency)
        visiting.discard(index)
        order.append(index)

    visit(start)
    return order
