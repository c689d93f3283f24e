"""One stage's steps: its state (the layer chain, the image config, the ARG values in scope,
the cache key so far) and what each instruction does to it, through the cache or for real.

ARG and ENV scoping is BuildKit's: a stage sees the meta ARGs (before the first FROM) only
when it declares them again; ``--build-arg`` overrides an ARG's default; ARG values are the
environment of RUN steps (and are in their cache key) but never in the image config; ENV wins
over an ARG of the same name when a word is expanded.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hybridock.build.cache import CachedState, step_key
from hybridock.build.dockerfile import config as effects
from hybridock.build.dockerfile import instructions as ins
from hybridock.build.dockerfile import parser
from hybridock.build.dockerfile.shell import Lexer
from hybridock.errors import DockerfileError

if TYPE_CHECKING:
    from hybridock.build.executor import Build
    from hybridock.build.progress import Vertex

#: BuildKit's history comment on every entry it writes
HISTORY_COMMENT = "buildkit.dockerfile.v0"
DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass
class StageState:
    key: str
    chain: list[str]  # chain ids, base first
    document: dict[str, Any]  # architecture, os, config, history (no rootfs)
    args: dict[str, str] = field(default_factory=dict)  # ARG values in scope
    inline: list[tuple[str, int]] = field(default_factory=list)  # (key, layers) per step
    cmd_set: bool = False  # a CMD came earlier in this stage: an ENTRYPOINT keeps it

    @property
    def config(self) -> dict[str, Any]:
        section: dict[str, Any] = self.document.setdefault("config", {})
        return section

    def env(self) -> dict[str, str]:
        """What a word is expanded against: the ARGs, then ENV over them."""
        values = dict(self.args)
        for entry in self.config.get("Env") or []:
            name, _, value = entry.partition("=")
            values[name] = value
        return values

    def cached(self, key: str, found: CachedState, build: Build) -> StageState:
        chain = build.cache.chain(found.chain_id)
        return replace(
            self,
            key=key,
            chain=chain,
            document=found.document,
            inline=[*self.inline, (key, len(chain))],
        )


class StageRunner:
    """Runs one stage's instructions over its base's state."""

    def __init__(self, build: Build, stage: ins.Stage, title: str) -> None:
        self.build = build
        self.stage = stage
        self.title = title  # "build" or "stage-1"
        self.lexer = Lexer(build.dockerfile.escape)

    def step_name(self, position: int, instruction: ins.Instruction) -> str:
        """BuildKit's: ``[build 2/4] RUN make``, the stage's name only when there are
        several stages."""
        total = len(self.stage.instructions) + 1
        prefix = f"{self.title} " if len(self.build.dockerfile.stages) > 1 else ""
        return f"[{prefix}{position}/{total}] {instruction.original.strip()}"

    def expand(self, state: StageState) -> Callable[[str], str]:
        env = state.env()
        return lambda word: self.lexer.process_word(word, env)

    def run(self, state: StageState) -> StageState:
        steps = [(1, trigger) for trigger in self.triggers(state)]
        steps += list(enumerate(self.stage.instructions, start=2))
        for position, instruction in steps:
            self.build.cancel.check()
            if isinstance(instruction, ins.Arg):
                state = self.declare_args(state, instruction)
                continue
            shown = isinstance(instruction, (ins.Run, ins.Copy, ins.Workdir))
            name = self.step_name(position, instruction)
            with self.build.reporter.vertex(name, shown=shown) as vertex, _with_line(instruction):
                state = self.step(state, instruction, vertex)
        return state

    def triggers(self, state: StageState) -> list[ins.Instruction]:
        """The base's ONBUILD triggers, run first as BuildKit runs them (each a step of the
        FROM's line) and cleared from the config: an image's triggers fire once, in its
        children, not in theirs."""
        written = state.config.get("OnBuild") or []
        if not written:
            return []
        state.config["OnBuild"] = None
        line = self.stage.base.line
        found: list[ins.Instruction] = []
        for text in written:
            try:
                trigger = parser.parse_line(text, self.build.dockerfile.escape)
            except DockerfileError as error:
                raise DockerfileError(
                    f"dockerfile parse error on line {line}: ONBUILD {text}: {error}", line=line
                ) from error
            found.append(replace(trigger, line=line, original=f"ONBUILD {text}"))
        return found

    def declare_args(self, state: StageState, instruction: ins.Arg) -> StageState:
        args = dict(state.args)
        expand = self.expand(state)
        for name, default in instruction.pairs:
            given = self.build.build_args.get(name)
            if given is not None:
                args[name] = given
            elif default is not None:
                args[name] = expand(default)
            elif name in self.build.meta_args:
                args[name] = self.build.meta_args[name]
            self.build.used_args.add(name)
        key = step_key(state.key, "ARG", [f"{k}={v}" for k, v in sorted(args.items())])
        return replace(state, args=args, key=key)

    def step(self, state: StageState, instruction: ins.Instruction, vertex: Vertex) -> StageState:
        canonical, inputs = self.canonical(state, instruction)
        key = step_key(state.key, canonical, inputs)
        found = self.build.cache.lookup(key)
        if found is not None:
            vertex.cached()
            return replace(
                state.cached(key, found, self.build),
                cmd_set=state.cmd_set or isinstance(instruction, ins.Cmd),
            )
        if isinstance(instruction, (ins.Run, ins.Copy)):
            made = self.build.layer_step(self, state, instruction, vertex)
        else:
            made = self.config_step(state, instruction)
            if isinstance(instruction, ins.Workdir):
                made = self.build.workdir_layer(made)
        made = replace(made, key=key, inline=[*state.inline, (key, len(made.chain))])
        top = made.chain[-1] if made.chain else None
        self.build.cache.record(key, CachedState(top, made.document))
        return made

    def canonical(self, state: StageState, instruction: ins.Instruction) -> tuple[str, list[str]]:
        """The instruction as the key sees it (its fields but where it is written) and the
        inputs it reads: ARG values (all of them for RUN, whose environment they are), COPY
        sources' content digests."""
        fields = {k: v for k, v in vars(instruction).items() if k not in ("line", "original")}
        canonical = f"{type(instruction).__name__} {fields!r}"
        if isinstance(instruction, ins.Run):
            names = set(state.args)
        else:
            names = self.lexer.used_variables(instruction.original) & set(state.args)
        inputs = [f"arg:{name}={state.args[name]}" for name in sorted(names)]
        if isinstance(instruction, (ins.Copy, ins.Run)):
            inputs.extend(self.build.input_digests(self, state, instruction))
        return canonical, inputs

    def config_step(self, state: StageState, instruction: ins.Instruction) -> StageState:
        document = copy.deepcopy(state.document)
        section = document.setdefault("config", {})
        effects.apply(
            section, instruction, self.expand(state), cmd_set=state.cmd_set, image=document
        )
        return replace(
            state,
            document=with_history(document, history_text(instruction), empty=True),
            cmd_set=state.cmd_set or isinstance(instruction, ins.Cmd),
        )


