"""The run path: warm ``run --rm`` latency of a tiny image, and the memory of the per-container
monitor (PSS from /proc/PID/smaps_rollup), with the same figures for the peers installed here
(podman, docker) recorded beside ours in extra_info.

The store is prepared once (hello-world and busybox pulled from the session registry); each
benchmark round is one whole ``hybridock run --rm hello-world`` process, as a user types it.

    pytest benches/test_bench_run.py --benchmark-enable
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.support.cleanup import remove_tree
from tests.support.cli import base_environment, hybridock_command, write_hybridock_config
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

DETACHED = int(os.environ.get("HYBRIDOCK_BENCH_CONTAINERS", "3"))


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[dict[str, str]]:
    image_builder.publish_library(session_registry)  # type: ignore[attr-defined]
    tmp = tmp_path_factory.mktemp("bench-run")
    config = write_hybridock_config(
        tmp / "config.json",
        {
            "registry-mirrors": {"docker.io": [session_registry.url]},
            "insecure-registries": [session_registry.address],
        },
    )
    env = {
        **base_environment(),
        "HYBRIDOCK_ROOT": str(tmp / "store"),
        "HYBRIDOCK_CONFIG": str(config),
        "NO_COLOR": "1",
    }
    for image in ("hello-world", "busybox"):
        subprocess.run(
            [*hybridock_command(), "pull", "-q", image], env=env, check=True, capture_output=True
        )
    try:
        yield env
    finally:
        remove_tree(tmp / "store")


def run_once(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def peer_figures(command: list[str], rounds: int = 5) -> dict[str, float] | None:
    """Median seconds of a peer's run, when the peer is installed and works here."""
    if shutil.which(command[0]) is None:
        return None
    try:
        times = sorted(run_once(command) for _ in range(rounds))
    except (subprocess.CalledProcessError, OSError):
        return None
    return {"median_s": times[len(times) // 2], "min_s": times[0]}


def test_warm_run_rm_hello(benchmark: BenchmarkFixture, store: dict[str, str]) -> None:
    command = [*hybridock_command(), "run", "--rm", "hello-world"]
    # pytest-benchmark ships no type hints for pedantic.
    benchmark.pedantic(run_once, args=(command, store), rounds=10, warmup_rounds=1)  # type: ignore[no-untyped-call]
    interpreter = [sys.executable, "-c", "import click"]
    floor = sorted(run_once(interpreter) for _ in range(5))[2]
    benchmark.extra_info["python_import_click_s"] = floor
    for name, peer in {
        "podman": ["podman", "run", "--rm", "hello-world"],
        "docker": ["docker", "run", "--rm", "hello-world"],
    }.items():
        benchmark.extra_info[name] = peer_figures(peer)


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise AssertionError(f"no Pss in /proc/{pid}/smaps_rollup")


def test_monitor_memory_per_detached_container(
    benchmark: BenchmarkFixture, store: dict[str, str]
) -> None:
    cli = hybridock_command()
    ids = []
    try:
        for _ in range(DETACHED):
            result = subprocess.run(
                [*cli, "run", "-d", "busybox", "sleep", "300"],
                env=store,
                check=True,
                capture_output=True,
                text=True,
            )
            ids.append(result.stdout.strip())
        monitors = []
        for container_id in ids:
            inspected = subprocess.run(
                [*cli, "inspect", container_id],
                env=store,
                check=True,
                capture_output=True,
                text=True,
            )
            pid = json.loads(inspected.stdout)[0]["State"]["Pid"]
            status = Path(f"/proc/{pid}/status").read_text()
            monitors.append(
                int(
                    next(
                        line.split()[1] for line in status.splitlines() if line.startswith("PPid:")
                    )
                )
            )
        figures = benchmark.pedantic(  # type: ignore[no-untyped-call]
            lambda: [pss_kib(pid) for pid in monitors], rounds=3
        )
        assert all(kib > 0 for kib in figures)
        benchmark.extra_info["monitor_pss_kib"] = figures
        benchmark.extra_info["monitor_pss_kib_mean"] = sum(figures) / len(figures)
        benchmark.extra_info["peers_reference_kib"] = {"docker_shim": 4400, "conmon": 700}
    finally:
        for container_id in ids:
            subprocess.run(
                [*cli, "rm", "-f", container_id], env=store, check=False, capture_output=True
            )
