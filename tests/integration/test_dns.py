"""Name resolution on user-defined networks: the Resolver over a real aardvark-dns.

Each test runs in network and mount namespaces of its own (tests/support/namespaces.py): a
bridge with the network's gateway address, a stub upstream DNS server on the namespace's
127.0.0.1:53 named by a resolv.conf bind-mounted over /etc/resolv.conf, and queries sent to the
gateway as a container sends them (from a container's address, added to the bridge).
"""

from __future__ import annotations

import concurrent.futures
import os
import select
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.dns import (
    RCODE_NOERROR,
    RCODE_NXDOMAIN,
    TYPE_PTR,
    Answer,
    StubUpstream,
    query,
    reverse_name,
)
from tests.support.namespaces import bind_mount, in_new_namespaces, ip
from tests.support.processes import processes_mentioning

from hybridock.runtime.dns import DnsEntry, Resolver

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not os.access("/usr/lib/podman/aardvark-dns", os.X_OK),
        reason="needs aardvark-dns (apt-get install aardvark-dns)",
    ),
]

WEB_ID = "a1" * 32
DB_ID = "b2" * 32
WEB = DnsEntry(WEB_ID, "web", ("frontend",), "10.89.0.2")
DB = DnsEntry(DB_ID, "db", (), "10.89.0.3")
#: how long a reload (SIGHUP, asynchronous) may take to show; a bound, not an expectation
RELOAD_BOUND = 10.0


def make_bridge(name: str, gateway: str, *container_addresses: str) -> None:
    """A bridge with the gateway's /24; containers' addresses as /32s to send queries from."""
    ip("link", "add", name, "type", "bridge")
    ip("address", "add", f"{gateway}/24", "dev", name)
    for address in container_addresses:
        ip("address", "add", f"{address}/32", "dev", name)
    ip("link", "set", name, "up")


def host_resolv_conf(directory: Path) -> None:
    resolv = directory / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\nsearch example.test\n")
    bind_mount(resolv, Path("/etc/resolv.conf"))


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + RELOAD_BOUND
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.05)


def ask(gateway: str, name: str, record_type: int = 1, source: str | None = None) -> Answer | None:
    return query(gateway, name, record_type, source=source, timeout=2.0)


