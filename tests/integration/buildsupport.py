"""What the build tests beside docker share: a build by each tool of a corpus case (tests/
support/buildcorpus.py) into a ``Built``: its config section, its file tree and the output of
a run; the check of a ``Built`` against the case's expectations; and the probe that says
whether this hybridock has ``build`` yet."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_containers import Box
from tests.support.buildcorpus import BuildCase, write_context
from tests.support.dockerd import Dockerd
from tests.support.imagetree import Tree, archive_tree

#: the config fields compared (``image inspect``'s ``Config``)
CONFIG_FIELDS = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "StopSignal",
    "Healthcheck",
    "OnBuild",
    "Shell",
)


@dataclass(frozen=True)
class Built:
    tag: str
    config: dict[str, Any]
    tree: Tree
    ran: str | None  # what the image printed, when the case runs it
    log: str  # the build's progress


def config_fields(inspected: dict[str, Any]) -> dict[str, Any]:
    """The compared fields of an inspected image, an empty value as none (docker writes
    ``null`` where an image has no such field and ``[]``/``""`` where a step cleared it)."""
    section = inspected.get("Config") or {}
    return {name: section.get(name) or None for name in CONFIG_FIELDS}


def docker_build_command(docker: Dockerd, case: BuildCase, context: Path, tag: str) -> list[str]:
    return docker.command(
        "build",
        "--network=none",  # the private dockerd has no bridge
        "--progress=plain",
        f"--tag={tag}",
        *case.flags(context.parent / "secrets"),
        str(context),
    )


def build_with_docker(docker: Dockerd, case: BuildCase, work: Path) -> Built:
    """``DOCKER_BUILDKIT=1 docker build`` of the case, then its image saved and read."""
    tag = f"corpus/{case.name}:docker"
    context = write_context(case, work / "context")
    built = subprocess.run(
        docker_build_command(docker, case, context, tag),
        env={**docker.env, "DOCKER_BUILDKIT": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, f"docker build {case.name}: {built.stderr[-3000:]}"
    archive = work / "docker.tar"
    docker.cli("save", "-o", str(archive), tag)
    inspected = json.loads(docker.cli("image", "inspect", tag).stdout)[0]
    ran = None
    if case.run is not None:
        ran = docker.cli("run", "--rm", "--network=none", tag, *case.run[0]).stdout
    return Built(tag, config_fields(inspected), archive_tree(str(archive)), ran, built.stderr)


def hybridock_has_build(box: Box) -> None:
    """Skips while this hybridock has no ``build`` command (it lands piece by piece)."""
    if box("build", "--help").returncode != 0:
        pytest.skip("hybridock build is not on this branch yet")


def build_with_hybridock(box: Box, case: BuildCase, work: Path) -> Built:
    tag = f"corpus/{case.name}:hybridock"
    context = write_context(case, work / "context")
    result = box(
        "build",
        "--progress=plain",
        "-t",
        tag,
        "-f",
        str(context / "Dockerfile"),
        *case.flags(work / "secrets"),
        str(context),
        timeout=600,
    )
    assert result.returncode == 0, str(result)
    archive = work / "hybridock.tar"
    box.ok("save", "-o", str(archive), tag)
    inspected = json.loads(box.ok("image", "inspect", tag))[0]
    ran = None
    if case.run is not None:
        ran = box.ok("run", "--rm", "--network=none", tag, *case.run[0])
    return Built(tag, config_fields(inspected), archive_tree(str(archive)), ran, result.stderr)


def expectation_misses(case: BuildCase, built: Built) -> list[str]:
    """Where ``built`` is not what the case says (empty when it is)."""
    misses = []
    for name, wanted in case.config.items():
        if built.config.get(name) != (wanted or None):
            misses.append(f"config {name}: {built.config.get(name)!r}, wanted {wanted!r}")
    for path, node in case.files.items():
        if built.tree.get(path) != node:
            misses.append(f"/{path}: {built.tree.get(path) or 'absent'}, wanted {node or 'absent'}")
    if case.run is not None and built.ran != case.run[1]:
        misses.append(f"run printed {built.ran!r}, wanted {case.run[1]!r}")
    return misses
