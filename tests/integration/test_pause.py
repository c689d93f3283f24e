"""pause and unpause (issue 12): the cgroup freezer stops a container's processes and lets them
run again, as docker's; what a paused container shows and refuses."""

from __future__ import annotations

import time

import pytest
from tests.integration.test_containers import Box, box, name, wait_for

__all__ = ["box", "name"]  # fixtures shared with the container tests
pytestmark = [pytest.mark.root, pytest.mark.registry]

COUNTER = "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.02; done"


def test_pause_freezes_a_counter_and_unpause_resumes_it(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", COUNTER)
    wait_for(lambda: box("exec", name, "cat", "/tmp/n").returncode == 0)
    assert box.ok("pause", name) == f"{name}\n"
    assert "(Paused)" in box.ok("ps", "--filter", f"name={name}")
    state = box.inspect(name)["State"]
    assert (state["Status"], state["Paused"], state["Running"]) == ("paused", True, True)  # type: ignore[index]
    refused = box("exec", name, "cat", "/tmp/n")
    assert refused.returncode != 0
    assert "is paused, unpause the container before exec" in refused.stderr
    again = box("pause", name)
    assert (again.returncode, "is already paused" in again.stderr) == (1, True)
    # frozen: the counter file (read on the host, in the container's upper dir) stays put
    counter = box.root / "containers" / box.inspect(name)["Id"] / "upper" / "tmp" / "n"  # type: ignore[operator]
    frozen_at = counter.read_text()
    time.sleep(0.3)  # room for ~15 steps, had it not been frozen
    assert counter.read_text() == frozen_at
    box.ok("unpause", name)
    wait_for(lambda: counter.read_text() != frozen_at)  # and it runs again
    not_paused = box("unpause", name)
    assert (not_paused.returncode, "is not paused" in not_paused.stderr) == (1, True)


def test_a_paused_container_is_stopped_and_removed(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    box.ok("pause", name)
    box.ok("stop", "-t", "1", name)  # SIGTERM waits in the freezer; the SIGKILL thaws it
    assert box.inspect(name)["State"]["Status"] == "exited"  # type: ignore[index]
    box.ok("start", name)
    box.ok("pause", name)
    box.ok("rm", "-f", name)
    assert box("inspect", name).returncode != 0


def test_pause_of_what_is_not_running(box: Box, name: str) -> None:
    box.ok("create", "--name", name, "busybox", "true")
    result = box("pause", name)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("is not running")
    missing = box("pause", "no-such-container")
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "Error: No such container: no-such-container",
    )


def test_top_lists_the_containers_processes_as_docker(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 301 & exec sleep 302")
    lines = box.ok("top", name).splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert lines[0].startswith("UID" + " " * 17 + "PID")  # the docker CLI's 20-wide cells
    commands = sorted(line.split(None, 7)[7] for line in lines[1:])
    assert commands == ["sleep 301", "sleep 302"]
    custom = box.ok("top", name, "-o", "pid,comm").splitlines()
    assert custom[0].split() == ["PID", "COMMAND"]
    assert len(custom) == 3
    stopped = box("top", "no-such-container")
    assert stopped.returncode == 1


def test_rename_and_its_refusals(box: Box, name: str) -> None:
    box.ok("create", "--name", name, "busybox", "true")
    box.ok("create", "--name", f"{name}-other", "busybox", "true")
    try:
        box.ok("rename", name, f"{name}-new")
        assert box.inspect(f"{name}-new")["Name"] == f"/{name}-new"
        taken = box("rename", f"{name}-new", f"{name}-other")
        assert taken.returncode == 1
        assert f'Conflict. The container name "/{name}-other" is already in use' in taken.stderr
        same = box("rename", f"{name}-new", f"{name}-new")
        assert same.stderr.strip() == (
            "Error: Renaming a container with the same name as its current name"
        )
        bad = box("rename", f"{name}-new", "no good")
        assert "Invalid container name (no good)" in bad.stderr
        box.ok("rename", f"{name}-new", name)
    finally:
        box("rm", "-f", f"{name}-other", f"{name}-new")
