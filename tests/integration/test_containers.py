"""Containers end to end, as root: the docker first-container workflow on real namespaces.

One store per module holds busybox and hello-world pulled from the session registry; every
test creates its own containers and removes them. The last test checks that nothing of the
store is left mounted on the host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.support.cleanup import mounts_under, remove_tree
from tests.support.cli import (
    CliResult,
    base_environment,
    hybridock_command,
    run_hybridock,
    write_hybridock_config,
)
from tests.support.registry import Registry
from tests.support.testimages import busybox_image

pytestmark = [pytest.mark.root, pytest.mark.registry]


@dataclass
class Box:
    """A store with the library images, and the CLI pointed at it."""

    root: Path
    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120) -> CliResult:
        return run_hybridock(args, env=self.env, input=input, timeout=timeout)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.returncode == 0, str(result)
        return result.stdout

    def inspect(self, name: str) -> dict[str, object]:
        document = json.loads(self.ok("inspect", name))[0]
        assert isinstance(document, dict)
        return document

    def pid(self, name: str) -> int:
        state = self.inspect(name)["State"]
        assert isinstance(state, dict)
        return int(state["Pid"])

    def remove_containers(self) -> None:
        """``rm -f`` every container of this store (a teardown: failures are not checked)."""
        for container_id in self("ps", "-aq", "--no-trunc").stdout.split():
            self("rm", "-f", container_id)

    def discard(self) -> None:
        """Every container, the user's networks (their bridges), then the store's whole tree."""
        self.remove_containers()
        for network in self("network", "ls", "-q", "--filter", "type=custom").stdout.split():
            self("network", "rm", network)
        remove_tree(self.root)


def make_box(tmp: Path, registry: Registry) -> Box:
    root = tmp / "store"
    config = write_hybridock_config(
        tmp / "config.json",
        {
            "registry-mirrors": {"docker.io": [registry.url]},
            "insecure-registries": [registry.address],
        },
    )
    env = {
        **base_environment(),
        "HYBRIDOCK_ROOT": str(root),
        "HYBRIDOCK_CONFIG": str(config),
        "NO_COLOR": "1",
    }
    return Box(root, env)


@contextlib.contextmanager
def library_box(
    tmp_path_factory: pytest.TempPathFactory,
    registry: Registry,
    image_builder: object,
    label: str,
) -> Iterator[Box]:
    """A store of its own with busybox pulled from the session registry, discarded after: what
    each module's ``box`` fixture is made of."""
    image_builder.publish_library(registry)  # type: ignore[attr-defined]
    made = make_box(tmp_path_factory.mktemp(label), registry)
    made.ok("pull", "busybox")
    try:
        yield made
    finally:
        made.discard()


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    image_builder.publish_library(session_registry)  # type: ignore[attr-defined]
    made = make_box(tmp_path_factory.mktemp("containers"), session_registry)
    made.ok("pull", "busybox")
    made.ok("pull", "hello-world")
    try:
        yield made
    finally:
        made.discard()


@pytest.fixture
def name(request: pytest.FixtureRequest, box: Box) -> Iterator[str]:
    """A container name unique to the test; the container is removed afterwards."""
    chosen = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:60]
    yield chosen
    box("rm", "-f", chosen)


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# --- the seed flow ----------------------------------------------------------------------------


