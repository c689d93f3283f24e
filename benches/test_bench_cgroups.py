"""How much of a core a busy loop gets under ``--cpus`` (issue 4: "--cpus 0.5 holds a busy loop
near half a core"): a measurement recorded in extra_info, never a timed assertion.

The container's CPU time is read from its cgroup over HYBRIDOCK_BENCH_SECONDS (default 1, a
smoke run; use >= 10 for a real measurement):

    HYBRIDOCK_BENCH_SECONDS=10 pytest benches/test_bench_cgroups.py --benchmark-enable -s
"""

from __future__ import annotations

import os
import time

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.conftest import image_builder, session_registry
from tests.integration.test_cgroups import box, cgroup_file
from tests.integration.test_containers import Box
from tests.support.probes import root_probe

__all__ = ["box", "image_builder", "session_registry"]  # fixtures, imported to be found


@pytest.mark.parametrize("cpus", ["0.5", "1.5", None], ids=["half", "one-and-a-half", "none"])
def test_busy_loop_under_cpus(benchmark: BenchmarkFixture, box: Box, cpus: str | None) -> None:
    if reason := root_probe():
        pytest.skip(reason)
    seconds = float(os.environ.get("HYBRIDOCK_BENCH_SECONDS", "1"))
    name = f"bench-cpus-{cpus or 'none'}"
    limit = ["--cpus", cpus] if cpus else []
    loops = "while :; do :; done & while :; do :; done"  # two loops: room above one core
    box.ok("run", "-d", "--name", name, *limit, "busybox", "sh", "-c", loops)
    try:
        pid = box.pid(name)
        usage = cgroup_file(pid, "cpuacct", "cpuacct.usage", "cpu.stat")

        def cpu_seconds() -> float:
            text = usage.read_text()
            if usage.name == "cpu.stat":
                return int(text.split("usage_usec")[1].split()[0]) / 1e6
            return int(text) / 1e9

        def measure() -> float:
            start_cpu, start = cpu_seconds(), time.monotonic()
            time.sleep(seconds)
            return (cpu_seconds() - start_cpu) / (time.monotonic() - start)

        # pytest-benchmark ships no type hints for pedantic.
        cores = benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[no-untyped-call]
        assert isinstance(cores, float)
        benchmark.extra_info.update({"cpus": cpus, "cores_used": round(cores, 3)})
        assert cores > 0
    finally:
        box("rm", "-f", name)
