"""hybridock-runtime's command line on a busybox bundle, as containerd's shim and podman's conmon
call it: create/start/state/kill/delete, run, exec, the pid file, the console socket, errors in
runc's words (also as JSON log lines), list/ps, pause/resume, update, features, spec; and a few
outputs beside runc's on the same bundle.

The binary: ``tests.support.ociruntime.runtime_binary()`` (the venv's, or ``$HYBRIDOCK_RUNTIME``),
else the checkout's ``target/release/hybridock-runtime``. Each test has its own state root and
deletes (``--force``) whatever it left there.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.layers import build_tar
from tests.support.ociruntime import runtime_binary
from tests.support.testimages import busybox_entries

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNC = shutil.which("runc")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runs containers: needs root")


def binary() -> Path:
    path = runtime_binary()
    if path.is_file():
        return path
    built = REPO_ROOT / "target" / "release" / "hybridock-runtime"
    if built.is_file():
        return built
    pytest.skip("no hybridock-runtime: cargo build --release -p hybridock-runtime")


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """busybox's rootfs, extracted from the test image's layer."""
    directory = tmp_path_factory.mktemp("busybox") / "rootfs"
    directory.mkdir()
    with tarfile.open(fileobj=io.BytesIO(build_tar(busybox_entries()))) as archive:
        archive.extractall(directory, filter="fully_trusted")  # noqa: S202 - our own layer
    return directory


class Runtime:
    """One runtime binary with a private state root."""

    def __init__(self, path: Path, root: Path, log: Path | None = None) -> None:
        self.path = path
        self.root = root
        self.log = log

    def command(self, *arguments: str) -> list[str]:
        logging = ["--log", str(self.log), "--log-format", "json"] if self.log else []
        return [str(self.path), "--root", str(self.root), *logging, *arguments]

    def __call__(
        self, *arguments: str, check: bool = True, input: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        # files, not pipes: a created container inherits the runtime's stdio and keeps it
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
            returncode = subprocess.run(
                self.command(*arguments),
                stdout=stdout,
                stderr=stderr,
                input=(input or "").encode(),
                timeout=timeout,
                check=False,
            ).returncode
            stdout.seek(0)
            stderr.seek(0)
            result = subprocess.CompletedProcess(
                arguments, returncode, stdout.read().decode(), stderr.read().decode()
            )
        if check and result.returncode != 0:
            raise AssertionError(f"{arguments}: {result.returncode} {result.stderr}")
        return result

    def state(self, container_id: str) -> dict[str, object]:
        return dict(json.loads(self("state", container_id).stdout))

    def cleanup(self) -> None:
        for container_id in self("list", "-q", check=False).stdout.split():
            self("delete", "--force", container_id, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def make_bundle(directory: Path, rootfs: Path, args: list[str], **process: object) -> Path:
    """A bundle with runc's default spec (no terminal) running ``args``."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(binary()), "spec", "--bundle", str(directory)], check=True)
    config = json.loads((directory / "config.json").read_text())
    config["root"]["path"] = str(rootfs)  # shared by the bundles (runc refuses a symlink)
    config["process"].update({"terminal": False, "args": args, **process})
    (directory / "config.json").write_text(json.dumps(config))
    return directory


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(binary(), tmp_path / "state", tmp_path / "log.json")
    yield runtime
    runtime.cleanup()


@pytest.fixture
def sleeper(tmp_path: Path, rootfs: Path) -> Path:
    return make_bundle(tmp_path / "bundle", rootfs, ["sleep", "1000"])


def wait_for_status(runtime: Runtime, container_id: str, status: str) -> None:
    for _ in range(500):
        if runtime.state(container_id)["status"] == status:
            return
        time.sleep(0.01)
    raise AssertionError(f"{container_id} never became {status}")


