"""A network's documents: docker 20.10's ``network inspect`` and a container's
``NetworkSettings`` (inspect's, and the ``Networks`` of the Engine API's list entries)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybridock.client import Client
    from hybridock.runtime.containers import Container
    from hybridock.runtime.network import Endpoint, Network


def created_at(timestamp: float) -> str:
    """docker's Created of a network: RFC 3339 with microseconds, in UTC."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _ipam_config(network: Network) -> list[dict[str, str]]:
    if not network.subnet:
        return []
    return [{"Subnet": network.subnet, "Gateway": network.gateway}]


def _options(network: Network) -> dict[str, str]:
    if network.name != "bridge":
        return dict(network.options)
    # docker's default bridge shows the settings it was made with
    return {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",  # noqa: S104 - shown only
        "com.docker.network.bridge.name": network.bridge,
        "com.docker.network.driver.mtu": "1500",
    }


def inspect_network(client: Client, network: Network) -> dict[str, Any]:
    """docker 20.10's ``network inspect`` document."""
    members: dict[str, Any] = {}
    for container, endpoint in client.network_containers(network):
        members[container.id] = {
            "Name": container.name,
            "EndpointID": endpoint.id,
            "MacAddress": endpoint.mac,
            "IPv4Address": f"{endpoint.address}/{network.prefix}",
            "IPv6Address": "",
        }
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": created_at(network.created),
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv6": False,
        "IPAM": {
            "Driver": "default",
            "Options": None if network.predefined else {},
            "Config": _ipam_config(network),
        },
        "Internal": network.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": members,
        "Options": _options(network),
        "Labels": dict(network.labels),
    }


def _endpoint_settings(
    network_id: str, network: Network | None, endpoint: Endpoint | None
) -> dict[str, Any]:
    """docker's EndpointSettings: an endpoint's, or the empty one of a container that is not
    running on its network."""
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": (list(endpoint.aliases) or None) if endpoint else None,
        "NetworkID": network_id,
        "EndpointID": endpoint.id if endpoint else "",
        "Gateway": network.gateway if network and endpoint else "",
        "IPAddress": endpoint.address if endpoint else "",
        "IPPrefixLen": network.prefix if network and endpoint else 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": endpoint.mac if endpoint else "",
        "DriverOpts": None,
    }


def _configured_networks(
    client: Client, container: Container, known: Mapping[str, Network] | None
) -> dict[str, Any]:
    """The networks a container that is not running is on (``--network``, ``network
    connect``), as docker shows a created one's: no endpoint yet; on a user network its aliases
    with its short id, the alias docker gives it there (docker-compose reads them to know the
    container is connected, and else connects it again)."""
    from hybridock.client import NetworkNotFound  # noqa: PLC0415

    config = container.config
    configured = [(config.network, config.network_aliases)]
    configured += [(name, aliases) for name, aliases, _ in config.connected]
    networks: dict[str, Any] = {}
    for name, aliases in configured:
        try:
            network = known[name] if known and name in known else client.network(name)
        except NetworkNotFound:
            continue  # removed meanwhile, or a mode that names no network (container:ID)
        settings = _endpoint_settings(network.id, None, None)
        if network.user_defined:
            settings["Aliases"] = [*aliases, container.id[:12]]
        networks[network.name] = settings
    return networks


def networks_of(
    client: Client, container: Container, known: Mapping[str, Network] | None = None
) -> tuple[dict[str, Any], list[tuple[Network, Endpoint]]]:
    """``NetworkSettings.Networks`` of a container, and its endpoints (a running one's);
    ``known``: the store's networks by name, when the caller lists many containers (one
    lookup for all, not one each)."""
    endpoints = client.container_endpoints(container) if container.running else []
    networks: dict[str, Any] = {
        network.name: _endpoint_settings(network.id, network, endpoint)
        for network, endpoint in endpoints
    }
    if not endpoints:
        networks = _configured_networks(client, container, known)
    return networks, endpoints


def network_settings(client: Client, container: Container) -> dict[str, Any]:
    """docker 20.10's ``NetworkSettings`` of a container."""
    networks, endpoints = networks_of(client, container)
    default = next((networks[n.name] for n, _ in endpoints if n.name == "bridge"), None)
    return {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": client.port_map(container),
        "SandboxKey": f"/proc/{container.pid}/ns/net" if container.running else "",
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": default["EndpointID"] if default else "",
        "Gateway": default["Gateway"] if default else "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": default["IPAddress"] if default else "",
        "IPPrefixLen": default["IPPrefixLen"] if default else 0,
        "IPv6Gateway": "",
        "MacAddress": default["MacAddress"] if default else "",
        "Networks": networks,
    }
