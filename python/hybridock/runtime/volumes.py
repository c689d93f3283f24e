"""Volumes as docker's ``local`` driver keeps them: ``volumes/<name>/_data`` and a ``volumes`` row.

Creation builds the tree under ``tmp/`` and renames it into ``volumes/`` before the row is
written; removal deletes the row first and then moves the tree to ``trash/`` (``discard``). Both
run under the store's ``volumes`` lock, so a crash leaves at worst a tree without a row, which
no command shows and the next creation of that name replaces. A volume is in use while a
container's record mounts it (docker's reference counting, read from the records themselves).

The local driver's options (``type``, ``device``, ``o``) are docker's: the device is mounted on
``_data`` when a container first uses the volume (or a ``cp`` of a stopped one), and containers
bind ``_data`` as for any other volume. dockerd unmounts it when the last container using it
stops; no process here outlives the containers to count them, so the records do: the ``rm``
of the last container whose record mounts it unmounts it (a tmpfs volume's files outlive a
stopped container until its ``rm``), and so does ``volume rm``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hybridock.errors import (
    ConfigError,
    HybridockError,
    InvalidVolumeSpec,
    SpawnError,
    StoreError,
)
from hybridock.store import events, locks
from hybridock.store.layout import Layout, remove_tree, tree_size
from hybridock.store.programs import discard

if TYPE_CHECKING:
    import sqlite3

    from hybridock.runtime.config import ContainerConfig, Mount
    from hybridock.store.db import Database

#: docker's rule for a local volume's name
NAME_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"
LOCK = "volumes"
DRIVERS = ("local",)
LOCAL_OPTIONS = ("type", "device", "o")


class VolumeNotFound(HybridockError, LookupError):
    """docker: ``get NAME: no such volume``."""


class VolumeInUse(HybridockError):
    """docker: ``remove NAME: volume is in use - [CONTAINER_ID]``."""


class Volume(NamedTuple):
    name: str
    driver: str
    options: Mapping[str, str] | None  # None (docker's null): made by a container, or the API
    labels: Mapping[str, str] | None  # without any
    created: float
    anonymous: bool
    mountpoint: str  # volumes/<name>/_data

    def has_label(self, wanted: str) -> bool:
        """docker's label filter: "KEY" (any value) or "KEY=VALUE"."""
        key, has_value, value = wanted.partition("=")
        labels = self.labels or {}
        return key in labels and (not has_value or labels[key] == value)


def check_name(name: str) -> str:
    if len(name) == 1 and name.isalnum():
        raise InvalidVolumeSpec(
            f"create {name}: volume name is too short, names should be at least two"
            " alphanumeric characters"
        )
    if not re.fullmatch(NAME_PATTERN, name):
        raise InvalidVolumeSpec(
            f'create {name}: "{name}" includes invalid characters for a local volume name, only'
            ' "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory,'
            " use absolute path"
        )
    return name


def _volume(layout: Layout, row: sqlite3.Row) -> Volume:
    return Volume(
        name=row["name"],
        driver=row["driver"],
        options=json.loads(row["options"]),
        labels=json.loads(row["labels"]),
        created=row["created"],
        anonymous=bool(row["anonymous"]),
        mountpoint=str(layout.volumes / row["name"] / "_data"),
    )


def check_options(name: str, options: Mapping[str, str]) -> None:
    """docker's local driver: ``type``, ``device`` and ``o``, given together (``mount -t TYPE
    -o O DEVICE``), or none."""
    for key in options:
        if key == "size":
            raise ConfigError(f"create {name}: quota size requested but no quota support")
        if key not in LOCAL_OPTIONS:
            raise ConfigError(f'create {name}: invalid option: "{key}"')
    for required in ("device", "type"):
        if options and required not in options:
            raise ConfigError(f'create {name}: missing required option: "{required}"')


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:  # noqa: PTH123
        for line in mountinfo:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split(" ", 5)[4])
            if point == path:
                return True
    return False


