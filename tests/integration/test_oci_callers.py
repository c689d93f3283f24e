"""OCI runtimes under their real callers (issue 16's acceptance): podman 4.3 and containerd
1.6's runc shim drive each runtime (hybridock-runtime when built, runc, crun) through a wrapper
that logs every command line it is called with, then execs the runtime
(tests/support/ociruntime.py). Each test runs against every runtime; the last ones check the
shapes of the calls each caller made (runc's CLI as the issue lists it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.support.containerd import (
    Containerd,
    DaemonStartError,
    cgroup_hierarchies,
    containerd_probe,
)
from tests.support.netns import foreign_interfaces
from tests.support.ociruntime import OciRuntime, read_calls, runtime_params, wrapper
from tests.support.podman import Podman, PodmanStartError, podman_probe
from tests.support.processes import processes_mentioning
from tests.support.registry import Registry
from tests.support.terminal import terminal

pytestmark = [pytest.mark.root, pytest.mark.registry, pytest.mark.slow]

WAIT_TIMEOUT = 60.0


def cgroups_named(name: str) -> list[Path]:
    """What a caller left of its cgroup parent, in every hierarchy."""
    return [hierarchy / name for hierarchy in cgroup_hierarchies() if (hierarchy / name).exists()]


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {WAIT_TIMEOUT:.0f}s")
        time.sleep(0.1)


@pytest.fixture(scope="module", params=runtime_params())
def runtime(request: pytest.FixtureRequest) -> OciRuntime:
    return request.param  # type: ignore[no-any-return]


class Logged:
    """A runtime behind its logging wrapper."""

    def __init__(self, runtime: OciRuntime, directory: Path) -> None:
        self.runtime = runtime
        self.log = directory / "calls.log"
        self.path = wrapper(directory / "bin", runtime, self.log)

    def calls(self, container_id: str | None = None) -> list[list[str]]:
        """The command lines logged (those naming ``container_id`` when given)."""
        return [
            call
            for call in read_calls(self.log)
            if container_id is None or any(container_id in argument for argument in call)
        ]


@pytest.fixture(scope="module")
def logged(runtime: OciRuntime, tmp_path_factory: pytest.TempPathFactory) -> Logged:
    return Logged(runtime, tmp_path_factory.mktemp(f"runtime-{runtime.name}"))


@pytest.fixture(scope="module")
def busybox_pushed(session_registry: Registry, image_builder: ImageBuilder) -> object:
    return image_builder.push(image_builder.busybox(), session_registry, "library/busybox")


# --- podman -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def podman_and_image(
    logged: Logged,
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    busybox_pushed: object,
) -> Iterator[tuple[Podman, str]]:
    if reason := podman_probe():
        pytest.skip(reason)
    podman = Podman(tmp_path_factory.mktemp("podman"), logged.path)
    try:
        podman.start()
    except PodmanStartError as error:
        pytest.skip(f"podman does not run here: {error}")
    try:
        image = podman.pull(busybox_pushed, session_registry.backend_address)  # type: ignore[arg-type]
        yield podman, image
    finally:
        podman.stop()
    assert not processes_mentioning(podman.workdir)
    assert not cgroups_named(podman.cgroup_parent)


@pytest.fixture
def podman(podman_and_image: tuple[Podman, str]) -> Podman:
    return podman_and_image[0]


@pytest.fixture
def busybox(podman_and_image: tuple[Podman, str]) -> str:
    return podman_and_image[1]


def container_id(podman: Podman, name: str) -> str:
    return podman.podman("inspect", "-f", "{{.Id}}", name).stdout.strip()


def test_podman_run_rm_echo(podman: Podman, busybox: str) -> None:
    result = podman.podman("run", "--rm", *podman.run_flags(), busybox, "echo", "hi")
    assert result.stdout == "hi\n"


def test_podman_exit_code_propagated(podman: Podman, busybox: str) -> None:
    result = podman.podman(
        "run", "--rm", *podman.run_flags(), busybox, "sh", "-c", "exit 3", check=False
    )
    assert result.returncode == 3, result.stderr


def test_podman_detached_exec_and_stop(podman: Podman, busybox: str) -> None:
    name = f"callers-stop-{time.monotonic_ns()}"
    flags = podman.run_flags()
    try:
        # pid 1 ignores SIGTERM unless it traps it: sleep is stopped by the SIGKILL after -t
        podman.podman("run", "-d", "--name", name, *flags, busybox, "sleep", "600")
        assert podman.podman("exec", name, "echo", "inside").stdout == "inside\n"
        assert podman.podman("exec", name, "sh", "-c", "exit 4", check=False).returncode == 4
        podman.podman("stop", "-t", "1", name)
        status = podman.podman("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
        assert status.stdout.split() == ["exited", "137"]
    finally:
        podman.podman("rm", "-f", "-t", "0", name, check=False)


def test_podman_stop_with_sigterm(podman: Podman, busybox: str) -> None:
    name = f"callers-term-{time.monotonic_ns()}"
    script = "trap 'exit 0' TERM; sleep 600 & wait"
    try:
        podman.podman("run", "-d", "--name", name, *podman.run_flags(), busybox, "sh", "-c", script)
        podman.podman("stop", "-t", "60", name)
        status = podman.podman("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
        assert status.stdout.split() == ["exited", "0"]
    finally:
        podman.podman("rm", "-f", "-t", "0", name, check=False)


def test_podman_run_it_through_a_terminal(podman: Podman, busybox: str) -> None:
    command = podman.command("run", "-it", "--rm", *podman.run_flags(), busybox, "sh")
    with terminal(command, podman.env) as session:
        session.read_until(b"# ")
        session.type(b"tty; echo $((6 * 7)); exit 5\r")
        session.read_until(b"42")
        assert session.finish() == 5
    assert b"/dev/pts/0" in session.output


def test_podman_exec_it_through_a_terminal(podman: Podman, busybox: str) -> None:
    name = f"callers-exec-it-{time.monotonic_ns()}"
    try:
        podman.podman("run", "-d", "--name", name, *podman.run_flags(), busybox, "sleep", "600")
        with terminal(podman.command("exec", "-it", name, "sh"), podman.env) as session:
            session.read_until(b"# ")
            session.type(b"tty; echo $((6 * 7)); exit 6\r")
            session.read_until(b"42")
            assert session.finish() == 6
        assert re.search(rb"/dev/pts/\d+", session.output)
    finally:
        podman.podman("rm", "-f", "-t", "0", name, check=False)


def memory_limit_inside() -> str:
    return (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null"
        " || cat /sys/fs/cgroup/memory.max"
    )


def host_memory_limit(pid: int) -> int:
    """The memory limit of ``pid``'s cgroup, read on the host (v1's memory controller, or v2)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return int(Path(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes").read_text())
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            return int(Path(f"/sys/fs/cgroup{path}/memory.max").read_text())
    raise AssertionError(f"no memory cgroup for {pid}")


def test_podman_memory_limit(podman: Podman, busybox: str) -> None:
    name = f"callers-memory-{time.monotonic_ns()}"
    try:
        podman.podman(
            "run", "-d", "--name", name, "--memory", "64m", *podman.run_flags(), busybox,
            "sleep", "600",
        )  # fmt: skip
        inside = podman.podman("exec", name, "sh", "-c", memory_limit_inside()).stdout
        assert int(inside) == 64 * 1024 * 1024
        pid = int(podman.podman("inspect", "-f", "{{.State.Pid}}", name).stdout)
        assert host_memory_limit(pid) == 64 * 1024 * 1024
    finally:
        podman.podman("rm", "-f", "-t", "0", name, check=False)


def effective_capabilities(podman: Podman, busybox: str, *flags: str) -> int:
    result = podman.podman(
        "run", "--rm", *flags, *podman.run_flags(), busybox, "grep", "CapEff", "/proc/self/status"
    )
    return int(result.stdout.split()[1], 16)


CAP_CHOWN = 0
CAP_KILL = 5


def test_podman_cap_drop(podman: Podman, busybox: str) -> None:
    default = effective_capabilities(podman, busybox)
    assert default & (1 << CAP_CHOWN) and default & (1 << CAP_KILL)
    dropped = effective_capabilities(podman, busybox, "--cap-drop", "CHOWN")
    assert dropped == default & ~(1 << CAP_CHOWN)
    assert effective_capabilities(podman, busybox, "--cap-drop", "ALL") == 0


def test_podman_default_network(podman: Podman, busybox: str) -> None:
    """podman's default bridge network (netavark: a bridge and a veth), only in the suite's
    own network namespace."""
    if foreign := foreign_interfaces():
        pytest.skip(f"needs a network namespace of its own (found {foreign})")
    flags = podman.run_flags(network="bridge")  # containers.conf makes "none" the default
    result = podman.podman("run", "--rm", *flags, busybox, "cat", "/proc/net/dev")
    interfaces = [line.split(":")[0].strip() for line in result.stdout.splitlines()[2:]]
    assert "eth0" in interfaces


def test_podman_call_shapes(podman: Podman, busybox: str, logged: Logged) -> None:
    """conmon runs ``create`` (and ``exec``), podman ``start``, ``kill``, ``delete``."""
    name = f"callers-shapes-{time.monotonic_ns()}"
    try:
        podman.podman("run", "-d", "--name", name, *podman.run_flags(), busybox, "sleep", "600")
        cid = container_id(podman, name)
        podman.podman("exec", name, "true")
        podman.podman("stop", "-t", "1", name)
        podman.podman("rm", name)
    finally:
        podman.podman("rm", "-f", "-t", "0", name, check=False)
    verbs = [command_verb(call) for call in logged.calls(cid)]
    for verb in ("create", "start", "exec", "kill", "delete"):
        assert verb in verbs, verbs
    create = next(call for call in logged.calls(cid) if command_verb(call) == "create")
    assert option(create, "--bundle") and option(create, "--pid-file"), create
    exec_call = next(call for call in logged.calls(cid) if command_verb(call) == "exec")
    assert option(exec_call, "--process") and "--detach" in exec_call, exec_call


# --- containerd -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def containerd_and_image(
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    busybox_pushed: object,
) -> Iterator[tuple[Containerd, str]]:
    if reason := containerd_probe():
        pytest.skip(reason)
    daemon = Containerd(tmp_path_factory.mktemp("containerd"))
    try:
        daemon.start()
    except DaemonStartError as error:
        pytest.skip(f"containerd does not run here: {error}")
    try:
        image = daemon.pull(busybox_pushed, session_registry.backend_address)  # type: ignore[arg-type]
        yield daemon, image
    finally:
        daemon.stop()
    assert not processes_mentioning(daemon.socket)
    assert not cgroups_named(daemon.namespace)


@pytest.fixture
def containerd(containerd_and_image: tuple[Containerd, str]) -> Iterator[Containerd]:
    daemon = containerd_and_image[0]
    try:
        yield daemon
    finally:
        daemon.remove_containers()


@pytest.fixture
def image(containerd_and_image: tuple[Containerd, str]) -> str:
    return containerd_and_image[1]


def task_status(containerd: Containerd, task: str) -> str:
    for line in containerd.ctr("tasks", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == task:
            return fields[-1]
    return "MISSING"


def test_ctr_run_rm_echo(containerd: Containerd, image: str, logged: Logged) -> None:
    task = f"callers-echo-{time.monotonic_ns()}"
    result = containerd.ctr(
        "run", "--runc-binary", str(logged.path), "--rm", image, task, "echo", "hi"
    )
    assert result.stdout == "hi\n"
    assert task not in containerd.ids("containers")


def test_ctr_exit_code(containerd: Containerd, image: str, logged: Logged) -> None:
    task = f"callers-exit-{time.monotonic_ns()}"
    result = containerd.ctr(
        "run", "--runc-binary", str(logged.path), "--rm", image, task, "sh", "-c", "exit 3",
        check=False,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr


def test_ctr_detached_exec_ps_kill_delete(
    containerd: Containerd, image: str, logged: Logged
) -> None:
    task = f"callers-task-{time.monotonic_ns()}"
    script = "trap 'exit 7' TERM; sleep 600 & wait"
    containerd.ctr("run", "-d", "--runc-binary", str(logged.path), image, task, "sh", "-c", script)
    wait_until(lambda: task_status(containerd, task) == "RUNNING", "task running")
    exec_result = containerd.ctr("tasks", "exec", "--exec-id", "probe", task, "echo", "inside")
    assert exec_result.stdout == "inside\n"
    failing = containerd.ctr("tasks", "exec", "--exec-id", "fail", task, "sh", "-c", "exit 4",
                             check=False)  # fmt: skip
    assert failing.returncode == 4
    listing = containerd.ctr("tasks", "ps", task).stdout.splitlines()
    pids = [int(line.split()[0]) for line in listing[1:] if line.split()]
    init = int(containerd.ctr("tasks", "ls").stdout.split(task, 1)[1].split()[0])
    assert init in pids
    assert len(pids) == 2  # sh and its sleep
    containerd.ctr("tasks", "kill", task)
    wait_until(lambda: task_status(containerd, task) == "STOPPED", "task stopped by SIGTERM")
    containerd.ctr("tasks", "delete", task)
    containerd.ctr("containers", "delete", task)
    assert task not in containerd.ids("containers")


def test_ctr_kill_with_sigkill(containerd: Containerd, image: str, logged: Logged) -> None:
    task = f"callers-kill-{time.monotonic_ns()}"
    containerd.ctr("run", "-d", "--runc-binary", str(logged.path), image, task, "sleep", "600")
    wait_until(lambda: task_status(containerd, task) == "RUNNING", "task running")
    containerd.ctr("tasks", "kill", "-s", "SIGTERM", task)  # sleep as pid 1 ignores it
    assert task_status(containerd, task) == "RUNNING"
    containerd.ctr("tasks", "kill", "-s", "9", task)
    wait_until(lambda: task_status(containerd, task) == "STOPPED", "task stopped by SIGKILL")
    containerd.ctr("tasks", "delete", task)
    containerd.ctr("containers", "delete", task)


def test_ctr_call_shapes(containerd: Containerd, image: str, logged: Logged) -> None:
    """containerd's shim: ``--root R --log B/log.json --log-format json create --bundle B
    --pid-file F ID``, ``start``, ``exec --process F --detach --pid-file F``, ``ps --format
    json``, ``kill ID 9``, ``delete``."""
    task = f"callers-shapes-{time.monotonic_ns()}"
    containerd.ctr("run", "-d", "--runc-binary", str(logged.path), image, task, "sleep", "600")
    wait_until(lambda: task_status(containerd, task) == "RUNNING", "task running")
    containerd.ctr("tasks", "exec", "--exec-id", "shape", task, "true")
    containerd.ctr("tasks", "ps", task)
    containerd.ctr("tasks", "kill", "-s", "9", task)
    wait_until(lambda: task_status(containerd, task) == "STOPPED", "task stopped")
    containerd.ctr("tasks", "delete", task)
    containerd.ctr("containers", "delete", task)
    calls = logged.calls(task)
    verbs = [command_verb(call) for call in calls]
    for verb in ("create", "start", "exec", "ps", "kill", "delete"):
        assert verb in verbs, verbs
    create = calls[verbs.index("create")]
    assert create[:2] == ["--root", create[1]] and option(create, "--log").endswith("log.json")
    assert option(create, "--log-format") == "json"
    bundle = option(create, "--bundle")
    assert option(create, "--log") == f"{bundle}/log.json"
    assert option(create, "--pid-file") and create[-1] == task
    exec_call = calls[verbs.index("exec")]
    assert option(exec_call, "--process") and "--detach" in exec_call
    assert option(exec_call, "--pid-file")
    ps_call = calls[verbs.index("ps")]
    assert option(ps_call, "--format") == "json"
    kill_call = calls[verbs.index("kill")]
    assert kill_call[-2:] == [task, "9"]


# --- what the calls look like -----------------------------------------------------------------

GLOBAL_OPTIONS_WITH_VALUE = {"--root", "--log", "--log-format", "--criu", "--rootless"}


def command_verb(call: list[str]) -> str:
    """The runtime command in a logged call (after the global options)."""
    index = 0
    while index < len(call) and call[index].startswith("-"):
        flag = call[index]
        index += 1 if "=" in flag or flag not in GLOBAL_OPTIONS_WITH_VALUE else 2
    return call[index] if index < len(call) else ""


def option(call: list[str], name: str) -> str:
    """The value of ``name`` (``--name V`` or ``--name=V``) in a call, "" when absent."""
    for index, argument in enumerate(call):
        if argument == name and index + 1 < len(call):
            return call[index + 1]
        if argument.startswith(f"{name}="):
            return argument.split("=", 1)[1]
    return ""