def test_create_state_start_kill_delete(runtime: Runtime, sleeper: Path) -> None:
    pid_file = sleeper / "init.pid"
    runtime("create", "--bundle", str(sleeper), "--pid-file", str(pid_file), "box")
    state = runtime.state("box")
    assert list(state) == [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ]
    assert state["status"] == "created"
    assert state["bundle"] == str(sleeper)
    assert int(pid_file.read_text()) == state["pid"]
    runtime("start", "box")
    assert runtime.state("box")["status"] == "running"
    comm = Path(f"/proc/{state['pid']}/comm").read_text().strip()
    assert comm == "sleep"
    runtime("kill", "box", "KILL")
    wait_for_status(runtime, "box", "stopped")
    assert runtime.state("box")["pid"] == 0
    runtime("delete", "box")
    assert runtime("state", "box", check=False).returncode == 1
    assert not (runtime.root / "box").exists()


def test_run_waits_and_exits_with_the_status(
    runtime: Runtime, tmp_path: Path, rootfs: Path
) -> None:
    bundle = make_bundle(tmp_path / "b", rootfs, ["sh", "-c", "echo hello; exit 3"])
    result = runtime("run", "--bundle", str(bundle), "once", check=False)
    assert (result.returncode, result.stdout) == (3, "hello\n")
    assert runtime("list", "-q").stdout == ""
    sleeper = make_bundle(tmp_path / "k", rootfs, ["sleep", "1000"])
    run = subprocess.Popen(
        runtime.command("run", "--bundle", str(sleeper), "killed"), stdin=subprocess.DEVNULL
    )
    try:
        for _ in range(500):
            if "killed" in runtime("list", "-q").stdout.split():
                break
            time.sleep(0.01)
        wait_for_status(runtime, "killed", "running")
        runtime("kill", "killed", "KILL")
        assert run.wait(timeout=30) == 128 + 9
    finally:
        run.kill()
        run.wait()
    assert runtime("list", "-q").stdout == ""


def test_a_process_user_other_than_root_passes_the_start_gate(
    runtime: Runtime, tmp_path: Path, rootfs: Path
) -> None:
    """The init is already the container's user when it opens exec.fifo: the fifo is 0622
    whatever the runtime's umask (postgres' image, uid != 0 tests of runc's suite)."""
    bundle = make_bundle(
        tmp_path / "user", rootfs, ["id"], user={"uid": 1000, "gid": 1000, "additionalGids": [5]}
    )
    result = runtime("run", "--bundle", str(bundle), "unprivileged", check=False)
    assert (result.returncode, result.stdout) == (0, "uid=1000 gid=1000 groups=5\n"), result.stderr


def test_preserved_fds_reach_run_and_exec(runtime: Runtime, tmp_path: Path, rootfs: Path) -> None:
    """``--preserve-fds 1``: the caller's fd 3 is the container process's fd 3, for run and
    exec alike; without it fd 3 is closed. Sockets of systemd's activation (``LISTEN_FDS``
    for the runtime's pid) are passed on the same way, with ``LISTEN_PID=1``."""
    read_end, write_end = os.pipe()

    def fd3(activation: bool) -> None:
        os.dup2(write_end, 3)
        if activation:  # systemd's socket activation, aimed at the runtime's own pid
            os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))

    def with_fd3(*arguments: str, activation: bool = False) -> int:
        return subprocess.run(
            runtime.command(*arguments),
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: fd3(activation),
            close_fds=False,  # fd 3 as dup2 left it (our other fds are not inheritable)
            timeout=30,
            check=False,
        ).returncode

    try:
        bundle = make_bundle(tmp_path / "fds", rootfs, ["sh", "-c", "echo run >&3"])
        assert with_fd3("run", "--preserve-fds", "1", "--bundle", str(bundle), "fds") == 0
        assert with_fd3("run", "--bundle", str(bundle), "closed") != 0
        sleeper = make_bundle(tmp_path / "held", rootfs, ["sleep", "1000"])
        runtime("run", "--detach", "--bundle", str(sleeper), "held")
        assert with_fd3("exec", "--preserve-fds", "1", "held", "sh", "-c", "echo exec >&3") == 0
        activated = make_bundle(
            tmp_path / "activated", rootfs, ["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID >&3"]
        )
        assert with_fd3("run", "--bundle", str(activated), "activated", activation=True) == 0
    finally:
        os.close(write_end)
    with os.fdopen(read_end) as pipe:
        assert pipe.read() == "run\nexec\n1 1\n"


