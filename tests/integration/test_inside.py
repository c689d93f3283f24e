"""The view from inside a container, as docker 20.10 gives it (issue 17, and issue 10's
loopback): a working loopback, docker's namespaced sysctls, /sys/fs/cgroup, the user's
supplementary groups and /etc/hosts.

What docker does, and where it says so:
- loopback: runc brings ``lo`` up in every new network namespace (``--network none`` too);
- sysctls: moby's ``WithCommonOptions`` sets ``net.ipv4.ip_unprivileged_port_start=0`` and
  ``net.ipv4.ping_group_range=0 2147483647`` in a private network namespace, and IPv6 is off
  there (``net.ipv6.conf.{all,default}.disable_ipv6=1``) without ``--ipv6``; ``--sysctl`` is
  checked by docker's client (``opts.ValidateSysctl``: ``sysctl 'K=V' is not whitelisted``)
  and by runc (``sysctl "K" is not allowed in the hosts network namespace``);
- /sys/fs/cgroup: runc's ``mountCgroupV1`` (a tmpfs, each v1 hierarchy's container cgroup
  bound read-only under the host's mount name, symlinks for merged ones) or ``mountCgroupV2``;
- groups: moby's ``getUser`` (20.10.18+): the primary gid, the groups of /etc/group listing
  the user, then ``--group-add`` (``Unable to find group X``);
- /etc/hosts: libnetwork's ``etchosts.Build`` defaults, no address line without a network.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.test_containers import Box, box, name
from tests.support.testimages import GROUP

__all__ = ["box", "name"]  # fixtures shared with the container tests

pytestmark = [pytest.mark.root, pytest.mark.registry]

HTTPD_ROUNDTRIP = (
    "mkdir -p /tmp/www && echo served > /tmp/www/index.html && "
    "httpd -p {address}:8080 -h /tmp/www && wget -q -O - http://{url}:8080/index.html"
)


# --- loopback -----------------------------------------------------------------------------


@pytest.mark.parametrize("network", [[], ["--network", "none"]], ids=["default", "none"])
def test_loopback_is_up_with_ipv4_only(box: Box, network: list[str]) -> None:
    """IPv6 is off in the container's network namespace, as docker 20.10 has it without
    --ipv6: lo has no ::1."""
    shown = box.ok("run", "--rm", *network, "busybox", "ip", "addr", "show", "lo")
    assert "state UP" in shown or ",UP," in shown.splitlines()[0], shown
    assert "inet 127.0.0.1/8" in shown, shown
    assert "inet6" not in shown, shown


IPV6_SWITCHES = [f"/proc/sys/net/ipv6/conf/{c}/disable_ipv6" for c in ("all", "default", "lo")]
needs_ipv6 = pytest.mark.skipif(
    not Path(IPV6_SWITCHES[0]).exists(), reason="this kernel runs without IPv6"
)


@needs_ipv6
def test_ipv6_is_disabled_in_a_private_network(box: Box) -> None:
    assert box.ok("run", "--rm", "busybox", "cat", *IPV6_SWITCHES).split() == ["1", "1", "1"]


@needs_ipv6
def test_sysctl_enables_ipv6_again(box: Box) -> None:
    enabled = ["--sysctl", "net.ipv6.conf.all.disable_ipv6=0"]
    shown = box.ok("run", "--rm", *enabled, "busybox", "ip", "addr", "show", "lo")
    assert "inet6 ::1/128" in shown, shown


@pytest.mark.parametrize(
    ("address", "url", "flags"),
    [
        ("127.0.0.1", "127.0.0.1", []),
        pytest.param(
            "[::1]", "[::1]", ["--sysctl", "net.ipv6.conf.all.disable_ipv6=0"], marks=needs_ipv6
        ),
    ],
    ids=["ipv4", "ipv6-enabled"],
)
def test_a_process_reaches_a_server_in_its_own_container(
    box: Box, address: str, url: str, flags: list[str]
) -> None:
    script = HTTPD_ROUNDTRIP.format(address=address, url=url)
    assert box.ok("run", "--rm", *flags, "busybox", "sh", "-c", script) == "served\n"


# --- sysctls ------------------------------------------------------------------------------


def test_unprivileged_ports_start_at_zero_in_a_private_network(box: Box) -> None:
    values = box.ok(
        "run",
        "--rm",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        "/proc/sys/net/ipv4/ping_group_range",
    )
    assert values.split("\n")[0] == "0"
    assert values.split("\n")[1].split() == ["0", "2147483647"]
    # so a user without CAP_NET_BIND_SERVICE binds port 80, as under docker
    bound = box.ok(
        "run", "--rm", "-u", "65534", "busybox", "sh", "-c",
        "httpd -p 127.0.0.1:80 -h /tmp && echo bound",
    )  # fmt: skip
    assert bound == "bound\n"


def test_host_network_keeps_the_hosts_sysctls(box: Box) -> None:
    value = box.ok(
        "run", "--rm", "--network", "host", "busybox",
        "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    )  # fmt: skip
    host = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()
    assert value == host


def test_sysctl_flag_sets_namespaced_values(box: Box) -> None:
    values = box.ok(
        "run", "--rm",
        "--sysctl", "net.core.somaxconn=1234",
        "--sysctl", "kernel.shmmax=1048576",
        "--sysctl", "fs.mqueue.msg_max=20",
        "--sysctl", "net.ipv4.ip_unprivileged_port_start=900",
        "busybox", "cat",
        "/proc/sys/net/core/somaxconn",
        "/proc/sys/kernel/shmmax",
        "/proc/sys/fs/mqueue/msg_max",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    )  # fmt: skip
    assert values.split() == ["1234", "1048576", "20", "900"]
    # the host's own values are untouched
    assert Path("/proc/sys/kernel/shmmax").read_text().strip() != "1048576"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--sysctl", "kernel.hostname=x"], "sysctl 'kernel.hostname=x' is not whitelisted"),
        (["--sysctl", "vm.swappiness=1"], "sysctl 'vm.swappiness=1' is not whitelisted"),
        (["--sysctl", "net.ipv4.ip_forward"], "sysctl 'net.ipv4.ip_forward' is not whitelisted"),
        (
            ["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
            'sysctl "net.ipv4.ip_forward" is not allowed in the hosts network namespace',
        ),
        (
            ["--sysctl", "net.ipv4/../../kernel/core_pattern=x"],
            "sysctl 'net.ipv4/../../kernel/core_pattern=x' is not whitelisted",
        ),
    ],
    ids=["kernel", "vm", "no-value", "host-network", "path"],
)
def test_sysctl_outside_the_whitelist_is_refused_before_anything_exists(
    box: Box, arguments: list[str], message: str
) -> None:
    before = box.ok("ps", "-aq")
    result = box("run", "--rm", *arguments, "busybox", "true")
    assert result.returncode == 125, str(result)
    assert message in result.stderr, str(result)
    assert box.ok("ps", "-aq") == before


def test_a_sysctl_the_kernel_lacks_fails_the_start(box: Box) -> None:
    result = box("run", "--rm", "--sysctl", "net.core.no_such_knob=1", "busybox", "true")
    assert result.returncode == 125, str(result)
    assert "/proc/sys/net/core/no_such_knob" in result.stderr, str(result)


# --- /sys/fs/cgroup -----------------------------------------------------------------------


def host_v1_hierarchies() -> list[str]:
    """The mount names of the host's cgroup v1 hierarchies ("cpu,cpuacct", "systemd", ...)."""
    names = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[fields.index("-") + 1] == "cgroup":
            names.append(Path(fields[4]).name)
    return names


