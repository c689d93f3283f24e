"""Resource limits on real containers, as root: what the kernel enforces, not what we wrote.

Each test checks the effect from the host's cgroup files or from inside the container (an OOM
kill, a refused fork, the cpus a process may run on); after each test, no container of the
module's store that is gone has a cgroup directory left, and after the module none at all
(other hybridock processes on the host are not this module's business).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_containers import Box, make_box, wait_for
from tests.support.cgroups import cgroup_directories, record_container_ids, seen_container_ids
from tests.support.registry import Registry

from hybridock import _native
from hybridock.runtime.cgroupfs import parse_mountinfo, parse_proc_cgroup

pytestmark = [pytest.mark.root, pytest.mark.registry]
MIB = 1 << 20


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    image_builder.publish_library(session_registry)  # type: ignore[attr-defined]
    made = make_box(tmp_path_factory.mktemp("cgroups"), session_registry)
    made.ok("pull", "busybox")
    record_container_ids(made.root)
    try:
        yield made
        for container_id in made("ps", "-aq", "--no-trunc").stdout.split():
            made.ok("rm", "-f", container_id)
        assert cgroup_directories(seen_container_ids(made.root)) == []
    finally:
        made.discard()


@pytest.fixture(autouse=True)
def _no_cgroup_outlives_its_container(box: Box) -> Iterator[None]:
    """After each test and its own clean-up (autouse: set up first, so torn down last): a
    container of this store that is gone left no cgroup directory behind."""
    yield
    present = set(box("ps", "-aq", "--no-trunc").stdout.split())
    assert cgroup_directories(seen_container_ids(box.root) - present) == []


@pytest.fixture
def name(request: pytest.FixtureRequest, box: Box) -> Iterator[str]:
    chosen = "cg-" + request.node.name.replace("[", "-").replace("]", "")[:50]
    yield chosen
    box("rm", "-f", chosen)


def cgroup_file(pid: int, controller: str, v1_name: str, v2_name: str) -> Path:
    """Where a process's cgroup keeps a control file, found from /proc like any tool would."""
    own = parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    for mount in mounts:
        if mount.version == 1 and controller in mount.controllers:
            return mount.point / own[controller].lstrip("/") / v1_name
    v2 = next(m for m in mounts if m.version == 2 and (m.point / "cgroup.controllers").exists())
    return v2.point / own[""].lstrip("/") / v2_name


def cgroup_mount_points() -> list[Path]:
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    return sorted({m.point for m in mounts})


def directories_named(container_id: str) -> list[str]:
    found: list[str] = []
    for point in cgroup_mount_points():
        for directory, subdirectories, _ in os.walk(point):
            found.extend(f"{directory}/{s}" for s in subdirectories if s == container_id)
    return found


def test_memory_limit_oom_kill_attached(box: Box, name: str) -> None:
    result = box(
        "run", "--name", name, "-m", "32m", "busybox",
        "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1",
    )  # fmt: skip
    assert result.returncode == 137, str(result)
    state = box.inspect(name)["State"]
    assert isinstance(state, dict)
    assert (state["OOMKilled"], state["ExitCode"]) == (True, 137)


def test_memory_limit_oom_kill_detached(box: Box, name: str) -> None:
    box.ok(
        "run", "-d", "--name", name, "-m", "32m", "busybox",
        "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1",
    )  # fmt: skip
    assert box.ok("wait", name).strip() == "137"
    assert box.ok("inspect", "-f", "{{.State.OOMKilled}}", name).strip() == "true"


def test_enough_memory_is_no_oom(box: Box, name: str) -> None:
    box.ok("run", "--name", name, "-m", "64m", "busybox", "dd", "if=/dev/zero", "of=/dev/null",
           "bs=8M", "count=2")  # fmt: skip
    assert box.ok("inspect", "-f", "{{.State.OOMKilled}}", name).strip() == "false"


