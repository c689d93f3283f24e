"""The probe image (issue 4 acceptance): a checklist run inside a container gives the answers
docker's defaults give, one asserted line per check.

The image is busybox plus ``/probe.sh``, which prints one ``key=value`` line per check:
capabilities, seccomp mode, no_new_privs, masked and read-only paths, the mount table, the
/dev nodes and links, the pids it can see and the network interfaces. It runs as pid 1
(``sh``, no init) with ``--network none``, as root, with no other flag.

The expected column is docker's, taken from moby's ``oci/defaults.go`` (``DefaultLinuxSpec``:
capabilities, mounts and their options, masked and read-only paths), the OCI runtime spec's
default devices and links (config-linux.md: null, zero, full, random, urandom, tty; ptmx,
/dev/fd, /dev/std*), and what runc does with them (a masked file is /dev/null bound over it, a
masked directory a read-only empty tmpfs, a read-only path a read-only bind of itself).
Capabilities: docker has left the inheritable set empty since 20.10.14 (CVE-2022-24769), so
only bounding, permitted and effective hold the default list; the ambient set is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.integration.test_containers import Box, make_box
from tests.support.images import ImageSpec
from tests.support.layers import File, Layer
from tests.support.registry import Registry
from tests.support.testimages import busybox_entries, host_platform

pytestmark = [pytest.mark.root, pytest.mark.registry]

# --- docker's defaults (moby oci/defaults.go) -------------------------------------------------

CAPABILITY_BITS = {  # linux/capability.h
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_RAW": 13,
    "CAP_SYS_CHROOT": 18,
    "CAP_MKNOD": 27,
    "CAP_AUDIT_WRITE": 29,
    "CAP_SETFCAP": 31,
}
DOCKER_DEFAULT_CAPABILITIES = [  # DefaultCapabilities()
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]


def capability_mask(names: list[str]) -> str:
    """/proc/PID/status spelling of a capability set: 16 hex digits."""
    return f"{sum(1 << CAPABILITY_BITS[name] for name in names):016x}"


DOCKER_MASKED_PATHS = [  # MaskedPaths
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
]
DOCKER_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# The host's cgroup version decides what runc mounts for DefaultLinuxSpec's cgroup mount at
# /sys/fs/cgroup: a tmpfs of the v1 hierarchies (mountCgroupV1), or cgroup2 (mountCgroupV2).
CGROUP_V1 = any(
    line.split(" - ")[1].startswith("cgroup ")
    for line in Path("/proc/self/mountinfo").read_text().splitlines()
    if " - " in line
)

# (destination, type, options) as in DefaultLinuxSpec's Mounts; / is the image's overlay and
# the /etc files are docker's bind mounts.
DOCKER_MOUNTS = [
    ("/", "overlay", ["rw"]),
    ("/proc", "proc", ["rw", "nosuid", "noexec", "nodev"]),
    ("/dev", "tmpfs", ["rw", "nosuid", "strictatime", "mode=755", "size=65536k"]),
    (
        "/dev/pts",
        "devpts",
        ["rw", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    ),
    ("/sys", "sysfs", ["ro", "nosuid", "noexec", "nodev"]),
    ("/dev/mqueue", "mqueue", ["rw", "nosuid", "noexec", "nodev"]),
    ("/dev/shm", "tmpfs", ["rw", "nosuid", "noexec", "nodev", "mode=1777"]),
    (
        "/sys/fs/cgroup",
        "tmpfs" if CGROUP_V1 else "cgroup2",
        # runc 1.1 leaves v1's tmpfs writable; the hierarchies in it are read-only
        ["rw" if CGROUP_V1 else "ro", "nosuid", "noexec", "nodev", "relatime"],
    ),
    ("/etc/resolv.conf", None, ["rw"]),
    ("/etc/hostname", None, ["rw"]),
    ("/etc/hosts", None, ["rw"]),
]
# docker's default --shm-size (daemon/config: DefaultShmSize), given to /dev/shm as size=.
DOCKER_SHM_SIZE = 64 * 1024 * 1024
# The flags /proc/mounts shows, so the ones a mount line can be compared on; "newinstance" and
# "strictatime" leave no trace there, mode/size/gid are shown without leading zeros.
SHOWN_FLAGS = ("ro", "rw", "nosuid", "nodev", "noexec")

# The OCI runtime spec's default devices (char, major, minor) and links.
DEFAULT_DEVICES = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}
DEFAULT_LINKS = {
    "/dev/ptmx": "pts/ptmx",
    "/dev/fd": "/proc/self/fd",
    "/dev/stdin": "/proc/self/fd/0",
    "/dev/stdout": "/proc/self/fd/1",
    "/dev/stderr": "/proc/self/fd/2",
}

# --- the probe -----------------------------------------------------------------------------------

PROBE = r"""#!/bin/sh
# One key=value line per check. Only builtins where a fork would show up as an extra pid.
mount_of() {  # "type options" of the last mount on $1
    awk -v m="$1" '$2 == m { found = $3 " " $4 } END { print found }' /proc/self/mounts
}
while IFS=: read -r key value; do
    case $key in
    CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp|NoNewPrivs) set -- $value; echo "$key=$1" ;;
    esac
