"""The peers and their private plumbing: nothing here touches the host's docker or podman.

- ``install_peers``: ``apt-get install -y`` for the Debian packages whose programs are missing.
- ``Processes``: every long-lived process started here, stopped by pid in reverse order
  (terminate, wait, kill), also when the comparison fails or is interrupted.
- ``Docker``: the tests' private containerd and dockerd 20.10 (tests/support/dockerd.py: sockets,
  data and exec roots under one work dir, off the host's network and firewall).
- ``Podman``: podman with ``--root``/``--runroot`` under a work dir and its own containers.conf,
  storage.conf and registries.conf, every command run (``nsenter``) inside one private mount
  namespace where the cgroup2 mount of a hybrid cgroup host is unmounted: crun refuses hybrid
  cgroups otherwise. The namespace is held by a ``sleep`` started with ``unshare``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.cleanup import unmount_under
from tests.support.dockerd import Dockerd
from tests.support.netns import foreign_interfaces
from tests.support.processes import kill_pids, pids_mentioning, stop_process

from comparison.runner import CommandFailed, log, run_command

PACKAGES = {
    "dockerd": "docker.io",
    "podman": "podman",
    "buildah": "buildah",
    "skopeo": "skopeo",
    "umoci": "umoci",
    "runc": "runc",
    "crun": "crun",
    "pigz": "pigz",
    "zstd": "zstd",
    "conmon": "conmon",
}
# Without CAP_SYS_RESOURCE a runtime cannot raise a limit above the current hard limit.
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")
READY_TIMEOUT = 60.0


def install_peers() -> list[str]:
    """Install the Debian packages whose programs are missing; the packages installed."""
    missing = sorted(
        {package for program, package in PACKAGES.items() if not shutil.which(program)}
    )
    if missing:
        log(f"apt-get install -y {' '.join(missing)}")
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run_command(["apt-get", "install", "-y", *missing], env=environment, timeout=1800)
    return missing


def available(*programs: str) -> bool:
    return all(shutil.which(program) for program in programs)


@dataclass
class Processes:
    """Long-lived processes started by the comparison, stopped by pid, newest first."""

    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        command: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        with log_path.open("ab") as output:
            process = subprocess.Popen(
                list(command),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((name, process))
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
        stop_process(process, timeout)
        self.started = [(n, p) for n, p in self.started if p is not process]

    def stop_all(self) -> None:
        for _name, process in reversed(list(self.started)):
            self.stop(process)


def wait_for(check: object, what: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{what} exited: {tail}")
        try:
            if callable(check) and check():
                return
        except Exception:  # noqa: S110 - not ready yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {READY_TIMEOUT:.0f}s")
        time.sleep(0.2)


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (podman's API service)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=300)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)

    @classmethod
    def ping(cls, path: str) -> bool:
        connection = cls(path)
        try:
            connection.request("GET", "/_ping")
            return connection.getresponse().status == 200
        finally:
            connection.close()


class Docker(Dockerd):
    """The tests' private docker (tests/support/dockerd.py), its CLI run the comparison's way."""

    def __init__(self, workdir: Path, registry: str) -> None:
        # docker's bridge where the comparison has a network namespace of its own
        super().__init__(workdir, insecure_registries=[registry], bridge=not foreign_interfaces())

    def run(self, *args: str, capture: bool = False, timeout: float = 900) -> str:
        return run_command(self.command(*args), env=self.env, capture=capture, timeout=timeout)


@dataclass(frozen=True)
class CgroupMounts:
    cgroup2: list[str]
    cgroup1: list[str]

    @property
    def hybrid(self) -> bool:
        return bool(self.cgroup2) and bool(self.cgroup1)


def cgroup_mounts() -> CgroupMounts:
    cgroup2, cgroup1 = [], []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype == "cgroup2":
            cgroup2.append(fields[4])
        elif fstype == "cgroup":
            cgroup1.append(fields[4])
    return CgroupMounts(cgroup2, cgroup1)


def hidden_cgroup2_namespace(
    processes: Processes, log_path: Path
) -> subprocess.Popen[bytes] | None:
    """On a hybrid cgroup host, a mount namespace where the cgroup2 mounts are unmounted (crun
    refuses hybrid cgroups), held by a ``sleep`` started with ``unshare``; enter it with
    ``nsenter --target=PID --mount``. None where cgroups are not hybrid."""
    mounts = cgroup_mounts()
    if not mounts.hybrid:
        return None
    unmounts = " && ".join(f"umount '{point}'" for point in mounts.cgroup2)
    holder = processes.spawn(
        "cgroup2-hidden-namespace",
        [
            "unshare",
            "--mount",
            "--propagation=private",
            "--",
            "sh",
            "-c",
            f"{unmounts} && exec sleep infinity",
        ],
        log_path,
    )
    wait_for(
        lambda: (
            "cgroup2" not in Path(f"/proc/{holder.pid}/mountinfo").read_text()
            and Path(f"/proc/{holder.pid}/comm").read_text().strip() == "sleep"
        ),
        "a mount namespace without cgroup2",
        holder,
        log_path,
    )
    return holder


def namespace_prefix(holder: subprocess.Popen[bytes] | None) -> list[str]:
    """``nsenter`` into ``hidden_cgroup2_namespace``'s namespace (nothing when there is none)."""
    if holder is None:
        return []
    return ["nsenter", f"--target={holder.pid}", "--mount", "--"]


