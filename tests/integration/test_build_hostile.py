"""A build step cannot write or read outside its rootfs and its context.

Each hostile Dockerfile reaches for a canary file beside the context (``../outside/canary``)
or for the host's /tmp: symlinks in the context pointing out of it, ``COPY ../x``, a
``RUN --mount=type=bind`` whose source climbs out, writes into a bind-mounted context, an
ADD'ed tar whose members climb out or pass through absolute symlinks, a destination through a
symlink of the image pointing to ``/..``. Each is refused (exit 1, nothing tagged) or
confined (what it wrote is inside the image); either way the canary's content is nowhere in
an image, the canary is unchanged, nothing new appears around the context and nothing in the
host's /tmp.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from tests.integration.buildsupport import docker_build_command, hybridock_has_build
from tests.integration.sidebyside import docker, our_box
from tests.integration.test_containers import Box
from tests.support.buildcorpus import BuildCase, file_node, write_context
from tests.support.dockerd import Dockerd
from tests.support.imagetree import Tree, archive_tree
from tests.support.layers import Dir, File, Symlink, build_tar

__all__ = ["docker"]  # the side-by-side fixture
pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("build-hostile")

CANARY = "host secret: never in an image\n"
#: a name no build may create in the host's /tmp
HOST_NAME = f"hybridock-hostile-{secrets.token_hex(6)}"
Outcome = Literal["refused", "confined", "either"]


@dataclass(frozen=True)
class Hostile:
    case: BuildCase
    outcome: Outcome


def _hostile(
    name: str, dockerfile: str, outcome: Outcome, *context: File | Dir | Symlink
) -> Hostile:
    return Hostile(BuildCase(name, dockerfile, context=context), outcome)


CLIMBING_TAR = build_tar(
    [
        File("../../climbed", "climbed\n"),
        File("/absolute-member", "absolute\n"),
        File("pkg/../../../dotdot-inside", "dotdot\n"),
        Symlink("to-host-tmp", "/tmp"),
        File(f"to-host-tmp/{HOST_NAME}", "through an absolute link\n"),
        Symlink("up", "../../../../../../../../tmp"),
        File(f"up/{HOST_NAME}", "through a climbing link\n"),
    ]
)

CASES = (
    _hostile(
        "copy_through_an_absolute_context_symlink",
        "FROM busybox\nCOPY escape/passwd /leak\n",
        "refused",
        Symlink("escape", "/etc"),
    ),
    _hostile(
        "copy_of_a_top_level_symlink_out_of_the_context",
        "FROM busybox\nCOPY up /leak\n",
        "refused",
        Symlink("up", "../outside/canary"),
    ),
    _hostile(
        "copy_of_a_symlinked_directory_out_of_the_context",
        "FROM busybox\nCOPY outside-dir/ /leak/\n",
        "either",
        Symlink("outside-dir", "../outside"),
    ),
    _hostile("copy_dot_dot", "FROM busybox\nCOPY ../outside/canary /leak\n", "refused"),
    _hostile(
        "copy_from_the_root_of_a_climbing_glob",
        "FROM busybox\nCOPY ../*/canary /leak/\n",
        "either",  # BuildKit copies nothing for a wildcard that matches nothing
    ),
    _hostile(
        "run_bind_mount_source_climbing_out",
        "FROM busybox\n"
        "RUN --mount=type=bind,source=../..,target=/m cat /m/outside/canary > /leak || true\n",
        "either",
    ),
    _hostile(
        "run_bind_mount_of_a_context_symlink_out",
        "FROM busybox\nRUN --mount=type=bind,source=escape,target=/m cat /m/canary > /leak\n",
        "either",
        Symlink("escape", "../outside"),
    ),
    _hostile(
        "run_writes_into_a_bind_mounted_context",
        "FROM busybox\n"
        "RUN --mount=type=bind,target=/m,rw touch /m/written-by-build && rm -f /m/kept\n"
        "RUN --mount=type=bind,target=/m (touch /m/read-only || true) && cat /m/kept > /copy\n",
        "confined",
        File("kept", "kept\n"),
    ),
    _hostile(
        "add_tar_with_climbing_members_and_links",
        "FROM busybox\nADD climbing.tar /unpacked/\n",
        "either",
        File("climbing.tar", CLIMBING_TAR),
    ),
    _hostile(
        "destination_through_an_image_symlink_to_slash_dot_dot",
        f"FROM busybox\nRUN ln -s /.. /escape && ln -s ../../../../../../tmp /up\n"
        f"COPY payload /escape/tmp/{HOST_NAME}\nCOPY payload /up/{HOST_NAME}-up\n"
        f"WORKDIR /escape/tmp\nCOPY payload ./{HOST_NAME}-relative\n",
        "confined",
        File("payload", "payload\n"),
    ),
)


def _snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every path under ``directory`` with a regular file's content."""
    return {
        str(path.relative_to(directory)): path.read_bytes() if path.is_file() else None
        for path in sorted(directory.rglob("*"))
    }