def test_limits_in_the_cgroup_files_and_inspect(box: Box, name: str) -> None:
    box.ok(
        "run", "-d", "--name", name, "-m", "48m", "--cpus", "0.5", "--cpu-shares", "512",
        "--pids-limit", "20", "busybox", "sleep", "300",
    )  # fmt: skip
    pid = box.pid(name)
    quota = cgroup_file(pid, "cpu", "cpu.cfs_quota_us", "cpu.max").read_text().split()
    period = cgroup_file(pid, "cpu", "cpu.cfs_period_us", "cpu.max").read_text().split()
    assert (quota[0], period[-1]) == ("50000", "100000")
    memory = cgroup_file(pid, "memory", "memory.limit_in_bytes", "memory.max").read_text()
    assert int(memory) == 48 * MIB
    assert cgroup_file(pid, "pids", "pids.max", "pids.max").read_text().strip() == "20"
    host_config = box.inspect(name)["HostConfig"]
    assert isinstance(host_config, dict)
    assert {
        key: host_config[key]
        for key in ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "CpusetCpus", "PidsLimit")
    } == {
        "Memory": 48 * MIB,
        "MemorySwap": 96 * MIB,
        "NanoCpus": 500_000_000,
        "CpuShares": 512,
        "CpusetCpus": "",
        "PidsLimit": 20,
    }


def test_cpuset_is_what_the_process_may_use(box: Box, name: str) -> None:
    out = box.ok("run", "--name", name, "--cpuset-cpus", "0", "busybox",
                 "grep", "Cpus_allowed_list", "/proc/self/status")  # fmt: skip
    assert out.split() == ["Cpus_allowed_list:", "0"]


def test_pids_limit_stops_a_fork_loop(box: Box, name: str) -> None:
    # the loop runs in a subshell; what follows it uses only builtins (no pid left to fork)
    script = (
        "(i=0; while [ $i -lt 40 ]; do sleep 60 & i=$((i+1)); echo $i > /tmp/n; done)"
        " 2>/tmp/err; echo status $?; read n < /tmp/n; echo forked $n; read e < /tmp/err;"
        ' echo "$e"'
    )
    result = box("run", "--name", name, "--pids-limit", "10", "busybox", "sh", "-c", script)
    lines = result.stdout.splitlines()
    assert lines[0] != "status 0", str(result)
    assert lines[1] == "forked 8", str(result)  # ten pids: the two shells and eight sleeps
    assert "fork" in lines[2], str(result)
    child = os.fork()  # and the host still forks
    if child == 0:
        os._exit(0)
    assert os.waitpid(child, 0)[1] == 0


def test_limit_that_cannot_be_applied_is_an_error(box: Box, name: str) -> None:
    cpus = os.cpu_count() or 1
    result = box("run", "--name", name, "--cpuset-cpus", str(cpus + 7), "busybox", "true")
    assert result.returncode == 125, str(result)
    assert "Requested CPUs are not available" in result.stderr
    assert directories_named(box.inspect(name)["Id"]) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(["-m", "lots"], "invalid size", id="bad-unit"),
        pytest.param(["-m", "1m"], "Minimum memory limit", id="tiny"),
        pytest.param(["--memory-swap", "64m"], "Memory limit", id="swap-without-memory"),
    ],
)
def test_bad_limits_exit_125(box: Box, flags: list[str], message: str) -> None:
    result = box("run", "--rm", *flags, "busybox", "true")
    assert result.returncode == 125, str(result)
    assert message in result.stderr


def test_stats_no_stream(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "-m", "64m", "busybox", "sleep", "300")
    out = box.ok("stats", "--no-stream", name).splitlines()
    assert out[0].split() == [
        "CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
        "NET", "I/O", "BLOCK", "I/O", "PIDS",
    ]  # fmt: skip
    row = out[1].split()
    container_id = box.inspect(name)["Id"]
    assert row[0] == str(container_id)[:12] and row[1] == name
    assert row[2].endswith("%")
    assert row[5] == "64MiB"  # MEM USAGE / LIMIT: usage, "/", limit
    assert row[-1] == "1"
    listed = json.loads(box.ok("stats", "--no-stream", "--format", "json", name))
    assert listed["Name"] == name and listed["PIDs"] == "1"


