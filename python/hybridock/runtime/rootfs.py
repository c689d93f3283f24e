"""The host-side files of a container: its /etc files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hybridock.runtime.config import ContainerConfig
from hybridock.runtime.dns import resolv_conf
from hybridock.store.layout import write_atomic

#: libnetwork's etchosts defaults (docker 20.10), written as ``IP\tnames``; the line for the
#: container's own address comes with a network, which ``none`` has not
HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def write_etc_files(
    directory: Path,
    config: ContainerConfig,
    *,
    addresses: Sequence[str] = (),
    resolver: str | None = None,
    shared_from: Path | None = None,
) -> dict[str, str]:
    """hostname, hosts and resolv.conf as docker provides them; returns their paths.

    ``addresses`` are the container's own (a line each with its hostname, as libnetwork adds
    them); ``resolver`` is its user network's name server; ``shared_from`` is the directory of
    the container whose network it shares (``--network container:X``: X's hosts and
    resolv.conf, as docker gives them)."""
    hostname = directory / "hostname"
    hosts = directory / "hosts"
    resolv = directory / "resolv.conf"
    write_atomic(hostname, f"{config.hostname}\n".encode(), durable=False)
    if shared_from is not None:
        for name, target in (("hosts", hosts), ("resolv.conf", resolv)):
            write_atomic(target, _read_host(str(shared_from / name)) or b"", durable=False)
        return {"hostname": str(hostname), "hosts": str(hosts), "resolv_conf": str(resolv)}
    if config.network == "host":
        host_hosts = _read_host("/etc/hosts") or HOSTS.encode()
        write_atomic(hosts, host_hosts, durable=False)
    else:
        own = "".join(f"{address}\t{config.hostname}\n" for address in addresses)
        write_atomic(hosts, (HOSTS + own).encode(), durable=False)
    host_resolv = (_read_host("/etc/resolv.conf") or b"").decode(errors="replace")
    if config.network == "host" and not (config.dns or config.dns_search or config.dns_options):
        text = host_resolv
    else:
        text = resolv_conf(
            host_resolv,
            resolver=resolver,
            dns=config.dns,
            search=config.dns_search,
            options=config.dns_options,
        )
    write_atomic(resolv, text.encode(), durable=False)
    return {"hostname": str(hostname), "hosts": str(hosts), "resolv_conf": str(resolv)}


def _read_host(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None
