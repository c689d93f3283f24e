"""cp through a stopped container's binds and volumes, side by side with a private dockerd
20.10: what comes out, where what goes in lands, the refusals (words and codes), and diff and
export, which never show the mounts. Each tool gets host directories of its own."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.integration.sidebyside import DAEMON_PREFIX, our_box, tag_busybox
from tests.integration.test_containers import Box
from tests.support.cli import hybridock_command
from tests.support.dockerd import Dockerd
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

#: written by the container into its mounts; links in a volume to the container's /etc/passwd
#: (absolute, and climbing out of the volume with ..) and to a host sentinel
SCRIPT = (
    "echo vol > /data/f && echo anon > /anon/a && ln -s /etc/passwd /data/link"
    " && ln -s ../etc/passwd /data/climb && ln -s ../bin /data/up"
    " && ln -s ../../../../../../../..{sentinel}/secret /data/escape"
    " && ln -s {sentinel}/secret /data/absolute"
)
#: what docker keeps in its init layer and hybridock makes at start (test_files_docker.py)
SKIPPED_DIFF = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/.dockerenv")
SKIPPED_EXPORT = {"dev/console", "dev/pts", "dev/shm", "etc/mtab", ".dockerenv"}


class Tool:
    """One side: its CLI and its own host directories (binds, a sentinel, a payload)."""

    def __init__(self, run: Callable[..., tuple[int, bytes, str]], top: Path) -> None:
        self.run = run
        self.top = top
        for name in ("bound", "ro", "sentinel"):
            (top / name).mkdir(parents=True)
        (top / "bound" / "hf").write_text("host file\n")
        (top / "ro" / "r").write_text("read-only\n")
        (top / "sentinel" / "secret").write_text("host secret\n")
        (top / "payload").write_text("payload\n")

    def __call__(self, *args: str) -> tuple[int, bytes, str]:
        code, out, err = self.run(*args)
        return code, out, err.replace(str(self.top), "TOP")

    def files(self, *args: str) -> tuple[int, dict[str, bytes], str]:
        """``cp ... -``: the code, the regular files in the tar by name, the error line."""
        code, out, err = self(*args)
        contents: dict[str, bytes] = {}
        if code == 0:
            with tarfile.open(fileobj=io.BytesIO(out)) as archive:
                for member in archive.getmembers():
                    extracted = archive.extractfile(member) if member.isreg() else None
                    contents[member.name] = extracted.read() if extracted else b""
        return code, contents, err

    def mounts(self) -> list[str]:
        top = self.top
        return [
            *("-v", "files-vol:/data", "-v", "/anon", "-v", f"{top / 'bound'}:/bound"),
            *("-v", f"{top / 'ro'}:/robind:ro"),
        ]

    def ok(self, *args: str) -> bytes:
        code, out, err = self.run(*args)
        assert code == 0, (args, err)
        return out


def words(text: str) -> str:
    """docker's answer as ours: "Error: " and the message, its host path of the rootfs gone
    (docker's client prints its own errors bare, its daemon's with a prefix)."""
    text = text.removeprefix("Error: ").removeprefix(DAEMON_PREFIX)
    return re.sub(r"/\S*/merged/", "/", f"Error: {text}" if text else "")


box = our_box("files-mounts")


@pytest.fixture
def tools(
    dockerd: Dockerd, session_registry: Registry, box: Box, tmp_path: Path
) -> Iterator[tuple[Tool, Tool]]:
    """docker's side and ours; afterwards their containers and volumes are removed."""
    tag_busybox(dockerd, session_registry)

    def theirs(*args: str) -> tuple[int, bytes, str]:
        result = subprocess.run(
            dockerd.command(*args), capture_output=True, timeout=120, check=False
        )
        return result.returncode, result.stdout, words(result.stderr.decode().strip())

    def mine(*args: str) -> tuple[int, bytes, str]:
        result = subprocess.run(
            [*hybridock_command(), *args],
            capture_output=True,
            env=box.env,
            timeout=120,
            check=False,
        )
        return result.returncode, result.stdout, result.stderr.decode().strip()

    yield Tool(theirs, tmp_path / "theirs"), Tool(mine, tmp_path / "mine")
    for container in dockerd.cli("ps", "-aq").stdout.split():
        dockerd.cli("rm", "-f", "-v", container, check=False)
    box.remove_containers()
    for names, remove in (
        (dockerd.cli("volume", "ls", "-q").stdout.split(), dockerd.cli),
        (box("volume", "ls", "-q").stdout.split(), box),
    ):
        if names:
            remove("volume", "rm", "-f", *names)


