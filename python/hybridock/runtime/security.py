"""Docker's isolation flags: --cap-add/--cap-drop, --privileged, --read-only, --ulimit, --sysctl.

Parsed once into a frozen ``Security`` stored with the container; ``spawn_fields`` turns it into
the spawner's arguments. The default capability set is docker's (the native module's
``DOCKER_CAPABILITIES``); ``--privileged`` keeps every capability and drops docker's masked and
read-only /proc paths, as docker does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from hybridock import _native
from hybridock.errors import ConfigError

#: Linux capability numbers by docker's names without the CAP_ prefix (the native table).
CAPABILITIES = {name: number for number, name in enumerate(_native.CAPABILITY_NAMES)}
ALL_CAPABILITIES = (1 << len(CAPABILITIES)) - 1

#: docker's --ulimit names -> the spawner's (which take RLIMIT_<NAME> in lower case)
ULIMITS = (
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
    "rss", "rtprio", "rttime", "sigpending", "stack", "as",
)  # fmt: skip


class Security(NamedTuple):
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    read_only: bool = False
    ulimits: tuple[tuple[str, int, int], ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Security:
        return cls(
            cap_add=tuple(data.get("cap_add", ())),
            cap_drop=tuple(data.get("cap_drop", ())),
            privileged=bool(data.get("privileged", False)),
            read_only=bool(data.get("read_only", False)),
            ulimits=tuple((str(n), int(s), int(h)) for n, s, h in data.get("ulimits", ())),
        )

    def capabilities(self, default: int) -> int | None:
        """The capability mask kept; None keeps them all (--privileged)."""
        if self.privileged:
            return None
        # docker: --cap-drop ALL empties the set first, then the adds apply, then other drops
        mask = 0 if "ALL" in self.cap_drop else default
        for name in self.cap_add:
            mask = ALL_CAPABILITIES if name == "ALL" else mask | (1 << CAPABILITIES[name])
        for name in self.cap_drop:
            if name != "ALL":
                mask &= ~(1 << CAPABILITIES[name])
        # nobody can grant what the host's bounding set lacks (ALL means all that we have)
        return mask & host_capabilities()

    def spawn_fields(self, default_capabilities: int) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "capabilities": self.capabilities(default_capabilities),
            "readonly_rootfs": self.read_only,
            "rlimits": list(self.ulimits),
        }
        if self.privileged:
            fields["masked_paths"] = []
            fields["readonly_paths"] = []
        return fields


def host_capabilities() -> int:
    """Our own bounding set: the most any container can keep."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return ALL_CAPABILITIES
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return ALL_CAPABILITIES


def capability_name(text: str) -> str:
    """NET_ADMIN, net_admin, CAP_NET_ADMIN -> NET_ADMIN; ALL stays ALL."""
    name = text.strip().upper().removeprefix("CAP_")
    if name != "ALL" and name not in CAPABILITIES:
        raise ConfigError(f"invalid capability: {text}")
    return name


def parse_ulimit(text: str) -> tuple[str, int, int]:
    """docker's --ulimit NAME=SOFT[:HARD] (-1 is unlimited)."""
    name, _, limits = text.partition("=")
    soft_text, _, hard_text = limits.partition(":")
    if name not in ULIMITS:
        raise ConfigError(f"invalid ulimit type: {name}")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise ConfigError(f"invalid ulimit argument: {text}") from None
    unlimited = (1 << 64) - 1
    soft, hard = (unlimited if v == -1 else v for v in (soft, hard))
    if soft > hard:
        raise ConfigError(f"ulimit soft limit must be less than or equal to hard limit: {text}")
    return name, soft, hard


def parse_security(
    cap_add: Sequence[str],
    cap_drop: Sequence[str],
    privileged: bool,
    read_only: bool,
    ulimits: Sequence[str],
) -> Security:
    return Security(
        cap_add=tuple(capability_name(c) for c in cap_add),
        cap_drop=tuple(capability_name(c) for c in cap_drop),
        privileged=privileged,
        read_only=read_only,
        ulimits=tuple(parse_ulimit(u) for u in ulimits),
    )


#: docker's client whitelist (``opts.ValidateSysctl``): the IPC namespace's keys, and prefixes
IPC_SYSCTLS = (
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
)  # fmt: skip
SYSCTL_PREFIXES = ("net.", "fs.mqueue.")
#: what docker sets in every private network namespace (moby's ``WithCommonOptions``; IPv6 off
#: as docker 20.10 has it without ``--ipv6``: ``all`` takes ::1 off lo too, which the spawner
#: has brought up before it writes these), before the user's ``--sysctl`` (which wins), where
#: the kernel has the key
NETWORK_SYSCTLS = (
    ("net.ipv4.ping_group_range", "0 2147483647"),
    ("net.ipv4.ip_unprivileged_port_start", "0"),
    ("net.ipv6.conf.all.disable_ipv6", "1"),
    ("net.ipv6.conf.default.disable_ipv6", "1"),
)
SYSCTL_NAME = r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+"  # compiled on first use


def parse_sysctl(text: str) -> tuple[str, str]:
    """``--sysctl KEY=VALUE`` with docker's whitelist; the key must name a /proc/sys entry."""
    key, separator, value = text.partition("=")
    allowed = key in IPC_SYSCTLS or key.startswith(SYSCTL_PREFIXES)
    if not separator or not allowed or not re.fullmatch(SYSCTL_NAME, key) or "\n" in value:
        raise ConfigError(f"sysctl '{text}' is not whitelisted")
    return key, value


def check_sysctls(sysctls: Sequence[tuple[str, str]], *, private_network: bool) -> None:
    """runc's namespace check: ``net.*`` needs the container's own network namespace (the
    IPC ones always have theirs)."""
    for key, _ in sysctls:
        if key.startswith("net.") and not private_network:
            raise ConfigError(f'sysctl "{key}" is not allowed in the hosts network namespace')


def container_sysctls(
    sysctls: Sequence[tuple[str, str]], *, private_network: bool
) -> list[tuple[str, str]]:
    """docker's defaults for a private network namespace, then the user's (theirs win)."""
    merged: dict[str, str] = {}
    if private_network:
        for key, value in NETWORK_SYSCTLS:
            if Path("/proc/sys", *key.split(".")).exists():
                merged[key] = value
    merged.update(sysctls)
    return list(merged.items())
