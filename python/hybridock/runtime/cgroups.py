"""Control groups for containers, v1 and v2: create, limit, join, measure, detect OOM, remove.

The driver is chosen from /proc/self/mountinfo, never guessed: v1 when cgroup v1 hierarchies
with controllers are mounted (a "hybrid" host whose cgroup2 mount has no controllers is v1, as
runc decides), else v2 when a cgroup2 mount has controllers.

Where a container's cgroup lives:
- v1: ``<our own cgroup in that hierarchy>/hybridock/<id>`` in every mounted hierarchy, as runc
  makes it: the limits' controllers, the others (``devices``, which gets docker's device
  rules, ``freezer``), named ones (``name=systemd``) and, on a hybrid host, the cgroup2 mount
  (no controllers there: it only groups). v1 allows processes in inner nodes, so nesting below
  the caller keeps whatever limits the caller is under (a session's or a service's memory
  cgroup) and its accounting.
- v2: ``<cgroup2 mount>/hybridock/<id>``. v2 forbids processes in a cgroup that delegates
  controllers to children ("no internal processes"), so the subtree hangs from the root (which
  is exempt), like runc's cgroupfs driver does; the needed controllers are enabled in the
  root's and in hybridock's ``cgroup.subtree_control``.

The directories are recorded in ``<container dir>/cgroup.json`` when made, so whoever removes
them later (``rm``, ``ps`` folding a detached exit in, an attached CLI) does not recompute
paths from its own cgroup. The container's first process joins the cgroup before exec (the
spawner writes "0" to the files of ``join_files``), so limits apply from its first instruction.
On v1 that file is ``tasks``, not ``cgroup.procs``: the process is single-threaded then, so
moving its one thread moves the process, and the kernel moves the writer itself without
taking the global threadgroup lock, whose RCU grace period made each ``cgroup.procs`` write
cost ~2 ms (measured: six controllers were 10 ms of every ``run``).

Devices: v1's ``devices`` controller gets docker's default rules (deny all, then allow the
standard nodes, any mknod, and ptys), or all devices with ``--privileged``. Without them the
default CAP_MKNOD would let a container make and open a node of the host's disk. cgroup2 has no
devices files: the container's cgroup2 directory (v2's, or a hybrid host's that only groups)
gets the same rules as a BPF_PROG_TYPE_CGROUP_DEVICE program (``_native.attach_device_filter``,
runc's devicefilter), attached before the spawn, so the container is born confined; none with
``--privileged`` (allowing all adds nothing to the programs above). The program goes with the
cgroup's directory. Where it is the only confinement (v2, or no v1 devices hierarchy), a
kernel that refuses it fails the start, as runc does, rather than running the container
unconfined; in a user namespace the refusal is ignored, as runc ignores it (mknod there makes
no usable device node). On a hybrid host the v1 devices cgroup already confines, and a refusal
is ignored too.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from hybridock.runtime import cgroupfs
from hybridock.runtime.cgroupfs import (
    CgroupError,
    DevicesUnconfined,
    Mount,
    parse_mountinfo,
    parse_proc_cgroup,
)
from hybridock.runtime.resources import CFS_PERIOD_US, Resources, cpu_shares_to_weight

__all__ = [
    "RECORD_FILE",
    "Cgroup",
    "CgroupError",
    "DevicesUnconfined",
    "Driver",
    "Stats",
    "Write",
    "detect",
    "load",
    "release",
    "setup",
    "v1_writes",
    "v2_writes",
]

RECORD_FILE = "cgroup.json"
SUBTREE = "hybridock"
#: v1 controllers whose hierarchies make a host v1 (the limits', cpuacct/blkio for stats); the
#: container joins these first, then every other mounted hierarchy
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio")
#: on v1, the key in ``Cgroup.directories`` of the cgroup2 hierarchy of a hybrid host
UNIFIED = ""
#: v2 controllers enabled for a container (when the host has them)
V2_CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids")
#: per version, the file a single-threaded process joins through (see the module's docstring)
JOIN_FILE = {1: "tasks", 2: "cgroup.procs"}
UNLIMITED_V1 = 0x7FFFFFFFFFFFF000  # what v1 memory.limit_in_bytes reads when unset (4K pages)
#: docker's default device rules (moby's oci.DefaultLinuxSpec, as ``devices.list`` shows them),
#: allowed after denying all: any mknod, the standard nodes of /dev, /dev/pts/*
DOCKER_DEVICE_RULES = (
    "b *:* m", "c *:* m",
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",  # null zero full (u)random
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",  # tty console ptmx
    "c 10:200 rwm",  # net/tun
    "c 136:* rwm",  # pts
)  # fmt: skip
ALL_DEVICES = "a *:* rwm"
#: the rules of the cgroup2 device program: (rule, allow), in order, as the v1 files get them
DEVICE_PROGRAM_RULES = ((ALL_DEVICES, False), *((rule, True) for rule in DOCKER_DEVICE_RULES))
#: ``_native.attach_device_filter``'s shape: (cgroup2 directory, rules)
AttachDeviceFilter = Callable[[str, list[tuple[str, bool]]], None]


class Write(NamedTuple):
    """One value to write to one cgroup file; ``required`` False skips a missing file."""

    controller: str
    file: str
    value: str
    required: bool = True
    flag: str = ""  # the docker flag it comes from, for the error message


def v1_writes(resources: Resources) -> list[Write]:
    """What cgroup v1 files the limits become, in a valid order."""
    writes: list[Write] = []
    if resources.memory:
        writes.append(Write("memory", "memory.limit_in_bytes", str(resources.memory), flag="-m"))
        if resources.memory_swap:
            swap = "-1" if resources.memory_swap == -1 else str(resources.memory_swap)
            writes.append(
                Write("memory", "memory.memsw.limit_in_bytes", swap, flag="--memory-swap")
            )
        else:  # docker's default: as much swap as memory, where swap is accounted at all
            writes.append(
                Write("memory", "memory.memsw.limit_in_bytes", str(2 * resources.memory), False)
            )
    if resources.cpu_shares:
        writes.append(Write("cpu", "cpu.shares", str(resources.cpu_shares), flag="--cpu-shares"))
    if resources.nano_cpus:
        writes.append(Write("cpu", "cpu.cfs_period_us", str(CFS_PERIOD_US), flag="--cpus"))
        writes.append(Write("cpu", "cpu.cfs_quota_us", str(resources.cfs_quota_us), flag="--cpus"))
    if resources.cpuset_cpus:
        writes.append(Write("cpuset", "cpuset.cpus", resources.cpuset_cpus, flag="--cpuset-cpus"))
    if resources.pids_limit:
        limit = "max" if resources.pids_limit < 0 else str(resources.pids_limit)
        writes.append(Write("pids", "pids.max", limit, flag="--pids-limit"))
    return writes


def v2_writes(resources: Resources) -> list[Write]:
    """What cgroup v2 files the limits become (runc's conversions)."""
    writes: list[Write] = []
    if resources.memory:
        writes.append(Write("memory", "memory.max", str(resources.memory), flag="-m"))
        if resources.memory_swap:
            swap = (
                "max"
                if resources.memory_swap == -1
                else str(resources.memory_swap - resources.memory)
            )
            writes.append(Write("memory", "memory.swap.max", swap, flag="--memory-swap"))
        else:
            writes.append(Write("memory", "memory.swap.max", str(resources.memory), False))
    if resources.cpu_shares:
        weight = str(cpu_shares_to_weight(resources.cpu_shares))
        writes.append(Write("cpu", "cpu.weight", weight, flag="--cpu-shares"))
    if resources.nano_cpus:
        writes.append(
            Write("cpu", "cpu.max", f"{resources.cfs_quota_us} {CFS_PERIOD_US}", flag="--cpus")
        )
    if resources.cpuset_cpus:
        writes.append(Write("cpuset", "cpuset.cpus", resources.cpuset_cpus, flag="--cpuset-cpus"))
    if resources.pids_limit:
        limit = "max" if resources.pids_limit < 0 else str(resources.pids_limit)
        writes.append(Write("pids", "pids.max", limit, flag="--pids-limit"))
    return writes


def update_writes(version: int, old: Resources, new: Resources) -> list[Write]:
    """The writes that take a running container from ``old`` limits to ``new`` (docker
    update): only what changed, and on v1 the memory+swap limit before the memory limit when
    memory grows from a limit (the kernel refuses a memory limit above memory+swap; a first
    limit shrinks the unlimited memory, and goes first)."""
    changed = Resources(
        memory=new.memory if new.memory != old.memory or new.memory_swap != old.memory_swap else 0,
        memory_swap=new.memory_swap
        if new.memory != old.memory or new.memory_swap != old.memory_swap
        else 0,
        nano_cpus=new.nano_cpus if new.nano_cpus != old.nano_cpus else 0,
        cpu_shares=new.cpu_shares if new.cpu_shares != old.cpu_shares else 0,
        cpuset_cpus=new.cpuset_cpus if new.cpuset_cpus != old.cpuset_cpus else "",
        pids_limit=new.pids_limit if new.pids_limit != old.pids_limit else 0,
    )
    writes = v2_writes(changed) if version == 2 else v1_writes(changed)
    if version == 1 and changed.memory and old.memory and changed.memory > old.memory:
        swap = [write for write in writes if write.file == "memory.memsw.limit_in_bytes"]
        writes = [*swap, *(write for write in writes if write not in swap)]
    return writes


# --- the driver -------------------------------------------------------------------------------


class Driver(NamedTuple):
    """Where containers' cgroups go on this host (one per process, from ``detect``)."""

    version: int
    v1_mounts: Mapping[str, Mount] = {}  # controller -> its hierarchy
    #: v2: the cgroup2 mount; v1: a hybrid host's cgroup2 mount (no controllers: it groups)
    v2_mount: Mount | None = None
    own_paths: Mapping[str, str] = {}
    #: puts the device program on a cgroup2 directory; None: ``_native.attach_device_filter``
    #: (unit tests on plain directories give their own)
    attach_device_filter: AttachDeviceFilter | None = None

    def create(
        self, container_id: str, resources: Resources, *, privileged: bool = False
    ) -> Cgroup:
        for attempt in range(3):
            try:
                if self.version == 1:
                    return self._create_v1(container_id, resources, privileged=privileged)
                return self._create_v2(container_id, resources, privileged=privileged)
            except FileNotFoundError:
                # another container's removal took the shared parent away mid-way: again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def v1_hierarchies(self) -> list[tuple[Mount, list[str]]]:
        """Every hierarchy a container gets a cgroup in, with its keys in ``directories``:
        the limits' ones first (in ``V1_CONTROLLERS`` order), then the other v1 ones in mount
        order, then a hybrid host's cgroup2 mount (key ``UNIFIED``)."""
        ordered = [self.v1_mounts[c] for c in V1_CONTROLLERS if c in self.v1_mounts]
        ordered += self.v1_mounts.values()
        hierarchies = [(mount, sorted(mount.controllers)) for mount in dict.fromkeys(ordered)]
        if self.v2_mount is not None:
            hierarchies.append((self.v2_mount, [UNIFIED]))
        return hierarchies

    def _create_v1(self, container_id: str, resources: Resources, *, privileged: bool) -> Cgroup:
        writes = v1_writes(resources)
        for write in writes:
            if write.controller not in self.v1_mounts:
                raise CgroupError(
                    f"{write.flag}: the {write.controller} cgroup controller is not mounted"
                )
        directories: dict[str, str] = {}
        made: list[Path] = []
        try:
            for mount, keys in self.v1_hierarchies():
                own = next((self.own_paths[k] for k in keys if k in self.own_paths), "/")
                directory = cgroupfs.within(mount, own) / SUBTREE / container_id
                cgroupfs.make_v1_directories(directory, cpuset="cpuset" in mount.controllers)
                made.append(directory)
                directories.update(dict.fromkeys(keys, str(directory)))
            cgroup = Cgroup(1, directories)
            cgroup.apply(writes)
            cgroup.allow_devices(privileged=privileged)
            self._confine_devices(cgroup, privileged=privileged)
        except BaseException:
            with contextlib.suppress(CgroupError):  # the first error is the one to report
                Cgroup(1, {str(i): str(path) for i, path in enumerate(made)}).remove()
            raise
        return cgroup

    def _create_v2(self, container_id: str, resources: Resources, *, privileged: bool) -> Cgroup:
        """The container's cgroup on a v2 host, with its limits and device program."""
        assert self.v2_mount is not None  # noqa: S101 - detect() makes v2 drivers with a mount
        writes = v2_writes(resources)
        root = self.v2_mount.point
        available = set(cgroupfs.read(root / "cgroup.controllers").split())
        for write in writes:
            if write.controller not in available:
                raise CgroupError(
                    f"{write.flag}: the {write.controller} cgroup controller is not available"
                )
        wanted = [name for name in V2_CONTROLLERS if name in available]
        required = {write.controller for write in writes}
        parent = root / SUBTREE
        directory = parent / container_id
        cgroup = Cgroup(2, {"": str(directory)})
        try:
            cgroupfs.enable_controllers(root, wanted, required)
            cgroupfs.mkdir(parent)
            cgroupfs.enable_controllers(parent, wanted, required)
            cgroupfs.mkdir(directory)
            cgroup.apply(writes)
            self._confine_devices(cgroup, privileged=privileged)
        except BaseException:
            with contextlib.suppress(CgroupError):  # the first error is the one to report
                cgroup.remove()
            raise
        return cgroup

    def _confine_devices(self, cgroup: Cgroup, *, privileged: bool) -> None:
        """docker's device rules as a BPF program on the container's cgroup2 directory (see
        the module's docstring for when a refusal is an error)."""
        directory = cgroup.directories.get(UNIFIED)
        if directory is None or privileged:
            return
        attach = self.attach_device_filter
        if attach is None:
            # only a start gets here: ps and rm, which release cgroups, do not load the module
            from hybridock import _native  # noqa: PLC0415

            attach = _native.attach_device_filter
        try:
            attach(directory, list(DEVICE_PROGRAM_RULES))
        except ValueError as error:  # a rule the program cannot hold: never ignored
            raise DevicesUnconfined(str(error)) from error
        except OSError as error:
            if "devices" in cgroup.directories or cgroupfs.in_user_namespace():
                return
            raise DevicesUnconfined(error.strerror or str(error)) from error


def detect(mountinfo: str | None = None, own_cgroup: str | None = None) -> Driver | None:
    """This host's driver, or None when no usable cgroup filesystem is mounted."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    if own_cgroup is None:
        own_cgroup = Path("/proc/self/cgroup").read_text()
    mounts = parse_mountinfo(mountinfo)
    own = parse_proc_cgroup(own_cgroup)
    v1: dict[str, Mount] = {}
    for mount in mounts:  # a hierarchy mounted twice: its first mount
        for controller in mount.controllers if mount.version == 1 else ():
            v1.setdefault(controller, mount)
    unified = sorted((m for m in mounts if m.version == 2), key=lambda m: len(str(m.point)))
    if any(name in v1 for name in V1_CONTROLLERS):
        return Driver(1, v1_mounts=v1, v2_mount=next(iter(unified), None), own_paths=own)
    for mount in unified:
        with contextlib.suppress(OSError):
            if cgroupfs.read(mount.point / "cgroup.controllers").split():
                return Driver(2, v2_mount=mount, own_paths=own)
    return None


# --- one container's cgroup -------------------------------------------------------------------


class Stats(NamedTuple):
    memory_usage: int = 0
    memory_limit: int = 0  # 0: unlimited
    cpu_usage_ns: int = 0
    pids: int = 0
    block_read: int = 0
    block_write: int = 0
    network_received: int = 0  # the container's interfaces but loopback (Client.stats)
    network_sent: int = 0


class Cgroup(NamedTuple):
    """A container's cgroup: v1's directory per controller, or v2's one (key "")."""

    version: int
    directories: dict[str, str]

    def unique_directories(self) -> list[Path]:
        return [Path(d) for d in dict.fromkeys(self.directories.values())]

    @property
    def join_files(self) -> list[str]:
        """The files a new single-threaded process writes "0" to, to join this cgroup."""
        files: dict[str, str] = {}
        for key, directory in self.directories.items():
            version = 2 if self.version == 2 or key == UNIFIED else 1
            files.setdefault(directory, str(Path(directory) / JOIN_FILE[version]))
        return list(files.values())

    def path(self, controller: str) -> Path | None:
        directory = self.directories.get("" if self.version == 2 else controller)
        return Path(directory) if directory else None

    def apply(self, writes: Iterable[Write]) -> None:
        for write in writes:
            directory = self.path(write.controller)
            target = directory / write.file if directory else None
            if target is None or not target.exists():
                if not write.required:
                    continue
                hint = " (swap accounting is off)" if write.flag == "--memory-swap" else ""
                raise CgroupError(
                    f"{write.flag} cannot be applied: this host's {write.controller} cgroup"
                    f" has no {write.file}{hint}"
                )
            if write.file == "cpuset.cpus":
                cgroupfs.check_cpus(write.value, target.parent.parent)
            try:
                target.write_text(write.value)
            except OSError as error:
                raise CgroupError(
                    f"{write.flag}: cannot write {write.value} to {target}: {error.strerror}"
                ) from error

    def allow_devices(self, *, privileged: bool) -> None:
        """docker's device rules in the v1 devices cgroup (none without one). The kernel
        refuses (EPERM) to allow what the parent cgroup denies: such a rule stays denied, so
        a container never gets a device hybridock itself may not use."""
        directory = self.path("devices") if self.version == 1 else None
        if directory is None:
            return
        rules = [("devices.deny", "a"), *(("devices.allow", rule) for rule in DOCKER_DEVICE_RULES)]
        for name, rule in [("devices.allow", ALL_DEVICES)] if privileged else rules:
            try:
                (directory / name).write_text(rule)
            except PermissionError:
                if name != "devices.allow":
                    raise CgroupError(f"cannot write {rule} to {directory / name}") from None
            except OSError as error:
                raise CgroupError(
                    f"cannot write {rule} to {directory / name}: {error.strerror}"
                ) from error

    # --- freezing (pause, unpause) ---

    def _freezer(self) -> tuple[Path, str, str] | None:
        """The control file that freezes the cgroup, and its frozen and thawed values."""
        if self.version == 2:
            directory = self.path("")
            return (directory / "cgroup.freeze", "1", "0") if directory else None
        directory = self.path("freezer")
        return (directory / "freezer.state", "FROZEN", "THAWED") if directory else None

    def freeze(self, frozen: bool, timeout: float = 10.0) -> None:
        """Freezes (pause) or thaws (unpause) every process of the cgroup, and returns once the
        kernel says it is done (v1: ``freezer.state`` leaves FREEZING; v2: ``cgroup.events``
        says ``frozen``)."""
        freezer = self._freezer()
        if freezer is None:
            raise CgroupError("this container has no freezer cgroup to pause it with")
        control, frozen_value, thawed_value = freezer
        wanted = frozen_value if frozen else thawed_value
        try:
            control.write_text(wanted)
        except OSError as error:
            raise CgroupError(f"cannot write {wanted} to {control}: {error.strerror}") from error
        deadline = time.monotonic() + timeout
        while self.frozen() != frozen:
            if time.monotonic() >= deadline:
                raise CgroupError(f"{control.parent} did not become {wanted.lower()} in time")
            time.sleep(0.005)
            if self.version == 1:
                control.write_text(wanted)  # as runc: v1 may stay FREEZING until asked again

    def frozen(self) -> bool:
        """Whether the cgroup is frozen (paused); False without a freezer."""
        if self.version == 2:
            return self._keyed("", "cgroup.events").get("frozen", 0) == 1
        return (self._value("freezer", "freezer.state") or "").strip() == "FROZEN"

    # --- reading ---

    def _value(self, controller: str, name: str) -> str | None:
        directory = self.path(controller)
        if directory is None:
            return None
        try:
            return cgroupfs.read(directory / name)
        except OSError:
            return None

    def _keyed(self, controller: str, name: str) -> dict[str, int]:
        values: dict[str, int] = {}
        for line in (self._value(controller, name) or "").splitlines():
            key, _, number = line.partition(" ")
            with contextlib.suppress(ValueError):
                values[key] = int(number)
        return values

    def oom_killed(self) -> bool:
        """Whether the OOM killer killed a process of this cgroup (since it was made)."""
        if self.version == 2:
            return self._keyed("memory", "memory.events").get("oom_kill", 0) > 0
        control = self._keyed("memory", "memory.oom_control")
        if "oom_kill" in control:  # Linux >= 4.13
            return control["oom_kill"] > 0
        return cgroupfs.read_int(self._value("memory", "memory.failcnt")) > 0

    def stats(self) -> Stats:
        if self.version == 2:
            memory_stat = self._keyed("memory", "memory.stat")
            usage = cgroupfs.read_int(self._value("memory", "memory.current"))
            inactive = memory_stat.get("inactive_file", 0)
            limit = cgroupfs.read_int(self._value("memory", "memory.max"))
            cpu = self._keyed("cpu", "cpu.stat").get("usage_usec", 0) * 1000
            read, written = cgroupfs.io_stat_bytes(self._value("io", "io.stat") or "")
        else:
            memory_stat = self._keyed("memory", "memory.stat")
            usage = cgroupfs.read_int(self._value("memory", "memory.usage_in_bytes"))
            inactive = memory_stat.get("total_inactive_file", 0)
            limit = cgroupfs.read_int(self._value("memory", "memory.limit_in_bytes"))
            limit = 0 if limit >= UNLIMITED_V1 else limit
            cpu = cgroupfs.read_int(self._value("cpuacct", "cpuacct.usage"))
            read, written = cgroupfs.blkio_bytes(
                self._value("blkio", "blkio.throttle.io_service_bytes") or ""
            )
        return Stats(
            memory_usage=usage - inactive if inactive < usage else usage,
            memory_limit=limit,
            cpu_usage_ns=cpu,
            pids=cgroupfs.read_int(self._value("pids", "pids.current")),
            block_read=read,
            block_write=written,
        )

    # --- removal ---

    def remove(self) -> None:
        """Kill what is left inside, then remove the directories (and an empty parent)."""
        for directory in self.unique_directories():
            cgroupfs.remove_directory(directory)
            with contextlib.suppress(OSError):
                directory.parent.rmdir()  # hybridock/: only when no other container uses it

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "directories": self.directories})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cgroup:
        return cls(int(data["version"]), {str(k): str(v) for k, v in data["directories"].items()})