@pytest.fixture
def host_tmp_clean() -> Iterator[None]:
    yield
    found = sorted(path.name for path in Path("/tmp").glob(f"{HOST_NAME}*"))
    for name in found:
        (Path("/tmp") / name).unlink()
    assert found == [], "a build wrote into the host's /tmp"


def _check_confined(hostile: Hostile, tree: Tree) -> None:
    assert file_node(CANARY) not in tree.values(), "the canary is in the image"
    if hostile.case.name.startswith("destination_through"):
        for suffix in ("", "-up", "-relative"):
            assert tree.get(f"tmp/{HOST_NAME}{suffix}") == file_node("payload\n"), suffix


@pytest.mark.parametrize("hostile", CASES, ids=lambda hostile: hostile.case.name)
@pytest.mark.usefixtures("host_tmp_clean")
def test_a_build_step_stays_in_its_rootfs(hostile: Hostile, box: Box, tmp_path: Path) -> None:
    hybridock_has_build(box)
    context, before = _prepare(hostile, tmp_path)
    tag = f"hostile/{hostile.case.name}:latest"
    result = box("build", "--progress=plain", "-t", tag, str(context), timeout=300)
    try:
        assert "Traceback" not in result.stderr, str(result)
        assert _snapshot(tmp_path) == before, "the build changed the host around its context"
        if result.returncode != 0:
            assert hostile.outcome != "confined", str(result)
            assert result.returncode == 1, str(result)
            assert result.stderr.rstrip().splitlines()[-1].startswith("ERROR: "), str(result)
            assert box("image", "inspect", tag).returncode != 0, "a refused build tagged"
            return
        assert hostile.outcome != "refused", str(result)
        archive = tmp_path / "image.tar"
        box.ok("save", "-o", str(archive), tag)
        tree = archive_tree(str(archive))
        archive.unlink()
        _check_confined(hostile, tree)
    finally:
        box("rmi", tag)


@pytest.mark.parametrize("hostile", CASES, ids=lambda hostile: hostile.case.name)
@pytest.mark.usefixtures("host_tmp_clean")
def test_docker_keeps_the_same_step_in_its_rootfs(
    hostile: Hostile, docker: Dockerd, tmp_path: Path
) -> None:
    """The outcomes above are BuildKit's (docker 20.10's): what it refuses, we refuse."""
    context, before = _prepare(hostile, tmp_path)
    tag = f"hostile/{hostile.case.name}:docker"
    command = docker_build_command(docker, hostile.case, context, tag)
    result = subprocess.run(
        command,
        env={**docker.env, "DOCKER_BUILDKIT": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        assert _snapshot(tmp_path) == before, "docker's build changed the host"
        if result.returncode != 0:
            assert hostile.outcome != "confined", result.stderr
            assert docker.cli("image", "inspect", tag, check=False).returncode != 0
            return
        assert hostile.outcome != "refused", result.stderr
        archive = tmp_path / "image.tar"
        docker.cli("save", "-o", str(archive), tag)
        tree = archive_tree(str(archive))
        archive.unlink()
        _check_confined(hostile, tree)
    finally:
        docker.cli("rmi", tag, check=False)


def _prepare(hostile: Hostile, tmp_path: Path) -> tuple[Path, dict[str, bytes | None]]:
    """The canary beside the context, the context, and a snapshot of both."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary").write_text(CANARY)
    context = write_context(hostile.case, tmp_path / "context")
    return context, _snapshot(tmp_path)
