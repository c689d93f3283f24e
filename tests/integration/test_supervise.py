"""Restart policies and health checks (issue 12), with real containers: docker 20.10's rules,
carried out without a daemon (the monitor's on-exit step restarts, the monitor times probes).
No timed assertions: states are polled for with generous limits."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_containers import Box, make_box, name, wait_for
from tests.support.cli import hybridock_command
from tests.support.images import ImageSpec
from tests.support.layers import Layer
from tests.support.registry import Registry
from tests.support.testimages import busybox_entries, host_platform

__all__ = ["name"]  # the container-name fixture
pytestmark = [pytest.mark.root, pytest.mark.registry]

PATIENCE = 60.0


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    image_builder.publish_library(session_registry)  # type: ignore[attr-defined]
    checked = ImageSpec(
        layers=[Layer(busybox_entries())],
        cmd=["sh"],
        platform=host_platform(),
        extra_config={
            "Healthcheck": {"Test": ["CMD", "false"], "Interval": 200_000_000, "Retries": 1}
        },
    )
    session_registry.push(checked.build(), "library/checked", "latest")
    made = make_box(tmp_path_factory.mktemp("supervise"), session_registry)
    made.ok("pull", "busybox")
    made.ok("pull", "checked")
    try:
        yield made
    finally:
        made.discard()


def state_of(box: Box, container: str) -> dict[str, Any]:
    document = box.inspect(container)
    state = document["State"]
    assert isinstance(state, dict)
    return {**state, "RestartCount": document["RestartCount"]}


def eventually(box: Box, container: str, wanted: dict[str, Any]) -> dict[str, Any]:
    """The container's State (with RestartCount) once it has every field of ``wanted``."""
    seen: dict[str, Any] = {}

    def reached() -> bool:
        nonlocal seen
        seen = state_of(box, container)
        return all(seen.get(key) == value for key, value in wanted.items())

    try:
        wait_for(reached, PATIENCE)
    except AssertionError:
        raise AssertionError(f"{container} never reached {wanted}: last {seen}") from None
    return seen


# --- --restart ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("foo", "invalid restart policy 'foo'"),
        ("on-failure:x", "maximum retry count must be an integer"),
        ("on-failure:", "maximum retry count must be an integer"),
        ("always:3", "maximum retry count cannot be used with restart policy 'always'"),
        ("no:1", "maximum retry count cannot be used with restart policy 'no'"),
        ("on-failure:-1", "maximum retry count cannot be negative"),
        ("a:b:c", "invalid restart policy format"),
    ],
)
def test_a_bad_restart_policy_is_one_line_and_125(box: Box, policy: str, message: str) -> None:
    before = box.ok("ps", "-aq")
    result = box("run", "-d", "--restart", policy, "busybox", "true")
    assert (result.returncode, result.stderr) == (125, f"Error: {message}\n")
    assert box.ok("ps", "-aq") == before  # nothing created


def test_restart_conflicts_with_rm(box: Box) -> None:
    result = box("run", "--rm", "--restart", "always", "busybox", "true")
    assert (result.returncode, result.stderr) == (
        125,
        "Error: Conflicting options: --restart and --rm\n",
    )
    assert box("run", "--rm", "--restart", "no", "busybox", "true").returncode == 0


def test_inspect_shows_the_policy(box: Box, name: str) -> None:
    box.ok("create", "--name", name, "--restart", "on-failure", "busybox", "true")
    document = box.inspect(name)
    assert document["HostConfig"]["RestartPolicy"] == {  # type: ignore[index]
        "Name": "on-failure",
        "MaximumRetryCount": 0,
    }
    assert document["RestartCount"] == 0
    box.ok("rm", name)
    box.ok("create", "--name", name, "busybox", "true")
    assert box.inspect(name)["HostConfig"]["RestartPolicy"] == {  # type: ignore[index]
        "Name": "no",
        "MaximumRetryCount": 0,
    }


