"""``hybridock.Client``: the Python API. The CLI is a thin layer over it.

A client owns one store root (opened lazily, so ``hybridock --help`` touches nothing) and one
configuration. Every method either returns typed records or raises a ``HybridockError``; none
prints or exits.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from hybridock.errors import ImageNotFound, InvalidReference
from hybridock.store.db import Database
from hybridock.store.layout import Layout, default_root

if TYPE_CHECKING:
    # Each part is imported where it is first used: a CLI process pays only for what its
    # command needs (the registry stack alone is ~100 ms, the container runtime ~40 ms).
    from hybridock.config import Config
    from hybridock.reference import Reference
    from hybridock.registry import RegistryClient
    from hybridock.runtime.config import RunOptions
    from hybridock.runtime.containers import Container, ContainerStore
    from hybridock.runtime.lifecycle import Runtime
    from hybridock.store.images import ImageRecord, ImageStore, RemovalReport
    from hybridock.store.pull import PullProgress, PullResult


class Client:
    def __init__(self, root: str | Path | None = None, config: Config | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._config = config

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
    ) -> PullResult:
        from hybridock.reference import Reference  # noqa: PLC0415
        from hybridock.registry import parse_platform  # noqa: PLC0415
        from hybridock.store.pull import Puller  # noqa: PLC0415

        parsed = reference if isinstance(reference, Reference) else Reference.parse(reference)
        puller = Puller(
            self.layout,
            self.image_store,
            self.registry,
            concurrency=self.config.max_concurrent_downloads,
            progress=progress,
            max_layer_size=self.config.max_layer_size,
            max_layer_entries=self.config.max_layer_entries,
        )
        return puller.pull(parsed, parse_platform(platform) if platform else None)

    def images(self) -> list[ImageRecord]:
        return self.image_store.all()

    def image(self, name: str) -> ImageRecord:
        return self.image_store.get(self.image_store.resolve(name))

    def remove_image(self, name: str, *, force: bool = False) -> RemovalReport:
        return self.image_store.remove(name, force=force)

    def prune_images(self, *, all_unused: bool = False) -> RemovalReport:
        return self.image_store.prune(dangling_only=not all_unused)

    # --- containers ---------------------------------------------------------------------------

    @cached_property
    def container_store(self) -> ContainerStore:
        from hybridock.runtime.containers import ContainerStore  # noqa: PLC0415

        return ContainerStore(self.layout, self.database)

    @cached_property
    def runtime(self) -> Runtime:
        from hybridock.runtime.lifecycle import Runtime  # noqa: PLC0415

        return Runtime(self.layout, self.image_store, self.container_store)

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
        ``on_pulled`` hears of every pull it makes, up to date or not."""
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

    def create_container(
        self, image: str, image_id: str, options: RunOptions, name: str | None = None
    ) -> Container:
        from hybridock.runtime.config import merge  # noqa: PLC0415

        container_id = self.container_store.new_id()
        record = self.image_store.get(image_id)
        config = merge(image, image_id, record.config, container_id, options)
        return self.container_store.create(config, name, container_id)

    def containers(self, *, all_states: bool = True) -> list[Container]:
        found = self.container_store.all()
        return found if all_states else [c for c in found if c.running]

    def container(self, name: str) -> Container:
        return self.container_store.find(name)

    def close(self) -> None:
        if "database" in self.__dict__:
            self.database.close()
