"""Networking end to end, as docker's users meet it: the default bridge, published ports, user
networks with names, and nothing left behind.

The suite runs in a network namespace of its own (scripts/netns-run; tests/conftest.py checks),
so the bridges, veths and NAT rules made here, and every connection, stay inside it: traffic
goes only to its loopback and to the containers' addresses.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import json
import os
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_containers import Box, library_box, name, wait_for
from tests.support.netns import links, nat_rules
from tests.support.registry import Registry

__all__ = ["name"]  # a fixture shared with the container tests
pytestmark = [pytest.mark.root, pytest.mark.registry]

WEB = (
    "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
)


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    with library_box(tmp_path_factory, session_registry, image_builder, "network") as made:
        yield made


def fetch(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http only
        body: bytes = response.read()
    return body.decode()


def serving(url: str) -> bool:
    try:
        return fetch(url, timeout=2).startswith("hello-from-")
    except OSError:
        return False


def leases(box: Box) -> int:
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(box.root / "metadata.db") as connection:
        return int(
            connection.execute(
                "SELECT (SELECT count(*) FROM endpoints) + (SELECT count(*) FROM published_ports)"
            ).fetchone()[0]
        )


# --- the default bridge and published ports -----------------------------------------------------


def test_published_port_answers_on_loopback_and_the_gateway(box: Box, name: str) -> None:
    box.ok("run", "-d", "-p", "8080:80", "--name", name, "busybox", "sh", "-c", WEB)
    wait_for(lambda: serving("http://127.0.0.1:8080/"))
    hostname = box.inspect(name)["Config"]["Hostname"]  # type: ignore[index]
    assert fetch("http://127.0.0.1:8080/").strip() == f"hello-from-{hostname}"
    settings = box.inspect(name)["NetworkSettings"]
    assert isinstance(settings, dict)
    address = settings["IPAddress"]
    assert ipaddress.IPv4Address(address) in ipaddress.IPv4Network("172.17.0.0/16")
    assert settings["Gateway"] == "172.17.0.1"
    assert settings["MacAddress"] == "02:42:" + ":".join(
        f"{byte:02x}" for byte in ipaddress.IPv4Address(address).packed
    )
    any_address = "0.0.0.0"  # noqa: S104 - what docker shows for a binding without one
    assert settings["Ports"] == {"80/tcp": [{"HostIp": any_address, "HostPort": "8080"}]}
    assert settings["Networks"]["bridge"]["IPAddress"] == address
    assert serving("http://172.17.0.1:8080/")  # the host's other address
    # outbound NAT as docker sets it (configured and checked, never exercised outwards)
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"
    saved = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    assert "-A HYBRIDOCK-POSTROUTING -s 172.17.0.0/16 ! -o hybridock0 -j MASQUERADE" in saved
    assert serving(f"http://{address}:80/")  # the container's own address
    assert box.ok("port", name) == "80/tcp -> 0.0.0.0:8080\n"
    assert box.ok("port", name, "80") == "0.0.0.0:8080\n"
    assert "0.0.0.0:8080->80/tcp" in box.ok("ps", "--filter", f"name={name}")
    # hairpin: the container reaches its own published port through the host's address
    assert "hello-from-" in box.ok("exec", name, "wget", "-qO-", "http://172.17.0.1:8080/")
    # /etc/hosts has the container's address, as docker writes it
    assert f"{address}\t" in box.ok("exec", name, "cat", "/etc/hosts")
    box.ok("rm", "-f", name)
    assert not serving("http://127.0.0.1:8080/")
    assert leases(box) == 0
    assert not [rule for rule in nat_rules() if "--dport 8080" in rule]


def test_loopback_binding_picks_a_free_port_that_port_reports(box: Box, name: str) -> None:
    box.ok("run", "-d", "-p", "127.0.0.1::80", "--name", name, "busybox", "sh", "-c", WEB)
    shown = box.ok("port", name, "80/tcp").strip()
    host, _, port = shown.rpartition(":")
    assert host == "127.0.0.1"
    assert int(port) > 1024
    wait_for(lambda: serving(f"http://127.0.0.1:{port}/"))
    assert f"127.0.0.1:{port}->80/tcp" in box.ok("ps")


def test_publish_all_takes_the_exposed_ports(box: Box, name: str) -> None:
    box.ok("run", "-d", "--expose", "80", "-P", "--name", name, "busybox", "sh", "-c", WEB)
    document = box.inspect(name)
    assert document["Config"]["ExposedPorts"] == {"80/tcp": {}}  # type: ignore[index]
    assert document["HostConfig"]["PublishAllPorts"] is True  # type: ignore[index]
    port = box.ok("port", name, "80").strip().rpartition(":")[2]
    wait_for(lambda: serving(f"http://127.0.0.1:{port}/"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-p", "99999:80"), "Invalid hostPort: 99999"),
        (("-p", "80:abc"), "Invalid containerPort: abc"),
        (("--network", "nope"), "network nope not found"),
        (("--network", "none", "--ip", "172.17.0.9"), "user specified IP address is supported"
            " on user defined networks only"),
        (("--network", "host", "--network-alias", "a"), "network-scoped aliases are only"
            " supported for user-defined networks"),
    ],
)  # fmt: skip
def test_bad_network_flags_fail_with_one_line_and_125(
    box: Box, args: tuple[str, ...], message: str
) -> None:
    result = box("run", "--rm", *args, "busybox", "true")
    assert result.returncode == 125, str(result)
    assert result.stderr.strip().splitlines()[-1] == f"Error: {message}", str(result)
    assert leases(box) == 0


def test_ports_with_the_host_network_are_discarded_with_dockers_warning(box: Box) -> None:
    result = box("run", "--rm", "--network", "host", "-p", "8089:80", "busybox", "true")
    assert result.returncode == 0, str(result)
    assert result.stderr == "WARNING: Published ports are discarded when using host network mode\n"
    assert leases(box) == 0


def test_a_port_another_container_holds_fails_the_run_and_leaves_nothing(
    box: Box, name: str
) -> None:
    box.ok("run", "-d", "-p", "8081:80", "--name", name, "busybox", "sh", "-c", WEB)
    before = (leases(box), nat_rules(), links("veth"))
    result = box("run", "-d", "-p", "8081:80", "--name", f"{name}-2", "busybox", "sh", "-c", WEB)
    try:
        assert result.returncode == 125, str(result)
        assert "Bind for 0.0.0.0:8081 failed: port is already allocated" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert (leases(box), nat_rules(), links("veth")) == before
        # docker leaves the container Created
        assert box.inspect(f"{name}-2")["State"]["Status"] == "created"  # type: ignore[index]
    finally:
        box("rm", "-f", f"{name}-2")


def test_a_port_a_host_process_holds_fails_the_run(box: Box, name: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = box("run", "--rm", "-p", f"127.0.0.1:{port}:80", "--name", name, "busybox", "true")
    assert result.returncode == 125, str(result)
    assert f"listen tcp4 127.0.0.1:{port}: bind: address already in use" in result.stderr
    assert leases(box) == 0


def test_fifty_concurrent_runs_get_distinct_addresses_and_leave_nothing(box: Box) -> None:
    def one(_: int) -> str:
        result = box("run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0")
        assert result.returncode == 0, str(result)
        return result.stdout.split()[3]

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        addresses = list(pool.map(one, range(50)))
    assert all(a.startswith("172.17.") and a.endswith("/16") for a in addresses)
    # concurrent ones never share one; a released address may be given again later
    assert leases(box) == 0
    wait_for(lambda: links("veth") == [])  # the kernel deletes them with their namespaces


def test_concurrent_running_containers_have_distinct_addresses(box: Box) -> None:
    names = [f"distinct-{n}" for n in range(8)]
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda n: box.ok("run", "-d", "--name", n, "busybox", "sleep", "60"), names
                )
            )
        addresses = [box.inspect(n)["NetworkSettings"]["IPAddress"] for n in names]  # type: ignore[index]
        assert len(set(addresses)) == len(names)
    finally:
        for n in names:
            box("rm", "-f", n)
    assert leases(box) == 0


def test_a_killed_monitor_leaves_rules_the_next_command_clears(box: Box, name: str) -> None:
    box.ok("run", "-d", "-p", "8082:80", "--name", name, "busybox", "sh", "-c", WEB)
    wait_for(lambda: serving("http://127.0.0.1:8082/"))
    monitor = int(subprocess.run(
        ["ps", "-o", "ppid=", "-p", str(box.pid(name))], capture_output=True, text=True, check=True
    ).stdout)  # fmt: skip
    os.kill(monitor, signal.SIGKILL)
    wait_for(lambda: "Exited" in box.ok("ps", "-a", "--filter", f"name={name}"))
    assert leases(box) == 0
    assert not [rule for rule in nat_rules() if "--dport 8082" in rule]


def test_exit_of_a_detached_container_releases_its_port(box: Box, name: str) -> None:
    box.ok("run", "-d", "-p", "8083:80", "--name", name, "busybox", "sh", "-c", "sleep 0.5")
    wait_for(lambda: not [rule for rule in nat_rules() if "--dport 8083" in rule])
    wait_for(lambda: leases(box) == 0)


# --- user networks ------------------------------------------------------------------------------


@pytest.fixture
def network(request: pytest.FixtureRequest, box: Box) -> Iterator[str]:
    chosen = f"net-{request.node.name[5:25]}".replace("[", "-").replace("]", "")
    yield chosen
    box("network", "rm", chosen)


def test_containers_on_a_user_network_resolve_each_other(box: Box, name: str, network: str) -> None:
    box.ok("network", "create", network)
    box.ok(
        "run", "-d", "--network", network, "--network-alias", "database", "--name", name,
        "busybox", "sh", "-c", WEB,
    )  # fmt: skip
    address = box.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]  # type: ignore[index]
    for target in (name, "database"):
        answer = box.ok(
            "run", "--rm", "--network", network, "busybox", "wget", "-qO-", f"http://{target}/"
        )
        assert answer.startswith("hello-from-")
        lookup = box.ok("run", "--rm", "--network", network, "busybox", "nslookup", target)
        assert address in lookup
    # the default bridge does not resolve names (as docker)
    result = box("run", "--rm", "busybox", "nslookup", name)
    assert result.returncode != 0
    inspected = json.loads(box.ok("network", "inspect", network))[0]
    assert [member["Name"] for member in inspected["Containers"].values()] == [name]
    # in use: refused with docker's message
    refused = box("network", "rm", network)
    assert refused.returncode == 1
    assert "has active endpoints" in refused.stderr


def test_default_bridge_ignores_ip_and_aliases_as_docker(box: Box) -> None:
    shown = box.ok("run", "--rm", "--ip", "172.17.9.9", "--network-alias", "x", "busybox",
                   "ip", "-o", "-4", "addr", "show", "eth0")  # fmt: skip
    assert "172.17.9.9" not in shown
    assert " 172.17." in shown


def test_internal_network_reaches_nothing_outside_it(box: Box, name: str, network: str) -> None:
    """As docker's: a default route like any network's, and the rules drop what would leave."""
    box.ok("network", "create", "--internal", network)
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", WEB)  # on the default bridge
    outside = box.inspect(name)["NetworkSettings"]["IPAddress"]  # type: ignore[index]
    wait_for(lambda: serving(f"http://{outside}/"))
    document = json.loads(box.ok("network", "inspect", network))[0]
    assert document["Internal"] is True
    inside = box(
        "run", "--rm", "--network", network, "busybox", "wget", "-T", "2", "-qO-",
        f"http://{outside}/",
    )  # fmt: skip
    assert inside.returncode != 0, str(inside)
    # while a container on the default bridge does reach it
    assert box.ok("run", "--rm", "busybox", "wget", "-qO-", f"http://{outside}/").startswith(
        "hello-from-"
    )


def test_exhausted_subnet_fails_with_one_line(box: Box, name: str, network: str) -> None:
    box.ok("network", "create", "--subnet", "10.99.0.0/30", network)
    box.ok("run", "-d", "--network", network, "--name", name, "busybox", "sleep", "60")
    result = box("run", "--rm", "--network", network, "busybox", "true")
    assert result.returncode == 125
    assert "no available IPv4 addresses on this network's address pools" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_static_ip_and_container_network_sharing(box: Box, name: str, network: str) -> None:
    box.ok("network", "create", "--subnet", "10.98.0.0/24", network)
    box.ok(
        "run", "-d", "--network", network, "--ip", "10.98.0.50", "--name", name,
        "busybox", "sh", "-c", WEB,
    )  # fmt: skip
    sidecar = box.ok(
        "run",
        "--rm",
        "--network",
        f"container:{name}",
        "busybox",
        "wget",
        "-qO-",
        "http://127.0.0.1/",
    )
    assert sidecar.startswith("hello-from-")
    taken = box("run", "--rm", "--network", network, "--ip", "10.98.0.50", "busybox", "true")
    assert taken.returncode == 125
    assert "Address already in use" in taken.stderr


def test_connect_and_disconnect_a_running_container(box: Box, name: str, network: str) -> None:
    box.ok("network", "create", network)
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "60")
    box.ok("network", "connect", "--alias", "late", network, name)
    assert "eth1" in box.ok("exec", name, "ip", "-o", "addr")
    assert network in box.inspect(name)["NetworkSettings"]["Networks"]  # type: ignore[index]
    # ps names every network, as docker's client does from the list entry's Networks
    shown = box.ok("ps", "--filter", f"name={name}", "--format", "{{.Networks}}")
    assert sorted(shown.strip().split(",")) == sorted(["bridge", network])
    box.ok("network", "disconnect", network, name)
    assert "eth1" not in box.ok("exec", name, "ip", "-o", "addr")
    assert box.ok("ps", "--filter", f"name={name}", "--format", "{{.Networks}}") == "bridge\n"


def test_network_ls_and_rm_as_docker(box: Box, network: str) -> None:
    made = box.ok("network", "create", network).strip()
    assert len(made) == 64
    listing = box.ok("network", "ls").splitlines()
    assert listing[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    rows = {line.split()[1]: line.split() for line in listing[1:]}
    assert {"bridge", "host", "none", network} <= set(rows)
    assert rows[network] == [made[:12], network, "bridge", "local"]
    assert rows["none"][2] == "null"
    assert box("network", "create", network).stderr.strip() == (
        f"Error: network with name {network} already exists"
    )
    refused = box("network", "rm", "bridge")
    assert refused.returncode == 1
    assert "bridge is a pre-defined network and cannot be removed" in refused.stderr
    missing = box("network", "rm", "nope")
    assert (missing.returncode, missing.stderr.strip()) == (1, "Error: No such network: nope")
    assert box.ok("network", "rm", network).strip() == network
    assert not links(f"br-{made[:12]}")


def test_a_bridge_container_reaches_the_host_through_the_gateway(box: Box) -> None:
    """A server of the test's on the bridge's address (the host's side, inside the test's
    namespace) answers a container's connection."""
    box.ok("run", "--rm", "busybox", "true")  # the bridge exists from the first run on
    with socket.socket() as server:
        server.bind(("172.17.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def answer() -> None:
            connection, _ = server.accept()
            with connection:
                connection.sendall(b"from-the-host:" + connection.recv(16))

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answered = pool.submit(answer)
            output = box.ok("run", "--rm", "busybox", "sh", "-c", f"echo hi | nc 172.17.0.1 {port}")
            answered.result(timeout=30)
    assert output == "from-the-host:hi\n"


def test_a_renamed_container_answers_to_its_new_name(box: Box, name: str, network: str) -> None:
    box.ok("network", "create", network)
    box.ok("run", "-d", "--network", network, "--name", name, "busybox", "sh", "-c", WEB)
    box.ok("rename", name, f"{name}-renamed")
    try:
        found = box.ok(
            "run", "--rm", "--network", network, "busybox", "nslookup", f"{name}-renamed"
        )
        settings = box.inspect(f"{name}-renamed")["NetworkSettings"]
        assert settings["Networks"][network]["IPAddress"] in found  # type: ignore[index]
    finally:
        box("rm", "-f", f"{name}-renamed")


def test_bridges_carry_no_ipv6(box: Box, network: str) -> None:
    """The containers' IPv6 is off, and so is their bridges': no link-local address appears."""
    box.ok("network", "create", network)
    box.ok("run", "--rm", "--network", network, "busybox", "true")
    box.ok("run", "--rm", "busybox", "true")
    bridge = "br-" + box.ok("network", "inspect", "-f", "{{.Id}}", network)[:12]
    for link in ("hybridock0", bridge):
        assert Path(f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6").read_text().strip() == "1"
