"""Throughput of a whole pull (``hybridock.Client.pull``): manifest, config, and every layer
streamed from a real registry over HTTP through the native pipeline into a cold store.

The image has a few layers, HYBRIDOCK_BENCH_MB megabytes in all (default 4, a smoke run under
``--benchmark-disable``; use >= 100 for a real measurement), files of a third random bytes and
two thirds text like the pipeline benchmark. Each round pulls into a fresh store.

    HYBRIDOCK_BENCH_MB=200 python -m pytest benches/test_bench_pull.py --benchmark-enable
"""

from __future__ import annotations

import io
import os
import random
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture
from tests.support.cleanup import remove_tree
from tests.support.images import BuiltImage, ImageSpec, PushedImage
from tests.support.layers import Compression, raw_layer
from tests.support.probes import registry_probe
from tests.support.registry import Registry

from hybridock.client import Client
from hybridock.config import Config

MEGABYTE = 1_000_000
LAYERS = 4
TEXT = b"the quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet. " * 64


def layer_tar(rng: random.Random, index: int, total_bytes: int) -> bytes:
    buffer = io.BytesIO()
    files = written = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        directory = tarfile.TarInfo(f"layer{index}")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(directory)
        while written < total_bytes:
            size = min(int(rng.expovariate(1 / 36_000)) + 1, 4_000_000)
            random_part = rng.randbytes(size // 3)
            data = random_part + (TEXT * (size // len(TEXT) + 1))[: size - len(random_part)]
            info = tarfile.TarInfo(f"layer{index}/file{files}")
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
            files += 1
            written += len(data)
    return buffer.getvalue()


@dataclass(frozen=True)
class Published:
    registry: Registry
    pushed: PushedImage
    built: BuiltImage

    @property
    def compressed_bytes(self) -> int:
        return sum(layer.size for layer in self.built.layers)

    @property
    def uncompressed_bytes(self) -> int:
        return sum(len(tar) for tar in self.tars)

    @property
    def tars(self) -> list[bytes]:
        return list(_TARS[self.built.digest])


_TARS: dict[str, tuple[bytes, ...]] = {}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    if reason := registry_probe():
        pytest.skip(reason)
    total = int(os.environ.get("HYBRIDOCK_BENCH_MB", "4")) * MEGABYTE
    rng = random.Random(365)  # noqa: S311 - reproducible test data, not a secret
    tars = [layer_tar(rng, index, total // LAYERS) for index in range(LAYERS)]
    compressions: list[Compression] = ["gzip", "zstd", "gzip", "zstd"]
    blobs = [raw_layer(tar, compressions[i % len(compressions)]) for i, tar in enumerate(tars)]
    built = ImageSpec(layers=blobs, cmd=["/bin/sh"]).build()
    _TARS[built.digest] = tuple(tars)
    registry = Registry(tmp_path_factory.mktemp("bench-registry"))
    registry.start()
    try:
        pushed = registry.push(built, "bench/pull", "latest")
        yield Published(registry, pushed, built)
    finally:
        registry.stop()


def test_pull_throughput(benchmark: BenchmarkFixture, tmp_path: Path, published: Published) -> None:
    config = Config(
        insecure_registries=frozenset({published.registry.address}),
        auth_file=tmp_path / "no-auth.json",
    )
    root = tmp_path / "store"
    timings: list[float] = []
    image_ids: list[str] = []

    def cold_store() -> None:
        remove_tree(root)
        published.registry.reset_requests()

    def pull() -> None:
        client = Client(root, config)
        try:
            start = time.perf_counter()
            image_ids.append(client.pull(published.pushed.reference).image_id)
            timings.append(time.perf_counter() - start)
        finally:
            client.close()

    try:
        # pytest-benchmark ships no type hints for pedantic.
        benchmark.pedantic(pull, setup=cold_store, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
        layer_gets = [published.registry.blob_gets(d) for d in published.built.layer_digests]
        correct = image_ids[-1] == published.built.config_digest and layer_gets == [1] * LAYERS
        best = min(timings)
        benchmark.extra_info.update(
            {
                "layers": LAYERS,
                "compressed_mb": published.compressed_bytes / MEGABYTE,
                "uncompressed_mb": published.uncompressed_bytes / MEGABYTE,
                "best_seconds": best,
                "mb_per_s": published.uncompressed_bytes / MEGABYTE / best,
                "compressed_mb_per_s": published.compressed_bytes / MEGABYTE / best,
                "correct": correct,
            }
        )
        assert correct
    finally:
        remove_tree(root)
