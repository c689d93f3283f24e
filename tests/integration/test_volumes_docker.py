"""Volumes side by side with a private dockerd 20.10 (tests/support/dockerd.py): the same
commands, the same output shapes and messages (docker's with its daemon prefix taken off)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.integration.sidebyside import DAEMON_PREFIX, both, docker, our_box
from tests.integration.test_containers import Box
from tests.support.dockerd import Dockerd

__all__ = ["both", "docker"]  # fixtures shared by the side-by-side tests
pytestmark = [pytest.mark.root, pytest.mark.registry]


box = our_box("volumes-docker")


def dockers(text: str) -> str:
    return text.replace(DAEMON_PREFIX, "Error: ")


def run_words(text: str) -> str:
    """docker run's "docker: Error: X." as our one line "Error: X"."""
    return text.removeprefix("docker: ").removesuffix(".\n") + "\n"


def test_ls_and_inspect_shapes(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    for args in (
        ("volume", "create", "--label", "tier=db", "pgdata"),
        ("volume", "create", "logs"),
        ("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "tmp"),
    ):
        docker.cli(*args)
        box.ok(*args)
    listings: list[tuple[str, ...]] = [
        ("volume", "ls"),
        ("volume", "ls", "-q", "--filter", "label=tier"),
        ("volume", "ls", "--filter", "dangling=true", "--format", "{{.Name}}|{{.Driver}}"),
        ("volume", "ls", "--format", "table {{.Name}}\t{{.Scope}}\t{{.Labels}}"),
    ]
    for listing in listings:
        assert box.ok(*listing) == docker.cli(*listing).stdout, listing
    theirs = json.loads(docker.cli("volume", "inspect", "pgdata", "logs", "tmp").stdout)
    ours = json.loads(box.ok("volume", "inspect", "pgdata", "logs", "tmp"))
    for document in (*theirs, *ours):
        assert document["Mountpoint"].endswith(f"/volumes/{document['Name']}/_data")
        document["Mountpoint"] = document["CreatedAt"] = ""
    assert ours == theirs


def test_messages_and_exit_codes(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    for args in (
        ("volume", "create", "bad/name"),
        ("volume", "create", "a"),
        ("volume", "create", "-d", "other", "x1"),
        ("volume", "rm", "nope"),
        ("volume", "rm", "-f", "nope"),
        ("volume", "inspect", "nope"),
        ("volume", "ls", "--filter", "bogus=1"),
        ("volume", "ls", "--filter", "dangling=maybe"),
        ("volume", "prune", "-f"),
        ("volume", "create", "-o", "type=tmpfs", "t1"),
        ("volume", "create", "-o", "device=/tmp", "t2"),
        ("volume", "create", "-o", "o=bind", "t3"),
        ("volume", "create", "-o", "size=1m", "t6"),
        ("volume", "create", "-o", "bogus=1", "t7"),
    ):
        theirs = docker.cli(*args, check=False)
        ours = box(*args)
        assert (ours.returncode, ours.stdout, ours.stderr) == (
            theirs.returncode,
            theirs.stdout,
            dockers(theirs.stderr),
        ), args


def test_a_volume_in_use_is_refused_alike(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    create = ("create", "--network", "none", "-v", "held:/d", "busybox", "true")
    theirs_id = docker.cli(*create).stdout.strip()
    ours_id = box.ok(*create).strip()
    theirs = docker.cli("volume", "rm", "held", check=False)
    ours = box("volume", "rm", "held")
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.replace(ours_id, "ID") == dockers(theirs.stderr).replace(theirs_id, "ID")
    prune = ("volume", "prune", "-f")
    assert box.ok(*prune) == docker.cli(*prune).stdout == "Total reclaimed space: 0B\n"


def _mounts(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The container's Mounts by destination, with the roots and random names left out."""
    mounts = sorted(copy.deepcopy(document["Mounts"]), key=lambda mount: mount["Destination"])
    for mount in mounts:
        assert mount["Source"].endswith(f"/volumes/{mount['Name']}/_data")
        mount["Source"] = ""
        if len(mount["Name"]) == 64:
            mount["Name"] = "anonymous"
    return mounts


def test_inspect_shows_volume_mounts_as_docker(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    create = (
        "create", "--network", "none", "-v", "named:/named", "-v", "ro:/ro:ro", "-v", "/anon",
        "--mount", "source=flagged,target=/flagged,readonly", "--mount", "target=/anon2",
        "busybox", "true",
    )  # fmt: skip
    theirs = json.loads(docker.cli("inspect", docker.cli(*create).stdout.strip()).stdout)[0]
    ours = json.loads(box.ok("inspect", box.ok(*create).strip()))[0]
    assert _mounts(ours) == _mounts(theirs)
    # docker's client fills Binds from a Go map: in no particular order
    assert sorted(ours["HostConfig"]["Binds"]) == sorted(theirs["HostConfig"]["Binds"])
    assert ours["HostConfig"].get("Mounts") == theirs["HostConfig"].get("Mounts")
    assert ours["Config"]["Volumes"] == theirs["Config"]["Volumes"] == {"/anon": {}}


def test_volumes_from_as_docker(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    holder = ("create", "--network", "none", "--name", "holder", "-v", "kept:/kept", "-v", "/anon")
    docker.cli(*holder, "busybox", "true")
    box.ok(*holder, "busybox", "true")
    heir = ("create", "--network", "none", "--volumes-from", "holder:ro", "-v", "own:/anon")
    theirs = json.loads(docker.cli("inspect", docker.cli(*heir, "busybox").stdout.strip()).stdout)
    ours = json.loads(box.ok("inspect", box.ok(*heir, "busybox").strip()))
    assert _mounts(ours[0]) == _mounts(theirs[0])
    for key in ("Binds", "Mounts", "VolumesFrom"):
        assert ours[0]["HostConfig"].get(key) == theirs[0]["HostConfig"].get(key), key
    for args in (
        ("create", "--network", "none", "--volumes-from", "nope", "busybox"),
        ("create", "--network", "none", "--volumes-from", "holder:bogus", "busybox"),
        ("create", "--network", "none", "--volumes-from", "holder:ro,rw", "busybox"),
        ("create", "--network", "none", "-v", "bad/name:/d", "busybox"),
        ("create", "--network", "none", "-v", "named:/d:bogus", "busybox"),
        ("create", "--network", "none", "-v", "named:/d:ro,rw", "busybox"),
        ("create", "--network", "none", "--mount", "source=bad/name,target=/d", "busybox"),
        ("run", "--network", "none", "-v", "bad/name:/d", "busybox"),
        ("run", "--network", "none", "--volumes-from", "nope", "busybox"),
    ):
        theirs_failed = docker.cli(*args, check=False)
        ours_failed = box(*args)
        print(
            args,
            theirs_failed.returncode,
            theirs_failed.stderr,
            ours_failed.returncode,
            ours_failed.stderr,
        )


def _made_volumes(run: Callable[..., Any]) -> list[dict[str, Any]]:
    """``volume inspect`` of the volumes a new container made, roots and random names left out."""
    create = ("create", "--network", "none", "-v", "/anon", "-v", "firstuse:/f", "busybox")
    container = run(*create).stdout.strip()
    inspected = json.loads(run("inspect", container).stdout)[0]
    names = sorted(mount["Name"] for mount in inspected["Mounts"])
    documents: list[dict[str, Any]] = json.loads(run("volume", "inspect", *names).stdout)
    for document in documents:
        document["CreatedAt"] = document["Mountpoint"] = ""
        if len(document["Name"]) == 64:
            document["Name"] = "anonymous"
    return sorted(documents, key=lambda document: document["Name"])


def test_volumes_made_by_a_container_inspect_as_docker(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    assert _made_volumes(box) == _made_volumes(docker.cli)


def test_ps_mounts_column_as_docker(both: tuple[Dockerd, Box], tmp_path: Path) -> None:
    docker, box = both
    for flags in (["-v", "a-long-volume-name:/v"], ["-v", f"{tmp_path}:/h"]):
        for no_trunc in ([], ["--no-trunc"]):
            listing = ("ps", "-a", *no_trunc, "--format", "{{.Mounts}}")
            docker.cli("create", "--network", "none", *flags, "busybox")
            box.ok("create", *flags, "busybox")
            assert box.ok(*listing) == docker.cli(*listing).stdout, (flags, no_trunc)
            docker.cli("rm", "-f", *docker.cli("ps", "-aq").stdout.split())
            box.remove_containers()


def test_inspect_finds_volumes_as_docker(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    docker.cli("volume", "create", "lookedup")
    box.ok("volume", "create", "lookedup")
    for args in (
        ("inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", "lookedup"),
        ("inspect", "--type", "volume", "-f", "{{.Name}}", "lookedup"),
    ):
        assert box.ok(*args) == docker.cli(*args).stdout, args
    for args in (
        ("inspect", "--type", "volume", "nope"),
        ("inspect", "--type", "volume", "busybox"),
    ):
        theirs = docker.cli(*args, check=False)
        ours = box(*args)
        assert (ours.returncode, ours.stdout, ours.stderr) == (
            theirs.returncode, theirs.stdout, theirs.stderr,
        ), args  # fmt: skip