def test_on_failure_3_restarts_three_times_then_stays_exited(box: Box, name: str) -> None:
    box.ok(
        "run", "-d", "--name", name, "--restart", "on-failure:3", "busybox", "sh", "-c", "exit 3"
    )
    state = eventually(box, name, {"Status": "exited", "RestartCount": 3})
    assert (state["ExitCode"], state["Restarting"], state["Running"]) == (3, False, False)
    # and it stays so: the last exit's judge (no fourth restart) has come and gone
    wait_for(lambda: not _sleepers(box, name), PATIENCE)
    assert state_of(box, name)["Status"] == "exited"
    assert state_of(box, name)["RestartCount"] == 3
    assert "Exited (3)" in box.ok("ps", "-a", "--filter", f"name={name}")


def test_on_failure_leaves_a_clean_exit_alone(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "--restart", "on-failure", "busybox", "true")
    eventually(box, name, {"Status": "exited", "ExitCode": 0})
    wait_for(lambda: not _sleepers(box, name), PATIENCE)
    assert state_of(box, name)["RestartCount"] == 0


def test_always_comes_back_after_its_own_exit_but_not_after_stop(
    box: Box, name: str, tmp_path: Path
) -> None:
    # each run appends a line to a bind-mounted file, then exits once it has slept a little
    runs = tmp_path / "runs"
    runs.touch()
    box.ok(
        "run", "-d", "--name", name, "--restart", "always", "-v", f"{tmp_path}:/out",
        "busybox", "sh", "-c", "echo run >> /out/runs; sleep 1; exit 0",
    )  # fmt: skip
    wait_for(lambda: runs.read_text().count("run") >= 3, PATIENCE)
    assert state_of(box, name)["RestartCount"] >= 2
    wait_for(lambda: state_of(box, name)["Status"] == "running", PATIENCE)
    box.ok("stop", "-t", "1", name)
    state = eventually(box, name, {"Status": "exited"})
    assert state["Restarting"] is False
    counted = runs.read_text().count("run")
    wait_for(lambda: not _sleepers(box, name), PATIENCE)
    assert state_of(box, name)["Status"] == "exited"
    assert runs.read_text().count("run") == counted  # no run after the stop
    # a user's start brings it back, its count reset, as docker's
    box.ok("start", name)
    assert state_of(box, name)["RestartCount"] == 0


def test_the_restart_command_is_not_a_policy_restart(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "--restart", "always", "busybox", "sleep", "300")
    os.kill(box.pid(name), 9)
    eventually(box, name, {"Status": "running", "RestartCount": 1})
    first = box.pid(name)
    box.ok("restart", "-t", "1", name)
    state = eventually(box, name, {"Status": "running", "RestartCount": 0})  # a user's start
    assert state["Pid"] != first
    # the stop inside restart was a user's: its exit brings no second start
    wait_for(lambda: not _sleepers(box, name), PATIENCE)
    assert (state_of(box, name)["Pid"], state_of(box, name)["RestartCount"]) == (state["Pid"], 0)


def test_stop_during_the_backoff_cancels_the_restart(box: Box, name: str) -> None:
    # a container that fails at once climbs the backoff (100 ms, 200 ms, ... up to 1 min)
    box.ok("run", "-d", "--name", name, "--restart", "always", "busybox", "sh", "-c", "exit 2")
    # once the backoff has grown past a few seconds, it is caught waiting
    wait_for(lambda: state_of(box, name)["RestartCount"] >= 6, PATIENCE)
    state = eventually(box, name, {"Status": "restarting"})
    assert (state["Running"], state["Restarting"], state["Pid"], state["ExitCode"]) == (
        True,
        True,
        0,
        2,
    )
    wait_for(  # ps without -a lists it
        lambda: "Restarting (2)" in box.ok("ps", "--filter", f"name={name}"), PATIENCE
    )
    wait_for(
        lambda: box.ok("ps", "-q", "--filter", "status=restarting", "--filter", f"name={name}"),
        PATIENCE,
    )
    eventually(box, name, {"Status": "restarting"})
    refused = box("rm", name)
    assert refused.returncode == 1
    assert "You cannot remove a restarting container" in refused.stderr
    box.ok("stop", name)
    state = state_of(box, name)
    assert (state["Status"], state["Restarting"], state["ExitCode"]) == ("exited", False, 2)
    count = state["RestartCount"]
    wait_for(lambda: not _sleepers(box, name), PATIENCE)  # the sleeper is ended, not waited for
    assert state_of(box, name)["Status"] == "exited"
    assert state_of(box, name)["RestartCount"] == count


