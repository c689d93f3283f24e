"""``hybridock.Client``: the Python API. The CLI is a thin layer over it.

A client owns one store root (opened lazily, so ``hybridock --help`` touches nothing) and one
configuration. Every method either returns typed records or raises a ``HybridockError``; none
prints or exits. The records it returns (``Container``, ``ImageRecord``, ...) and the options it
takes (``RunOptions``, ``ExecOptions``) are importable from here; each is loaded on first use, as
the parts behind the methods are. docker's documents (inspect, the Engine API's list entries)
are built once, in ``hybridock/documents/``, and reached through methods here
(``inspect_container``, ``container_summary``, ...). Over the flat methods, docker-py's shape:
``client.containers``, ``client.images``, ``client.networks``, ``client.volumes``
(``hybridock/handles/``).

    >>> with hybridock.Client() as client:
    ...     result = client.run("busybox", ["echo", "hi"], remove=True)
    ...     web = client.containers.run("busybox", "sleep 60", detach=True)
    >>> result.exit_code, result.stdout, web.status
    (0, b'hi\\n', 'running')

A client belongs to one thread (its database connection does); threads each make their own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from hybridock.errors import (
    ConfigError,
    HybridockError,
    ImageNotFound,
    InvalidFilter,
    InvalidReference,
)
from hybridock.lazy import exported
from hybridock.store.db import Database
from hybridock.store.layout import Layout, default_root

if TYPE_CHECKING:
    # Each part is imported where it is first used: a CLI process pays only for what its
    # command needs (the registry stack alone is ~100 ms, the container runtime ~40 ms).
    import threading
    from types import TracebackType

    from hybridock.build.options import BuildOptions, BuildResult
    from hybridock.build.progress import BuildEvent, build_progress
    from hybridock.config import Config
    from hybridock.documents.containers import command_text, status_text
    from hybridock.documents.image_list import ListedImage
    from hybridock.documents.times import human_duration, log_timestamp
    from hybridock.handles import (
        ContainerCollection,
        ContainerHandle,
        ExecResult,
        ImageCollection,
        ImageHandle,
        NetworkCollection,
        NetworkHandle,
        VolumeCollection,
        VolumeHandle,
    )
    from hybridock.images.load import LoadedImage
    from hybridock.images.push import PushedTag, PushProgress, PushResult
    from hybridock.reference import Reference
    from hybridock.registry import Credentials, RegistryClient
    from hybridock.runtime.attach import AttachLink, Detached, DetachKeys, detach_key_bytes
    from hybridock.runtime.cgroups import Stats
    from hybridock.runtime.config import Mount, RunOptions
    from hybridock.runtime.containers import Container, ContainerStore
    from hybridock.runtime.exec import ExecOptions, ExecProcess
    from hybridock.runtime.lifecycle import Runtime
    from hybridock.runtime.network import (
        Endpoint,
        Network,
        NetworkInUse,
        NetworkNotFound,
        NetworkStore,
    )
    from hybridock.runtime.ports import PortBinding, displayable_ports, port_lines
    from hybridock.runtime.supervision import Healthcheck, HealthState, RestartPolicy
    from hybridock.runtime.system import (
        ContainerUsage,
        DiskUsage,
        HistoryEntry,
        HostCounters,
        ImageUsage,
        PruneFilter,
        SystemPruneReport,
        VolumeUsage,
    )
    from hybridock.runtime.volumes import Volume, VolumeInUse, VolumeNotFound, VolumeStore
    from hybridock.store.images import ImageRecord, ImageStore, RemovalReport
    from hybridock.store.pull import PullProgress, PullResult

__all__ = [
    "AttachLink",
    "BuildEvent",
    "BuildOptions",
    "BuildResult",
    "Client",
    "Container",
    "ContainerCollection",
    "ContainerHandle",
    "ContainerUsage",
    "Credentials",
    "DetachKeys",
    "Detached",
    "DiskUsage",
    "Endpoint",
    "ExecOptions",
    "ExecProcess",
    "ExecResult",
    "HealthState",
    "Healthcheck",
    "HistoryEntry",
    "HostCounters",
    "ImageCollection",
    "ImageHandle",
    "ImageRecord",
    "ImageUsage",
    "ListedImage",
    "LoadedImage",
    "Mount",
    "Network",
    "NetworkCollection",
    "NetworkHandle",
    "NetworkInUse",
    "NetworkNotFound",
    "PortBinding",
    "PruneFilter",
    "PullProgress",
    "PullResult",
    "PushProgress",
    "PushResult",
    "PushedTag",
    "RemovalReport",
    "RestartPolicy",
    "RunOptions",
    "RunResult",
    "Stats",
    "SystemPruneReport",
    "Volume",
    "VolumeCollection",
    "VolumeHandle",
    "VolumeInUse",
    "VolumeNotFound",
    "VolumeUsage",
    "build_progress",
    "command_text",
    "detach_key_bytes",
    "displayable_ports",
    "human_duration",
    "log_timestamp",
    "port_lines",
    "status_text",
]

#: the API's record and option types, by the module that defines them (loaded on first use)
_EXPORTS = {
    "Container": "hybridock.runtime.containers",
    "ExecOptions": "hybridock.runtime.exec",
    "ExecProcess": "hybridock.runtime.exec",
    # a front end's relays of attach and exec streams (the Engine API's)
    "AttachLink": "hybridock.runtime.attach",
    "Detached": "hybridock.runtime.attach",
    "DetachKeys": "hybridock.runtime.attach",
    "detach_key_bytes": "hybridock.runtime.attach",
    "Endpoint": "hybridock.runtime.network",
    "Healthcheck": "hybridock.runtime.supervision",
    "HealthState": "hybridock.runtime.supervision",
    "RestartPolicy": "hybridock.runtime.supervision",
    "Credentials": "hybridock.registry",
    "ImageRecord": "hybridock.store.images",
    "ListedImage": "hybridock.documents.image_list",
    "LoadedImage": "hybridock.images.load",
    "Mount": "hybridock.runtime.config",
    "Network": "hybridock.runtime.network",
    "NetworkInUse": "hybridock.runtime.network",
    "NetworkNotFound": "hybridock.runtime.network",
    "PortBinding": "hybridock.runtime.ports",
    # docker's displays of a port map (ps's PORTS, the port command's lines): pure functions
    "displayable_ports": "hybridock.runtime.ports",
    "port_lines": "hybridock.runtime.ports",
    "PullProgress": "hybridock.store.pull",
    "PullResult": "hybridock.store.pull",
    "PushProgress": "hybridock.images.push",
    "PushResult": "hybridock.images.push",
    "PushedTag": "hybridock.images.push",
    "RemovalReport": "hybridock.store.images",
    "RunOptions": "hybridock.runtime.config",
    "Stats": "hybridock.runtime.cgroups",
    "Volume": "hybridock.runtime.volumes",
    # system df, system prune, history
    "ContainerUsage": "hybridock.runtime.system",
    "DiskUsage": "hybridock.runtime.system",
    "HistoryEntry": "hybridock.runtime.system",
    "HostCounters": "hybridock.runtime.system",
    "ImageUsage": "hybridock.runtime.system",
    "PruneFilter": "hybridock.runtime.system",
    "SystemPruneReport": "hybridock.runtime.system",
    "VolumeUsage": "hybridock.runtime.system",
    "VolumeInUse": "hybridock.runtime.volumes",
    "VolumeNotFound": "hybridock.runtime.volumes",
    # hybridock build
    "BuildOptions": "hybridock.build.options",
    "BuildResult": "hybridock.build.options",
    "BuildEvent": "hybridock.build.progress",
    "build_progress": "hybridock.build.progress",
    # docker-py's shape: collections and handles over the flat methods
    "ContainerCollection": "hybridock.handles",
    "ContainerHandle": "hybridock.handles",
    "ExecResult": "hybridock.handles",
    "ImageCollection": "hybridock.handles",
    "ImageHandle": "hybridock.handles",
    "NetworkCollection": "hybridock.handles",
    "NetworkHandle": "hybridock.handles",
    "VolumeCollection": "hybridock.handles",
    "VolumeHandle": "hybridock.handles",
    # docker's words in listings: STATUS, COMMAND, human durations (pure functions)
    "command_text": "hybridock.documents.containers",
    "human_duration": "hybridock.documents.times",
    # docker's times in filters and options (--since, until=): "10m", RFC 3339, Unix seconds
    "log_timestamp": "hybridock.documents.times",
    "status_text": "hybridock.documents.containers",
}


def __getattr__(name: str) -> object:
    return exported(globals(), _EXPORTS, name)


#: docker's container list filters, and its container states
CONTAINER_FILTERS = (
    "id", "name", "label", "status", "exited", "ancestor", "network", "health", "before", "since",
)  # fmt: skip
CONTAINER_STATES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")


class RunResult(NamedTuple):
    """An attached run whose output was captured: the container's exit code and streams."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    container_id: str


