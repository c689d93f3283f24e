"""The system routes: ``/_ping`` (what a client reads the API version from), ``/version``,
``/info``, ``/events``, ``/system/df``."""

from __future__ import annotations

import time
from typing import Any

from hybridock.api.http import ApiError, Request
from hybridock.api.routes import API_VERSION, MIN_API_VERSION, route, version_text


@route("GET", "/_ping")
def ping(request: Request) -> None:
    request.send_bytes(200, "text/plain; charset=utf-8", b"OK")


@route("POST", "/_ping")
def ping_post(request: Request) -> None:
    ping(request)


@route("GET", "/version")
def version(request: Request) -> None:
    """moby's SystemVersion: the engine's facts and the API versions it speaks."""
    server = request.client.version()["Server"]
    versions = {
        "ApiVersion": version_text(API_VERSION),
        "MinAPIVersion": version_text(MIN_API_VERSION),
        "GitCommit": "",
        "GoVersion": f"python{server['PythonVersion']}",
        "BuildTime": "",
    }
    engine = dict(server["Components"][0])
    engine["Details"] = {**engine["Details"], **versions}
    request.send_json(
        200,
        {
            "Platform": server["Platform"],
            "Components": [engine],
            "Version": server["Version"],
            **versions,
            "Os": server["Os"],
            "Arch": server["Arch"],
            "KernelVersion": server["KernelVersion"],
            "Experimental": False,
        },
    )


@route("GET", "/info")
def info(request: Request) -> None:
    document: dict[str, Any] = request.client.info()
    document.setdefault("ID", document.get("Name", ""))
    document.setdefault("IndexServerAddress", "https://index.docker.io/v1/")
    document.setdefault("SystemTime", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    document.setdefault("NEventsListener", 0)
    request.send_json(200, document)


def timestamp_arg(request: Request, name: str) -> int | None:
    """docker's ``since``/``until``: Unix seconds, with an optional fraction."""
    text = request.arg(name)
    if not text:
        return None
    seconds, _, fraction = text.partition(".")
    try:
        return int(seconds) * 10**9 + (int(fraction.ljust(9, "0")[:9]) if fraction else 0)
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {text!r}") from None


@route("GET", "/events")
def events(request: Request) -> None:
    """The event log as a stream of documents: past ones from ``since``, then new ones until
    ``until`` (or until the client goes)."""
    documents = request.client.events(
        since=timestamp_arg(request, "since"),
        until=timestamp_arg(request, "until"),
        filters=request.filters(),
        stop=request.gone(),
    )
    request.stream_json(200, documents)


@route("GET", "/system/df")
def disk_usage(request: Request) -> None:
    """moby's DiskUsage: the layers' bytes, then each image, container and volume with its
    usage (``type`` is accepted; every kind is always given)."""
    client = request.client
    usage = client.disk_usage()
    images = []
    image_sizes: dict[str, int] = {}
    for image in usage.images:
        summary = client.image_summary(image.image, api_version=request.version)
        summary.update(Containers=image.containers, SharedSize=image.shared_size, Size=image.size)
        if "VirtualSize" in summary:
            summary["VirtualSize"] = image.size
        images.append(summary)
        image_sizes[image.image.id] = image.size
    containers = []
    for container in usage.containers:
        summary = client.container_summary(container.container)
        summary["SizeRw"] = container.size
        summary["SizeRootFs"] = container.size + image_sizes.get(container.container.image_id, 0)
        containers.append(summary)
    volumes = [
        {
            **client.inspect_volume(volume.volume),
            "UsageData": {"Size": volume.size, "RefCount": volume.users},
        }
        for volume in usage.volumes
    ]
    request.send_json(
        200,
        {
            "LayersSize": usage.layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
        },
    )
