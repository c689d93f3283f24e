"""The host-side files of a container: its /etc files."""

from __future__ import annotations

from pathlib import Path

from hybridock.runtime.config import ContainerConfig
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


def write_etc_files(directory: Path, config: ContainerConfig) -> dict[str, str]:
    """hostname, hosts and resolv.conf as docker provides them; returns their paths."""
    hostname = directory / "hostname"
    hosts = directory / "hosts"
    resolv = directory / "resolv.conf"
    write_atomic(hostname, f"{config.hostname}\n".encode(), durable=False)
    if config.network == "host":
        host_hosts = _read_host("/etc/hosts") or HOSTS.encode()
        write_atomic(hosts, host_hosts, durable=False)
    else:
        write_atomic(hosts, HOSTS.encode(), durable=False)
    write_atomic(resolv, _read_host("/etc/resolv.conf") or b"", durable=False)
    return {"hostname": str(hostname), "hosts": str(hosts), "resolv_conf": str(resolv)}


def _read_host(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None
