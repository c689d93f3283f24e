"""The host and store facts behind ``info``, ``version`` and ``system df``: what is true of
hybridock here (the kernel, the cgroup version, the store's filesystem), read when asked."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hybridock.errors import ConfigError

if TYPE_CHECKING:
    from hybridock.config import Config
    from hybridock.runtime.containers import Container
    from hybridock.runtime.volumes import Volume
    from hybridock.store.images import ImageRecord, RemovalReport

#: statfs names docker's overlay2 driver reports as "Backing Filesystem", by mount type
BACKING_FILESYSTEMS = {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs", "xfs": "xfs"}
#: Go's GOARCH names, by what uname says
GO_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


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


class HistoryEntry(NamedTuple):
    """One step of an image's history (``history``): what made it and the bytes it added."""

    id: str  # the image's id for the newest step, else "<missing>"
    created: str  # RFC 3339, as the config has it
    created_by: str
    size: int
    comment: str
    tags: tuple[str, ...]


def epoch(text: str | None) -> float | None:
    """An image config's RFC 3339 ``created`` as Unix seconds (None when absent or odd)."""
    if not text:
        return None
    from datetime import datetime  # noqa: PLC0415

    head, _, fraction = text.replace("Z", "+00:00").partition(".")
    zone = fraction.lstrip("0123456789")
    try:
        return datetime.fromisoformat(head + zone).timestamp()
    except ValueError:
        return None


class PruneFilter(NamedTuple):
    """``system prune --filter``: docker's ``label``, ``label!`` and ``until``."""

    filters: Mapping[str, Sequence[str]]
    until: int | None  # Unix nanoseconds: only what was created before

    @classmethod
    def parse(cls, filters: Mapping[str, Sequence[str]]) -> PruneFilter:
        wanted = {key: list(values) for key, values in filters.items() if values}
        for key in wanted:
            if key not in ("label", "label!", "until"):
                raise ConfigError(f"Invalid filter '{key}'")
        until = min((int(value) for value in wanted.get("until", ())), default=None)
        return cls(wanted, until)

    def takes(self, labels: Mapping[str, str] | None, created: float | None) -> bool:
        if self.until is not None and created is not None and created * 10**9 >= self.until:
            return False
        present = labels or {}
        for label in self.filters.get("label", ()):
            key, equals, value = label.partition("=")
            if key not in present or (equals and present[key] != value):
                return False
        for label in self.filters.get("label!", ()):
            key, equals, value = label.partition("=")
            if key in present and (not equals or present[key] == value):
                return False
        return True


class SystemPruneReport(NamedTuple):
    """What ``system prune`` removed, and the bytes it freed."""

    containers: list[str]
    networks: list[str]
    volumes: list[str]
    images: RemovalReport
    reclaimed: int


class ImageUsage(NamedTuple):
    image: ImageRecord
    size: int
    shared_size: int  # of layers other images use too
    containers: int


class ContainerUsage(NamedTuple):
    container: Container
    size: int  # what it wrote: its upper dir


class VolumeUsage(NamedTuple):
    volume: Volume
    size: int
    users: int


class DiskUsage(NamedTuple):
    """``system df``: the store's images, containers and volumes with their sizes."""

    layers_size: int  # every layer once
    images: list[ImageUsage]
    containers: list[ContainerUsage]
    volumes: list[VolumeUsage]
    build_cache: tuple[int, int, int] = (0, 0, 0)  # entries, active ones, bytes only it keeps


class Counts(NamedTuple):
    containers: int
    running: int  # and not paused
    paused: int
    images: int


def info_document(root: Path, counts: Counts, config: Config, version: str) -> dict[str, Any]:
    """docker's ``info`` document with hybridock's facts (``version``: hybridock's)."""
    facts = host(root)
    security = ["name=seccomp,profile=default"]
    if facts.cgroup_version == 2:
        security.append("name=cgroupns")
    mirrors = sorted({url for urls in config.registry_mirrors.values() for url in urls})
    return {
        "Containers": counts.containers,
        "ContainersRunning": counts.running,
        "ContainersPaused": counts.paused,
        "ContainersStopped": counts.containers - counts.running - counts.paused,
        "Images": counts.images,
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", facts.backing_filesystem],
            ["Supports d_type", "true"],
        ],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": None,
            "Log": ["json-file"],
        },
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs" if facts.cgroup_version else "none",
        "CgroupVersion": str(facts.cgroup_version or ""),
        "KernelVersion": facts.kernel,
        "OperatingSystem": facts.operating_system,
        "OSVersion": facts.os_version,
        "OSType": "linux",
        "Architecture": facts.architecture,
        "NCPU": facts.cpus,
        "MemTotal": facts.memory,
        "DockerRootDir": str(root),
        "Name": facts.name,
        "ServerVersion": version,
        "Runtimes": {"hybridock": {"path": "hybridock"}},
        "DefaultRuntime": "hybridock",
        "InitBinary": "hybridock-init",
        "SecurityOptions": security,
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "InsecureRegistries": sorted(config.insecure_registries),
            "Mirrors": mirrors,
        },
        "Swarm": {"LocalNodeState": "inactive"},
        "Debug": False,
        "ExperimentalBuild": False,
        "LiveRestoreEnabled": False,
        "Warnings": [],
    }


def version_document(version: str) -> dict[str, Any]:
    """docker's ``version`` document: hybridock is client and engine at once."""
    uname = os.uname()
    architecture = GO_ARCHITECTURES.get(uname.machine, uname.machine)
    python = python_version()
    engine = {
        "Name": "Engine",
        "Version": version,
        "Details": {
            "Arch": architecture,
            "Experimental": "false",
            "KernelVersion": uname.release,
            "Os": "linux",
            "PythonVersion": python,
        },
    }
    return {
        "Client": {
            "Platform": {"Name": "hybridock"},
            "Version": version,
            "PythonVersion": python,
            "Os": "linux",
            "Arch": architecture,
            "Context": "default",
        },
        "Server": {
            "Platform": {"Name": "hybridock"},
            "Components": [engine],
            "Version": version,
            "PythonVersion": python,
            "Os": "linux",
            "Arch": architecture,
            "KernelVersion": uname.release,
        },
    }


# --- stats: what a sample of a container's counters is read beside ---------------------------


class HostCounters(NamedTuple):
    """The host's side of a stats sample: docker's ``system_cpu_usage`` (every CPU's time
    since boot, in nanoseconds), ``online_cpus``, and the memory an unlimited container may
    use (``MemTotal``)."""

    memory: int
    cpu_time_ns: int
    online_cpus: int


def host_counters() -> HostCounters:
    memory = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
                break
    ticks = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu "):
                ticks = sum(int(field) for field in line.split()[1:8])
                break
    per_second = os.sysconf("SC_CLK_TCK")
    online = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return HostCounters(memory, ticks * (10**9 // per_second), online)


def network_bytes(container: Container) -> tuple[int, int]:
    """Received and sent bytes of the container's own interfaces (loopback left out)."""
    if not container.running or container.config.network == "host" or not container.pid:
        return 0, 0
    received = sent = 0
    try:
        lines = Path(f"/proc/{container.pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return 0, 0
    for line in lines:
        interface, _, counters = line.partition(":")
        fields = counters.split()
        if interface.strip() != "lo" and len(fields) >= 9:
            received += int(fields[0])
            sent += int(fields[8])
    return received, sent
