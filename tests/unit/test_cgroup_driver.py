"""Resource flags and their cgroup files: docker's units, the v1/v2 mapping, discovery, reading.

The v2 driver is exercised on a temporary directory laid out like a cgroup2 mount (this
machine has no v2 controllers); the kernel's part (files appearing in a new directory) is done
by the test, laying out the directories the driver will ``mkdir``.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from hybridock.errors import ConfigError
from hybridock.runtime import cgroupfs, cgroups
from hybridock.runtime.cgroupfs import CgroupError, DevicesUnconfined, Mount
from hybridock.runtime.cgroups import (
    Driver,
    Write,
    detect,
    update_writes,
    v1_writes,
    v2_writes,
)
from hybridock.runtime.resources import (
    Resources,
    cpu_shares_to_weight,
    parse_bytes,
    parse_cpu_list,
    parse_resources,
)

CONTAINER_ID = "c0ffee" + "0" * 58
MIB = 1 << 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("100", 100, id="bare-number-is-bytes"),
        pytest.param("100b", 100, id="b"),
        pytest.param("512k", 512 * 1024, id="k"),
        pytest.param("32m", 32 * MIB, id="m"),
        pytest.param("32M", 32 * MIB, id="upper-M"),
        pytest.param("32MB", 32 * MIB, id="MB-is-binary-as-docker"),
        pytest.param("32MiB", 32 * MIB, id="MiB"),
        pytest.param("1g", 1 << 30, id="g"),
        pytest.param("1.5g", 3 << 29, id="fraction"),
        pytest.param("2t", 2 << 40, id="t"),
    ],
)
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-1", "1x", "m", "1.2.3m", "10 mbytes"])
def test_parse_bytes_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid size"):
        parse_bytes(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("0", [0], id="one"),
        pytest.param("0-2", [0, 1, 2], id="range"),
        pytest.param("3,0-1", [0, 1, 3], id="list"),
    ],
)
def test_parse_cpu_list(text: str, expected: list[int]) -> None:
    assert parse_cpu_list(text) == expected


@pytest.mark.parametrize("text", ["a", "1-", "2-1", "0,,1", "-1"])
def test_parse_cpu_list_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_cpu_list(text)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param({}, Resources(), id="nothing"),
        pytest.param({"memory": "32m"}, Resources(memory=32 * MIB), id="memory"),
        pytest.param(
            {"memory": "32m", "memory_swap": "-1"},
            Resources(memory=32 * MIB, memory_swap=-1),
            id="unlimited-swap",
        ),
        pytest.param(
            {"memory": "32m", "memory_swap": "64m"},
            Resources(memory=32 * MIB, memory_swap=64 * MIB),
            id="swap",
        ),
        pytest.param({"cpus": "0.5"}, Resources(nano_cpus=500_000_000), id="cpus"),
        pytest.param({"cpu_shares": 512}, Resources(cpu_shares=512), id="shares"),
        pytest.param({"cpuset_cpus": "0"}, Resources(cpuset_cpus="0"), id="cpuset"),
        pytest.param({"pids_limit": 10}, Resources(pids_limit=10), id="pids"),
        pytest.param({"pids_limit": -1}, Resources(pids_limit=-1), id="pids-unlimited"),
        pytest.param({"pids_limit": 0}, Resources(), id="pids-zero-is-unset"),
        pytest.param(
            {"memory": "32m", "memory_swap": "0"}, Resources(memory=32 * MIB), id="swap-zero"
        ),
    ],
)
def test_parse_resources(flags: dict[str, object], expected: Resources) -> None:
    assert parse_resources(**flags) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param({"memory": "1m"}, "Minimum memory limit", id="tiny-memory"),
        pytest.param({"memory_swap": "64m"}, "always set the Memory limit", id="swap-alone"),
        pytest.param(
            {"memory": "64m", "memory_swap": "32m"}, "larger than memory", id="swap-below-memory"
        ),
        pytest.param({"cpus": "1000"}, "Range of CPUs", id="too-many-cpus"),
        pytest.param({"cpus": "0.001"}, "Range of CPUs", id="too-few-cpus"),
        pytest.param({"cpus": "half"}, "--cpus", id="cpus-not-a-number"),
        pytest.param({"cpu_shares": -1}, "CPU shares", id="negative-shares"),
        pytest.param({"cpuset_cpus": "x"}, "cpuset", id="bad-cpuset"),
    ],
)
def test_parse_resources_rejects(flags: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_resources(**flags)  # type: ignore[arg-type]


@pytest.mark.parametrize(("shares", "weight"), [(0, 0), (2, 1), (1024, 39), (262144, 10000)])
def test_cpu_shares_to_weight_as_runc(shares: int, weight: int) -> None:
    assert cpu_shares_to_weight(shares) == weight


def test_docker_shows_twice_the_memory_as_swap_by_default() -> None:
    assert Resources(memory=32 * MIB).effective_memory_swap == 64 * MIB
    assert Resources(memory=32 * MIB, memory_swap=-1).effective_memory_swap == -1
    assert Resources().effective_memory_swap == 0


# --- the file mapping -------------------------------------------------------------------------

ALL = Resources(
    memory=32 * MIB,
    memory_swap=96 * MIB,
    nano_cpus=500_000_000,
    cpu_shares=512,
    cpuset_cpus="0",
    pids_limit=10,
)


def _files(writes: list[Write]) -> list[tuple[str, str, bool]]:
    return [(w.file, w.value, w.required) for w in writes]


@pytest.mark.parametrize(
    ("resources", "v1", "v2"),
    [
        pytest.param(Resources(), [], [], id="no-limits"),
        pytest.param(
            ALL,
            [
                ("memory.limit_in_bytes", str(32 * MIB), True),
                ("memory.memsw.limit_in_bytes", str(96 * MIB), True),
                ("cpu.shares", "512", True),
                ("cpu.cfs_period_us", "100000", True),
                ("cpu.cfs_quota_us", "50000", True),
                ("cpuset.cpus", "0", True),
                ("pids.max", "10", True),
            ],
            [
                ("memory.max", str(32 * MIB), True),
                ("memory.swap.max", str(64 * MIB), True),
                ("cpu.weight", "20", True),
                ("cpu.max", "50000 100000", True),
                ("cpuset.cpus", "0", True),
                ("pids.max", "10", True),
            ],
            id="everything",
        ),
        pytest.param(
            Resources(memory=32 * MIB),
            [
                ("memory.limit_in_bytes", str(32 * MIB), True),
                ("memory.memsw.limit_in_bytes", str(64 * MIB), False),
            ],
            [("memory.max", str(32 * MIB), True), ("memory.swap.max", str(32 * MIB), False)],
            id="default-swap-only-where-accounted",
        ),
        pytest.param(
            Resources(memory=32 * MIB, memory_swap=-1),
            [
                ("memory.limit_in_bytes", str(32 * MIB), True),
                ("memory.memsw.limit_in_bytes", "-1", True),
            ],
            [("memory.max", str(32 * MIB), True), ("memory.swap.max", "max", True)],
            id="unlimited-swap",
        ),
        pytest.param(
            Resources(pids_limit=-1),
            [("pids.max", "max", True)],
            [("pids.max", "max", True)],
            id="unlimited-pids",
        ),
        pytest.param(
            Resources(nano_cpus=1_500_000_000),
            [("cpu.cfs_period_us", "100000", True), ("cpu.cfs_quota_us", "150000", True)],
            [("cpu.max", "150000 100000", True)],
            id="cpus-above-one",
        ),
    ],
)
def test_file_mapping(
    resources: Resources, v1: list[tuple[str, str, bool]], v2: list[tuple[str, str, bool]]
) -> None:
    assert _files(v1_writes(resources)) == v1
    assert _files(v2_writes(resources)) == v2


# --- discovery --------------------------------------------------------------------------------

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
COMOUNTED = """\
34 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct
35 25 0:30 /inner /sys/fs/cgroup/memory rw,nosuid shared:11 - cgroup cgroup rw,memory
"""
SELF_V1 = "4:memory:/inner/session\n3:cpu,cpuacct:/\n0::/\n"


def test_hybrid_host_is_v1() -> None:
    driver = detect(HYBRID, "4:memory:/a\n1:cpu:/\n0::/\n")
    assert driver is not None
    assert driver.version == 1
    assert set(driver.v1_mounts) == {"cpu", "memory", "pids", "devices", "name=systemd"}
    assert driver.v2_mount == Mount(Path("/sys/fs/cgroup/unified"), "/", 2)  # it only groups
    assert driver.own_paths["memory"] == "/a"


@pytest.mark.parametrize(
    ("privileged", "deny", "last_allow"),
    [
        pytest.param(False, "a", "c 136:* rwm", id="docker-rules"),
        pytest.param(True, "", "a *:* rwm", id="privileged-all"),
    ],
)
def test_v1_cgroup_in_every_hierarchy(
    tmp_path: Path, privileged: bool, deny: str, last_allow: str
) -> None:
    """As runc: the limits' hierarchies, then every other one (devices with docker's rules,
    the named name=systemd), then a hybrid host's cgroup2 one, joined through cgroup.procs."""
    driver = detect(HYBRID.replace("/sys/fs/cgroup", str(tmp_path)), "4:memory:/a\n1:cpu:/\n0::/\n")
    assert driver is not None
    devices = DeviceProgram()
    driver = driver._replace(attach_device_filter=devices)
    places = ["memory/a", "cpu", "pids", "devices", "systemd", "unified"]
    for place in places:
        fake_cgroupfs(tmp_path / place, ["tasks", "cgroup.procs", "devices.allow", "devices.deny"])
    cgroup = driver.create(CONTAINER_ID, Resources(), privileged=privileged)
    directories = [tmp_path / place / "hybridock" / CONTAINER_ID for place in places]
    assert cgroup.join_files == [
        *(str(directory / "tasks") for directory in directories[:-1]),
        str(directories[-1] / "cgroup.procs"),
    ]
    assert cgroup.path("name=systemd") == directories[4]
    assert cgroup.path(cgroups.UNIFIED) == directories[5]
    # the fake's files keep the last write only
    assert (directories[3] / "devices.deny").read_text() == deny
    assert (directories[3] / "devices.allow").read_text() == last_allow
    # and the cgroup2 directory the same rules as a device program (none with --privileged)
    program = [] if privileged else [(str(directories[5]), DOCKER_PROGRAM_RULES)]
    assert devices.attached == program


