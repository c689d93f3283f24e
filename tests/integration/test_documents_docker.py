"""The Engine API's list entries (``GET /containers/json``, ``GET /images/json``) that
``Client`` builds, next to a private dockerd 20.10's answers over its socket, field by field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.sidebyside import both, docker, engine, our_box
from tests.integration.test_containers import Box
from tests.support.dockerd import Dockerd

import hybridock
from hybridock.config import load_config

__all__ = ["both", "docker"]  # fixtures shared by the side-by-side tests
pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("documents-docker")

#: the same containers made on both sides: (name, docker's arguments after the name)
CONTAINERS = (
    ("up", ("run", "-d", "--label", "tier=web", "-v", "data:/data", "busybox", "sleep", "300")),
    ("done", ("run", "busybox", "sh", "-c", "exit 3")),
    ("fresh", ("create", "-v", "/scratch", "busybox", "echo", "a b")),
)


@pytest.fixture
def client(box: Box) -> Iterator[hybridock.Client]:
    with hybridock.Client(box.root, load_config(box.env)) as made:
        yield made


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without what differs by nature: ids, times, host paths, durations. (dockerd
    also gives a container running on ``none`` an endpoint id; hybridock makes no endpoint
    there, as its inspect shows.)"""
    shown: dict[str, Any] = json.loads(json.dumps(entry))
    shown["Id"] = shown["Created"] = ""
    shown["Status"] = re.sub(r"\d+ seconds|Less than a second|About a minute", "T", shown["Status"])
    for mount in shown["Mounts"]:
        mount["Source"] = ""
        if re.fullmatch("[0-9a-f]{64}", mount.get("Name", "")):
            mount["Name"] = "<anonymous>"
    for network in shown["NetworkSettings"]["Networks"].values():
        network["NetworkID"] = network["EndpointID"] = ""
    return shown


def test_container_list_entries_are_dockers(
    both: tuple[Dockerd, Box], client: hybridock.Client
) -> None:
    daemon, box = both
    for name, (command, *rest) in CONTAINERS:
        arguments = (command, "--name", name, "--network", "none", *rest)
        daemon.cli(*arguments, check=False)
        box(*arguments)
    theirs = {entry["Names"][0]: entry for entry in engine(daemon, "/containers/json?all=1")}
    ours = {
        entry["Names"][0]: entry
        for entry in (client.container_summary(c) for c in client.list_containers(all_states=True))
    }
    assert sorted(ours) == sorted(theirs) == ["/done", "/fresh", "/up"]
    for name, entry in theirs.items():
        assert comparable(ours[name]) == comparable(entry), name
    assert ours["/up"]["Created"] == pytest.approx(theirs["/up"]["Created"], abs=120)


def test_container_list_entry_sizes(both: tuple[Dockerd, Box], client: hybridock.Client) -> None:
    daemon, box = both
    arguments = ("run", "--name", "writer", "--network", "none", "busybox")
    command = ("sh", "-c", "head -c 5000 /dev/zero > /blob")
    daemon.cli(*arguments, *command)
    box.ok(*arguments, *command)
    (theirs,) = engine(daemon, "/containers/json?all=1&size=1")
    ours = client.container_summary("writer", size=True)
    assert "SizeRw" not in client.container_summary("writer")
    assert ours["SizeRw"] == theirs["SizeRw"]
    image_size = client.image_summary("busybox")["Size"]
    assert ours["SizeRootFs"] == theirs["SizeRootFs"] == theirs["SizeRw"] + image_size


def test_image_list_entry_is_dockers(docker: Dockerd, client: hybridock.Client) -> None:
    (theirs,) = [
        entry for entry in engine(docker, "/images/json") if "busybox:latest" in entry["RepoTags"]
    ]
    ours = client.image_summary("busybox")
    assert ours["Id"] == theirs["Id"]
    # docker's busybox came from the registry's backend address, ours through a mirror
    assert [d.partition("@")[2] for d in ours["RepoDigests"]] == [
        d.partition("@")[2] for d in theirs["RepoDigests"]
    ]
    for key in ("RepoDigests", "RepoTags"):
        ours[key] = theirs[key] = []
    assert ours == theirs
    assert "VirtualSize" not in client.image_summary("busybox", api_version=(1, 44))


#: flags that each shape the container's Config (docker's container.Config)
CONFIG_FLAGS = (
    ("plain", ("busybox",)),
    (
        "flags",
        (
            "-e", "A=1", "-u", "nobody", "-w", "/tmp", "--label", "x=y", "--expose", "80",
            "--stop-signal", "SIGQUIT", "--stop-timeout", "7", "-v", "/anon", "-t", "-i",
            "--entrypoint", "sh", "busybox", "-c", "true",
        ),
    ),
    ("health", ("--health-cmd", "true", "--health-interval", "5s", "busybox", "sleep", "1")),
)  # fmt: skip


@pytest.mark.parametrize(("name", "arguments"), CONFIG_FLAGS, ids=[n for n, _ in CONFIG_FLAGS])
def test_container_inspect_config_is_dockers(
    both: tuple[Dockerd, Box], client: hybridock.Client, name: str, arguments: tuple[str, ...]
) -> None:
    daemon, box = both
    created = ("create", "--name", f"config-{name}", "--network", "none", *arguments)
    daemon.cli(*created)
    box.ok(*created)
    theirs = engine(daemon, f"/containers/config-{name}/json")["Config"]
    ours = client.inspect_container(f"config-{name}")["Config"]
    for config in (theirs, ours):
        config["Hostname"] = ""  # the container's id, different by nature
    assert list(ours) == list(theirs)
    assert ours == theirs
