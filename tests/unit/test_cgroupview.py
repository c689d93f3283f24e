"""/sys/fs/cgroup's layout (runc's mountCgroupV1/V2) and docker's sysctl rules, from text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hybridock.errors import ConfigError
from hybridock.runtime.cgroupview import spawn_fields, v1_hierarchies
from hybridock.runtime.config import check_cgroupns
from hybridock.runtime.security import check_sysctls, container_sysctls, parse_sysctl

# a hybrid host: merged cpu,cpuacct, a named systemd hierarchy, a controller-less cgroup2
MOUNTINFO = """\
24 23 0:20 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
26 24 0:22 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
27 24 0:23 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
28 24 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
29 24 0:25 /sub /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
30 23 0:24 / /mnt/memory-again rw - cgroup cgroup rw,memory
"""
OWN = "4:pids:/sub/session\n3:memory:/session\n2:cpu,cpuacct:/\n1:name=systemd:/user.slice\n0::/\n"


def test_v1_hierarchies_once_each_with_their_options() -> None:
    found = [(h.name, h.options) for h in v1_hierarchies(MOUNTINFO)]
    assert found == [
        ("systemd", ["name=systemd"]),
        ("cpu,cpuacct", ["cpu", "cpuacct"]),
        ("memory", ["memory"]),
        ("pids", ["pids"]),
    ]


def test_host_namespace_binds_the_containers_cgroups_and_links_merged_ones() -> None:
    fields = spawn_fields(
        version=1,
        directories={
            "memory": "/sys/fs/cgroup/memory/session/hybridock/c",
            "cpu": "/sys/fs/cgroup/cpu,cpuacct/hybridock/c",
            "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/hybridock/c",
        },
        cgroupns="",
        writable=False,
        mountinfo=MOUNTINFO,
        own_cgroup=OWN,
    )
    assert fields == {
        "cgroup_namespace": False,
        "cgroup_writable": False,
        "cgroup_view": "v1",
        "cgroup_hierarchies": [
            # not managed by hybridock: where the container inherits its place
            ("systemd", "/sys/fs/cgroup/systemd/user.slice", "name=systemd"),
            ("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/hybridock/c", "cpu,cpuacct"),
            ("memory", "/sys/fs/cgroup/memory/session/hybridock/c", "memory"),
            # a mount whose root is a subtree: the path below it
            ("pids", "/sys/fs/cgroup/pids/session", "pids"),
        ],
        "cgroup_links": [("cpu", "cpu,cpuacct"), ("cpuacct", "cpu,cpuacct")],
    }


def test_private_namespace_mounts_the_hierarchies_anew() -> None:
    fields = spawn_fields(
        version=1,
        directories={},
        cgroupns="private",
        writable=True,
        mountinfo=MOUNTINFO,
        own_cgroup=OWN,
    )
    assert fields["cgroup_namespace"] is True
    assert fields["cgroup_writable"] is True
    assert [(name, source) for name, source, _ in fields["cgroup_hierarchies"]] == [
        ("systemd", None),
        ("cpu,cpuacct", None),
        ("memory", None),
        ("pids", None),
    ]


@pytest.mark.parametrize(("mode", "private"), [("", True), ("host", False), ("private", True)])
def test_v2_is_one_cgroup2_mount_private_by_default(mode: str, private: bool) -> None:
    fields = spawn_fields(
        version=2, directories={"": "/sys/fs/cgroup/hybridock/c"}, cgroupns=mode, writable=False
    )
    assert fields == {
        "cgroup_namespace": private,
        "cgroup_writable": False,
        "cgroup_view": "v2",
    }


def test_cgroupns_modes() -> None:
    assert check_cgroupns("host") == "host"
    with pytest.raises(ConfigError, match="invalid cgroup namespace mode: shared"):
        check_cgroupns("shared")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("net.core.somaxconn=1024", ("net.core.somaxconn", "1024")),
        ("kernel.sem=250 32000 32 128", ("kernel.sem", "250 32000 32 128")),
        ("fs.mqueue.msg_max=20", ("fs.mqueue.msg_max", "20")),
        ("net.ipv4.conf.all.rp_filter=", ("net.ipv4.conf.all.rp_filter", "")),
    ],
)
def test_whitelisted_sysctls(text: str, parsed: tuple[str, str]) -> None:
    assert parse_sysctl(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "kernel.hostname=x",
        "kernel.shmmaxx=1",
        "vm.swappiness=1",
        "net.core.somaxconn",
        "net.ipv4/../../kernel/core_pattern=|/x",
        "net..core=1",
        "fs.mqueue.=1",
    ],
)
def test_sysctls_docker_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"sysctl '{text}' is not whitelisted")):
        parse_sysctl(text)


def test_network_sysctls_need_a_private_network() -> None:
    check_sysctls([("net.core.somaxconn", "1"), ("kernel.sem", "1")], private_network=True)
    check_sysctls([("kernel.sem", "1")], private_network=False)
    with pytest.raises(ConfigError, match=re.escape('"net.core.somaxconn" is not allowed in')):
        check_sysctls([("net.core.somaxconn", "1")], private_network=False)


def test_dockers_network_defaults_come_first_and_the_users_win() -> None:
    merged = dict(
        container_sysctls([("net.ipv4.ip_unprivileged_port_start", "80")], private_network=True)
    )
    assert merged["net.ipv4.ip_unprivileged_port_start"] == "80"
    assert merged["net.ipv4.ping_group_range"] == "0 2147483647"
    if Path("/proc/sys/net/ipv6").exists():  # IPv6 off, as docker without --ipv6
        assert merged["net.ipv6.conf.all.disable_ipv6"] == "1"
        assert merged["net.ipv6.conf.default.disable_ipv6"] == "1"
    enabled = container_sysctls([("net.ipv6.conf.all.disable_ipv6", "0")], private_network=True)
    assert ("net.ipv6.conf.all.disable_ipv6", "0") in enabled
    assert container_sysctls([("kernel.sem", "1")], private_network=False) == [("kernel.sem", "1")]