def test_v1_comounted_hierarchies_are_joined_once(tmp_path: Path) -> None:
    text = COMOUNTED.replace("/sys/fs/cgroup", str(tmp_path))
    driver = detect(text, SELF_V1)
    assert driver is not None
    assert driver.v1_mounts["cpu"] is driver.v1_mounts["cpuacct"]
    for name in ("cpu,cpuacct", "memory"):
        fake_cgroupfs(tmp_path / name, ["cgroup.procs", "cpu.shares", "memory.limit_in_bytes"])
    # memory's mount root is /inner: our /inner/session is <mount>/session
    cgroup = driver.create(CONTAINER_ID, Resources(cpu_shares=512))
    # v1 joins through ``tasks``: the spawned process is single-threaded then
    assert cgroup.join_files == [
        str(tmp_path / "memory" / "session" / "hybridock" / CONTAINER_ID / "tasks"),
        str(tmp_path / "cpu,cpuacct" / "hybridock" / CONTAINER_ID / "tasks"),
    ]
    assert (tmp_path / "cpu,cpuacct" / "hybridock" / CONTAINER_ID / "cpu.shares").read_text() == (
        "512"
    )


def test_v2_host(tmp_path: Path) -> None:
    text = f"25 30 0:23 / {tmp_path} rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    driver = detect(text, "0::/user.slice/session-1.scope\n")
    assert driver is not None
    assert driver.version == 2
    assert driver.v2_mount == Mount(tmp_path, "/", 2)


