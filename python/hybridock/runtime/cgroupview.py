"""What a container sees at /sys/fs/cgroup, as runc makes it for docker.

cgroup v1 (runc's ``mountCgroupV1``): a tmpfs holding each of the host's v1 hierarchies under
the name of its host mount point (``memory``, ``cpu,cpuacct``, ``systemd``) and, for merged
hierarchies, a symlink per controller (``cpu -> cpu,cpuacct``). With the host's cgroup
namespace (docker's default on v1) each is a bind of the container's own cgroup directory in
that hierarchy: the one hybridock made for it (``cgroups.py``), or where the container inherits
its place (hierarchies hybridock does not manage, such as ``name=systemd``). With a private
cgroup namespace each is a new mount of the hierarchy, whose root is then the container's
cgroup. cgroup v2 (``mountCgroupV2``): one cgroup2 mount (private namespace by default).

The hierarchies are read-only unless ``--privileged`` (docker clears the read-only flag of the
cgroup mount only for privileged containers); the tmpfs holding them stays writable, as docker
20.10 leaves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hybridock.runtime import cgroups
from hybridock.runtime.cgroupfs import hierarchy_options, parse_proc_cgroup


class Hierarchy:
    """One v1 hierarchy as mounted on the host."""

    def __init__(self, point: Path, root: str, options: list[str]) -> None:
        self.point = point
        self.root = root
        self.options = options  # "memory", "cpu", "cpuacct", "name=systemd"

    @property
    def name(self) -> str:
        return self.point.name

    def own_directory(self, own_paths: dict[str, str]) -> Path | None:
        """Where a process with these /proc/self/cgroup paths is, under this mount."""
        path = next((own_paths[o] for o in self.options if o in own_paths), None)
        if path is None:
            return None
        if self.root != "/" and (path == self.root or path.startswith(self.root + "/")):
            path = path[len(self.root) :]
        return self.point / path.lstrip("/")


def v1_hierarchies(mountinfo: str) -> list[Hierarchy]:
    """The host's v1 hierarchies, each once (its first mount), in mount order."""
    found: list[Hierarchy] = []
    seen: set[frozenset[str]] = set()
    for line in mountinfo.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
            continue
        options = hierarchy_options(tail[2])
        key = frozenset(options)
        if options and key not in seen:
            seen.add(key)
            point = Path(fields[4].replace("\\040", " "))
            found.append(Hierarchy(point, fields[3], options))
    return found


def spawn_fields(
    *,
    version: int | None,
    directories: dict[str, str],
    cgroupns: str,
    writable: bool,
    mountinfo: str | None = None,
    own_cgroup: str | None = None,
) -> dict[str, Any]:
    """The spawner's ``cgroup_*`` arguments. ``version`` is the host's cgroup version (None:
    no usable cgroups); ``directories`` the container's cgroup directories by controller (v1)
    or under "" (v2); ``cgroupns`` "host", "private" or "" (docker's default: private on v2,
    host on v1)."""
    if mountinfo is None:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    if version is None:
        version = 1 if v1_hierarchies(mountinfo) else 2
    private = (cgroupns or ("private" if version == 2 else "host")) == "private"
    fields: dict[str, Any] = {"cgroup_namespace": private, "cgroup_writable": writable}
    if version == 2:
        fields["cgroup_view"] = "v2"
        return fields
    if own_cgroup is None:
        own_cgroup = Path("/proc/self/cgroup").read_text()
    own_paths = parse_proc_cgroup(own_cgroup)
    hierarchies: list[tuple[str, str | None, str]] = []
    names = set()
    for hierarchy in v1_hierarchies(mountinfo):
        options = ",".join(hierarchy.options)
        if private:
            hierarchies.append((hierarchy.name, None, options))
        else:
            made = next((directories[o] for o in hierarchy.options if o in directories), None)
            source = Path(made) if made else hierarchy.own_directory(own_paths)
            if source is None:
                continue  # a hierarchy this process is not in: nothing of the container's
            hierarchies.append((hierarchy.name, str(source), options))
        names.add(hierarchy.name)
    links = [
        (part, name)
        for name in sorted(names)
        if "," in name
        for part in name.split(",")
        if part not in names
    ]
    fields.update(cgroup_view="v1", cgroup_hierarchies=hierarchies, cgroup_links=links)
    return fields


def for_container(container_dir: Path, cgroupns: str, *, writable: bool) -> dict[str, Any]:
    """``spawn_fields`` for a container whose cgroup ``cgroups.setup`` made (or did not)."""
    cgroup = cgroups.load(container_dir)
    return spawn_fields(
        version=cgroup.version if cgroup else None,
        directories=cgroup.directories if cgroup else {},
        cgroupns=cgroupns,
        writable=writable,
    )
