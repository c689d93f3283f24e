"""Image and layer sizes as docker shows them (each layer's unpacked size, recorded once), and
a store from before they were recorded (schema 4): its layers are measured once, on first use.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from hybridock.store.db import SCHEMA, SCHEMA_VERSION, Database
from hybridock.store.images import ImageStore
from hybridock.store.layout import Layout, tree_size

BASE_CHAIN = "sha256:" + "a" * 64
TOP_CHAIN = "sha256:" + "b" * 64
IMAGE_ID = "sha256:" + "c" * 64
NEW_COLUMN = (
    ",\n    unpacked_size     INTEGER                   -- docker's directory.Size of the tree"
)


def schema_4(path: Path) -> None:
    """The store as hybridock wrote it before schema 5."""
    assert NEW_COLUMN in SCHEMA
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA.replace(NEW_COLUMN, ""))
        connection.execute("PRAGMA user_version = 4")


def make_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def test_an_older_stores_layers_are_measured_once(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "store")
    layout.ensure()
    schema_4(layout.database)
    base, top = layout.layer(BASE_CHAIN), layout.layer(TOP_CHAIN)
    make_tree(base, {"bin/busybox": b"x" * 1000, "usr/lib/libc.so": b"l" * 300})
    os.link(base / "bin/busybox", base / "bin/sh")
    (base / "lib").symlink_to("usr/lib")
    make_tree(top, {"etc/hostname": b"box\n"})
    with sqlite3.connect(layout.database) as connection:
        for chain, parent in ((BASE_CHAIN, None), (TOP_CHAIN, BASE_CHAIN)):
            connection.execute(
                "INSERT INTO layers (chain_id, diff_id, parent, size, created)"
                " VALUES (?, ?, ?, 10240, 0)",
                (chain, chain, parent),
            )
        connection.execute(
            "INSERT INTO images (id, config, manifest_digest, size, pulled)"
            " VALUES (?, ?, 'sha256:m', 20480, 0)",
            (IMAGE_ID, json.dumps({"history": []})),
        )
        connection.executemany(
            "INSERT INTO image_layers (image_id, position, chain_id) VALUES (?, ?, ?)",
            [(IMAGE_ID, 0, BASE_CHAIN), (IMAGE_ID, 1, TOP_CHAIN)],
        )
    database = Database(layout.database)
    try:
        assert database.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 6
        images = ImageStore(layout, database)
        expected = {BASE_CHAIN: 1000 + 300 + 7, TOP_CHAIN: 4}
        assert expected == {BASE_CHAIN: tree_size(base), TOP_CHAIN: tree_size(top)}
        assert images.get(IMAGE_ID).size == 1000 + 300 + 7 + 4
        assert images.unpacked_sizes([BASE_CHAIN, TOP_CHAIN]) == expected
        # recorded: the trees are not walked again
        (base / "bin/busybox").write_bytes(b"")
        assert images.unpacked_sizes([BASE_CHAIN, TOP_CHAIN]) == expected
        assert [image.size for image in images.all()] == [1311]
    finally:
        database.close()


def test_a_process_that_read_the_older_version_upgrades_nothing_twice(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "store")
    layout.ensure()
    schema_4(layout.database)
    database = Database(layout.database)
    try:
        # as another process that read version 4 just before this one upgraded the store
        database._create(4)
        columns = [row[1] for row in database.query("PRAGMA table_info(layers)")]
        assert columns.count("unpacked_size") == 1
    finally:
        database.close()