def test_seed_flow(tmp_path: Path, session_registry: Registry, image_builder: object) -> None:
    image_builder.publish_library(session_registry)  # type: ignore[attr-defined]
    fresh = make_box(tmp_path, session_registry)
    try:
        pulled = fresh("pull", "hello-world")
        assert pulled.returncode == 0, str(pulled)
        ran = fresh("run", "hello-world")
        assert ran.returncode == 0, str(ran)
        assert "Hello from hybridock!" in ran.stdout
        listing = fresh.ok("ps", "-a")
        assert "hello-world" in listing and "Exited (0)" in listing

        created = fresh.ok("create", "--name", "second", "hello-world").strip()
        assert len(created) == 64
        assert "Created" in fresh.ok("ps", "-a", "--filter", "name=second")
        started = fresh("start", "-a", "second")
        assert started.returncode == 0 and "Hello from hybridock!" in started.stdout
        fresh.ok("stop", "second")
        for container_id in fresh.ok("ps", "-aq").split():
            fresh.ok("rm", container_id)
        assert fresh.ok("ps", "-aq") == ""
        removed = fresh.ok("rmi", "hello-world")
        assert "Deleted: sha256:" in removed
        assert fresh.ok("images", "-q") == ""

        session_registry.reset_requests()
        again = fresh("run", "--rm", "hello-world")
        assert again.returncode == 0, str(again)
        assert "Unable to find image 'hello-world:latest' locally" in again.stderr
        assert session_registry.blob_gets() >= 1  # it really pulled again
        assert fresh.ok("ps", "-aq") == ""  # --rm
    finally:
        fresh.discard()


# --- isolation -------------------------------------------------------------------------------


def test_pid_one_hostname_and_host_pids_invisible(box: Box) -> None:
    script = "echo $$; hostname; ls /proc | grep -c '^[0-9]'"
    out = box.ok("run", "--rm", "--hostname", "inside", "busybox", "sh", "-c", script).split()
    assert out[0] == "1"
    assert out[1] == "inside"
    assert int(out[2]) <= 4  # sh, ls, grep (and a transient one), never the host's hundreds


def test_rm_containers_mount_their_overlay_volatile(box: Box, name: str) -> None:
    """--rm's upper layer is thrown away, so no syncfs of the store's filesystem at exit."""
    for flags, expected in ((["--rm"], True), (["--name", name], False)):
        mounts = box.ok("run", *flags, "busybox", "cat", "/proc/mounts")
        root_line = next(line for line in mounts.splitlines() if line.split()[1] == "/")
        options = set(root_line.split()[3].split(","))
        # older kernels show "volatile", newer ones "fsync=volatile"
        assert bool({"volatile", "fsync=volatile"} & options) is expected, root_line


def test_own_mounts(box: Box) -> None:
    mounts = box.ok("run", "--rm", "busybox", "cat", "/proc/mounts")
    root_line = next(line for line in mounts.splitlines() if line.split()[1] == "/")
    assert root_line.split()[2] == "overlay"
    assert str(box.root / "layers") in root_line
    host_only = [
        m
        for m in Path("/proc/mounts").read_text().splitlines()
        if m.split()[1].startswith("/sys/fs/cgroup")
    ]
    assert (
        not any(line.split()[1].startswith("/sys/fs/cgroup/") for line in mounts.splitlines())
        or host_only
    )


def test_network_none_has_only_loopback(box: Box) -> None:
    devices = box.ok(
        "run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev"
    ).splitlines()[2:]
    assert [line.split(":")[0].strip() for line in devices] == ["lo"]
    # and it works, as docker's --network none: up, reachable over IPv4 (IPv6 is off, as
    # docker has it without --ipv6; --sysctl net.ipv6.conf.all.disable_ipv6=0 turns it on)
    pings = box.ok(
        "run", "--rm", "--network", "none", "busybox", "sh", "-c",
        "ping -c1 -W5 127.0.0.1 >/dev/null && echo ok; ping6 -c1 -W1 ::1 >/dev/null 2>&1 || echo 6",
    )  # fmt: skip
    assert pings == "ok\n6\n"
    pings = box.ok(
        "run", "--rm", "--network", "none", "--sysctl", "net.ipv6.conf.all.disable_ipv6=0",
        "busybox", "sh", "-c", "ping6 -c 1 -W 5 ::1 >/dev/null && echo ok6",
    )  # fmt: skip
    assert pings == "ok6\n"


def test_network_host_sees_host_interfaces(box: Box) -> None:
    devices = box.ok("run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev")
    host = Path("/proc/net/dev").read_text()
    assert len(devices.splitlines()) == len(host.splitlines())


