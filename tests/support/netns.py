"""The network namespace the suite runs in, and what hybridock left in it.

The suite runs in a network namespace of its own (scripts/netns-run): ``lo``, and whatever
hybridock makes there (its bridges and their veths). An interface of another kind means the
machine's own namespace, where the suite must not make bridges or NAT rules.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

#: what hybridock makes in the suite's namespace (and a test's own bridges, and the comparison's
#: bridged peers: docker0, podman0)
OURS = ("lo", "hybridock", "br-", "veth", "test-", "docker", "podman")


def interfaces() -> list[str]:
    """This process's network namespace's interfaces (/proc/self/net is per namespace)."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return [line.split(":", 1)[0].strip() for line in lines]


def foreign_interfaces() -> list[str]:
    return [name for name in interfaces() if not name.startswith(OURS)]


def links(prefix: str) -> list[str]:
    return [name for name in interfaces() if name.startswith(prefix)]


def nat_rules() -> list[str]:
    """Every rule in the namespace's nat table that jumps to a DNAT (a published port)."""
    saved = subprocess.run(
        ["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in saved.splitlines() if "DNAT" in line]