def test_cp_out_of_a_stopped_containers_volumes_and_binds(tools: tuple[Tool, Tool]) -> None:
    seen = []
    for tool in tools:
        script = SCRIPT.format(sentinel=tool.top / "sentinel")
        tool.ok(
            *("run", "--name", "files-m", "--network", "none", *tool.mounts()),
            *("busybox", "sh", "-c", script),
        )
        answers = [
            tool.files("cp", f"files-m:{path}", "-")
            for path in (
                "/data/f",
                "/anon/a",
                "/bound/hf",
                "/robind/r",
                "/data/link",
                "/data/up/../f",
            )
        ]
        answers += [
            tool.files("cp", "-L", f"files-m:{path}", "-")
            for path in ("/data/link", "/data/climb", "/data/escape", "/data/absolute")
        ]
        code, listing, err = tool.files("cp", "files-m:/data/up/", "-")
        answers.append((code, {name: b"" for name in listing if name.count("/") == 1}, err))
        seen.append(answers)
        for _, contents, _ in answers:
            assert not [name for name, data in contents.items() if b"host secret" in data]
    theirs, mine = seen
    assert mine == theirs
    passwd = mine[6][1]["passwd"]
    assert passwd.startswith(b"root:x:0:0:root:/root:/bin/sh")  # busybox's, not the host's


def test_cp_into_a_stopped_containers_volumes_and_binds(tools: tuple[Tool, Tool]) -> None:
    seen = []
    for tool in tools:
        tool.ok("create", "--name", "files-m", "--network", "none", *tool.mounts(), "busybox")
        payload = str(tool.top / "payload")
        answers: list[object] = [
            tool("cp", payload, f"files-m:{path}")
            for path in (
                "/data/in",
                "/anon/",
                "/bound/in",
                "/robind/new",
                "/robind",
                "/robind/r",
                "/data/",
            )
        ]
        answers.append(tool("start", "-a", "files-m"))
        answers.append(
            tool(
                "run", "--rm", "--network", "none", "-v", "files-vol:/v", "busybox", "cat", "/v/in"
            )
        )
        answers.append(tool.files("cp", "files-m:/anon/payload", "-"))
        answers.append((tool.top / "bound" / "in").read_text())
        answers.append(sorted(path.name for path in (tool.top / "ro").iterdir()))
        code, out, err = tool("diff", "files-m")
        kept = [line for line in out.decode().splitlines() if not line.endswith(SKIPPED_DIFF)]
        answers.append((code, sorted(kept), err))
        seen.append(answers)
    theirs, mine = seen
    assert mine == theirs
    assert mine[3] == (1, b"", "Error: mounted volume is marked read-only")


def test_a_never_started_containers_mount_points_are_made_as_dockers(
    tools: tuple[Tool, Tool],
) -> None:
    """docker's cp makes the mount points it mounts on in the upper dir (diff then shows
    them), a bind of a file on an empty file."""
    seen = []
    for tool in tools:
        tool.ok(
            *("create", "--name", "files-c", "--network", "none", "-v", "files-vol:/a/b/c"),
            *("-v", f"{tool.top / 'bound' / 'hf'}:/f/hf", "busybox"),
        )
        answers: list[object] = [
            tool("cp", str(tool.top / "payload"), "files-c:/a/b/c/"),
            tool.files("cp", "files-c:/f/hf", "-"),
            tool.files("cp", "files-c:/a/b/c/payload", "-"),
        ]
        code, out, err = tool("diff", "files-c")
        answers.append((code, sorted(out.decode().splitlines()), err))
        seen.append(answers)
    theirs, mine = seen
    assert mine == theirs