def test_no_cgroup_left_after_exit_and_rm(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "-m", "64m", "--pids-limit", "50", "busybox",
           "sh", "-c", "sleep 300 & sleep 300")  # fmt: skip
    container_id = str(box.inspect(name)["Id"])
    assert directories_named(container_id)  # one per hierarchy (or the one v2 directory)
    box.ok("rm", "-f", name)
    assert directories_named(container_id) == []
    box.ok("run", "--name", name, "-m", "64m", "busybox", "true")
    rerun_id = str(box.inspect(name)["Id"])
    assert directories_named(rerun_id) == []  # an attached run removes it at exit


def test_detached_auto_remove_and_restart_leave_no_cgroup(box: Box, name: str) -> None:
    container_id = box.ok("run", "-d", "--rm", "-m", "64m", "busybox", "true").strip()
    wait_for(lambda: box("inspect", container_id).returncode != 0)
    assert directories_named(container_id) == []
    box.ok("run", "-d", "--name", name, "--pids-limit", "30", "busybox", "sleep", "300")
    box.ok("restart", "-t", "1", name)
    pid = box.pid(name)
    assert cgroup_file(pid, "pids", "pids.max", "pids.max").read_text().strip() == "30"
    box.ok("stop", "-t", "1", name)
    assert box("ps", "-a").returncode == 0
    assert directories_named(str(box.inspect(name)["Id"])) == []  # ps folded the exit in


def test_leftover_check_judges_this_store_only(box: Box) -> None:
    """A cgroup of another hybridock (another run of the suite, a user's container) is not this
    module's to judge; one named by a container this store created is found."""
    ours = box.ok("create", "busybox", "true").strip()
    box.ok("rm", ours)
    parent = cgroup_mount_points()[0] / f"hybridock-scope-test-{os.getpid()}"
    foreign = parent / "hybridock" / os.urandom(32).hex()
    made = [parent, parent / "hybridock", foreign, parent / "hybridock" / ours]
    try:
        for directory in made:
            directory.mkdir()
        assert cgroup_directories(seen_container_ids(box.root)) == [str(made[-1])]
    finally:
        for directory in reversed(made):
            if directory.exists():
                directory.rmdir()


def host_hierarchies() -> set[str]:
    """The hierarchies a process is in on this host, named as in /proc/PID/cgroup."""
    return {line.split(":")[1] for line in Path("/proc/self/cgroup").read_text().splitlines()}


def test_a_cgroup_of_its_own_in_every_hierarchy(box: Box, name: str) -> None:
    """As runc makes it: named hierarchies (name=systemd), devices and freezer, and a hybrid
    host's cgroup2 one too, not only the controllers of the limits; all go with the container."""
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    container_id = str(box.inspect(name)["Id"])
    lines = Path(f"/proc/{box.pid(name)}/cgroup").read_text().splitlines()
    paths = {line.split(":")[1]: line.split(":", 2)[2] for line in lines}
    assert set(paths) == host_hierarchies()
    assert {h: p for h, p in paths.items() if not p.endswith(f"/hybridock/{container_id}")} == {}
    assert len(directories_named(container_id)) == len(cgroup_mount_points())
    box.ok("rm", "-f", name)
    assert directories_named(container_id) == []


def devices_list(pid: int) -> list[str]:
    return cgroup_file(pid, "devices", "devices.list", "").read_text().splitlines()


DOCKER_DEVICES_LIST = [
    "b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm",
]  # fmt: skip
needs_v1_devices = pytest.mark.skipif(
    "devices" not in host_hierarchies(),
    reason="no v1 devices hierarchy (cgroup2 keeps the rules in a BPF program: tests below)",
)


def cgroup2_mount() -> Path | None:
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    return next((m.point for m in mounts if m.version == 2), None)


needs_cgroup2 = pytest.mark.skipif(cgroup2_mount() is None, reason="no cgroup2 mount")


@needs_v1_devices
@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param([], DOCKER_DEVICES_LIST, id="default"),
        pytest.param(["--privileged"], ["a *:* rwm"], id="privileged"),
    ],
)
def test_device_rules_are_dockers(
    box: Box, name: str, flags: list[str], expected: list[str]
) -> None:
    box.ok("run", "-d", "--name", name, *flags, "busybox", "sleep", "300")
    assert devices_list(box.pid(name)) == expected


