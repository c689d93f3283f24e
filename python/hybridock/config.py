"""hybridock's configuration: one JSON file plus environment overrides, parsed once.

The file is ``$HYBRIDOCK_CONFIG`` if set (it must then exist), else
``/etc/hybridock/config.json`` for root, else ``$XDG_CONFIG_HOME/hybridock/config.json``
(``~/.config`` by default); a missing default file means the defaults. Keys follow docker's
daemon.json where docker has one::

    {
      "registry-mirrors": {"docker.io": ["http://127.0.0.1:5000"]},   # or a list: docker.io
      "insecure-registries": ["myregistry:5000"],
      "registry-ca-files": {"myregistry:5000": "/etc/ssl/my-ca.pem"},
      "auth-file": "/root/.docker/config.json",
      "max-concurrent-downloads": 3,
      "max-layer-size": 34359738368,
      "max-layer-entries": 5000000,
      "registry-read-timeout": 30,
      "bip": "172.17.0.1/16",
      "default-address-pools": [{"base": "172.18.0.0/16", "size": 16}]
    }

Environment: ``HYBRIDOCK_REGISTRY_MIRRORS`` (``docker.io=http://h:5000,quay.io=https://m``;
a bare URL means docker.io) replaces the file's mirrors for the registries it names;
``HYBRIDOCK_INSECURE_REGISTRIES`` (comma list) adds insecure registries;
``HYBRIDOCK_MAX_LAYER_SIZE`` and ``HYBRIDOCK_MAX_LAYER_ENTRIES`` replace the layer budget;
``HYBRIDOCK_REGISTRY_READ_TIMEOUT`` replaces the read timeout.

``bip`` is the default bridge network's gateway address and prefix (docker's daemon.json key);
``default-address-pools`` are where ``network create`` without ``--subnet`` takes subnets from
(docker's default: 172.17-31.0.0/16 in /16s, then 192.168.0.0/16 in /20s; the default bridge's own
subnet is never handed out twice).

The read timeout is how long (seconds, may be fractional) a registry may send nothing while an
answer is awaited or read: its headers, a manifest, a token, a layer. A stalled layer is then
asked for again from where it stopped (as after a reset, a bounded number of times); anything
else fails with one line. As docker's ~30 s without progress, it defaults to 30.

The layer budget bounds what one layer may expand to (uncompressed tar bytes, tar entries), so
that a tiny "decompression bomb" fails cleanly instead of filling the disk. Docker has no such
bound; ours defaults to 32 GiB and 5,000,000 entries, far above any real image layer.

The auth file is ``$REGISTRY_AUTH_FILE``, else the file's ``auth-file``, else
``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``.
"""

from __future__ import annotations

import json
import math
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from hybridock.errors import ConfigError

_Number = TypeVar("_Number", int, float)

DEFAULT_MAX_CONCURRENT_DOWNLOADS = 3
DEFAULT_MAX_LAYER_SIZE = 32 * 1024**3
DEFAULT_MAX_LAYER_ENTRIES = 5_000_000
DEFAULT_REGISTRY_READ_TIMEOUT = 30.0
DEFAULT_BIP = "172.17.0.1/16"
#: docker's defaults (libnetwork ipamutils): (base, prefix length of each subnet taken from it)
DEFAULT_ADDRESS_POOLS = (
    ("172.17.0.0/16", 16),
    *((f"172.{n}.0.0/16", 16) for n in range(18, 32)),
    ("192.168.0.0/16", 20),
)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_KNOWN_KEYS = frozenset(
    {
        "registry-mirrors",
        "insecure-registries",
        "registry-ca-files",
        "auth-file",
        "max-concurrent-downloads",
        "max-layer-size",
        "max-layer-entries",
        "registry-read-timeout",
        "bip",
        "default-address-pools",
    }
)