@contextlib.contextmanager
def _with_line(instruction: ins.Instruction) -> Iterator[None]:
    """A word the lexer refuses while the step runs (``${X:?unset}``) fails with the
    instruction's line, as BuildKit's dispatch errors do."""
    try:
        yield
    except DockerfileError as error:
        if error.line is not None:
            raise
        raise DockerfileError(
            f"dockerfile parse error on line {instruction.line}: {error}", line=instruction.line
        ) from error


def history_text(instruction: ins.Instruction, args: Mapping[str, str] | None = None) -> str:
    """``created_by`` as BuildKit writes it."""
    if isinstance(instruction, ins.Run):
        command = instruction.command
        text = " ".join(command.words)
        if command.shell_form:
            text = " ".join([*DEFAULT_SHELL, text])
        else:
            text = json.dumps(list(command.words))
        if args:
            pairs = " ".join(f"{k}={v}" for k, v in sorted(args.items()))
            text = f"|{len(args)} {pairs} {text}"
        return f"RUN {text} # buildkit"
    if isinstance(instruction, ins.Copy):
        return f"{instruction.original.strip()} # buildkit"
    return instruction.original.strip()


def with_history(document: dict[str, Any], created_by: str, *, empty: bool) -> dict[str, Any]:
    from hybridock.images.commit import rfc3339_nano  # noqa: PLC0415 - a miss only

    entry: dict[str, Any] = {
        "created": rfc3339_nano(time.time_ns()),
        "created_by": created_by,
        "comment": HISTORY_COMMENT,
    }
    if empty:
        entry["empty_layer"] = True
    document["history"] = [*(document.get("history") or []), entry]
    document["created"] = entry["created"]
    return document