V1 = bool(host_v1_hierarchies())
needs_v1 = pytest.mark.skipif(not V1, reason="this host has no cgroup v1 hierarchies")


def mount_line(box: Box, *arguments: str, path: str = "/sys/fs/cgroup") -> str:
    """``type options`` of the mount at ``path`` inside a new container."""
    script = f"awk '$2 == \"{path}\" {{ print $3, $4 }}' /proc/self/mounts"
    return box.ok("run", "--rm", *arguments, "busybox", "sh", "-c", script).strip()


def test_cgroup_mount_is_read_only(box: Box) -> None:
    """On v2 the cgroup2 mount is read-only; on v1 the hierarchies are, and the tmpfs holding
    them stays writable, as docker 20.10 (runc 1.1) leaves it."""
    fstype, _, options = mount_line(box).partition(" ")
    assert fstype == ("tmpfs" if V1 else "cgroup2")
    flags = set(options.split(","))
    assert {"ro" if not V1 else "rw", "nosuid", "nodev", "noexec"} <= flags, options


@needs_v1
def test_cgroup_v1_hierarchies_are_bound_under_the_hosts_names(box: Box) -> None:
    listed = box.ok("run", "--rm", "busybox", "ls", "/sys/fs/cgroup").split()
    expected = set(host_v1_hierarchies())
    for merged in [n for n in expected if "," in n]:
        expected |= set(merged.split(","))  # runc's symlinks: cpu -> cpu,cpuacct
    assert set(listed) == expected
    hierarchy = mount_line(box, path="/sys/fs/cgroup/memory")
    fstype, _, options = hierarchy.partition(" ")
    assert fstype == "cgroup"
    assert {"ro", "nosuid", "nodev", "noexec", "memory"} <= set(options.split(",")), options


