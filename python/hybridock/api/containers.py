"""The container routes (moby's ``/containers/...``; podman's compat/containers*.go): create,
the lifecycle (start, stop, kill, restart, pause, unpause, wait, delete, prune, rename,
update, resize), what a container is and holds (list, inspect, top, stats, changes, export,
archive). Attach, exec and logs are api/attach.py's and api/exec.py's.

Each route parses docker's parameters, calls ``Client`` and shapes its answer; statuses and
words are docker's (304 for a start of a running container or a stop of a stopped one, 404
``No such image`` for a create whose image is missing, which makes the docker CLI pull).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hybridock.api.create import container_create
from hybridock.api.http import ApiError, Request
from hybridock.api.routes import route
from hybridock.errors import ContainerNotFound, HybridockError, ImageNotFound

if TYPE_CHECKING:
    from hybridock.client import Client, Container

#: docker's diff kinds, by the letter hybridock's changes use
CHANGE_KINDS = {"C": 0, "A": 1, "D": 2}
TAR = "application/x-tar"


def _container(request: Request) -> Container:
    return request.client.container(request.params["id"])


# --- create -----------------------------------------------------------------------------------


@route("POST", "/containers/create")
def create(request: Request) -> None:
    wanted = container_create(request.json_body(), request.arg("name"))
    client = request.client
    try:
        image_id = client.find_image(wanted.image, pull="never")
    except ImageNotFound as error:
        raise ApiError(404, str(error)) from None  # the docker CLI pulls, then asks again
    container = client.create_container(wanted.image, image_id, wanted.options, wanted.name)
    warnings = []
    if container.config.network == "host" and (
        wanted.options.publish or wanted.options.publish_all
    ):
        warnings.append("Published ports are discarded when using host network mode")
    request.send_json(201, {"Id": container.id, "Warnings": warnings})


# --- lifecycle --------------------------------------------------------------------------------


@route("POST", "/containers/{id}/stop")
def stop(request: Request) -> None:
    container = _container(request)
    if not (container.running or container.restarting):
        request.send_empty(304)
        return
    request.client.stop(container, request.integer("t"), request.arg("signal") or None)
    request.send_empty(204)


@route("POST", "/containers/{id}/kill")
def kill(request: Request) -> None:
    request.client.kill(_container(request), request.arg("signal") or "SIGKILL")
    request.send_empty(204)


@route("POST", "/containers/{id}/restart")
def restart(request: Request) -> None:
    request.client.restart(_container(request), request.integer("t"), request.arg("signal") or None)
    request.send_empty(204)


@route("POST", "/containers/{id}/pause")
def pause(request: Request) -> None:
    request.client.pause(_container(request))
    request.send_empty(204)


@route("POST", "/containers/{id}/unpause")
def unpause(request: Request) -> None:
    request.client.unpause(_container(request))
    request.send_empty(204)


@route("POST", "/containers/{id}/rename")
def rename(request: Request) -> None:
    name = request.arg("name")
    if not name:
        raise ApiError(400, "Neither old nor new names may be empty")
    request.client.rename(_container(request), name)
    request.send_empty(204)


@route("POST", "/containers/{id}/wait")
def wait(request: Request) -> None:
    """The headers at once (the docker CLI sends ``start`` only after it has them), then
    ``{"StatusCode": N, "Error": null}`` when the condition is met."""
    condition = request.arg("condition") or "not-running"
    if condition not in ("next-exit", "removed"):
        condition = "not-running"  # docker's daemon reads any other word so
    container = _container(request)
    stream = request.start_stream(200, "application/json")
    error: dict[str, str] | None = None
    try:
        code = request.client.wait(container, condition, stop=request.gone())
    except HybridockError as failure:
        code, error = -1, {"Message": str(failure)}
    stream.write(json.dumps({"StatusCode": code, "Error": error}).encode() + b"\n")
    stream.close()


@route("DELETE", "/containers/{id}")
def delete(request: Request) -> None:
    container = _container(request)
    if request.flag("link"):
        raise ApiError(400, "links are not supported by hybridock")
    request.client.remove_container(
        container, force=request.flag("force"), volumes=request.flag("v")
    )
    request.send_empty(204)


@route("POST", "/containers/prune")
def prune(request: Request) -> None:
    removed, reclaimed = request.client.prune_containers(filters=request.filters())
    request.send_json(200, {"ContainersDeleted": removed, "SpaceReclaimed": reclaimed})


@route("POST", "/containers/{id}/update")
def update(request: Request) -> None:
    """moby's ContainerUpdate body: the resources ``update`` changes, and RestartPolicy."""
    body = request.json_body() or {}
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object")
    known = {
        "Memory", "MemorySwap", "NanoCpus", "CpuShares", "CpusetCpus", "PidsLimit",
        "RestartPolicy",
    }  # fmt: skip
    for key, value in body.items():
        if key not in known and value not in (None, 0, "", [], {}, False, -1):
            raise ApiError(400, f"{key}: not supported by hybridock")

    def number(key: str) -> int:
        value = body.get(key) or 0
        if not isinstance(value, int) or isinstance(value, bool):
            raise ApiError(400, f"{key}: expected an integer")
        return value

    policy = body.get("RestartPolicy") or {}
    restart = None
    if policy.get("Name"):
        count = policy.get("MaximumRetryCount") or 0
        restart = f"{policy['Name']}:{count}" if count else str(policy["Name"])
    nano_cpus = number("NanoCpus")
    request.client.update(
        _container(request),
        memory=str(number("Memory")) if number("Memory") else None,
        memory_swap=str(number("MemorySwap")) if number("MemorySwap") else None,
        cpus=repr(nano_cpus / 1e9) if nano_cpus else None,
        cpu_shares=number("CpuShares") or None,
        cpuset_cpus=str(body.get("CpusetCpus") or "") or None,
        pids_limit=number("PidsLimit") or None,
        restart=restart,
    )
    request.send_json(200, {"Warnings": []})


