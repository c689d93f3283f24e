"""Alternating (A B C A B C ...) wall-clock comparison of extracting a layer chain sequentially
vs several layers at once with ``defer_lower_links``, and of one layer by 1 vs 2 writers:
a shared machine's noise hits every mode alike. Prints min / median / max per mode.

    .venv/bin/python -m benches.parallel_layers --layer-mb 70 --layers 5 --rounds 5 \\
        --dir /var/tmp/hyb-bench

(from the repository root; ``--dir`` should be on the disk the store lives on).

Every run extracts into a fresh, randomly named directory under a parent marked with
``_native.spread_subdirectories``, as a pull does under the store's tmp/: on ext4 without a
journal, fixed names land in the block groups the previous round just freed, and every file
creation then scans past those recently deleted inodes (8-14 s instead of 2 s for the large
image), which would measure the previous round's deletion rather than the mode.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from benches.test_bench_pipeline import MEGABYTE, Layer, generate, run_at_once, sha, split_halves

from hybridock import _native


class Placement:
    """Where this run's destinations go: a fresh random directory under a spread parent."""

    def __init__(self, parent: Path) -> None:
        self.parent = parent
        parent.mkdir()
        _native.spread_subdirectories(str(parent))
        self.current = parent

    def next_run(self) -> None:
        for previous in self.parent.iterdir():
            shutil.rmtree(previous)
        self.current = self.parent / os.urandom(6).hex()
        self.current.mkdir()

    def dest(self, name: str) -> Path:
        return self.current / name


def chain_modes(chain: list[Layer], work: Path, place: Placement) -> dict[str, Callable[[], None]]:
    blobs = []
    for index, layer in enumerate(chain):
        blob = work / f"layer{index}.gz"
        blob.write_bytes(layer.blobs["gzip"])
        blobs.append(blob)

    def dests() -> list[Path]:
        return [place.dest(f"dest{index}") for index in range(len(chain))]

    def extract(index: int, *, defer: bool, sync: bool) -> _native.LayerResult:
        lower = [] if defer else [str(dest) for dest in reversed(dests()[:index])]
        return _native.extract_blob(
            str(blobs[index]),
            str(dests()[index]),
            "gzip",
            sha(chain[index].blobs["gzip"]),
            sha(chain[index].tar),
            lower_dirs=lower,
            defer_lower_links=defer,
            sync=sync,
        )

    def sequential(sync_each: bool) -> None:
        for index in range(len(chain)):
            extract(index, defer=False, sync=sync_each)
        if not sync_each:
            _native.syncfs(str(work))

    def parallel(concurrency: int, sync_each: bool) -> None:
        results: dict[int, _native.LayerResult] = {}
        todo = list(range(len(chain)))

        def worker() -> None:
            while todo:
                index = todo.pop(0)  # list.pop is atomic under the GIL
                results[index] = extract(index, defer=True, sync=sync_each)

        run_at_once([worker] * concurrency)
        for index in range(len(chain)):
            lower = [str(dest) for dest in reversed(dests()[:index])]
            results[index].link_lower(lower, sync=False)
        if not sync_each:
            _native.syncfs(str(work))

    return {
        "chain sequential, syncfs per layer": functools.partial(sequential, True),
        "chain sequential, one syncfs": functools.partial(sequential, False),
        "chain 2 at once, syncfs per layer": functools.partial(parallel, 2, True),
        "chain 2 at once, one syncfs": functools.partial(parallel, 2, False),
        "chain 3 at once, one syncfs": functools.partial(parallel, 3, False),
    }


def writer_modes(layer: Layer, work: Path, place: Placement) -> dict[str, Callable[[], None]]:
    modes: dict[str, Callable[[], None]] = {}
    for writers, parts in ((1, [layer.tar]), (2, split_halves(layer.tar))):
        jobs: list[Callable[[], object]] = []
        for index, part in enumerate(parts):
            blob = work / f"single-{writers}-{index}.tar"
            blob.write_bytes(part)
            jobs.append(functools.partial(extract_part, place, blob, sha(part)))
        modes[f"one layer, {writers} writer(s)"] = functools.partial(at_once_into, place, jobs)
    return modes


def extract_part(place: Placement, blob: Path, digest: str) -> None:
    dest = place.dest("dest-single")
    _native.extract_blob(str(blob), str(dest), "none", digest, sync=True)


def at_once_into(place: Placement, jobs: list[Callable[[], object]]) -> None:
    # Two independent extractors may race to create a shared parent (mkdirat EEXIST is
    # refused as "not a directory"): the halves' common parents are made first.
    (place.dest("dest-single") / "usr/lib").mkdir(parents=True)
    run_at_once(jobs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layer-mb", type=int, default=70)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--single-mb", type=int, default=0, help="0: skip the writers test")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, required=True, help="on the disk of the store")
    args = parser.parse_args()
    work: Path = args.dir / "alternating"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    place = Placement(work / "runs")
    modes: dict[str, Callable[[], None]] = {}
    if args.layers:
        chain = [
            generate(
                args.layer_mb * MEGABYTE,
                seed=index,
                prefix=f"layer{index}",
                link_to=None if index == 0 else f"layer{index - 1}/pkg0/file0.so",
            )
            for index in range(args.layers)
        ]
        total = sum(len(layer.tar) for layer in chain) / MEGABYTE
        files = sum(layer.files for layer in chain)
        print(f"chain: {args.layers} gzip layers, {total:.0f} MB, {files} files")
        modes |= chain_modes(chain, work, place)
    if args.single_mb:
        single = generate(args.single_mb * MEGABYTE)
        print(f"one layer: {len(single.tar) / MEGABYTE:.0f} MB, {single.files} files, uncompressed")
        modes |= writer_modes(single, work, place)
    timings: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.rounds):
        for name, run in modes.items():
            place.next_run()
            _native.syncfs(str(work))
            start = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - start)
    for name, values in timings.items():
        print(
            f"{name:40} min {min(values):6.2f} s  median {statistics.median(values):6.2f} s"
            f"  max {max(values):6.2f} s  (n={len(values)})"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
