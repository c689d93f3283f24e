"""The native netlink path of bridge networks, for real: bridges, veth pairs, addresses and
routes made by ``_native`` and read back with iproute2 (``ip -j``).

Every test runs in a network namespace of its own (``private_network``): the test's thread
unshares one before the test and returns to its own after, so the links, the subprocesses
that look at them and the container all live there and nothing touches the host's network.
The container's namespaces are looked at from outside with ``nsenter --net=/proc/PID/fd/N``.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.native.test_spawn import build_rootfs, run

from hybridock import _native
from hybridock.errors import ConfigError, NetworkError, SpawnError

pytestmark = pytest.mark.root

CLONE_NEWNET = 0x40000000
_LIBC = ctypes.CDLL(None, use_errno=True)

BRIDGE = "hnt0"
GATEWAY = "10.88.0.1"
MAC = "02:42:0a:58:00:02"
MULTICAST = "01:00:5e:00:00:01"


def namespace_inode() -> int:
    """The inode of the calling thread's network namespace."""
    return Path("/proc/thread-self/ns/net").stat().st_ino


@pytest.fixture
def private_network() -> Iterator[int]:
    """This thread in a new network namespace with ``lo`` up for the test (its inode), and
    back in its own afterwards, also when the test fails."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    home = namespace_inode()
    try:
        if _LIBC.unshare(CLONE_NEWNET) != 0:
            pytest.skip(f"cannot unshare a network namespace: {os.strerror(ctypes.get_errno())}")
        try:
            private = namespace_inode()
            assert private != home, "still in our own network namespace"
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            yield private
        finally:
            if _LIBC.setns(own, CLONE_NEWNET) != 0:
                raise RuntimeError("cannot return to our own network namespace")
        assert namespace_inode() == home
    finally:
        os.close(own)


@pytest.fixture
def netns(private_network: int) -> Iterator[int]:
    """A namespace from ``new_network_namespace``, closed after the test."""
    fd = _native.new_network_namespace()
    try:
        yield fd
    finally:
        os.close(fd)


def ip(*args: str, netns: int | None = None) -> Any:
    """``ip -j ARGS`` in the test's namespace, or in ``netns`` (an fd of this process)."""
    enter = [] if netns is None else ["nsenter", f"--net=/proc/{os.getpid()}/fd/{netns}"]
    output = subprocess.run(
        [*enter, "ip", "-j", *args], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output) if output.strip() else []


def link_names(netns: int | None = None) -> set[str]:
    return {link["ifname"] for link in ip("link", "show", netns=netns)}


def ipv4_addresses(name: str, netns: int | None = None) -> list[str]:
    [link] = ip("addr", "show", "dev", name, netns=netns)
    return [
        f"{entry['local']}/{entry['prefixlen']}"
        for entry in link["addr_info"]
        if entry["family"] == "inet"
    ]


def attach(netns: int, host_name: str, **overrides: Any) -> None:
    arguments: dict[str, Any] = {
        "bridge": BRIDGE,
        "host_name": host_name,
        "address": "10.88.0.2",
        "prefix": 16,
        "gateway": GATEWAY,
        "mac": MAC,
    }
    arguments.update(overrides)
    _native.attach_veth(netns, **arguments)


def attach_to_nothing(gateway: str | None, mac: str) -> None:
    """An attachment whose values are refused before any fd or link is looked at."""
    _native.attach_veth(0, BRIDGE, "v0", "10.88.0.2", 16, gateway, mac)


# --- namespaces -------------------------------------------------------------------------------


def test_new_namespace_has_lo_up_and_the_thread_comes_home(private_network: int) -> None:
    fd = _native.new_network_namespace()
    try:
        assert namespace_inode() == private_network
        assert os.get_inheritable(fd) is False
        assert Path(f"/proc/self/fd/{fd}").stat().st_ino != private_network
        [lo] = ip("link", "show", netns=fd)
        assert lo["ifname"] == "lo"
        assert "UP" in lo["flags"]
        assert ipv4_addresses("lo", netns=fd) == ["127.0.0.1/8"]
    finally:
        os.close(fd)


# --- bridges ----------------------------------------------------------------------------------


