"""Typed Dockerfile instructions (BuildKit's ``instructions/commands.go``), the contract between
the parser and the executor.

Every word is kept as written (quotes and ``$VAR`` included) wherever BuildKit expands it at
dispatch time (ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL, ONBUILD's trigger is not, STOPSIGNAL,
USER, VOLUME, WORKDIR, and the flags of these): the executor expands it against the stage's
ARG and ENV values with ``shell.Lexer``. RUN, CMD, ENTRYPOINT, HEALTHCHECK and SHELL are never
expanded by the builder (the shell does it). Flags the parser does not know are refused with
the line number, as BuildKit's ``unknown flag``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Instruction:
    line: int  # 1-based line of the keyword
    original: str  # the logical line as written, continuations joined: progress and errors


@dataclass(frozen=True)
class Heredoc:
    name: str  # the delimiter word after << (EOF)
    content: str  # the body, each line ending in \\n; tabs stripped already for <<-
    expand: bool  # the delimiter was unquoted: $VAR in the body is expanded (by the shell
    # for RUN, by the builder for COPY)


@dataclass(frozen=True)
class Command:
    """What RUN, CMD and ENTRYPOINT run: the JSON exec form as given, or the shell form's text
    (run as SHELL + [text])."""

    words: tuple[str, ...]  # the exec form's words, or (text,) for the shell form
    shell_form: bool


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    image: str  # unexpanded: expanded against the ARGs before the first FROM only
    stage_name: str | None  # AS name, lower-cased as BuildKit does
    platform: str | None  # --platform, unexpanded


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    pairs: tuple[tuple[str, str | None], ...]  # name, default (unexpanded) or None


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...]  # unexpanded values, legacy ``ENV a b`` form included


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...]  # unexpanded keys and values


@dataclass(frozen=True)
class Mount:
    """One ``RUN --mount=`` (BuildKit's ``instructions/commands_runmount.go``), values
    unexpanded. ``type`` is bind (the default), cache, tmpfs, secret or ssh."""

    type: str
    target: str
    source: str | None = None
    from_stage: str | None = None  # from=: a stage name or index, or an image
    readonly: bool | None = None  # None: the type's default (bind: read-only)
    id: str | None = None  # cache: the cache's id (default: target); secret: the secret's id
    sharing: str = "shared"  # cache: shared, private or locked
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: int | None = None  # tmpfs: bytes
    required: bool = False  # secret: fail when the secret is not given
    env: str | None = None  # secret: also (or instead) an environment variable of this name


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    command: Command
    heredocs: tuple[Heredoc, ...] = ()  # ``RUN <<EOF``: the first one is the script when the
    # command is only the heredoc (BuildKit runs it with the shell); others are files
    mounts: tuple[Mount, ...] = ()
    network: str | None = None  # --network: none, host or default
    security: str | None = None  # --security: sandbox or insecure


@dataclass(frozen=True, kw_only=True)
class Copy(Instruction):
    """COPY, and ADD (``add=True``: URLs fetched, local tar archives extracted)."""

    sources: tuple[str, ...]  # unexpanded; a heredoc's name stands for its content
    destination: str  # unexpanded
    add: bool = False
    from_stage: str | None = None  # --from: stage name or index, or an image reference
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    heredocs: tuple[Heredoc, ...] = ()
    checksum: str | None = None  # ADD --checksum=sha256:... of a URL
    keep_git_dir: bool = False
    excludes: tuple[str, ...] = ()  # --exclude patterns
    parents: bool = False


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    user: str


@dataclass(frozen=True, kw_only=True)
class Cmd(Instruction):
    command: Command


@dataclass(frozen=True, kw_only=True)
class Entrypoint(Instruction):
    command: Command


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    ports: tuple[str, ...]  # unexpanded, "80", "80/udp", "8000-8010/tcp"


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    paths: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    signal: str


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """``HEALTHCHECK NONE`` is ``test=("NONE",)``; durations are nanoseconds, 0 when unset."""

    test: tuple[str, ...]  # docker's form: ("CMD", ...), ("CMD-SHELL", text) or ("NONE",)
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    shell: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    trigger: str  # the instruction as written after ONBUILD, kept for the image's OnBuild


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    name: str  # deprecated, still accepted: sets the image's Author


@dataclass(frozen=True)
class Stage:
    """One FROM and the instructions up to the next."""

    index: int
    base: From
    instructions: tuple[Instruction, ...] = field(default=())

    @property
    def name(self) -> str | None:
        return self.base.stage_name


@dataclass(frozen=True)
class Dockerfile:
    meta_args: tuple[Arg, ...]  # the ARGs before the first FROM
    stages: tuple[Stage, ...]
    escape: str = "\\"  # the escape directive's character, for the executor's lexer
    syntax: str | None = None  # the syntax directive, accepted and ignored
