"""The host-side files of a container: its directory, /etc files and the monitor program."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from hybridock import _native
from hybridock.runtime.config import ContainerConfig
from hybridock.store.layout import Layout, write_atomic

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
    write_atomic(hostname, f"{config.hostname}\n".encode())
    if config.network == "host":
        host_hosts = _read_host("/etc/hosts") or HOSTS.encode()
        write_atomic(hosts, host_hosts)
    else:
        write_atomic(hosts, (HOSTS + f"127.0.1.1\t{config.hostname}\n").encode())
    write_atomic(resolv, _read_host("/etc/resolv.conf") or b"")
    return {"hostname": str(hostname), "hosts": str(hosts), "resolv_conf": str(resolv)}


def _read_host(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def monitor_path(layout: Layout) -> Path:
    """The monitor executable, installed once per version into the store's bin/.

    Named by its content hash so that every detached container of one version shares the
    same file (and its page cache), and an upgrade never rewrites a running program.
    """
    data = _native.monitor_executable()
    path = layout.root / "bin" / f"hybridock-monitor-{hashlib.sha256(data).hexdigest()[:16]}"
    if not path.exists():
        path.parent.mkdir(mode=0o755, exist_ok=True)
        write_atomic(path, data, mode=0o755)
        os.chmod(path, 0o755)
    return path