@needs_v1
def test_the_container_reads_its_own_memory_limit(box: Box) -> None:
    limit = box.ok(
        "run", "--rm", "-m", "64m", "busybox", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    )
    assert limit == "67108864\n"
    # the root of what it sees is its own cgroup: its pid is in there
    procs = box.ok(
        "run", "--rm", "-m", "64m", "busybox", "cat", "/sys/fs/cgroup/memory/cgroup.procs"
    )
    assert procs.split() == ["1"]


def test_privileged_makes_the_cgroup_mount_writable(box: Box) -> None:
    options = mount_line(box, "--privileged").partition(" ")[2].split(",")
    assert "rw" in options
    assert "ro" not in options


@needs_v1
def test_private_cgroup_namespace_shows_the_container_as_root(box: Box) -> None:
    script = "grep memory /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
    inside = box.ok(
        "run", "--rm", "--cgroupns", "private", "-m", "64m", "busybox", "sh", "-c", script
    )
    cgroup_line, limit = inside.split()
    assert cgroup_line.endswith(":memory:/"), inside
    assert limit == "67108864"
    host_view = box.ok(
        "run", "--rm", "--cgroupns", "host", "busybox", "grep", "memory", "/proc/self/cgroup"
    )
    assert host_view.strip().split(":")[2] != "/", host_view


def test_cgroupns_takes_only_host_or_private(box: Box) -> None:
    result = box("run", "--rm", "--cgroupns", "shared", "busybox", "true")
    assert result.returncode == 125, str(result)
    assert "invalid cgroup namespace mode" in result.stderr or "--cgroupns" in result.stderr


# --- groups -------------------------------------------------------------------------------


def test_image_groups_list_root_in_its_primary_group() -> None:
    # the expectation below is docker's rule applied to the test image's /etc/group
    assert GROUP == "root:x:0:\nnobody:x:65534:\n"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], "uid=0(root) gid=0(root) groups=0(root)"),
        (["-u", "65534"], "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)"),
        (["-u", "nobody:root"], "uid=65534(nobody) gid=0(root) groups=0(root)"),
        (
            ["--group-add", "nobody", "--group-add", "1234"],
            "uid=0(root) gid=0(root) groups=0(root),1234,65534(nobody)",
        ),
    ],
    ids=["root", "numbered-user", "explicit-group", "group-add"],
)
def test_id_shows_dockers_groups(box: Box, arguments: list[str], expected: str) -> None:
    assert box.ok("run", "--rm", *arguments, "busybox", "id").strip() == expected


def test_group_add_of_an_unknown_name_fails_the_start(box: Box, name: str) -> None:
    result = box("run", "--name", name, "--group-add", "nosuchgroup", "busybox", "true")
    assert result.returncode == 125, str(result)
    assert "Unable to find group nosuchgroup" in result.stderr, str(result)


def test_exec_gets_the_users_groups_and_group_add(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "--group-add", "1234", "busybox", "sleep", "60")
    as_root = box.ok("exec", name, "id").strip()
    assert as_root == "uid=0(root) gid=0(root) groups=0(root),1234"
    as_user = box.ok("exec", "-u", "65534", name, "id").strip()
    assert as_user == "uid=65534(nobody) gid=65534(nobody) groups=1234,65534(nobody)"


# --- /etc/hosts ---------------------------------------------------------------------------

DOCKER_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def test_etc_hosts_is_dockers_without_a_network(box: Box) -> None:
    assert (
        box.ok("run", "--rm", "--network", "none", "busybox", "cat", "/etc/hosts") == DOCKER_HOSTS
    )
