"""What the native netlink path costs per container (issue 11's budget: <= 15 ms above
``--network none``): a new network namespace with ``lo`` up, the network's bridge ensured
(it exists: the common case), a veth pair attached; then the namespace's destruction, as the
``close`` of its last reference and as the time until the kernel's cleanup worker has removed
the host end of the pair. Medians over HYBRIDOCK_BENCH_ROUNDS (default 5, a smoke run; use 50
for a measurement), recorded in extra_info, never asserted on. Runs in a network namespace of
its own, as the tests do:

    HYBRIDOCK_BENCH_ROUNDS=50 pytest benches/test_bench_net.py --benchmark-enable -s
"""

from __future__ import annotations

import os
import statistics
import time

from pytest_benchmark.fixture import BenchmarkFixture
from tests.integration.test_native_net import BRIDGE, GATEWAY, private_network

from hybridock import _native

__all__ = ["private_network"]  # a fixture, imported to be found


def test_network_setup_and_teardown(benchmark: BenchmarkFixture, private_network: int) -> None:
    rounds = int(os.environ.get("HYBRIDOCK_BENCH_ROUNDS", "5"))
    _native.ensure_bridge(BRIDGE, GATEWAY, 16)
    setup: list[float] = []
    closing: list[float] = []
    gone: list[float] = []

    def one_container(number: int) -> None:
        host_name = f"hntb{number}"
        start = time.perf_counter()
        netns = _native.new_network_namespace()
        _native.ensure_bridge(BRIDGE, GATEWAY, 16)
        _native.attach_veth(
            netns, BRIDGE, host_name, f"10.88.{number // 250}.{number % 250 + 2}", 16,
            GATEWAY, f"02:42:0a:58:{number // 250:02x}:{number % 250 + 2:02x}",
        )  # fmt: skip
        made = time.perf_counter()
        os.close(netns)
        closed = time.perf_counter()
        while _native.link_exists(host_name):
            time.sleep(0.0005)
        setup.append(made - start)
        closing.append(closed - made)
        gone.append(time.perf_counter() - made)

    def measure() -> None:
        for number in range(rounds):
            one_container(number)

    # pytest-benchmark ships no type hints for pedantic.
    benchmark.pedantic(measure, rounds=1, iterations=1)  # type: ignore[no-untyped-call]

    def median_ms(samples: list[float]) -> float:
        return round(statistics.median(samples) * 1000, 3)

    benchmark.extra_info.update(
        {
            "rounds": rounds,
            "setup_ms_median": median_ms(setup),
            "setup_ms_max": round(max(setup) * 1000, 3),
            "close_ms_median": median_ms(closing),
            "host_end_gone_ms_median": median_ms(gone),
        }
    )
    print(benchmark.extra_info)
    assert len(setup) == rounds