# --- a container's record ---------------------------------------------------------------------


def setup(
    container_dir: Path,
    container_id: str,
    resources: Resources,
    detector: Callable[[], Driver | None] = detect,
    *,
    privileged: bool = False,
) -> list[str]:
    """Make the container's cgroup (after removing a stale one) and return its join files.

    Without usable cgroups a container without limits runs without one (not root, or a v2
    namespace root we may not delegate from); one with limits is an error. A cgroup that was
    made but whose device program the kernel refuses is always an error (``DevicesUnconfined``).
    """
    release(container_dir)
    try:
        driver = detector()
        cgroup = driver.create(container_id, resources, privileged=privileged) if driver else None
    except DevicesUnconfined:
        raise
    except (CgroupError, OSError, ValueError) as error:
        if not resources.any:
            return []
        if isinstance(error, CgroupError):
            raise
        raise CgroupError(f"cannot create the container's cgroup: {error}") from error
    if cgroup is None:
        if resources.any:
            raise CgroupError("resource limits need cgroups, and none are mounted on this host")
        return []
    (container_dir / RECORD_FILE).write_text(cgroup.to_json())
    return cgroup.join_files


def paused(container_dir: Path) -> bool:
    """Whether the container's cgroup is frozen (``pause``): the kernel's word, so a pause
    survives any record."""
    cgroup = load(container_dir)
    return cgroup is not None and cgroup.frozen()