def test_bridge_made_once_then_found(private_network: int) -> None:
    assert _native.ensure_bridge(BRIDGE, GATEWAY, 16) is True
    assert _native.ensure_bridge(BRIDGE, GATEWAY, 16) is False
    [bridge] = ip("-d", "link", "show", BRIDGE)
    assert bridge["linkinfo"]["info_kind"] == "bridge"
    assert "UP" in bridge["flags"]
    assert bridge["mtu"] == 1500
    assert ipv4_addresses(BRIDGE) == [f"{GATEWAY}/16"]


def test_bridge_races_make_it_once(private_network: int) -> None:
    def make(_: int) -> bool:
        assert namespace_inode() == private_network  # threads start in their maker's
        return _native.ensure_bridge(BRIDGE, GATEWAY, 16, mtu=1400)

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(make, range(16)))
    assert made.count(True) == 1
    assert ipv4_addresses(BRIDGE) == [f"{GATEWAY}/16"]
    assert ip("link", "show", BRIDGE)[0]["mtu"] == 1400


def test_bridge_name_held_by_another_kind_of_link(private_network: int) -> None:
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "veth", "peer", "hntp"], check=True)
    with pytest.raises(NetworkError) as raised:
        _native.ensure_bridge(BRIDGE, GATEWAY, 16)
    assert str(raised.value) == f"creating bridge {BRIDGE}: {BRIDGE} exists and is not a bridge"
    assert raised.value.errno == errno.EEXIST


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("long name", lambda: _native.ensure_bridge("a-name-too-long0", GATEWAY, 16)),
        ("bad address", lambda: _native.ensure_bridge(BRIDGE, "10.88.0", 16)),
        ("prefix above 32", lambda: _native.ensure_bridge(BRIDGE, GATEWAY, 33)),
        ("bad mac", lambda: attach_to_nothing(None, "02:42")),
        ("multicast mac", lambda: attach_to_nothing(None, MULTICAST)),
        ("bad gateway", lambda: attach_to_nothing("gw", MAC)),
        ("negative fd", lambda: _native.attach_veth(-1, BRIDGE, "v0", "10.88.0.2", 16, None, MAC)),
        ("slash in name", lambda: _native.delete_link("a/b")),
    ],
)  # fmt: skip
def test_unusable_values_are_config_errors(private_network: int, name: str, call: Any) -> None:
    with pytest.raises(ConfigError):
        call()
    assert link_names() == {"lo"}, name


# --- veth pairs -------------------------------------------------------------------------------


def test_veth_joins_the_bridge_and_the_namespace(netns: int) -> None:
    _native.ensure_bridge(BRIDGE, GATEWAY, 16)
    attach(netns, "hntv0", mtu=1400)
    [host] = ip("link", "show", "hntv0")
    assert host["master"] == BRIDGE
    assert "UP" in host["flags"]
    assert host["mtu"] == 1400
    assert link_names(netns) == {"lo", "eth0"}
    [eth0] = ip("link", "show", "eth0", netns=netns)
    assert (eth0["address"], eth0["mtu"]) == (MAC, 1400)
    assert "UP" in eth0["flags"]
    assert ipv4_addresses("eth0", netns=netns) == ["10.88.0.2/16"]
    [default] = ip("route", "show", "default", netns=netns)
    assert (default["gateway"], default["dev"]) == (GATEWAY, "eth0")
    assert "UP" in ip("link", "show", "lo", netns=netns)[0]["flags"]


def test_second_interface_without_gateway_has_no_default_route(netns: int) -> None:
    _native.ensure_bridge(BRIDGE, GATEWAY, 16)
    _native.ensure_bridge("hnt1", "10.89.0.1", 24)
    attach(netns, "hntv0")
    attach(
        netns, "hntv1", bridge="hnt1", address="10.89.0.5", prefix=24, gateway=None,
        mac="02:42:0a:59:00:05", interface="eth1",
    )  # fmt: skip
    assert ipv4_addresses("eth1", netns=netns) == ["10.89.0.5/24"]
    routes = ip("route", "show", "default", netns=netns)
    assert [route["dev"] for route in routes] == ["eth0"]