class Podman:
    """podman with a private store and config, inside a private mount namespace."""

    def __init__(self, workdir: Path, registry: str, processes: Processes) -> None:
        self.workdir = workdir
        self.registry = registry
        self.processes = processes
        self.holder: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(workdir / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(workdir / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(workdir / "registries.conf"),
        }

    @property
    def root(self) -> Path:
        return self.workdir / "root"

    def namespace_prefix(self) -> list[str]:
        return namespace_prefix(self.holder)

    def command(self, *args: str) -> list[str]:
        return [
            *self.namespace_prefix(),
            "podman",
            f"--root={self.root}",
            f"--runroot={self.workdir / 'runroot'}",
            "--storage-driver=overlay",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            f"--tmpdir={self.workdir / 'tmp'}",
            *args,
        ]

    def run(self, *args: str, capture: bool = False, timeout: float = 900) -> str:
        return run_command(self.command(*args), env=self.env, capture=capture, timeout=timeout)

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "containers.conf").write_text(
            "[containers]\n"
            'netns = "none"\n'
            f"default_ulimits = {json.dumps(['nofile=1024:1024', 'nproc=4096:4096'])}\n"
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'tmp_dir = "{self.workdir / "tmp"}"\n'
            f'volume_path = "{self.workdir / "volumes"}"\n'
            'runtime = "crun"\n'
            "[network]\n"
            f'network_config_dir = "{self.workdir / "networks"}"\n'
        )
        (self.workdir / "storage.conf").write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{self.root}"\n'
            f'runroot = "{self.workdir / "runroot"}"\n'
        )
        (self.workdir / "registries.conf").write_text(
            "unqualified-search-registries = []\n"
            f'[[registry]]\nlocation = "{self.registry}"\ninsecure = true\n'
        )

    def start(self) -> Podman:
        self.write_config()
        self.holder = hidden_cgroup2_namespace(self.processes, self.workdir / "holder.log")
        self.run("info", capture=True, timeout=120)
        return self

    def create_many(self, reference: str, count: int, workers: int) -> None:
        """``podman create`` ``count`` times, ``workers`` at a time, through podman's own API
        service on a private socket: the container creation the CLI does, without a podman
        process (and its store initialisation) per container."""
        socket_path = self.workdir / "api.sock"
        log_path = self.workdir / "service.log"
        service = self.processes.spawn(
            "podman-service",
            self.command("system", "service", "--time=0", f"unix://{socket_path}"),
            log_path,
            env=self.env,
        )
        body = json.dumps(
            {
                "image": reference,
                "netns": {"nsmode": "none"},
                "r_limits": [
                    {"type": "nofile", "soft": 1024, "hard": 1024},
                    {"type": "nproc", "soft": 4096, "hard": 4096},
                ],
            }
        )

        def create(_: int) -> None:
            connection = _UnixHTTPConnection(str(socket_path))
            try:
                connection.request(
                    "POST",
                    "/v4.0.0/libpod/containers/create",
                    body,
                    {"Content-Type": "application/json"},
                )
                response = connection.getresponse()
                answer = response.read()
            finally:
                connection.close()
            if response.status != 201:
                raise CommandFailed(f"podman API create: HTTP {response.status}: {answer[:300]!r}")

        try:
            wait_for(
                lambda: _UnixHTTPConnection.ping(str(socket_path)),
                "podman system service",
                service,
                log_path,
            )
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(create, range(count)))
        finally:
            self.processes.stop(service)

    def stop(self) -> None:
        try:
            self.run("rm", "-af", "-t", "0", timeout=300)
        except Exception as error:  # the conmons are killed below anyway
            log(f"podman rm at the end: {error}")
        kill_pids(pids_mentioning(str(self.workdir), ["conmon"]))
        if self.holder is not None:
            self.processes.stop(self.holder)
            self.holder = None
        unmount_under(self.workdir)
