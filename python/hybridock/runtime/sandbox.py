"""A container's network sandbox: made before its process starts, released when it ends.

For a container on bridge networks, ``prepare`` (the CLI's process, before the spawn):

1. ensures each network's Linux bridge (``_native.ensure_bridge``, netlink); one that had to be
   made gets ``ip_forward``, ``route_localnet``, IPv6 off and the rules of every network
   (``firewall.apply``);
2. leases the container's address on each network in the store, and records its published
   ports (a port another container holds is refused by the store, one a host process holds by
   a bind, as docker-proxy's would be), then rewrites the rules if there are any;
3. makes a new network namespace (``_native.new_network_namespace``, lo up) and a veth pair per
   network into it, with the address, the MAC docker derives from it and the default route
   (``_native.attach_veth``): the container is spawned into that namespace, so its process
   starts with its network complete;
4. publishes the names of a user network's containers to its resolver (``runtime/dns``).

Everything 1-4 made is undone by ``release`` when a step fails, and when the container ends: the
namespace dies with the container's last process and the kernel deletes the veth pairs with it;
``release`` drops the rows, rewrites the rules without the container's ports and withdraws its
names. A lease that outlived its container (a killed CLI) is released by the next command that
folds in that exit (``ContainerStore.reconcile``).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from hybridock import _native
from hybridock.errors import ConfigError, HybridockError
from hybridock.runtime import ports
from hybridock.runtime.containers import ContainerStore, NetworkRows, release_network
from hybridock.runtime.network import (
    Endpoint,
    Network,
    NetworkStore,
    PortAllocated,
    PublishedPort,
    endpoint_of,
    mac_for,
)
from hybridock.runtime.ports import ANY_IPV4
from hybridock.store import locks

if TYPE_CHECKING:
    from hybridock.config import Config
    from hybridock.runtime.config import ContainerConfig
    from hybridock.runtime.containers import Container
    from hybridock.store.db import Database
    from hybridock.store.layout import Layout

LOCK = "network"
DEFAULT_EPHEMERAL = (49153, 65535)  # docker's port allocator, where the kernel's range is unknown


class Sandbox(NamedTuple):
    """What the spawn needs: the namespace to join (owned: close it after the spawn) and the
    container's addresses for its /etc/hosts (network name, address)."""

    namespace: int
    addresses: tuple[tuple[Network, Endpoint], ...]

    def close(self) -> None:
        os.close(self.namespace)


