"""A container attacking its host (issue 4's hostile suite, the container side), as root.

Each case is something an image or a container's process could try; each must end in a
clear error or a harmless result, with the host and the store unchanged.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.integration.test_containers import Box, make_box
from tests.support.cleanup import mounts_under
from tests.support.images import ImageSpec
from tests.support.layers import Dir, File, Layer, Symlink
from tests.support.registry import Registry
from tests.support.testimages import busybox_entries, host_platform

pytestmark = [pytest.mark.root, pytest.mark.registry]


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    """A store with `library/traps`: busybox plus symlinks that point at the host's paths."""
    image_builder.publish_library(session_registry)  # type: ignore[attr-defined]
    traps = ImageSpec(
        layers=[
            Layer(busybox_entries()),
            Layer(
                [
                    Symlink("escape-etc", "/etc"),
                    Symlink("escape-up", "../../../../../../.."),
                    Dir("work"),
                    Symlink("work/out", "/../../../../tmp"),
                    File("marker", "image\n"),
                ]
            ),
        ],
        cmd=["sh"],
        platform=host_platform(),
    )
    image_builder.push(traps, session_registry, "library/traps")  # type: ignore[attr-defined]
    box = make_box(tmp_path_factory.mktemp("hostile"), session_registry)
    box.ok("pull", "traps")
    box.ok("pull", "busybox")
    try:
        yield box
    finally:
        box.discard()


def test_volume_target_through_an_image_symlink_stays_inside(hostile: Box, tmp_path: Path) -> None:
    # /escape-etc -> /etc in the image: the bind lands on the container's /etc, never the host's
    source = tmp_path / "data"
    source.mkdir()
    (source / "probe").write_text("mounted\n")
    host_etc_before = sorted(Path("/etc").iterdir())
    out = hostile.ok("run", "--rm", "-v", f"{source}:/escape-etc", "traps", "cat", "/etc/probe")
    assert out == "mounted\n"
    assert sorted(Path("/etc").iterdir()) == host_etc_before
    assert mounts_under(Path("/etc")) == []


def test_volume_target_climbing_out_stays_inside(hostile: Box, tmp_path: Path) -> None:
    source = tmp_path / "data"
    source.mkdir()
    result = hostile("run", "--rm", "-v", f"{source}:/escape-up/hostile-mount", "traps", "true")
    # resolved inside the root: /escape-up is / of the container, so this is /hostile-mount
    assert not Path("/hostile-mount").exists()
    assert "Traceback" not in result.stderr


def test_workdir_through_a_symlink_stays_inside(hostile: Box) -> None:
    out = hostile.ok("run", "--rm", "-w", "/work/out", "traps", "sh", "-c", "pwd -P; ls")
    assert out.splitlines()[0] == "/tmp"  # the container's /tmp, not the host's
    assert set(out.splitlines()[1:]) <= {""}  # the image's /tmp is empty


def test_cannot_see_or_signal_host_processes(hostile: Box) -> None:
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        result = hostile("run", "--rm", "busybox", "kill", "-9", str(sleeper.pid))
        assert result.returncode != 0
        assert sleeper.poll() is None
        listing = hostile.ok(
            "run", "--rm", "busybox", "sh", "-c", f"ls /proc/{sleeper.pid} || true"
        )
        assert "cmdline" not in listing
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize(
    ("name", "script"),
    [
        pytest.param("remount-root", "mount -o remount,rw / && echo DONE", id="remount-root"),
        pytest.param("mount-proc", "mount -t proc proc /mnt && echo DONE", id="mount-proc"),
        pytest.param(
            "write-proc-sys", "echo 1 > /proc/sys/kernel/sysrq && echo DONE", id="write-proc-sys"
        ),
        pytest.param(
            "sysrq-trigger", "echo h > /proc/sysrq-trigger && echo DONE", id="sysrq-trigger"
        ),
        pytest.param("load-module", "insmod /marker && echo DONE", id="load-module"),
        pytest.param(
            "mknod-disk",
            "mknod /tmp/sda b 8 0 && dd if=/tmp/sda bs=1 count=1 >/dev/null && echo DONE",
            id="read-host-disk",
        ),
        pytest.param("write-sys", "echo 1 > /sys/kernel/profiling && echo DONE", id="write-sys"),
    ],
)
def test_privileged_operations_fail(hostile: Box, name: str, script: str) -> None:
    swappiness_before = Path("/proc/sys/vm/swappiness").read_text()
    result = hostile("run", "--rm", "traps", "sh", "-c", script)
    assert "DONE" not in result.stdout, f"{name}: {result}"
    assert Path("/proc/sys/vm/swappiness").read_text() == swappiness_before


def test_proc_self_exe_of_the_runtime_is_not_reachable(hostile: Box) -> None:
    # pid 1's exe is the container's program, never hybridock's process or interpreter
    out = hostile.ok("run", "--rm", "busybox", "sh", "-c", "readlink /proc/1/exe; true")
    assert out.strip() == "/bin/sh"  # the image's own binary, by its path inside the rootfs
    result = hostile("run", "--rm", "busybox", "sh", "-c", "echo x >> /proc/1/exe && echo DONE")
    assert "DONE" not in result.stdout


def test_image_files_are_untouched_by_a_container(hostile: Box) -> None:
    hostile.ok("run", "--rm", "traps", "sh", "-c", "echo changed > /marker; rm -rf /bin/ls")
    assert hostile.ok("run", "--rm", "traps", "cat", "/marker") == "image\n"
    assert hostile("run", "--rm", "traps", "ls", "/").returncode == 0


def test_fifty_concurrent_run_rm(hostile: Box) -> None:
    def one(index: int) -> tuple[int, str]:
        result = hostile("run", "--rm", "busybox", "sh", "-c", f"echo {index}", timeout=300)
        return result.returncode, result.stdout

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    assert [code for code, _ in results] == [0] * 50
    assert sorted(int(out) for _, out in results) == list(range(50))
    assert hostile.ok("ps", "-aq") == ""
    assert list((hostile.root / "containers").iterdir()) == []
    assert time.monotonic() - started > 0  # the total is reported by benches, not asserted
