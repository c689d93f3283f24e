"""docker's ``--filter`` for networks and volumes (``network ls``, ``volume ls``, and the Engine
API's ``GET /networks``, ``GET /volumes``): values of one key OR, different keys AND; a key
docker does not know is an error, not a filter that passes everything."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from hybridock.errors import InvalidFilter

if TYPE_CHECKING:
    from hybridock.runtime.network import Network
    from hybridock.runtime.volumes import Volume

NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
VOLUME_FILTERS = ("dangling", "driver", "label", "name")
TRUTH = {"true": True, "1": True, "false": False, "0": False}


def checked(filters: Mapping[str, Sequence[str]], known: Sequence[str]) -> dict[str, list[str]]:
    """The filters with values, each key one docker knows (``InvalidFilter`` otherwise)."""
    for key in filters:
        if key not in known:
            raise InvalidFilter(f"Invalid filter '{key}'")
    wanted = {key: list(values) for key, values in filters.items() if values}
    for value in wanted.get("dangling", ()):
        if value not in TRUTH:
            raise InvalidFilter(f"Invalid filter 'dangling=[{value}]'")
    return wanted


def has_label(labels: Mapping[str, str] | None, wanted: str) -> bool:
    """docker's label filter: "KEY" (any value) or "KEY=VALUE"."""
    key, has_value, value = wanted.partition("=")
    labels = labels or {}
    return key in labels and (not has_value or labels[key] == value)


def network_matches(
    network: Network, filters: Mapping[str, list[str]], dangling: Callable[[Network], bool]
) -> bool:
    """Whether a network passes ``checked`` filters (``dangling``: no container uses it)."""
    for key, values in filters.items():
        if key == "type":
            for value in values:
                if value not in ("custom", "builtin"):
                    raise InvalidFilter(f"invalid filter: 'type'='{value}'")
            kinds = {"builtin" if network.predefined else "custom"}
            matched = bool(kinds & set(values))
        elif key == "dangling":
            matched = any(
                TRUTH[value] == (not network.predefined and dangling(network)) for value in values
            )
        elif key == "name":
            matched = any(value in network.name for value in values)
        elif key == "id":
            matched = any(value in network.id for value in values)
        elif key == "driver":
            matched = network.driver in values
        elif key == "scope":
            matched = "local" in values
        else:
            matched = any(has_label(network.labels, value) for value in values)
        if not matched:
            return False
    return True


def volume_matches(volume: Volume, filters: Mapping[str, list[str]], unused: bool) -> bool:
    """Whether a volume passes ``checked`` filters (``unused``: no container mounts it)."""
    for key, values in filters.items():
        if key == "dangling":
            matched = any(TRUTH[value] == unused for value in values)
        elif key == "name":
            matched = any(value in volume.name for value in values)
        elif key == "driver":
            matched = volume.driver in values
        else:
            matched = any(has_label(volume.labels, value) for value in values)
        if not matched:
            return False
    return True
