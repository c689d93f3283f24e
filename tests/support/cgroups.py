"""The cgroup directories of one store's containers, found after the containers are gone.

A test must not judge the host: other hybridock processes (another test run, a user's
containers) have cgroups of their own at the same time. So a store is made to remember every
container it ever created: a trigger in its ``metadata.db`` copies each new container id into a
table of the test's own (hybridock never reads it), and a test asks whether a cgroup directory
named by one of those ids, and no other, is still under a cgroup mount.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path


def record_container_ids(store_root: Path) -> None:
    """From now on, remember the id of every container the store at ``store_root`` creates
    (its database must exist: run one hybridock command against it first)."""
    database = store_root / "metadata.db"
    if not database.exists():
        raise FileNotFoundError(f"{database}: run a hybridock command against the store first")
    with contextlib.closing(sqlite3.connect(database, timeout=60)) as connection:
        connection.executescript(
            """
            CREATE TABLE IF NOT EXISTS test_seen_containers (id TEXT PRIMARY KEY);
            CREATE TRIGGER IF NOT EXISTS test_seen_containers_insert AFTER INSERT ON containers
            BEGIN
                INSERT OR IGNORE INTO test_seen_containers (id) VALUES (NEW.id);
            END;
            """
        )


def seen_container_ids(store_root: Path) -> set[str]:
    """Every container id the store created since ``record_container_ids``."""
    with contextlib.closing(sqlite3.connect(store_root / "metadata.db", timeout=60)) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM test_seen_containers")}


def cgroup_mount_points(mountinfo: str | None = None) -> list[Path]:
    """Every cgroup (v1) and cgroup2 mount of this mount namespace."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    points = set()
    for line in text.splitlines():
        fields, _, after = line.partition(" - ")
        if after.split(" ", 1)[0] in ("cgroup", "cgroup2"):
            points.add(Path(fields.split()[4]))
    return sorted(points)


def cgroup_directories(container_ids: Iterable[str]) -> list[str]:
    """The cgroup directories, under any cgroup mount, named by one of ``container_ids``."""
    wanted = set(container_ids)
    if not wanted:
        return []
    found: list[str] = []
    for point in cgroup_mount_points():
        for directory, subdirectories, _ in os.walk(point):
            found.extend(f"{directory}/{name}" for name in subdirectories if name in wanted)
    return sorted(found)
