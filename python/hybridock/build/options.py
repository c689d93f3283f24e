"""What a build is asked for (``BuildOptions``, docker build's flags), what it gives
(``BuildResult``), and ``build``: the Dockerfile read and parsed, the cache seeded from
``--cache-from`` images, the executor run with its progress, the image id written to
``--iidfile``. ``Client.build`` is this with the client's store and pulls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hybridock.build.cache import BuildCache
from hybridock.build.dockerfile import parser
from hybridock.build.executor import Build, BuildSettings
from hybridock.build.ignore import read_ignore_file
from hybridock.build.progress import BuildEvent, Reporter
from hybridock.errors import BuildError, DockerfileError, ImageNotFound
from hybridock.reference import Reference
from hybridock.store.images import ImageStore
from hybridock.store.layout import Layout, write_atomic

if TYPE_CHECKING:
    from hybridock.runtime.sandbox import NetworkRuntime


@dataclass(frozen=True)
class BuildOptions:
    tags: tuple[str, ...] = ()
    dockerfile: str | None = None  # path, relative to the cwd (default: PATH/Dockerfile)
    dockerfile_text: str | None = None  # `build -f -` / `build -`
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    cache_from: tuple[str, ...] = ()
    network: str = "default"
    secrets: Mapping[str, str] = field(default_factory=dict)  # id -> source file
    iidfile: str | None = None


class BuildResult(NamedTuple):
    image_id: str
    tags: tuple[str, ...]


def dockerfile_path(context: Path | None, options: BuildOptions) -> Path | None:
    """The Dockerfile's path (None: read from stdin, or no context to find it in)."""
    if options.dockerfile_text is not None:
        return None
    if options.dockerfile:
        return Path(options.dockerfile)
    return context / "Dockerfile" if context is not None else None


def dockerfile_text(context: Path | None, options: BuildOptions) -> str:
    if options.dockerfile_text is not None:
        return options.dockerfile_text
    path = dockerfile_path(context, options)
    if path is None:
        raise BuildError("no build context and no Dockerfile given")
    try:
        return path.read_text()
    except OSError as error:
        raise BuildError(
            f"failed to read dockerfile: open {path}: {(error.strerror or '').lower()}"
        ) from error


def build(
    layout: Layout,
    images: ImageStore,
    context: Path | None,
    options: BuildOptions,
    *,
    resolve_base: Callable[[str, bool], str],
    networks: Callable[[], NetworkRuntime],
    progress: Callable[[BuildEvent], None] | None = None,
) -> BuildResult:
    tags = tuple(Reference.parse(tag) for tag in options.tags)
    reporter = Reporter(progress)
    name = Path(options.dockerfile).name if options.dockerfile else "Dockerfile"
    with reporter.vertex(f"[internal] load build definition from {name}"):
        text = dockerfile_text(context, options)
        dockerfile = parser.parse(text)
    cache = BuildCache(images, use=not options.no_cache)
    for reference in options.cache_from:
        try:
            cache.seed(resolve_base(reference, False))
        except (ImageNotFound, DockerfileError, OSError):
            continue  # as BuildKit: a cache source that cannot be read is skipped
    settings = BuildSettings(
        context=context,
        build_args={k: v for k, v in options.build_args.items() if v is not None},
        labels=options.labels,
        target=options.target,
        pull=options.pull,
        network=_network_mode(options.network),
        secrets=options.secrets,
        tags=tags,
        resolve_base=resolve_base,
        networks=networks,
        excludes=read_ignore_file(context, dockerfile_path(context, options)) if context else (),
    )
    image_id = Build(layout, images, dockerfile, settings, reporter, cache).run()
    if options.iidfile:
        write_atomic(Path(options.iidfile), image_id.encode(), durable=False)
    return BuildResult(image_id, tuple(str(tag) for tag in tags))


def _network_mode(mode: str) -> str:
    """``--network``: BuildKit's three modes (``bridge`` is docker's name for the default)."""
    if mode in ("default", "bridge", ""):
        return "default"
    if mode in ("none", "host"):
        return mode
    raise BuildError(f'network mode "{mode}" not supported by buildkit')
