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


#: moby's container.Config as an image's Config and ContainerConfig show it: (key, what an
#: image without it shows), in its order; _OMITTED_WHEN_EMPTY are its omitempty keys
_CONTAINER_CONFIG: tuple[tuple[str, Any], ...] = (
    ("Hostname", ""),
    ("Domainname", ""),
    ("User", ""),
    ("AttachStdin", False),
    ("AttachStdout", False),
    ("AttachStderr", False),
    ("ExposedPorts", None),
    ("Tty", False),
    ("OpenStdin", False),
    ("StdinOnce", False),
    ("Env", None),
    ("Cmd", None),
    ("Healthcheck", None),
    ("ArgsEscaped", None),
    ("Image", ""),
    ("Volumes", None),
    ("WorkingDir", ""),
    ("Entrypoint", None),
    ("NetworkDisabled", None),
    ("MacAddress", None),
    ("OnBuild", None),
    ("Labels", None),
    ("StopSignal", None),
    ("StopTimeout", None),
    ("Shell", None),
)
_OMITTED_WHEN_EMPTY = frozenset(
    {
        "ExposedPorts",
        "Healthcheck",
        "ArgsEscaped",
        "NetworkDisabled",
        "MacAddress",
        "StopSignal",
        "StopTimeout",
        "Shell",
    }
)


def container_config(config: Any) -> dict[str, Any]:
    """An image config's ``config`` (or ``container_config``) with every key dockerd 20.10
    shows, in its order; keys it does not know are kept after them."""
    given = config if isinstance(config, dict) else {}
    shown = {}
    for key, empty in _CONTAINER_CONFIG:
        value = given.get(key)
        if key in _OMITTED_WHEN_EMPTY:
            if value:
                shown[key] = value
        else:
            shown[key] = value if value is not None else empty
    return {**shown, **{k: v for k, v in given.items() if k not in shown and v is not None}}


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
        # docker's inspect: the image's comment, else its last step's (a commit's -m)
        "Comment": config.get("comment")
        or ((config.get("history") or [{}])[-1]).get("comment", ""),
        "Created": config.get("created", ""),
        "Container": config.get("container", ""),
        "ContainerConfig": container_config(config.get("container_config")),
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": container_config(config.get("config")),
        "Architecture": config.get("architecture", ""),
        **({"Variant": config["variant"]} if config.get("variant") else {}),
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
