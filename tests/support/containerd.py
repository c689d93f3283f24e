"""A private containerd 1.6 (Debian's), for the tests of OCI runtimes and for dockerd.

``Containerd(workdir).start()`` runs containerd with everything under ``workdir``: its config,
root, state, grpc and ttrpc sockets, log; the CRI plugin and the opt plugin off, overlayfs the
snapshotter. ``ctr`` is pointed at its socket and at a namespace of its own, which names the
cgroup parent of its containers (ctr's default cgroupsPath is ``/NAMESPACE/ID``).
``pull`` takes an image from a test registry (plain http).

``stop`` kills and deletes the tasks and containers, stops containerd by pid (terminate, wait,
kill), kills the shims it left, unmounts whatever is mounted under ``workdir``, removes the
cgroups under its parent, the runtime root of its namespace (/run/containerd/runc/NAMESPACE),
the workdir and the host paths containerd makes on its own (/run/containerd/s, /opt/containerd)
when they were not there before. ``start`` does the same
when it fails half way.

The parts dockerd.py shares: ``DaemonProcesses`` (spawned by pid, waited for, stopped),
``write_containerd_config``, ``remove_cgroup_parent``, ``HostPaths``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

from tests.support.cleanup import remove_tree, unmount_under
from tests.support.images import PushedImage
from tests.support.probes import root_probe
from tests.support.processes import kill_pids, pids_mentioning, run_tool, stop_process

PROGRAMS = ("containerd", "ctr", "containerd-shim-runc-v2")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
SHIMS = ("containerd-shim", "containerd-shim-runc-v2")
# What containerd makes whatever its config says, deepest first: the shims' socket directory
# (containerd 1.6 keeps them under /run/containerd/s), the runc shim's runtime root (one
# directory per namespace: RUNTIME_ROOT), ctr's stdio fifos, and the opt plugin's directory
# (disabled here, in case it loads anyway).
RUNTIME_ROOT = Path("/run/containerd/runc")
CONTAINERD_HOST_PATHS = tuple(
    Path(path)
    for path in (
        "/run/containerd/s",
        "/run/containerd/fifo",
        str(RUNTIME_ROOT),
        "/run/containerd",
        "/opt/containerd/bin",
        "/opt/containerd/lib",
        "/opt/containerd",
    )
)


class DaemonStartError(RuntimeError):
    """A daemon exited or never answered."""


def containerd_probe() -> str | None:
    """None when a private containerd may run here, else why not."""
    missing = [name for name in PROGRAMS if shutil.which(name) is None]
    if missing:
        return f"needs {', '.join(missing)} (apt-get install containerd)"
    return root_probe()


def cgroup_hierarchies() -> list[Path]:
    """The mounted cgroup hierarchies (v1 controllers and the unified one)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype in {"cgroup", "cgroup2"}:
            points.append(Path(fields[4]))
    return points


def remove_cgroup_parent(name: str) -> None:
    """``name`` and the cgroups below it, in every hierarchy, deepest first (empty ones only:
    a cgroup with a process left in it stays, for a test to find)."""
    for hierarchy in cgroup_hierarchies():
        parent = hierarchy / name
        if not parent.is_dir():
            continue
        for directory, _, _ in sorted(os.walk(parent), key=lambda e: -len(e[0])):
            with contextlib.suppress(OSError):
                Path(directory).rmdir()


