"""The kernel's side of cgroups: where the filesystems are mounted, and their files.

Discovery reads /proc/self/mountinfo and /proc/self/cgroup (never guesses a path). The helpers
read and write control files, make directories (v1 cpuset ones get their parent's cpus and
mems, which the kernel leaves empty), delegate v2 controllers, and remove a cgroup once the
processes in it are gone. ``cgroups.py`` builds containers' cgroups from these.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from hybridock.errors import ConfigError
from hybridock.runtime.resources import parse_cpu_list

#: super options of a v1 cgroup mount that say how it is mounted, not which hierarchy it is
NOT_A_HIERARCHY = ("rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode")


class CgroupError(ConfigError):
    """A limit that cannot be applied, or a cgroup that cannot be made: never ignored."""


class DevicesUnconfined(CgroupError):
    """The device program a container's devices depend on cannot be put on its cgroup: the
    container does not start (a container without limits that gets no cgroup at all is another
    case, see ``cgroups.setup``)."""


# --- discovery --------------------------------------------------------------------------------


def in_user_namespace() -> bool:
    """Whether this process runs in a user namespace other than the host's, as runc tells
    (``RunningInUserNS``): the host's maps every id to itself."""
    try:
        return Path("/proc/self/uid_map").read_text().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


class Mount(NamedTuple):
    point: Path
    root: str  # the mount's root within the hierarchy (mountinfo field 4)
    version: int
    #: v1: what names the hierarchy in /proc/PID/cgroup ("cpu", "cpuacct", "name=systemd")
    controllers: frozenset[str] = frozenset()


def hierarchy_options(super_options: str) -> list[str]:
    """The options of a v1 cgroup mount that name its hierarchy: its controllers, and
    ``name=...`` for a named hierarchy without any (systemd's)."""
    return [
        option
        for option in super_options.split(",")
        if option not in NOT_A_HIERARCHY and not option.startswith("release_agent=")
    ]


def parse_mountinfo(text: str) -> list[Mount]:
    """The cgroup and cgroup2 mounts of a /proc/PID/mountinfo."""
    mounts = []
    for line in text.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        point = Path(fields[4].replace("\\040", " "))
        if tail[0] == "cgroup2":
            mounts.append(Mount(point, fields[3], 2))
        elif tail[0] == "cgroup":
            options = hierarchy_options(tail[2])
            if options:
                mounts.append(Mount(point, fields[3], 1, frozenset(options)))
    return mounts


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/PID/cgroup: controller -> path (v2's line under the key "")."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def within(mount: Mount, own_path: str) -> Path:
    """Where a path of /proc/PID/cgroup is under a mount of its hierarchy (whose root may be
    a subtree, as inside a cgroup namespace)."""
    relative = own_path
    if mount.root != "/" and (own_path == mount.root or own_path.startswith(mount.root + "/")):
        relative = own_path[len(mount.root) :]
    return mount.point / relative.lstrip("/")


# --- files ------------------------------------------------------------------------------------


def read(path: Path) -> str:
    return path.read_text().strip()


def read_int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0  # "max"


def io_stat_bytes(text: str) -> tuple[int, int]:
    read = written = 0
    for line in text.splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if key == "rbytes":
                read += int(value)
            elif key == "wbytes":
                written += int(value)
    return read, written


def blkio_bytes(text: str) -> tuple[int, int]:
    read = written = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "Read":
            read += int(parts[2])
        elif len(parts) == 3 and parts[1] == "Write":
            written += int(parts[2])
    return read, written


def mkdir(path: Path) -> bool:
    """mkdir; False if it already existed."""
    try:
        path.mkdir()
    except FileExistsError:
        return False
    return True


def make_v1_directories(directory: Path, *, cpuset: bool) -> None:
    """mkdir -p, giving each cpuset directory on the way its parent's cpus and mems (v1 starts
    them empty, and an empty cpuset cannot take a process: ENOSPC).

    The fill covers every directory up to the first ancestor that has both, not only the ones
    made here: another process may have just made ``hybridock/`` and not filled it yet, and a
    child copied from it would stay empty. Concurrent fillers write the same values."""
    missing: list[Path] = []
    for candidate in [directory, *directory.parents]:
        if candidate.exists():
            break
        missing.append(candidate)
    for path in reversed(missing):
        mkdir(path)
    if not cpuset:
        return
    empty: list[Path] = []
    for path in [directory, *directory.parents]:
        if read(path / "cpuset.cpus") and read(path / "cpuset.mems"):
            break
        empty.append(path)
    for path in reversed(empty):
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not read(path / name):
                (path / name).write_text(read(path.parent / name))


def enable_controllers(directory: Path, wanted: list[str], required: set[str]) -> None:
    """Delegate controllers to the children: all wanted in one write; if the kernel refuses
    (e.g. cpu with realtime threads around), the required ones, then the rest one by one
    (those only feed ``stats``)."""
    control = directory / "cgroup.subtree_control"
    enabled = set(read(control).split())
    missing = [name for name in wanted if name not in enabled]
    if not missing:
        return
    with contextlib.suppress(OSError):
        control.write_text(" ".join(f"+{name}" for name in missing))
        return
    needed = [name for name in missing if name in required]
    try:
        if needed:
            control.write_text(" ".join(f"+{name}" for name in needed))
    except OSError as error:
        raise CgroupError(
            f"cannot enable the {', '.join(needed)} controllers in {directory}: {error.strerror}"
        ) from error
    for name in missing:
        if name not in required:
            with contextlib.suppress(OSError):
                control.write_text(f"+{name}")


def check_cpus(requested: str, parent: Path) -> None:
    """docker's check: the CPUs must be among those the parent cgroup may use."""
    for name in ("cpuset.effective_cpus", "cpuset.cpus.effective", "cpuset.cpus"):
        with contextlib.suppress(OSError):
            text = read(parent / name)
            if text:
                break
    else:
        return  # nothing to check against: the kernel will refuse what it cannot do
    available = set(parse_cpu_list(text))
    if not set(parse_cpu_list(requested)) <= available:
        raise CgroupError(
            f"Requested CPUs are not available - requested {requested}, available: {text}"
        )


def _pids(directory: Path) -> Iterator[int]:
    with contextlib.suppress(OSError):
        for line in read(directory / "cgroup.procs").split():
            yield int(line)


def remove_directory(directory: Path, timeout: float = 5.0) -> None:
    if not directory.exists():
        return
    kill_file = directory / "cgroup.kill"
    deadline = time.monotonic() + timeout
    while True:
        if kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        else:
            for pid in _pids(directory):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        try:
            directory.rmdir()
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY or time.monotonic() >= deadline:
                raise CgroupError(f"cannot remove cgroup {directory}: {error.strerror}") from error
            time.sleep(0.02)
            continue
        return