def test_setup_without_cgroups(tmp_path: Path) -> None:
    """No cgroups: a container without limits runs without one; with limits it is an error."""
    assert cgroups.setup(tmp_path, CONTAINER_ID, Resources(), lambda: None) == []
    with pytest.raises(CgroupError, match="need cgroups"):
        cgroups.setup(tmp_path, CONTAINER_ID, Resources(pids_limit=5), lambda: None)
    assert not (tmp_path / cgroups.RECORD_FILE).exists()


def test_setup_on_a_v2_layout(tmp_path: Path) -> None:
    driver, directory = v2_driver(tmp_path / "cgroupfs")
    procs = cgroups.setup(tmp_path, CONTAINER_ID, Resources(pids_limit=5), lambda: driver)
    assert procs == [str(directory / "cgroup.procs")]
    live = cgroups.load(tmp_path)
    assert live is not None
    assert live.join_files == procs


def test_release_is_idempotent_and_keeps_the_oom_verdict(tmp_path: Path) -> None:
    (tmp_path / cgroups.RECORD_FILE).write_text(
        '{"version": 2, "directories": {"": "/nonexistent"}, "oom_killed": true}'
    )
    assert cgroups.load(tmp_path) is None  # released: no live cgroup
    assert cgroups.release(tmp_path) is True
    assert cgroups.release(tmp_path) is True
    assert cgroups.release(tmp_path / "none") is False