class HostPaths:
    """Host paths a daemon makes on its own: those missing before are removed after (a
    directory only when empty: another daemon may be using it)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = tuple(paths)
        self.before = {path for path in self.paths if path.exists()}

    def remove_new(self) -> None:
        for path in self.paths:
            if path in self.before or not path.exists():
                continue
            with contextlib.suppress(OSError):
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()


def write_containerd_config(workdir: Path, socket: Path) -> Path:
    """containerd's config.toml: root, state and sockets under ``workdir``, no CRI, no opt,
    no debug or metrics listener (overlayfs, the default snapshotter)."""
    config = workdir / "containerd.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{workdir / "containerd-root"}"\n'
        f'state = "{workdir / "containerd-state"}"\n'
        # cri serves kubelets; opt installs binaries into /opt/containerd
        'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]\n'
        f'[grpc]\n  address = "{socket}"\n'
        f'[ttrpc]\n  address = "{socket}.ttrpc"\n'
        '[debug]\n  address = ""\n'
        '[metrics]\n  address = ""\n'
    )
    return config


class DaemonProcesses:
    """Daemons started in ``workdir``, each logging to a file there; stopped by pid, newest
    first. One that exits or never answers raises ``error``."""

    def __init__(
        self, workdir: Path, env: dict[str, str], error: type[DaemonStartError] = DaemonStartError
    ) -> None:
        self.workdir = workdir
        self.env = env
        self.error = error
        self.started: list[subprocess.Popen[bytes]] = []

    def spawn(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with (self.workdir / log_name).open("ab") as output:
            process = subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.workdir,
            )
        self.started.append(process)
        return process

    def wait(
        self,
        ready: Callable[[], bool],
        what: str,
        process: subprocess.Popen[bytes],
        log_name: str,
    ) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                raise self.error(f"{what} exited: {self.log_tail(log_name)}")
            with contextlib.suppress(OSError):
                if ready():
                    return
            if time.monotonic() > deadline:
                raise self.error(
                    f"{what} not ready after {READY_TIMEOUT:.0f}s: {self.log_tail(log_name)}"
                )
            time.sleep(0.1)

    def log_tail(self, log_name: str) -> str:
        try:
            lines = (self.workdir / log_name).read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:]) or "no output"

    def running(self) -> bool:
        return bool(self.started) and self.started[-1].poll() is None

    def stop_all(self) -> None:
        for process in reversed(self.started):
            stop_process(process, STOP_TIMEOUT)
        self.started.clear()


def start_containerd(daemons: DaemonProcesses, socket: Path) -> subprocess.Popen[bytes]:
    """containerd with ``write_containerd_config``'s config, waited for until its socket is
    there."""
    config = write_containerd_config(daemons.workdir, socket)
    process = daemons.spawn(["containerd", "--config", str(config)], "containerd.log")
    daemons.wait(socket.exists, "containerd", process, "containerd.log")
    return process


def kill_shims(socket: Path) -> None:
    """The shims of the containerd on ``socket`` (they name its address on their command line)."""
    kill_pids(pids_mentioning(str(socket), SHIMS))


class Containerd:
    """containerd, private to ``workdir``; ``ctr`` pointed at it and a namespace of its own."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.socket = workdir / "containerd.sock"
        self.namespace = f"hybridock-test-{secrets.token_hex(4)}"
        env = {key: value for key, value in os.environ.items() if not key.startswith("CONTAINERD")}
        self.daemons = DaemonProcesses(workdir, env)
        self.host_paths = HostPaths(CONTAINERD_HOST_PATHS)

    # --- ctr ---

    def command(self, *args: str) -> list[str]:
        return ["ctr", "--address", str(self.socket), "--namespace", self.namespace, *args]

    def ctr(
        self, *args: str, timeout: float = 300, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``ctr ARGS`` against this containerd; with ``check`` a failure raises with stderr."""
        return run_tool(
            "ctr",
            args,
            self.command(*args),
            self.daemons.env,
            timeout=timeout,
            check=check,
            input=input,
        )

    def pull(self, pushed: PushedImage, address: str | None = None) -> str:
        """Pull an image pushed to a test registry (from ``address``, the registry's own
        host:port, when given) over plain http; its reference here."""
        name = f"{address or pushed.address}/{pushed.repository}"
        reference = f"{name}:{pushed.tag}" if pushed.tag else f"{name}@{pushed.digest}"
        return self.pull_reference(reference)

    def pull_reference(self, reference: str) -> str:
        """``ctr images pull --plain-http REFERENCE`` (a test registry's): the reference."""
        self.ctr("images", "pull", "--plain-http", reference)
        return reference

    def ids(self, kind: str) -> list[str]:
        """The ids ``ctr KIND ls -q`` lists (tasks, containers, images)."""
        listing = self.ctr(kind, "ls", "-q", check=False, timeout=60).stdout
        return listing.split()

    # --- lifecycle ---

    def start(self) -> Self:
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            start_containerd(self.daemons, self.socket)
        except BaseException:
            self.stop()
            raise
        return self

    def remove_containers(self) -> None:
        """Every task killed and deleted, every container deleted (what a failed test left)."""
        for task in self.ids("tasks"):
            self.ctr("tasks", "kill", "--signal", "SIGKILL", task, check=False, timeout=60)
            self.ctr("tasks", "delete", "--force", task, check=False, timeout=60)
        for container in self.ids("containers"):
            self.ctr("containers", "delete", container, check=False, timeout=60)

    def stop(self) -> None:
        """Stop everything this containerd started and remove what it left; safe twice."""
        if self.daemons.running():
            with contextlib.suppress(RuntimeError, OSError, subprocess.TimeoutExpired):
                self.remove_containers()
        self.daemons.stop_all()
        kill_shims(self.socket)
        unmount_under(self.workdir)
        remove_cgroup_parent(self.namespace)
        remove_tree(RUNTIME_ROOT / self.namespace)
        self.host_paths.remove_new()
        remove_tree(self.workdir)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