@pytest.mark.parametrize(
    ("name", "overrides", "message", "code"),
    [
        (
            "bridge missing",
            {"bridge": "nobridge"},
            "attaching hntv1 to bridge nobridge: No such device",
            errno.ENODEV,
        ),
        (
            "host name taken",
            {"host_name": "taken0"},
            "creating veth pair taken0: an interface named taken0 already exists",
            errno.EEXIST,
        ),
        (
            "interface name taken in the namespace",
            {"interface": "eth0"},
            "creating veth pair hntv1: an interface named eth0 already exists in the"
            " container's namespace",
            errno.EEXIST,
        ),
        (
            "gateway unreachable, after the pair exists",
            {"interface": "eth1", "gateway": "10.99.0.1"},
            "adding the default route via 10.99.0.1 on eth1: Network is unreachable",
            errno.ENETUNREACH,
        ),
    ],
)
def test_failed_attachment_leaves_no_link(
    netns: int, name: str, overrides: dict[str, Any], message: str, code: int
) -> None:
    _native.ensure_bridge(BRIDGE, GATEWAY, 16)
    attach(netns, "hntv0")
    subprocess.run(["ip", "link", "add", "taken0", "type", "veth", "peer", "takenp"], check=True)
    host_before, inside_before = link_names(), link_names(netns)
    with pytest.raises(NetworkError) as raised:
        attach(netns, overrides.pop("host_name", "hntv1"), **overrides)
    assert str(raised.value) == message, name
    assert raised.value.errno == code
    assert (link_names(), link_names(netns)) == (host_before, inside_before), name


def test_delete_link_twice(netns: int) -> None:
    _native.ensure_bridge(BRIDGE, GATEWAY, 16)
    attach(netns, "hntv0")
    assert _native.link_exists("hntv0") is True
    assert _native.delete_link("hntv0") is True
    assert _native.delete_link("hntv0") is False
    assert _native.link_exists("hntv0") is False
    assert link_names(netns) == {"lo"}, "the peer goes with the host end"


def test_the_pair_goes_with_the_namespace(private_network: int) -> None:
    _native.ensure_bridge(BRIDGE, GATEWAY, 16)
    fd = _native.new_network_namespace()
    try:
        attach(fd, "hntv0")
    finally:
        os.close(fd)
    deadline = time.monotonic() + 30  # the kernel cleans namespaces up in a worker
    while _native.link_exists("hntv0") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _native.link_exists("hntv0") is False


# --- containers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = build_rootfs(tmp_path_factory.mktemp("net") / "rootfs")
    (root / "bin" / "ip").symlink_to("busybox")
    return root


def test_container_is_born_in_the_namespace(netns: int, private_network: int, rootfs: Path) -> None:
    _native.ensure_bridge(BRIDGE, GATEWAY, 16)
    attach(netns, "hntv0")
    script = "ip addr show eth0; ip route; cat /proc/sys/net/ipv4/ip_unprivileged_port_start"
    result = run(
        rootfs,
        ["sh", "-c", script],
        network_namespace=netns,
        sysctls=[("net.ipv4.ip_unprivileged_port_start", "80")],
    )
    assert result.code == 0, result.stderr
    assert "inet 10.88.0.2/16" in result.stdout
    assert f"link/ether {MAC}" in result.stdout
    assert f"default via {GATEWAY} dev eth0" in result.stdout
    assert result.stdout.endswith("80\n")
    assert namespace_inode() == private_network
    inside = ["nsenter", f"--net=/proc/{os.getpid()}/fd/{netns}", "cat"]
    written = subprocess.run(
        [*inside, "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert written == "80\n", "the sysctl went to the joined namespace"


def test_joining_something_else_fails_at_home(private_network: int, rootfs: Path) -> None:
    not_a_namespace = os.open(rootfs, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with pytest.raises(SpawnError) as raised:
            run(rootfs, ["true"], network_namespace=not_a_namespace)
    finally:
        os.close(not_a_namespace)
    assert raised.value.exit_code == 125
    assert "setns (net)" in str(raised.value)
    assert namespace_inode() == private_network


def test_joining_needs_a_network_of_its_own(netns: int, rootfs: Path) -> None:
    with pytest.raises(ConfigError):
        _native.SpawnSpec(["true"], str(rootfs), network=False, network_namespace=netns)