def test_release_that_cannot_remove_keeps_the_record(tmp_path: Path) -> None:
    busy = fake_cgroupfs(tmp_path / "cgroupfs", ["memory.events"])  # rmdir: not empty
    (busy / "memory.events").write_text("oom_kill 1\n")
    (tmp_path / cgroups.RECORD_FILE).write_text(cgroups.Cgroup(2, {"": str(busy)}).to_json())
    assert cgroups.release(tmp_path) is True
    assert cgroups.load(tmp_path) is not None  # kept for the next caller to retry
    with pytest.raises(CgroupError, match="cannot remove cgroup"):
        cgroups.release(tmp_path, strict=True)


def test_no_controllers_no_driver(tmp_path: Path) -> None:
    text = f"25 30 0:23 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    (tmp_path / "cgroup.controllers").write_text("\n")
    assert detect(text, "0::/\n") is None


# --- a v2 cgroup on a directory laid out like cgroupfs ----------------------------------------

V2_FILES = [
    "cgroup.controllers",
    "cgroup.subtree_control",
    "cgroup.procs",
    "memory.max",
    "memory.swap.max",
    "memory.current",
    "memory.stat",
    "memory.events",
    "cpu.weight",
    "cpu.max",
    "cpu.stat",
    "cpuset.cpus",
    "pids.max",
    "pids.current",
    "io.stat",
]


def fake_cgroupfs(root: Path, files: list[str], container_id: str = CONTAINER_ID) -> Path:
    """The root, hybridock/ and hybridock/<id>/ with empty control files, as the kernel
    would make them on mkdir."""
    directory = root / "hybridock" / container_id
    for path in (root, root / "hybridock", directory):
        path.mkdir(parents=True, exist_ok=True)
        for name in files:
            (path / name).touch()
    return directory


class DeviceProgram:
    """Stands in for ``_native.attach_device_filter`` on directories that are not cgroups:
    records each program's directory and rules, or refuses it with errno ``refuse`` (which a
    real kernel does not do on demand)."""

    def __init__(self, refuse: int = 0) -> None:
        self.attached: list[tuple[str, list[tuple[str, bool]]]] = []
        self.refuse = refuse

    def __call__(self, directory: str, rules: list[tuple[str, bool]]) -> None:
        if self.refuse:
            reason = os.strerror(self.refuse)
            raise OSError(self.refuse, f"cannot load the cgroup device program: {reason}")
        self.attached.append((directory, rules))


