"""The native spawner with real containers: a busybox rootfs built at test time, real
namespaces, mounts, exec and exit codes. Needs root and a kernel with namespaces (decided by a
probe spawn, not by euid alone); every test checks that nothing stays mounted on the host.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import struct
import tempfile
import termios
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hybridock import _native
from hybridock.errors import ConfigError, ContainerStateError, SpawnError

pytestmark = pytest.mark.root

APPLETS = (
    "sh", "echo", "cat", "ls", "hostname", "id", "sleep", "ps", "pwd", "true", "wc", "touch",
    "grep", "mkdir", "tty", "stty", "stat",
)  # fmt: skip

# A path inside the container, not the host's temp dir.
CONTAINER_TMP = "/tmp"

# docker's default capabilities (moby's oci/caps/defaults.go), as bit numbers.
DOCKER_CAPABILITIES = (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31)


def _busybox() -> Path | None:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(candidate).is_file():
            return Path(candidate)
    found = shutil.which("busybox")
    return Path(found) if found else None


def build_rootfs(root: Path) -> Path:
    """A minimal image tree: static busybox, its applets as symlinks, passwd/group."""
    busybox = _busybox()
    if busybox is None:
        pytest.skip("busybox-static is not installed")
    (root / "bin").mkdir(parents=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    for directory in ("etc", "tmp", "root", "home/user"):
        (root / directory).mkdir(parents=True)
    (root / "tmp").chmod(0o1777)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nuser:x:1000:\n")
    not_executable = root / "bin" / "notexec"
    not_executable.write_text("#!/bin/sh\necho never\n")
    not_executable.chmod(0o644)
    return root


def mountinfo() -> list[str]:
    """The host's mount table, without the per-line mount ids that churn."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return sorted(" ".join(line.split()[2:]) for line in lines)


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def run(rootfs: Path, argv: Sequence[str], **fields: Any) -> Result:
    """Spawns one container with stdout/stderr in temp files, waits, returns what it did."""
    fields.setdefault("env", ["PATH=/bin", "HOME=/root"])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            stdio = fields.pop("stdio", [null, out.fileno(), err.fileno()])
            spec = _native.SpawnSpec(list(argv), str(rootfs), stdio=stdio, **fields)
            pid = _native.spawn(spec).pid
        finally:
            os.close(null)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return Result(os.waitstatus_to_exitcode(status), out.read().decode(), err.read().decode())


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox rootfs, after a probe spawn proves this machine can run containers."""
    root = build_rootfs(tmp_path_factory.mktemp("spawn") / "rootfs")
    try:
        probe = run(root, ["true"])
    except SpawnError as error:
        pytest.skip(f"cannot spawn containers here: {error}")
    if probe.code != 0:
        pytest.skip(f"cannot spawn containers here: probe exited {probe.code}: {probe.stderr}")
    return root


@pytest.fixture(autouse=True)
def nothing_left_mounted() -> Iterator[None]:
    before = mountinfo()
    yield
    assert mountinfo() == before, "a container left a mount on the host"


# --- isolation --------------------------------------------------------------------------------


def test_container_process_is_pid_1(rootfs: Path) -> None:
    assert run(rootfs, ["sh", "-c", "echo $$"]).stdout == "1\n"


def test_hostname_is_the_containers_own(rootfs: Path) -> None:
    host = Path("/proc/sys/kernel/hostname").read_text()
    assert run(rootfs, ["hostname"], hostname="box").stdout == "box\n"
    assert Path("/proc/sys/kernel/hostname").read_text() == host


def test_no_host_processes_are_visible(rootfs: Path) -> None:
    listing = run(rootfs, ["ls", "/proc"]).stdout.split()
    pids = sorted(int(name) for name in listing if name.isdigit())
    assert pids[0] == 1
    assert len(pids) <= 2, pids  # sh's exec'd ls is pid 1; nothing else
    ps = run(rootfs, ["sh", "-c", "ps -o pid,comm; true"]).stdout.splitlines()[1:]
    assert [line.split()[1] for line in ps] == ["sh", "ps"], ps
    assert ps[0].split()[0] == "1", ps


def test_dev_has_the_standard_nodes_and_links(rootfs: Path) -> None:
    listing = set(run(rootfs, ["ls", "/dev"]).stdout.split())
    expected = {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm",
                "mqueue", "fd", "stdin", "stdout", "stderr"}  # fmt: skip
    assert expected <= listing
    assert listing - expected == set(), "nothing of the host's /dev leaks in"
    script = "echo ok > /dev/null && wc -c < /dev/null"
    assert run(rootfs, ["sh", "-c", script]).stdout == "0\n"
    details = run(rootfs, ["ls", "-l", "/dev/null", "/dev/ptmx"]).stdout
    assert details.startswith("crw-rw-rw-"), details
    assert "/dev/ptmx -> pts/ptmx" in details


@pytest.mark.parametrize(
    ("name", "network", "only_loopback"),
    [("own network namespace", True, True), ("host network", False, False)],
)
def test_network_namespace(rootfs: Path, name: str, network: bool, only_loopback: bool) -> None:
    host_interfaces = {
        line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]
    }
    if not only_loopback and host_interfaces == {"lo"}:
        pytest.skip("the host itself has only lo")
    output = run(rootfs, ["cat", "/proc/net/dev"], network=network).stdout
    interfaces = {line.split(":")[0].strip() for line in output.splitlines()[2:]}
    assert (interfaces == {"lo"}) is only_loopback, (name, interfaces)


def test_sys_is_read_only_and_proc_paths_are_masked(rootfs: Path) -> None:
    mounts = run(rootfs, ["cat", "/proc/self/mounts"]).stdout.splitlines()
    sys_options = next(line.split()[3] for line in mounts if line.split()[1] == "/sys")
    assert sys_options.split(",")[0] == "ro"
    masked = run(rootfs, ["sh", "-c", "cat /proc/interrupts /proc/keys | wc -c"]).stdout
    assert masked == "0\n", "masked files read as /dev/null"
    proc_sys = next(line.split()[3] for line in mounts if line.split()[1] == "/proc/sys")
    assert proc_sys.split(",")[0] == "ro"


# --- exit codes and errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "argv", "code"),
    [
        ("success", ["true"], 0),
        ("exit 3", ["sh", "-c", "exit 3"], 3),
        ("killed by a signal", ["sh", "-c", "kill -9 $$"], 0),  # pid 1 ignores signals from inside
    ],
)
def test_exit_code_through_waitpid(rootfs: Path, name: str, argv: list[str], code: int) -> None:
    assert run(rootfs, argv).code == code, name


@dataclass(frozen=True)
class ErrorCase:
    name: str
    argv: list[str]
    exit_code: int
    stage: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


ERROR_CASES = [
    ErrorCase(
        "not in PATH",
        ["nosuchcommand"],
        127,
        "exec",
        'exec: "nosuchcommand": executable file not found in $PATH',
    ),
    ErrorCase(
        "missing absolute path",
        ["/bin/nope"],
        127,
        "exec",
        'exec: "/bin/nope": no such file or directory',
    ),
    ErrorCase(
        "not executable in PATH", ["notexec"], 126, "exec", 'exec: "notexec": permission denied'
    ),
    ErrorCase(
        "not executable by path",
        ["/etc/passwd"],
        126,
        "exec",
        'exec: "/etc/passwd": permission denied',
    ),
    ErrorCase("a directory", ["/etc"], 126, "exec", 'exec: "/etc": permission denied'),
    ErrorCase(
        "cwd through a file",  # a missing one is made, as docker makes it
        ["true"],
        125,
        "cwd",
        "setup of cwd failed: chdir /bin/true/dir",
        {"cwd": "/bin/true/dir"},
    ),
    ErrorCase(
        "missing bind source",
        ["true"],
        125,
        "mount",
        "setup of mount failed: mount /data: no such file or directory",
        {"mounts": [("/nonexistent/hybridock-test", "/data", False)]},
    ),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda case: case.name)
def test_spawn_errors(rootfs: Path, case: ErrorCase) -> None:
    with pytest.raises(SpawnError) as caught:
        run(rootfs, case.argv, **case.fields)
    assert (caught.value.exit_code, caught.value.stage) == (case.exit_code, case.stage)
    assert str(caught.value).startswith(case.message), str(caught.value)


def _children() -> set[int]:
    tasks = Path("/proc/self/task")
    return {int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()}


def test_failed_spawn_leaves_no_zombie(rootfs: Path) -> None:
    before = _children()
    with pytest.raises(SpawnError):
        run(rootfs, ["nosuchcommand"])
    assert _children() == before, "the failed child was reaped by spawn itself"


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("relative cwd", {"cwd": "tmp"}),
        ("hostname without a UTS namespace", {"hostname": "x", "uts_namespace": False}),
        ("half an overlay", {"lower_dirs": ["/a"]}),
        ("unknown rlimit", {"rlimits": [("bogus", 1, 1)]}),
        ("two stdio fds", {"stdio": [0, 1]}),
    ],
)
def test_unusable_spec_is_a_config_error(name: str, fields: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        _native.SpawnSpec(["true"], "/rootfs", **fields)


def test_spec_and_keywords_do_not_mix() -> None:
    spec = _native.SpawnSpec(["true"], "/rootfs")
    assert (spec.argv, spec.rootfs) == (["true"], "/rootfs")
    with pytest.raises(ConfigError):
        _native.spawn(spec, cwd="/")


def test_concurrent_spawns_from_threads(rootfs: Path) -> None:
    """Spawning while other Python threads run (and spawn) works: the child is fork-safe."""

    def one(index: int) -> Result:
        return run(rootfs, ["sh", "-c", f"echo {index} $$"], hostname=f"c{index}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(24)))
    assert [result.stdout for result in results] == [f"{index} 1\n" for index in range(24)]


# --- process attributes -----------------------------------------------------------------------


def test_no_host_fd_leaks(rootfs: Path) -> None:
    source = os.open(os.devnull, os.O_RDONLY)
    leaked = os.dup2(source, 57, inheritable=True)  # no O_CLOEXEC: must still not reach the child
    try:
        listing = run(rootfs, ["ls", "/proc/self/fd"]).stdout.split()
    finally:
        os.close(leaked)
        os.close(source)
    assert set(listing) <= {"0", "1", "2", "3"}, listing  # 3 is ls's own directory fd


def test_user_and_groups_applied(rootfs: Path) -> None:
    output = run(rootfs, ["id"], uid=1000, gid=1000, groups=[10, 20]).stdout
    assert output.startswith("uid=1000(user) gid=1000(user) groups="), output
    assert {"10", "20"} <= {
        group.split("(")[0] for group in output.split("groups=")[1].strip().split(",")
    }


def test_env_and_cwd_applied(rootfs: Path) -> None:
    output = run(
        rootfs, ["sh", "-c", "echo $FOO; pwd"], env=["PATH=/bin", "FOO=bar"], cwd=CONTAINER_TMP
    ).stdout
    assert output == "bar\n/tmp\n"


def test_stdin_is_the_given_fd(rootfs: Path) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"from the host\n")
    os.close(write_end)
    with tempfile.TemporaryFile() as out:
        try:
            pid = _native.spawn(
                argv=["cat"],
                rootfs=str(rootfs),
                env=["PATH=/bin"],
                stdio=[read_end, out.fileno(), None],
            ).pid
        finally:
            os.close(read_end)
        os.waitpid(pid, 0)
        out.seek(0)
        assert out.read() == b"from the host\n"


def _read_terminal(master: int) -> bytes:
    """Everything the container writes on its terminal, until its last slave fd is closed."""
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every slave end is closed
            break
        if not chunk:
            break
        output += chunk
    return output


def test_console_is_the_containers_own_pty(rootfs: Path) -> None:
    script = "read go; tty; stat -c %u $(tty); stty size; cat /proc/1/stat; true"
    spawned = _native.spawn(
        argv=["sh", "-c", script],
        rootfs=str(rootfs),
        env=["PATH=/bin"],
        uid=1000,
        gid=1000,
        tty=True,
    )
    master = spawned.terminal
    assert master is not None
    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        os.write(master, b"go\n")
        output = _read_terminal(master).decode().replace("\r\n", "\n")
        os.waitpid(spawned.pid, 0)
    finally:
        os.close(master)
    lines = output.splitlines()
    assert lines[:4] == ["go", "/dev/pts/0", "1000", "33 101"], output
    fields = lines[4].rsplit(")", 1)[1].split()
    session, terminal = int(fields[3]), int(fields[4])
    assert (session, terminal != 0) == (1, True)


def test_without_tty_there_is_no_console_and_no_controlling_terminal(rootfs: Path) -> None:
    with tempfile.TemporaryFile() as out:
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            spawned = _native.spawn(
                argv=["sh", "-c", "cat /proc/1/stat; tty; true"],
                rootfs=str(rootfs),
                env=["PATH=/bin"],
                stdio=[null, out.fileno(), out.fileno()],
            )
        finally:
            os.close(null)
        os.waitpid(spawned.pid, 0)
        out.seek(0)
        lines = out.read().decode().splitlines()
    assert spawned.terminal is None
    fields = lines[0].rsplit(")", 1)[1].split()
    assert (int(fields[3]), int(fields[4])) == (1, 0)
    assert lines[1] == "not a tty"


def test_console_failure_is_reported_and_leaves_nothing(rootfs: Path) -> None:
    """A failing command with a console: the error comes back, no fd is left open."""
    before = set(Path("/proc/self/fd").iterdir())
    with pytest.raises(SpawnError) as raised:
        _native.spawn(argv=["nope"], rootfs=str(rootfs), env=["PATH=/bin"], tty=True)
    assert raised.value.exit_code == 127
    assert set(Path("/proc/self/fd").iterdir()) == before


def _status(rootfs: Path, **fields: Any) -> dict[str, str]:
    keys = "^(NoNewPrivs|CapBnd|CapEff)"
    output = run(rootfs, ["grep", "-E", keys, "/proc/self/status"], **fields).stdout
    return dict(line.split(":\t") for line in output.splitlines())


def test_rlimits_no_new_privs_and_capabilities(rootfs: Path) -> None:
    assert run(rootfs, ["sh", "-c", "ulimit -n"], rlimits=[("nofile", 100, 200)]).stdout == "100\n"
    docker = f"{_native.DOCKER_CAPABILITIES:016x}"
    assert sum(1 << bit for bit in DOCKER_CAPABILITIES) == _native.DOCKER_CAPABILITIES
    assert _status(rootfs) == {"NoNewPrivs": "1", "CapBnd": docker, "CapEff": docker}
    host = dict(
        line.split(":\t")
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("Cap")
    )
    privileged = _status(rootfs, capabilities=None, no_new_privs=False)
    assert privileged == {"NoNewPrivs": "0", "CapBnd": host["CapBnd"], "CapEff": host["CapEff"]}
    narrow = _status(rootfs, capabilities=1 << 0)
    assert (narrow["CapBnd"], narrow["CapEff"]) == (f"{1:016x}", f"{1:016x}")
    assert _status(rootfs, uid=1000, gid=1000)["CapEff"] == f"{0:016x}", (
        "a user gets no capabilities"
    )


# --- mounts ------------------------------------------------------------------------------------


def test_bind_mounts_read_only_and_read_write(rootfs: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello").write_text("hi\n")
    readonly = run(
        rootfs,
        ["sh", "-c", "cat /data/hello; touch /data/new && echo wrote"],
        mounts=[(str(shared), "/data", True)],
    )
    assert readonly.stdout == "hi\n"
    assert "Read-only file system" in readonly.stderr
    assert not (shared / "new").exists()
    writable = run(rootfs, ["touch", "/srv/sub/new"], mounts=[(str(shared), "/srv/sub", False)])
    assert writable.code == 0
    assert (shared / "new").exists()


def test_bind_destination_symlink_stays_inside_the_rootfs(rootfs: Path, tmp_path: Path) -> None:
    """An image symlink to an absolute path is followed inside the rootfs, never on the host."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "marker").write_text("x")
    (rootfs / "escape").symlink_to(CONTAINER_TMP)  # on the host this would be the host's /tmp
    (rootfs / "dangling").symlink_to(str(tmp_path / "outside"))
    try:
        result = run(rootfs, ["ls", CONTAINER_TMP], mounts=[(str(source), "/escape", True)])
        assert result.stdout.split() == ["marker"]
        with pytest.raises(SpawnError) as caught:
            run(rootfs, ["true"], mounts=[(str(source), "/dangling", True)])
        assert caught.value.stage == "mount"
        assert not (tmp_path / "outside").exists(), (
            "nothing is created through a link out of the root"
        )
    finally:
        (rootfs / "escape").unlink()
        (rootfs / "dangling").unlink()


