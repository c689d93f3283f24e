"""Throughput of the native layer pipeline (decompress + hash + extract), in MB/s of
uncompressed tar, for gzip and zstd layers of many files, with and without the final syncfs.

The layer is generated at test time: HYBRIDOCK_BENCH_MB megabytes (default 4, a smoke run under
``--benchmark-disable``; use >= 100 for a real measurement) of files averaging 36 KiB, a third
random bytes and two thirds text, which compresses about 2.5x like a typical image layer.

    HYBRIDOCK_BENCH_MB=200 pytest benches/test_bench_pipeline.py --benchmark-enable

``test_writer_threads`` asks whether several threads creating the files of ONE layer would pay:
the same uncompressed layer is extracted as one stream, or split in two halves (alternate
directories) extracted at once into the same tree (two pipelines: the upper bound of what two
writer threads inside one pipeline could gain).

``test_parallel_layers`` extracts a chain of HYBRIDOCK_BENCH_LAYERS (default 5) gzip layers of
HYBRIDOCK_BENCH_LAYER_MB (default 2; 70 for the issue-5 figure) each, each layer hardlinking
one file of its parent: sequentially with ``lower_dirs`` (each layer waits for its parent), or
``concurrency`` at a time with ``defer_lower_links`` and then ``link_lower`` in chain order, as
a parallel pull would; either with a syncfs per layer (``sync=True``, as the store does today)
or one ``_native.syncfs`` after the whole chain. A syncfs flushes the whole filesystem, so with
layers in flight each one waits for the others' dirty data too.

On ext4 the figure is bound by the kernel's inode creation (and, when rounds follow each other,
by ext4's scan of recently deleted inodes); ``--basetemp`` on a tmpfs measures the pipeline
itself (decompression, both sha256s, tar parsing, the syscalls of extraction).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import os
import random
import shutil
import tarfile
import threading
import time
from collections.abc import Callable
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


def generate(
    total_bytes: int, seed: int = 364, prefix: str = "usr/lib", link_to: str | None = None
) -> Layer:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    buffer = io.BytesIO()
    files = written = 0
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        if link_to is not None:
            info = tarfile.TarInfo(f"{prefix}/link-to-parent")
            info.type, info.linkname = tarfile.LNKTYPE, link_to
            archive.addfile(info)
        while written < total_bytes:
            directory = f"{prefix}/pkg{files // 100}"
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


def split_halves(tar: bytes) -> list[bytes]:
    """The members of an uncompressed layer in two tars, by alternate directories."""
    halves = [io.BytesIO(), io.BytesIO()]
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(tarfile.open(fileobj=io.BytesIO(tar)))
        writers = [
            stack.enter_context(tarfile.open(fileobj=half, mode="w", format=tarfile.GNU_FORMAT))
            for half in halves
        ]
        for member in source:
            directory = member.name if member.isdir() else member.name.rsplit("/", 1)[0]
            index = int(directory.rsplit("pkg", 1)[1]) % 2
            writers[index].addfile(member, source.extractfile(member) if member.isfile() else None)
    return [half.getvalue() for half in halves]


def run_at_once(jobs: list[Callable[[], object]]) -> None:
    """Runs the jobs on their own threads (the native work releases the GIL); re-raises."""
    errors: list[BaseException] = []

    def guarded(job: Callable[[], object]) -> None:
        try:
            job()
        except BaseException as error:  # handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def fresh(*paths: Path) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    os.sync()  # the previous round's deletions must not be paid by this one


@pytest.mark.parametrize("writers", [1, 2])
def test_writer_threads(
    benchmark: BenchmarkFixture, tmp_path: Path, layer: Layer, writers: int
) -> None:
    parts = [layer.tar] if writers == 1 else split_halves(layer.tar)
    blobs = []
    for index, part in enumerate(parts):
        blob = tmp_path / f"part{index}.tar"
        blob.write_bytes(part)
        blobs.append((blob, part))
    dest = tmp_path / "dest"
    timings: list[float] = []

    def setup() -> None:
        fresh(dest)
        # Two independent extractors would race to create the halves' shared parents.
        (dest / "usr/lib").mkdir(parents=True)

    def extract() -> None:
        start = time.perf_counter()
        run_at_once(
            [
                functools.partial(
                    _native.extract_blob, str(blob), str(dest), "none", sha(part), sync=True
                )
                for blob, part in blobs
            ]
        )
        timings.append(time.perf_counter() - start)

    benchmark.pedantic(extract, setup=setup, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    benchmark.extra_info.update(
        {"writers": writers, "files": layer.files, "best_seconds": min(timings)}
    )
    assert sum(1 for _ in dest.rglob("*.so")) == layer.files


@pytest.fixture(scope="module")
def chain() -> list[Layer]:
    size = int(os.environ.get("HYBRIDOCK_BENCH_LAYER_MB", "2")) * MEGABYTE
    count = int(os.environ.get("HYBRIDOCK_BENCH_LAYERS", "5"))
    return [
        generate(
            size,
            seed=index,
            prefix=f"layer{index}",
            link_to=None if index == 0 else f"layer{index - 1}/pkg0/file0.so",
        )
        for index in range(count)
    ]


@pytest.mark.parametrize(
    ("concurrency", "sync_each"),
    [(1, True), (1, False), (2, True), (2, False), (3, False)],
    ids=["sequential-syncfs-each", "sequential", "2-at-once-syncfs-each", "2-at-once", "3-at-once"],
)
def test_parallel_layers(
    benchmark: BenchmarkFixture,
    tmp_path: Path,
    chain: list[Layer],
    concurrency: int,
    sync_each: bool,
) -> None:
    blobs = []
    for index, layer in enumerate(chain):
        blob = tmp_path / f"layer{index}.gz"
        blob.write_bytes(layer.blobs["gzip"])
        blobs.append(blob)
    dests = [tmp_path / f"dest{index}" for index in range(len(chain))]
    timings: list[float] = []

    def setup() -> None:
        fresh(*dests)

    def extract(index: int, *, defer: bool) -> _native.LayerResult:
        layer = chain[index]
        lower = [] if defer else [str(dest) for dest in reversed(dests[:index])]
        return _native.extract_blob(
            str(blobs[index]),
            str(dests[index]),
            "gzip",
            sha(layer.blobs["gzip"]),
            sha(layer.tar),
            lower_dirs=lower,
            defer_lower_links=defer,
            sync=sync_each,
        )

    def sequential() -> None:
        for index in range(len(chain)):
            extract(index, defer=False)

    def parallel() -> None:
        results: dict[int, _native.LayerResult] = {}
        pending = list(range(len(chain)))
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    index = pending.pop(0)
                results[index] = extract(index, defer=True)

        run_at_once([worker] * concurrency)
        for index in range(len(chain)):
            lower = [str(dest) for dest in reversed(dests[:index])]
            results[index].link_lower(lower, sync=False)

    def timed() -> None:
        start = time.perf_counter()
        (sequential if concurrency == 1 else parallel)()
        if not sync_each:
            _native.syncfs(str(tmp_path))  # once for the whole chain
        timings.append(time.perf_counter() - start)

    benchmark.pedantic(timed, setup=setup, rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    total_mb = sum(len(layer.tar) for layer in chain) / MEGABYTE
    benchmark.extra_info.update(
        {
            "concurrency": concurrency,
            "syncfs_each_layer": sync_each,
            "layers": len(chain),
            "uncompressed_mb": total_mb,
            "files": sum(layer.files for layer in chain),
            "best_seconds": min(timings),
        }
    )
    for index in range(1, len(chain)):
        link = dests[index] / f"layer{index}/link-to-parent"
        assert (
            link.read_bytes() == (dests[index - 1] / f"layer{index - 1}/pkg0/file0.so").read_bytes()
        )