def _run(argv: Sequence[str]) -> str:
    """Runs mount or umount (from /, dockerd's working directory: a relative device is under
    /); "" when it succeeded, else its last line of error."""
    import subprocess  # noqa: PLC0415 (only volumes with options need it)

    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, check=False, cwd="/", timeout=60
        )
    except FileNotFoundError:
        return f"{argv[0]} not found (Debian's package mount)"
    if result.returncode == 0:
        return ""
    return (result.stderr.strip().splitlines() or [f"{argv[0]} failed"])[-1]


class VolumeStore:
    def __init__(self, layout: Layout, database: Database) -> None:
        self.layout = layout
        self.db = database

    def all(self) -> list[Volume]:
        rows = self.db.query("SELECT * FROM volumes ORDER BY name")
        return [_volume(self.layout, row) for row in rows]

    def get(self, name: str) -> Volume:
        rows = self.db.query("SELECT * FROM volumes WHERE name = ?", (name,))
        if not rows:
            raise VolumeNotFound(f"get {name}: no such volume")
        return _volume(self.layout, rows[0])

    def create(
        self,
        name: str | None = None,
        *,
        driver: str = "local",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        anonymous: bool = False,
    ) -> Volume:
        """A new volume, or the one of that name that exists (as docker's ``volume create``)."""
        name = check_name(name) if name is not None else os.urandom(32).hex()
        if driver not in DRIVERS:
            raise ConfigError(
                f"create {name}: error looking up volume plugin {driver}: plugin"
                f' "{driver}" not found'
            )
        check_options(name, options or {})
        self.layout.volumes.mkdir(mode=0o701, exist_ok=True)
        with locks.exclusive(self.layout.locks, LOCK):
            try:
                return self.get(name)
            except VolumeNotFound:
                pass
            place = self.layout.volumes / name
            if os.path.lexists(place):  # a tree whose row a crash never wrote, or removed
                discard(self.layout, place)
            with self.layout.temp_dir("volume") as temp:
                (temp / "_data").mkdir(mode=0o755)
                (temp / "_data").chmod(0o755)
                temp.chmod(0o701)
                temp.rename(place)
            with self.db.write() as connection:
                connection.execute(
                    "INSERT INTO volumes (name, driver, options, labels, created, anonymous)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        driver,
                        json.dumps(dict(options) if options is not None else None),
                        json.dumps(dict(labels) if labels is not None else None),
                        time.time(),
                        int(anonymous),
                    ),
                )
            events.record(self.layout, [events.event("volume", "create", name, {"driver": driver})])
        return self.get(name)

    def provide(self, config: ContainerConfig, layer_dirs: Sequence[str]) -> ContainerConfig:
        """The config with its volumes made (a named one on first use, an anonymous one always)
        and their paths filled in; an empty volume first gets the image's content at its mount
        path (docker's copy-up), unless ``nocopy``."""
        for mount in config.mounts:
            if mount.volume:
                check_name(mount.volume)  # all first: a refusal leaves no volume made
        mounts = []
        for mount in config.mounts:
            if not mount.is_volume:
                mounts.append(mount)
                continue
            volume = self.create(mount.volume or None, anonymous=mount.anonymous)
            self.mount_device(volume)
            if not mount.nocopy:
                self._copy_up(volume, layer_dirs, mount.destination)
            mounts.append(mount._replace(source=volume.mountpoint, volume=volume.name))
        return config._replace(mounts=tuple(mounts))

    def mount_device(self, volume: Volume) -> None:
        """A volume with options is docker's mount of its device on ``_data`` (a tmpfs, a bind
        of a host directory, a filesystem): made on its first use, and again after a reboot,
        under the volume's lock; it stays until the volume is removed."""
        if not volume.options:
            return
        options = volume.options
        with locks.exclusive(self.layout.locks, f"volume-{volume.name}"):
            if _mounted(volume.mountpoint):
                return
            command = ["mount", "-t", options["type"]]
            command += ["-o", options["o"]] if options.get("o") else []
            command += ["--", options["device"], volume.mountpoint]
            failure = _run(command)
            if failure:
                reason = failure.rpartition(": ")[2] or "mount failed"
                raise SpawnError(
                    f"error while mounting volume '{volume.mountpoint}': failed to mount local"
                    f" volume: mount {options['device']}:{volume.mountpoint}: {reason}"
                )

    def mount_devices(self, mounts: Sequence[Mount]) -> None:
        """Before a start: the devices of the volumes with options that ``mounts`` name."""
        names = [mount.volume for mount in mounts if mount.volume]
        rows = self.db.query(
            "SELECT volumes.* FROM volumes, json_each(?) AS wanted"
            " WHERE volumes.name = wanted.value AND volumes.options NOT IN ('{}', 'null')",
            (json.dumps(names),),
        )
        for row in rows:
            self.mount_device(_volume(self.layout, row))

    def unmount_unused(self, names: Sequence[str]) -> None:
        """After a container's ``rm``: the devices of these volumes that no container's record
        mounts any more are unmounted (one that is busy stays, for ``volume rm``)."""
        for name in names:
            try:
                volume = self.get(name)
            except VolumeNotFound:
                continue
            if not volume.options:
                continue
            with locks.exclusive(self.layout.locks, f"volume-{volume.name}"):
                if not self.users(volume.name):
                    with contextlib.suppress(StoreError):
                        self._unmount_device(volume)

    def _unmount_device(self, volume: Volume) -> None:
        if volume.options and _mounted(volume.mountpoint):
            failure = _run(["umount", "--", volume.mountpoint])
            if failure:
                raise StoreError(f"remove {volume.name}: {failure}")

    def _copy_up(self, volume: Volume, layer_dirs: Sequence[str], path: str) -> None:
        """Under the volume's lock, so two containers made at once copy once; a copy that
        fails is undone, so the next container's copies again."""
        from hybridock.runtime.copyup import copy_up  # noqa: PLC0415

        data = Path(volume.mountpoint)
        with locks.exclusive(self.layout.locks, f"volume-{volume.name}"):
            if any(data.iterdir()):
                return
            try:
                copy_up(layer_dirs, path, volume.mountpoint)
            except OSError as error:
                for entry in data.iterdir():
                    remove_tree(entry)
                raise StoreError(
                    f"copying the image's {path} into volume {volume.name}: {error}"
                ) from error

    def users(self, name: str) -> list[str]:
        """The ids of the containers whose records mount the volume."""
        rows = self.db.query(
            "SELECT DISTINCT containers.id FROM containers, json_each(containers.config,"
            " '$.mounts') AS mount WHERE json_extract(mount.value, '$.volume') = ?"
            " ORDER BY containers.created",
            (name,),
        )
        return [row["id"] for row in rows]

    def in_use(self) -> set[str]:
        rows = self.db.query(
            "SELECT DISTINCT json_extract(mount.value, '$.volume') AS name FROM containers,"
            " json_each(containers.config, '$.mounts') AS mount"
        )
        return {row["name"] for row in rows if row["name"]}

    def remove(self, name: str, *, force: bool = False) -> None:
        """The row first, under the lock (a volume in use stays), then the tree to trash/."""
        with locks.exclusive(self.layout.locks, LOCK):
            try:
                volume = self.get(name)
            except VolumeNotFound:
                if force:
                    return
                raise
            users = self.users(name)
            if users:
                raise VolumeInUse(f"remove {name}: volume is in use - [{', '.join(users)}]")
            self._unmount_device(volume)
            with self.db.write() as connection:
                connection.execute("DELETE FROM volumes WHERE name = ?", (volume.name,))
            discard(self.layout, self.layout.volumes / volume.name)
        events.record(
            self.layout, [events.event("volume", "destroy", volume.name, {"driver": volume.driver})]
        )

    def remove_anonymous(self, names: Sequence[str]) -> None:
        """What ``rm -v`` and ``--rm`` take with a container: its anonymous volumes that no
        other container mounts."""
        for name in names:
            try:
                if self.get(name).anonymous:
                    self.remove(name)
            except (VolumeNotFound, VolumeInUse):
                continue

    def size(self, volume: Volume) -> int:
        """docker's directory.Size of the volume's data (``tree_size``)."""
        return tree_size(volume.mountpoint)
