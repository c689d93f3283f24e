"""The volume store's records and trees: docker's layout, atomic creation and removal, what a
crash in between leaves and how the next command deals with it."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridock.errors import ConfigError, InvalidVolumeSpec
from hybridock.runtime.volumes import VolumeNotFound, VolumeStore
from hybridock.store.db import SCHEMA_VERSION, Database
from hybridock.store.layout import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    made = Layout(tmp_path / "store")
    made.ensure()
    return made


@pytest.fixture
def store(layout: Layout) -> Iterator[VolumeStore]:
    database = Database(layout.database)
    yield VolumeStore(layout, database)
    database.close()


def test_a_volume_is_dockers_layout_and_a_row(store: VolumeStore, layout: Layout) -> None:
    volume = store.create("pgdata", labels={"tier": "db"})
    assert volume.mountpoint == str(layout.root / "volumes" / "pgdata" / "_data")
    assert Path(volume.mountpoint).is_dir()
    assert (volume.driver, volume.labels, volume.anonymous) == (
        "local",
        {"tier": "db"},
        False,
    )
    assert store.create("pgdata") == volume  # the existing one, as docker's create
    assert list(layout.tmp.iterdir()) == []  # built there, renamed away whole


def test_an_anonymous_volume_gets_dockers_random_name(store: VolumeStore) -> None:
    volume = store.create(anonymous=True)
    assert len(volume.name) == 64 and int(volume.name, 16) >= 0
    assert volume.anonymous


def test_removal_takes_the_row_then_the_tree(store: VolumeStore, layout: Layout) -> None:
    store.create("gone")
    store.remove("gone")
    assert not (layout.volumes / "gone").exists()
    with pytest.raises(VolumeNotFound, match="get gone: no such volume"):
        store.get("gone")
    store.remove("gone", force=True)  # missing is no error with force


def test_a_tree_whose_row_a_crash_never_wrote_is_replaced(
    store: VolumeStore, layout: Layout
) -> None:
    """A crash after the rename and before the row (or after a removal's row went and before
    its tree did) leaves a tree no command shows; creating the name again starts clean."""
    stale = store.create("data")
    (Path(stale.mountpoint) / "old").write_text("from before the crash\n")
    with sqlite3.connect(layout.database) as connection:
        connection.execute("DELETE FROM volumes WHERE name = 'data'")
    assert store.all() == []
    fresh = store.create("data")
    assert list(Path(fresh.mountpoint).iterdir()) == []


def test_concurrent_creations_of_one_name_make_one_volume(layout: Layout) -> None:
    made: list[str] = []
    errors: list[BaseException] = []

    def create() -> None:
        database = Database(layout.database)
        try:
            made.append(VolumeStore(layout, database).create("shared").mountpoint)
        except BaseException as error:
            errors.append(error)
        finally:
            database.close()

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(made)) == 1 and len(made) == 8
    assert [entry.name for entry in layout.volumes.iterdir()] == ["shared"]


def test_refusals_make_nothing(store: VolumeStore, layout: Layout) -> None:
    with pytest.raises(InvalidVolumeSpec):
        store.create("bad/name")
    with pytest.raises(ConfigError, match='plugin "nfs" not found'):
        store.create("x1", driver="nfs")
    assert store.all() == []
    assert not layout.volumes.exists() or list(layout.volumes.iterdir()) == []


def test_an_older_store_gains_the_volumes_table(layout: Layout) -> None:
    with sqlite3.connect(layout.database) as connection:
        connection.execute("CREATE TABLE layers (chain_id TEXT PRIMARY KEY)")
        connection.execute("PRAGMA user_version = 3")
    database = Database(layout.database)
    try:
        assert database.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        assert VolumeStore(layout, database).all() == []
    finally:
        database.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"type": "tmpfs"}, 'missing required option: "device"', id="no-device"),
        pytest.param({"device": "/tmp"}, 'missing required option: "type"', id="no-type"),
        pytest.param({"o": "bind"}, 'missing required option: "device"', id="only-o"),
        pytest.param({"bogus": "1"}, 'invalid option: "bogus"', id="unknown"),
        pytest.param({"size": "1m"}, "quota size requested but no quota support", id="size"),
    ],
)
def test_local_driver_options_as_dockers(
    store: VolumeStore, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"create v1: {message}")):
        store.create("v1", options=options)
    assert store.all() == []


def test_local_driver_options_are_kept(store: VolumeStore) -> None:
    options = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert store.create("t1", options=options).options == options
