"""The build: the stages the target needs (independent ones in parallel threads), each step
through the cache or for real, and the image recorded and tagged only when all went well.

RUN and COPY make their changes in a fresh upper dir under the store's ``tmp/`` (removed also
on failure and Ctrl-C), encoded by the native encoder (overlay whiteouts turned into OCI ones)
and installed as any local layer; an empty upper dir adds no layer. Layers are installed
under ``images.local.building``: a failed build leaves no layer that nothing names but the
cache, and tags nothing.
"""

from __future__ import annotations

import concurrent.futures
import copy
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridock import _native
from hybridock.build import cache as build_cache
from hybridock.build import sources
from hybridock.build.cache import BuildCache
from hybridock.build.cancel import Cancel
from hybridock.build.context import BuildContext
from hybridock.build.dockerfile import instructions as ins
from hybridock.build.dockerfile import stages
from hybridock.build.dockerfile.shell import Lexer
from hybridock.build.progress import Reporter, Vertex
from hybridock.build.steps import StageRunner, StageState, history_text, with_history
from hybridock.errors import BuildError, ConfigError, ImageNotFound
from hybridock.images import local
from hybridock.reference import Reference
from hybridock.registry.platform import Platform, host_platform, parse_platform
from hybridock.runtime.archive import make_directories
from hybridock.runtime.fsview import View
from hybridock.runtime.users import resolve_user
from hybridock.store.images import ImageStore
from hybridock.store.layout import Layout

if TYPE_CHECKING:
    from hybridock.runtime.sandbox import NetworkRuntime


def _no_networks() -> NetworkRuntime:
    raise BuildError("no network runtime given: RUN --network=default needs one")


@dataclass
class BuildSettings:
    context: Path | None
    build_args: Mapping[str, str]
    labels: Mapping[str, str]
    target: str | None
    pull: bool
    network: str
    secrets: Mapping[str, str]
    tags: Sequence[Reference] = ()
    resolve_base: Callable[[str, bool], str] = field(default=lambda name, pull: name)
    networks: Callable[[], NetworkRuntime] = field(default=_no_networks)
    excludes: Sequence[str] = ()  # .dockerignore's patterns