DOCKER_DEVICES = [
    "b *:* m", "c *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm",
]  # fmt: skip
DOCKER_PROGRAM_RULES = [("a *:* rwm", False), *((rule, True) for rule in DOCKER_DEVICES)]


def v2_driver(
    root: Path, files: list[str] = V2_FILES, devices: DeviceProgram | None = None
) -> tuple[Driver, Path]:
    directory = fake_cgroupfs(root, files)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    attach = devices if devices is not None else DeviceProgram()
    return Driver(2, v2_mount=Mount(root, "/", 2), attach_device_filter=attach), directory


def test_v2_create_writes_limits_and_enables_controllers(tmp_path: Path) -> None:
    driver, directory = v2_driver(tmp_path)
    cgroup = driver.create(CONTAINER_ID, ALL)
    assert cgroup.join_files == [str(directory / "cgroup.procs")]
    for parent in (tmp_path, tmp_path / "hybridock"):
        assert (parent / "cgroup.subtree_control").read_text() == "+cpu +cpuset +io +memory +pids"
    expected = {
        "memory.max": str(32 * MIB),
        "memory.swap.max": str(64 * MIB),
        "cpu.weight": "20",
        "cpu.max": "50000 100000",
        "cpuset.cpus": "0",
        "pids.max": "10",
    }
    assert {name: (directory / name).read_text() for name in expected} == expected


@pytest.mark.parametrize(
    ("privileged", "expected"),
    [pytest.param(False, DOCKER_PROGRAM_RULES, id="docker-rules"), pytest.param(True, None)],
)
def test_v2_cgroup_gets_dockers_device_program(
    tmp_path: Path, privileged: bool, expected: list[tuple[str, bool]] | None
) -> None:
    """v2 has no devices files: docker's rules go into the BPF program (none with
    --privileged, where a program allowing all would add nothing)."""
    devices = DeviceProgram()
    driver, directory = v2_driver(tmp_path, devices=devices)
    driver.create(CONTAINER_ID, Resources(), privileged=privileged)
    assert devices.attached == ([(str(directory), expected)] if expected else [])


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param(errno.EINVAL, id="no-cgroup-bpf-in-the-kernel"),
        pytest.param(errno.ENOSYS, id="no-bpf-syscall"),
        pytest.param(errno.EPERM, id="not-allowed"),
    ],
)
def test_v2_device_program_refused_fails_the_start(tmp_path: Path, refusal: int) -> None:
    """As runc: where the program is the only confinement, a kernel that refuses it stops the
    start, even for a container without limits (which may otherwise run without a cgroup)."""
    driver, _ = v2_driver(tmp_path / "cgroupfs", devices=DeviceProgram(refuse=refusal))
    container_dir = tmp_path / "container"
    container_dir.mkdir()
    with pytest.raises(DevicesUnconfined, match="cannot load the cgroup device program: "):
        cgroups.setup(container_dir, CONTAINER_ID, Resources(), lambda: driver)
    assert not (container_dir / cgroups.RECORD_FILE).exists()


def test_device_rule_error_fails_the_start_even_beside_v1_devices(tmp_path: Path) -> None:
    """A rule the program cannot hold is hybridock's bug or a bad rule, never a kernel's lack."""

    def invalid_rule(directory: str, rules: list[tuple[str, bool]]) -> None:
        raise ConfigError('invalid device rule "c 1:3 rwx": access is a subset of rwm')

    for place in ("devices", "unified"):
        fake_cgroupfs(tmp_path / place, ["tasks", "cgroup.procs", "devices.allow", "devices.deny"])
    driver = detect(HYBRID.replace("/sys/fs/cgroup", str(tmp_path)), "0::/\n")
    assert driver is not None
    driver = driver._replace(attach_device_filter=invalid_rule)
    container_dir = tmp_path / "container"
    container_dir.mkdir()
    with pytest.raises(DevicesUnconfined, match="invalid device rule"):
        cgroups.setup(container_dir, CONTAINER_ID, Resources(), lambda: driver)


