"""podman 4.3 (Debian's) on a private store, for the tests of OCI runtimes.

``Podman(workdir, runtime).start()`` gives podman its own root, runroot, tmpdir, volume and
network config directories under ``workdir``, and its own containers.conf, storage.conf and
registries.conf (``CONTAINERS_CONF`` and friends: no host configuration, no search registries,
no surprises), the cgroupfs cgroup manager, the file events backend, the overlay storage driver
(vfs where overlay does not mount) and ``--runtime PATH`` with the runtime's state root under
``workdir`` too (``--runtime-flag root=``: podman passes none, so runc would use /run/runc).
Images come from a test registry (``pull``, plain http). ``run_flags`` are what each container
needs here: this machine's ulimits (no CAP_SYS_RESOURCE: hard nofile 20000), no network unless
asked, and a cgroup parent of its own (conmon's cgroup goes under it too), removed at the end.

``stop`` removes every container (``rm -af -t 0``), kills the conmons left (their command
line names ``workdir``), unmounts what is mounted under ``workdir``, removes the cgroup parent
and the workdir.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Self

from tests.support.cleanup import remove_tree, unmount_under
from tests.support.containerd import remove_cgroup_parent
from tests.support.images import PushedImage
from tests.support.probes import root_probe
from tests.support.processes import kill_pids, pids_mentioning, run_tool

CGROUP_ROOT = Path("/sys/fs/cgroup")

PROGRAMS = ("podman", "conmon")
# Without CAP_SYS_RESOURCE a runtime cannot raise a limit above the current hard limit.
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")
STORAGE_DRIVERS = ("overlay", "vfs")


class PodmanStartError(RuntimeError):
    """podman does not work with either storage driver."""


def podman_probe() -> str | None:
    missing = [name for name in PROGRAMS if shutil.which(name) is None]
    if missing:
        return f"needs {', '.join(missing)} (apt-get install podman conmon)"
    return root_probe()


class Podman:
    """podman with a private store and configuration, running containers with ``runtime``."""

    def __init__(self, workdir: Path, runtime: Path) -> None:
        self.workdir = workdir
        self.runtime = runtime
        self.storage_driver = STORAGE_DRIVERS[0]
        self.cgroup_parent = f"hybridock-test-podman-{secrets.token_hex(4)}"
        # what /sys/fs/cgroup held before: conmon makes a directory for each v1 controller it
        # knows, mounted or not (hugetlb, net_cls, ... are plain directories on the tmpfs here)
        self.cgroup_root_before = (
            {entry.name for entry in CGROUP_ROOT.iterdir()} if CGROUP_ROOT.is_dir() else set()
        )
        self.env = {
            **{
                k: v for k, v in os.environ.items() if not k.startswith(("CONTAINERS_", "REGISTRY"))
            },
            "CONTAINERS_CONF": str(workdir / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(workdir / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(workdir / "registries.conf"),
        }

    def command(self, *args: str) -> list[str]:
        return [
            "podman",
            f"--root={self.workdir / 'root'}",
            f"--runroot={self.workdir / 'runroot'}",
            f"--tmpdir={self.workdir / 'tmp'}",
            f"--storage-driver={self.storage_driver}",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
            f"--runtime={self.runtime}",
            f"--runtime-flag=root={self.workdir / 'runtime'}",
            *args,
        ]

    def run_flags(self, network: str = "none") -> list[str]:
        """What ``run``/``create`` need here: the ulimits, ``--network``, the cgroup parent."""
        return [*ULIMITS, f"--network={network}", f"--cgroup-parent=/{self.cgroup_parent}"]

    def podman(
        self, *args: str, timeout: float = 300, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``podman ARGS``; with ``check`` a failure raises with stderr."""
        return run_tool(
            "podman", args, self.command(*args), self.env, timeout=timeout, check=check, input=input
        )

    def pull(self, pushed: PushedImage, address: str | None = None) -> str:
        """Pull an image pushed to a test registry (``address``: the registry's own
        host:port); its reference here."""
        name = f"{address or pushed.address}/{pushed.repository}"
        reference = f"{name}:{pushed.tag}" if pushed.tag else f"{name}@{pushed.digest}"
        self.podman("pull", "--quiet", "--tls-verify=false", reference)
        return reference

    def write_config(self) -> None:
        for name in ("tmp", "volumes", "networks"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        (self.workdir / "containers.conf").write_text(
            "[containers]\n"
            'netns = "none"\n'
            f"default_ulimits = {json.dumps(['nofile=1024:1024', 'nproc=4096:4096'])}\n"
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.workdir / "events.log"}"\n'
            f'tmp_dir = "{self.workdir / "tmp"}"\n'
            f'volume_path = "{self.workdir / "volumes"}"\n'
            "[network]\n"
            'network_backend = "netavark"\n'
            f'network_config_dir = "{self.workdir / "networks"}"\n'
        )
        (self.workdir / "storage.conf").write_text(
            "[storage]\n"
            f'driver = "{self.storage_driver}"\n'
            f'graphroot = "{self.workdir / "root"}"\n'
            f'runroot = "{self.workdir / "runroot"}"\n'
        )
        (self.workdir / "registries.conf").write_text("unqualified-search-registries = []\n")

    def start(self) -> Self:
        """Configured, and checked with ``podman info`` (overlay, else vfs)."""
        errors = []
        try:
            for driver in STORAGE_DRIVERS:
                self.storage_driver = driver
                self.write_config()
                result = self.podman("info", "--format", "{{.Store.GraphDriverName}}", check=False)
                if result.returncode == 0:
                    return self
                errors.append(f"{driver}: {result.stderr.strip()[-300:]}")
                unmount_under(self.workdir)
                remove_tree(self.workdir / "root")
        except BaseException:
            self.stop()
            raise
        self.stop()
        raise PodmanStartError("; ".join(errors))

    def stop(self) -> None:
        """Every container removed, what podman left unmounted and removed; safe twice."""
        if (self.workdir / "containers.conf").exists():
            with contextlib.suppress(RuntimeError, OSError, subprocess.TimeoutExpired):
                self.podman("rm", "-af", "-t", "0", check=False)
        kill_pids(pids_mentioning(str(self.workdir), ["conmon"]))
        unmount_under(self.workdir)
        remove_cgroup_parent(self.cgroup_parent)
        self.remove_unmounted_cgroup_dirs()
        remove_tree(self.workdir)

    def remove_unmounted_cgroup_dirs(self) -> None:
        """What conmon made on /sys/fs/cgroup's tmpfs for controllers that are not mounted:
        our parent below each, and the controller's directory when it was not there before."""
        if not CGROUP_ROOT.is_dir():
            return
        for entry in CGROUP_ROOT.iterdir():
            if not entry.is_dir() or entry.is_symlink() or os.path.ismount(entry):
                continue
            shutil.rmtree(entry / self.cgroup_parent, ignore_errors=True)
            if entry.name not in self.cgroup_root_before:
                with contextlib.suppress(OSError):
                    entry.rmdir()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