def test_read_only_rootfs_keeps_dev_and_mounts_writable(rootfs: Path, tmp_path: Path) -> None:
    script = (
        "touch /new || echo root-ro; touch /dev/shm/x && echo shm-rw; touch /data/x && echo data-rw"
    )
    result = run(
        rootfs, ["sh", "-c", script], readonly_rootfs=True, mounts=[(str(tmp_path), "/data", False)]
    )
    assert result.stdout == "root-ro\nshm-rw\ndata-rw\n", result.stderr
    assert not (rootfs / "new").exists()


def test_etc_files_are_bound(rootfs: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n")
    hostname = tmp_path / "hostname"
    hostname.write_text("box\n")
    try:
        output = run(
            rootfs,
            ["cat", "/etc/hostname", "/etc/hosts"],
            etc_hostname=str(hostname),
            etc_hosts=str(hosts),
        ).stdout
        assert output == "box\n127.0.0.1\tlocalhost\n"
    finally:
        for created in ("hostname", "hosts"):
            (rootfs / "etc" / created).unlink(missing_ok=True)


def test_overlay_rootfs_is_mounted_only_inside_the_container(rootfs: Path, tmp_path: Path) -> None:
    for directory in ("upper", "work", "merged"):
        (tmp_path / directory).mkdir()
    result = run(
        tmp_path / "merged",
        ["sh", "-c", "echo layered > /written; cat /etc/passwd | wc -l"],
        lower_dirs=[str(rootfs)],
        upper_dir=str(tmp_path / "upper"),
        work_dir=str(tmp_path / "work"),
    )
    assert result.stdout == "2\n", result.stderr
    assert (tmp_path / "upper" / "written").read_text() == "layered\n"
    assert not (rootfs / "written").exists()
    assert list((tmp_path / "merged").iterdir()) == [], (
        "the merged view exists only in the container"
    )


@pytest.mark.parametrize("join_file", ["cgroup.procs", "tasks"])
def test_cgroup_is_joined(rootfs: Path, join_file: str) -> None:
    """Through v2's (and v1's) ``cgroup.procs``, and v1's ``tasks``, which hybridock uses."""
    candidates = [Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")]
    base = next((path for path in candidates if (path / join_file).exists()), None)
    if base is None:
        pytest.skip(f"no writable cgroup hierarchy with {join_file}")
    group = base / f"hybridock-test-{os.getpid()}"
    group.mkdir()
    try:
        output = run(
            rootfs, ["cat", "/proc/self/cgroup"], cgroup_join=[str(group / join_file)]
        ).stdout
        assert group.name in output, output
    finally:
        group.rmdir()


def test_device_nodes_when_mknod_is_refused(rootfs: Path) -> None:
    """In a devices cgroup that denies mknod, the host's nodes are bound instead."""
    hierarchy = Path("/sys/fs/cgroup/devices")
    if not (hierarchy / "devices.deny").exists():
        pytest.skip("no cgroup v1 devices controller")
    group = hierarchy / f"hybridock-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "devices.deny").write_text("c *:* m\n")
        script = (
            "echo ok > /dev/null && ls -l /dev/null /dev/tty; grep -c ' /dev/null ' /proc/mounts"
        )
        result = run(rootfs, ["sh", "-c", script], cgroup_join=[str(group / "cgroup.procs")])
        *nodes, bound = result.stdout.splitlines()
        assert [line[0] for line in nodes] == ["c", "c"], result
        assert bound == "1", "/dev/null is the host's node, bound"
    finally:
        group.rmdir()


def test_init_runs_the_command_as_its_child(rootfs: Path, tmp_path: Path) -> None:
    """With ``init``, a host binary appears read-only on /dev/init and gets ``-- argv``."""
    init = tmp_path / "stand-in-init"
    init.write_text('#!/bin/sh\n[ "$1" = -- ] && shift\necho "init $$ runs $*"\nexec "$@"\n')
    init.chmod(0o755)
    script = "echo child $$; touch /dev/init || echo read-only"
    result = run(rootfs, ["sh", "-c", script], init=str(init))
    assert result.stdout == f"init 1 runs sh -c {script}\nchild 1\nread-only\n"
    assert "init" not in run(rootfs, ["ls", "/dev"]).stdout.split(), (
        "init appears only when asked for"
    )


# --- exec_in ---------------------------------------------------------------------------------


@pytest.fixture
def sleeper(rootfs: Path) -> Iterator[int]:
    """A container sleeping (hostname "box"); killed and reaped afterwards."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        pid = _native.spawn(
            argv=["sleep", "1000"],
            rootfs=str(rootfs),
            env=["PATH=/bin"],
            hostname="box",
            stdio=[null, null, null],
        ).pid
    finally:
        os.close(null)
    yield pid
    os.kill(pid, 9)
    os.waitpid(pid, 0)


def exec_run(pid: int, argv: Sequence[str], **fields: Any) -> Result:
    """exec_in with stdout/stderr in temp files; waits and returns what it did."""
    fields.setdefault("env", ["PATH=/bin"])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        null = os.open(os.devnull, os.O_RDONLY)
        try:
            spawned = _native.exec_in(
                pid, list(argv), stdio=[null, out.fileno(), err.fileno()], **fields
            )
        finally:
            os.close(null)
        _, status = os.waitpid(spawned.pid, 0)
        out.seek(0)
        err.seek(0)
        return Result(os.waitstatus_to_exitcode(status), out.read().decode(), err.read().decode())


def _namespace(pid: int | str, kind: str) -> str:
    return str(Path(f"/proc/{pid}/ns/{kind}").readlink())


def test_exec_joins_every_namespace_and_stays_our_child(sleeper: int) -> None:
    script = "hostname; echo $$; cat /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'"
    result = exec_run(sleeper, ["sh", "-c", script])
    hostname, own_pid, first, count = result.stdout.splitlines()
    assert (hostname, first.split("\0")[0]) == ("box", "sleep")
    assert int(own_pid) > 1 and int(count) <= 5


def test_exec_leaves_the_callers_namespaces_alone(rootfs: Path, sleeper: int) -> None:
    ours = {kind: _namespace("thread-self", kind) for kind in ("pid", "pid_for_children", "mnt")}
    exec_run(sleeper, ["true"])
    assert {kind: _namespace("thread-self", kind) for kind in ours} == ours
    # and the next plain child of this thread is born in our pid namespace, not the container's
    child = os.fork()
    if child == 0:  # pragma: no cover - the forked child only exits
        os._exit(0)
    try:
        assert _namespace(child, "pid") == ours["pid"]
    finally:
        os.waitpid(child, 0)


def test_exec_into_a_gone_process_is_a_state_error() -> None:
    child = os.fork()
    if child == 0:  # pragma: no cover - the forked child only exits
        os._exit(0)
    os.waitpid(child, 0)
    with pytest.raises(ContainerStateError):
        _native.exec_in(child, ["true"])


def test_exec_exit_codes_and_workdir(sleeper: int) -> None:
    cases = [
        ("own code", ["sh", "-c", "exit 3"], {}, 3),
        ("workdir", ["sh", "-c", "test $(pwd) = /tmp"], {"cwd": "/tmp"}, 0),
    ]
    for name, argv, fields, code in cases:
        assert exec_run(sleeper, argv, **fields).code == code, name
    for name, argv, fields, code in [
        ("not found", ["nope"], {}, 127),
        ("not executable", ["/bin/notexec"], {}, 126),
        ("missing workdir", ["true"], {"cwd": "/nope"}, 125),
        ("magic link workdir", ["true"], {"cwd": "/proc/self/cwd"}, 125),
    ]:
        with pytest.raises(SpawnError) as raised:
            exec_run(sleeper, argv, **fields)
        assert raised.value.exit_code == code, name


def test_exec_concurrently_from_threads(sleeper: int) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: exec_run(sleeper, ["echo", str(i)]), range(8)))
    assert [result.stdout for result in results] == [f"{i}\n" for i in range(8)]


def test_exec_tty(sleeper: int) -> None:
    spawned = _native.exec_in(sleeper, ["tty"], env=["PATH=/bin"], tty=True, console_size=(5, 7))
    assert spawned.terminal is not None
    try:
        output = _read_terminal(spawned.terminal).decode()
        os.waitpid(spawned.pid, 0)
    finally:
        os.close(spawned.terminal)
    assert output.strip().startswith("/dev/pts/")
