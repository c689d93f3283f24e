"""Networks as docker has them: records, address management, and a container's place on them.

Every store has docker's three predefined networks: ``bridge`` (the default: the Linux bridge
``hybridock0``, 172.17.0.0/16 unless the config's ``bip`` says otherwise), ``host`` and ``none``.
``network create`` adds bridge networks of the user's (``br-<id12>``, a subnet from the
config's ``default-address-pools`` unless ``--subnet`` names one).

A running container on a bridge network has an *endpoint*: an address leased in the store
(``endpoints``: UNIQUE per network, taken in one write transaction, so two concurrent ``run``\\ s
never get the same one), the host end of its veth pair, and its aliases; its published ports are
rows of ``published_ports``. Both live exactly as long as the container runs: whoever sees the
exit (the attached CLI, the monitor's on-exit command, ``ps``/``rm`` reconciling a lost one) calls
``release``, which removes the rows, the port rules and the names, so nothing is left behind by
a crash that a later command does not clear.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from hybridock.errors import ConfigError, HybridockError

if TYPE_CHECKING:
    import ipaddress
    import sqlite3

    from hybridock.config import Config
    from hybridock.store.db import Database

PREDEFINED = ("bridge", "host", "none")
DEFAULT_BRIDGE = "hybridock0"


class NetworkNotFound(HybridockError, LookupError):
    """docker: ``network X not found`` (run) / ``No such network: X`` (network commands)."""


class NetworkInUse(HybridockError):
    """``network rm`` of a predefined network or one with containers on it."""


class Network(NamedTuple):
    id: str
    name: str
    driver: str  # bridge | host | null
    bridge: str  # the Linux bridge ("" for host and none)
    subnet: str  # "" for host and none
    gateway: str
    internal: bool
    created: float
    labels: Mapping[str, str]
    options: Mapping[str, str]

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def user_defined(self) -> bool:
        """docker's "user defined": names resolve, aliases and --ip are allowed."""
        return self.driver == "bridge" and self.name != "bridge"

    @property
    def prefix(self) -> int:
        return int(self.subnet.partition("/")[2])

    @property
    def short_id(self) -> str:
        return self.id[:12]


class Endpoint(NamedTuple):
    network_id: str
    container_id: str
    id: str
    address: str
    mac: str
    host_link: str
    aliases: tuple[str, ...]


class PublishedPort(NamedTuple):
    container_id: str
    protocol: str
    host_ip: str
    host_port: int
    container_port: int
    address: str
    bridge: str


def mac_for(address: str) -> str:
    """docker 20.10's MAC for an IPv4 endpoint: 02:42 and the address's four bytes."""
    return "02:42:" + ":".join(f"{int(byte):02x}" for byte in address.split("."))


# A run's lease works on addresses as integers: the ipaddress module costs a CLI start 1-2 ms,
# and the store holds only addresses it checked when the network was made.


def _number(address: str) -> int:
    """A dotted-quad IPv4 address as an integer (``ConfigError`` if it is not one)."""
    parts = address.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 and len(p) <= 3 for p in parts):
        raise ConfigError(f"invalid IPv4 address: {address}")
    return int.from_bytes(bytes(int(part) for part in parts), "big")


def _dotted(number: int) -> str:
    return ".".join(str(byte) for byte in number.to_bytes(4, "big"))


def _span(subnet: str) -> tuple[int, int]:
    """The first and last address (network and broadcast) of ``a.b.c.d/n``."""
    base, _, prefix = subnet.partition("/")
    size = 1 << (32 - int(prefix))
    first = _number(base) & ~(size - 1) & 0xFFFFFFFF
    return first, first + size - 1


def _network(row: sqlite3.Row) -> Network:
    return Network(
        id=row["id"],
        name=row["name"],
        driver=row["driver"],
        bridge=row["bridge"] or "",
        subnet=row["subnet"] or "",
        gateway=row["gateway"] or "",
        internal=bool(row["internal"]),
        created=row["created"],
        labels=json.loads(row["labels"]),
        options=json.loads(row["options"]),
    )


def endpoint_of(row: sqlite3.Row) -> Endpoint:
    return Endpoint(
        network_id=row["network_id"],
        container_id=row["container_id"],
        id=row["id"],
        address=row["address"],
        mac=row["mac"],
        host_link=row["host_link"],
        aliases=tuple(json.loads(row["aliases"])),
    )


