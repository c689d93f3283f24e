"""cp's words and diff's output next to a private dockerd 20.10's, for the same actions on the
same busybox image: what is compared is the wording, exit codes and the A/C/D lines."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.sidebyside import our_box, tag_busybox
from tests.integration.test_containers import Box
from tests.support.dockerd import Dockerd
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

CHANGES = (
    "mkdir -p /new/deeper && echo x > /new/deeper/f && echo y >> /etc/passwd"
    " && rm /bin/true && rm -rf /home && mkdir /home && touch /home/fresh && touch /usr/bin"
)


box = our_box("files-docker")


@pytest.fixture
def docker(dockerd: Dockerd, session_registry: Registry) -> Iterator[Dockerd]:
    tag_busybox(dockerd, session_registry)
    yield dockerd
    for container in ("files-a", "files-b"):
        dockerd.cli("rm", "-f", container, check=False)


@pytest.fixture
def ours(box: Box) -> Iterator[Box]:
    yield box
    for container in ("files-a", "files-b"):
        box("rm", "-f", container)


def both(
    docker: Dockerd, box: Box, *args: str
) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    theirs = docker.cli(*args, check=False)
    mine = box(*args)
    return (
        (theirs.returncode, theirs.stdout, theirs.stderr.strip()),
        (mine.returncode, mine.stdout, mine.stderr.strip()),
    )


def test_cp_failures_say_what_docker_says(docker: Dockerd, ours: Box, tmp_path: Path) -> None:
    for tool in (docker.cli, ours):
        tool("create", "--name", "files-a", "busybox", "true")
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    cases = [
        ("cp", "files-a:/nope", str(tmp_path)),
        ("cp", "files-a:/etc/passwd/x", str(tmp_path)),
        ("cp", str(tmp_path / "file"), "files-a:/nope/x"),
        ("cp", str(tmp_path / "nope"), "files-a:/tmp"),
        ("cp", str(tmp_path / "dir"), "files-a:/etc/passwd"),
        ("cp", "files-a:/etc", str(tmp_path / "file")),
        ("cp", "nosuch:/etc", str(tmp_path)),
        ("cp", "files-a:/etc", "files-a:/tmp"),
        ("cp", str(tmp_path), str(tmp_path)),
    ]
    for args in cases:
        theirs, mine = both(docker, ours, *args)
        # docker's client prints its own errors bare; ours all start with "Error: "
        words = theirs[2].removeprefix("Error: ").removeprefix("Error response from daemon: ")
        words = re.sub(r"/\S*/merged/", "/", words)  # docker's own host path
        assert (mine[0], mine[2]) == (theirs[0], f"Error: {words}"), args


def test_diff_lines_are_dockers(docker: Dockerd, ours: Box) -> None:
    for tool in (docker.cli, ours):
        tool("run", "--name", "files-b", "--network", "none", "busybox", "sh", "-c", CHANGES)
    theirs, mine = both(docker, ours, "diff", "files-b")
    skipped = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/.dockerenv")
    expected = [line for line in theirs[1].splitlines() if not line.endswith(skipped)]
    # docker 20.10's order follows a Go map's iteration; the lines and their shape are the same
    assert sorted(mine[1].splitlines()) == sorted(expected)
    lines = mine[1].splitlines()
    assert lines.index("C /etc") < lines.index("C /etc/passwd")
    assert mine[0] == theirs[0] == 0


def test_exported_names_are_dockers(docker: Dockerd, ours: Box, tmp_path: Path) -> None:
    for tool in (docker.cli, ours):
        tool("run", "--name", "files-b", "--network", "none", "busybox", "sh", "-c", CHANGES)
    docker.cli("export", "-o", str(tmp_path / "theirs.tar"), "files-b")
    ours.ok("export", "-o", str(tmp_path / "mine.tar"), "files-b")

    def names(archive: Path) -> list[str]:
        listed = subprocess.run(
            ["tar", "-tf", str(archive)], capture_output=True, text=True, check=True
        )
        return listed.stdout.splitlines()

    # docker's init layer: mount points and files that hybridock's runtime makes at start
    skipped = {"dev/console", "dev/pts/", "dev/shm/", "etc/mtab", ".dockerenv"}
    theirs = [name for name in names(tmp_path / "theirs.tar") if name not in skipped]
    mine = [name for name in names(tmp_path / "mine.tar") if name not in skipped]
    assert sorted(mine) == sorted(theirs)
