"""Whether this process may run containers: namespaces, mounts and cgroups need root.

Decided once, at the start of the commands that create or start containers, before anything is
pulled or recorded; rootless containers (user namespaces, delegated cgroups) are not supported yet.
"""

from __future__ import annotations

import os
from pathlib import Path

from hybridock.errors import NotPermitted

CAP_SYS_ADMIN = 21


def effective_capabilities() -> int:
    """The CapEff mask of this process (0 when /proc cannot tell)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def require_root() -> None:
    """Raises NotPermitted unless we are root with CAP_SYS_ADMIN."""
    if os.geteuid() != 0:
        raise NotPermitted(
            "running containers needs root (rootless containers are not supported yet)"
        )
    if not effective_capabilities() >> CAP_SYS_ADMIN & 1:
        raise NotPermitted("running containers needs root with CAP_SYS_ADMIN")