class Client:
    """One store and one configuration: images in, containers run, as docker's client does.

    >>> client = hybridock.Client()  # the default store: /var/lib/hybridock for root
    >>> client = hybridock.Client(root="/srv/hybridock", config=load_config("hybridock.json"))

    Methods that take a ``container`` accept its record, id, unique id prefix or name.
    """

    def __init__(self, root: str | Path | None = None, config: Config | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._config = config
        self._may_run_containers = False  # require_root passed once: it holds for the process

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @cached_property
    def config(self) -> Config:
        from hybridock.config import load_config  # noqa: PLC0415 (see TYPE_CHECKING above)

        return self._config if self._config is not None else load_config()

    @cached_property
    def layout(self) -> Layout:
        layout = Layout(self.root)
        layout.ensure()
        return layout

    @cached_property
    def database(self) -> Database:
        return Database(self.layout.database)

    @cached_property
    def image_store(self) -> ImageStore:
        from hybridock.store.images import ImageStore  # noqa: PLC0415 (see TYPE_CHECKING)

        return ImageStore(self.layout, self.database)

    @cached_property
    def registry(self) -> RegistryClient:
        from hybridock.registry import RegistryClient  # noqa: PLC0415

        return RegistryClient(self.config)

    # --- images -------------------------------------------------------------------------------

    def pull(
        self,
        reference: str | Reference,
        *,
        platform: str | None = None,
        progress: PullProgress | None = None,
        credentials: Credentials | None = None,
    ) -> PullResult:
        """Pull an image (only the layers not already stored); ``credentials`` for its
        registry, this pull only, instead of the saved ones.

        >>> client.pull("busybox:1.36", platform="linux/arm64").image_id
        'sha256:...'
        >>> client.pull("registry.example.com/app", credentials=Credentials("alice", "secret"))
        """
        from hybridock.reference import Reference  # noqa: PLC0415
        from hybridock.registry import RegistryClient, parse_platform  # noqa: PLC0415
        from hybridock.store.pull import Puller  # noqa: PLC0415

        parsed = reference if isinstance(reference, Reference) else Reference.parse(reference)
        registry = self.registry
        if credentials is not None:  # a client of its own: no token outlives the pull
            registry = RegistryClient(self.config, credentials={parsed.domain: credentials})
        puller = Puller(
            self.layout,
            self.image_store,
            registry,
            concurrency=self.config.max_concurrent_downloads,
            progress=progress,
            max_layer_size=self.config.max_layer_size,
            max_layer_entries=self.config.max_layer_entries,
        )
        try:
            result = puller.pull(parsed, parse_platform(platform) if platform else None)
        finally:
            if registry is not self.registry:
                registry.close()
        name = {"name": parsed.familiar_name}
        self._emit([self._image_event("pull", result.image_id, parsed.familiar, name)])
        return result

    @cached_property
    def images(self) -> ImageCollection:
        """docker-py's ``client.images``: handles over the methods below.

        >>> client.images.get("busybox").tags
        ['busybox:latest']
        """
        from hybridock.handles import ImageCollection  # noqa: PLC0415

        return ImageCollection(self)

    def list_images(self) -> list[ImageRecord]:
        """Every stored image.

        >>> [image.tags for image in client.list_images()]
        [['docker.io/library/busybox:latest']]
        """
        return self.image_store.all()

    def image_listing(
        self, filters: Mapping[str, Sequence[str]] | None = None
    ) -> list[ListedImage]:
        """docker's image list: the images its filters keep (``images --filter``,
        ``GET /images/json``): ``dangling``, ``label`` (KEY, KEY=VALUE), ``before``/``since``
        (an image), and ``reference`` (a pattern; each image keeps the references it matched).

        >>> [listed.repo_tags for listed in client.image_listing({"reference": ["busy*"]})]
        [['busybox:latest']]
        """
        from hybridock.documents.image_list import listed_images  # noqa: PLC0415

        return listed_images(self.image_store.all(), filters or {}, self.image)

    def image_summaries(
        self,
        filters: Mapping[str, Sequence[str]] | None = None,
        *,
        api_version: tuple[int, int] = (1, 41),
    ) -> list[dict[str, Any]]:
        """The Engine API's ``GET /images/json``: an entry per image ``filters`` keep (as
        ``image_listing``), with the references it kept.

        >>> [entry["RepoTags"] for entry in client.image_summaries({"dangling": ["false"]})]
        [['busybox:latest']]
        """
        summaries = []
        for listed in self.image_listing(filters):
            summary = self.image_summary(listed.image, api_version=api_version)
            if listed.tags or listed.digests:
                summary["RepoTags"] = listed.repo_tags
                summary["RepoDigests"] = listed.repo_digests
            summaries.append(summary)
        return summaries

    def image(self, name: str) -> ImageRecord:
        """One image by reference, id or id prefix; ``ImageNotFound`` when there is none.

        >>> client.image("busybox").size
        4261550
        """
        return self.image_store.get(self.image_store.resolve(name))

    def layer_dirs(self, image_id: str) -> list[str]:
        """The image's extracted layer trees, top layer first (an overlay's lower dirs).

        >>> client.layer_dirs(client.image("busybox").id)
        ['/var/lib/hybridock/layers/...']
        """
        return self.image_store.layer_dirs(image_id)

    def remove_image(self, name: str, *, force: bool = False) -> RemovalReport:
        """Untag (and delete when nothing else refers to it) an image, as ``docker rmi``.

        >>> client.remove_image("busybox").deleted
        ['sha256:...']
        """
        image = self.image_store.get(self.image_store.resolve(name))
        report = self.image_store.remove(name, force=force)
        untagged = [self._image_event("untag", image.id, image=image) for _ in report.untagged]
        deleted = [self._image_event("delete", image.id, image=image)]
        self._emit([*untagged, *(deleted if image.id in report.deleted else [])])
        return report

    def prune_images(
        self,
        *,
        all_unused: bool = False,
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> RemovalReport:
        """Delete dangling images (``all_unused``: every image no container uses); ``filters``
        as ``image prune --filter``: ``label`` (KEY, KEY=VALUE), ``label!`` and ``until``
        (Unix nanoseconds as text: what was created before). ``reclaimed``: the bytes of the
        layers that went.

        >>> client.prune_images(all_unused=True).reclaimed
        4261550
        """
        from hybridock.runtime.system import PruneFilter  # noqa: PLC0415

        chosen = PruneFilter.parse(filters or {})
        report, reclaimed = self._prune_images(chosen, all_images=all_unused)
        return report._replace(reclaimed=reclaimed)

    # --- save, load, import (images/archive.py, images/load.py, images/tarball.py) ------------

    def save(
        self,
        images: Sequence[str],
        out: BinaryIO | str | Path,
        *,
        format: str = "docker-archive",
    ) -> None:
        """docker's ``save``: ``images`` (``NAME:TAG``, every tag of a bare ``NAME``, ids) as
        one archive that ``docker load`` reads, which is also an OCI image layout;
        ``format``: ``docker-archive``, ``oci-archive`` or ``oci-dir`` (``out`` a directory).
        A path is written beside itself and renamed when whole.

        >>> client.save(["busybox:latest"], "busybox.tar")
        """
        from hybridock.images.archive import save  # noqa: PLC0415

        saved = save(self.image_store, images, out, format=format)
        self._emit([self._image_event("save", image_id) for image_id in saved])

    def load(self, source: BinaryIO | str | Path) -> list[LoadedImage]:
        """docker's ``load``: the images of a docker or OCI archive (a path, or a stream read
        to its end), every digest checked; on any failure nothing is recorded.

        >>> [image.tags for image in client.load("busybox.tar")]
        [('busybox:latest',)]
        """
        from hybridock.images.load import Limits, load  # noqa: PLC0415

        config = self.config
        limits = Limits(
            config.max_layer_size, config.max_layer_entries, config.max_concurrent_downloads
        )
        loaded = load(self.image_store, source, limits)
        self._emit([self._image_event("load", image.id) for image in loaded])
        return loaded

    def import_image(
        self,
        source: BinaryIO | str | Path,
        reference: str | Reference | None = None,
        *,
        changes: Sequence[str] = (),
        message: str | None = None,
        platform: str | None = None,
    ) -> str:
        """docker's ``import``: a filesystem tarball (a path, a stream, an http(s) URL; plain,
        gzip or zstd) as a one-layer image with ``changes`` (``-c``) applied; its id.

        >>> client.import_image("rootfs.tar.gz", "local/rootfs:1", changes=["CMD sh"])
        'sha256:...'
        """
        from hybridock.images.load import Limits  # noqa: PLC0415
        from hybridock.images.tarball import import_tarball  # noqa: PLC0415
        from hybridock.reference import Reference  # noqa: PLC0415

        parsed = Reference.parse(reference) if isinstance(reference, str) else reference
        origin = source if isinstance(source, str) and "://" in source else "-"
        image_id = import_tarball(
            self.image_store,
            source,
            parsed,
            changes=changes,
            message=message,
            platform=platform,
            origin=origin,
            limits=Limits(self.config.max_layer_size, self.config.max_layer_entries),
        )
        self._emit([self._image_event("import", image_id)])
        return image_id

    def _image_event(
        self,
        action: str,
        image_id: str,
        actor: str | None = None,
        attributes: Mapping[str, str] | None = None,
        *,
        image: ImageRecord | None = None,
    ) -> dict[str, Any]:
        """docker's image event: the image's labels and its ``name`` (the id unless given)."""
        from hybridock.store import events  # noqa: PLC0415

        if image is None:
            try:
                image = self.image_store.get(image_id)
            except HybridockError:
                image = None
        labels = ((image.config.get("config") or {}).get("Labels") or {}) if image else {}
        shown = {**labels, "name": image_id, **(attributes or {})}
        return events.event("image", action, actor or image_id, dict(sorted(shown.items())))

    def _emit(self, documents: Sequence[dict[str, Any]]) -> None:
        from hybridock.store import events  # noqa: PLC0415

        events.record(self.layout, documents)

    def _container_event(
        self, container: Container, action: str, extra: Mapping[str, str] | None = None
    ) -> None:
        self.container_store.event(container, action, extra)

    def image_history(self, name: str) -> list[HistoryEntry]:
        """docker's ``history``: the image config's history, newest first, each step with
        the size of the layer it made (0 for an empty layer); the newest carries the image's
        id and tags, the others ``<missing>`` (a pulled image has no local parents).

        >>> [(step.id, step.size) for step in client.image_history("busybox")]
        [('sha256:...', 0), ('<missing>', 4261550)]
        """
        from hybridock.runtime.system import HistoryEntry  # noqa: PLC0415

        image = self.image(name)
        steps = image.config.get("history") or []
        chains = list(image.chain_ids)
        sizes = self.image_store.unpacked_sizes(chains)
        entries = []
        for step in steps:
            size = 0
            if not step.get("empty_layer") and chains:
                size = sizes[chains.pop(0)]
            entries.append(
                HistoryEntry(
                    id="<missing>",
                    created=step.get("created", ""),
                    created_by=step.get("created_by", ""),
                    size=size,
                    comment=step.get("comment", ""),
                    tags=(),
                )
            )
        entries.reverse()
        if entries:
            entries[0] = entries[0]._replace(id=image.id, tags=image.tags)
        return entries

    # --- tag and push ---------------------------------------------------------------------------

    def tag(self, image: str, reference: str | Reference) -> None:
        """Point a tag at an image, as ``docker tag SOURCE TARGET`` (a tag that named another
        image moves).

        >>> client.tag("busybox", "localhost:5000/tools/busybox:1")
        """
        from hybridock.reference import Reference  # noqa: PLC0415

        target = reference
        if isinstance(target, str):
            try:
                target = Reference.parse(target)
            except InvalidReference as error:
                raise InvalidReference(
                    f'Error parsing reference: "{reference}" is not a valid repository/tag: {error}'
                ) from None
        image_id = self.image_store.resolve(image)
        self.image_store.tag(image_id, target)
        self._emit([self._image_event("tag", image_id, attributes={"name": target.familiar})])

    def push(
        self,
        reference: str | Reference,
        *,
        all_tags: bool = False,
        progress: PushProgress | None = None,
        credentials: Credentials | None = None,
        compression: str | None = None,
        compression_level: int | None = None,
    ) -> PushResult:
        """Push a tag (``all_tags``: every local tag of the repository) to its registry; the
        store records the repository digest. ``credentials`` for this push only, instead of
        the saved ones. ``compression`` ("gzip", "zstd"): every layer goes up so compressed
        (podman's ``--compression-format``), at ``compression_level``.

        >>> client.push("localhost:5000/tools/busybox:1").tags[0].digest
        'sha256:...'
        """
        from hybridock.images.push import Pusher, PushResult, repository_tags  # noqa: PLC0415
        from hybridock.reference import Reference  # noqa: PLC0415
        from hybridock.registry import RegistryClient  # noqa: PLC0415

        parsed = reference if isinstance(reference, Reference) else Reference.parse(reference)
        if all_tags:
            chosen = repository_tags(self.image_store, parsed)
        else:
            known = self.image_store.tag_digest(parsed) if parsed.digest is None else None
            chosen = [(parsed, known[0])] if known is not None else []
        if not chosen:
            raise ImageNotFound(
                f"An image does not exist locally with the tag: {parsed.familiar_name}"
            )
        registry = self.registry
        if credentials is not None:  # a client of its own: no token outlives the push
            registry = RegistryClient(self.config, credentials={parsed.domain: credentials})
        pusher = Pusher(
            self.layout,
            self.image_store,
            registry,
            concurrency=self.config.max_concurrent_downloads,
            progress=progress,
            compression=compression,
            level=compression_level,
        )
        pushed = []
        try:
            for tag, image_id in chosen:
                pushed.append(pusher.push(tag, image_id))
                name = {"name": tag.familiar}
                self._emit([self._image_event("push", image_id, tag.familiar, name)])
        finally:
            if registry is not self.registry:
                registry.close()
        return PushResult(parsed.name, tuple(pushed))

    def login(self, registry: str, username: str, password: str) -> None:
        """Check credentials against a registry, then save them (docker's config.json).

        >>> client.login("registry.example.com", "alice", "secret")
        """
        self.registry.login(registry, username, password)

    def logout(self, registry: str) -> bool:
        """Forget a registry's saved credentials; True when there were some.

        >>> client.logout("registry.example.com")
        True
        """
        return self.registry.logout(registry)

    # --- containers ---------------------------------------------------------------------------

    @cached_property
    def container_store(self) -> ContainerStore:
        from hybridock.runtime.containers import ContainerStore  # noqa: PLC0415

        return ContainerStore(self.layout, self.database)

    @cached_property
    def runtime(self) -> Runtime:
        from hybridock.runtime.lifecycle import Runtime  # noqa: PLC0415

        return Runtime(self.layout, self.image_store, self.container_store, self.config)

    def find_image(
        self,
        name: str,
        *,
        pull: str = "missing",
        platform: str | None = None,
        progress: PullProgress | None = None,
        on_missing: Callable[[Reference], None] | None = None,
        on_pulled: Callable[[PullResult], None] | None = None,
    ) -> str:
        """The id of the image ``name`` names, pulling it per docker's --pull policy;
        ``on_pulled`` hears of every pull it makes, up to date or not.

        >>> client.find_image("busybox", pull="never")
        'sha256:...'
        """
        if pull not in ("missing", "always", "never"):
            raise InvalidReference(
                f'invalid pull option: "{pull}": must be missing, always or never'
            )
        if pull != "always":
            try:
                return self.image_store.resolve(name)
            except ImageNotFound:
                if pull == "never":
                    raise
        from hybridock.reference import Reference  # noqa: PLC0415

        reference = Reference.parse(name)
        if pull == "missing" and on_missing is not None:
            on_missing(reference)
        result = self.pull(reference, platform=platform, progress=progress)
        if on_pulled is not None:
            on_pulled(result)
        return result.image_id

    def check_run_flags(
        self,
        *,
        security_options: Sequence[str] = (),
        sysctls: Sequence[str] = (),
        mounts: Sequence[str] = (),
        publish: Sequence[str] = (),
        expose: Sequence[str] = (),
    ) -> None:
        """``ConfigError`` for a ``--security-opt``, ``--sysctl``, ``--mount``, ``-p`` or
        ``--expose`` value hybridock cannot honour (docker's client checks these before it looks
        for the image).

        >>> client.check_run_flags(security_options=["no-new-privileges"], sysctls=["kernel.sem=1"])
        """
        from hybridock.runtime.config import parse_mount  # noqa: PLC0415
        from hybridock.runtime.seccomp import parse_security_options  # noqa: PLC0415
        from hybridock.runtime.security import parse_sysctl  # noqa: PLC0415

        parse_security_options(security_options)
        for sysctl in sysctls:
            parse_sysctl(sysctl)
        for mount in mounts:
            parse_mount(mount)
        if publish or expose:
            from hybridock.runtime.ports import parse_expose, parse_publish  # noqa: PLC0415

            parse_publish(publish)
            parse_expose(expose)

    def supervision(
        self,
        *,
        restart: str = "",
        auto_remove: bool = False,
        health_cmd: str = "",
        health_interval: str = "",
        health_timeout: str = "",
        health_start_period: str = "",
        health_retries: int = 0,
        no_healthcheck: bool = False,
    ) -> tuple[RestartPolicy, Healthcheck | None]:
        """``--restart`` and the ``--health-*`` flags as docker reads them (``ConfigError`` in
        its words); the health check is None where the image's applies.

        >>> client.supervision(restart="on-failure:3", health_cmd="pg_isready")
        (RestartPolicy(name='on-failure', maximum_retry_count=3), Healthcheck(...))
        """
        from hybridock.runtime import supervision  # noqa: PLC0415

        policy = supervision.parse_restart_policy(restart)
        if auto_remove and policy.restarts:
            raise ConfigError("Conflicting options: --restart and --rm")
        return policy, supervision.healthcheck_from_flags(
            command=health_cmd,
            interval=health_interval,
            timeout=health_timeout,
            start_period=health_start_period,
            retries=health_retries,
            disabled=no_healthcheck,
        )

    def restart_count(self, container: Container | str) -> int:
        """docker's RestartCount: restarts by its policy since the user last started it."""
        from hybridock.runtime.supervision import RestartState  # noqa: PLC0415

        record = self._record(container)
        return RestartState.read(self.layout.container(record.id)).restart_count

    def health(self, container: Container | str) -> HealthState | None:
        """docker's State.Health (None: no health check, or never started with one); its
        file is read alone, so ``ps`` decodes no config for it."""
        from hybridock.runtime.supervision import HealthState  # noqa: PLC0415

        record = self._record(container)
        health = HealthState.read(self.layout.container(record.id))
        if health is not None and not record.running:
            # docker's word once its probes stop: exited, or waiting to restart
            return health._replace(status="unhealthy")
        return health

    def create_container(
        self,
        image: str,
        image_id: str | None = None,
        options: RunOptions | None = None,
        name: str | None = None,
    ) -> Container:
        """Record a ``created`` container of ``image`` (pulled when missing unless ``image_id``
        says which stored image it is), configured by ``options`` as docker's flags would.

        >>> container = client.create_container("busybox", options=RunOptions(command=("true",)))
        >>> container.state
        'created'
        """
        from hybridock.runtime.config import RunOptions, merge  # noqa: PLC0415

        self.require_root()
        if image_id is None:
            image_id = self.find_image(image)
        container_id = self.container_store.new_id()
        record = self.image_store.get(image_id)
        options = options or RunOptions()
        inherited = self._volumes_from(options.volumes_from)
        config = merge(image, image_id, record.config, container_id, options, inherited)
        if config.bridged:
            self.network_store.find(config.network)  # docker: "network X not found"
        elif config.network.startswith("container:"):
            self.container_store.find(config.network.partition(":")[2])
        if not any(mount.is_volume for mount in config.mounts):
            return self.container_store.create(config, name, container_id)
        config = self.volume_store.provide(config, self.image_store.layer_dirs(image_id))
        try:
            return self.container_store.create(config, name, container_id)
        except BaseException:  # a name taken: the anonymous volumes made for it go too
            self.volume_store.remove_anonymous(
                [mount.volume for mount in config.mounts if mount.anonymous]
            )
            raise

    def _volumes_from(self, specs: Sequence[str]) -> list[Mount]:
        """The mounts of each --volumes-from container, read-only as its mode says."""
        from hybridock.runtime.config import parse_volumes_from  # noqa: PLC0415

        mounts = []
        for spec in specs:
            name, readonly = parse_volumes_from(spec)
            for mount in self.container_store.find(name).config.mounts:
                shared = mount._replace(inherited=True)
                mounts.append(shared if readonly is None else shared._replace(readonly=readonly))
        return mounts

    @cached_property
    def containers(self) -> ContainerCollection:
        """docker-py's ``client.containers``: handles over the methods below.

        >>> client.containers.run("busybox", "echo hi").stdout
        b'hi\\n'
        """
        from hybridock.handles import ContainerCollection  # noqa: PLC0415

        return ContainerCollection(self)

    def list_containers(
        self,
        *,
        all_states: bool = False,
        filters: Mapping[str, Sequence[str]] | None = None,
        limit: int = -1,
    ) -> list[Container]:
        """Containers, newest first, as docker's daemon lists them: running ones and those
        waiting to restart, as ``ps`` (``all_states``: every one, as ``ps -a``; a ``limit``
        or a ``status`` filter lists every one too); ``filters`` as docker's (``id``,
        ``name``, ``label``, ``status``, ``exited``, ``ancestor``, ``network``, ``health``,
        ``before``, ``since``), each key's values any-of, the keys all-of; ``InvalidFilter``
        for another key or a bad value.

        >>> [c.name for c in client.list_containers()]
        ['web']
        >>> [c.name for c in client.list_containers(filters={"label": ["tier=db"]}, limit=1)]
        ['db']
        """
        if not filters and limit <= 0:
            found = self.container_store.all()
            return found if all_states else [c for c in found if c.running or c.restarting]
        filters = filters or {}
        if unknown := sorted(set(filters) - set(CONTAINER_FILTERS)):
            raise InvalidFilter(f"invalid filter '{unknown[0]}'")
        for status in filters.get("status", ()):
            if status not in CONTAINER_STATES:
                raise InvalidFilter(f"Invalid filter 'status={status}'")
        for health in filters.get("health", ()):
            if health not in HEALTH_STATES:
                raise InvalidFilter(f"Unrecognised filter value for health: {health}")
        found = self.container_store.all()
        for key in ("since", "before"):
            for text in filters.get(key, ()):
                index = [c.id for c in found].index(self.container(text).id)
                found = found[:index] if key == "since" else found[index + 1 :]
        if not (all_states or limit > 0 or "status" in filters):
            found = [c for c in found if c.running or c.restarting]
        ancestors = {text: self._image_id_or_none(text) for text in filters.get("ancestor", ())}
        chosen = [c for c in found if self._container_matches(c, filters, ancestors)]
        return chosen[:limit] if limit > 0 else chosen

    def _image_id_or_none(self, name: str) -> str | None:
        try:
            return self.image_store.resolve(name)
        except ImageNotFound:
            return None

    def _container_matches(
        self,
        container: Container,
        filters: Mapping[str, Sequence[str]],
        ancestors: Mapping[str, str | None],
    ) -> bool:
        import re  # noqa: PLC0415 (only a name filter needs it)

        def any_of(key: str, test: Callable[[str], bool]) -> bool:
            return key not in filters or any(test(value) for value in filters[key])

        shown = f"/{container.name}"  # docker matches a name with its slash and without
        labels = container.config.labels if "label" in filters else {}
        status = "paused" if "status" in filters and self.paused(container) else container.state
        health = self.health(container) if "health" in filters else None
        networks = self._network_names(container) if "network" in filters else []
        return (
            any_of("id", container.id.startswith)
            and any_of(
                "name",
                lambda value: any(re.search(value, name) for name in (container.name, shown)),
            )
            and any_of("status", lambda value: value == status)
            and any_of(
                "exited",
                lambda value: (
                    container.state == "exited"
                    and container.started_at is not None
                    and str(container.exit_code) == value
                ),
            )
            and all(
                key in labels and (not has_value or labels[key] == wanted)
                for key, has_value, wanted in (v.partition("=") for v in filters.get("label", ()))
            )
            and any_of("ancestor", lambda value: container.image_id == ancestors[value])
            and any_of("health", lambda value: (health.status if health else "none") == value)
            and any_of("network", lambda value: any(n.startswith(value) for n in networks))
        )

    def _network_names(self, container: Container) -> list[str]:
        """The names and ids of the networks a container is on."""
        config = container.config
        names = {config.network, *(name for name, _, _ in config.connected)}
        by_name = {network.name: network.id for network in self.network_store.all()}
        return [*names, *(by_name[name] for name in names if name in by_name)]

    def container(self, name: str) -> Container:
        """One container by id, unique id prefix or name; ``ContainerNotFound`` otherwise.

        >>> client.container("web").state
        'running'
        """
        return self.container_store.find(name)

    def _record(self, container: Container | str) -> Container:
        return self.container(container) if isinstance(container, str) else container

    def run(
        self,
        image: str,
        command: Sequence[str] = (),
        *,
        name: str | None = None,
        remove: bool = False,
        pull: str = "missing",
        options: RunOptions | None = None,
    ) -> RunResult:
        """Create and run a container to its end with its output captured (``docker run``
        without ``-d``; stdin is /dev/null). ``command`` replaces the image's CMD; ``options``
        carry docker's other flags (not ``tty``: the output is captured); ``remove`` is --rm.

        >>> result = client.run("busybox", ["sh", "-c", "echo hi; exit 3"], remove=True)
        >>> result.exit_code, result.stdout
        (3, b'hi\\n')
        """
        import io  # noqa: PLC0415 (the CLI relays to its own streams)

        if options is not None and options.tty:
            raise ConfigError("a run whose output is captured has no terminal: leave tty off")
        container = self._create_for_run(image, command, name, remove, pull, options)
        stdout, stderr = io.BytesIO(), io.BytesIO()
        try:
            code = self.start_attached(container, stdout=stdout, stderr=stderr) or 0
        finally:
            if container.config.auto_remove:
                self.remove_container(container.id, force=True)
        return RunResult(code, stdout.getvalue(), stderr.getvalue(), container.id)

    def run_detached(
        self,
        image: str,
        command: Sequence[str] = (),
        *,
        name: str | None = None,
        remove: bool = False,
        pull: str = "missing",
        options: RunOptions | None = None,
    ) -> Container:
        """Create and start a container in the background (``docker run -d``); returns its
        record as it runs. Its output goes to its log (``logs``).

        >>> container = client.run_detached("busybox", ["sleep", "60"], name="sleeper")
        >>> container.state
        'running'
        """
        container = self._create_for_run(image, command, name, remove, pull, options)
        self.start(container)
        return self.container(container.id)

    def _create_for_run(
        self,
        image: str,
        command: Sequence[str],
        name: str | None,
        remove: bool,
        pull: str,
        options: RunOptions | None,
    ) -> Container:
        from hybridock.runtime.config import RunOptions  # noqa: PLC0415

        self.require_root()
        options = options or RunOptions()
        if isinstance(command, str):
            raise ConfigError(f"the command is a list of arguments, not a string: {command!r}")
        if command:
            options = options._replace(command=tuple(command))
        if remove:
            options = options._replace(auto_remove=True)
        return self.create_container(image, self.find_image(image, pull=pull), options, name)

    def start(self, container: Container | str) -> None:
        """Start a created or exited container in the background, under its monitor.

        >>> client.start("web")
        """
        self.require_root()
        self.runtime.start_detached(self._record(container))

    def start_attached(
        self,
        container: Container | str,
        *,
        stdin: BinaryIO | None = None,
        stdout: BinaryIO,
        stderr: BinaryIO,
        on_started: Callable[[], None] | None = None,
        handle_signals: bool = False,
    ) -> int | None:
        """Run a container in the foreground, relaying its streams (any binary files, also
        ``io.BytesIO``; ``stdin`` when it was created interactive); returns its exit code. A
        tty container with ``stdin`` on a terminal runs under its monitor, as ``docker run
        -it``: typing ctrl-p ctrl-q detaches, leaving it running, and returns None. Any
        number of threads may do this at once. ``handle_signals`` (the main thread only,
        else ``ConfigError``; the CLI asks for it): SIGINT/SIGTERM/SIGHUP/SIGQUIT go to the
        container and SIGWINCH resizes its terminal, by process-wide handlers.

        >>> client.start_attached("job", stdout=io.BytesIO(), stderr=io.BytesIO())
        0
        """
        from hybridock.runtime.tty import check_signal_handling  # noqa: PLC0415

        check_signal_handling(handle_signals)
        self.require_root()
        record = self._record(container)
        self._container_event(record, "attach")
        return self.runtime.start_attached(
            record,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            on_started=on_started,
            handle_signals=handle_signals,
        )

    def attach(
        self,
        container: Container | str,
        *,
        stdin: BinaryIO | None = None,
        stdout: BinaryIO,
        stderr: BinaryIO,
        sig_proxy: bool = True,
        detach_keys: str | None = None,
        handle_signals: bool = False,
    ) -> int | None:
        """``attach``: a detached container's output from now on, ``stdin`` into it (when it
        was created with ``-i``), until it exits: returns its exit code. With a tty, typing
        ``detach_keys`` (docker's grammar, default ``ctrl-p,ctrl-q``) leaves it running and
        returns None. ``handle_signals`` (the main thread only, else ``ConfigError``): our
        signals are proxied to it (``sig_proxy``, not with a tty) and SIGWINCH resizes its
        terminal, by process-wide handlers.

        >>> client.attach("web", stdout=sys.stdout.buffer, stderr=sys.stderr.buffer)
        0
        """
        from hybridock.runtime.tty import check_signal_handling  # noqa: PLC0415

        check_signal_handling(handle_signals)
        self.require_root()
        return self.runtime.attach(
            self._record(container),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            sig_proxy=sig_proxy,
            detach_keys=detach_keys,
            handle_signals=handle_signals,
        )

    def stop(
        self,
        container: Container | str,
        timeout: int | None = None,
        signal: str | int | None = None,
    ) -> None:
        """Send the stop signal, and SIGKILL after ``timeout`` seconds (the container's own
        stop timeout, else 10); returns once it has exited. A stopped container is left as is.

        >>> client.stop("web", timeout=2)
        """
        self.runtime.stop(self._record(container), timeout, signal)

    def kill(self, container: Container | str, signal: str | int = "SIGKILL") -> None:
        """Send a signal (``"KILL"``, ``"SIGHUP"``, ``15``) to a running container's process.

        >>> client.kill("web", "HUP")
        """
        self.runtime.kill(self._record(container), signal)

    def rename(self, container: Container | str, new_name: str) -> None:
        """``rename``: the container's name (and its name on user networks' resolvers).

        >>> client.rename("web", "frontend")
        """
        self.require_root()
        record = self._record(container)
        self.container_store.rename(record, new_name)
        renamed = record._replace(name=new_name.lstrip("/"))
        self._container_event(renamed, "rename", {"oldName": f"/{record.name}"})
        if record.running and record.config.bridged:
            self.runtime.networks.republish_names(record.id)

    def top(
        self, container: Container | str, ps_args: Sequence[str] = ()
    ) -> tuple[list[str], list[list[str]]]:
        """``top``: the host's ``ps`` (``-ef`` by default) for the container's processes, as
        (header, rows).

        >>> client.top("web")[0]
        ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']
        """
        return self.runtime.top(self._record(container), ps_args)

    def update(
        self,
        container: Container | str,
        *,
        memory: str | None = None,
        memory_swap: str | None = None,
        cpus: str | None = None,
        cpu_shares: int | None = None,
        cpuset_cpus: str | None = None,
        pids_limit: int | None = None,
        restart: str | None = None,
    ) -> None:
        """``update``: new limits for a container (what is not given stays), applied at once
        to a running one, and a new restart policy (``--restart``), which already judges the
        running process's exit.

        >>> client.update("web", memory="256m", cpus="0.5", restart="on-failure:3")
        """
        from hybridock.runtime.resources import merge_resources  # noqa: PLC0415
        from hybridock.runtime.supervision import parse_restart_policy  # noqa: PLC0415

        # docker's checks come before its lookup; an empty name ("", ":3") changes nothing
        policy = parse_restart_policy(restart) if restart else None
        if policy is not None and not policy.name:
            policy = None
        self.require_root()
        record = self._record(container)
        resources = merge_resources(
            record.config.resources,
            memory=memory,
            memory_swap=memory_swap,
            cpus=cpus,
            cpu_shares=cpu_shares,
            cpuset_cpus=cpuset_cpus,
            pids_limit=pids_limit,
        )
        self.runtime.update(record, resources, policy)

    def pause(self, container: Container | str) -> None:
        """``pause``: every process of a running container frozen (the cgroup freezer).

        >>> client.pause("web")
        """
        self.require_root()
        record = self._record(container)
        self.runtime.pause(record)
        self._container_event(record, "pause")

    def unpause(self, container: Container | str) -> None:
        """``unpause``: a paused container's processes run again.

        >>> client.unpause("web")
        """
        self.require_root()
        record = self._record(container)
        self.runtime.unpause(record)
        self._container_event(record, "unpause")

    def paused(self, container: Container | str) -> bool:
        """Whether a running container is paused.

        >>> client.paused("web")
        False
        """
        # the cgroup module alone: ps asks this of every running container, and the runtime's
        # lifecycle module would cost it ~35 ms of imports
        from hybridock.runtime import cgroups  # noqa: PLC0415

        record = self._record(container)
        return record.running and cgroups.paused(self.layout.container(record.id))

    def restart(
        self,
        container: Container | str,
        timeout: int | None = None,
        signal: str | int | None = None,
    ) -> None:
        """``stop`` (when running), then ``start``.

        >>> client.restart("web", timeout=2)
        """
        self.require_root()
        record = self._record(container)
        self.runtime.restart(record, timeout, signal)
        self._container_event(record, "restart")

    def wait(
        self,
        container: Container | str,
        condition: str = "not-running",
        *,
        stop: threading.Event | None = None,
    ) -> int:
        """Block until the container is not running (``condition``, docker's: ``next-exit``,
        the end of a run that ends after this call; ``removed``, its removal); returns the
        exit code of the run that ended. Setting ``stop`` gives up the wait (a
        ``ContainerStateError``).

        >>> client.wait("job")
        0
        >>> client.wait("job", condition="removed")  # a --rm container, started elsewhere
        3
        """
        return self.runtime.wait(self._record(container), condition, stop)

    def logs(
        self,
        container: Container | str,
        *,
        follow: bool = False,
        tail: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[tuple[str, str, str]]:
        """``(stream, time, text)`` of each log line ("stdout"/"stderr", RFC 3339, the line with
        its newline); ``follow`` keeps reading until the container exits (or ``stop``, asked
        while it waits, says true); ``tail``: the last N.

        >>> b"".join(text.encode() for _, _, text in client.logs("sleeper"))
        b'...'
        """
        record = self._record(container)
        return self.runtime.logs(record, follow=follow, tail=tail, stop=stop)

    def remove_container(
        self, container: Container | str, *, force: bool = False, volumes: bool = False
    ) -> None:
        """Delete a container and its files (``force``: kill it first if it runs; ``volumes``:
        its anonymous volumes too, as ``rm -v``).

        >>> client.remove_container("sleeper", force=True)
        """
        self.runtime.remove(self._record(container), force=force, volumes=volumes)

    def prune_containers(
        self, *, filters: Mapping[str, Sequence[str]] | None = None
    ) -> tuple[list[str], int]:
        """Remove every container that is not running (``filters``: docker's ``label``,
        ``label!`` and ``until``, as ``prune_system`` takes them); returns their ids and the
        bytes their writable layers held.

        >>> client.prune_containers(filters={"label": ["tmp"]})
        (['3f2a...'], 4096)
        """
        from hybridock.runtime.system import PruneFilter  # noqa: PLC0415

        self.require_root()
        return self._prune_stopped(PruneFilter.parse(filters or {}))

    # --- volumes ------------------------------------------------------------------------------

    @cached_property
    def volume_store(self) -> VolumeStore:
        from hybridock.runtime.volumes import VolumeStore  # noqa: PLC0415

        return VolumeStore(self.layout, self.database)

    @cached_property
    def volumes(self) -> VolumeCollection:
        """docker-py's ``client.volumes``: handles over the methods below.

        >>> client.volumes.create("pgdata").name
        'pgdata'
        """
        from hybridock.handles import VolumeCollection  # noqa: PLC0415

        return VolumeCollection(self)

    def list_volumes(self) -> list[Volume]:
        """Every volume, by name.

        >>> [v.name for v in client.list_volumes()]
        ['pgdata']
        """
        return self.volume_store.all()

    def volume(self, name: str) -> Volume:
        """A volume by name (``VolumeNotFound`` otherwise).

        >>> client.volume("pgdata").mountpoint
        '/var/lib/hybridock/volumes/pgdata/_data'
        """
        return self.volume_store.get(name)

    def create_volume(
        self,
        name: str | None = None,
        *,
        driver: str = "local",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        """``volume create``: a new volume (a random 64-hex name when none), or the existing
        one of that name.

        >>> client.create_volume("pgdata").driver
        'local'
        """
        self.require_root()
        return self.volume_store.create(name, driver=driver, labels=labels, options=options)

    def volume_users(self, name: str) -> list[str]:
        """The ids of the containers that mount the volume.

        >>> client.volume_users("pgdata")
        ['3f2a...']
        """
        return self.volume_store.users(name)

    def unused_volumes(self) -> list[Volume]:
        """The volumes no container mounts (docker's ``dangling``)."""
        used = self.volume_store.in_use()
        return [volume for volume in self.volume_store.all() if volume.name not in used]

    def remove_volume(self, name: str, *, force: bool = False) -> None:
        """``volume rm``: refused while a container mounts it (``VolumeInUse``); ``force``
        makes a missing one no error.

        >>> client.remove_volume("pgdata")
        """
        self.require_root()
        self.volume_store.remove(name, force=force)

    def prune_volumes(
        self, *, labels: Sequence[str] = (), anonymous_only: bool = False
    ) -> tuple[list[str], int]:
        """``volume prune`` as docker 20.10: every volume no container mounts, named or not
        (with ``labels``, "KEY" or "KEY=VALUE", only those that have each; with
        ``anonymous_only``, only those made without a name, as the Engine API 1.42 prunes
        unless asked for ``all``); their names and the bytes they held.

        >>> client.prune_volumes()
        (['pgdata'], 41234432)
        """
        self.require_root()
        return self._remove_unused_volumes(
            lambda volume: (
                (volume.anonymous or not anonymous_only)
                and all(volume.has_label(label) for label in labels)
            )
        )

    def volumes_matching(self, filters: Mapping[str, Sequence[str]]) -> list[Volume]:
        """``volume ls --filter``: the volumes that pass docker's filters (dangling, driver,
        label, name; values of one key OR, keys AND; another key is ``InvalidFilter``).

        >>> [v.name for v in client.volumes_matching({"dangling": ["true"]})]
        ['pgdata']
        """
        from hybridock.runtime.filters import VOLUME_FILTERS, checked, volume_matches  # noqa: PLC0415

        wanted = checked(filters, VOLUME_FILTERS)
        used = self.volume_store.in_use() if "dangling" in wanted else set()
        return [
            volume
            for volume in self.volume_store.all()
            if volume_matches(volume, wanted, unused=volume.name not in used)
        ]

    # --- networks -----------------------------------------------------------------------------

    @cached_property
    def network_store(self) -> NetworkStore:
        from hybridock.runtime.network import NetworkStore  # noqa: PLC0415

        return NetworkStore(self.database, self.config)

    @cached_property
    def networks(self) -> NetworkCollection:
        """docker-py's ``client.networks``: handles over the methods below.

        >>> client.networks.get("bridge").name
        'bridge'
        """
        from hybridock.handles import NetworkCollection  # noqa: PLC0415

        return NetworkCollection(self)

    def list_networks(self) -> list[Network]:
        """Every network, by name: docker's predefined ``bridge``, ``host`` and ``none`` and
        the user's.

        >>> [n.name for n in client.list_networks()]
        ['bridge', 'host', 'none']
        """
        return self.network_store.all()

    def network(self, name: str) -> Network:
        """A network by name, id or unique id prefix (``NetworkNotFound`` otherwise).

        >>> client.network("bridge").subnet
        '172.17.0.0/16'
        """
        return self.network_store.find(name)

    def create_network(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str | None = None,
        gateway: str | None = None,
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Network:
        """``network create``: a bridge network whose containers resolve each other by name.

        >>> client.create_network("backend", subnet="10.20.0.0/24").gateway
        '10.20.0.1'
        """
        self.require_root()
        network = self.network_store.create(
            name,
            driver=driver,
            subnet=subnet,
            gateway=gateway,
            internal=internal,
            labels=labels,
            options=options,
        )
        self._network_event(network, "create")
        return network

    def _network_event(
        self, network: Network, action: str, container: Container | None = None
    ) -> None:
        """docker's network event: the network's name and type (and the container's id)."""
        from hybridock.store import events  # noqa: PLC0415

        attributes = {"name": network.name, "type": network.driver}
        if container is not None:
            attributes["container"] = container.id
        self._emit([events.event("network", action, network.id, dict(sorted(attributes.items())))])

    def remove_network(self, name: str) -> None:
        """``network rm``: refused for the predefined networks and one in use.

        >>> client.remove_network("backend")
        """
        self.require_root()
        network = self.network_store.find(name)
        self.network_store.remove(network)
        self.runtime.networks.forget_network(network)
        self._network_event(network, "destroy")

    def prune_networks(self) -> list[str]:
        """``network prune``: removes the user's networks no container names; their names.

        >>> client.prune_networks()
        ['backend']
        """
        self.require_root()
        removed = []
        for network in self.network_store.all():
            if network.predefined or self.network_store.in_use(network):
                continue
            self.network_store.remove(network)
            self.runtime.networks.forget_network(network)
            self._network_event(network, "destroy")
            removed.append(network.name)
        return removed

    def networks_matching(self, filters: Mapping[str, Sequence[str]]) -> list[Network]:
        """``network ls --filter``: the networks that pass docker's filters (dangling, driver,
        id, label, name, scope, type; values of one key OR, keys AND; another key is
        ``InvalidFilter``).

        >>> [n.name for n in client.networks_matching({"type": ["custom"]})]
        ['backend']
        """
        from hybridock.runtime.filters import NETWORK_FILTERS, checked, network_matches  # noqa: PLC0415

        wanted = checked(filters, NETWORK_FILTERS)
        return [
            network
            for network in self.network_store.all()
            if network_matches(network, wanted, dangling=self._network_unused)
        ]

    def _network_unused(self, network: Network) -> bool:
        return not self.network_store.in_use(network) and not self.network_store.endpoints(
            network_id=network.id
        )

    def network_containers(self, network: Network | str) -> list[tuple[Container, Endpoint]]:
        """The running containers on a network, with their endpoints.

        >>> [(c.name, e.address) for c, e in client.network_containers("bridge")]
        [('web', '172.17.0.2')]
        """
        record = network if not isinstance(network, str) else self.network(network)
        found = []
        for endpoint in self.network_store.endpoints(network_id=record.id):
            container = self.container_store.get(endpoint.container_id)
            found.append((container, endpoint))
        return found

    def container_endpoints(self, container: Container | str) -> list[tuple[Network, Endpoint]]:
        """A running container's places on its networks, primary first.

        >>> [(n.name, e.address) for n, e in client.container_endpoints("web")]
        [('bridge', '172.17.0.2')]
        """
        record = self._record(container)
        by_id = {network.id: network for network in self.network_store.all()}
        return [
            (by_id[endpoint.network_id], endpoint)
            for endpoint in self.network_store.endpoints(container_id=record.id)
            if endpoint.network_id in by_id
        ]

    def published_ports(self, container: Container | str) -> list[PortBinding]:
        """A running container's published ports, host ports as picked.

        >>> client.published_ports("web")
        [PortBinding(protocol='tcp', container_port=80, host_ip='', host_port=8080, ...)]
        """
        from hybridock.runtime.ports import ANY_IPV4, PortBinding  # noqa: PLC0415

        record = self._record(container)
        return [
            PortBinding(
                port.protocol,
                port.container_port,
                "" if port.host_ip == ANY_IPV4 else port.host_ip,
                port.host_port,
            )
            for port in self.network_store.published(record.id)
        ]

    def port_map(self, container: Container | str) -> dict[str, list[dict[str, str]] | None]:
        """docker's ``NetworkSettings.Ports``: each exposed or published port of a running
        container with its host bindings (null when only exposed); ``{}`` when not running.

        >>> client.port_map("web")
        {'80/tcp': [{'HostIp': '0.0.0.0', 'HostPort': '8080'}]}
        """
        from hybridock.runtime import ports  # noqa: PLC0415

        record = self._record(container)
        if not record.running:
            return {}
        exposed = [port for key in record.config.exposed for port in ports.Port.parse(key)]
        return ports.network_ports(exposed, self.published_ports(record))

    def port_bindings(self, container: Container | str) -> dict[str, list[dict[str, str]]]:
        """docker's ``HostConfig.PortBindings``: the container's ``-p`` as asked.

        >>> client.port_bindings("web")
        {'80/tcp': [{'HostIp': '', 'HostPort': '8080'}]}
        """
        from hybridock.runtime import ports  # noqa: PLC0415

        return ports.port_bindings_json(self._record(container).config.publish)

    def exposed_ports(self, container: Container | str) -> dict[str, dict[str, dict[str, Any]]]:
        """docker's ``Config.ExposedPorts`` as the key-value pair inspect shows (no key when
        the container exposes nothing, as docker omits it).

        >>> client.exposed_ports("web")
        {'ExposedPorts': {'80/tcp': {}}}
        """
        from hybridock.runtime import ports  # noqa: PLC0415

        exposed = [
            port for key in self._record(container).config.exposed for port in ports.Port.parse(key)
        ]
        shown = ports.exposed_ports_json(exposed)
        return {"ExposedPorts": shown} if shown else {}

    def connect_network(
        self,
        network: str,
        container: Container | str,
        *,
        aliases: Sequence[str] = (),
        ip: str = "",
    ) -> None:
        """``network connect``: the container joins ``network`` now if running, and at every
        start.

        >>> client.connect_network("backend", "web", aliases=["api"])
        """
        self.require_root()
        record = self._record(container)
        joined = self.network_store.find(network)
        self.runtime.networks.connect(joined, record, aliases=tuple(aliases), ip=ip)
        self._network_event(joined, "connect", record)

    def disconnect_network(
        self, network: str, container: Container | str, *, force: bool = False
    ) -> None:
        """``network disconnect``: the container leaves ``network``.

        >>> client.disconnect_network("backend", "web")
        """
        self.require_root()
        del force  # docker's --force only matters for swarm's stale endpoints
        record = self._record(container)
        left = self.network_store.find(network)
        self.runtime.networks.disconnect(left, record)
        self._network_event(left, "disconnect", record)

    def require_root(self) -> None:
        """``NotPermitted`` unless this process may run containers (root with CAP_SYS_ADMIN;
        rootless containers are not supported yet). ``run``, ``create_container``, ``start``,
        ``restart`` and ``exec`` check it first (before any pull); a caller may check earlier.

        >>> client.require_root()
        """
        if self._may_run_containers:
            return
        from hybridock.runtime.privileges import require_root  # noqa: PLC0415

        require_root()
        self._may_run_containers = True

    def running_container(self, container: Container | str) -> Container:
        """The container's current record; ``ContainerStateError`` unless it is running.

        >>> client.running_container("web").pid
        4242
        """
        from hybridock.runtime.exec import Executor  # noqa: PLC0415

        return Executor(self.runtime).running(self._record(container))

    def exec(
        self,
        container: Container | str,
        options: ExecOptions,
        *,
        stdin: BinaryIO | None = None,
        stdout: BinaryIO,
        stderr: BinaryIO,
        handle_signals: bool = False,
    ) -> int:
        """Run a process in a running container to its end, relaying its streams (any binary
        files, also ``io.BytesIO``); returns its exit code. ``ContainerStateError`` when the
        container is not running. ``handle_signals`` as ``start_attached``'s.

        >>> client.exec("web", ExecOptions(("ls", "/")), stdout=out, stderr=err)
        0
        """
        from hybridock.runtime.exec import Executor  # noqa: PLC0415
        from hybridock.runtime.tty import check_signal_handling  # noqa: PLC0415

        check_signal_handling(handle_signals)
        self.require_root()
        record = Executor(self.runtime).running(self._record(container))
        exec_id = self._exec_events(record, options)
        code = Executor(self.runtime).run_attached(
            record,
            options,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            handle_signals=handle_signals,
        )
        self._container_event(record, "exec_die", {"execID": exec_id, "exitCode": str(code)})
        return code

    def _exec_events(
        self, record: Container, options: ExecOptions, exec_id: str | None = None
    ) -> str:
        """docker's exec_create and exec_start ("exec_start: sh -c ..."); the exec's id."""

        from hybridock.runtime.containers import container_event  # noqa: PLC0415

        exec_id = exec_id or os.urandom(32).hex()
        command = " ".join(options.command[:1]) + " " + " ".join(options.command[1:])
        extra = {"execID": exec_id}
        self._emit(
            [
                container_event(record, f"{step}: {command}", extra)
                for step in ("exec_create", "exec_start")
            ]
        )
        return exec_id

    def exec_detached(
        self, container: Container | str, options: ExecOptions, *, exec_id: str | None = None
    ) -> int:
        """Start a process in a running container on /dev/null and leave it; returns its
        host pid (it ends with the container at the latest).

        >>> client.exec_detached("web", ExecOptions(("sleep", "5")))
        4242
        """
        from hybridock.runtime.exec import Executor  # noqa: PLC0415

        self.require_root()
        record = Executor(self.runtime).running(self._record(container))
        self._exec_events(record, options, exec_id)
        return Executor(self.runtime).start_detached(record, options)

    # --- streams a caller relays itself (the Engine API's attach and exec) --------------------

    def start_linked(self, container: Container | str, links: int = 0) -> list[AttachLink]:
        """``start``, with ``links`` connections to the container's monitor made before its
        process is spawned (none missing its first output), for a caller that relays them in
        its own loop; none for a container waiting to restart. Safe in any thread.

        >>> [link] = client.start_linked("job", links=1)
        >>> link.read(link.fileno())
        [(1, b'hi\\n')]
        """
        from hybridock.runtime.attach import AttachLink  # noqa: PLC0415

        self.require_root()
        record = self._record(container)
        if links:
            self._container_event(record, "attach")
        once = record.config.stdin_once
        connections = self.runtime.start_linked(record, links)
        return [AttachLink(connection, stdin_once=once) for connection in connections]

    def link(self, container: Container | str) -> AttachLink:
        """A connection to a running container's monitor (its output from now on, its input,
        its pty's size, its exit code), for a caller that relays it: ``attach`` without the
        terminal. ``ContainerStateError`` when it is not running.

        >>> link = client.link("web")
        """
        from hybridock.runtime.attach import AttachLink  # noqa: PLC0415

        self.require_root()
        record = self._record(container)
        link = AttachLink(self.runtime.connect(record), stdin_once=record.config.stdin_once)
        self._container_event(record, "attach")
        return link

    def resize(self, container: Container | str, rows: int, columns: int) -> None:
        """The size of a running tty container's pty (nothing without a tty), through its
        monitor; ``ContainerStateError`` when it is not running.

        >>> client.resize("shell", 40, 120)
        """
        from hybridock.runtime.attach import resize_frame  # noqa: PLC0415

        self.require_root()
        record = self._record(container)
        connection = self.runtime.connect(record)
        with connection:
            if record.config.tty:
                connection.sendall(resize_frame(rows, columns))

    def start_exec(
        self,
        container: Container | str,
        options: ExecOptions,
        *,
        console_size: tuple[int, int] | None = None,
        exec_id: str | None = None,
    ) -> ExecProcess:
        """Start a process in a running container on pipes (stdin with ``interactive``) or a
        pty (``tty``, of ``console_size`` rows and columns), for a caller that relays them and
        reaps it (``wait``); ``exec_id`` names it in the events.

        >>> process = client.start_exec("web", ExecOptions(("ls", "/")))
        >>> process.wait()
        0
        """
        from hybridock.runtime.exec import Executor  # noqa: PLC0415

        self.require_root()
        executor = Executor(self.runtime)
        record = executor.running(self._record(container))
        self._exec_events(record, options, exec_id)
        return executor.start_piped(record, options, console_size)

    def exec_ended(self, container: Container | str, exec_id: str, exit_code: int) -> None:
        """docker's exec_die event, for an exec started by ``start_exec`` once it was reaped.

        >>> client.exec_ended("web", process_id, process.wait())
        """
        with contextlib.suppress(HybridockError):  # the container may be gone meanwhile
            record = self._record(container)
            self._container_event(
                record, "exec_die", {"execID": exec_id, "exitCode": str(exit_code)}
            )

    def stats(self, container: Container | str) -> Stats:
        """A running container's counters from its cgroups (CPU time, memory, block I/O,
        pids); all zero for one that is not running.

        >>> client.stats("web").memory_usage
        2207744
        """
        from hybridock.runtime import cgroups  # noqa: PLC0415
        from hybridock.runtime.system import network_bytes  # noqa: PLC0415

        record = self._record(container)
        cgroup = cgroups.load(self.layout.container(record.id)) if record.running else None
        counters = cgroup.stats() if cgroup else cgroups.Stats()
        received, sent = network_bytes(record)
        return counters._replace(network_received=received, network_sent=sent)

    def host_counters(self) -> HostCounters:
        """The host's side of a stats sample: its memory, all its CPUs' time, their number.

        >>> client.host_counters().online_cpus
        2
        """
        from hybridock.runtime.system import host_counters  # noqa: PLC0415

        return host_counters()

    def copy_from_container(
        self,
        container: Container | str,
        path: str,
        destination: str | BinaryIO,
        *,
        archive: bool = False,
        follow_link: bool = False,
    ) -> None:
        """docker's ``cp CONTAINER:PATH DEST``: to a host path, or as a tar stream into a
        binary file. Every container path is resolved inside the container's root.

        >>> client.copy_from_container("web", "/etc/nginx", "./nginx")
        """
        from hybridock.runtime.files import Files  # noqa: PLC0415

        Files(self.runtime).copy_out(
            self._record(container), path, destination, archive=archive, follow=follow_link
        )

    def copy_to_container(
        self,
        container: Container | str,
        source: str | BinaryIO,
        path: str,
        *,
        archive: bool = False,
        follow_link: bool = False,
    ) -> None:
        """docker's ``cp SRC CONTAINER:PATH``: a host path, or a tar stream (``path`` must be
        a directory then); owned by root unless ``archive`` keeps the source's uid and gid.

        >>> client.copy_to_container("web", "./site", "/usr/share/nginx/html")
        """
        from hybridock.runtime.files import Files  # noqa: PLC0415

        Files(self.runtime).copy_in(
            self._record(container), source, path, archive=archive, follow=follow_link
        )

    def container_path_stat(self, container: Container | str, path: str) -> dict[str, Any]:
        """docker's stat of a path in a container (the Engine API's
        ``X-Docker-Container-Path-Stat``): name, size, mode (Go's ``os.FileMode``), mtime
        (RFC 3339), linkTarget; ``ContainerPathNotFound`` when it is not there.

        >>> client.container_path_stat("web", "/etc/hostname")["size"]
        13
        """
        from datetime import UTC, datetime  # noqa: PLC0415

        from hybridock.runtime.files import Files  # noqa: PLC0415

        found = Files(self.runtime).stat(self._record(container), path)
        seconds, nanoseconds = divmod(found.mtime, 10**9)
        moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        fraction = f".{nanoseconds:09d}".rstrip("0").rstrip(".")
        return {
            "name": found.name,
            "size": found.size,
            "mode": found.mode,
            "mtime": f"{moment}{fraction}Z",
            "linkTarget": found.link_target,
        }

    def container_changes(self, container: Container | str) -> list[tuple[str, str]]:
        """docker's ``diff``: ("A"|"C"|"D", path) for what the container changed.

        >>> client.container_changes("web")
        [('C', '/etc'), ('A', '/etc/motd')]
        """
        from hybridock.runtime.files import Files  # noqa: PLC0415

        return Files(self.runtime).changes(self._record(container))

    def export_container(self, container: Container | str, out: BinaryIO) -> None:
        """docker's ``export``: the container's filesystem as a tar stream.

        >>> client.export_container("web", open("web.tar", "wb"))
        """
        from hybridock.runtime.files import Files  # noqa: PLC0415

        Files(self.runtime).export(self._record(container), out)

    # --- commit -------------------------------------------------------------------------------

    def commit(
        self,
        container: Container | str,
        reference: str | None = None,
        *,
        author: str | None = None,
        message: str | None = None,
        changes: Sequence[str] = (),
        pause: bool = True,
        config: Mapping[str, Any] | None = None,
    ) -> str:
        """docker's ``commit``: a new image of the container's changes over its image, tagged
        ``reference`` (``REPOSITORY[:TAG]``) if given; ``changes`` are Dockerfile instructions
        (``-c``); a running container is paused meanwhile unless ``pause`` is false;
        ``config``: a container config to commit instead of the container's (the Engine API's
        body, merged with the container's as docker does). Returns the image id.

        >>> client.commit("web", "web:snapshot", message="before the upgrade")
        'sha256:...'
        """
        from hybridock.images import commit  # noqa: PLC0415
        from hybridock.reference import Reference  # noqa: PLC0415

        target = None
        if reference:
            target = Reference.parse(reference)
            if target.digest is not None:
                raise InvalidReference("refusing to create a tag with a digest reference")
        record = self._record(container)
        commit.check_changes(changes)
        paused_here = pause and record.running and not self.paused(record)
        if paused_here:
            self.pause(record)
        try:
            made = commit.commit_container(
                self.runtime,
                record,
                target,
                author=author or "",
                message=message or "",
                changes=changes,
                config=config,
            )
        finally:
            if paused_here:
                self.unpause(record)
        shown = target.familiar if target is not None else ""
        self._container_event(
            record, "commit", {"comment": message or "", "imageID": made.id, "imageRef": shown}
        )
        if target is not None:
            self._emit([self._image_event("tag", made.id, attributes={"name": shown})])
        return made.id

    def build(
        self,
        context: str | Path | BinaryIO | None,
        options: BuildOptions | None = None,
        *,
        progress: Callable[[BuildEvent], None] | None = None,
    ) -> BuildResult:
        """docker build: the image of the Dockerfile in ``context`` (or ``options``'), built
        with BuildKit's semantics and cache; tagged with every ``options.tags``. ``context``
        may be a tar stream (the Engine API's body): unpacked for the build, its
        ``options.dockerfile`` then a path inside it.

        >>> client.build(".", BuildOptions(tags=("app:1",))).image_id
        'sha256:...'
        """
        from hybridock.build import options as building  # noqa: PLC0415

        def resolve_base(name: str, pull: bool) -> str:
            return self.find_image(name, pull="always" if pull else "missing")

        self.require_root()
        options = options or building.BuildOptions()
        if context is not None and not isinstance(context, (str, Path)):
            from hybridock.build import archive_context  # noqa: PLC0415

            with archive_context.unpacked(self.layout, context) as root:
                inside = archive_context.dockerfile_inside(root, options.dockerfile)
                return self.build(
                    root, dataclasses.replace(options, dockerfile=inside), progress=progress
                )
        made = building.build(
            self.layout,
            self.image_store,
            Path(context) if context is not None else None,
            options,
            resolve_base=resolve_base,
            networks=lambda: self.runtime.networks,
            progress=progress,
        )
        for tag in made.tags:
            self._emit([self._image_event("tag", made.image_id, attributes={"name": tag})])
        return made

    def prune_build_cache(self, *, all: bool = False) -> int:
        """docker builder prune: the cache entries (``all``: every one, else those no image
        uses), the layers only they kept and the cache mounts; the bytes reclaimed."""
        from hybridock.build import cache  # noqa: PLC0415

        return cache.prune(self.image_store, everything=all)

    # --- docker's documents -------------------------------------------------------------------

    def inspect_container(self, container: Container | str) -> dict[str, Any]:
        """docker's ``inspect`` document of a container (also the Engine API's
        ``GET /containers/{id}/json``).

        >>> client.inspect_container("web")["State"]["Status"]
        'running'
        """
        from hybridock.documents.containers import inspect_container  # noqa: PLC0415

        return inspect_container(self, self._record(container))

    def container_summary(
        self, container: Container | str, *, size: bool = False
    ) -> dict[str, Any]:
        """The Engine API's ``GET /containers/json`` entry of a container (``size``: with
        SizeRw, what it wrote, and SizeRootFs, that and its image).

        >>> client.container_summary("web")["Status"]
        'Up 2 minutes'
        """
        from hybridock.documents.containers import container_summary  # noqa: PLC0415

        return container_summary(self, self._record(container), size=size)

    def container_summaries(
        self, containers: Iterable[Container], *, size: bool = False
    ) -> list[dict[str, Any]]:
        """``container_summary`` of each of ``containers`` (``ps``, ``GET /containers/json``),
        with one lookup of the store's networks for all of them; one removed since it was
        listed is left out.

        >>> [entry["Names"] for entry in client.container_summaries(client.list_containers())]
        [['/web']]
        """
        from hybridock.documents.containers import container_summary  # noqa: PLC0415
        from hybridock.errors import ContainerNotFound  # noqa: PLC0415

        known = {network.name: network for network in self.list_networks()}
        entries = []
        for container in containers:
            with contextlib.suppress(ContainerNotFound):
                entries.append(container_summary(self, container, size=size, known_networks=known))
        return entries

    def inspect_image(self, image: ImageRecord | str) -> dict[str, Any]:
        """docker's ``image inspect`` document (also ``GET /images/{name}/json``).

        >>> client.inspect_image("busybox")["RepoTags"]
        ['busybox:latest']
        """
        from hybridock.documents.images import inspect_image  # noqa: PLC0415

        return inspect_image(self, self.image(image) if isinstance(image, str) else image)

    def image_summary(
        self, image: ImageRecord | str, *, api_version: tuple[int, int] = (1, 41)
    ) -> dict[str, Any]:
        """The Engine API's ``GET /images/json`` entry of an image (VirtualSize only for an
        ``api_version`` before 1.44).

        >>> client.image_summary("busybox")["RepoTags"]
        ['busybox:latest']
        """
        from hybridock.documents.images import image_summary  # noqa: PLC0415

        record = self.image(image) if isinstance(image, str) else image
        return image_summary(record, api_version=api_version)

    def inspect_network(self, network: Network | str) -> dict[str, Any]:
        """docker's ``network inspect`` document (also ``GET /networks/{id}``).

        >>> client.inspect_network("bridge")["IPAM"]["Config"]
        [{'Subnet': '172.17.0.0/16', 'Gateway': '172.17.0.1'}]
        """
        from hybridock.documents.networks import inspect_network  # noqa: PLC0415

        return inspect_network(self, self.network(network) if isinstance(network, str) else network)

    def inspect_volume(self, volume: Volume | str) -> dict[str, Any]:
        """docker's ``volume inspect`` document (also ``GET /volumes/{name}``).

        >>> client.inspect_volume("pgdata")["Mountpoint"]
        '/var/lib/hybridock/volumes/pgdata/_data'
        """
        from hybridock.documents.volumes import inspect_volume  # noqa: PLC0415

        return inspect_volume(self.volume(volume) if isinstance(volume, str) else volume)

    # --- events, system -----------------------------------------------------------------------

    def events(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        filters: Mapping[str, Sequence[str]] | None = None,
        follow: bool = True,
        stop: threading.Event | None = None,
    ) -> Iterator[dict[str, Any]]:
        """docker's event documents from the store's event log (every hybridock process
        appends what it does): ``since``/``until`` in Unix nanoseconds; without ``since``
        only new ones. ``follow`` waits for new ones until ``until`` (forever without it),
        unless ``until`` has passed, or ``stop`` is set. ``filters`` as ``events --filter``
        (key -> values; as docker 20.10, a key it does not know filters nothing).

        >>> [e["Action"] for e in client.events(since=0, until=time.time_ns())]
        ['create', 'start', 'die']
        """
        import time  # noqa: PLC0415

        from hybridock.store import events  # noqa: PLC0415

        wanted = {key: list(values) for key, values in (filters or {}).items() if values}
        if since is not None and until is not None and until < since:
            raise ConfigError("`since` time cannot be after `until` time")
        follow = follow and (until is None or until >= time.time_ns())
        past = since is not None or until is not None
        documents = events.read(self.layout.root, past=past, follow=follow, until=until, stop=stop)
        for document in documents:
            moment = int(document.get("timeNano", 0))
            if since is not None and moment < since:
                continue
            if until is not None and moment > until:
                continue
            if events.matches(document, wanted):
                yield document

    def info(self) -> dict[str, Any]:
        """docker's ``info`` document (``system info``), with what is true of hybridock here:
        the store's counts, overlay2 over the store's filesystem, the cgroup version, the
        host's kernel, OS, CPUs and memory.

        >>> client.info()["CgroupVersion"]
        '2'
        """
        from hybridock import __version__  # noqa: PLC0415
        from hybridock.runtime import system  # noqa: PLC0415

        containers = self.list_containers(all_states=True)
        running = [container for container in containers if container.running]
        paused = sum(1 for container in running if self.paused(container))
        counts = system.Counts(
            len(containers), len(running) - paused, paused, len(self.list_images())
        )
        return system.info_document(self.root, counts, self.config, __version__)

    def version(self) -> dict[str, Any]:
        """docker's ``version`` document: hybridock is both the client and the engine (one
        process, no API between them), so both say hybridock's version.

        >>> client.version()["Server"]["Version"]
        '0.1.0'
        """
        from hybridock import __version__  # noqa: PLC0415
        from hybridock.runtime import system  # noqa: PLC0415

        return system.version_document(__version__)

    def disk_usage(self) -> DiskUsage:
        """docker's ``system df`` data: each image with its size, the bytes it shares with
        other images and its containers' count; each container with the size of what it
        wrote (its upper dir); each volume with its size and users.

        >>> client.disk_usage().layers_size
        4261550
        """
        from hybridock.runtime.system import (  # noqa: PLC0415
            ContainerUsage,
            DiskUsage,
            ImageUsage,
            VolumeUsage,
        )
        from hybridock.store.layout import tree_size  # noqa: PLC0415

        images = self.list_images()
        containers = self.list_containers(all_states=True)
        users: dict[str, int] = {}
        for container in containers:
            users[container.image_id] = users.get(container.image_id, 0) + 1
        layer_users: dict[str, int] = {}
        for image in images:
            for chain in set(image.chain_ids):
                layer_users[chain] = layer_users.get(chain, 0) + 1
        sizes = self.image_store.unpacked_sizes(layer_users)
        image_usage = [
            ImageUsage(
                image,
                sum(sizes[chain] for chain in set(image.chain_ids)),
                sum(sizes[chain] for chain in set(image.chain_ids) if layer_users[chain] > 1),
                users.get(image.id, 0),
            )
            for image in images
        ]
        container_usage = [
            ContainerUsage(container, tree_size(self.layout.container(container.id) / "upper"))
            for container in containers
        ]
        volume_usage = [
            VolumeUsage(volume, self.volume_store.size(volume), len(self.volume_users(volume.name)))
            for volume in self.list_volumes()
        ]
        from hybridock.build import cache  # noqa: PLC0415

        return DiskUsage(
            sum(sizes.values()),
            image_usage,
            container_usage,
            volume_usage,
            tuple(cache.usage(self.image_store)),  # type: ignore[arg-type]
        )

    def prune_system(
        self,
        *,
        all_images: bool = False,
        volumes: bool = False,
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> SystemPruneReport:
        """``system prune``: stopped containers, networks no container names, dangling images
        (``all_images``: every image no container uses), the build cache no image uses (all of
        it with ``all_images``; kept when ``filters`` are given) and, with ``volumes``, the
        volumes no container mounts (docker 20.10's: named ones too, as ``volume prune``);
        ``filters`` as docker's: ``label`` (KEY, KEY=VALUE), ``label!`` and ``until`` (Unix
        nanoseconds as text: what was created before).

        >>> client.prune_system(volumes=True).reclaimed
        4261550
        """
        from hybridock.runtime.system import PruneFilter, SystemPruneReport  # noqa: PLC0415

        chosen = PruneFilter.parse(filters or {})
        self.require_root()
        containers, reclaimed = self._prune_stopped(chosen)
        networks = self._prune_networks(chosen)
        removed_volumes: list[str] = []
        if volumes:
            removed_volumes, volume_bytes = self._prune_unused_volumes(chosen)
            reclaimed += volume_bytes
        images, image_bytes = self._prune_images(chosen, all_images=all_images)
        if not filters:  # docker's: the unused build cache too (-a: all of it)
            reclaimed += self.prune_build_cache(all=all_images)
        return SystemPruneReport(
            containers, networks, removed_volumes, images, reclaimed + image_bytes
        )

    def _prune_stopped(self, chosen: PruneFilter) -> tuple[list[str], int]:
        from hybridock.store.layout import tree_size  # noqa: PLC0415

        removed, reclaimed = [], 0
        for container in self.list_containers(all_states=True):
            stopped = not (container.running or container.restarting)  # docker: both run
            if not stopped or not chosen.takes(container.config.labels, container.created):
                continue
            size = tree_size(self.layout.container(container.id) / "upper")
            self.runtime.remove(container)
            removed.append(container.id)
            reclaimed += size
        return removed, reclaimed

    def _prune_networks(self, chosen: PruneFilter) -> list[str]:
        removed = []
        for network in self.network_store.all():
            if network.predefined or self.network_store.in_use(network):
                continue
            if chosen.takes(network.labels, network.created):
                self.network_store.remove(network)
                self.runtime.networks.forget_network(network)
                self._network_event(network, "destroy")
                removed.append(network.name)
        return removed

    def _prune_unused_volumes(self, chosen: PruneFilter) -> tuple[list[str], int]:
        return self._remove_unused_volumes(lambda volume: chosen.takes(volume.labels, None))

    def _remove_unused_volumes(self, chosen: Callable[[Volume], bool]) -> tuple[list[str], int]:
        """The volumes no container mounts that ``chosen`` takes, removed: their names and the
        bytes they held (one taken meanwhile is left)."""
        removed, reclaimed = [], 0
        for volume in self.unused_volumes():
            if not chosen(volume):
                continue
            size = self.volume_store.size(volume)
            try:
                self.volume_store.remove(volume.name)
            except HybridockError:
                continue  # taken meanwhile
            removed.append(volume.name)
            reclaimed += size
        return removed, reclaimed

    def _prune_images(self, chosen: PruneFilter, *, all_images: bool) -> tuple[RemovalReport, int]:
        """Dangling (or unused) images the filter takes; the bytes of the layers that went."""
        before = {image.id: image for image in self.list_images()}
        layers_before = self._layers_size(before.values())
        if chosen.filters:
            from hybridock.runtime.system import epoch  # noqa: PLC0415
            from hybridock.store.images import RemovalReport  # noqa: PLC0415

            report = RemovalReport([], [])
            used = {container.image_id for container in self.list_containers(all_states=True)}
            for image in before.values():
                if image.id in used or (image.tags and not all_images):
                    continue
                labels = (image.config.get("config") or {}).get("Labels") or {}
                if chosen.takes(labels, epoch(image.created)):
                    done = self.image_store.remove(image.id, force=True)
                    report.untagged.extend(done.untagged)
                    report.deleted.extend(done.deleted)
        else:
            report = self.image_store.prune(dangling_only=not all_images)
        gone = [image for image in report.deleted if image in before]
        self._emit([self._image_event("delete", image, image=before[image]) for image in gone])
        return report, layers_before - self._layers_size(self.list_images())

    def _layers_size(self, images: Iterable[ImageRecord]) -> int:
        """Every layer of ``images`` once, as docker's overlay2 counts a layer (its DiffSize:
        the extracted tree's apparent sizes, recorded at extraction), not the tar's length."""
        chains = {chain for image in images for chain in image.chain_ids}
        return sum(self.image_store.unpacked_sizes(chains).values())

    def close(self) -> None:
        """Close the store's database (``with Client() as client:`` does it at the end)."""
        if "database" in self.__dict__:
            self.database.close()
