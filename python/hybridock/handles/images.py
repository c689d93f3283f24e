"""``client.images`` and its handles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hybridock.handles.common import Handle

if TYPE_CHECKING:
    from hybridock.client import (
        Client,
        Credentials,
        HistoryEntry,
        ImageRecord,
        PullProgress,
        PushProgress,
        PushResult,
        RemovalReport,
    )


class ImageHandle(Handle):
    """An image: ``record`` is its ``ImageRecord`` as last read."""

    def __init__(self, client: Client, record: ImageRecord) -> None:
        super().__init__(client)
        self.record = record
        self.id = record.id

    @property
    def tags(self) -> list[str]:
        """Its tags as docker shows them.

        >>> client.images.get("busybox").tags
        ['busybox:latest']
        """
        from hybridock.reference import Reference  # noqa: PLC0415

        return [Reference.parse(tag).familiar for tag in self.record.tags]

    @property
    def labels(self) -> dict[str, str]:
        """Its config's labels.

        >>> client.images.get("nginx").labels
        {'maintainer': 'NGINX Docker Maintainers <docker-maint@nginx.com>'}
        """
        return dict((self.record.config.get("config") or {}).get("Labels") or {})

    def _inspect(self) -> dict[str, Any]:
        return self.client.inspect_image(self.record)

    def reload(self) -> None:
        """Read its record again (``tags``, ``attrs``).

        >>> image.reload()
        """
        self.record = self.client.image(self.id)
        self._attrs = None

    def history(self) -> list[HistoryEntry]:
        """docker's ``history`` of it, newest step first.

        >>> [step.size for step in client.images.get("busybox").history()]
        [0, 4261550]
        """
        return self.client.image_history(self.id)

    def tag(self, repository: str, tag: str | None = None) -> bool:
        """docker-py's ``Image.tag``: name it ``repository:tag`` (latest when no tag).

        >>> client.images.get("busybox").tag("localhost:5000/tools/busybox", "1")
        True
        """
        self.client.tag(self.id, f"{repository}:{tag}" if tag else repository)
        self.reload()
        return True

    def remove(self, *, force: bool = False) -> RemovalReport:
        """Delete it with all its tags, as ``rmi -f ID`` (``force``: also while a stopped
        container uses it); what was untagged and deleted.

        >>> client.images.get("busybox").remove().deleted
        ['sha256:...']
        """
        return self.client.remove_image(self.id, force=force)


class ImageCollection:
    """``client.images``: list, get, pull, remove and prune images."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, name: str) -> ImageHandle:
        """An image by reference, id or id prefix (``ImageNotFound`` otherwise).

        >>> client.images.get("busybox").short_id
        'b54c4f6a43fa'
        """
        return ImageHandle(self.client, self.client.image(name))

    def list(self) -> list[ImageHandle]:
        """Every stored image.

        >>> [image.tags for image in client.images.list()]
        [['busybox:latest']]
        """
        return [ImageHandle(self.client, record) for record in self.client.list_images()]

    def pull(
        self,
        reference: str,
        *,
        platform: str | None = None,
        progress: PullProgress | None = None,
    ) -> ImageHandle:
        """Pull an image (only the layers not already stored); the image pulled.

        >>> client.images.pull("busybox:1.36").tags
        ['busybox:1.36']
        """
        result = self.client.pull(reference, platform=platform, progress=progress)
        return ImageHandle(self.client, self.client.image(result.image_id))

    def push(
        self,
        repository: str,
        tag: str | None = None,
        *,
        progress: PushProgress | None = None,
        credentials: Credentials | None = None,
    ) -> PushResult:
        """docker-py's ``images.push``: ``repository:tag``, or with no tag (and none in
        ``repository``) every tag of the repository, as dockerd pushes them.

        >>> client.images.push("localhost:5000/tools/busybox", "1").tags[0].digest
        'sha256:...'
        """
        all_tags = tag is None and ":" not in repository.rsplit("/", 1)[-1]
        reference = f"{repository}:{tag}" if tag else repository
        return self.client.push(
            reference, all_tags=all_tags, progress=progress, credentials=credentials
        )

    def remove(self, name: str, *, force: bool = False) -> RemovalReport:
        """``rmi``: untag ``name`` (and delete the image when nothing else refers to it).

        >>> client.images.remove("busybox:1.36").untagged
        ['busybox:1.36']
        """
        return self.client.remove_image(name, force=force)

    def prune(self, *, all_unused: bool = False) -> RemovalReport:
        """Delete dangling images (``all_unused``: every image no container uses).

        >>> client.images.prune(all_unused=True).deleted
        ['sha256:...']
        """
        return self.client.prune_images(all_unused=all_unused)