def normalize_registry(name: str) -> str:
    """The registry key used everywhere in the config (``index.docker.io`` is ``docker.io``)."""
    value = name.strip()
    if "://" in value:
        value = urlsplit(value).netloc
    value = value.rstrip("/").lower()
    if value in {"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}:
        return "docker.io"
    return value


def host_without_port(netloc: str) -> str:
    if netloc.startswith("["):
        return netloc[: netloc.index("]") + 1] if "]" in netloc else netloc
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def is_loopback(netloc: str) -> bool:
    host = host_without_port(netloc.lower())
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _frozen_mapping(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(data))


@dataclass(frozen=True)
class Config:
    """Everything the registry client and the pull pipeline read from configuration."""

    registry_mirrors: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: _frozen_mapping({})
    )
    insecure_registries: frozenset[str] = frozenset()
    ca_files: Mapping[str, str] = field(default_factory=lambda: _frozen_mapping({}))
    auth_file: Path = field(default_factory=lambda: Path.home() / ".docker" / "config.json")
    max_concurrent_downloads: int = DEFAULT_MAX_CONCURRENT_DOWNLOADS
    max_layer_size: int = DEFAULT_MAX_LAYER_SIZE
    max_layer_entries: int = DEFAULT_MAX_LAYER_ENTRIES
    registry_read_timeout: float = DEFAULT_REGISTRY_READ_TIMEOUT
    bip: str = DEFAULT_BIP
    address_pools: tuple[tuple[str, int], ...] = DEFAULT_ADDRESS_POOLS
    source: Path | None = None

    def mirrors_for(self, registry: str) -> tuple[str, ...]:
        return self.registry_mirrors.get(normalize_registry(registry), ())

    def is_insecure(self, registry: str) -> bool:
        """True when plain http or unverified TLS may be used for ``registry`` (host[:port])."""
        key = normalize_registry(registry)
        return key in self.insecure_registries or host_without_port(key) in self.insecure_registries

    def allows_plain_http(self, registry: str) -> bool:
        return is_loopback(normalize_registry(registry)) or self.is_insecure(registry)

    def ca_file_for(self, registry: str) -> str | None:
        return self.ca_files.get(normalize_registry(registry))


class _EnvironmentError(ConfigError):
    """A bad environment override; its message names the variable, not the file."""


def default_config_path(env: Mapping[str, str], euid: int) -> Path:
    if env.get("HYBRIDOCK_CONFIG"):
        return Path(env["HYBRIDOCK_CONFIG"])
    if euid == 0:
        return Path("/etc/hybridock/config.json")
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "hybridock" / "config.json"


def load_config(
    env: Mapping[str, str] | None = None, *, euid: int | None = None, path: Path | None = None
) -> Config:
    """Read the configuration file (if any) and apply the environment overrides."""
    env = os.environ if env is None else env
    euid = os.geteuid() if euid is None else euid
    explicit = path is not None or bool(env.get("HYBRIDOCK_CONFIG"))
    config_path = path if path is not None else default_config_path(env, euid)
    raw: Mapping[str, Any] = {}
    source: Path | None = None
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"{config_path}: no such configuration file") from None
    except OSError as error:
        raise ConfigError(f"{config_path}: cannot read: {error.strerror or error}") from None
    else:
        source = config_path
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{config_path}: invalid JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_path}: the top level must be a JSON object")
        raw = loaded
    try:
        return _build(raw, env, source)
    except _EnvironmentError:
        raise
    except ConfigError as error:
        where = str(source) if source is not None else "environment"
        raise ConfigError(f"{where}: {error}") from None


def _build(raw: Mapping[str, Any], env: Mapping[str, str], source: Path | None) -> Config:
    unknown = sorted(set(raw) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}")
    mirrors = _parse_mirrors(raw.get("registry-mirrors", {}))
    try:
        mirrors.update(_parse_mirror_env(env.get("HYBRIDOCK_REGISTRY_MIRRORS", "")))
    except ConfigError as error:
        raise _EnvironmentError(f"HYBRIDOCK_REGISTRY_MIRRORS: {error}") from None

    insecure_raw = raw.get("insecure-registries", [])
    if not isinstance(insecure_raw, list) or not all(isinstance(x, str) for x in insecure_raw):
        raise ConfigError("'insecure-registries' must be a list of host[:port] strings")
    insecure_env = [x for x in env.get("HYBRIDOCK_INSECURE_REGISTRIES", "").split(",") if x.strip()]
    insecure = frozenset(normalize_registry(x) for x in [*insecure_raw, *insecure_env])

    ca_raw = raw.get("registry-ca-files", {})
    if not isinstance(ca_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in ca_raw.items()
    ):
        raise ConfigError("'registry-ca-files' must map host[:port] to a file path")
    ca_files = {normalize_registry(k): v for k, v in ca_raw.items()}

    auth_raw = raw.get("auth-file")
    if auth_raw is not None and not isinstance(auth_raw, str):
        raise ConfigError("'auth-file' must be a path string")
    auth_file = _auth_file(env, auth_raw)

    downloads = raw.get("max-concurrent-downloads", DEFAULT_MAX_CONCURRENT_DOWNLOADS)
    if isinstance(downloads, bool) or not isinstance(downloads, int) or not 1 <= downloads <= 64:
        raise ConfigError("'max-concurrent-downloads' must be an integer from 1 to 64")

    max_layer_size = _positive(raw, env, "max-layer-size", DEFAULT_MAX_LAYER_SIZE)
    max_layer_entries = _positive(raw, env, "max-layer-entries", DEFAULT_MAX_LAYER_ENTRIES)
    read_timeout = _positive(
        raw, env, "registry-read-timeout", DEFAULT_REGISTRY_READ_TIMEOUT, float, "number of seconds"
    )

    bip, pools = _parse_network(raw)
    config = Config(
        registry_mirrors=_frozen_mapping(mirrors),
        insecure_registries=insecure,
        ca_files=_frozen_mapping(ca_files),
        auth_file=auth_file,
        max_concurrent_downloads=downloads,
        max_layer_size=max_layer_size,
        max_layer_entries=max_layer_entries,
        registry_read_timeout=read_timeout,
        bip=bip,
        address_pools=pools,
        source=source,
    )
    for registry, urls in mirrors.items():
        for url in urls:
            netloc = urlsplit(url).netloc
            if url.startswith("http://") and not config.allows_plain_http(netloc):
                raise ConfigError(
                    f"mirror {url} for {registry} uses plain http but {netloc} is neither "
                    f"loopback nor listed in insecure-registries"
                )
    return config


