"""Resource limits as the user asked for them: docker's flags parsed and validated once.

``Resources`` is stored with the container's config; zero (or empty) means "no limit", as in
docker's HostConfig. Applying them is ``cgroups.py``'s job; this module knows only the units
and the rules docker checks before it touches a cgroup.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from hybridock.errors import ConfigError

#: docker refuses less than this for -m (a smaller limit kills the container's own setup)
MINIMUM_MEMORY = 6 * 1024 * 1024
CFS_PERIOD_US = 100_000
NANO = 1_000_000_000

#: patterns compiled on first use (by ``re``'s cache): most runs set no limit
_SIZE = r"^(\d+(?:\.\d+)?) ?([kmgtp])?(?:i?b)?$"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_CPU_LIST = r"^\d+(-\d+)?(,\d+(-\d+)?)*$"


class Resources(NamedTuple):
    memory: int = 0  # bytes
    memory_swap: int = 0  # bytes of memory + swap; -1 unlimited; 0 unset (docker: 2 x memory)
    nano_cpus: int = 0  # 1e9 = one CPU
    cpu_shares: int = 0
    cpuset_cpus: str = ""
    pids_limit: int = 0  # > 0 a limit; -1 unlimited; 0 unset

    @property
    def any(self) -> bool:
        return self != Resources()

    @property
    def effective_memory_swap(self) -> int:
        """What docker shows as MemorySwap: twice the memory when only -m was given."""
        if self.memory and not self.memory_swap:
            return 2 * self.memory
        return self.memory_swap

    @property
    def cfs_quota_us(self) -> int:
        """--cpus as a CFS quota over ``CFS_PERIOD_US`` (0 when unset)."""
        return self.nano_cpus * CFS_PERIOD_US // NANO


def parse_bytes(text: str) -> int:
    """docker's RAMInBytes: "32m", "1.5g", "512k", "100b", "100" (bytes), binary multiples."""
    match = re.match(_SIZE, text.strip(), re.IGNORECASE)
    if not match:
        raise ConfigError(f"invalid size: '{text}'")
    number, unit = match.group(1), (match.group(2) or "").lower()
    return int(float(number) * _UNITS[unit])


def parse_cpus(text: str) -> int:
    """--cpus 0.5 -> 500000000 nano CPUs; docker's range is 0.01 to the CPUs available."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f'invalid argument "{text}" for "--cpus" flag') from None
    nano = round(value * NANO)
    available = os.cpu_count() or 1
    if nano < 0:
        raise ConfigError(f'invalid argument "{text}" for "--cpus" flag')
    if nano and not NANO // 100 <= nano <= available * NANO:
        raise ConfigError(
            f"Range of CPUs is from 0.01 to {available}.00, as there are only {available}"
            " CPUs available"
        )
    return nano


def parse_cpu_list(text: str) -> list[int]:
    """ "0-2,5" -> [0, 1, 2, 5] (the kernel's cpuset list format)."""
    compact = text.replace(" ", "")
    if not re.match(_CPU_LIST, compact):
        raise ConfigError(f"invalid value {text} for cpuset cpus")
    cpus: set[int] = set()
    for part in compact.split(","):
        first, _, last = part.partition("-")
        low, high = int(first), int(last or first)
        if high < low:
            raise ConfigError(f"invalid value {text} for cpuset cpus")
        cpus.update(range(low, high + 1))
    return sorted(cpus)


def parse_resources(
    *,
    memory: str | None = None,
    memory_swap: str | None = None,
    cpus: str | None = None,
    cpu_shares: int | None = None,
    cpuset_cpus: str | None = None,
    pids_limit: int | None = None,
) -> Resources:
    """The flags as docker's client and daemon check them (ConfigError: exit 125)."""
    memory_bytes = parse_bytes(memory) if memory else 0
    if memory_bytes and memory_bytes < MINIMUM_MEMORY:
        raise ConfigError("Minimum memory limit allowed is 6MB")
    swap = 0
    if memory_swap:
        swap = -1 if memory_swap.strip() == "-1" else parse_bytes(memory_swap)
    if swap:  # 0 means unset, as in docker
        if not memory_bytes:
            raise ConfigError("You should always set the Memory limit when using Memoryswap limit")
        if swap != -1 and swap < memory_bytes:
            raise ConfigError("Minimum memoryswap limit should be larger than memory limit")
    if cpu_shares is not None and cpu_shares < 0:
        raise ConfigError(f"invalid CPU shares: {cpu_shares}")
    if cpuset_cpus:
        parse_cpu_list(cpuset_cpus)
    return Resources(
        memory=memory_bytes,
        memory_swap=swap,
        nano_cpus=parse_cpus(cpus) if cpus else 0,
        cpu_shares=cpu_shares or 0,
        cpuset_cpus=cpuset_cpus.replace(" ", "") if cpuset_cpus else "",
        pids_limit=pids_limit if pids_limit and pids_limit > 0 else (-1 if pids_limit else 0),
    )


def cpu_shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] -> v2 cpu.weight [1, 10000], as runc converts."""
    if shares == 0:
        return 0
    shares = min(max(shares, 2), 262144)  # the kernel's v1 range
    return 1 + ((shares - 2) * 9999) // 262142


def merge_resources(
    old: Resources,
    *,
    memory: str | None = None,
    memory_swap: str | None = None,
    cpus: str | None = None,
    cpu_shares: int | None = None,
    cpuset_cpus: str | None = None,
    pids_limit: int | None = None,
) -> Resources:
    """docker update's limits: the flags given (checked as at create) over the old ones."""
    given = parse_resources(
        memory=memory,
        cpus=cpus,
        cpu_shares=cpu_shares,
        cpuset_cpus=cpuset_cpus,
        pids_limit=pids_limit,
    )
    merged = Resources(
        memory=given.memory if memory else old.memory,
        memory_swap=old.memory_swap,
        nano_cpus=given.nano_cpus if cpus else old.nano_cpus,
        cpu_shares=given.cpu_shares if cpu_shares is not None else old.cpu_shares,
        cpuset_cpus=given.cpuset_cpus if cpuset_cpus else old.cpuset_cpus,
        pids_limit=given.pids_limit if pids_limit is not None else old.pids_limit,
    )
    if memory_swap:
        swap = -1 if memory_swap.strip() == "-1" else parse_bytes(memory_swap)
        merged = merged._replace(memory_swap=swap)
    if merged.memory_swap not in (0, -1) and merged.memory > merged.memory_swap:
        raise ConfigError(
            "Memory limit should be smaller than already set memoryswap limit, update the"
            " memoryswap at the same time"
        )
    if merged.memory_swap and not merged.memory:
        raise ConfigError("You should always set the Memory limit when using Memoryswap limit")
    return merged
