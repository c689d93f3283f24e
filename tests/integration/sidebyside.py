"""What the side-by-side tests share (hybridock next to the private dockerd 20.10 of
tests/support/dockerd.py): docker's busybox from the session registry, a store of our own for
each module, and both sides emptied after each test."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.integration.test_containers import Box, library_box
from tests.support.dockerd import Dockerd
from tests.support.registry import Registry

#: what docker's client puts before a message of its daemon; hybridock has no daemon to blame
DAEMON_PREFIX = "Error response from daemon: "


def tag_busybox(dockerd: Dockerd, registry: Registry) -> None:
    """docker's busybox is the one hybridock pulls, under the same short name."""
    dockerd.cli("tag", f"{registry.backend_address}/library/busybox:latest", "busybox")


def our_box(label: str) -> Callable[..., Iterator[Box]]:
    """A module's ``box`` fixture: a store of its own with busybox, discarded after."""

    @pytest.fixture(scope="module")
    def box(
        tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
    ) -> Iterator[Box]:
        with library_box(tmp_path_factory, session_registry, image_builder, label) as made:
            yield made

    return box


@pytest.fixture(scope="module")
def docker(dockerd: Dockerd, session_registry: Registry) -> Dockerd:
    tag_busybox(dockerd, session_registry)
    return dockerd


@pytest.fixture
def both(docker: Dockerd, box: Box) -> Iterator[tuple[Dockerd, Box]]:
    """Both tools; afterwards their containers and volumes are removed."""
    yield docker, box
    for container in docker.cli("ps", "-aq").stdout.split():
        docker.cli("rm", "-f", "-v", container, check=False)
    box.remove_containers()
    if names := docker.cli("volume", "ls", "-q").stdout.split():
        docker.cli("volume", "rm", "-f", *names)
    if names := box("volume", "ls", "-q").stdout.split():
        box("volume", "rm", "-f", *names)


def engine(daemon: Dockerd, path: str) -> Any:
    """dockerd 20.10's answer to ``GET /v1.41{path}`` (its newest API) on its own socket."""
    answer = subprocess.run(
        ["curl", "-sSf", "--unix-socket", str(daemon.socket), f"http://docker/v1.41{path}"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return json.loads(answer.stdout)


def keys(document: Any) -> Any:
    """The shape of a JSON document: its keys, nested; lists by their first element."""
    if isinstance(document, dict):
        return {key: keys(value) for key, value in document.items()}
    if isinstance(document, list):
        return [keys(document[0])] if document else []
    return type(document).__name__