def test_kill_during_the_backoff_cancels_the_restart(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "--restart", "always", "busybox", "sh", "-c", "exit 2")
    wait_for(lambda: state_of(box, name)["RestartCount"] >= 4, PATIENCE)
    eventually(box, name, {"Status": "restarting"})
    box.ok("kill", name)  # docker's kill of a restarting container: no signal, no restart
    state = eventually(box, name, {"Status": "exited"})
    wait_for(lambda: not _sleepers(box, name), PATIENCE)
    assert state_of(box, name)["RestartCount"] == state["RestartCount"]
    assert state_of(box, name)["Status"] == "exited"


def test_rm_f_during_the_backoff_removes_it(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "--restart", "always", "busybox", "sh", "-c", "exit 1")
    container_id = box.inspect(name)["Id"]
    eventually(box, name, {"Status": "restarting"})
    box.ok("rm", "-f", name)
    assert box(("inspect"), name).returncode == 1
    wait_for(lambda: not _sleepers_of(str(container_id)), PATIENCE)
    assert box(("inspect"), name).returncode == 1


def test_kill_keeps_an_always_container_down(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "--restart", "always", "busybox", "sleep", "300")
    box.ok("kill", name)
    eventually(box, name, {"Status": "exited", "ExitCode": 137})
    wait_for(lambda: not _sleepers(box, name), PATIENCE)
    assert state_of(box, name)["Status"] == "exited"


def test_a_process_killed_from_outside_is_restarted(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "--restart", "unless-stopped", "busybox", "sleep", "300")
    os.kill(box.pid(name), 9)  # not through hybridock: not a manual stop
    eventually(box, name, {"Status": "running", "RestartCount": 1})


def test_an_attached_run_returns_the_code_and_the_restarts_go_on(box: Box, name: str) -> None:
    result = box(
        "run", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 5"
    )
    assert result.returncode == 5
    eventually(box, name, {"Status": "exited", "RestartCount": 2})
    wait_for(lambda: not _sleepers(box, name), PATIENCE)
    assert state_of(box, name)["RestartCount"] == 2


# --- update --restart -----------------------------------------------------------------------

#: a process that runs until a file appears in the bind-mounted /out, takes the file, and exits
#: (sh as pid 1 ignores SIGTERM, so the container is ended from inside instead)
UNTIL_STOP = "while [ ! -e /out/stop ]; do sleep 0.05; done; rm /out/stop; exit 3"


def _stop_from_inside(out: Path) -> None:
    (out / "stop").touch()
    wait_for(lambda: not (out / "stop").exists(), PATIENCE)


@pytest.mark.parametrize("network", ["none", "bridge"])
def test_update_restart_always_restarts_a_running_container(
    box: Box, name: str, tmp_path: Path, network: str
) -> None:
    # started without a policy: with --network none its monitor has no on-exit step of its own
    box.ok(
        "run", "-d", "--name", name, "--network", network, "-v", f"{tmp_path}:/out",
        "busybox", "sh", "-c", UNTIL_STOP,
    )  # fmt: skip
    first = box.pid(name)
    assert box.ok("update", "--restart", "always", name) == f"{name}\n"
    assert box.inspect(name)["HostConfig"]["RestartPolicy"] == {  # type: ignore[index]
        "Name": "always",
        "MaximumRetryCount": 0,
    }
    _stop_from_inside(tmp_path)
    state = eventually(box, name, {"Status": "running", "RestartCount": 1})
    assert state["Pid"] != first


def test_update_restart_no_stops_further_restarts(box: Box, name: str, tmp_path: Path) -> None:
    box.ok(
        "run", "-d", "--name", name, "--network", "none", "--restart", "always",
        "-v", f"{tmp_path}:/out", "busybox", "sh", "-c", UNTIL_STOP,
    )  # fmt: skip
    assert box.ok("update", "--restart", "no", name) == f"{name}\n"
    _stop_from_inside(tmp_path)
    eventually(box, name, {"Status": "exited", "ExitCode": 3})
    wait_for(lambda: not _sleepers(box, name), PATIENCE)
    state = state_of(box, name)
    assert (state["Status"], state["RestartCount"]) == ("exited", 0)
    assert box.inspect(name)["HostConfig"]["RestartPolicy"] == {  # type: ignore[index]
        "Name": "no",
        "MaximumRetryCount": 0,
    }


