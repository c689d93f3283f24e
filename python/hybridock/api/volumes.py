"""The volume routes: ``/volumes`` list, inspect, create, delete, prune (moby's
VolumeCreateOptions for the ``local`` driver)."""

from __future__ import annotations

from typing import Any

from hybridock.api.http import ApiError, Request
from hybridock.api.routes import route

#: from this API version ``volume prune`` takes only anonymous volumes unless ``all`` is asked
PRUNE_ANONYMOUS_FROM = (1, 42)


def _strings(document: Any, what: str) -> dict[str, str] | None:
    """A map of strings as sent (null stays null: docker shows it so)."""
    if document is None:
        return None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise ApiError(400, f"{what}: a JSON object of strings is expected")
    return document


@route("GET", "/volumes")
def list_volumes(request: Request) -> None:
    client = request.client
    volumes = client.volumes_matching(request.filters())
    request.send_json(
        200, {"Volumes": [client.inspect_volume(volume) for volume in volumes], "Warnings": []}
    )


@route("GET", "/volumes/{name}")
def inspect_volume(request: Request) -> None:
    request.send_json(200, request.client.inspect_volume(request.params["name"]))


@route("POST", "/volumes/create")
def create_volume(request: Request) -> None:
    body = request.json_body() or {}
    if not isinstance(body, dict):
        raise ApiError(400, "volume create: a JSON object is expected")
    if body.get("ClusterVolumeSpec"):
        raise ApiError(400, "cluster volumes are not supported by hybridock")
    name = body.get("Name") or None
    if name is not None and not isinstance(name, str):
        raise ApiError(400, "volume create: Name must be a string")
    volume = request.client.create_volume(
        name,
        driver=body.get("Driver") or "local",
        labels=_strings(body.get("Labels"), "Labels"),
        options=_strings(body.get("DriverOpts"), "DriverOpts"),
    )
    request.send_json(201, request.client.inspect_volume(volume))


@route("DELETE", "/volumes/{name}")
def remove_volume(request: Request) -> None:
    request.client.remove_volume(request.params["name"], force=request.flag("force"))
    request.send_empty(204)


@route("POST", "/volumes/prune")
def prune_volumes(request: Request) -> None:
    """Unused volumes: with ``label`` filters only those that have each; from API 1.42 only
    anonymous ones unless the ``all`` filter is true."""
    filters = request.filters()
    unknown = set(filters) - {"label", "all"}
    if unknown:
        raise ApiError(400, f"invalid filter '{sorted(unknown)[0]}'")
    every = filters.get("all", ["false"])[-1] in ("1", "true")
    anonymous_only = request.version >= PRUNE_ANONYMOUS_FROM and not every
    removed, reclaimed = request.client.prune_volumes(
        labels=filters.get("label", []), anonymous_only=anonymous_only
    )
    request.send_json(200, {"VolumesDeleted": removed, "SpaceReclaimed": reclaimed})
