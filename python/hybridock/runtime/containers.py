"""Container records: create, look up by id prefix or name, state transitions, removal.

The state machine is created -> running -> exited (-> removed). Whoever supervises a running
container (the attached CLI or the detached monitor) writes ``exit.json`` in the container's
directory when the process ends; ``reconcile`` folds that file into the record, and marks a
container whose supervisor vanished without writing it as exited, so ``ps`` never shows a dead
container as running.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import time
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hybridock.errors import (
    ConfigError,
    ContainerNameInUse,
    ContainerNotFound,
    ContainerStateError,
)
from hybridock.runtime.names import random_name
from hybridock.store import events
from hybridock.store.db import Database
from hybridock.store.layout import Layout, write_atomic

if TYPE_CHECKING:
    # Imported where used: listing containers (`ps`) decodes no config and releases no
    # cgroup unless one has exited since, so it does not pay for either module.
    from hybridock.runtime.config import ContainerConfig

NAME_PATTERN = r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$"  # compiled on first use: --name is rare
EXIT_FILE = "exit.json"
#: docker's predefined networks without a bridge, and their drivers (runtime/network.py makes
#: the same rows)
HOST_AND_NONE = {"host": "host", "none": "null"}
#: exit code recorded when a container's supervisor died without recording one
LOST_EXIT_CODE = 255


#: every container query: the row, plus the command line read by SQLite out of the config's
#: JSON, so that listing many containers (``ps``) decodes no config
SELECT = "SELECT *, json_extract(config, '$.entrypoint', '$.cmd') AS argv_json FROM containers"


class Container(NamedTuple):
    id: str
    name: str
    image_id: str
    image: str  # as the user typed it: docker shows that
    argv: tuple[str, ...]  # entrypoint + cmd
    config_json: str
    created: float
    state: str
    pid: int | None
    pid_start: int | None
    monitor_pid: int | None
    exit_code: int | None
    started_at: float | None
    finished_at: float | None
    oom_killed: bool
    error: str | None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def restarting(self) -> bool:
        """Waiting out its restart policy's backoff: docker counts it as running (ps lists
        it, stop and kill act on it, rm wants -f)."""
        return self.state == "restarting"

    @property
    def config(self) -> ContainerConfig:
        """Decoded on first use, once for every record of the same container."""
        return _decode_config(self.config_json)


@lru_cache(maxsize=64)
def _decode_config(text: str) -> ContainerConfig:
    from hybridock.runtime.config import ContainerConfig  # noqa: PLC0415

    return ContainerConfig.from_json(text)


def _stat(pid: int) -> list[bytes] | None:
    """/proc/PID/stat's fields after the command name (field 3, the state, first)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return data[data.rindex(b")") + 2 :].split()


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot): tells a reused pid apart."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def process_alive(pid: int | None, start: int | None) -> bool:
    """Running, not a zombie, and (when ``start`` is known) not a reused pid."""
    if not pid:
        return False
    fields = _stat(pid)
    if fields is None or fields[0] in (b"Z", b"X"):
        return False
    return start is None or int(fields[19]) == start


def container_event(
    container: Container | sqlite3.Row, action: str, extra: dict[str, str] | None = None
) -> events.Event:
    """docker's container event: the container's labels, its image (as typed) and name, and
    what the action adds (``exitCode``, ``signal``, ...)."""
    if isinstance(container, Container):
        labels: Mapping[str, str] = container.config.labels
        identifier, name, image = container.id, container.name, container.image
    else:
        labels = json.loads(container["config"]).get("labels") or {}
        identifier, name, image = container["id"], container["name"], container["image_ref"]
    attributes = {**labels, **(extra or {}), "image": image, "name": name}
    return events.event("container", action, identifier, dict(sorted(attributes.items())))


def _volume_events(row: sqlite3.Row, action: str) -> list[events.Event]:
    """docker's volume mount (at a start) or unmount (at an exit) of each volume the
    container's record mounts."""
    found = []
    for mount in json.loads(row["config"]).get("mounts") or ():
        if not isinstance(mount, dict) or not mount.get("volume"):
            continue
        attributes = {"container": row["id"], "driver": "local"}
        if action == "mount":
            attributes["destination"] = mount.get("destination", "")
            attributes["propagation"] = mount.get("propagation", "")
            attributes["read/write"] = "false" if mount.get("readonly") else "true"
        found.append(
            events.event("volume", action, mount["volume"], dict(sorted(attributes.items())))
        )
    return found


