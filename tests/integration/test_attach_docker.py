"""attach's refusals next to a private dockerd 20.10's, for the same containers: the words
and exit codes of what docker's client says (it prints them bare; ours start with "Error: ")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.integration.sidebyside import our_box, tag_busybox
from tests.integration.test_containers import Box
from tests.support.dockerd import Dockerd
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

CONTAINERS = ("attach-stopped", "attach-paused", "attach-tty")


box = our_box("attach-docker")


@pytest.fixture
def docker(dockerd: Dockerd, session_registry: Registry) -> Iterator[Dockerd]:
    tag_busybox(dockerd, session_registry)
    yield dockerd
    dockerd.cli("rm", "-f", *CONTAINERS, check=False)


@pytest.fixture
def ours(box: Box) -> Iterator[Box]:
    yield box
    box("rm", "-f", *CONTAINERS)


def test_attach_refusals_say_what_docker_says(docker: Dockerd, ours: Box) -> None:
    setup = [
        ("create", "--name", "attach-stopped", "busybox", "true"),
        ("run", "-d", "--name", "attach-paused", "busybox", "sleep", "1000"),
        ("pause", "attach-paused"),
        ("run", "-dt", "--name", "attach-tty", "busybox", "sleep", "1000"),
    ]
    for step in setup:
        docker.cli(*step)
        ours.ok(*step)
    for name in ("attach-nosuch", *CONTAINERS):
        theirs = docker.cli("attach", name, check=False)  # stdin: /dev/null, not a terminal
        mine = ours("attach", name, input="")
        words = theirs.stderr.strip().removeprefix("Error: ")
        assert (mine.returncode, mine.stderr.strip()) == (theirs.returncode, f"Error: {words}")
