"""Throughput of the native layer encoder (walk + tar + both sha256s + compression), in MB/s of
uncompressed tar: gzip with 1 and 2 threads (pigz-style blocks), zstd with 1 and 2 workers,
and no compression (the walk and hashing alone), beside ``tar | pigz`` for scale.

The tree is generated at test time: HYBRIDOCK_BENCH_MB megabytes (default 4, a smoke run under
``--benchmark-disable``; use 200 for the figure the issue quotes) of files averaging 36 KiB, a
third random bytes and two thirds text (about 2.5x with gzip, like a typical image layer).

    HYBRIDOCK_BENCH_MB=200 scripts/netns-run .venv/bin/python -m pytest \\
        benches/test_bench_encode.py --benchmark-enable -p no:randomly

The tree's files are in the page cache after the first round, as a container's upper dir
being committed usually is; the output is written to tmp_path and fsynced each round.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from hybridock import _native

MEGABYTE = 1_000_000
TEXT = b"the quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet. " * 64


def generate(root: Path, total_bytes: int, seed: int = 364) -> int:
    """Writes the tree; returns the number of files."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    files = written = 0
    while written < total_bytes:
        directory = root / "usr" / "lib" / f"pkg{files // 100}"
        directory.mkdir(parents=True, exist_ok=True)
        size = min(int(rng.expovariate(1 / 36_000)), 4_000_000)
        random_part = rng.randbytes(size // 3)
        data = random_part + (TEXT * (size // len(TEXT) + 1))[: size - len(random_part)]
        (directory / f"file{files}.so").write_bytes(data)
        files += 1
        written += len(data)
    return files


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("encode") / "tree"
    files = generate(root, int(os.environ.get("HYBRIDOCK_BENCH_MB", "4")) * MEGABYTE)
    return root, files


@pytest.mark.parametrize(
    ("compression", "threads"),
    [("gzip", 1), ("gzip", 2), ("zstd", 1), ("zstd", 2), ("none", 1)],
    ids=["gzip-1", "gzip-2", "zstd-1", "zstd-2", "none"],
)
def test_encode_throughput(
    benchmark: BenchmarkFixture,
    tmp_path: Path,
    tree: tuple[Path, int],
    compression: str,
    threads: int,
) -> None:
    root, files = tree
    out = tmp_path / "layer"
    timings: list[float] = []
    results: list[_native.EncodedLayer] = []

    def fresh_out() -> None:
        out.unlink(missing_ok=True)

    def encode() -> None:
        start = time.perf_counter()
        results.append(_native.encode_layer(str(root), str(out), compression, threads=threads))
        timings.append(time.perf_counter() - start)

    # pytest-benchmark ships no type hints for pedantic.
    benchmark.pedantic(encode, setup=fresh_out, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    result = results[-1]
    written = out.read_bytes()
    correct = (
        result.digest == "sha256:" + hashlib.sha256(written).hexdigest()
        and result.entries > files
        and len({r.digest for r in results}) == 1
    )
    best = min(timings)
    benchmark.extra_info.update(
        {
            "compression": compression,
            "threads": threads,
            "uncompressed_mb": result.uncompressed_size / MEGABYTE,
            "compressed_mb": result.size / MEGABYTE,
            "files": files,
            "best_seconds": best,
            "mb_per_s": result.uncompressed_size / MEGABYTE / best,
            "correct": correct,
        }
    )
    assert correct


@pytest.mark.skipif(shutil.which("pigz") is None, reason="pigz is not installed")
@pytest.mark.parametrize("threads", [1, 2])
def test_tar_pigz_for_scale(
    benchmark: BenchmarkFixture, tmp_path: Path, tree: tuple[Path, int], threads: int
) -> None:
    """``tar -c | pigz -6 -p N > file``: the same work by the usual tools, for comparison."""
    root, _ = tree
    out = tmp_path / "layer.gz"
    timings: list[float] = []

    def encode() -> None:
        start = time.perf_counter()
        with out.open("wb") as sink:
            tar = subprocess.Popen(
                ["tar", "-C", str(root), "--sort=name", "-cf", "-", "."], stdout=subprocess.PIPE
            )
            subprocess.run(
                ["pigz", "-6", "-p", str(threads)], stdin=tar.stdout, stdout=sink, check=True
            )
            assert tar.stdout is not None
            tar.stdout.close()
            assert tar.wait() == 0
            os.fsync(sink.fileno())
        timings.append(time.perf_counter() - start)

    benchmark.pedantic(encode, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    uncompressed = int(
        subprocess.run(["gzip", "-l", str(out)], capture_output=True, text=True, check=True)
        .stdout.splitlines()[1]
        .split()[1]
    )
    best = min(timings)
    benchmark.extra_info.update(
        {"threads": threads, "best_seconds": best, "mb_per_s": uncompressed / MEGABYTE / best}
    )
