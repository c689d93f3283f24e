"""Throughput of the native layer pipeline (decompress + hash + extract), in MB/s of
uncompressed tar, for gzip and zstd layers of many files, with and without the final syncfs.

The layer is generated at test time: HYBRIDOCK_BENCH_MB megabytes (default 4, a smoke run under
``--benchmark-disable``; use >= 100 for a real measurement) of files averaging 36 KiB, a third
random bytes and two thirds text, which compresses about 2.5x like a typical image layer.

    HYBRIDOCK_BENCH_MB=200 pytest benches/test_bench_pipeline.py --benchmark-enable

On ext4 the figure is bound by the kernel's inode creation (and, when rounds follow each other,
by ext4's scan of recently deleted inodes); ``--basetemp`` on a tmpfs measures the pipeline
itself (decompression, both sha256s, tar parsing, the syscalls of extraction).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard
from pytest_benchmark.fixture import BenchmarkFixture

from hybridock import _native

MEGABYTE = 1_000_000
TEXT = b"the quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet. " * 64


@dataclass(frozen=True)
class Layer:
    tar: bytes
    files: int
    blobs: dict[str, bytes]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def generate(total_bytes: int) -> Layer:
    rng = random.Random(364)  # noqa: S311 - reproducible test data, not a secret
    buffer = io.BytesIO()
    files = written = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        while written < total_bytes:
            directory = f"usr/lib/pkg{files // 100}"
            if files % 100 == 0:
                info = tarfile.TarInfo(directory)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            size = min(int(rng.expovariate(1 / 36_000)), 4_000_000)
            random_part = rng.randbytes(size // 3)
            data = random_part + (TEXT * (size // len(TEXT) + 1))[: size - len(random_part)]
            info = tarfile.TarInfo(f"{directory}/file{files}.so")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
            files += 1
            written += len(data)
    tar = buffer.getvalue()
    blobs = {
        "gzip": gzip.compress(tar, compresslevel=6),
        "zstd": zstandard.ZstdCompressor(level=3).compress(tar),
    }
    return Layer(tar, files, blobs)


@pytest.fixture(scope="module")
def layer() -> Layer:
    return generate(int(os.environ.get("HYBRIDOCK_BENCH_MB", "4")) * MEGABYTE)


@pytest.mark.parametrize("sync", [True, False], ids=["syncfs", "nosync"])
@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_pipeline_throughput(
    benchmark: BenchmarkFixture, tmp_path: Path, layer: Layer, compression: str, sync: bool
) -> None:
    blob_path = tmp_path / "blob"
    blob_path.write_bytes(layer.blobs[compression])
    dest = tmp_path / "dest"
    timings: list[float] = []
    results: list[_native.LayerResult] = []

    def fresh_dest() -> None:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()

    def extract() -> None:
        start = time.perf_counter()
        results.append(
            _native.extract_blob(
                str(blob_path),
                str(dest),
                compression,
                sha(layer.blobs[compression]),
                sha(layer.tar),
                sync=sync,
            )
        )
        timings.append(time.perf_counter() - start)

    # pytest-benchmark ships no type hints for pedantic.
    benchmark.pedantic(extract, setup=fresh_dest, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    result = results[-1]
    correct = (
        result.diff_id == sha(layer.tar)
        and result.entries >= layer.files
        and result.uncompressed_size == len(layer.tar)
    )
    best = min(timings)
    benchmark.extra_info.update(
        {
            "compression": compression,
            "sync": sync,
            "uncompressed_mb": len(layer.tar) / MEGABYTE,
            "compressed_mb": len(layer.blobs[compression]) / MEGABYTE,
            "files": layer.files,
            "best_seconds": best,
            "mb_per_s": len(layer.tar) / MEGABYTE / best,
            "correct": correct,
        }
    )
    assert correct
    assert sum(1 for _ in dest.rglob("*.so")) == layer.files