# --- what a container is ----------------------------------------------------------------------


@route("GET", "/containers/json")
def list_containers(request: Request) -> None:
    client = request.client
    found = client.list_containers(
        all_states=request.flag("all"),
        filters=request.filters(),
        limit=request.integer("limit", -1) or -1,
    )
    request.send_json(200, client.container_summaries(found, size=request.flag("size")))


@route("GET", "/containers/{id}/json")
def inspect(request: Request) -> None:
    request.send_json(200, _inspect(request.client, _container(request)))


@route("GET", "/containers/{id}/top")
def top(request: Request) -> None:
    arguments = (request.arg("ps_args") or "").split()
    titles, processes = request.client.top(_container(request), arguments)
    request.send_json(200, {"Titles": titles, "Processes": processes})


@route("GET", "/containers/{id}/changes")
def changes(request: Request) -> None:
    found = request.client.container_changes(_container(request))
    request.send_json(
        200, [{"Path": path, "Kind": CHANGE_KINDS[kind]} for kind, path in found] or None
    )


@route("GET", "/containers/{id}/stats")
def stats(request: Request) -> None:
    """One document (``stream=false``, or ``one-shot``) or one a second until the client
    goes; ``precpu_stats`` is the previous sample's (none for a one-shot, as docker's)."""
    client = request.client
    container = _container(request)
    stream = request.flag("stream", default=True) and not request.flag("one-shot")
    if not stream:
        previous = None if request.flag("one-shot") else _sample(client, container)
        if previous is not None:
            time.sleep(1)
        request.send_json(200, _stats_document(client, container, previous))
        return
    request.stream_json(200, _stats_stream(client, container))


def _stats_stream(client: Client, container: Container) -> Iterator[dict[str, Any]]:
    """A sample a second while the container runs (a client that goes ends it: its write
    fails)."""
    previous: dict[str, Any] | None = None
    while True:
        try:
            current = client.container(container.id)
        except ContainerNotFound:
            return
        document = _stats_document(client, current, previous)
        previous = document
        yield document
        if not current.running:
            return
        time.sleep(1.0)


def _sample(client: Client, container: Container) -> dict[str, Any]:
    return _stats_document(client, container, None)