def test_device_program_refused_in_a_user_namespace_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As runc: in a user namespace bpf(2) is refused, and mknod makes no usable node there."""
    monkeypatch.setattr(cgroupfs, "in_user_namespace", lambda: True)
    driver, directory = v2_driver(tmp_path, devices=DeviceProgram(refuse=errno.EPERM))
    assert driver.create(CONTAINER_ID, Resources()).directories == {"": str(directory)}


def test_hybrid_host_device_program_is_needed_only_without_v1_devices(tmp_path: Path) -> None:
    """On a hybrid host the v1 devices cgroup confines already: a refused program is ignored,
    unless no v1 devices hierarchy is mounted."""
    places = ["memory/a", "cpu", "pids", "devices", "systemd", "unified"]
    for place in places:
        fake_cgroupfs(tmp_path / place, ["tasks", "cgroup.procs", "devices.allow", "devices.deny"])
    refused = DeviceProgram(refuse=errno.EINVAL)
    mountinfo = HYBRID.replace("/sys/fs/cgroup", str(tmp_path))
    own = "4:memory:/a\n1:cpu:/\n0::/\n"
    with_devices = detect(mountinfo, own)
    assert with_devices is not None
    with_devices._replace(attach_device_filter=refused).create(CONTAINER_ID, Resources())
    without_devices = detect(
        "".join(line for line in mountinfo.splitlines(True) if "devices" not in line), own
    )
    assert without_devices is not None
    with pytest.raises(DevicesUnconfined):
        without_devices._replace(attach_device_filter=refused).create(CONTAINER_ID, Resources())


def test_v2_cpus_outside_the_parents_set(tmp_path: Path) -> None:
    driver, directory = v2_driver(tmp_path)
    (directory.parent / "cpuset.cpus.effective").write_text("0-1\n")
    driver.create(CONTAINER_ID, Resources(cpuset_cpus="1"))
    assert (directory / "cpuset.cpus").read_text() == "1"
    with pytest.raises(CgroupError, match="requested 0,2, available: 0-1"):
        driver.create(CONTAINER_ID, Resources(cpuset_cpus="0,2"))


def test_v2_missing_controller_is_an_error(tmp_path: Path) -> None:
    driver, _ = v2_driver(tmp_path)
    (tmp_path / "cgroup.controllers").write_text("memory\n")
    with pytest.raises(CgroupError, match="--pids-limit: the pids cgroup controller"):
        driver.create(CONTAINER_ID, Resources(pids_limit=10))


def test_v2_swap_without_swap_accounting(tmp_path: Path) -> None:
    files = [name for name in V2_FILES if name != "memory.swap.max"]
    driver, directory = v2_driver(tmp_path, files)
    driver.create(CONTAINER_ID, Resources(memory=32 * MIB))  # the default: skipped
    assert (directory / "memory.max").read_text() == str(32 * MIB)
    with pytest.raises(CgroupError, match="--memory-swap cannot be applied"):
        driver.create(CONTAINER_ID, Resources(memory=32 * MIB, memory_swap=-1))


def test_v1_swap_without_swap_accounting(tmp_path: Path) -> None:
    fake_cgroupfs(tmp_path / "memory", ["cgroup.procs", "memory.limit_in_bytes"])
    driver = Driver(
        1,
        v1_mounts={"memory": Mount(tmp_path / "memory", "/", 1, frozenset({"memory"}))},
        own_paths={"memory": "/"},
    )
    cgroup = driver.create(CONTAINER_ID, Resources(memory=32 * MIB))  # the default: skipped
    assert cgroup.join_files == [str(tmp_path / "memory" / "hybridock" / CONTAINER_ID / "tasks")]
    with pytest.raises(CgroupError, match=r"--memory-swap cannot be applied.*swap accounting"):
        driver.create(CONTAINER_ID, Resources(memory=32 * MIB, memory_swap=64 * MIB))
    with pytest.raises(CgroupError, match="--pids-limit: the pids cgroup controller"):
        driver.create(CONTAINER_ID, Resources(pids_limit=3))


def test_v2_stats_and_oom(tmp_path: Path) -> None:
    driver, directory = v2_driver(tmp_path)
    cgroup = driver.create(CONTAINER_ID, Resources(memory=32 * MIB))
    (directory / "memory.current").write_text("10485760\n")
    (directory / "memory.stat").write_text("anon 8388608\ninactive_file 2097152\n")
    (directory / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\n")
    (directory / "pids.current").write_text("3\n")
    (directory / "io.stat").write_text("8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n")
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert cgroup.stats() == cgroups.Stats(
        memory_usage=8 * MIB,
        memory_limit=32 * MIB,
        cpu_usage_ns=1_500_000,
        pids=3,
        block_read=4096,
        block_write=8192,
    )
    assert not cgroup.oom_killed()
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cgroup.oom_killed()


def test_v1_stats_and_oom(tmp_path: Path) -> None:
    directories = {}
    for controller in ("memory", "cpuacct", "pids", "blkio"):
        directories[controller] = str(fake_cgroupfs(tmp_path / controller, []))
    cgroup = cgroups.Cgroup(1, directories)
    memory = Path(directories["memory"])
    (memory / "memory.usage_in_bytes").write_text("10485760\n")
    (memory / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (memory / "memory.stat").write_text("cache 0\ntotal_inactive_file 2097152\n")
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (Path(directories["cpuacct"]) / "cpuacct.usage").write_text("123456\n")
    (Path(directories["pids"]) / "pids.current").write_text("2\n")
    (Path(directories["blkio"]) / "blkio.throttle.io_service_bytes").write_text(
        "8:0 Read 100\n8:0 Write 200\n8:0 Total 300\nTotal 300\n"
    )
    assert cgroup.stats() == cgroups.Stats(8 * MIB, 0, 123456, 2, 100, 200)
    assert cgroup.oom_killed()
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert not cgroup.oom_killed()
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")
    (memory / "memory.failcnt").write_text("5\n")  # a kernel before 4.13
    assert cgroup.oom_killed()


def test_v1_cpuset_filled_down_from_the_first_filled_ancestor(tmp_path: Path) -> None:
    """Another process made hybridock/ and has not filled its cpus and mems yet: our
    directory and that parent are filled from the root (an empty cpuset refuses tasks)."""
    directory = fake_cgroupfs(tmp_path, ["cpuset.cpus", "cpuset.mems"])
    (tmp_path / "cpuset.cpus").write_text("0-1\n")
    (tmp_path / "cpuset.mems").write_text("0\n")
    cgroupfs.make_v1_directories(directory, cpuset=True)
    for path in (tmp_path / "hybridock", directory):
        assert (path / "cpuset.cpus").read_text() == "0-1", path
        assert (path / "cpuset.mems").read_text() == "0", path


MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("old", "new", "first"),
    [
        pytest.param(
            Resources(memory=64 * MIB),
            Resources(memory=128 * MIB),
            "memory.memsw.limit_in_bytes",
            id="grows",
        ),
        pytest.param(
            Resources(memory=128 * MIB),
            Resources(memory=32 * MIB),
            "memory.limit_in_bytes",
            id="shrinks",
        ),
        # unlimited is no limit: a first limit shrinks it, and memsw may not go below it
        pytest.param(
            Resources(), Resources(memory=32 * MIB), "memory.limit_in_bytes", id="first-limit"
        ),
    ],
)
def test_v1_update_writes_the_memory_limits_in_the_order_the_kernel_takes(
    old: Resources, new: Resources, first: str
) -> None:
    writes = [
        write.file for write in update_writes(1, old, new) if write.file.startswith("memory.")
    ]
    assert writes[0] == first
