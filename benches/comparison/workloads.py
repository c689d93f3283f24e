"""Issue 5's workloads in the order they run, one small function each (``pulls``,
``containers``); every one returns rows and never raises.
"""

from __future__ import annotations

from collections.abc import Callable

from comparison.archive import save_load_round_trip
from comparison.bench import Bench
from comparison.build import COLD, REBUILD, build_cold, build_rebuild
from comparison.commit import commit_changes
from comparison.containers import (
    concurrent_runs,
    ps_many,
    supervisor_memory,
    warm_run_bridge,
    warm_run_hello,
)
from comparison.ociruntime import bundle_lifecycle, ctr_run
from comparison.pulls import cached_pull, cold_pull_gzip, cold_pull_zstd
from comparison.push import push_large
from comparison.runner import Row, guarded, log
from comparison.service import docker_ps_service

WORKLOADS: tuple[tuple[str, Callable[[Bench], list[Row]]], ...] = (
    ("cold pull, large gzip image", cold_pull_gzip),
    ("cold pull, large zstd image", cold_pull_zstd),
    ("pull, image cached (tag unchanged)", cached_pull),
    ("warm run --rm hello", warm_run_hello),
    ("warm run --rm hello, bridge network", warm_run_bridge),
    ("detached supervisor PSS", supervisor_memory),
    ("concurrent run --rm", concurrent_runs),
    ("ps -a, many containers", ps_many),
    ("docker ps -a through an API service", docker_ps_service),
    ("push, large gzip image to an empty registry", push_large),
    ("commit, 100 MB of changes", commit_changes),
    ("save then load, large gzip image", save_load_round_trip),
    (COLD, build_cold),
    (REBUILD, build_rebuild),
    ("OCI runtime: create + start + delete, ready bundle", bundle_lifecycle),
    ("OCI runtime: ctr run --rm", ctr_run),
)


def run_all(bench: Bench, only: set[str] | None = None) -> list[Row]:
    rows: list[Row] = []
    for name, workload in WORKLOADS:
        if only and workload.__name__ not in only:
            continue
        rows += guarded(name, ["hybridock"], lambda workload=workload: workload(bench))  # type: ignore[misc]
        log(f"{name}: done")
    return rows


__all__ = ["WORKLOADS", "Bench", "run_all"]