def test_exec_detached_with_pid_file_and_foreground(runtime: Runtime, sleeper: Path) -> None:
    runtime("run", "--detach", "--bundle", str(sleeper), "box")
    pid_file = sleeper / "exec.pid"
    runtime("exec", "--detach", "--pid-file", str(pid_file), "box", "sleep", "999")
    pid = int(pid_file.read_text())
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00999\x00"
    assert pid in json.loads(runtime("ps", "--format", "json", "box").stdout)
    result = runtime(
        "exec", "--env", "X=from-exec", "box", "sh", "-c", "echo $X; exit 5", check=False
    )
    assert (result.returncode, result.stdout) == (5, "from-exec\n")
    process = sleeper / "process.json"
    process.write_text(json.dumps({"args": ["cat", "/etc/hostname"], "cwd": "/", "env": []}))
    assert runtime("exec", "--process", str(process), "box").stdout == "busybox\n"


def test_console_socket_receives_the_pty_master(
    runtime: Runtime, tmp_path: Path, rootfs: Path
) -> None:
    bundle = make_bundle(tmp_path / "b", rootfs, ["sh", "-c", "tty; sleep 1000"], terminal=True)
    path = tmp_path / "console.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        create = subprocess.Popen(
            runtime.command(
                "create", "--bundle", str(bundle), "--console-socket", str(path), "tty"
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        connection, _ = server.accept()
        with connection:
            message, fds, _, _ = socket.recv_fds(connection, 1, 1)
        assert create.wait(timeout=30) == 0
    assert len(fds) == 1, message
    master = fds[0]
    try:
        runtime("start", "tty")
        output = b""
        while b"\n" not in output:
            output += os.read(master, 100)
        assert output.startswith(b"/dev/pts/")
    finally:
        os.close(master)


def test_errors_in_runcs_words(runtime: Runtime, sleeper: Path) -> None:
    missing = runtime("state", "nobody", check=False)
    assert (missing.returncode, missing.stderr) == (1, "container does not exist\n")
    logged = json.loads(runtime.log.read_text().splitlines()[-1])  # type: ignore[union-attr]
    assert logged["level"] == "error"
    assert logged["msg"] == "container does not exist"
    runtime("create", "--bundle", str(sleeper), "box")
    again = runtime("create", "--bundle", str(sleeper), "box", check=False)
    assert (
        again.stderr == "hybridock-runtime create failed: container with given ID already exists\n"
    )
    refused = runtime("delete", "box", check=False)  # a created container is deleted
    assert refused.returncode == 0
    runtime("run", "-d", "--bundle", str(sleeper), "live")
    busy = runtime("delete", "live", check=False)
    assert busy.stderr == "cannot delete container live that is not stopped: running\n"
    assert runtime("kill", "live", "NOPE", check=False).stderr == 'unknown signal "NOPE"\n'
    runtime("kill", "live", "9")
    wait_for_status(runtime, "live", "stopped")
    stopped = runtime("start", "live", check=False)
    assert stopped.stderr == "cannot start a container that has stopped\n"
    assert runtime("kill", "live", check=False).stderr == "container not running\n"
    runtime("delete", "live")
    assert runtime("delete", "--force", "live").returncode == 0


def test_failed_create_leaves_nothing(runtime: Runtime, tmp_path: Path, rootfs: Path) -> None:
    bundle = make_bundle(tmp_path / "b", rootfs, ["/no/such/command"])
    config = json.loads((bundle / "config.json").read_text())
    config["linux"]["cgroupsPath"] = "/hybridock-runtime-test/failed"
    (bundle / "config.json").write_text(json.dumps(config))
    result = runtime("create", "--bundle", str(bundle), "bad", check=False)
    assert result.returncode == 1
    assert "hybridock-runtime create failed" in result.stderr
    assert not (runtime.root / "bad").exists()
    leftovers = list(Path("/sys/fs/cgroup").glob("*/hybridock-runtime-test"))
    assert leftovers == []


def test_list_and_ps(runtime: Runtime, sleeper: Path) -> None:
    runtime("run", "-d", "--bundle", str(sleeper), "one")
    runtime("create", "--bundle", str(sleeper), "two")
    assert runtime("list", "-q").stdout.split() == ["one", "two"]
    table = runtime("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert [row.split()[2] for row in table[1:]] == ["running", "created"]
    documents = json.loads(runtime("list", "--format", "json").stdout)
    assert [document["status"] for document in documents] == ["running", "created"]
    rows = runtime("ps", "one").stdout.splitlines()
    assert rows[0].split()[:2] == ["UID", "PID"]
    assert len(rows) == 2
    assert rows[1].split()[1] == str(runtime.state("one")["pid"])


def test_pause_resume(runtime: Runtime, sleeper: Path) -> None:
    runtime("run", "-d", "--bundle", str(sleeper), "box")
    runtime("pause", "box")
    assert runtime.state("box")["status"] == "paused"
    runtime("resume", "box")
    assert runtime.state("box")["status"] == "running"
    assert runtime("resume", "box", check=False).stderr == "container not paused\n"
    runtime("delete", "--force", "box")


def cgroup_file(pid: object, controller: str, name: str) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return (Path("/sys/fs/cgroup") / controller / path.lstrip("/") / name).read_text()
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        path = Path(f"/proc/{pid}/cgroup").read_text().split("::", 1)[1].strip()
        return (Path("/sys/fs/cgroup") / path.lstrip("/") / name).read_text()
    raise AssertionError(f"no {controller} cgroup")


def test_resources_and_update(runtime: Runtime, tmp_path: Path, rootfs: Path) -> None:
    bundle = make_bundle(tmp_path / "b", rootfs, ["sleep", "1000"])
    config = json.loads((bundle / "config.json").read_text())
    config["linux"]["resources"]["pids"] = {"limit": 50}
    config["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
    (bundle / "config.json").write_text(json.dumps(config))
    runtime("run", "-d", "--bundle", str(bundle), "box")
    pid = runtime.state("box")["pid"]
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    memory = "memory.max" if v2 else "memory.limit_in_bytes"
    assert cgroup_file(pid, "pids", "pids.max").strip() == "50"
    assert cgroup_file(pid, "memory", memory).strip() == str(64 * 1024 * 1024)
    runtime("update", "--pids-limit", "30", "box")
    assert cgroup_file(pid, "pids", "pids.max").strip() == "30"
    runtime("update", "--resources", "-", "box", input='{"memory": {"limit": 33554432}}')
    assert cgroup_file(pid, "memory", memory).strip() == "33554432"


def test_hooks_get_the_state(runtime: Runtime, tmp_path: Path, rootfs: Path) -> None:
    bundle = make_bundle(tmp_path / "b", rootfs, ["sleep", "1000"])
    record = tmp_path / "hooks"
    config = json.loads((bundle / "config.json").read_text())

    def hook(name: str) -> dict[str, object]:
        script = f'read -r state; echo "{name} $state" >> {record}'
        return {"path": "/bin/sh", "args": ["sh", "-c", script]}

    config["hooks"] = {
        name: [hook(name)] for name in ("prestart", "createRuntime", "poststart", "poststop")
    }
    (bundle / "config.json").write_text(json.dumps(config))
    runtime("run", "-d", "--bundle", str(bundle), "box")
    runtime("delete", "--force", "box")
    lines = record.read_text().splitlines()
    names = [line.split(" ", 1)[0] for line in lines]
    assert names == ["prestart", "createRuntime", "poststart", "poststop"]
    states = [json.loads(line.split(" ", 1)[1]) for line in lines]
    assert [state["status"] for state in states] == ["creating", "creating", "running", "stopped"]
    assert {state["id"] for state in states} == {"box"}


def test_failing_hook_fails_create(runtime: Runtime, tmp_path: Path, rootfs: Path) -> None:
    bundle = make_bundle(tmp_path / "b", rootfs, ["sleep", "1000"])
    config = json.loads((bundle / "config.json").read_text())
    config["hooks"] = {"createRuntime": [{"path": "/bin/false"}]}
    (bundle / "config.json").write_text(json.dumps(config))
    result = runtime("create", "--bundle", str(bundle), "box", check=False)
    assert result.returncode == 1
    assert "error running createRuntime hook #0: error running hook: exit status 1" in result.stderr
    assert not (runtime.root / "box").exists()


def test_version_features_and_spec(runtime: Runtime, tmp_path: Path) -> None:
    version = runtime("--version").stdout.splitlines()
    assert version[0].startswith("hybridock-runtime version ")
    assert version[1] == "spec: 1.0.2-dev"
    features = json.loads(runtime("features").stdout)
    assert features["hooks"][0] == "prestart"
    assert "cgroup" in features["linux"]["namespaces"]
    assert features["linux"]["cgroup"]["v1"] is True
    runtime("spec", "--bundle", str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"]
    again = runtime("spec", "--bundle", str(tmp_path), check=False)
    assert again.stderr == "File config.json exists. Remove it first.\n"


@pytest.mark.skipif(RUNC is None, reason="runc is not installed")
def test_outputs_shaped_like_runcs(tmp_path: Path, sleeper: Path) -> None:
    ours = Runtime(binary(), tmp_path / "ours")
    runc = Runtime(Path(str(RUNC)), tmp_path / "runc")
    try:
        documents = []
        for runtime in (ours, runc):
            runtime("create", "--bundle", str(sleeper), "same")
            documents.append(runtime.state("same"))
            listed = json.loads(runtime("list", "--format", "json").stdout)
            documents.append(listed[0])
        assert list(documents[0]) == list(documents[2])
        assert list(documents[1]) == list(documents[3])
        assert documents[0]["status"] == documents[2]["status"] == "created"
        for runtime in (ours, runc):
            missing = runtime("state", "nobody", check=False)
            assert missing.returncode == 1
            assert "container does not exist" in missing.stderr
        our_spec, runc_spec = tmp_path / "our-spec", tmp_path / "runc-spec"
        for runtime, directory in ((ours, our_spec), (runc, runc_spec)):
            directory.mkdir()
            runtime("spec", "--bundle", str(directory))
        assert (our_spec / "config.json").read_text() == (runc_spec / "config.json").read_text()
        ours_features = json.loads(ours("features").stdout)
        runc_features = json.loads(runc("features").stdout)
        assert set(ours_features) == set(runc_features)
        assert set(ours_features["linux"]) == set(runc_features["linux"])
    finally:
        ours.cleanup()
        runc.cleanup()


def test_create_container_hook_runs_in_the_containers_namespaces(
    runtime: Runtime, tmp_path: Path, rootfs: Path
) -> None:
    bundle = make_bundle(tmp_path / "b", rootfs, ["sleep", "1000"])
    config = json.loads((bundle / "config.json").read_text())
    config["hostname"] = "inside"
    script = "hostname; exit 1"  # the output comes back in the error
    config["hooks"] = {"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]}
    (bundle / "config.json").write_text(json.dumps(config))
    result = runtime("create", "--bundle", str(bundle), "box", check=False)
    assert "error running createContainer hook #0" in result.stderr
    assert "stdout: inside\n" in result.stderr


def test_systemd_cgroup_path_made_through_cgroupfs(
    tmp_path: Path, sleeper: Path, runtime: Runtime
) -> None:
    systemd = Runtime(binary(), runtime.root)
    config = json.loads((sleeper / "config.json").read_text())
    config["linux"]["cgroupsPath"] = "hdrt-test.slice:hdrt:box"
    (sleeper / "config.json").write_text(json.dumps(config))
    systemd("--systemd-cgroup", "run", "-d", "--bundle", str(sleeper), "box")
    pid = systemd.state("box")["pid"]
    paths = {line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()}
    assert "/hdrt.slice/hdrt-test.slice/hdrt-box.scope" in paths
    systemd("delete", "--force", "box")
    assert list(Path("/sys/fs/cgroup").glob("*/hdrt.slice")) == []
    assert list(Path("/sys/fs/cgroup").glob("hdrt.slice")) == []


def test_foreground_terminal_is_proxied(runtime: Runtime, tmp_path: Path, rootfs: Path) -> None:
    bundle = make_bundle(tmp_path / "b", rootfs, ["sh", "-c", "tty; exit 4"], terminal=True)
    result = runtime("run", "--bundle", str(bundle), "tty", check=False)
    assert result.returncode == 4
    assert result.stdout.startswith("/dev/pts/")
    runtime("run", "-d", "--bundle", str(make_bundle(tmp_path / "s", rootfs, ["sleep", "99"])), "s")
    result = runtime("exec", "-t", "s", "tty")
    assert result.stdout.startswith("/dev/pts/")


def test_runc_exit_statuses_and_signal_zero(runtime: Runtime, sleeper: Path) -> None:
    runtime("run", "-d", "--bundle", str(sleeper), "box")
    assert runtime("exec", "box", "no-such-binary", check=False).returncode == 255
    assert runtime("exec", "nobody", "true", check=False).returncode == 255
    runtime("update", "--memory", "50M", "box")
    pid = runtime.state("box")["pid"]
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    memory = "memory.max" if v2 else "memory.limit_in_bytes"
    assert cgroup_file(pid, "memory", memory).strip() == str(50 * 1024 * 1024)
    runtime("kill", "box", "KILL")
    wait_for_status(runtime, "box", "stopped")
    assert runtime("kill", "--all", "box", "0").returncode == 0
    assert runtime("kill", "box", "0", check=False).stderr == "container not running\n"


def cgroup_dirs(name: str) -> list[Path]:
    return sorted(Path("/sys/fs/cgroup").glob(f"*/{name}")) + sorted(
        Path("/sys/fs/cgroup").glob(name)
    )


def test_cgroups_frozen_shared_and_nested(runtime: Runtime, sleeper: Path) -> None:
    config = json.loads((sleeper / "config.json").read_text())
    config["linux"]["cgroupsPath"] = "/hdrt-shared"
    (sleeper / "config.json").write_text(json.dumps(config))
    try:
        runtime("run", "-d", "--bundle", str(sleeper), "one")
        runtime("run", "-d", "--bundle", str(sleeper), "two")
        warning = json.loads(runtime.log.read_text().splitlines()[-1])  # type: ignore[union-attr]
        assert warning["level"] == "warning"
        assert warning["msg"] == "container's cgroup is not empty: 1 process(es) found"
        one = runtime.state("one")["pid"]
        runtime("delete", "--force", "two")  # the cgroup it joined is the first one's
        assert runtime.state("one")["status"] == "running"
        nested = [directory / "sub" for directory in cgroup_dirs("hdrt-shared")]
        for directory in nested:
            directory.mkdir()
        runtime("delete", "--force", "one")
        assert not Path(f"/proc/{one}").exists() or runtime("list", "-q").stdout == ""
        assert cgroup_dirs("hdrt-shared") == []
        freezer = Path("/sys/fs/cgroup/freezer")
        if freezer.is_dir():
            (freezer / "hdrt-shared").mkdir()
            (freezer / "hdrt-shared" / "freezer.state").write_text("FROZEN")
            for _ in range(2):  # a refusal leaves the cgroup frozen: the next one is refused too
                refused = runtime("create", "--bundle", str(sleeper), "frozen", check=False)
                assert "container's cgroup unexpectedly frozen" in refused.stderr
            assert (freezer / "hdrt-shared").is_dir()  # not ours: left as it was
            assert not (runtime.root / "frozen").exists()
    finally:
        runtime.cleanup()
        for directory in reversed(cgroup_dirs("hdrt-shared")):
            for sub in directory.glob("*/"):
                sub.rmdir()
            directory.rmdir()


def test_unified_resources_refused_on_cgroup_v1(runtime: Runtime, sleeper: Path) -> None:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("a cgroup v2 host takes unified resources")
    config = json.loads((sleeper / "config.json").read_text())
    config["linux"]["resources"]["unified"] = {"memory.high": "1G"}
    (sleeper / "config.json").write_text(json.dumps(config))
    refused = runtime("run", "-d", "--bundle", str(sleeper), "box", check=False)
    assert "cannot use unified on cgroup v1" in refused.stderr
    assert runtime("list", "-q").stdout == ""