def test_update_restart_of_an_attached_run(box: Box, name: str, tmp_path: Path) -> None:
    # docker's client returns the code of the run it attached to; the new policy restarts it
    run = subprocess.Popen(
        [*hybridock_command(), "run", "--name", name, "--network", "none", "-v", f"{tmp_path}:/out",
         "busybox", "sh", "-c", UNTIL_STOP],
        env=box.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        running = ("ps", "-q", "--filter", f"name={name}", "--filter", "status=running")
        wait_for(lambda: box.ok(*running), PATIENCE)  # created, spawned and recorded
        box.ok("update", "--restart", "on-failure:1", name)
        _stop_from_inside(tmp_path)
        assert run.wait(timeout=PATIENCE) == 3
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    eventually(box, name, {"Status": "running", "RestartCount": 1})
    _stop_from_inside(tmp_path)  # on-failure:1 is spent: it stays down now
    eventually(box, name, {"Status": "exited", "ExitCode": 3})
    wait_for(lambda: not _sleepers(box, name), PATIENCE)
    assert state_of(box, name)["RestartCount"] == 1


def test_an_attached_run_removed_while_it_runs_returns_its_code(box: Box, name: str) -> None:
    # the policy is read again after the exit: a container gone by then has none
    run = subprocess.Popen(
        [*hybridock_command(), "run", "--name", name, "--network", "none", "busybox",
         "sleep", "300"],
        env=box.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        running = ("ps", "-q", "--filter", f"name={name}", "--filter", "status=running")
        wait_for(lambda: box.ok(*running), PATIENCE)
        box.ok("rm", "-f", name)
        _, stderr = run.communicate(timeout=PATIENCE)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert (run.returncode, stderr) == (137, b"")


def test_update_restart_of_a_stopped_container_applies_from_its_start(
    box: Box, name: str, tmp_path: Path
) -> None:
    box.ok("create", "--name", name, "--network", "none", "-v", f"{tmp_path}:/out",
           "busybox", "sh", "-c", UNTIL_STOP)  # fmt: skip
    box.ok("update", "--restart", "unless-stopped", "--memory", "64m", name)
    host_config = box.inspect(name)["HostConfig"]
    assert host_config["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}  # type: ignore[index]
    assert host_config["Memory"] == 64 * 1024 * 1024  # type: ignore[index]
    box.ok("start", name)
    _stop_from_inside(tmp_path)
    eventually(box, name, {"Status": "running", "RestartCount": 1})


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("foo", "invalid restart policy 'foo'"),
        ("always:3", "maximum retry count cannot be used with restart policy 'always'"),
        ("on-failure:x", "maximum retry count must be an integer"),
        ("a:b:c", "invalid restart policy format"),
    ],
    ids=["name", "count", "integer", "format"],
)
def test_a_bad_update_restart_is_one_line_and_1(
    box: Box, name: str, policy: str, message: str
) -> None:
    box.ok("create", "--name", name, "--network", "none", "busybox", "true")
    result = box("update", "--restart", policy, name)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")
    assert box.inspect(name)["HostConfig"]["RestartPolicy"]["Name"] == "no"  # type: ignore[index]


def test_update_restart_refuses_an_rm_container(box: Box, name: str) -> None:
    box.ok("run", "-d", "--rm", "--name", name, "--network", "none", "busybox", "sleep", "300")
    container_id = box.inspect(name)["Id"]
    result = box("update", "--restart", "always", "--memory", "64m", name)
    assert (result.returncode, result.stderr) == (
        1,
        f"Error: Cannot update container {container_id}: Restart policy cannot be updated"
        " because AutoRemove is enabled for the container\n",
    )
    host_config = box.inspect(name)["HostConfig"]
    assert host_config["RestartPolicy"]["Name"] == "no"  # type: ignore[index]
    assert host_config["Memory"] == 0  # type: ignore[index]  # nothing of it applied
    assert box.ok("update", "--restart", "no", name) == f"{name}\n"


def _sleepers(box: Box, container: str) -> list[int]:
    return _sleepers_of(str(box.inspect(container)["Id"]))


def _sleepers_of(container_id: str) -> list[int]:
    """Processes judging or waiting to restart the container (``runtime/restarts.py``; not its
    monitor, whose command line holds the same words after ``--``)."""
    return _python_modules_for(container_id, b"hybridock.runtime.onexit")


def _python_modules_for(container_id: str, module: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command[1:3] == [b"-m", module] and container_id.encode() in command:
            found.append(int(entry.name))
    return found


# --- health checks ------------------------------------------------------------------------------


def health_of(box: Box, container: str) -> dict[str, Any]:
    health = state_of(box, container).get("Health")
    assert isinstance(health, dict), health
    return health


def test_a_passing_check_turns_healthy(box: Box, name: str) -> None:
    box.ok(
        "run", "-d", "--name", name, "--health-cmd", "echo ok; exit 0",
        "--health-interval", "200ms", "busybox", "sleep", "300",
    )  # fmt: skip
    assert box.inspect(name)["Config"]["Healthcheck"] == {  # type: ignore[index]
        "Test": ["CMD-SHELL", "echo ok; exit 0"],
        "Interval": 200_000_000,
    }
    assert health_of(box, name)["Status"] in ("starting", "healthy")
    wait_for(lambda: health_of(box, name)["Status"] == "healthy", PATIENCE)
    health = health_of(box, name)
    assert health["FailingStreak"] == 0
    entry = health["Log"][-1]
    assert (entry["ExitCode"], entry["Output"]) == (0, "ok\n")
    assert entry["Start"] <= entry["End"]
    assert "(healthy)" in box.ok("ps", "--filter", f"name={name}")
    assert name in box.ok("ps", "--filter", "health=healthy")
    wait_for(lambda: len(health_of(box, name)["Log"]) == 5, PATIENCE)  # docker keeps five
    container_id = str(box.inspect(name)["Id"])
    box.ok("stop", "-t", "1", name)
    assert health_of(box, name)["Status"] == "unhealthy"  # docker's word for a stopped one
    # the timer ended with the container: no probe process is left
    wait_for(lambda: not _python_modules_for(container_id, b"hybridock.runtime.health"), PATIENCE)


def test_a_failing_check_turns_unhealthy_after_the_retries(box: Box, name: str) -> None:
    box.ok(
        "run", "-d", "--name", name, "--health-cmd", "echo bad; exit 1",
        "--health-interval", "200ms", "--health-retries", "3", "busybox", "sleep", "300",
    )  # fmt: skip
    assert "(health: starting)" in box.ok("ps", "--filter", f"name={name}")
    wait_for(lambda: health_of(box, name)["Status"] == "unhealthy", PATIENCE)
    health = health_of(box, name)
    assert health["FailingStreak"] >= 3
    assert all(e["ExitCode"] == 1 and e["Output"] == "bad\n" for e in health["Log"])
    # docker's event on each change of status only: starting -> unhealthy, once
    changes = box.ok(
        "events", "--since", "0", "--until", f"{time.time() + 1:.3f}", "--format",
        "{{.Action}}", "--filter", f"container={name}", "--filter", "event=health_status",
    )  # fmt: skip
    assert changes.splitlines() == ["health_status: unhealthy"]
    assert "(unhealthy)" in box.ok("ps", "--filter", f"name={name}")
    assert name in box.ok("ps", "--filter", "health=unhealthy")
    assert name not in box.ok("ps", "--filter", "health=healthy")


def test_a_hanging_probe_is_killed_at_its_timeout(box: Box, name: str) -> None:
    box.ok(
        "run", "-d", "--name", name, "--health-cmd", "sleep 1000",
        "--health-interval", "200ms", "--health-timeout", "300ms", "--health-retries", "1",
        "busybox", "sleep", "300",
    )  # fmt: skip
    wait_for(lambda: health_of(box, name)["Status"] == "unhealthy", PATIENCE)
    entry = health_of(box, name)["Log"][0]
    assert (entry["ExitCode"], entry["Output"]) == (-1, "Health check exceeded timeout (300ms)")
    # the probe's process was killed: no `sleep 1000` piles up in the container
    top = box.ok("top", name)
    assert top.count("sleep 1000") <= 1  # at most the one of the probe running now


def test_the_image_check_runs_and_no_healthcheck_overrides_it(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "checked", "sleep", "300")
    assert box.inspect(name)["Config"]["Healthcheck"]["Test"] == ["CMD", "false"]  # type: ignore[index]
    wait_for(lambda: health_of(box, name)["Status"] == "unhealthy", PATIENCE)
    box.ok("rm", "-f", name)
    box.ok("run", "-d", "--name", name, "--no-healthcheck", "checked", "sleep", "300")
    document = box.inspect(name)
    # docker's merge: the flag's test, the image's other fields
    assert document["Config"]["Healthcheck"]["Test"] == ["NONE"]  # type: ignore[index]
    assert "Health" not in document["State"]  # type: ignore[operator]
    assert name in box.ok("ps", "--filter", "health=none")
    listed = box.ok("ps", "--filter", f"name={name}")
    assert "(health" not in listed and "healthy)" not in listed and "Up " in listed


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (["--health-interval", "-1s"], "--health-interval cannot be negative"),
        (["--health-retries", "-1"], "--health-retries cannot be negative"),
        (["--health-interval", "1us"], "Interval in Healthcheck cannot be less than 1ms"),
        (
            ["--health-interval", "abc"],
            'invalid argument "abc" for "--health-interval" flag: time: invalid duration "abc"',
        ),
    ],
)
def test_bad_health_flags_are_one_line_and_125(box: Box, flags: list[str], message: str) -> None:
    result = box("run", "-d", *flags, "busybox", "true")
    assert (result.returncode, result.stderr) == (125, f"Error: {message}\n")