def _network_events(
    connection: sqlite3.Connection, container: sqlite3.Row | None, action: str
) -> list[events.Event]:
    """docker's network connect (at a start) or disconnect (at an exit) of each network the
    container has a place on: its bridge networks' endpoints, or ``host`` or ``none``."""
    if container is None:
        return []
    container_id = container["id"]
    rows = connection.execute(
        "SELECT networks.id, networks.name, networks.driver FROM endpoints JOIN networks"
        " ON networks.id = endpoints.network_id WHERE endpoints.container_id = ?"
        " ORDER BY networks.name",
        (container_id,),
    ).fetchall()
    network = json.loads(container["config"]).get("network")
    if not rows and network in HOST_AND_NONE:
        # the predefined row, made here if no network command has made it yet
        connection.execute(
            "INSERT OR IGNORE INTO networks (id, name, driver, created) VALUES (?, ?, ?, ?)",
            (os.urandom(32).hex(), network, HOST_AND_NONE[network], time.time()),
        )
        rows = connection.execute(
            "SELECT id, name, driver FROM networks WHERE name = ?", (network,)
        ).fetchall()
    return [
        events.event(
            "network", action, row[0], {"container": container_id, "name": row[1], "type": row[2]}
        )
        for row in rows
    ]


def _release_cgroup(directory: Path) -> bool:
    from hybridock.runtime import cgroups  # noqa: PLC0415 (see TYPE_CHECKING above)

    return cgroups.release(directory)


def take_network_rows(connection: sqlite3.Connection, container_id: str) -> NetworkRows:
    """Deletes the container's endpoints and published ports in the caller's transaction;
    returns the endpoints' rows and whether it published ports."""
    endpoints = connection.execute(
        "SELECT * FROM endpoints WHERE container_id = ?", (container_id,)
    ).fetchall()
    connection.execute("DELETE FROM endpoints WHERE container_id = ?", (container_id,))
    ports = connection.execute(
        "DELETE FROM published_ports WHERE container_id = ?", (container_id,)
    )
    return NetworkRows(endpoints, ports.rowcount > 0)


class NetworkRows(NamedTuple):
    endpoints: list[sqlite3.Row]
    had_ports: bool


def after_network_release(layout: Layout, database: Database, taken: NetworkRows) -> None:
    """What is left to undo outside the store once the rows are gone (links, rules, names)."""
    if not taken.endpoints and not taken.had_ports:
        return
    from hybridock.config import Config  # noqa: PLC0415 (see TYPE_CHECKING above)
    from hybridock.runtime.sandbox import NetworkRuntime  # noqa: PLC0415

    NetworkRuntime(layout, database, Config()).after_release(taken)


def release_network(layout: Layout, database: Database, container_id: str) -> None:
    """Frees what the container held on its networks (lease, port rules, names), if anything."""
    with database.write() as connection:
        taken = take_network_rows(connection, container_id)
    after_network_release(layout, database, taken)