def test_no_host_fd_leaks_in(box: Box) -> None:
    fds = box.ok("run", "--rm", "busybox", "ls", "/proc/self/fd").split()
    assert sorted(fds) == ["0", "1", "2", "3"]  # 3 is ls's own directory handle


def test_env_workdir_user_and_volume(box: Box, tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # the container's user 65534 must be able to read it
    (tmp_path / "data.txt").write_text("from the host\n")
    script = "echo $GREETING; pwd; id -u; id -g; cat /data/data.txt; touch /data/x || echo ro"
    out = box.ok(
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "-w",
        "/tmp",
        "-u",
        "65534:65534",
        "-v",
        f"{tmp_path}:/data:ro",
        "busybox",
        "sh",
        "-c",
        script,
    ).splitlines()
    assert out[:5] == ["hi", "/tmp", "65534", "65534", "from the host"]
    assert out[-1] == "ro"
    assert not (tmp_path / "x").exists()


# --- exit codes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(("busybox", "true"), 0, None, id="0-success"),
        pytest.param(("busybox", "sh", "-c", "exit 3"), 3, None, id="3-own-code"),
        pytest.param(("--pull", "never", "no-such-image"), 125, "No such image", id="125-no-image"),
        pytest.param(
            ("--network", "nope", "busybox", "true"),
            125,
            "network nope not found",
            id="125-bad-flag",
        ),
        pytest.param(("-w", "/etc/passwd", "busybox", "true"), 125, "", id="125-bad-workdir"),
        pytest.param(("busybox", "/etc/passwd"), 126, "permission denied", id="126-not-exec"),
        pytest.param(
            ("busybox", "no-such-command"), 127, "executable file not found", id="127-not-found"
        ),
        # (pid 1 itself ignores even SIGKILL sent from inside its namespace, as under docker)
        # (and busybox sh execs a last command, hence the "; exit")
        pytest.param(
            ("busybox", "sh", "-c", "sh -c 'kill -KILL $$'; exit $?"), 137, None, id="137-killed"
        ),
    ],
)
def test_exit_codes(box: Box, args: tuple[str, ...], code: int, message: str | None) -> None:
    result = box("run", "--rm", *args)
    assert result.returncode == code, str(result)
    if message is not None:
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_a_container_that_cannot_start_stays_created(box: Box, name: str) -> None:
    assert box("run", "--name", name, "busybox", "no-such-command").returncode == 127
    assert "Created" in box.ok("ps", "-a", "--filter", f"name={name}")
    state = box.inspect(name)["State"]
    assert isinstance(state, dict)
    assert state["ExitCode"] == 127
    assert "executable file not found" in str(state["Error"])


def test_143_when_sigterm_ends_it(box: Box, name: str) -> None:
    box.ok("run", "-d", "--init", "--name", name, "busybox", "sleep", "300")
    box.ok("stop", name)
    assert box.ok("wait", name).strip() == "143"
    assert "Exited (143)" in box.ok("ps", "-a", "--filter", f"name={name}")


def test_137_when_killed(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    box.ok("kill", name)
    assert box.ok("wait", name).strip() == "137"


def test_stop_of_a_process_ignoring_sigterm_kills_after_timeout(box: Box, name: str) -> None:
    # sh as pid 1 without a TERM trap ignores SIGTERM (the kernel protects pid 1)
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "while true; do sleep 1; done")
    started = time.monotonic()
    box.ok("stop", "-t", "1", name)
    assert time.monotonic() - started >= 1
    assert box.ok("wait", name).strip() == "137"


def test_init_reaps_zombies(box: Box) -> None:
    script = "sh -c 'sleep 0.2 &' ; sleep 1; ps -o stat | grep -c '^Z' || true"
    assert box.ok("run", "--rm", "--init", "busybox", "sh", "-c", script).strip() == "0"


# --- many containers, one image ---------------------------------------------------------------