class Build:
    def __init__(
        self,
        layout: Layout,
        images: ImageStore,
        dockerfile: ins.Dockerfile,
        settings: BuildSettings,
        reporter: Reporter,
        cache: BuildCache,
    ) -> None:
        self.layout = layout
        self.images = images
        self.dockerfile = dockerfile
        self.settings = settings
        self.reporter = reporter
        self.cache = cache
        self.cancel = Cancel()
        self.build_args = dict(settings.build_args)
        self.used_args: set[str] = set()
        self.meta_args = self._meta_args()
        self.stages: dict[int, concurrent.futures.Future[StageState]] = {}
        self._context: BuildContext | None = None
        self._context_lock = threading.Lock()

    def _meta_args(self) -> dict[str, str]:
        """The ARGs before the first FROM, over BuildKit's predefined platform ARGs (usable
        in FROM as they are, in a stage once declared: ``ARG TARGETARCH``)."""
        self.used_args.update(name for arg in self.dockerfile.meta_args for name, _ in arg.pairs)
        return {
            **platform_arguments(host_platform()),
            **stages.meta_environment(self.dockerfile, self.build_args),
        }

    # --- the stage graph ----------------------------------------------------------------------

    def run(self) -> str:
        """Build the target; the image id."""
        order = stages.needed(self.dockerfile, self.settings.target, self.build_args)
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(order)) as pool:
            for index in order:
                self.stages[index] = pool.submit(self._stage, index)
            try:
                final = self.stages[order[-1]].result()
            except BaseException:
                self.cancel.cancel()
                concurrent.futures.wait(self.stages.values())
                raise
        return self._export(final)

    def stage_state(self, name: str) -> StageState | None:
        """The final state of the stage ``name`` (a name or an index), waited for."""
        index = stages.stage_index(self.dockerfile, name)
        if index is None or index not in self.stages:
            return None
        return self.stages[index].result()

    def _stage(self, index: int) -> StageState:
        stage = self.dockerfile.stages[index]
        title = stage.name or f"stage-{index}"
        runner = StageRunner(self, stage, title)
        with self.reporter.vertex(runner.step_name(1, stage.base)) as vertex:
            state = self._from(stage.base, vertex)
        return runner.run(state)

    def _from(self, base: ins.From, vertex: Vertex) -> StageState:
        lexer = Lexer(self.dockerfile.escape)
        name = lexer.process_word(base.image, self.meta_args)
        if base.platform:
            _check_platform(lexer.process_word(base.platform, self.meta_args))
        if name.lower() == "scratch":
            document: dict[str, Any] = {"architecture": host_platform().architecture, "os": "linux"}
            document["config"] = {"Env": [_path_env()]}
            return StageState(build_cache.step_key("", "FROM scratch"), [], document)
        parent = self.stage_state(name)
        if parent is not None:
            return replace(parent, args={}, document=copy.deepcopy(parent.document), cmd_set=False)
        stored = self.cache.use and not self.settings.pull and self._stored(name)
        image_id = self.settings.resolve_base(name, self.settings.pull)
        record = self.images.get(image_id)
        document = {
            k: v for k, v in record.config.items() if k not in ("rootfs", "container_config")
        }
        document.pop("container", None)
        vertex.log(f"resolved {name} to {image_id}")
        if stored:
            vertex.cached()  # as BuildKit shows a base it has already
        return StageState(
            build_cache.step_key("", f"FROM {image_id}"), list(record.chain_ids), document
        )

    def _stored(self, name: str) -> bool:
        try:
            self.images.resolve(name)
        except ImageNotFound:
            return False
        return True

    # --- layer steps --------------------------------------------------------------------------

    def input_digests(
        self, runner: StageRunner, state: StageState, instruction: ins.Run | ins.Copy
    ) -> list[str]:
        if isinstance(instruction, ins.Run):
            network = f"network:{instruction.network or self.settings.network}"
            return [network, *self._bind_digests(runner, state, instruction)]
        source = self.copy_source(runner, state, instruction)
        expand = runner.expand(state)
        paths = [p for pattern in instruction.sources for p in source.select(expand(pattern))]
        return [f"from:{instruction.from_stage}", source.digest(paths)]

    @property
    def context(self) -> BuildContext:
        """The build context, read once per build (the first stage that needs it reads it
        while the others wait: stages run in parallel)."""
        with self._context_lock:
            if self._context is None:
                if self.settings.context is None:
                    raise BuildError("no build context given")
                self._context = BuildContext.scan(self.settings.context, self.settings.excludes)
            return self._context

    def _bind_digests(
        self, runner: StageRunner, state: StageState, instruction: ins.Run
    ) -> list[str]:
        """What a RUN's bind mounts show, by content (BuildKit keys the step on them)."""
        expand = runner.expand(state)
        digests = []
        for mount in instruction.mounts:
            if mount.type != "bind":
                continue
            source = expand(mount.source or ".")
            digest = self.bind_tree(mount).digest([source])
            digests.append(f"bind:{mount.from_stage}:{source}:{digest}")
        return digests

    def bind_tree(self, mount: ins.Mount) -> sources.SourceTree:
        """The tree a ``RUN --mount=type=bind`` reads: the context or its ``from=``."""
        if mount.from_stage is not None:
            return sources.layers_source(self.layer_dirs_of(mount.from_stage))
        if self.settings.context is None:
            raise BuildError("no build context given: a bind mount needs one")
        return sources.context_source(self.context)

    def layer_dirs_of(self, stage_or_image: str) -> list[str]:
        """The layer dirs (top first) of a stage built here, or of an image (``--from``)."""
        other = self.stage_state(stage_or_image)
        if other is None:
            image = self.settings.resolve_base(stage_or_image, self.settings.pull)
            chain = list(self.images.get(image).chain_ids)
        else:
            chain = other.chain
        return [str(self.layout.layer(c)) for c in reversed(chain)]

    def copy_source(
        self, runner: StageRunner, state: StageState, instruction: ins.Copy
    ) -> sources.SourceTree:
        """Where a COPY or ADD reads: its ``--from`` stage or image, or the context; with its
        heredocs and (ADD) URLs."""
        expand = runner.expand(state)
        if instruction.from_stage is not None:
            dirs = self.layer_dirs_of(expand(instruction.from_stage))
            return sources.instruction_source(sources.layers_source(dirs), instruction, expand)
        if self.settings.context is None:
            raise BuildError("no build context given: COPY needs one")
        return sources.instruction_source(sources.context_source(self.context), instruction, expand)

    def layer_step(
        self,
        runner: StageRunner,
        state: StageState,
        instruction: ins.Run | ins.Copy,
        vertex: Vertex,
    ) -> StageState:
        from hybridock.build import layer_steps  # noqa: PLC0415

        with self.layout.temp_dir("build") as directory:
            if isinstance(instruction, ins.Run):
                args = layer_steps.run(self, runner, state, instruction, directory, vertex)
            else:
                args = None
                layer_steps.copy(self, runner, state, instruction, directory)
            document = copy.deepcopy(state.document)
            created_by = history_text(instruction, args)
            chain = list(state.chain)
            layer = self._install(directory, chain)
            if layer is not None:
                chain.append(layer)
            return replace(
                state,
                chain=chain,
                document=with_history(document, created_by, empty=layer is None),
            )

    def workdir_layer(self, state: StageState) -> StageState:
        """WORKDIR's directory made as BuildKit makes it (``mkdir -p``, 0755, owned by the
        stage's USER), in a layer of its own; none when it was there already."""
        path = state.config.get("WorkingDir") or "/"
        if path == "/":
            return state
        chain = list(state.chain)
        lower = [str(self.layout.layer(c)) for c in reversed(chain)]
        with self.layout.temp_dir("build") as directory:
            upper = directory / "upper"
            upper.mkdir()
            user = state.config.get("User") or ""
            owner = None
            if user:
                resolved = resolve_user(user, lower)
                owner = (resolved.uid, resolved.gid)
            with View([str(upper), *lower], overlay=True) as view:
                make_directories(view, path, owner)
            layer = self._install(directory, chain)
        if layer is None:
            return state
        document = copy.deepcopy(state.document)
        document["history"][-1].pop("empty_layer", None)
        return replace(state, chain=[*chain, layer], document=document)

    def _install(self, directory: Path, chain: list[str]) -> str | None:
        from hybridock.images.commit import runtime_mount_points  # noqa: PLC0415 - a miss only

        upper = directory / "upper"
        lower = [str(self.layout.layer(c)) for c in reversed(chain)]
        excluded = runtime_mount_points(upper, lower)
        blob = directory / "layer.tar"
        encoded = _native.encode_layer(
            str(upper), str(blob), "none", overlay=True, exclude=excluded
        )
        if encoded.entries == 0:
            return None
        with local.building(self.images):
            record = local.install_layer(
                self.images,
                blob,
                chain,
                compression="none",
                digest=encoded.digest,
                diff_id=encoded.diff_id,
            )
        return record.chain_id

    # --- the image ----------------------------------------------------------------------------

    def _export(self, state: StageState) -> str:
        with self.reporter.vertex("exporting to image") as vertex:
            document = copy.deepcopy(state.document)
            config = document.setdefault("config", {})
            if self.settings.labels:
                config["Labels"] = {**(config.get("Labels") or {}), **self.settings.labels}
            if self.build_args.get("BUILDKIT_INLINE_CACHE") == "1":
                document[build_cache.INLINE_KEY] = [list(step) for step in state.inline]
            document = dict(sorted(document.items()))
            with local.building(self.images):
                layers = self.images.layer_records(state.chain)
                ordered = [layers[c] for c in state.chain]
                first = self.settings.tags[0] if self.settings.tags else None
                made = local.record_image(self.images, document, ordered, first)
                vertex.log(f"writing image {made.id} done")
                for tag in self.settings.tags:
                    if tag is not first:
                        self.images.tag(made.id, tag)
                    vertex.log(f"naming to {tag} done")
            return made.id


def platform_arguments(platform: Platform) -> dict[str, str]:
    """BuildKit's TARGET* and BUILD* ARGs: hybridock builds for the platform it runs on."""
    values: dict[str, str] = {}
    for prefix in ("TARGET", "BUILD"):
        values[f"{prefix}PLATFORM"] = str(platform)
        values[f"{prefix}OS"] = platform.os
        values[f"{prefix}ARCH"] = platform.architecture
        values[f"{prefix}VARIANT"] = platform.variant or ""
    return values


def _check_platform(text: str) -> None:
    """``FROM --platform``: the host's (``$BUILDPLATFORM``, ``$TARGETPLATFORM``) is built;
    another is refused in one line (there is no emulation here), never built wrongly."""
    if not text:
        return
    try:
        wanted = parse_platform(text)
    except ConfigError as error:
        raise BuildError(f"failed to parse platform {text}: {error}") from error
    host = host_platform()
    if not wanted.matches(host):
        raise BuildError(
            f"failed to solve for platform {wanted}: hybridock builds for {host} only"
            " (no emulation of other platforms)"
        )


def _path_env() -> str:
    return "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
