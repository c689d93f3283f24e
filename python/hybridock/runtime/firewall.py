"""The packet filter rules of hybridock's networks, derived whole from the store.

Our rules live in chains of our own, which one ``iptables-restore --noflush`` rewrites
completely (declaring a chain there empties it) from the networks and published ports the store
records; the built-in chains only jump to them, and those jumps are added once (an
``iptables-save`` tells which are missing). So a sync is two short processes, it is atomic per
table, and it heals: rules of a container that died without cleaning up are gone with the next
sync, whoever runs it. Syncs are serialized by a lock, since each writes what the store said when
it read it.

nat:
- ``HYBRIDOCK`` (from PREROUTING and OUTPUT, for packets to a local address): one DNAT per
  published port. OUTPUT makes the host's own connections to a published port work, 127.0.0.1
  included (``route_localnet`` on the bridge lets those be routed to the container).
- ``HYBRIDOCK-POSTROUTING``: masquerade what leaves a (non-internal) network for elsewhere
  (docker's rule), what the host itself sends into a bridge (from 127.0.0.1 after DNAT, which the
  container could not answer), and what a container sends to a published port that leads back
  into its own network (hairpin: the answer must come back through the host to be un-NATed).

filter (``HYBRIDOCK-FORWARD``, first in FORWARD): an internal network's traffic stays on its
bridge; different networks do not reach each other (docker's isolation chains); what a network
sends out, answers to it, and connections to published ports are accepted. IPv4 only, as the
containers' IPv6 is off.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from hybridock.errors import HybridockError
from hybridock.runtime.ports import ANY_IPV4

if TYPE_CHECKING:
    from hybridock.runtime.network import Network, PublishedPort

NAT_CHAINS = ("HYBRIDOCK", "HYBRIDOCK-POSTROUTING")
FILTER_CHAINS = ("HYBRIDOCK-FORWARD", "HYBRIDOCK-ISOLATION")

#: the jumps into our chains: (table, built-in chain, rule after "-A|-I CHAIN ")
JUMPS = (
    ("nat", "PREROUTING", "-m addrtype --dst-type LOCAL -j HYBRIDOCK"),
    ("nat", "OUTPUT", "-m addrtype --dst-type LOCAL -j HYBRIDOCK"),
    ("nat", "POSTROUTING", "-j HYBRIDOCK-POSTROUTING"),
    ("filter", "FORWARD", "-j HYBRIDOCK-FORWARD"),
)


class FirewallError(HybridockError):
    pass


def render(networks: Sequence[Network], ports: Iterable[PublishedPort]) -> dict[str, list[str]]:
    """The rules of our chains, per table, in iptables-restore's syntax."""
    bridges = [network for network in networks if network.driver == "bridge" and network.bridge]
    nat = [f":{chain} - [0:0]" for chain in NAT_CHAINS]
    filter_ = [f":{chain} - [0:0]" for chain in FILTER_CHAINS]
    for network in bridges:
        bridge, subnet = network.bridge, network.subnet
        if not network.internal:
            nat.append(f"-A HYBRIDOCK-POSTROUTING -s {subnet} ! -o {bridge} -j MASQUERADE")
        nat.append(
            f"-A HYBRIDOCK-POSTROUTING -o {bridge} -m addrtype --src-type LOCAL -j MASQUERADE"
        )
        nat.append(
            f"-A HYBRIDOCK-POSTROUTING -o {bridge} -s {subnet} -m conntrack --ctstate DNAT"
            " -j MASQUERADE"
        )
        if network.internal:
            filter_.append(f"-A HYBRIDOCK-FORWARD -i {bridge} ! -o {bridge} -j DROP")
            filter_.append(f"-A HYBRIDOCK-FORWARD ! -i {bridge} -o {bridge} -j DROP")
        filter_.append(f"-A HYBRIDOCK-ISOLATION -o {bridge} -j DROP")
    for port in ports:
        destination = "" if port.host_ip == ANY_IPV4 else f"-d {port.host_ip}/32 "
        nat.append(
            f"-A HYBRIDOCK {destination}-p {port.protocol} -m {port.protocol}"
            f" --dport {port.host_port} -j DNAT --to-destination"
            f" {port.address}:{port.container_port}"
        )
        filter_.append(
            f"-A HYBRIDOCK-FORWARD -d {port.address}/32 -o {port.bridge} -p {port.protocol}"
            f" -m {port.protocol} --dport {port.container_port} -j ACCEPT"
        )
    outward = [network.bridge for network in bridges if not network.internal]
    filter_.extend(
        f"-A HYBRIDOCK-FORWARD -o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        for bridge in outward
    )
    filter_.extend(
        f"-A HYBRIDOCK-FORWARD -i {network.bridge} ! -o {network.bridge} -j HYBRIDOCK-ISOLATION"
        for network in bridges
    )
    filter_.extend(f"-A HYBRIDOCK-FORWARD -i {bridge} -j ACCEPT" for bridge in outward)
    return {"nat": nat, "filter": filter_}


def _missing_jumps(saved: str) -> list[tuple[str, str, str]]:
    present = set(saved.splitlines())
    return [
        (table, chain, rule) for table, chain, rule in JUMPS if f"-A {chain} {rule}" not in present
    ]


def _run(argv: Sequence[str], stdin: str | None = None) -> str:
    try:
        result = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise FirewallError(
            f"{argv[0]} not found: bridge networks need iptables (Debian's package iptables)"
        ) from None
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise FirewallError(f"{argv[0]}: {detail}")
    return result.stdout


def apply(networks: Sequence[Network], ports: Iterable[PublishedPort]) -> None:
    """Makes the kernel's rules what ``render`` says (the caller holds the network lock)."""
    rules = render(networks, ports)
    saved = _run(["iptables-save"])
    missing = _missing_jumps(saved)
    lines: list[str] = []
    for table in ("nat", "filter"):
        lines.append(f"*{table}")
        lines.extend(rules[table])
        for jump_table, chain, rule in missing:
            if jump_table == table:
                # our forward chain first, before any host rule could drop the traffic
                verb = "-I" if chain == "FORWARD" else "-A"
                lines.append(f"{verb} {chain} {rule}")
        lines.append("COMMIT")
    _run(["iptables-restore", "-w", "--noflush"], "\n".join(lines) + "\n")