def _stats_document(
    client: Client, container: Container, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """moby's StatsJSON (cgroup v2 shape) from ``Client.stats``."""
    counters = client.stats(container)
    host = client.host_counters()
    memory_limit = min(counters.memory_limit or host.memory, host.memory)
    cpu_stats = {
        "cpu_usage": {
            "total_usage": counters.cpu_usage_ns,
            "usage_in_kernelmode": 0,
            "usage_in_usermode": 0,
        },
        "system_cpu_usage": host.cpu_time_ns,
        "online_cpus": host.online_cpus,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    received, sent = counters.network_received, counters.network_sent
    empty_cpu = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    return {
        "read": _now(),
        "preread": previous["read"] if previous else "0001-01-01T00:00:00Z",
        "pids_stats": {"current": counters.pids},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 0, "minor": 0, "op": "read", "value": counters.block_read},
                {"major": 0, "minor": 0, "op": "write", "value": counters.block_write},
            ]
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_stats,
        "precpu_stats": previous["cpu_stats"] if previous else empty_cpu,
        "memory_stats": (
            {"usage": counters.memory_usage, "stats": {}, "limit": memory_limit}
            if container.running
            else {}
        ),
        "name": f"/{container.name}",
        "id": container.id,
        "networks": (
            {"eth0": {"rx_bytes": received, "tx_bytes": sent, **_NETWORK_ZEROS}}
            if container.running and container.config.network not in ("host", "none")
            else {}
        ),
    }


_NETWORK_ZEROS = dict.fromkeys(
    ("rx_packets", "rx_errors", "rx_dropped", "tx_packets", "tx_errors", "tx_dropped"), 0
)


def _now() -> str:
    nanoseconds = time.time_ns()
    seconds, fraction = divmod(nanoseconds, 10**9)
    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{moment}.{fraction:09d}Z"


# --- a container's files ----------------------------------------------------------------------


class _StreamWriter:
    """A file-like ``write`` over a chunked answer (export and archive write tar into it)."""

    def __init__(self, request: Request, headers: dict[str, str] | None = None) -> None:
        self._request = request
        self._headers = headers
        self._stream: Any = None

    def write(self, data: bytes) -> int:
        if self._stream is None:
            self._stream = self._request.start_stream(200, TAR, self._headers)
        self._stream.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._stream is None:
            self._stream = self._request.start_stream(200, TAR, self._headers)
        self._stream.close()


@route("GET", "/containers/{id}/export")
def export(request: Request) -> None:
    out = _StreamWriter(request)
    request.client.export_container(_container(request), out)  # type: ignore[arg-type]
    out.close()


def _path_stat_header(client: Client, container: Container, path: str) -> dict[str, str]:
    document = client.container_path_stat(container, path)
    encoded = base64.b64encode(json.dumps(document, separators=(",", ":")).encode())
    return {"X-Docker-Container-Path-Stat": encoded.decode()}


def _archive_path(request: Request) -> str:
    path = request.arg("path")
    if not path:
        raise ApiError(400, "path is required")  # docker's words for a missing path
    return path


@route("GET", "/containers/{id}/archive")
def archive(request: Request) -> None:
    """``HEAD``: the path's stat header only (the docker CLI's cp into a container asks it
    first); ``GET``: a tar of it."""
    client = request.client
    container = _container(request)
    path = _archive_path(request)
    headers = _path_stat_header(client, container, path)
    if request.method == "HEAD":
        request.send_empty(200, headers)
        return
    out = _StreamWriter(request, headers)
    client.copy_from_container(container, path, out)  # type: ignore[arg-type]
    out.close()


@route("PUT", "/containers/{id}/archive")
def put_archive(request: Request) -> None:
    """A tar extracted into the directory ``path`` (as ``cp - CONTAINER:PATH``);
    ``copyUIDGID`` keeps the archive's owners (``cp -a``)."""
    container = _container(request)
    path = _archive_path(request)
    request.flag("noOverwriteDirNonDir")  # the docker CLI's cp sets it: extraction keeps both
    body: Any = request.body_stream()  # a reader, as the copy wants
    request.client.copy_to_container(container, body, path, archive=request.flag("copyUIDGID"))
    request.send_empty(200)


# --- docker's documents, built by Client ------------------------------------------------------


def _inspect(client: Client, container: Container) -> dict[str, Any]:
    return client.inspect_container(container)