def wait_for_end(pid: int) -> None:
    """Wait for the server to end: a pidfd turns readable then (bounded by the test timeout)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([pidfd], [], [])
    finally:
        os.close(pidfd)


def test_names_aliases_and_short_ids_resolve_and_other_names_go_upstream(tmp_path: Path) -> None:
    def scenario() -> None:
        make_bridge("br-t", "10.89.0.1", "10.89.0.2")
        host_resolv_conf(tmp_path)
        resolver = Resolver(tmp_path / "dns")
        with StubUpstream({"registry.example.org": "192.0.2.7"}) as upstream:
            try:
                resolver.publish("testnet", ["10.89.0.1"], [WEB, DB])
                source = WEB.ipv4
                for name, address in [
                    ("web", "10.89.0.2"),
                    ("frontend", "10.89.0.2"),
                    ("db", "10.89.0.3"),
                    (DB_ID[:12], "10.89.0.3"),
                ]:
                    assert ask("10.89.0.1", name, source=source) == Answer(
                        RCODE_NOERROR, [address]
                    ), name
                answer = ask("10.89.0.1", reverse_name(DB.ipv4), TYPE_PTR, source)
                assert answer == Answer(RCODE_NOERROR, ["db", DB_ID[:12]])
                assert ask("10.89.0.1", "registry.example.org", source=source) == Answer(
                    RCODE_NOERROR, ["192.0.2.7"]
                )
                assert "registry.example.org" in upstream.asked
                answer = ask("10.89.0.1", "nowhere", source=source)
                assert answer == Answer(RCODE_NXDOMAIN, [])
            finally:
                resolver.stop()

    in_new_namespaces(scenario)


def test_forget_removes_names_and_the_last_forget_ends_the_server(tmp_path: Path) -> None:
    def scenario() -> None:
        make_bridge("br-t", "10.89.0.1", "10.89.0.2")
        make_bridge("br-u", "10.89.1.1", "10.89.1.2")
        host_resolv_conf(tmp_path)
        resolver = Resolver(tmp_path / "dns")
        other = DnsEntry("c3" * 32, "cache", ("memo",), "10.89.1.2")
        try:
            resolver.publish("testnet", ["10.89.0.1"], [WEB, DB])
            resolver.publish("other", ["10.89.1.1"], [other])
            pid = resolver.server_pid()
            assert pid is not None
            assert ask("10.89.1.1", "memo", source=other.ipv4) == Answer(
                RCODE_NOERROR, ["10.89.1.2"]
            )

            resolver.publish("testnet", ["10.89.0.1"], [WEB])
            assert ask("10.89.0.1", "db", source=WEB.ipv4) == Answer(RCODE_NXDOMAIN, [])
            assert ask("10.89.0.1", "web", source=WEB.ipv4) == Answer(RCODE_NOERROR, ["10.89.0.2"])

            resolver.forget("other")
            until(lambda: ask("10.89.1.1", "memo", source=other.ipv4) is None, "other forgotten")
            assert resolver.server_pid() == pid
            assert resolver.networks() == ["testnet"]

            resolver.forget("testnet")
            wait_for_end(pid)
            assert resolver.server_pid() is None
            assert not resolver.pid_file.exists()
            assert processes_mentioning(resolver.config_directory) == []
            assert ask("10.89.0.1", "web", source=WEB.ipv4) is None

            resolver.publish("testnet", ["10.89.0.1"], [DB])
            assert resolver.server_pid() not in (None, pid)
            assert ask("10.89.0.1", "db", source=WEB.ipv4) == Answer(RCODE_NOERROR, ["10.89.0.3"])
        finally:
            resolver.stop()

    in_new_namespaces(scenario)


def test_a_server_that_died_is_started_again_and_a_stale_pid_file_is_not_trusted(
    tmp_path: Path,
) -> None:
    def scenario() -> None:
        make_bridge("br-t", "10.89.0.1", "10.89.0.2")
        host_resolv_conf(tmp_path)
        resolver = Resolver(tmp_path / "dns")
        try:
            resolver.publish("testnet", ["10.89.0.1"], [WEB])
            first = resolver.server_pid()
            assert first is not None
            resolver.stop()
            wait_for_end(first)
            resolver.pid_file.write_text(str(os.getpid()))
            assert resolver.server_pid() is None

            resolver.publish("testnet", ["10.89.0.1"], [WEB, DB])
            assert resolver.server_pid() not in (None, first, os.getpid())
            assert ask("10.89.0.1", "db", source=WEB.ipv4) == Answer(RCODE_NOERROR, ["10.89.0.3"])
        finally:
            resolver.stop()

    in_new_namespaces(scenario)


def test_concurrent_publishes_share_one_server_and_all_are_served(tmp_path: Path) -> None:
    def scenario() -> None:
        networks = [f"net{index}" for index in range(6)]
        for index, _ in enumerate(networks):
            make_bridge(f"br-c{index}", f"10.89.{index}.1", f"10.89.{index}.2")
        host_resolv_conf(tmp_path)
        resolver = Resolver(tmp_path / "dns")

        def publish(index: int) -> None:
            entry = DnsEntry(f"{index:02x}" * 32, f"app{index}", (), f"10.89.{index}.2")
            resolver.publish(networks[index], [f"10.89.{index}.1"], [entry])

        try:
            with concurrent.futures.ThreadPoolExecutor(len(networks)) as pool:
                list(pool.map(publish, range(len(networks))))
            assert resolver.networks() == networks
            assert len(processes_mentioning(resolver.config_directory)) == 1
            for index, _ in enumerate(networks):
                address = f"10.89.{index}.2"
                answer = ask(f"10.89.{index}.1", f"app{index}", source=address)
                assert answer == Answer(RCODE_NOERROR, [address])
        finally:
            resolver.stop()

    in_new_namespaces(scenario)
