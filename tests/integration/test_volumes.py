"""Volumes end to end, as root: docker's named and anonymous volumes on real containers.

One store per module holds busybox and a "seeded" image whose ``/data`` (a VOLUME) has owners,
modes, xattrs, a symlink out of the image, a hardlink, a whited-out file and an opaque
directory, so copy-up is checked against everything overlayfs merging can do. Every test
removes the containers and volumes it made.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_containers import Box, make_box, wait_for
from tests.support.images import ImageSpec
from tests.support.layers import (
    Device,
    Dir,
    Fifo,
    File,
    Hardlink,
    Layer,
    OpaqueWhiteout,
    Symlink,
    Whiteout,
)
from tests.support.registry import Registry
from tests.support.testimages import busybox_entries, host_platform

pytestmark = [pytest.mark.root, pytest.mark.registry]

OWNER = (1000, 1001)


def seeded_image() -> ImageSpec:
    """busybox, then /data over two more layers: what copy-up must reproduce."""
    lower = Layer(
        [
            Dir("data", 0o750, *OWNER),
            File("data/gone", "whited out above\n"),
            Dir("data/opaque"),
            File("data/opaque/old", "hidden by the opaque directory above\n"),
        ]
    )
    upper = Layer(
        [
            Dir("data", 0o750, *OWNER, xattrs={"user.kind": "seed"}),
            File("data/file", "seed\n", 0o640, *OWNER, xattrs={"user.tag": "kept"}),
            Hardlink("data/hard", "data/file", 0o640),
            Symlink("data/link", "/etc/passwd"),
            Dir("data/sub", 0o700, *OWNER),
            Fifo("data/pipe", 0o620, *OWNER),
            Device("data/null", 1, 3, mode=0o640, uid=OWNER[0], gid=OWNER[1]),
            File("data/sub/deep", "deep\n", 0o600, *OWNER),
            Whiteout("data/gone"),
            OpaqueWhiteout("data/opaque"),
            File("data/opaque/new", "new\n"),
            Symlink("seedlink", "data"),
            Symlink("escape", "../../../../../../tmp"),
        ]
    )
    return ImageSpec(
        layers=[Layer(busybox_entries()), lower, upper],
        cmd=["sh"],
        platform=host_platform(),
        extra_config={"Volumes": {"/data": {}}},
    )


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    image_builder.publish_library(session_registry)  # type: ignore[attr-defined]
    session_registry.push(seeded_image().build(), "library/seeded", "latest")
    made = make_box(tmp_path_factory.mktemp("volumes"), session_registry)
    made.ok("pull", "busybox")
    made.ok("pull", "seeded")
    try:
        yield made
    finally:
        made.discard()


@pytest.fixture
def clean(box: Box) -> Iterator[Box]:
    """The box; afterwards every container and volume of it is removed."""
    yield box
    box.remove_containers()
    for name in box("volume", "ls", "-q").stdout.split():
        box("volume", "rm", "-f", name)


def volume_names(box: Box) -> list[str]:
    return box.ok("volume", "ls", "-q").split()


def mountpoint(box: Box, name: str) -> Path:
    return Path(box.ok("volume", "inspect", "-f", "{{.Mountpoint}}", name).strip())


def mounts_of(box: Box, container: str) -> list[dict[str, Any]]:
    mounts = box.inspect(container)["Mounts"]
    assert isinstance(mounts, list)
    return mounts


def names_in(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


def test_create_ls_inspect_rm(clean: Box) -> None:
    box = clean
    assert box.ok("volume", "create", "--label", "tier=db", "pgdata") == "pgdata\n"
    assert box.ok("volume", "create", "pgdata") == "pgdata\n"  # as docker: the existing one
    anonymous = box.ok("volume", "create").strip()
    assert len(anonymous) == 64 and int(anonymous, 16) >= 0
    assert box.ok("volume", "ls") == (
        f"DRIVER    VOLUME NAME\nlocal     {anonymous}\nlocal     pgdata\n"
    )
    assert box.ok("volume", "ls", "-q", "--filter", "label=tier=db") == "pgdata\n"
    assert box.ok("volume", "ls", "-q", "--filter", "name=pg") == "pgdata\n"
    assert box.ok(
        "volume", "ls", "--format", "{{.Name}} {{.Scope}} {{.Labels}}", "-f", "name=pg"
    ) == ("pgdata local tier=db\n")
    (document,) = json.loads(box.ok("volume", "inspect", "pgdata"))
    assert sorted(document) == [
        "CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope",
    ]  # fmt: skip
    assert document["Labels"] == {"tier": "db"}
    assert document["Mountpoint"] == str(box.root / "volumes" / "pgdata" / "_data")
    data = Path(document["Mountpoint"])
    assert data.is_dir() and stat.S_IMODE(data.stat().st_mode) == 0o755
    assert box.ok("volume", "rm", "pgdata", anonymous) == f"pgdata\n{anonymous}\n"
    assert not (box.root / "volumes" / "pgdata").exists()
    assert volume_names(box) == []


def test_bad_input_gives_dockers_words(clean: Box) -> None:
    box = clean
    cases = {
        ("volume", "create", "bad/name"): 'Error: create bad/name: "bad/name" includes invalid'
        ' characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed.'
        " If you intended to pass a host directory, use absolute path\n",
        ("volume", "create", "a"): "Error: create a: volume name is too short, names should be"
        " at least two alphanumeric characters\n",
        ("volume", "create", "-d", "other", "x1"): "Error: create x1: error looking up volume"
        ' plugin other: plugin "other" not found\n',
        ("volume", "rm", "nope"): "Error: No such volume: nope\n",
        ("volume", "inspect", "nope"): "Error: No such volume: nope\n",
        ("volume", "ls", "--filter", "bogus=1"): "Error: Invalid filter 'bogus'\n",
        (
            "volume",
            "ls",
            "--filter",
            "dangling=maybe",
        ): "Error: Invalid filter 'dangling=[maybe]'\n",
    }
    for args, message in cases.items():
        result = box(*args)
        assert (result.returncode, result.stderr) == (1, message), args
    assert box.ok("volume", "rm", "-f", "nope") == "nope\n"
    assert volume_names(box) == []
    assert list((box.root / "volumes").iterdir()) == []


def test_a_run_that_fails_leaves_no_anonymous_volume(clean: Box) -> None:
    box = clean
    box.ok("create", "--name", "taken", "busybox")
    result = box("run", "--name", "taken", "-v", "/scratch", "seeded", "true")
    assert result.returncode == 125 and "is already in use" in result.stderr
    assert volume_names(box) == []


def test_named_volume_outlives_its_containers(clean: Box) -> None:
    box = clean
    box.ok("run", "--rm", "-v", "notes:/notes", "busybox", "sh", "-c", "echo kept > /notes/n")
    assert volume_names(box) == ["notes"]  # made on first use, kept after --rm
    assert box.ok("run", "--rm", "-v", "notes:/n:ro", "busybox", "cat", "/n/n") == "kept\n"
    refused = box("run", "--rm", "-v", "notes:/n:ro", "busybox", "touch", "/n/x")
    assert refused.returncode == 1 and "Read-only file system" in refused.stderr
    box.ok("create", "--name", "holder", "--mount", "source=notes,target=/m", "busybox")
    holder = box.inspect("holder")
    in_use = box("volume", "rm", "notes")
    assert (in_use.returncode, in_use.stderr) == (
        1,
        f"Error: remove notes: volume is in use - [{holder['Id']}]\n",
    )
    assert box.ok("volume", "ls", "-q", "--filter", "dangling=true") == ""
    box.ok("rm", "-v", "holder")  # -v takes anonymous volumes only
    assert box.ok("volume", "ls", "-q", "--filter", "dangling=true") == "notes\n"
    assert (mountpoint(box, "notes") / "n").read_text() == "kept\n"


def test_anonymous_volumes_go_with_rm_v_and_run_rm(clean: Box) -> None:
    box = clean
    box.ok("run", "--name", "anon", "-v", "/scratch", "busybox", "touch", "/scratch/x")
    (mount,) = [m for m in mounts_of(box, "anon") if m["Destination"] == "/scratch"]
    assert mount["Type"] == "volume" and mount["Driver"] == "local" and mount["RW"] is True
    assert mount["Source"] == str(mountpoint(box, mount["Name"]))
    assert (Path(mount["Source"]) / "x").exists()
    assert box.inspect("anon")["HostConfig"]["Binds"] is None  # type: ignore[index]
    box.ok("rm", "anon")  # without -v the volume stays, as docker's
    assert volume_names(box) == [mount["Name"]]
    box.ok("volume", "rm", mount["Name"])

    box.ok("run", "--name", "anon", "-v", "/scratch", "busybox", "true")
    box.ok("rm", "-v", "anon")
    assert volume_names(box) == []

    box.ok("run", "--rm", "-v", "/scratch", "--mount", "target=/more", "busybox", "true")
    assert volume_names(box) == []
    box.ok("run", "--rm", "-d", "--name", "detached", "-v", "/scratch", "busybox", "true")
    # its monitor's rm takes the volume with the container
    wait_for(lambda: box("inspect", "detached").returncode == 1 and volume_names(box) == [])


def test_image_volume_is_copied_up_with_owners_modes_xattrs_and_links(clean: Box) -> None:
    box = clean
    box.ok("run", "--name", "seeded", "seeded", "ls", "/data")
    (mount,) = mounts_of(box, "seeded")
    assert (mount["Type"], mount["Destination"], mount["Mode"]) == ("volume", "/data", "")
    data = Path(mount["Source"])
    assert names_in(data) == ["file", "hard", "link", "null", "opaque", "pipe", "sub"]
    for name, kind in (("pipe", stat.S_ISFIFO), ("null", stat.S_ISCHR)):
        node = (data / name).lstat()
        assert kind(node.st_mode) and (node.st_uid, node.st_gid) == OWNER
    assert stat.S_IMODE((data / "pipe").lstat().st_mode) == 0o620
    assert stat.S_IMODE((data / "null").lstat().st_mode) == 0o640
    assert os.major((data / "null").lstat().st_rdev) == 1
    root = data.stat()
    assert (root.st_uid, root.st_gid, stat.S_IMODE(root.st_mode)) == (*OWNER, 0o750)
    assert os.getxattr(data, "user.kind") == b"seed"
    file = (data / "file").stat()
    assert (file.st_uid, file.st_gid, stat.S_IMODE(file.st_mode)) == (*OWNER, 0o640)
    assert os.getxattr(data / "file", "user.tag") == b"kept"
    assert file.st_ino == (data / "hard").stat().st_ino
    assert (data / "link").readlink() == Path("/etc/passwd")
    assert names_in(data / "opaque") == ["new"]
    assert (data / "sub" / "deep").read_text() == "deep\n"
    assert stat.S_IMODE((data / "sub").stat().st_mode) == 0o700


def test_copy_up_through_symlinks_stays_in_the_image(clean: Box, tmp_path: Path) -> None:
    box = clean
    box.ok("run", "--rm", "-v", "vialink:/seedlink", "seeded", "true")
    assert names_in(mountpoint(box, "vialink")) == [
        "file", "hard", "link", "null", "opaque", "pipe", "sub",
    ]  # fmt: skip
    sentinel = Path("/tmp") / f"hybridock-sentinel-{os.getpid()}"
    sentinel.write_text("host file\n")
    try:
        box.ok("run", "--rm", "-v", "escaped:/escape", "seeded", "true")
        assert sentinel.name not in names_in(mountpoint(box, "escaped"))
    finally:
        sentinel.unlink()


def test_nocopy_leaves_a_new_volume_empty(clean: Box) -> None:
    box = clean
    box.ok("run", "--rm", "-v", "bare:/data:nocopy", "seeded", "true")
    assert names_in(mountpoint(box, "bare")) == []
    box.ok("run", "--rm", "--mount", "source=bare2,target=/data,volume-nocopy", "seeded", "true")
    assert names_in(mountpoint(box, "bare2")) == []
    box.ok("run", "--rm", "-v", "bare:/data", "busybox", "touch", "/data/mine")
    box.ok("run", "--rm", "-v", "bare:/data", "seeded", "true")  # not empty: nothing copied
    assert names_in(mountpoint(box, "bare")) == ["mine"]


def test_prune_removes_unused_volumes_named_or_not(clean: Box) -> None:
    box = clean
    box.ok("volume", "create", "unused")
    box.ok("create", "--name", "user", "-v", "used:/u", "busybox")
    declined = box("volume", "prune", input="n\n")
    assert declined.stdout == (
        "WARNING! This will remove all local volumes not used by at least one container.\n"
        "Are you sure you want to continue? [y/N] Total reclaimed space: 0B\n"
    )
    assert sorted(volume_names(box)) == ["unused", "used"]
    box.ok("volume", "create", "--label", "scratch=yes", "labelled")
    (mountpoint(box, "labelled") / "data").write_bytes(b"x" * 5000)
    (mountpoint(box, "labelled") / "link").hardlink_to(mountpoint(box, "labelled") / "data")
    pruned = box.ok("volume", "prune", "-f", "--filter", "label=scratch=yes")
    assert pruned == "Deleted Volumes:\nlabelled\n\nTotal reclaimed space: 5kB\n"
    pruned = box.ok("volume", "prune", "-f")
    assert pruned == "Deleted Volumes:\nunused\n\nTotal reclaimed space: 0B\n"
    assert box.ok("volume", "prune", "-f") == "Total reclaimed space: 0B\n"
    assert volume_names(box) == ["used"]


def test_volumes_from_shares_another_containers_mounts(clean: Box, tmp_path: Path) -> None:
    box = clean
    (tmp_path / "host").mkdir()
    box.ok(
        "create", "--name", "holder", "-v", "shared:/shared", "-v", "/anon",
        "-v", f"{tmp_path / 'host'}:/host", "busybox",
    )  # fmt: skip
    script = "echo one > /shared/f && echo two > /anon/f && echo three > /host/f"
    box.ok("run", "--rm", "--volumes-from", "holder", "busybox", "sh", "-c", script)
    read = "cat /shared/f /anon/f /host/f"
    assert box.ok("run", "--rm", "--volumes-from", "holder:ro", "busybox", "sh", "-c", read) == (
        "one\ntwo\nthree\n"
    )
    refused = box("run", "--rm", "--volumes-from", "holder:ro", "busybox", "touch", "/shared/x")
    assert refused.returncode == 1 and "Read-only file system" in refused.stderr
    box.ok("create", "--name", "user", "--volumes-from", "holder:ro", "-v", "own:/anon", "busybox")
    mounts = {m["Destination"]: m for m in mounts_of(box, "user")}
    assert mounts["/anon"]["Name"] == "own"  # -v wins over --volumes-from at one path
    assert mounts["/shared"]["Name"] == "shared" and mounts["/shared"]["RW"] is False
    host_config = box.inspect("user")["HostConfig"]
    assert isinstance(host_config, dict)
    assert host_config["VolumesFrom"] == ["holder"] or host_config["VolumesFrom"] == ["holder:ro"]
    assert host_config["Binds"] == ["own:/anon"]
    anonymous = next(m["Name"] for m in mounts_of(box, "holder") if m["Destination"] == "/anon")
    box.ok("create", "--name", "heir", "--volumes-from", "holder", "busybox")
    box.ok("rm", "-v", "holder")  # its anonymous volume stays while another container has it
    assert anonymous in volume_names(box)
    box.ok("rm", "-v", "heir")  # and goes with the last one, removed with -v
    assert anonymous not in volume_names(box)
    missing = box("run", "--rm", "--volumes-from", "nope", "busybox", "true")
    assert (missing.returncode, missing.stderr) == (125, "Error: No such container: nope\n")
    bad_mode = box("run", "--rm", "--volumes-from", "user:bogus", "busybox", "true")
    assert (bad_mode.returncode, bad_mode.stderr) == (125, "Error: invalid mode: bogus\n")


def mounted_under(path: Path) -> list[str]:
    with Path("/proc/self/mountinfo").open() as mountinfo:
        return [line.split()[4] for line in mountinfo if line.split()[4].startswith(str(path))]


def test_a_tmpfs_volume_is_one_tmpfs_its_containers_share(clean: Box) -> None:
    box = clean
    box.ok(
        "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m,mode=1777",
        "scratch",
    )  # fmt: skip
    document = json.loads(box.ok("volume", "inspect", "scratch"))[0]
    assert document["Options"] == {"device": "tmpfs", "o": "size=1m,mode=1777", "type": "tmpfs"}
    show = "awk '$2 == \"/s\" {print $3, $4}' /proc/mounts; stat -c %a /s; touch /s/shared"
    out = box.ok("run", "--rm", "-v", "scratch:/s", "busybox", "sh", "-c", show)
    kind, options, mode = out.split()
    assert (kind, mode) == ("tmpfs", "1777") and "size=1024k" in options
    # the last user's rm unmounted it: a later container gets a new, empty tmpfs (docker's
    # unmounts when its last user stops; here no process outlives them to count, so the
    # records do: a container that still exists, stopped, keeps it mounted)
    assert mounted_under(box.root / "volumes") == []
    box.ok("run", "--name", "keeper", "-v", "scratch:/s", "busybox", "touch", "/s/kept")
    assert box.ok("run", "--rm", "-v", "scratch:/s", "busybox", "ls", "/s") == "kept\n"
    assert mounted_under(box.root / "volumes") == [document["Mountpoint"]]
    box.ok("rm", "keeper")
    assert mounted_under(box.root / "volumes") == []
    box.ok("volume", "rm", "scratch")
    assert mounted_under(box.root / "volumes") == []


def test_a_bind_volume_is_the_host_directory(clean: Box, tmp_path: Path) -> None:
    box = clean
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "there").write_text("from the host\n")
    box.ok(
        "volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={tmp_path / 'host'}",
        "hostdir",
    )  # fmt: skip
    out = box.ok(
        "run", "--rm", "-v", "hostdir:/h", "busybox", "sh", "-c", "cat /h/there; touch /h/x"
    )
    assert out == "from the host\n"
    assert (tmp_path / "host" / "x").exists()
    box.ok("volume", "rm", "hostdir")
    assert mounted_under(box.root / "volumes") == []
    assert (tmp_path / "host" / "x").exists()  # the host's files are not the volume's

    missing = tmp_path / "missing"
    box.ok(
        "volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={missing}", "nothere"
    )
    failed = box("run", "--rm", "-v", "nothere:/h", "busybox", "true")
    data = box.root / "volumes" / "nothere" / "_data"
    assert failed.returncode == 125
    assert failed.stderr.startswith(
        f"Error: error while mounting volume '{data}': failed to mount local volume:"
        f" mount {missing}:{data}: "
    )
    assert mounted_under(box.root / "volumes") == []
