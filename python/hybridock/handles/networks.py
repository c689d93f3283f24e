"""``client.networks`` and its handles."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hybridock.handles.common import Handle
from hybridock.handles.containers import ContainerHandle

if TYPE_CHECKING:
    from hybridock.client import Client, Network


class NetworkHandle(Handle):
    """A network: ``record`` is its ``Network`` record."""

    def __init__(self, client: Client, record: Network) -> None:
        super().__init__(client)
        self.record = record
        self.id = record.id

    @property
    def name(self) -> str:
        """Its name.

        >>> client.networks.get("bridge").name
        'bridge'
        """
        return self.record.name

    @property
    def containers(self) -> list[ContainerHandle]:
        """The running containers on it.

        >>> [c.name for c in client.networks.get("backend").containers]
        ['api']
        """
        return [
            ContainerHandle(self.client, record)
            for record, _ in self.client.network_containers(self.record)
        ]

    def _inspect(self) -> dict[str, Any]:
        return self.client.inspect_network(self.record)

    def reload(self) -> None:
        """Read its record again (``attrs``).

        >>> network.reload()
        """
        self.record = self.client.network(self.id)
        self._attrs = None

    def connect(
        self, container: ContainerHandle | str, *, aliases: Sequence[str] = (), ip: str = ""
    ) -> None:
        """The container joins it now if running, and at every start.

        >>> client.networks.get("backend").connect("web", aliases=["api"])
        """
        target = container.id if isinstance(container, ContainerHandle) else container
        self.client.connect_network(self.id, target, aliases=aliases, ip=ip)

    def disconnect(self, container: ContainerHandle | str) -> None:
        """The container leaves it.

        >>> client.networks.get("backend").disconnect("web")
        """
        target = container.id if isinstance(container, ContainerHandle) else container
        self.client.disconnect_network(self.id, target)

    def remove(self) -> None:
        """Delete it (refused for the predefined ones and while a container uses it).

        >>> client.networks.get("backend").remove()
        """
        self.client.remove_network(self.id)


class NetworkCollection:
    """``client.networks``: list, get, create and prune networks."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, name: str) -> NetworkHandle:
        """A network by name, id or unique id prefix (``NetworkNotFound`` otherwise).

        >>> client.networks.get("bridge").attrs["Driver"]
        'bridge'
        """
        return NetworkHandle(self.client, self.client.network(name))

    def list(self) -> list[NetworkHandle]:
        """Every network: docker's predefined ones and the user's.

        >>> [n.name for n in client.networks.list()]
        ['bridge', 'host', 'none']
        """
        return [NetworkHandle(self.client, record) for record in self.client.list_networks()]

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
    ) -> NetworkHandle:
        """A bridge network whose containers resolve each other by name.

        >>> client.networks.create("backend", subnet="10.20.0.0/24").name
        'backend'
        """
        record = self.client.create_network(
            name,
            driver=driver,
            subnet=subnet,
            gateway=gateway,
            internal=internal,
            labels=labels,
            options=options,
        )
        return NetworkHandle(self.client, record)

    def prune(self) -> builtins.list[str]:
        """Remove the user's networks no container names; their names.

        >>> client.networks.prune()
        ['backend']
        """
        return self.client.prune_networks()
