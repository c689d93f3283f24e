"""Image sizes next to a private dockerd 20.10 (tests/support/dockerd.py): ``images``, image
inspect and ``history`` show docker's numbers (each layer's unpacked size, as overlay2's
DiffSize), for busybox and for an image of Debian packages with symlinked directories
(/bin -> usr/bin), hardlinks and many small files."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.integration.sidebyside import both, docker, our_box
from tests.integration.test_containers import Box
from tests.support.debimages import DebianImageBuilder, python_image
from tests.support.dockerd import Dockerd
from tests.support.registry import Registry

__all__ = ["both", "docker"]  # fixtures shared by the side-by-side tests
pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("images-docker")

#: what each tool is asked about an image (its reference last)
QUESTIONS = (
    ("images", "--format", "{{.Size}}"),
    ("history", "--format", "{{.Size}}"),
    ("history", "-H=false", "--format", "{{.Size}}"),
)


def sizes(inspected: str) -> list[tuple[int, int]]:
    return [(image["Size"], image["VirtualSize"]) for image in json.loads(inspected)]


def test_busybox_sizes_are_dockers(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    for question in QUESTIONS:
        assert box.ok(*question, "busybox") == docker.cli(*question, "busybox").stdout, question
    theirs = docker.cli("image", "inspect", "busybox").stdout
    assert sizes(box.ok("image", "inspect", "busybox")) == sizes(theirs)


@pytest.fixture
def debian_python(
    docker: Dockerd,
    box: Box,
    session_registry: Registry,
    debian_image_builder: DebianImageBuilder,
) -> Iterator[tuple[str, str]]:
    """Debian's python3 pulled by both: docker's reference and ours."""
    built = debian_image_builder.image(python_image()).build()
    pushed = session_registry.push(built, "debian/python-sizes", "latest")
    theirs = docker.load(pushed, session_registry.backend_address)
    try:
        box.ok("pull", "-q", pushed.reference)
        try:
            yield theirs, pushed.reference
        finally:
            box("rmi", pushed.reference)
    finally:
        docker.cli("rmi", theirs, check=False)


def test_debian_image_sizes_are_dockers(
    debian_python: tuple[str, str], docker: Dockerd, box: Box
) -> None:
    theirs, ours = debian_python
    for question in QUESTIONS:
        assert box.ok(*question, ours) == docker.cli(*question, theirs).stdout, question
    inspected = docker.cli("image", "inspect", theirs).stdout
    assert sizes(box.ok("image", "inspect", ours)) == sizes(inspected)
