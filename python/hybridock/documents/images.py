"""An image's documents: docker 20.10's ``image inspect`` and the Engine API's list entry
(``GET /images/json``, moby's ImageSummary)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hybridock.reference import Reference

if TYPE_CHECKING:
    from hybridock.client import Client
    from hybridock.store.images import ImageRecord

#: the first API version whose image list entries have no VirtualSize
WITHOUT_VIRTUAL_SIZE = (1, 44)


def repo_tags(image: ImageRecord) -> list[str]:
    """The image's tags as docker shows them ("busybox:latest")."""
    return [Reference.parse(tag).familiar for tag in image.tags]


def repo_digests(image: ImageRecord) -> list[str]:
    """The image's repository digests as docker shows them ("busybox@sha256:...")."""
    return [
        f"{Reference.parse(name).familiar_name}@{digest}"
        for name, _, digest in (reference.partition("@") for reference in image.repo_digests)
    ]


def _labels(image: ImageRecord) -> dict[str, str] | None:
    labels = (image.config.get("config") or {}).get("Labels")
    return dict(labels) if labels else None


def inspect_image(client: Client, image: ImageRecord) -> dict[str, Any]:
    """docker 20.10's ``image inspect`` document, as far as hybridock knows the fields."""
    config = image.config
    layer_dirs = [str(client.layout.layer(chain)) for chain in reversed(image.chain_ids)]
    graph: dict[str, str] = {}
    if layer_dirs:
        graph = {"UpperDir": layer_dirs[0]}
        if len(layer_dirs) > 1:
            graph["LowerDir"] = ":".join(layer_dirs[1:])
    return {
        "Id": image.id,
        "RepoTags": repo_tags(image),
        "RepoDigests": repo_digests(image),
        "Parent": "",
        "Comment": config.get("comment", ""),
        "Created": config.get("created", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config", {}),
        "Architecture": config.get("architecture", ""),
        "Variant": config.get("variant", ""),
        "Os": config.get("os", ""),
        "Size": image.size,
        "VirtualSize": image.size,  # docker 20.10: the same number (no shared size here)
        "GraphDriver": {"Name": "overlay", "Data": graph},
        "RootFS": {"Type": "layers", "Layers": config.get("rootfs", {}).get("diff_ids", [])},
        "Metadata": {"ManifestDigest": image.manifest_digest},
    }


def image_summary(image: ImageRecord, *, api_version: tuple[int, int] = (1, 41)) -> dict[str, Any]:
    """The Engine API's ``GET /images/json`` entry: a dangling image's tags and digests are
    docker 20.10's ``<none>`` placeholders; VirtualSize only before API 1.44."""
    from hybridock.runtime.system import epoch  # noqa: PLC0415

    tags, digests = repo_tags(image), repo_digests(image)
    if not tags and not digests:
        tags, digests = ["<none>:<none>"], ["<none>@<none>"]
    summary: dict[str, Any] = {
        "Containers": -1,
        "Created": int(epoch(image.created) or 0),
        "Id": image.id,
        "Labels": _labels(image),
        "ParentId": "",
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": image.size,
    }
    if api_version < WITHOUT_VIRTUAL_SIZE:
        summary["VirtualSize"] = image.size
    return summary