def _free_address(connection: sqlite3.Connection, network: Network, requested: str) -> str:
    """``requested`` or the lowest address of ``network`` no container and no build step
    holds (inside the caller's write transaction)."""
    first, last = _span(network.subnet)
    used = {
        _number(row[0])
        for row in connection.execute(
            "SELECT address FROM endpoints WHERE network_id = ?"
            " UNION SELECT address FROM build_endpoints WHERE network_id = ?",
            (network.id, network.id),
        )
    }
    used.add(_number(network.gateway))
    if requested:
        address = _number(requested)
        if not first < address < last:
            raise ConfigError(
                f"Invalid address {requested}: It does not belong to any of this network's subnets"
            )
        if address in used:
            raise ConfigError("Address already in use")
        return _dotted(address)
    chosen = next((_dotted(host) for host in range(first + 1, last) if host not in used), "")
    if not chosen:
        raise ConfigError(
            "no available IPv4 addresses on this network's address pools:"
            f" {network.name} ({network.id})"
        )
    return chosen


class NetworkStore:
    """The store's networks, leases and published ports."""

    def __init__(self, database: Database, config: Config) -> None:
        self.db = database
        self.config = config

    # --- networks ---------------------------------------------------------------------------

    def _ensure_predefined(self) -> None:
        if self.db.query("SELECT 1 FROM networks WHERE name = 'bridge'"):
            return
        import ipaddress  # noqa: PLC0415 (once per store)

        interface = ipaddress.IPv4Interface(self.config.bip)
        rows = [
            ("bridge", "bridge", DEFAULT_BRIDGE, str(interface.network), str(interface.ip)),
            ("host", "host", None, None, None),
            ("none", "null", None, None, None),
        ]
        with self.db.write() as connection:
            for name, driver, bridge, subnet, gateway in rows:
                connection.execute(
                    "INSERT OR IGNORE INTO networks (id, name, driver, bridge, subnet, gateway,"
                    " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (os.urandom(32).hex(), name, driver, bridge, subnet, gateway, time.time()),
                )

    def all(self) -> list[Network]:
        self._ensure_predefined()
        return [_network(row) for row in self.db.query("SELECT * FROM networks ORDER BY name")]

    def find(self, text: str) -> Network:
        """By name, full id or unique id prefix, as docker resolves networks."""
        self._ensure_predefined()
        rows = self.db.query("SELECT * FROM networks WHERE name = ? OR id = ?", (text, text))
        if not rows and text and all(c in "0123456789abcdef" for c in text):
            rows = self.db.query("SELECT * FROM networks WHERE id LIKE ?", (f"{text}%",))
            if len(rows) > 1:
                raise NetworkNotFound(f"network {text} is ambiguous ({len(rows)} matches found)")
        if not rows:
            raise NetworkNotFound(f"network {text} not found")
        return _network(rows[0])

    def create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str | None = None,
        gateway: str | None = None,
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Network:
        """``network create``: checked as docker checks it, recorded in one transaction."""
        import ipaddress  # noqa: PLC0415 (network create only)

        self._ensure_predefined()
        if driver != "bridge":
            raise ConfigError(f"plugin {driver!r} not found" if driver else "driver is required")
        if not name:
            raise ConfigError("network name is required")
        _check_name(name)
        requested = _parse_subnet(subnet, gateway)
        network_id = os.urandom(32).hex()
        with self.db.write() as connection:
            if connection.execute("SELECT 1 FROM networks WHERE name = ?", (name,)).fetchone():
                raise ConfigError(f"network with name {name} already exists")
            taken = [
                ipaddress.IPv4Network(row[0])
                for row in connection.execute(
                    "SELECT subnet FROM networks WHERE subnet IS NOT NULL"
                )
            ]
            if requested is not None:
                chosen, chosen_gateway = requested
                if any(chosen.overlaps(other) for other in taken):
                    raise ConfigError("Pool overlaps with other one on this address space")
            else:
                chosen = self._free_subnet(taken)
                chosen_gateway = next(chosen.hosts())
            connection.execute(
                "INSERT INTO networks (id, name, driver, bridge, subnet, gateway, internal,"
                " created, labels, options) VALUES (?, ?, 'bridge', ?, ?, ?, ?, ?, ?, ?)",
                (
                    network_id,
                    name,
                    options.get("com.docker.network.bridge.name", f"br-{network_id[:12]}")
                    if options
                    else f"br-{network_id[:12]}",
                    str(chosen),
                    str(chosen_gateway),
                    int(internal),
                    time.time(),
                    json.dumps(dict(labels or {}), sort_keys=True),
                    json.dumps(dict(options or {}), sort_keys=True),
                ),
            )
        return self.find(network_id)

    def _free_subnet(self, taken: Sequence[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
        import ipaddress  # noqa: PLC0415

        for base, size in self.config.address_pools:
            for candidate in ipaddress.IPv4Network(base).subnets(new_prefix=size):
                if not any(candidate.overlaps(other) for other in taken):
                    return candidate
        raise ConfigError(
            "could not find an available, non-overlapping IPv4 address pool among the defaults"
            " to assign to the network"
        )

    def remove(self, network: Network) -> None:
        """``network rm``: refused for the predefined ones and while containers use it."""
        if network.predefined:
            raise NetworkInUse(f"{network.name} is a pre-defined network and cannot be removed")
        with self.db.write() as connection:
            users = connection.execute(
                "SELECT 1 FROM endpoints WHERE network_id = ? LIMIT 1", (network.id,)
            ).fetchone()
            if users or self._configured_users(connection, network):
                raise NetworkInUse(
                    f"error while removing network: network {network.name} id {network.id}"
                    " has active endpoints"
                )
            connection.execute("DELETE FROM networks WHERE id = ?", (network.id,))

    @staticmethod
    def _configured_users(connection: sqlite3.Connection, network: Network) -> bool:
        """Running containers configured for the network (their endpoint is being made)."""
        for (config,) in connection.execute(
            "SELECT config FROM containers WHERE state = 'running'"
        ):
            if network.name in _config_networks(json.loads(config)):
                return True
        return False

    def in_use(self, network: Network) -> bool:
        """A container of any state names it (``network prune`` keeps those, as docker)."""
        for (config,) in self.db.query("SELECT config FROM containers"):
            if network.name in _config_networks(json.loads(config)):
                return True
        return False

    # --- endpoints --------------------------------------------------------------------------

    def lease(
        self,
        network: Network,
        container_id: str,
        *,
        requested: str = "",
        aliases: Sequence[str] = (),
        host_link: str,
    ) -> Endpoint:
        """An address on ``network`` for the container: ``requested`` or the lowest free one."""
        with self.db.write() as connection:
            chosen = _free_address(connection, network, requested)
            endpoint = Endpoint(
                network_id=network.id,
                container_id=container_id,
                id=os.urandom(32).hex(),
                address=chosen,
                mac=mac_for(chosen),
                host_link=host_link,
                aliases=tuple(aliases),
            )
            connection.execute(
                "INSERT INTO endpoints (network_id, container_id, id, address, mac, host_link,"
                " aliases) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*endpoint[:6], json.dumps(list(endpoint.aliases))),
            )
        return endpoint

    def lease_for_build(self, network: Network, step: str, *, host_link: str) -> str:
        """An address on ``network`` for a build's RUN step (``build_endpoints``: a step is no
        container); a lease whose building process is gone is taken back first."""
        from hybridock.runtime.containers import process_alive, process_start_time  # noqa: PLC0415

        pid = os.getpid()
        with self.db.write() as connection:
            for stale, holder, start in connection.execute(
                "SELECT step, pid, pid_start FROM build_endpoints"
            ).fetchall():
                if not process_alive(holder, start):
                    connection.execute("DELETE FROM build_endpoints WHERE step = ?", (stale,))
            address = _free_address(connection, network, "")
            connection.execute(
                "INSERT INTO build_endpoints (network_id, step, address, host_link, pid,"
                " pid_start) VALUES (?, ?, ?, ?, ?, ?)",
                (network.id, step, address, host_link, pid, process_start_time(pid)),
            )
        return address

    def release_build_lease(self, step: str) -> None:
        with self.db.write() as connection:
            connection.execute("DELETE FROM build_endpoints WHERE step = ?", (step,))

    def endpoints(
        self, *, container_id: str | None = None, network_id: str | None = None
    ) -> list[Endpoint]:
        """The endpoints of a container, or of a network (the arguments filter; ``?`` as a
        column's own value matches every row)."""
        rows = self.db.query(
            "SELECT * FROM endpoints WHERE container_id = coalesce(?, container_id)"
            " AND network_id = coalesce(?, network_id)",
            (container_id, network_id),
        )
        return [endpoint_of(row) for row in rows]

    def drop_endpoint(self, container_id: str, network_id: str | None = None) -> list[Endpoint]:
        """Forgets the container's endpoints (on one network, or all) and returns them."""
        where = "container_id = ? AND network_id = coalesce(?, network_id)"
        parameters = (container_id, network_id)
        with self.db.write() as connection:
            rows = connection.execute(f"SELECT * FROM endpoints WHERE {where}", parameters)  # noqa: S608 - constant text
            dropped = [endpoint_of(row) for row in rows]
            connection.execute(f"DELETE FROM endpoints WHERE {where}", parameters)  # noqa: S608
        return dropped

    # --- published ports --------------------------------------------------------------------

    def publish(self, ports: Sequence[PublishedPort], endpoint_name: str) -> None:
        """Records the container's host ports, refusing one another container holds."""
        with self.db.write() as connection:
            for port in ports:
                clash = connection.execute(
                    "SELECT 1 FROM published_ports WHERE protocol = ? AND host_port = ? AND"
                    " (host_ip = ? OR host_ip = '0.0.0.0' OR ? = '0.0.0.0')",
                    (port.protocol, port.host_port, port.host_ip, port.host_ip),
                ).fetchone()
                if clash:
                    raise PortAllocated(
                        "driver failed programming external connectivity on endpoint"
                        f" {endpoint_name}: Bind for {port.host_ip}:{port.host_port} failed:"
                        " port is already allocated"
                    )
                connection.execute(
                    "INSERT INTO published_ports (container_id, protocol, host_ip, host_port,"
                    " container_port, address, bridge) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    port,
                )

    def published(self, container_id: str | None = None) -> list[PublishedPort]:
        rows = self.db.query(
            "SELECT * FROM published_ports WHERE container_id = coalesce(?, container_id)"
            " ORDER BY rowid",
            (container_id,),
        )
        return [PublishedPort(*(row[key] for key in PublishedPort._fields)) for row in rows]

    def host_ports_taken(self, protocol: str) -> set[int]:
        return {
            row[0]
            for row in self.db.query(
                "SELECT host_port FROM published_ports WHERE protocol = ?", (protocol,)
            )
        }

    def unpublish_on(self, container_id: str, bridge: str) -> bool:
        """Forgets the container's host ports that lead into ``bridge``; True when any."""
        with self.db.write() as connection:
            cursor = connection.execute(
                "DELETE FROM published_ports WHERE container_id = ? AND bridge = ?",
                (container_id, bridge),
            )
        return cursor.rowcount > 0


class PortAllocated(ConfigError):
    """A host port another container publishes, or a host process holds (run exits 125)."""


def _config_networks(config: Mapping[str, Any]) -> list[str]:
    networks = [config.get("network") or "none"]
    networks.extend(name for name, *_ in config.get("connected") or ())
    return networks


NAME_ALLOWED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


def _check_name(name: str) -> None:
    if not name[0].isalnum() or any(c not in NAME_ALLOWED for c in name):
        raise ConfigError(f'invalid name "{name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
    if name.startswith("container:") or name in PREDEFINED:
        raise ConfigError(f"network with name {name} already exists")


def _parse_subnet(
    subnet: str | None, gateway: str | None
) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Address] | None:
    import ipaddress  # noqa: PLC0415

    if subnet is None:
        if gateway is not None:
            raise ConfigError("every ip-range or gateway must have a corresponding subnet")
        return None
    try:
        network = ipaddress.IPv4Network(subnet, strict=False)
    except ValueError:
        raise ConfigError(f"invalid CIDR address: {subnet}") from None
    if network.prefixlen > 30:
        raise ConfigError(f"invalid subnet {subnet}: too small for a gateway and an address")
    if gateway is None:
        return network, next(network.hosts())
    try:
        address = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise ConfigError(f"invalid gateway address {gateway}") from None
    if address not in network or address in (network.network_address, network.broadcast_address):
        raise ConfigError(f"no matching subnet for gateway {gateway}")
    return network, address