def _parse_network(raw: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, int], ...]]:
    """``bip`` and ``default-address-pools``, checked as docker's daemon checks them."""
    import ipaddress  # noqa: PLC0415 (only when the file names them)

    bip = raw.get("bip", DEFAULT_BIP)
    try:
        interface = ipaddress.IPv4Interface(bip)
    except (ValueError, TypeError):
        raise ConfigError(
            f"'bip' must be an IPv4 address with a prefix length, not {bip!r}"
        ) from None
    if interface.ip == interface.network.network_address or interface.network.prefixlen > 30:
        raise ConfigError(f"'bip' {bip} is not a usable gateway address")
    pools_raw = raw.get("default-address-pools")
    if pools_raw is None:
        return bip, DEFAULT_ADDRESS_POOLS
    pools = []
    if not isinstance(pools_raw, list) or not pools_raw:
        raise ConfigError('\'default-address-pools\' must be a list of {"base": CIDR, "size": N}')
    for pool in pools_raw:
        base = pool.get("base") if isinstance(pool, dict) else None
        size = pool.get("size") if isinstance(pool, dict) else None
        try:
            network = ipaddress.IPv4Network(base)
        except (ValueError, TypeError):
            raise ConfigError(f"'default-address-pools': invalid base {base!r}") from None
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or not network.prefixlen <= size <= 30
        ):
            raise ConfigError(
                f"'default-address-pools': size {size!r} must be from {network.prefixlen} to 30"
            )
        pools.append((str(network), size))
    return bip, tuple(pools)


def _positive(
    raw: Mapping[str, Any],
    env: Mapping[str, str],
    key: str,
    default: _Number,
    kind: type[_Number] = int,
    what: str = "integer",
) -> _Number:
    """A positive ``kind`` from the file's ``key``, replaced by ``HYBRIDOCK_<KEY>`` if set;
    ``what`` names it in the errors ("integer", "number of seconds")."""
    variable = "HYBRIDOCK_" + key.upper().replace("-", "_")
    text = env.get(variable, "").strip()
    if text:
        try:
            value = kind(text)
        except ValueError:
            article = "an" if what.startswith(tuple("aeiou")) else "a"
            raise _EnvironmentError(f"{variable}: {text!r} is not {article} {what}") from None
        if not 0 < value < math.inf:
            raise _EnvironmentError(f"{variable}: must be a positive {what}")
        return value
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | kind) or not 0 < value < math.inf:
        raise ConfigError(f"{key!r} must be a positive {what}")
    return kind(value)


def _auth_file(env: Mapping[str, str], configured: str | None) -> Path:
    if env.get("REGISTRY_AUTH_FILE"):
        return Path(env["REGISTRY_AUTH_FILE"])
    if configured:
        return Path(configured).expanduser()
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".docker" / "config.json"


def _check_mirror_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"mirror {url!r} must be an http:// or https:// URL")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ConfigError(f"mirror {url!r} must not have a path")
    return f"{parts.scheme}://{parts.netloc}"


def _parse_mirrors(value: Any) -> dict[str, tuple[str, ...]]:
    if isinstance(value, list):
        value = {"docker.io": value}
    if not isinstance(value, dict):
        raise ConfigError("'registry-mirrors' must map a registry to a list of URLs")
    mirrors: dict[str, tuple[str, ...]] = {}
    for registry, urls in value.items():
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ConfigError(f"'registry-mirrors' for {registry!r} must be a list of URLs")
        mirrors[normalize_registry(registry)] = tuple(_check_mirror_url(u) for u in urls)
    return mirrors


def _parse_mirror_env(value: str) -> dict[str, tuple[str, ...]]:
    mirrors: dict[str, list[str]] = {}
    for item in (x.strip() for x in value.split(",")):
        if not item:
            continue
        registry, equals, url = item.partition("=")
        if not equals:
            registry, url = "docker.io", item
        mirrors.setdefault(normalize_registry(registry), []).append(_check_mirror_url(url))
    return {registry: tuple(urls) for registry, urls in mirrors.items()}