def test_a_bad_health_filter_is_refused(box: Box) -> None:
    result = box("ps", "--filter", "health=bad")
    assert (result.returncode, result.stderr) == (
        1,
        "Error: Unrecognised filter value for health: bad\n",
    )


def test_health_records_are_json(box: Box, name: str) -> None:
    """health.json is what inspect shows: one document, replaced whole by each probe."""
    box.ok(
        "run", "-d", "--name", name, "--health-cmd", "true", "--health-interval", "100ms",
        "busybox", "sleep", "300",
    )  # fmt: skip
    record = box.root / "containers" / str(box.inspect(name)["Id"]) / "health.json"
    wait_for(lambda: len(health_of(box, name)["Log"]) >= 2, PATIENCE)
    assert json.loads(record.read_text())["Status"] == "healthy"


def test_an_attached_run_is_probed_while_it_runs(box: Box, name: str) -> None:
    """The attached CLI is the supervisor: it times the probes itself."""
    import threading  # noqa: PLC0415

    outcome: list[int] = []
    waiting = "until [ -e /tmp/go ]; do sleep 0.05; done"
    args = (
        "run", "--name", name, "--health-cmd", "true", "--health-interval", "100ms",
        "busybox", "sh", "-c", waiting,
    )  # fmt: skip
    attached = threading.Thread(target=lambda: outcome.append(box(*args).returncode))
    attached.start()
    try:
        wait_for(lambda: box("inspect", name).returncode == 0, PATIENCE)
        wait_for(lambda: state_of(box, name).get("Health", {}).get("Status") == "healthy", PATIENCE)
    finally:
        box("exec", name, "touch", "/tmp/go")
        attached.join(PATIENCE)
    assert outcome == [0]
    assert health_of(box, name)["Status"] == "unhealthy"  # stopped


def test_a_paused_container_is_not_probed_and_is_unhealthy(box: Box, name: str) -> None:
    box.ok(
        "run", "-d", "--name", name, "--health-cmd", "true", "--health-interval", "100ms",
        "busybox", "sleep", "300",
    )  # fmt: skip
    wait_for(lambda: health_of(box, name)["Status"] == "healthy", PATIENCE)
    box.ok("pause", name)
    # docker's word once probes stop (a probe that was running when it froze is dropped)
    wait_for(lambda: health_of(box, name)["Status"] == "unhealthy", PATIENCE)
    assert "(Paused)" in box.ok("ps", "--filter", f"name={name}")
    box.ok("unpause", name)
    wait_for(lambda: health_of(box, name)["Status"] == "healthy", PATIENCE)
