"""A private docker: Debian's containerd and dockerd 20.10, for tests and the comparison.

``Dockerd(workdir, insecure_registries=[...]).start()`` runs containerd and dockerd with
everything under ``workdir``: sockets, data roots, exec root, pidfile, configs, logs and the
CLI's config. It never touches the host's docker (/var/run/docker.sock, /var/lib/docker) and
stays off the host's network and firewall: no bridge, no iptables or ip6tables rules, no
masquerading, no ip_forward, no userland proxy; containers run with ``--network none`` (or
``host``). Containers' cgroups go under a parent named for this daemon, removed at the end.

``stop`` removes the containers, stops dockerd and containerd by pid (terminate, wait, kill),
kills the shims this containerd left, unmounts whatever is mounted under ``workdir``, removes
the cgroup parent, the workdir and the few host paths the daemons create on their own
(/etc/docker/key.json, /run/containerd/s) when they were not there before. ``start`` does
the same when it fails half way.

``dockerd_probe`` says why dockerd cannot run here (programs missing, no namespaces); the
``dockerd`` test fixture then tries for real and skips with dockerd's own words if it fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from tests.support.cleanup import remove_tree, unmount_under
from tests.support.containerd import (
    CONTAINERD_HOST_PATHS,
    DaemonProcesses,
    DaemonStartError,
    HostPaths,
    kill_shims,
    remove_cgroup_parent,
    start_containerd,
)
from tests.support.images import PushedImage
from tests.support.netns import foreign_interfaces
from tests.support.probes import root_probe
from tests.support.processes import run_tool

DOCKER_CLI = "/usr/bin/docker"  # Debian's client, not whatever else is earlier on PATH
PROGRAMS = ("containerd", "dockerd", "runc", DOCKER_CLI)
STOP_TIMEOUT = 60.0
# Paths dockerd creates whatever its flags say, deepest first: 20.10's libtrust key and its
# plugin socket directory; then containerd's own.
DAEMON_HOST_PATHS = (
    *(
        Path(path)
        for path in ("/etc/docker/key.json", "/etc/docker", "/run/docker/plugins", "/run/docker")
    ),
    *CONTAINERD_HOST_PATHS,
)
CGROUP_ROOT = Path("/sys/fs/cgroup")


class DockerdStartError(DaemonStartError):
    """containerd or dockerd exited or never answered."""


def dockerd_probe() -> str | None:
    """None when a private dockerd may run here, else why not (dockerd itself decides the
    rest: the fixture skips with its words when it does not start)."""
    missing = [name for name in PROGRAMS if shutil.which(name) is None]
    if missing:
        return f"needs {', '.join(missing)} (apt-get install docker.io)"
    return root_probe()


def _ping(path: Path) -> bool:
    """dockerd's API answers ``GET /_ping`` on its unix socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(5)
        connection.connect(str(path))
        connection.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        return connection.recv(64).startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))


class Dockerd:
    """containerd + dockerd, private to ``workdir``; the ``docker`` CLI pointed at them."""

    def __init__(
        self,
        workdir: Path,
        insecure_registries: Sequence[str] = (),
        *,
        bridge: bool = False,
        daemon_args: Sequence[str] = (),
    ) -> None:
        """``bridge``: docker's default bridge network, NAT and port publishing (docker0,
        iptables, ip_forward), for a caller in a network namespace of its own only;
        ``daemon_args`` are added to dockerd's (``--bip=...``)."""
        if bridge and (foreign := foreign_interfaces()):
            raise DockerdStartError(
                f"a bridged dockerd needs a network namespace of its own (found {foreign})"
            )
        self.bridge = bridge
        self.daemon_args = list(daemon_args)
        self.workdir = workdir
        self.insecure_registries = list(insecure_registries)
        self.socket = workdir / "docker.sock"
        self.containerd_socket = workdir / "containerd.sock"
        self.cgroup_parent = f"hybridock-test-dockerd-{secrets.token_hex(4)}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS", "DOCKER_CERT"))
        }
        self.env["DOCKER_CONFIG"] = str(workdir / "cli")
        self.daemons = DaemonProcesses(workdir, self.env, DockerdStartError)
        self.host_paths = HostPaths(DAEMON_HOST_PATHS)

    # --- the CLI ---

    def command(self, *args: str) -> list[str]:
        return [DOCKER_CLI, "--host", f"unix://{self.socket}", *args]

    def cli(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``docker ARGS`` against this daemon; with ``check`` a failure raises with stderr."""
        return run_tool("docker", args, self.command(*args), self.env, timeout=timeout, check=check)

    def load(self, pushed: PushedImage, address: str | None = None) -> str:
        """Pull an image pushed to a test registry (from ``address``, the registry's own
        host:port, when given); the reference this daemon knows it by."""
        reference = f"{address or pushed.address}/{pushed.repository}:{pushed.tag or 'latest'}"
        if pushed.tag is None:
            reference = f"{address or pushed.address}/{pushed.repository}@{pushed.digest}"
        self.cli("pull", "--quiet", reference)
        return reference

    # --- lifecycle ---

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "cli").mkdir(exist_ok=True)
        start_containerd(self.daemons, self.containerd_socket)
        daemon_json = self.workdir / "daemon.json"
        daemon_json.write_text("{}\n")
        dockerd = self.daemons.spawn(
            [
                "dockerd",
                f"--config-file={daemon_json}",
                f"--data-root={self.workdir / 'data'}",
                f"--exec-root={self.workdir / 'exec'}",
                f"--pidfile={self.workdir / 'docker.pid'}",
                f"--host=unix://{self.socket}",
                f"--containerd={self.containerd_socket}",
                f"--cgroup-parent=/{self.cgroup_parent}",
                "--exec-opt=native.cgroupdriver=cgroupfs",
                *(
                    ()
                    if self.bridge
                    else (
                        "--bridge=none",
                        "--iptables=false",
                        "--ip-masq=false",
                        "--ip-forward=false",
                        "--userland-proxy=false",
                    )
                ),
                "--ip6tables=false",
                "--storage-driver=overlay2",
                *(f"--insecure-registry={registry}" for registry in self.insecure_registries),
                *self.daemon_args,
            ],
            "dockerd.log",
        )
        self.daemons.wait(lambda: _ping(self.socket), "dockerd", dockerd, "dockerd.log")

    def stop(self) -> None:
        """Stop everything this daemon started and remove what it left; safe to call twice."""
        if self.daemons.running():
            try:
                ids = self.cli("ps", "-aq", timeout=60).stdout.split()
                if ids:
                    self.cli("rm", "-f", *ids, timeout=STOP_TIMEOUT)
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                pass  # stopping the daemons below kills the containers anyway
        self.daemons.stop_all()
        kill_shims(self.containerd_socket)
        unmount_under(self.workdir)
        remove_cgroup_parent(self.cgroup_parent)
        self.host_paths.remove_new()
        remove_tree(self.workdir)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
