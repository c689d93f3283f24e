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
