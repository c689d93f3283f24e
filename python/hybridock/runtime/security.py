"""Docker's isolation flags: --cap-add/--cap-drop, --privileged, --read-only, --ulimit.

Parsed once into a frozen ``Security`` stored with the container; ``spawn_fields`` turns it into
the spawner's arguments. The default capability set is docker's (the native module's
``DOCKER_CAPABILITIES``); ``--privileged`` keeps every capability and drops docker's masked and
read-only /proc paths, as docker does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Security:
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
