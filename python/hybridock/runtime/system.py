"""The host and store facts behind ``info``, ``version`` and ``system df``: what is true of
hybridock here (the kernel, the cgroup version, the store's filesystem), read when asked."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

#: statfs names docker's overlay2 driver reports as "Backing Filesystem", by mount type
BACKING_FILESYSTEMS = {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs", "xfs": "xfs"}
#: Go's GOARCH names, by what uname says
GO_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def tree_size(root: str | Path) -> int:
    """docker's directory.Size: the apparent sizes of what is not a directory, each inode
    once (a container's upper dir, a volume's data)."""
    total, seen = 0, set()
    for directory, _, files in os.walk(root):
        for file in files:
            try:
                status = os.lstat(Path(directory) / file)
            except OSError:
                continue  # gone meanwhile
            if (status.st_dev, status.st_ino) not in seen:
                seen.add((status.st_dev, status.st_ino))
                total += status.st_size
    return total


def _mount_type(path: Path, mountinfo: str) -> str:
    """The filesystem type of the mount that holds ``path`` (the longest mount point above
    it)."""
    best, kind = "", ""
    target = str(path.resolve())
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        point = fields[4].replace("\\040", " ")
        after = fields[fields.index("-") + 1 :]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best) and after:
            best, kind = point, after[0]
    return kind


def backing_filesystem(root: Path) -> str:
    try:
        kind = _mount_type(root, Path("/proc/self/mountinfo").read_text())
    except OSError:
        return "unknown"
    return BACKING_FILESYSTEMS.get(kind, kind or "unknown")


def operating_system(os_release: Iterable[str] | None = None) -> tuple[str, str]:
    """PRETTY_NAME and VERSION_ID of /etc/os-release (docker's OperatingSystem, OSVersion)."""
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text().splitlines()
        except OSError:
            os_release = []
    values = {}
    for line in os_release:
        key, equals, value = line.partition("=")
        if equals:
            values[key.strip()] = value.strip().strip("\"'")
    return values.get("PRETTY_NAME", "Linux"), values.get("VERSION_ID", "")


def memory_total() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_count() -> int:
    """As Go's runtime.NumCPU: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def cgroup_version() -> int | None:
    from hybridock.runtime import cgroups  # noqa: PLC0415

    driver = cgroups.detect()
    return driver.version if driver is not None else None


class Host(NamedTuple):
    kernel: str
    operating_system: str
    os_version: str
    architecture: str  # uname's (x86_64)
    go_architecture: str  # docker's OS/Arch spelling (amd64)
    cpus: int
    memory: int
    name: str
    cgroup_version: int | None
    backing_filesystem: str


def host(root: Path) -> Host:
    uname = os.uname()
    name, version = operating_system()
    return Host(
        kernel=uname.release,
        operating_system=name,
        os_version=version,
        architecture=uname.machine,
        go_architecture=GO_ARCHITECTURES.get(uname.machine, uname.machine),
        cpus=cpu_count(),
        memory=memory_total(),
        name=uname.nodename,
        cgroup_version=cgroup_version(),
        backing_filesystem=backing_filesystem(root),
    )


def python_version() -> str:
    return platform.python_version()