class NetworkRuntime:
    def __init__(self, layout: Layout, database: Database, config: Config) -> None:
        self.layout = layout
        self.store = NetworkStore(database, config)
        self.database = database

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.layout.locks.mkdir(parents=True, exist_ok=True)
        with locks.exclusive(self.layout.locks, LOCK):
            yield

    def _sync_rules(self) -> None:
        with self._locked():
            _firewall().apply(self.store.all(), self.store.published())

    def ensure_bridge(self, network: Network) -> None:
        if _native.ensure_bridge(network.bridge, network.gateway, network.prefix):
            _write_sysctl("net/ipv4/ip_forward", "1")
            _write_sysctl(f"net/ipv4/conf/{network.bridge}/route_localnet", "1")
            # the containers' IPv6 is off: the bridge gets no link-local address (nor its
            # routes, which would otherwise appear a second later, once duplicate address
            # detection ends)
            _write_sysctl(f"net/ipv6/conf/{network.bridge}/disable_ipv6", "1")
            self._sync_rules()

    def prepare(
        self,
        container_id: str,
        container_name: str,
        config: ContainerConfig,
        ports: Sequence[tuple[str, int, str, int, int]],
    ) -> Sandbox:
        """The sandbox of a container on bridge networks (see the module's doc). ``ports`` are
        its bindings (protocol, container port, host ip, first and last host port; 0 and 0 for
        an ephemeral one)."""
        networks = [
            (self.store.find(name), aliases, ip) for name, aliases, ip in config_networks(config)
        ]
        namespace = -1
        try:
            leased: list[tuple[Network, Endpoint]] = []
            for network, asked_aliases, asked_ip in networks:
                # docker 20.10's run ignores --ip and --network-alias on the default bridge
                # (its network connect refuses them, as _check_endpoint_options does)
                aliases, requested = (asked_aliases, asked_ip) if network.user_defined else ((), "")
                _check_endpoint_options(network, aliases, requested)
                leased.append((network, self._lease(network, container_id, aliases, requested)))
            if ports and leased:
                network, endpoint = leased[0]
                self._publish(container_id, container_name, endpoint, network, ports)
            namespace = _native.new_network_namespace()
            for index, (network, endpoint) in enumerate(leased):
                _attach(namespace, network, endpoint, index)
            self._update_names({network.id for network, _ in leased if network.user_defined})
        except BaseException:
            if namespace >= 0:
                os.close(namespace)
            self.release(container_id)
            raise
        return Sandbox(namespace, tuple(leased))

    def _lease(
        self, network: Network, container_id: str, aliases: Sequence[str], requested: str
    ) -> Endpoint:
        """The network's bridge ensured and an address leased on it; on a user network the
        container's names are its aliases and its short id, as docker's embedded DNS has them."""
        self.ensure_bridge(network)
        return self.store.lease(
            network,
            container_id,
            requested=requested,
            aliases=(*aliases, container_id[:12]) if network.user_defined else (),
            host_link=f"veth{os.urandom(4).hex()[:7]}",
        )

    def _publish(
        self,
        container_id: str,
        container_name: str,
        endpoint: Endpoint,
        network: Network,
        ports: Sequence[tuple[str, int, str, int, int]],
    ) -> None:
        name = f"{container_name} ({endpoint.id})"
        records: list[PublishedPort] = []
        with self._locked():
            for protocol, container_port, asked_ip, first, last in ports:
                host_ip = asked_ip or ANY_IPV4
                if first:
                    host_port = self._pick_port(protocol, host_ip, range(first, last + 1), name)
                else:
                    low, high = _ephemeral_range()
                    host_port = self._pick_port(
                        protocol, host_ip, range(low, high + 1), name, ephemeral=True
                    )
                records.append(
                    PublishedPort(
                        container_id,
                        protocol,
                        host_ip,
                        host_port,
                        container_port,
                        endpoint.address,
                        network.bridge,
                    )
                )
            # recorded as a whole (two bindings of this container may clash too)
            taken = {(p.protocol, p.host_ip, p.host_port) for p in records}
            if len(taken) < len(records):
                raise PortAllocated(
                    f"driver failed programming external connectivity on endpoint {name}:"
                    " Bind for the same host port twice: port is already allocated"
                )
            self.store.publish(records, name)
            _firewall().apply(self.store.all(), self.store.published())

    def _pick_port(
        self,
        protocol: str,
        host_ip: str,
        candidates: range,
        endpoint_name: str,
        *,
        ephemeral: bool = False,
    ) -> int:
        taken = self.store.host_ports_taken(protocol)
        last_error: OSError | None = None
        for port in candidates:
            if port in taken:
                if len(candidates) == 1:
                    raise PortAllocated(
                        "driver failed programming external connectivity on endpoint"
                        f" {endpoint_name}: Bind for {host_ip}:{port} failed: port is already"
                        " allocated"
                    )
                continue
            try:
                _try_bind(protocol, host_ip, port)
            except OSError as error:
                last_error = error
                if error.errno == errno.EADDRNOTAVAIL:
                    break
                continue
            return port
        if ephemeral and last_error is None:
            raise PortAllocated(
                f"driver failed programming external connectivity on endpoint {endpoint_name}:"
                " all ports are allocated"
            )
        family = "tcp4" if protocol == "tcp" else f"{protocol}4"
        reason = os.strerror(last_error.errno or 0).lower() if last_error else "in use"
        if last_error is not None and last_error.errno == errno.EADDRINUSE:
            reason = "address already in use"
        port_text = candidates[0] if len(candidates) == 1 else f"{candidates[0]}-{candidates[-1]}"
        raise PortAllocated(
            f"driver failed programming external connectivity on endpoint {endpoint_name}:"
            f" Error starting userland proxy: listen {family} {host_ip}:{port_text}: bind:"
            f" {reason}"
        )

    @contextlib.contextmanager
    def build_step(self, step: str) -> Iterator[tuple[int, str]]:
        """A build's RUN step on the default bridge, as docker's builder runs one: a network
        namespace of its own with a veth on ``bridge`` (outbound through the bridge's NAT
        rule, nothing published); yields the namespace's fd and the step's address. The lease
        and the namespace go when the step ends (the veth with the namespace)."""
        network = self.store.find("bridge")
        self.ensure_bridge(network)
        host_link = f"veth{os.urandom(4).hex()[:7]}"
        address = self.store.lease_for_build(network, step, host_link=host_link)
        namespace = -1
        try:
            namespace = _native.new_network_namespace()
            endpoint = Endpoint(
                network_id=network.id,
                container_id="",
                id="",
                address=address,
                mac=mac_for(address),
                host_link=host_link,
                aliases=(),
            )
            _attach(namespace, network, endpoint, 0)
            yield namespace, address
        finally:
            if namespace >= 0:
                os.close(namespace)
            self.store.release_build_lease(step)

    def forget_network(self, network: Network) -> None:
        """After ``network rm``: its bridge, its rules and its resolver's file go."""
        if network.bridge and network.user_defined:
            with contextlib.suppress(HybridockError, OSError):
                _native.delete_link(network.bridge)
            with contextlib.suppress(HybridockError):
                self._sync_rules()
            from hybridock.runtime import dns  # noqa: PLC0415

            dns.Resolver(self.layout.root / "network" / "dns").forget(network.name)

    def connect(
        self,
        network: Network,
        container: Container,
        *,
        aliases: tuple[str, ...],
        ip: str,
    ) -> None:
        """``network connect``: recorded in the container's config (it joins at every start)
        and, while it runs, made now: an address, a veth into its namespace, its names."""
        config = container.config
        names = [name for name, _, _ in config_networks(config)] if config.bridged else []
        if network.name in names:
            raise ConfigError(
                f"endpoint with name {container.name} already exists in network {network.name}"
            )
        if not config.bridged and config.network != "none":
            raise ConfigError(
                "container sharing network namespace with another container or host cannot be"
                " connected to any other network"
            )
        _check_endpoint_options(network, aliases, ip)
        if config.bridged:
            updated = config._replace(connected=(*config.connected, (network.name, aliases, ip)))
        else:
            updated = config._replace(network=network.name, network_aliases=aliases, ipv4=ip)
        if container.running and container.pid:
            endpoint = self._lease(network, container.id, aliases, ip)
            try:
                namespace = os.open(f"/proc/{container.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    _attach(namespace, network, endpoint, len(names))
                finally:
                    os.close(namespace)
            except BaseException:
                self.store.drop_endpoint(container.id, network.id)
                raise
            self._update_names({network.id})
        ContainerStore(self.layout, self.database).replace_config(container.id, updated)

    def disconnect(self, network: Network, container: Container) -> None:
        """``network disconnect``: out of the config, and out of the network now if running."""
        config = container.config
        names = [name for name, _, _ in config_networks(config)] if config.bridged else []
        if network.name not in names:
            raise ConfigError(
                f"container {container.id} is not connected to network {network.name}"
            )
        if config.network == network.name:
            updated = config._replace(network="none", network_aliases=(), ipv4="")
            if config.connected:
                (name, aliases, ip), *rest = config.connected
                updated = config._replace(
                    network=name, network_aliases=aliases, ipv4=ip, connected=tuple(rest)
                )
        else:
            updated = config._replace(
                connected=tuple(entry for entry in config.connected if entry[0] != network.name)
            )
        for endpoint in self.store.drop_endpoint(container.id, network.id):
            with contextlib.suppress(HybridockError, OSError):
                _native.delete_link(endpoint.host_link)
            if self.store.unpublish_on(container.id, network.bridge):
                self._sync_rules()
            self._update_names({network.id})
        ContainerStore(self.layout, self.database).replace_config(container.id, updated)

    def release(self, container_id: str) -> None:
        """Undoes ``prepare``: rows, links, rules, names (each whatever is left of it)."""
        release_network(self.layout, self.database, container_id)

    def after_release(self, taken: NetworkRows) -> None:
        """Once the container's rows are gone: its port rules and its names. Its veths go with
        its network namespace, which the kernel deletes when the last process in it (or the
        last fd on it) is gone: deleting a link ourselves waits for the kernel's RCU grace
        period, 20 ms of every exit. (A container sharing the namespace, ``--network
        container:X``, keeps X's interfaces until it ends too.)"""
        endpoints = [endpoint_of(row) for row in taken.endpoints]
        if taken.had_ports:
            self._sync_rules()
        # only a user network's endpoints carry names (the default bridge resolves none)
        self._update_names({endpoint.network_id for endpoint in endpoints if endpoint.aliases})

    def republish_names(self, container_id: str) -> None:
        """After a rename: the container's user networks' resolvers learn its new name."""
        endpoints = self.store.endpoints(container_id=container_id)
        self._update_names({endpoint.network_id for endpoint in endpoints if endpoint.aliases})

    def _update_names(self, network_ids: set[str]) -> None:
        """Publishes the names on each user network (or withdraws the network's file)."""
        if not network_ids:
            return
        networks = [n for n in self.store.all() if n.id in network_ids and n.user_defined]
        if not networks:
            return
        from hybridock.runtime import dns  # noqa: PLC0415 (only user networks resolve names)

        resolver = dns.Resolver(self.layout.root / "network" / "dns")
        for network in networks:
            entries = []
            for endpoint in self.store.endpoints(network_id=network.id):
                rows = self.database.query(
                    "SELECT name FROM containers WHERE id = ?", (endpoint.container_id,)
                )
                name = rows[0][0] if rows else endpoint.container_id[:12]
                entries.append(
                    dns.DnsEntry(
                        container_id=endpoint.container_id,
                        name=name,
                        aliases=tuple(endpoint.aliases),
                        ipv4=endpoint.address,
                    )
                )
            if entries:
                resolver.publish(network.name, [network.gateway], entries)
            else:
                resolver.forget(network.name)


def _attach(namespace: int, network: Network, endpoint: Endpoint, index: int) -> None:
    """The endpoint's veth into the namespace as ``eth<index>``; only the first interface gets
    the default route, as docker's first network (an internal network's too: its isolation is
    the rules', as docker's)."""
    _native.attach_veth(
        namespace,
        network.bridge,
        endpoint.host_link,
        endpoint.address,
        network.prefix,
        None if index > 0 else network.gateway,
        endpoint.mac,
        interface=f"eth{index}",
    )


def bindings_to_publish(config: ContainerConfig) -> list[tuple[str, int, str, int, int]]:
    """-p's bindings, then -P's (every exposed port no -p binds), as (protocol, container port,
    host address, first and last host port: 0, 0 for an ephemeral one)."""
    bindings = list(config.publish)
    if config.publish_all:
        exposed = [port for key in config.exposed for port in ports.Port.parse(key)]
        bindings.extend(ports.publish_all(exposed, config.publish))
    chosen = []
    for binding in bindings:
        if binding.host_port_range is not None:
            first, last = binding.host_port_range
        else:
            first = last = binding.host_port or 0
        chosen.append((binding.protocol, binding.container_port, binding.host_ip, first, last))
    return chosen


def config_networks(config: ContainerConfig) -> list[tuple[str, tuple[str, ...], str]]:
    """The container's bridge networks: (name, aliases, requested address), primary first."""
    return [(config.network, tuple(config.network_aliases), config.ipv4), *config.connected]


def _check_endpoint_options(network: Network, aliases: Sequence[str], requested: str) -> None:
    if network.driver != "bridge":
        raise ConfigError(f"container cannot be connected to network {network.name}")
    if network.user_defined:
        return
    if requested:
        raise ConfigError("user specified IP address is supported on user defined networks only")
    if aliases:
        raise ConfigError(
            "network-scoped alias is supported only for containers in user defined networks"
        )


def _firewall() -> ModuleType:
    """The rules' module, imported when rules change (with subprocess): a run on an existing
    network without published ports changes none."""
    from hybridock.runtime import firewall  # noqa: PLC0415

    return firewall


def _write_sysctl(key: str, value: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/sys", key).write_text(value)


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's ip_local_port_range, as docker 20.10's port allocator reads it."""
    try:
        low, high = (
            int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        )
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL
    return low, high


def _try_bind(protocol: str, host_ip: str, port: int) -> None:
    import socket  # noqa: PLC0415 (only a run that publishes ports)

    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    if protocol == "sctp":
        kind = socket.SOCK_STREAM  # the kernel's sctp may be missing; tcp's bind tells enough
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host_ip, port))