done < /proc/$$/status
echo "pid_self=$$"
set -- /proc/[0-9]*
echo "visible_pids=$*"
set -- /sys/class/net/*
echo "interfaces=$*"
for path in __MASKED__; do
    if [ ! -e "$path" ]; then
        echo "masked:$path=absent"
    elif [ -d "$path" ]; then
        set -- "$path"/* "$path"/.[!.]*
        count=0
        for entry in "$@"; do [ -e "$entry" ] && count=$((count + 1)); done
        echo "masked:$path=dir:$count"
    elif head -c 4096 "$path" > /tmp/.probe 2>/dev/null; then
        echo "masked:$path=file:$(wc -c < /tmp/.probe)"
    else
        echo "masked:$path=unreadable"
    fi
done
for path in __MASKED__; do
    if [ -d "$path" ]; then
        echo "masked-mount:$path=$(mount_of "$path")"
    fi
done
for path in __READONLY__ __MOUNTS__; do
    echo "mount:$path=$(mount_of "$path")"
done
for name in __DEVICES__; do
    echo "device:$name=$(stat -c '%F %t %T' /dev/$name 2>&1)"
done
for path in __LINKS__; do
    echo "link:$path=$(readlink $path)"
done
set -- /dev/pts/*
echo "devpts_entries=$*"
echo "shm_mode=$(stat -c %a /dev/shm)"
echo "id=$(id)"
echo "lo_flags=$(cat /sys/class/net/lo/flags)"
echo "ip_unprivileged_port_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"
echo "ping_group_range=$(cat /proc/sys/net/ipv4/ping_group_range | tr '\t' ' ')"
echo "etc_hosts=$(tr '\n\t' '| ' < /etc/hosts)"
"""


def probe_script() -> str:
    return (
        PROBE.replace("__MASKED__", " ".join(DOCKER_MASKED_PATHS))
        .replace("__READONLY__", " ".join(DOCKER_READONLY_PATHS))
        .replace("__MOUNTS__", " ".join(m[0] for m in DOCKER_MOUNTS))
        .replace("__DEVICES__", " ".join(DEFAULT_DEVICES))
        .replace("__LINKS__", " ".join(DEFAULT_LINKS))
    )


def probe_image() -> ImageSpec:
    return ImageSpec(
        layers=[
            Layer(busybox_entries()),
            Layer([File("probe.sh", probe_script(), mode=0o755)]),
        ],
        cmd=["/probe.sh"],
        platform=host_platform(),
    )


@pytest.fixture(scope="module")
def probed(
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    image_builder: ImageBuilder,
) -> dict[str, str]:
    """The probe's answers under hybridock's defaults, by key."""
    pushed = image_builder.push(probe_image(), session_registry, "probe/checklist")
    box: Box = make_box(tmp_path_factory.mktemp("probe"), session_registry)
    try:
        box.ok("pull", pushed.reference)
        output = box.ok("run", "--rm", "--network", "none", pushed.reference)
    finally:
        box.discard()
    answers: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        assert key not in answers, f"{key} answered twice"
        answers[key] = value
    return answers


@dataclass(frozen=True)
class Check:
    key: str
    docker: str  # what docker's defaults answer
    # how an answer is reduced before it is compared (the mount lines keep docker's flags only)
    reduce: str = "exact"


def mount_answer(answer: str, *, with_type: bool) -> str:
    fstype, _, options = answer.partition(" ")
    flags = [flag for flag in options.split(",") if flag in SHOWN_FLAGS]
    return (f"{fstype} " if with_type else "") + ",".join(sorted(flags))


def docker_mount(fstype: str | None, options: list[str]) -> str:
    flags = sorted(flag for flag in options if flag in SHOWN_FLAGS)
    return (f"{fstype} " if fstype else "") + ",".join(flags)


def masked_expectation(path: str) -> str:
    """docker masks what exists: a file reads empty, a directory is an empty tmpfs."""
    host = Path(path)
    if not host.exists():
        return "absent"
    return "dir:0" if host.is_dir() else "file:0"


def readonly_expectation(path: str) -> str:
    """docker binds a read-only path onto itself and remounts the bind read-only; the bind
    keeps /proc's own nosuid, nodev, noexec. A path this kernel does not have is skipped (as
    runc does): there is no mount to show."""
    if not Path(path).exists():
        return ""
    proc = next(options for where, _, options in DOCKER_MOUNTS if where == "/proc")
    return docker_mount(None, ["ro", *(o for o in proc if o != "rw")])


def checks() -> list[Check]:
    default = DOCKER_DEFAULT_CAPABILITIES
    table = [
        Check("CapBnd", capability_mask(default)),
        Check("CapPrm", capability_mask(default)),
        Check("CapEff", capability_mask(default)),
        Check("CapInh", capability_mask([])),
        Check("CapAmb", capability_mask([])),
        Check("Seccomp", "2"),  # docker's default profile: filter mode
        Check("NoNewPrivs", "0"),  # off unless --security-opt no-new-privileges
        Check("pid_self", "1"),
        Check("visible_pids", "/proc/1"),  # only the probe itself, none of the host's
        Check("interfaces", "/sys/class/net/lo"),  # --network none: loopback only
    ]
    table += [Check(f"masked:{path}", masked_expectation(path)) for path in DOCKER_MASKED_PATHS]
    table += [
        # runc hides a directory under an empty tmpfs mounted MS_RDONLY (and nothing else);
        # hybridock adds nosuid,nodev,noexec, which change nothing on an empty read-only
        # file system, so only the type and ro/rw are compared
        Check(f"masked-mount:{path}", "tmpfs ro", "typed-ro-rw")
        for path in DOCKER_MASKED_PATHS
        if Path(path).is_dir()
    ]
    table += [
        Check(f"mount:{path}", readonly_expectation(path), "flags")
        for path in DOCKER_READONLY_PATHS
    ]
    table += [
        Check(
            f"mount:{path}",
            docker_mount(fstype, options),
            "typed-flags" if fstype else "flags",
        )
        for path, fstype, options in DOCKER_MOUNTS
    ]
    table += [
        Check(f"device:{name}", f"character special file {major:x} {minor:x}")
        for name, (major, minor) in DEFAULT_DEVICES.items()
    ]
    table += [Check(f"link:{path}", target) for path, target in DEFAULT_LINKS.items()]
    table += [
        # newinstance: a devpts of the container's own, holding its ptmx and no host pty
        Check("devpts_entries", "/dev/pts/ptmx"),
        Check("devpts_options", "gid=5,mode=620,ptmxmode=666"),
        Check("dev_options", "mode=755,size=65536k"),
        Check("shm_options", f"size={DOCKER_SHM_SIZE // 1024}k"),
        Check("shm_mode", "1777"),
        # supplementary groups: the primary group and the image's /etc/group memberships
        # (busybox's lists nobody else in root), as moby's getUser since 20.10.18
        Check("id", "uid=0(root) gid=0(root) groups=0(root)"),
        Check("lo_flags", "0x9"),  # IFF_UP | IFF_LOOPBACK: runc brings lo up
        # moby's WithCommonOptions, in every private network namespace
        Check("ip_unprivileged_port_start", "0"),
        Check("ping_group_range", "0 2147483647"),
        # libnetwork's etchosts defaults; no address line with --network none
        Check(
            "etc_hosts",
            "127.0.0.1 localhost|::1 localhost ip6-localhost ip6-loopback|fe00::0 ip6-localnet|"
            "ff00::0 ip6-mcastprefix|ff02::1 ip6-allnodes|ff02::2 ip6-allrouters|",
        ),
    ]
    return table


CHECKS = checks()
# checks read from another line's mount options: key -> (mount point, the options compared)
DERIVED = {
    "devpts_options": ("/dev/pts", ("gid", "mode", "ptmxmode")),
    "dev_options": ("/dev", ("mode", "size")),
    "shm_options": ("/dev/shm", ("size",)),
}


def answer_for(check: Check, probed: dict[str, str]) -> str:
    if check.key in DERIVED:
        mountpoint, wanted = DERIVED[check.key]
        options = probed[f"mount:{mountpoint}"].partition(" ")[2].split(",")
        return ",".join(sorted(o for o in options if o.partition("=")[0] in wanted))
    answer = probed[check.key]
    if check.reduce == "flags":
        return mount_answer(answer, with_type=False)
    if check.reduce == "typed-flags":
        return mount_answer(answer, with_type=True)
    if check.reduce == "typed-ro-rw":
        fstype, _, flags = answer.partition(" ")
        return f"{fstype} " + ",".join(o for o in flags.split(",") if o in ("ro", "rw"))
    return answer


@pytest.mark.parametrize("check", CHECKS, ids=[c.key for c in CHECKS])
def test_probe_answers_as_docker_defaults(check: Check, probed: dict[str, str]) -> None:
    assert answer_for(check, probed) == check.docker


def test_probe_checklist_is_complete(probed: dict[str, str]) -> None:
    """Every line the probe prints is asserted by a check above, and every check is answered."""
    asserted = {c.key for c in CHECKS} - set(DERIVED)
    assert set(probed) == asserted
