"""The network routes: ``/networks`` list, inspect, create, delete, connect, disconnect, prune
(moby's NetworkCreateRequest and NetworkConnectRequest, the subset a hybridock bridge network
has: one IPv4 subnet and gateway, labels, options, internal)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridock.api.http import ApiError, Request
from hybridock.api.routes import route

#: moby's network create fields with the values that ask nothing hybridock lacks
CREATE_DEFAULTS: Mapping[str, Any] = {
    "EnableIPv6": False,
    "Ingress": False,
    "ConfigOnly": False,
    "ConfigFrom": None,
    "Scope": "",
}
#: an endpoint's fields hybridock has no use for beyond their empty values
ENDPOINT_DEFAULTS: Mapping[str, Any] = {
    "Links": None,
    "DriverOpts": None,
    "MacAddress": "",
    "IPAddress": "",
    "IPv6Gateway": "",
    "GlobalIPv6Address": "",
}


def _unsupported(body: Mapping[str, Any], defaults: Mapping[str, Any], what: str) -> None:
    """A field set to a value hybridock cannot honour is the client's 400, never ignored."""
    for key, default in defaults.items():
        value = body.get(key)
        if value not in (None, default, {}, []):
            raise ApiError(400, f"{what} {key}={value!r} is not supported by hybridock")


def _object(document: Any, what: str) -> dict[str, Any]:
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ApiError(400, f"{what}: a JSON object is expected")
    return document


def _strings(document: Any, what: str) -> dict[str, str]:
    mapping = _object(document, what)
    if not all(isinstance(value, str) for value in mapping.values()):
        raise ApiError(400, f"{what}: the values must be strings")
    return mapping


@route("GET", "/networks")
def list_networks(request: Request) -> None:
    client = request.client
    networks = client.networks_matching(request.filters())
    request.send_json(200, [client.inspect_network(network) for network in networks])


@route("GET", "/networks/{id}")
def inspect_network(request: Request) -> None:
    request.send_json(200, request.client.inspect_network(request.params["id"]))


def _ipam(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """IPAM's one Config entry: (subnet, gateway)."""
    ipam = _object(body.get("IPAM"), "IPAM")
    if ipam.get("Driver") not in (None, "", "default"):
        raise ApiError(400, f"IPAM driver {ipam['Driver']!r} is not supported by hybridock")
    if _object(ipam.get("Options"), "IPAM.Options"):
        raise ApiError(400, "IPAM Options are not supported by hybridock")
    configs = ipam.get("Config") or []
    if not isinstance(configs, list) or len(configs) > 1:
        raise ApiError(400, "hybridock networks take one IPv4 subnet and gateway")
    if not configs:
        return None, None
    config = _object(configs[0], "IPAM.Config")
    for key in ("IPRange", "AuxiliaryAddresses"):
        if config.get(key):
            raise ApiError(400, f"IPAM {key} is not supported by hybridock")
    return config.get("Subnet") or None, config.get("Gateway") or None


@route("POST", "/networks/create")
def create_network(request: Request) -> None:
    body = _object(request.json_body(), "network create")
    _unsupported(body, CREATE_DEFAULTS, "network create")
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "network name is required")
    client = request.client
    if any(network.name == name for network in client.networks_matching({"name": [name]})):
        raise ApiError(409, f"network with name {name} already exists")
    subnet, gateway = _ipam(body)
    network = client.create_network(
        name,
        driver=body.get("Driver") or "bridge",
        subnet=subnet,
        gateway=gateway,
        internal=bool(body.get("Internal")),
        labels=_strings(body.get("Labels"), "Labels"),
        options=_strings(body.get("Options"), "Options"),
    )
    request.send_json(201, {"Id": network.id, "Warning": ""})


@route("DELETE", "/networks/{id}")
def remove_network(request: Request) -> None:
    from hybridock.client import NetworkInUse  # noqa: PLC0415

    try:
        request.client.remove_network(request.params["id"])
    except NetworkInUse as error:  # predefined, or with endpoints: docker's 403
        raise ApiError(403, str(error)) from error
    request.send_empty(204)


@route("POST", "/networks/{id}/connect")
def connect_network(request: Request) -> None:
    body = _object(request.json_body(), "network connect")
    endpoint = _object(body.get("EndpointConfig"), "EndpointConfig")
    _unsupported(endpoint, ENDPOINT_DEFAULTS, "EndpointConfig")
    addresses = _object(endpoint.get("IPAMConfig"), "IPAMConfig")
    if addresses.get("IPv6Address") or addresses.get("LinkLocalIPs"):
        raise ApiError(400, "IPv6 and link-local addresses are not supported by hybridock")
    aliases = endpoint.get("Aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise ApiError(400, "EndpointConfig.Aliases: a list of strings is expected")
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise ApiError(400, "no container given to connect")
    request.client.connect_network(
        request.params["id"],
        container,
        aliases=aliases,
        ip=addresses.get("IPv4Address") or "",
    )
    request.send_empty(200)


@route("POST", "/networks/{id}/disconnect")
def disconnect_network(request: Request) -> None:
    body = _object(request.json_body(), "network disconnect")
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise ApiError(400, "no container given to disconnect")
    request.client.disconnect_network(
        request.params["id"], container, force=bool(body.get("Force"))
    )
    request.send_empty(200)


@route("POST", "/networks/prune")
def prune_networks(request: Request) -> None:
    if request.filters():
        raise ApiError(400, "network prune filters are not supported by hybridock")
    removed = request.client.prune_networks()
    request.send_json(200, {"NetworksDeleted": removed or None})  # docker's null for none