def test_ten_containers_share_the_image_layers(box: Box) -> None:
    names = [f"share-{index}" for index in range(10)]
    try:
        for index, each in enumerate(names):
            box.ok(
                "run",
                "-d",
                "--name",
                each,
                "busybox",
                "sh",
                "-c",
                f"echo {index} > /marker-{index}; sleep 300",
            )
        layer_dirs = {p.name for p in (box.root / "layers").iterdir()}
        for index, each in enumerate(names):
            pid = box.pid(each)
            wait_for(lambda pid=pid, index=index: Path(f"/proc/{pid}/root/marker-{index}").exists())
            root_mount = next(
                line
                for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
                if line.split()[4] == "/"
            )
            assert any(layer in root_mount for layer in layer_dirs)  # lowerdir is the shared dir
            visible = sorted(p.name for p in Path(f"/proc/{pid}/root").glob("marker-*"))
            assert visible == [f"marker-{index}"]
        for layer in (box.root / "layers").iterdir():
            assert not list(layer.glob("marker-*"))  # the image itself is untouched
    finally:
        for each in names:
            box("rm", "-f", each)


# --- supervision ------------------------------------------------------------------------------


def test_killed_monitor_leaves_a_state_ps_and_rm_handle(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    pid = box.pid(name)
    monitor = int(
        next(
            line.split()[1]
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("PPid:")
        )
    )
    os.kill(monitor, signal.SIGKILL)
    wait_for(
        lambda: (
            not Path(f"/proc/{monitor}").exists()
            or "State:\tZ" in Path(f"/proc/{monitor}/status").read_text()
        )
    )
    assert "Exited (255)" in box.ok("ps", "-a", "--filter", f"name={name}")
    wait_for(
        lambda: (
            not Path(f"/proc/{pid}").exists()
            or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
        )
    )
    box.ok("rm", name)
    assert not (box.root / "containers").joinpath(name).exists()


def test_killed_attached_cli_leaves_a_state_ps_and_rm_handle(box: Box, name: str) -> None:
    process = subprocess.Popen(
        [*hybridock_command(), "run", "--name", name, "busybox", "sleep", "300"],
        env=box.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: "Up " in box("ps", "--filter", f"name={name}").stdout)
        pid = box.pid(name)
        process.kill()
        process.wait()
        assert "Exited (255)" in box.ok("ps", "-a", "--filter", f"name={name}")
        wait_for(
            lambda: (
                not Path(f"/proc/{pid}").exists()
                or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
            )
        )
        box.ok("rm", name)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_rm_refuses_a_running_container_without_force(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    refused = box("rm", name)
    assert refused.returncode == 1
    assert "container is running" in refused.stderr
    box.ok("rm", "-f", name)
    assert box("inspect", name).returncode == 1


def test_rmi_refuses_an_image_in_use(box: Box, name: str) -> None:
    box.ok("create", "--name", name, "busybox", "true")
    refused = box("rmi", "busybox")
    assert refused.returncode == 1
    assert "is using its referenced image" in refused.stderr
    assert "busybox" in box.ok("images")


def test_rmi_force_of_an_image_a_running_container_uses_leaves_it_dangling(
    box: Box, name: str, session_registry: Registry, image_builder: ImageBuilder
) -> None:
    """docker untags it (tag and digest) and keeps it for the container: <none> <none>."""
    own = dataclasses.replace(busybox_image(), created="2021-02-03T04:05:06Z").build()
    image_builder.push(own, session_registry, "library/rmi-force")
    short = own.config_digest.removeprefix("sha256:")[:12]
    box.ok("pull", "rmi-force")
    try:
        box.ok("run", "-d", "--name", name, "rmi-force", "sleep", "300")

        removed = box.ok("rmi", "-f", "rmi-force").splitlines()

        assert removed == ["Untagged: rmi-force:latest", f"Untagged: rmi-force@{own.digest}"]
        rows = [line.split()[:3] for line in box.ok("images").splitlines()[1:]]
        assert ["<none>", "<none>", short] in rows, rows
        assert box.ok("images", "-q", "--filter", "dangling=true").split() == [short]
    finally:
        box("rm", "-f", name)
        box("rmi", short)


def test_run_pull_always_says_whether_it_downloaded(
    box: Box, session_registry: Registry, image_builder: ImageBuilder
) -> None:
    image_builder.push(image_builder.hello(), session_registry, "library/pull-always")
    try:
        runs = [box("run", "--rm", "--pull", "always", "pull-always") for _ in range(2)]
    finally:
        box("rmi", "pull-always")

    assert [run.returncode for run in runs] == [0, 0], runs
    statuses = [
        [line for line in run.stderr.splitlines() if line.startswith(("Digest:", "Status:"))]
        for run in runs
    ]
    digest = statuses[0][0]
    assert digest.startswith("Digest: sha256:"), runs[0]
    assert statuses == [
        [digest, "Status: Downloaded newer image for pull-always:latest"],
        [digest, "Status: Image is up to date for pull-always:latest"],
    ]
    assert "Unable to find image" not in runs[0].stderr + runs[1].stderr


def test_ps_created_at_is_gos_time_string(box: Box, name: str) -> None:
    box.ok("create", "--name", name, "busybox", "true")
    utc = {**box.env, "TZ": "UTC"}

    def ps(output_format: str) -> list[str]:
        args = ("ps", "-a", "--filter", f"name={name}", "--format", output_format)
        result = run_hybridock(args, env=utc)
        assert result.returncode == 0, str(result)
        return result.stdout.splitlines()

    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC"
    (row,) = [json.loads(line) for line in ps("json")]
    assert re.fullmatch(stamp, row["CreatedAt"]), row
    assert ps("{{.CreatedAt}}") == [row["CreatedAt"]]
    header, line = ps("table {{.Names}}\t{{.CreatedAt}}")
    assert header.split("   ")[0].rstrip() == "NAMES" and header.endswith("   CREATED AT")
    assert line.endswith(f"   {row['CreatedAt']}")


# --- a long-running service ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_service_detached_reachable_stoppable_restartable(box: Box, name: str) -> None:
    port = free_port()
    script = (
        "mkdir -p /www && echo served-by-hybridock > /www/index.html && "
        f"echo listening; exec httpd -f -v -p 127.0.0.1:{port} -h /www"
    )
    box.ok(
        "run", "-d", "--init", "--network", "host", "--name", name, "busybox", "sh", "-c", script
    )

    def fetch() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            body: bytes = response.read()
            return body.decode()

    def serving() -> bool:
        try:
            return fetch().strip() == "served-by-hybridock"
        except OSError:
            return False

    wait_for(serving)
    assert "Up " in box.ok("ps", "--filter", f"name={name}")
    box.ok("stop", name)
    assert box.ok("wait", name).strip() == "143"  # graceful: SIGTERM through the init
    assert not serving()
    box.ok("restart", name)
    wait_for(serving)
    logs = box.ok("logs", name)
    assert logs.count("listening") == 2
    last = box("logs", "-t", "--tail", "1", name)
    stamped = last.stdout + last.stderr  # httpd -v logs to stderr
    assert len(stamped.splitlines()) == 1
    assert stamped.startswith("20") and "T" in stamped.split()[0]
    box.ok("stop", name)


def test_logs_and_inspect_of_a_finished_container(box: Box, name: str) -> None:
    assert (
        box(
            "run", "--name", name, "busybox", "sh", "-c", "echo out; echo err >&2; exit 5"
        ).returncode
        == 5
    )
    result = box("logs", name)
    assert result.stdout == "out\n" and result.stderr == "err\n"
    document = box.inspect(name)
    state = document["State"]
    assert isinstance(state, dict)
    assert (state["Status"], state["ExitCode"], state["Running"]) == ("exited", 5, False)
    assert document["Name"] == f"/{name}"
    assert box.ok("inspect", "-f", "{{.State.ExitCode}}", name).strip() == "5"


# --- the smaller commands ----------------------------------------------------------------------


def test_interactive_stdin_is_relayed(box: Box) -> None:
    result = box(
        "run", "--rm", "-i", "busybox", "sh", "-c", "read line; echo got:$line", input="hello\n"
    )
    assert result.returncode == 0, str(result)
    assert result.stdout == "got:hello\n"


def test_env_file_and_labels(box: Box, name: str, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nFROM_FILE=yes\n")
    out = box.ok(
        "run",
        "--name",
        name,
        "--env-file",
        str(env_file),
        "-l",
        "team=core",
        "busybox",
        "sh",
        "-c",
        "echo $FROM_FILE",
    )
    assert out == "yes\n"
    assert (
        box.ok("ps", "-a", "--filter", "label=team=core", "--format", "{{.Names}}") == f"{name}\n"
    )


def test_logs_follow_ends_when_the_container_does(box: Box, name: str) -> None:
    box.ok(
        "run",
        "-d",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line $i; sleep 0.3; done",
    )
    followed = box("logs", "-f", name, timeout=30)
    assert followed.returncode == 0
    assert followed.stdout == "line 1\nline 2\nline 3\n"


def test_logs_since_and_until(box: Box, name: str) -> None:
    box.ok("run", "--name", name, "busybox", "sh", "-c", "echo first; sleep 1; echo second")
    stamped = box.ok("logs", "-t", name).splitlines()
    (first, _), (second, _) = (line.split(" ", 1) for line in stamped)
    epoch = datetime.fromisoformat(second[:26] + "+00:00").timestamp()

    def logs(*args: str) -> CliResult:
        return box("logs", *args, name)

    assert logs("--since", second).stdout == "second\n"  # inclusive, as docker
    assert logs("--until", first).stdout == "first\n"
    assert logs("--since", first, "--until", second).stdout == "first\nsecond\n"
    assert logs("--since", f"{int(epoch) + 1}").stdout == ""
    assert logs("--since", "10m").stdout == "first\nsecond\n"
    assert logs("--until", "10m").stdout == ""
    assert logs("--since", "2000-01-01").stdout == "first\nsecond\n"
    refused = logs("--since", "soon")
    assert (refused.returncode, refused.stderr) == (
        1,
        'Error: invalid value for "since": failed to parse value as time or duration: "soon"\n',
    )


def test_restart_runs_the_command_again(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "echo run; sleep 300")
    box.ok("restart", "-t", "0", name)
    wait_for(lambda: box.ok("logs", name).count("run") == 2)
    assert "Up " in box.ok("ps", "--filter", f"name={name}")


def test_restart_keeps_an_auto_removed_container(box: Box, name: str) -> None:
    """As docker: a --rm container survives a restart (its first process's exit does not
    remove it) and is removed when it stops."""
    box.ok("run", "-d", "--rm", "--name", name, "busybox", "sh", "-c", "echo run; sleep 300")
    for _ in range(2):
        box.ok("restart", "-t", "0", name)
    wait_for(lambda: box.ok("logs", name).count("run") == 3)
    time.sleep(1)  # the exited runs' monitors have tried their removal by now
    assert "Up " in box.ok("ps", "--filter", f"name={name}")
    box.ok("stop", "-t", "0", name)
    wait_for(lambda: name not in box.ok("ps", "-a", "--format", "{{.Names}}").split())


def test_rm_drops_a_record_whose_files_are_gone(box: Box, name: str) -> None:
    container_id = box.ok("create", "--name", name, "busybox", "true").strip()
    shutil.rmtree(box.root / "containers" / container_id)
    box.ok("rm", name)
    assert name not in box.ok("ps", "-a", "--format", "{{.Names}}").split()


def test_container_prune_removes_only_stopped(box: Box) -> None:
    box.ok("run", "--name", "prune-stopped", "busybox", "true")
    box.ok("run", "-d", "--name", "prune-running", "busybox", "sleep", "300")
    try:
        pruned = box.ok("container", "prune", "-f")
        assert "Deleted Containers:" in pruned
        names = box.ok("ps", "-a", "--format", "{{.Names}}").split()
        assert "prune-stopped" not in names
        assert "prune-running" in names
    finally:
        box("rm", "-f", "prune-stopped", "prune-running")


def test_ps_quiet_json_and_unknown_container(box: Box, name: str) -> None:
    container_id = box.ok("create", "--name", name, "busybox", "true").strip()
    assert container_id[:12] in box.ok("ps", "-aq").split()
    rows = [json.loads(line) for line in box.ok("ps", "-a", "--format", "json").splitlines()]
    assert any(row["Names"] == name and row["State"] == "created" for row in rows)
    missing = box("rm", "no-such-container")
    assert missing.returncode == 1
    assert "No such container: no-such-container" in missing.stderr


# --- isolation flags ----------------------------------------------------------------------------


def capability_bounding_set(box: Box, *flags: str) -> int:
    out = box.ok("run", "--rm", *flags, "busybox", "grep", "CapBnd", "/proc/self/status")
    return int(out.split()[1], 16)


def test_default_capabilities_are_dockers(box: Box) -> None:
    # CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
    # SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    assert capability_bounding_set(box) == 0xA80425FB


def test_cap_add_and_drop(box: Box) -> None:
    assert capability_bounding_set(box, "--cap-drop", "ALL", "--cap-add", "CHOWN") == 1
    assert capability_bounding_set(box, "--cap-drop", "NET_RAW") == 0xA80425FB & ~(1 << 13)
    assert capability_bounding_set(box, "--cap-add", "sys_admin") == 0xA80425FB | (1 << 21)
    status = Path("/proc/self/status").read_text()
    ours = int(
        next(line for line in status.splitlines() if line.startswith("CapBnd")).split()[1], 16
    )
    assert capability_bounding_set(box, "--cap-add", "ALL") == ours  # all the host has
    refused = box("run", "--rm", "--cap-add", "bogus", "busybox", "true")
    assert refused.returncode == 125
    assert "invalid capability: bogus" in refused.stderr


def test_privileged_keeps_every_capability_and_unmasks_proc(box: Box) -> None:
    status = Path("/proc/self/status").read_text()
    ours = int(
        next(line for line in status.splitlines() if line.startswith("CapBnd")).split()[1], 16
    )
    assert capability_bounding_set(box, "--privileged") == ours  # all that the host gives us
    # /proc/timer_list is one of docker's masked paths: /dev/null unless privileged
    masked = box.ok("run", "--rm", "busybox", "sh", "-c", "wc -c < /proc/timer_list")
    assert masked.strip() == "0"
    shown = box.ok("run", "--rm", "--privileged", "busybox", "sh", "-c", "wc -c < /proc/timer_list")
    assert int(shown) > 0


def test_read_only_rootfs(box: Box) -> None:
    result = box("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert result.returncode == 1
    assert "Read-only file system" in result.stderr


def test_read_only_root_with_tmpfs(box: Box) -> None:
    script = "touch /run/a && echo run-ok; touch /x || echo root-ro; grep ' /run ' /proc/mounts"
    out = box.ok(
        "run", "--rm", "--read-only", "--tmpfs", "/run:size=1m", "busybox", "sh", "-c", script
    )
    lines = out.splitlines()
    assert lines[:2] == ["run-ok", "root-ro"]
    assert "nosuid,nodev,noexec" in lines[2]
    assert "size=1024k" in lines[2]
    refused = box("run", "--rm", "--tmpfs", "/run:bogus", "busybox", "true")
    assert refused.returncode == 125
    assert "invalid --tmpfs option: bogus" in refused.stderr


def test_ulimit(box: Box) -> None:
    out = box.ok(
        "run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"
    )
    assert out.split() == ["100", "200"]
    hard = int(Path("/proc/self/limits").read_text().split("Max open files")[1].split()[1])
    above = box("run", "--rm", "--ulimit", f"nofile=100:{hard + 1}", "busybox", "true")
    assert above.returncode == 125
    assert "setup of rlimits failed" in above.stderr
    assert "Traceback" not in above.stderr


# --- last: nothing left mounted -------------------------------------------------------------------


def test_zzz_no_mount_of_the_store_is_left(box: Box) -> None:
    assert mounts_under(box.root) == []
    # neither a mount point in the store nor an overlay built from its layers
    assert str(box.root) not in Path("/proc/mounts").read_text()
