"""The store's metadata: one SQLite database (WAL) shared by every hybridock process.

Rows are written last, after the files they describe are complete, so a row always points at
something whole. Writers take ``BEGIN IMMEDIATE`` so two processes never interleave a
read-then-write; readers never block writers (WAL).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from hybridock.errors import StoreError

#: 2: removed_images; 3: networks, endpoints, published_ports; 4: volumes (an older store gains
#: the tables, nothing else changes); 5: layers.unpacked_size (an older store's layers gain the
#: column, NULL until ``ImageStore`` measures them once); 6: build_cache and build_endpoints
#: (an older store gains the tables)
SCHEMA_VERSION = 6

#: What an older store needs beyond the ``CREATE ... IF NOT EXISTS`` of SCHEMA, by version.
UPGRADES = {
    5: ("ALTER TABLE layers ADD COLUMN unpacked_size INTEGER",),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    chain_id          TEXT PRIMARY KEY,         -- sha256:..., names layers/<hex>/
    diff_id           TEXT NOT NULL,
    parent            TEXT,                     -- chain id of the layer below, NULL at the base
    digest            TEXT,                     -- the compressed blob it was extracted from
    media_type        TEXT,
    compressed_size   INTEGER NOT NULL DEFAULT 0,
    size              INTEGER NOT NULL DEFAULT 0,  -- uncompressed tar bytes
    created           REAL NOT NULL,
    unpacked_size     INTEGER                   -- docker's directory.Size of the tree
);
CREATE TABLE IF NOT EXISTS images (
    id                TEXT PRIMARY KEY,         -- config digest: docker's image ID
    config            TEXT NOT NULL,            -- the image config JSON, verified
    manifest_digest   TEXT NOT NULL,            -- the platform manifest
    created           TEXT,                     -- from the config
    os                TEXT,
    architecture      TEXT,
    variant           TEXT,
    size              INTEGER NOT NULL,         -- sum of its layers' unpacked sizes
    pulled            REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id          TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position          INTEGER NOT NULL,         -- 0 = base
    chain_id          TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE INDEX IF NOT EXISTS image_layers_by_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags (
    name              TEXT PRIMARY KEY,         -- docker.io/library/busybox:latest
    image_id          TEXT NOT NULL REFERENCES images(id),
    digest            TEXT NOT NULL             -- what the tag resolved to (index or manifest)
);
CREATE INDEX IF NOT EXISTS tags_by_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS repo_digests (
    repository        TEXT NOT NULL,            -- docker.io/library/busybox
    digest            TEXT NOT NULL,            -- index or manifest digest pulled from it
    image_id          TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX IF NOT EXISTS repo_digests_by_image ON repo_digests(image_id);
CREATE TABLE IF NOT EXISTS blobs (
    digest            TEXT PRIMARY KEY,         -- every blob file under blobs/sha256
    image_id          TEXT REFERENCES images(id) ON DELETE CASCADE,  -- manifests, configs
    size              INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS containers (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    image_id          TEXT NOT NULL REFERENCES images(id),
    image_ref         TEXT NOT NULL,            -- what the user typed, as docker shows it
    config            TEXT NOT NULL,            -- JSON: the merged container config
    created           REAL NOT NULL,
    state             TEXT NOT NULL,            -- created | running | exited
    pid               INTEGER,
    pid_start         INTEGER,                  -- /proc/PID/stat starttime: guards pid reuse
    monitor_pid       INTEGER,
    exit_code         INTEGER,
    started_at        REAL,
    finished_at       REAL,
    oom_killed        INTEGER NOT NULL DEFAULT 0,
    error             TEXT
);
CREATE INDEX IF NOT EXISTS containers_by_image ON containers(image_id);
CREATE TABLE IF NOT EXISTS removed_images (  -- deleted by rmi -f under a stopped container:
    image_id          TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE
);                                            -- hidden, kept until its last container goes
CREATE TABLE IF NOT EXISTS networks (
    id                TEXT PRIMARY KEY,         -- 64 hex, as docker's network ids
    name              TEXT NOT NULL UNIQUE,
    driver            TEXT NOT NULL,            -- bridge | host | null
    bridge            TEXT,                     -- the Linux bridge: hybridock0, br-<id12>
    subnet            TEXT,                     -- 172.18.0.0/16
    gateway           TEXT,                     -- 172.18.0.1
    internal          INTEGER NOT NULL DEFAULT 0,
    created           REAL NOT NULL,
    labels            TEXT NOT NULL DEFAULT '{}',
    options           TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS endpoints (       -- a running container's place on a network
    network_id        TEXT NOT NULL REFERENCES networks(id),
    container_id      TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    id                TEXT NOT NULL,            -- docker's EndpointID
    address           TEXT NOT NULL,            -- the lease: never given twice on a network
    mac               TEXT NOT NULL,
    host_link         TEXT NOT NULL,            -- the host end of its veth pair
    aliases           TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, address)
);
CREATE INDEX IF NOT EXISTS endpoints_by_container ON endpoints(container_id);
CREATE TABLE IF NOT EXISTS published_ports (  -- a running container's published ports
    container_id      TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    protocol          TEXT NOT NULL,
    host_ip           TEXT NOT NULL,            -- 0.0.0.0 for every address
    host_port         INTEGER NOT NULL,
    container_port    INTEGER NOT NULL,
    address           TEXT NOT NULL,            -- the container's address it leads to
    bridge            TEXT NOT NULL,
    UNIQUE (protocol, host_ip, host_port)
);
CREATE TABLE IF NOT EXISTS volumes (         -- volumes/<name>/_data, written before the row
    name              TEXT PRIMARY KEY,
    driver            TEXT NOT NULL,            -- local
    options           TEXT NOT NULL DEFAULT '{}',   -- JSON, null (as docker) for a volume
    labels            TEXT NOT NULL DEFAULT '{}',   -- a container made
    created           REAL NOT NULL,
    anonymous         INTEGER NOT NULL DEFAULT 0  -- made for a container: rm -v and --rm take it
);
CREATE TABLE IF NOT EXISTS build_cache (     -- a build step's result by its content key
    key               TEXT PRIMARY KEY,         -- sha256:... (build/cache.py)
    chain_id          TEXT REFERENCES layers(chain_id),  -- the top layer, NULL: no layer yet
    config            TEXT NOT NULL,            -- the image config after the step (JSON)
    created_at        REAL NOT NULL,
    last_used         REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS build_cache_by_chain ON build_cache(chain_id);
CREATE TABLE IF NOT EXISTS build_endpoints (  -- a RUN step's lease on the default bridge
    network_id        TEXT NOT NULL REFERENCES networks(id),
    step              TEXT PRIMARY KEY,         -- the step's temp dir name
    address           TEXT NOT NULL,            -- never one a container's endpoint has
    host_link         TEXT NOT NULL,
    pid               INTEGER NOT NULL,         -- the building process: a dead one's lease
    pid_start         INTEGER,                  -- is free again (a build killed by SIGKILL)
    UNIQUE (network_id, address)
);
"""


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        # One connection per process, shared by the pull threads: calls are serialized here.
        self._lock = threading.RLock()
        try:
            self.connection = sqlite3.connect(
                path, timeout=60.0, isolation_level=None, check_same_thread=False
            )
            self.connection.row_factory = sqlite3.Row
            self.connection.execute("PRAGMA foreign_keys = ON")
            self.connection.execute("PRAGMA busy_timeout = 60000")
            # WAL with synchronous=NORMAL: a commit is atomic and never corrupts the database;
            # only the last commits before a power loss may be lost, as with docker's bolt db
            # under its defaults. Saves an fsync per state change on every run.
            self.connection.execute("PRAGMA synchronous = NORMAL")
            version = self.connection.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                self._create(version)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the store database {path}: {error}") from error

    def _create(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer hybridock (schema {version}); upgrade"
            )
        self.connection.execute("PRAGMA journal_mode = WAL")
        with self.write() as connection:
            # another process may have upgraded it meanwhile: read again under the lock
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            if version:
                for upgrade in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in UPGRADES.get(upgrade, ()):
                        connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialized against every other process."""
        with self._lock:
            yield from self._transaction()

    def _transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self.connection
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StoreError(f"cannot lock the store database {self.path}: {error}") from error
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        else:
            try:
                connection.execute("COMMIT")
            except sqlite3.Error as error:
                connection.execute("ROLLBACK")
                raise StoreError(f"cannot write the store database {self.path}: {error}") from error

    def query(self, sql: str, parameters: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            with self._lock:
                return self.connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as error:
            raise StoreError(f"cannot read the store database {self.path}: {error}") from error

    def close(self) -> None:
        self.connection.close()