OPEN_NODE = "mknod /tmp/node c {} && (: < /tmp/node) 2>&1; echo status=$?"


@pytest.mark.skipif(
    "devices" not in host_hierarchies() and cgroup2_mount() is None, reason="no cgroups"
)
def test_a_node_made_of_a_device_outside_the_rules_cannot_be_opened(box: Box) -> None:
    """CAP_MKNOD is in the default set and "c *:* m" lets any node be made, but only the rules'
    devices open: /dev/null's numbers do, /dev/fuse's (10:229) are refused by the devices
    cgroup (v1's files or cgroup2's program), which --privileged shows (it opens there, where
    the rules allow all)."""
    allowed = box.ok("run", "--rm", "busybox", "sh", "-c", OPEN_NODE.format("1 3"))
    assert allowed.strip() == "status=0"
    privileged = box.ok("run", "--rm", "--privileged", "busybox", "sh", "-c",
                        OPEN_NODE.format("10 229"))  # fmt: skip
    if privileged.strip() != "status=0":
        pytest.skip(f"/dev/fuse does not open even with --privileged here: {privileged}")
    denied = box.ok("run", "--rm", "busybox", "sh", "-c", OPEN_NODE.format("10 229"))
    assert "Operation not permitted" in denied and "status=1" in denied, denied


# --- cgroup2's device program -----------------------------------------------------------------


#: run by a child: joins the cgroup argv[1], then for each NAME:TYPE:MAJOR:MINOR:MODE makes the
#: node and opens it (MODE r or rw), printing NAME=ok or NAME=<errno name> (of mknod or open)
#: (the devices cgroup refuses with EPERM; a driver may refuse a device it lacks otherwise)
TRY_NODES = """
import errno, os, stat, sys, tempfile
with open(os.path.join(sys.argv[1], "cgroup.procs"), "w") as procs:
    procs.write("0")
with tempfile.TemporaryDirectory() as scratch:
    for spec in sys.argv[2:]:
        name, kind, major, minor, mode = spec.split(":")
        path = os.path.join(scratch, name)
        try:
            kind_bits = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
            os.mknod(path, 0o600 | kind_bits, os.makedev(int(major), int(minor)))
            os.close(os.open(path, os.O_RDWR if mode == "rw" else os.O_RDONLY))
            print(name + "=ok")
        except OSError as error:
            print(name + "=" + errno.errorcode[error.errno])
"""


