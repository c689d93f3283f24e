"""The host-side files of a container: its directory, /etc files and the monitor program."""

from __future__ import annotations

from pathlib import Path

from hybridock import _native
from hybridock.errors import ConfigError
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
    write_atomic(hostname, f"{config.hostname}\n".encode(), durable=False)
    if config.network == "host":
        host_hosts = _read_host("/etc/hosts") or HOSTS.encode()
        write_atomic(hosts, host_hosts, durable=False)
    else:
        write_atomic(hosts, (HOSTS + f"127.0.1.1\t{config.hostname}\n").encode(), durable=False)
    write_atomic(resolv, _read_host("/etc/resolv.conf") or b"", durable=False)
    return {"hostname": str(hostname), "hosts": str(hosts), "resolv_conf": str(resolv)}


def _read_host(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def _installed(layout: Layout, name: str, data: bytes) -> Path:
    """An embedded helper program, installed once per version into the store's bin/.

    Named by its content hash so that every container of one version shares the same file
    (and its page cache), and an upgrade never rewrites a program that is running.
    """
    path = layout.root / "bin" / f"{name}-{_native.sha256(data).removeprefix('sha256:')[:16]}"
    if not path.exists():
        path.parent.mkdir(mode=0o755, exist_ok=True)
        # executable by design; write_atomic's mode is filtered by the umask
        path_mode = 0o755
        write_atomic(path, data, mode=path_mode)
        path.chmod(path_mode)
    return path


def monitor_path(layout: Layout) -> Path:
    return _installed(layout, "hybridock-monitor", _native.monitor_executable())


def init_path(layout: Layout) -> Path:
    data = _native.init_executable()
    if not data:
        raise ConfigError("--init is not available: this build of hybridock has no static init")
    return _installed(layout, "hybridock-init", data)
