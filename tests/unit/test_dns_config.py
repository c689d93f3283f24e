"""What the Resolver writes for aardvark-dns, and what it refuses before writing anything.

aardvark-dns 1.4 reads every file of its config directory on a reload and exits on one it
cannot parse, so a name with a space or a comma, or a network name that is not a plain file
name, must never reach it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hybridock.errors import ResolverError
from hybridock.runtime import dns
from hybridock.runtime.dns import DnsEntry, Resolver

WEB_ID = "0123456789abcdef" * 4
WEB = DnsEntry(WEB_ID, "web", ("frontend",), "10.89.0.2")


def test_an_entry_names_the_container_its_short_id_and_aliases_once_in_lower_case() -> None:
    entry = DnsEntry(WEB_ID, "Web", ("web", "Cache"), "10.89.0.2")
    assert dns._entry_line(entry) == f"{WEB_ID} 10.89.0.2  web,0123456789ab,cache\n"


@pytest.mark.parametrize(
    ("network", "entry"),
    [
        pytest.param("../escape", WEB, id="network-name-with-slash"),
        pytest.param(".hidden", WEB, id="network-name-hidden"),
        pytest.param("aardvark.pid", WEB, id="network-name-of-the-pid-file"),
        pytest.param("testnet", DnsEntry(WEB_ID, "web", ("a b",), "10.89.0.2"), id="alias-space"),
        pytest.param("testnet", DnsEntry(WEB_ID, "web", ("a,b",), "10.89.0.2"), id="alias-comma"),
        pytest.param("testnet", DnsEntry(WEB_ID, "web", ("",), "10.89.0.2"), id="alias-empty"),
        pytest.param("testnet", DnsEntry(WEB_ID, "web", (), "10.89.0.2\n"), id="address-newline"),
    ],
)
def test_what_would_break_the_config_is_refused(
    tmp_path: Path, network: str, entry: DnsEntry
) -> None:
    resolver = Resolver(tmp_path / "dns", binary="/nonexistent/aardvark-dns")
    with pytest.raises(ResolverError, match="invalid"):
        resolver.publish(network, ["10.89.0.1"], [entry])
    assert resolver.networks() == []


def test_a_network_without_gateway_is_refused(tmp_path: Path) -> None:
    resolver = Resolver(tmp_path / "dns", binary="/nonexistent/aardvark-dns")
    with pytest.raises(ResolverError, match="no gateway"):
        resolver.publish("testnet", [], [WEB])


def test_a_missing_aardvark_is_named_with_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dns, "AARDVARK_LOCATIONS", (str(tmp_path / "nowhere"),))
    monkeypatch.setenv("PATH", str(tmp_path))
    resolver = Resolver(tmp_path / "dns")
    with pytest.raises(ResolverError, match=r"install the aardvark-dns package"):
        resolver.publish("testnet", ["10.89.0.1"], [WEB])


def test_an_aardvark_that_cannot_run_fails_the_publish_with_its_reason(tmp_path: Path) -> None:
    resolver = Resolver(tmp_path / "dns", binary=str(tmp_path / "absent"))
    with pytest.raises(ResolverError, match=r"cannot start aardvark-dns: .*No such file"):
        resolver.publish("testnet", ["10.89.0.1"], [WEB])
    assert resolver.networks() == ["testnet"]
    assert resolver.server_pid() is None