def refused_nodes(directory: Path, *specs: str) -> dict[str, bool]:
    """For each node, whether a process in the cgroup ``directory`` was refused it (EPERM)."""
    result = subprocess.run(
        [sys.executable, "-c", TRY_NODES, str(directory), *specs],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    outcomes = dict(line.split("=", 1) for line in result.stdout.split())
    return {name: outcome == "EPERM" for name, outcome in outcomes.items()}


@pytest.fixture
def cgroup2_directories() -> Iterator[tuple[Path, Path]]:
    """Two fresh cgroup2 directories: one to confine, one left open to compare with."""
    mount = cgroup2_mount()
    assert mount is not None
    parent = mount / f"hybridock-test-devices-{os.getpid()}"
    confined, open_ = parent / "confined", parent / "open"
    for directory in (parent, confined, open_):
        directory.mkdir()
    try:
        yield confined, open_
    finally:
        for directory in (confined, open_, parent):
            directory.rmdir()  # the processes in them have exited; the program goes with it


DOCKER_PROGRAM = [("a", False), *((rule, True) for rule in DOCKER_DEVICES_LIST)]
NODES = ("null:c:1:3:rw", "fuse:c:10:229:rw", "loop0:b:7:0:r", "pty:c:136:0:r")


@needs_cgroup2
@pytest.mark.parametrize(
    ("rules", "nodes", "expected"),
    [
        pytest.param(
            DOCKER_PROGRAM,
            NODES,
            {"null": False, "fuse": True, "loop0": True, "pty": False},
            id="docker-rules",
        ),
        pytest.param(
            [("a", False), ("c 1:3 rwm", True)],
            ("null:c:1:3:rw", "fuse:c:10:229:r"),
            {"null": False, "fuse": True},  # refused at mknod: no "c *:* m"
            id="no-mknod",
        ),
        pytest.param(
            [("a", True), ("c 1:3 w", False)],
            ("read:c:1:3:r", "readwrite:c:1:3:rw", "fuse:c:10:229:rw"),
            {"read": False, "readwrite": True, "fuse": False},
            id="deny-list-refuses-any-overlap",
        ),
    ],
)
def test_device_program_confines_a_cgroup2_directory(
    cgroup2_directories: tuple[Path, Path],
    rules: list[tuple[str, bool]],
    nodes: tuple[str, ...],
    expected: dict[str, bool],
) -> None:
    """The kernel runs the program on every mknod and open in the cgroup: what the rules do not
    allow is EPERM there, and only there (the open directory beside it allows the same nodes,
    so the refusal is the program's, not the devices cgroup's or the driver's)."""
    confined, open_ = cgroup2_directories
    _native.attach_device_filter(str(confined), rules)
    assert refused_nodes(confined, *nodes) == expected
    assert refused_nodes(open_, *nodes) == dict.fromkeys(expected, False)


def test_device_program_needs_a_cgroup_directory(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot attach the device program") as raised:
        _native.attach_device_filter(str(tmp_path), DOCKER_PROGRAM)
    assert raised.value.errno == errno.EBADF


@needs_cgroup2
def test_a_container_is_confined_by_its_device_program(box: Box, name: str, tmp_path: Path) -> None:
    """With the container's v1 devices cgroup opened to all (where the host has one), only its
    cgroup2 program stands between it and /dev/fuse's numbers: they are refused, /dev/null's
    open. The container waits for the test to open its v1 cgroup first."""
    sync = tmp_path / "sync"
    sync.mkdir()
    script = "while [ ! -e /sync/go ]; do sleep 0.05; done; " + "; ".join(
        f"mknod /tmp/{node} c {numbers} && (: < /tmp/{node}) 2>&1; echo {node}=$?"
        for node, numbers in (("null", "1 3"), ("fuse", "10 229"))
    )
    box.ok("run", "-d", "--name", name, "-v", f"{sync}:/sync", "busybox", "sh", "-c", script)
    if "devices" in host_hierarchies():
        cgroup_file(box.pid(name), "devices", "devices.allow", "").write_text("a *:* rwm")
    (sync / "go").touch()
    assert box.ok("wait", name).strip() == "0"
    output = box.ok("logs", name)
    assert "null=0" in output, output
    assert "Operation not permitted" in output and "fuse=1" in output, output


def test_update_changes_a_running_containers_limits_and_keeps_them(box: Box, name: str) -> None:
    box.ok(
        "run", "-d", "--name", name, "-m", "64m", "--pids-limit", "30", "busybox", "sleep", "300"
    )
    memory = cgroup_file(box.pid(name), "memory", "memory.limit_in_bytes", "memory.max")
    pids = cgroup_file(box.pid(name), "pids", "pids.max", "pids.max")
    assert box.ok("update", "-m", "128m", "--pids-limit", "40", name) == f"{name}\n"
    assert memory.read_text().strip() == str(128 * 1024 * 1024)  # grown: swap limit first on v1
    assert pids.read_text().strip() == "40"
    box.ok("update", "-m", "32m", name)
    assert memory.read_text().strip() == str(32 * 1024 * 1024)
    assert box.inspect(name)["HostConfig"]["Memory"] == 32 * 1024 * 1024  # type: ignore[index]
    box.ok("restart", "-t", "1", name)  # a new run keeps the updated limits
    restarted = cgroup_file(box.pid(name), "memory", "memory.limit_in_bytes", "memory.max")
    assert restarted.read_text().strip() == str(32 * 1024 * 1024)
    nothing = box("update", name)
    assert (nothing.returncode, nothing.stderr.strip()) == (
        1,
        "Error: You must provide one or more flags when using this command.",
    )
    below = box("update", "-m", "1m", name)
    assert (below.returncode, below.stderr.strip()) == (
        1,
        "Error: Minimum memory limit allowed is 6MB",
    )
