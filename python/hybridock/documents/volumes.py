"""A volume's document: docker 20.10's ``volume inspect``, also the Engine API's."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridock.runtime.volumes import Volume


def created_at(timestamp: float) -> str:
    """docker's CreatedAt of a volume: RFC 3339 to the second, in the local zone."""
    moment = datetime.datetime.fromtimestamp(timestamp).astimezone()
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def inspect_volume(volume: Volume) -> dict[str, Any]:
    """docker 20.10's ``volume inspect`` document."""
    return {
        "CreatedAt": created_at(volume.created),
        "Driver": volume.driver,
        "Labels": dict(volume.labels) if volume.labels is not None else None,
        "Mountpoint": volume.mountpoint,
        "Name": volume.name,
        "Options": dict(volume.options) if volume.options is not None else None,
        "Scope": "local",
    }
