"""``client.volumes`` and its handles."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hybridock.handles.common import Handle

if TYPE_CHECKING:
    from hybridock.client import Client, Volume


class VolumeHandle(Handle):
    """A volume: ``record`` is its ``Volume`` record; its id is its name."""

    def __init__(self, client: Client, record: Volume) -> None:
        super().__init__(client)
        self.record = record
        self.id = record.name

    @property
    def name(self) -> str:
        """Its name.

        >>> client.volumes.create("pgdata").name
        'pgdata'
        """
        return self.record.name

    @property
    def short_id(self) -> str:
        """Its name (docker-py's short id of a volume).

        >>> client.volumes.get("pgdata").short_id
        'pgdata'
        """
        return self.record.name

    def _inspect(self) -> dict[str, Any]:
        return self.client.inspect_volume(self.record)

    def reload(self) -> None:
        """Read its record again (``attrs``).

        >>> volume.reload()
        """
        self.record = self.client.volume(self.id)
        self._attrs = None

    def remove(self, *, force: bool = False) -> None:
        """Delete it (refused while a container mounts it).

        >>> client.volumes.get("pgdata").remove()
        """
        self.client.remove_volume(self.id, force=force)


class VolumeCollection:
    """``client.volumes``: list, get, create and prune volumes."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, name: str) -> VolumeHandle:
        """A volume by name (``VolumeNotFound`` otherwise).

        >>> client.volumes.get("pgdata").attrs["Mountpoint"]
        '/var/lib/hybridock/volumes/pgdata/_data'
        """
        return VolumeHandle(self.client, self.client.volume(name))

    def list(self) -> list[VolumeHandle]:
        """Every volume, by name.

        >>> [v.name for v in client.volumes.list()]
        ['pgdata']
        """
        return [VolumeHandle(self.client, record) for record in self.client.list_volumes()]

    def create(
        self,
        name: str | None = None,
        *,
        driver: str = "local",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> VolumeHandle:
        """A new volume (a random name when none), or the existing one of that name.

        >>> client.volumes.create("pgdata", labels={"tier": "db"}).name
        'pgdata'
        """
        record = self.client.create_volume(name, driver=driver, labels=labels, options=options)
        return VolumeHandle(self.client, record)

    def prune(self, *, labels: Sequence[str] = ()) -> tuple[builtins.list[str], int]:
        """Remove every volume no container mounts (with ``labels``, "KEY" or "KEY=VALUE",
        only those that have each); their names and the bytes they held.

        >>> client.volumes.prune()
        (['pgdata'], 41234432)
        """
        return self.client.prune_volumes(labels=labels)