def test_a_read_only_stopped_container_takes_copies_into_its_writable_volumes(
    tools: tuple[Tool, Tool],
) -> None:
    seen = []
    for tool in tools:
        tool.ok(
            *("create", "--name", "files-r", "--read-only", "--network", "none"),
            *(*tool.mounts(), "busybox"),
        )
        payload = str(tool.top / "payload")
        answers: list[object] = [
            tool("cp", payload, f"files-r:{path}")
            for path in ("/data/ok", "/anon", "/robind/no", "/tmp/no", "/")
        ]
        answers.append(tool.files("cp", "files-r:/data/ok", "-"))
        seen.append(answers)
    theirs, mine = seen
    assert mine == theirs
    assert mine[3] == (1, b"", "Error: container rootfs is marked read-only")


def test_a_stopped_containers_tmpfs_shows_what_lies_below(tools: tuple[Tool, Tool]) -> None:
    """docker mounts no tmpfs for cp: a stopped container's /etc under --tmpfs is the
    image's."""
    seen = []
    for tool in tools:
        tool.ok("create", "--name", "files-t", "--network", "none", "--tmpfs", "/etc", "busybox")
        seen.append(tool.files("cp", "files-t:/etc/passwd", "-"))
    theirs, mine = seen
    assert mine == theirs
    assert mine[0] == 0


def test_diff_and_export_leave_the_mounts_out(tools: tuple[Tool, Tool]) -> None:
    seen = []
    for tool in tools:
        script = SCRIPT.format(sentinel=tool.top / "sentinel")
        tool.ok(
            *("run", "--name", "files-m", "--network", "none", *tool.mounts()),
            *("busybox", "sh", "-c", script),
        )
        tool.ok("cp", str(tool.top / "payload"), "files-m:/data/up/")  # into the image's /bin
        code, out, err = tool("diff", "files-m")
        kept = [line for line in out.decode().splitlines() if not line.endswith(SKIPPED_DIFF)]
        exported = tool.ok("export", "files-m")
        with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
            names = sorted(set(archive.getnames()) - SKIPPED_EXPORT)
        seen.append((code, sorted(kept), err, names))
    theirs, mine = seen
    assert mine == theirs
    assert "A /bin/payload" in mine[1]
    assert not [name for name in mine[3] if name.startswith(("data/f", "bound/hf", "anon/a"))]


def test_copies_in_through_a_volumes_links_stay_in_the_container(
    tools: tuple[Tool, Tool],
) -> None:
    """A link in a volume to a host path (absolute, or climbing out with ..) is followed in
    the container: the host's sentinel is never written."""
    seen = []
    for tool in tools:
        script = SCRIPT.format(sentinel=tool.top / "sentinel")
        tool.ok(
            *("run", "--name", "files-m", "--network", "none", *tool.mounts()),
            *("busybox", "sh", "-c", f"{script} && mkdir -p /data/made"),
        )
        before = sorted(path.name for path in (tool.top / "sentinel").iterdir())
        payload = str(tool.top / "payload")
        answers: list[object] = [
            tool("cp", payload, f"files-m:{path}")
            for path in ("/data/absolute", "/data/escape", "/data/climb", "/data/made/")
        ]
        answers += [  # docker takes a typed .. lexically, before any link: /data/etc/
            tool("cp", payload, f"files-m:{path}") for path in ("/data/up/../etc/", "/data/up/..")
        ]
        answers.append(tool.files("cp", "files-m:/etc/passwd", "-"))
        answers.append(tool.files("cp", "files-m:/data/made/payload", "-"))
        answers.append((tool.top / "sentinel" / "secret").read_text())
        assert sorted(path.name for path in (tool.top / "sentinel").iterdir()) == before
        seen.append(answers)
    theirs, mine = seen
    assert mine == theirs


def test_a_running_containers_read_only_bind_refuses_in_dockers_words(
    tools: tuple[Tool, Tool],
) -> None:
    seen = []
    for tool in tools:
        tool.ok(
            *("run", "-d", "--name", "files-s", "--network", "none", *tool.mounts()),
            *("busybox", "sleep", "300"),
        )
        payload = str(tool.top / "payload")
        answers: list[object] = [
            tool("cp", payload, f"files-s:{path}") for path in ("/robind/new", "/robind", "/data")
        ]
        answers.append(sorted(path.name for path in (tool.top / "ro").iterdir()))
        seen.append(answers)
    theirs, mine = seen
    assert mine == theirs
    assert mine[0] == (1, b"", "Error: mounted volume is marked read-only")
