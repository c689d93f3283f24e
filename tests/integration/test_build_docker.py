"""``hybridock build`` beside ``DOCKER_BUILDKIT=1 docker build`` (Debian's docker 20.10 against
the private dockerd of tests/support/dockerd.py): every case of the Dockerfile corpus
(tests/support/buildcorpus.py) built by both gives the same config fields and the same file
tree (names, kinds, modes, owners, link targets, contents; not times), each as the case
expects, and the image runs with ``hybridock run`` printing what the case says.

Cases dockerd 20.10 cannot build (heredocs, ``COPY --link``) are checked against the corpus's
expectations alone. Where hybridock differs from docker on purpose, ``DELIBERATE`` says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.integration.buildsupport import (
    Built,
    build_with_docker,
    build_with_hybridock,
    expectation_misses,
    hybridock_has_build,
)
from tests.integration.sidebyside import both, docker, our_box
from tests.integration.test_containers import Box
from tests.support.buildcorpus import CASES, BuildCase, realistic_case
from tests.support.debimages import DebianImageBuilder, gcc_image
from tests.support.dockerd import Dockerd
from tests.support.imagetree import Tree, differences
from tests.support.registry import Registry

__all__ = ["both", "docker"]  # fixtures shared by the side-by-side tests
pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("build-docker")


@dataclass(frozen=True)
class Deliberate:
    """A difference from docker's image that hybridock makes on purpose."""

    paths: tuple[str, ...]  # tree paths (relative to the root) docker has and we do not
    why: str


#: What docker 20.10's BuildKit leaves in an image that hybridock does not.
DELIBERATE: tuple[Deliberate, ...] = ()


def _without_deliberate(tree: Tree) -> Tree:
    hidden = {path for difference in DELIBERATE for path in difference.paths}
    return {path: node for path, node in tree.items() if path not in hidden}


@pytest.fixture(scope="module")
def docker_built(docker: Dockerd) -> Iterator[dict[str, Built]]:
    """Each case docker has built so far, by name (built once, removed at the end)."""
    built: dict[str, Built] = {}
    try:
        yield built
    finally:
        for result in built.values():
            docker.cli("rmi", result.tag, check=False)
        docker.cli("builder", "prune", "-af", check=False)


def _docker_result(
    case: BuildCase, docker: Dockerd, docker_built: dict[str, Built], work: Path
) -> Built:
    if case.docker_lacks is not None:
        pytest.skip(case.docker_lacks)
    if case.name not in docker_built:
        docker_built[case.name] = build_with_docker(docker, case, work)
    return docker_built[case.name]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_docker_builds_the_case_as_the_corpus_says(
    case: BuildCase, docker: Dockerd, docker_built: dict[str, Built], tmp_path: Path
) -> None:
    """The corpus's expectations are docker's behaviour, not our guess."""
    built = _docker_result(case, docker, docker_built, tmp_path)
    misses = expectation_misses(case, built)
    assert not misses, "\n".join([*misses, built.log[-2000:]])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_hybridock_builds_what_docker_builds(
    case: BuildCase,
    both: tuple[Dockerd, Box],
    docker_built: dict[str, Built],
    tmp_path: Path,
) -> None:
    docker, box = both
    hybridock_has_build(box)
    ours = build_with_hybridock(box, case, tmp_path / "ours")
    try:
        misses = expectation_misses(case, ours)
        assert not misses, "\n".join([*misses, ours.log[-2000:]])
        if case.docker_lacks is None:
            theirs = _docker_result(case, docker, docker_built, tmp_path / "docker")
            assert ours.config == theirs.config
            unlike = differences(_without_deliberate(theirs.tree), ours.tree)
            assert not unlike, "\n".join(unlike)
    finally:
        box("rmi", ours.tag)


GCC_REFERENCE = "gcc-debian:12"


@pytest.fixture(scope="module")
def gcc_base(
    docker: Dockerd,
    box: Box,
    session_registry: Registry,
    debian_image_builder: DebianImageBuilder,
) -> Iterator[str]:
    """Debian's gcc as ``gcc-debian:12`` for both: hybridock pulls it through its docker.io
    mirror (the session registry), docker from the registry under the same short name."""
    pushed = session_registry.push(
        debian_image_builder.image(gcc_image()).build(), "library/gcc-debian", "12"
    )
    theirs = docker.load(pushed, session_registry.backend_address)
    docker.cli("tag", theirs, GCC_REFERENCE)
    try:
        yield GCC_REFERENCE
    finally:
        docker.cli("rmi", GCC_REFERENCE, theirs, check=False)
        box("rmi", GCC_REFERENCE)


def test_the_realistic_multi_stage_image_builds_and_runs(
    gcc_base: str, both: tuple[Dockerd, Box], docker_built: dict[str, Built], tmp_path: Path
) -> None:
    docker, box = both
    case = realistic_case(gcc_base)
    theirs = _docker_result(case, docker, docker_built, tmp_path / "docker")
    assert expectation_misses(case, theirs) == [], theirs.log[-2000:]
    hybridock_has_build(box)
    ours = build_with_hybridock(box, case, tmp_path / "ours")
    try:
        misses = expectation_misses(case, ours)
        assert not misses, "\n".join([*misses, ours.log[-2000:]])
        assert ours.config == theirs.config
        unlike = differences(_without_deliberate(theirs.tree), ours.tree)
        assert not unlike, "\n".join(unlike)
    finally:
        box("rmi", ours.tag)