class ContainerStore:
    def __init__(self, layout: Layout, database: Database) -> None:
        self.layout = layout
        self.db = database

    def create(self, config: ContainerConfig, name: str | None, container_id: str) -> Container:
        if name is not None and not re.match(NAME_PATTERN, name):
            raise ConfigError(
                f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        directory = self.layout.container(container_id)
        for sub in ("upper", "work", "rootfs"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        chosen = name.lstrip("/") if name else None
        for _ in range(20):
            candidate = chosen or random_name()
            try:
                with self.db.write() as connection:
                    connection.execute(
                        "INSERT INTO containers (id, name, image_id, image_ref, config, created,"
                        " state) VALUES (?, ?, ?, ?, ?, ?, 'created')",
                        (
                            container_id,
                            candidate,
                            config.image_id,
                            config.image,
                            config.to_json(),
                            time.time(),
                        ),
                    )
                break
            except sqlite3.IntegrityError as error:
                if chosen:
                    from hybridock.store.layout import remove_tree  # noqa: PLC0415

                    remove_tree(directory)
                    raise self._name_taken(chosen) from error
        created = self.get(container_id)
        events.record(self.layout, [container_event(created, "create")])
        return created

    def rename(self, container: Container, new_name: str) -> None:
        """docker rename: the record's name, checked as ``--name`` is (one transaction, so two
        renames to one name cannot both win)."""
        chosen = new_name.lstrip("/")
        if not re.match(NAME_PATTERN, new_name):
            raise ConfigError(
                f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        if chosen == container.name:
            raise ConfigError("Renaming a container with the same name as its current name")
        try:
            with self.db.write() as connection:
                connection.execute(
                    "UPDATE containers SET name = ? WHERE id = ?", (chosen, container.id)
                )
        except sqlite3.IntegrityError as error:
            raise self._name_taken(chosen) from error

    def _name_taken(self, name: str) -> ContainerNameInUse:
        """docker's refusal of a name another container has (create, run --name, rename)."""
        other = self.db.query("SELECT id FROM containers WHERE name = ?", (name,))
        owner = other[0][0] if other else "?"
        return ContainerNameInUse(
            f'Conflict. The container name "/{name}" is already in use by container'
            f' "{owner}". You have to remove (or rename) that container to be able to'
            " reuse that name."
        )

    def event(
        self, container: Container, action: str, extra: Mapping[str, str] | None = None
    ) -> None:
        """Appends docker's container event to the store's event log."""
        events.record(self.layout, [container_event(container, action, dict(extra or {}))])

    def replace_config(self, container_id: str, config: ContainerConfig) -> None:
        """A new configuration for the container (network connect, update)."""
        with self.db.write() as connection:
            connection.execute(
                "UPDATE containers SET config = ? WHERE id = ?", (config.to_json(), container_id)
            )

    @staticmethod
    def new_id() -> str:
        return os.urandom(32).hex()

    def get(self, container_id: str) -> Container:
        rows = self.db.query(f"{SELECT} WHERE id = ?", (container_id,))
        if not rows:
            raise ContainerNotFound(f"No such container: {container_id}")
        return self._record(rows[0])

    def find(self, text: str) -> Container:
        """By full id, name, or unique id prefix, as docker resolves them."""
        rows = self.db.query(f"{SELECT} WHERE id = ? OR name = ?", (text, text.lstrip("/")))
        if not rows and re.fullmatch(r"[0-9a-f]{1,64}", text):
            rows = self.db.query(f"{SELECT} WHERE id LIKE ?", (f"{text}%",))
            if len(rows) > 1:
                raise ContainerNotFound(f"multiple IDs found with provided prefix: {text}")
        if not rows:
            raise ContainerNotFound(f"No such container: {text}")
        return self.reconcile(self._record(rows[0]))

    def all(self) -> list[Container]:
        rows = self.db.query(f"{SELECT} ORDER BY created DESC")
        return [self.reconcile(self._record(row)) for row in rows]

    def _record(self, row: sqlite3.Row) -> Container:
        return Container(
            id=row["id"],
            name=row["name"],
            image_id=row["image_id"],
            image=row["image_ref"],
            argv=tuple(part for parts in json.loads(row["argv_json"]) for part in parts),
            config_json=row["config"],
            created=row["created"],
            state=row["state"],
            pid=row["pid"],
            pid_start=row["pid_start"],
            monitor_pid=row["monitor_pid"],
            exit_code=row["exit_code"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            oom_killed=bool(row["oom_killed"]),
            error=row["error"],
        )

    # --- state ------------------------------------------------------------------------------

    def mark_running(self, container_id: str, pid: int, monitor_pid: int | None) -> None:
        with self.db.write() as connection:
            connection.execute(
                "UPDATE containers SET state = 'running', pid = ?, pid_start = ?,"
                " monitor_pid = ?, started_at = ?, exit_code = NULL, finished_at = NULL,"
                " oom_killed = 0, error = NULL WHERE id = ?",
                (pid, process_start_time(pid), monitor_pid, time.time(), container_id),
            )
            row = connection.execute(
                "SELECT id, name, image_ref, config FROM containers WHERE id = ?", (container_id,)
            ).fetchone()
            connected = _network_events(connection, row, "connect")
        if row is not None:
            started = [*connected, *_volume_events(row, "mount"), container_event(row, "start")]
            events.record(self.layout, started)

    def mark_restarting(self, container_id: str, sleeper: int) -> None:
        """docker's Restarting: exited, waiting out the backoff in process ``sleeper``
        (``runtime/restarts.py``), which stands in for the supervisor meanwhile."""
        with self.db.write() as connection:
            connection.execute(
                "UPDATE containers SET state = 'restarting', pid = NULL, pid_start = NULL,"
                " monitor_pid = ? WHERE id = ? AND state = 'exited'",
                (sleeper, container_id),
            )

    def mark_start_failed(self, container_id: str, exit_code: int, error: str) -> None:
        with self.db.write() as connection:
            connection.execute(
                "UPDATE containers SET state = 'created', pid = NULL, pid_start = NULL,"
                " monitor_pid = NULL, exit_code = ?, error = ? WHERE id = ?",
                (exit_code, error, container_id),
            )

    def clear_exit(self, container_id: str) -> None:
        """Forget a previous run's exit record; called before the process is started, so a
        fast exit recorded by the supervisor is never lost."""
        with contextlib.suppress(FileNotFoundError):
            (self.layout.container(container_id) / EXIT_FILE).unlink()

    def mark_exited(
        self,
        container_id: str,
        exit_code: int,
        *,
        finished_at: float | None = None,
        oom_killed: bool = False,
        error: str | None = None,
        run: int | None = None,
    ) -> bool:
        """Records the container exited; with ``run`` (the pid of the run an observer saw end)
        only while the record is still that run, so an observer that read it before the exit
        was folded (and the container restarted, or marked restarting) changes nothing.
        Whether it was recorded."""
        # the network's rows go in the same transaction: an exit costs one commit either way
        with self.db.write() as connection:
            # the one place an exit is folded in: docker's die, once (only a running record dies)
            row = connection.execute(
                "SELECT id, name, image_ref, config, state, pid FROM containers WHERE id = ?",
                (container_id,),
            ).fetchone()
            if run is not None and (row is None or row["state"] != "running" or row["pid"] != run):
                return False
            disconnected = _network_events(connection, row, "disconnect")
            taken = take_network_rows(connection, container_id)
            connection.execute(
                "UPDATE containers SET state = 'exited', pid = NULL, pid_start = NULL,"
                " monitor_pid = NULL, exit_code = ?, finished_at = ?, oom_killed = ?, error = ?"
                " WHERE id = ?",
                (exit_code, finished_at or time.time(), int(oom_killed), error, container_id),
            )
        if row is not None and row["state"] == "running":
            died = container_event(row, "die", {"exitCode": str(exit_code)})
            events.record(self.layout, [died, *disconnected, *_volume_events(row, "unmount")])
        after_network_release(self.layout, self.db, taken)
        return True

    def write_exit(self, container_id: str, exit_code: int, oom_killed: bool = False) -> None:
        """What a supervisor records when the container's process ends."""
        record = {"exit_code": exit_code, "finished_at": time.time(), "oom_killed": oom_killed}
        write_atomic(
            self.layout.container(container_id) / EXIT_FILE,
            json.dumps(record).encode(),
            durable=False,
        )

    def read_exit(self, container_id: str) -> dict[str, Any] | None:
        try:
            data = (self.layout.container(container_id) / EXIT_FILE).read_bytes()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(data)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def reconcile(self, container: Container) -> Container:
        """Fold a supervisor's exit record in; a vanished supervisor means exited."""
        if container.state == "restarting" and not process_alive(container.monitor_pid, None):
            # its restart's sleeper is gone (killed, or the host restarted): it stays down
            with self.db.write() as connection:
                connection.execute(
                    "UPDATE containers SET state = 'exited', monitor_pid = NULL"
                    " WHERE id = ? AND state = 'restarting' AND monitor_pid = ?",
                    (container.id, container.monitor_pid),
                )
            return self.get(container.id)
        if container.state != "running":
            return container
        record = self.read_exit(container.id)
        if record is not None:
            # only the observer that folds this run's exit in releases its cgroup: one that read
            # the record late must not take a restarted run's (the exit.json it read is cleared
            # by that start) or overwrite a restarting record
            if self.mark_exited(
                container.id,
                int(record["exit_code"]),
                finished_at=float(record["finished_at"]),
                oom_killed=bool(record.get("oom_killed")),
                run=container.pid,
            ) and _release_cgroup(self.layout.container(container.id)):
                # the monitor cannot know of an OOM kill; the cgroup does, until it is removed
                self._mark_oom_killed(container.id)
            return self.get(container.id)
        if process_alive(container.monitor_pid, None):
            return container  # running, or its supervisor is about to record the exit
        record = self.read_exit(container.id)  # the supervisor may have just finished
        if record is not None:
            return self.reconcile(container)
        if process_alive(container.pid, container.pid_start):
            # The supervisor died and the process lives on unsupervised: end it.
            with contextlib.suppress(ProcessLookupError):
                os.kill(container.pid or 0, signal.SIGKILL)
        if self.mark_exited(
            container.id,
            LOST_EXIT_CODE,
            error="the container's supervisor died",
            run=container.pid,
        ) and _release_cgroup(self.layout.container(container.id)):
            self._mark_oom_killed(container.id)
        return self.get(container.id)

    def _mark_oom_killed(self, container_id: str) -> None:
        with self.db.write() as connection:
            connection.execute("UPDATE containers SET oom_killed = 1 WHERE id = ?", (container_id,))

    def remove_record(self, container_id: str) -> None:
        with self.db.write() as connection:
            row = connection.execute(
                "SELECT id, name, image_ref, config FROM containers WHERE id = ?", (container_id,)
            ).fetchone()
            connection.execute("DELETE FROM containers WHERE id = ?", (container_id,))
        if row is not None:
            events.record(self.layout, [container_event(row, "destroy")])

    def require_running(self, container: Container) -> None:
        if not container.running:
            raise ContainerStateError(f"container {container.id[:12]} is not running")