def load(container_dir: Path) -> Cgroup | None:
    """The container's live cgroup, None when it has none (or it was released)."""
    try:
        data = json.loads((container_dir / RECORD_FILE).read_text())
        return None if "oom_killed" in data else Cgroup.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def release(container_dir: Path, *, strict: bool = False) -> bool:
    """Remove the container's cgroup (killing what is left in it); True if the OOM killer
    killed one of its processes.

    Called by whoever sees the container end first (the attached CLI, ``ps`` folding in a
    detached exit, ``rm``): the record is locked while it is read and removed, and keeps the
    OOM verdict afterwards, so every caller gets the same answer. A cgroup that cannot be
    removed yet raises with ``strict`` (``rm``: its record is about to go); otherwise its
    record stays for the next caller to retry.
    """
    try:
        handle = (container_dir / RECORD_FILE).open("r+")
    except FileNotFoundError:
        return False
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            data = json.loads(handle.read())
            if "oom_killed" in data:
                return bool(data["oom_killed"])
            cgroup = Cgroup.from_dict(data)
        except (ValueError, KeyError, TypeError):
            return False
        oom = cgroup.oom_killed()
        try:
            cgroup.remove()
        except CgroupError:
            if strict:
                raise
            return oom
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({**data, "oom_killed": oom}))
        return oom
