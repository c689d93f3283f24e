"""Acceptance tests of concurrent pulls into one store (issue 2): separate ``hybridock``
processes share the work through the store's locks, so every layer blob crosses the network
once and the store ends up with one image and whole layers.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.integration.test_pull_failures import StallingBlobHost
from tests.support.cli import CliResult, hybridock_command, wait_until_downloading
from tests.support.images import ImageSpec
from tests.support.layers import Dir, Entry, File, Hardlink, Layer
from tests.support.proxy import Fault
from tests.support.registry import Registry

RunCli = Callable[..., CliResult]

pytestmark = pytest.mark.registry

PROCESSES = 5
TEN = 10  # issue 4: "ten concurrent pulls of one image"


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    chain: list[str] = []
    for diff_id in diff_ids:
        if chain:
            chain.append("sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest())
        else:
            chain.append(diff_id)
    return chain


def multi_layer(name: str, layers: int = 6) -> ImageSpec:
    """Layers of a few hundred KB each (so transfers overlap), one with a hardlink to a file of
    a lower layer (so an upper layer needs its parent in place)."""
    built: list[Layer] = []
    for index in range(layers):
        entries: list[Entry] = [
            Dir(f"layer{index}"),
            File(f"layer{index}/data", (f"{name} {index} " * 40_000).encode()),
        ]
        if index == layers - 1:
            entries.append(Hardlink(f"layer{index}/link", "layer0/data"))
        built.append(Layer(entries, "zstd" if index % 2 else "gzip"))
    return ImageSpec(layers=built, cmd=["/bin/sh"])


def pull_concurrently(
    env: dict[str, str], reference: str, count: int
) -> list[subprocess.CompletedProcess[str]]:
    processes = [
        subprocess.Popen(
            [*hybridock_command(), "pull", reference],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        results.append(
            subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        )
    return results


@pytest.mark.parametrize("by", ["tag", "digest"])
def test_concurrent_pulls_of_one_image_fetch_each_layer_once(
    *,
    by: str,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_env: dict[str, str],
    hybridock_root: Path,
    run_cli: RunCli,
) -> None:
    built = multi_layer(by).build()
    pushed = image_builder.push(built, registry, f"concurrent/{by}")
    reference = pushed.reference if by == "tag" else pushed.digest_reference

    results = pull_concurrently(hybridock_env, reference, PROCESSES)

    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout.splitlines()[-1] == reference
    assert [registry.blob_gets(digest) for digest in built.layer_digests] == [1] * len(built.layers)
    ids = run_cli("images", "-q", "--no-trunc").stdout.split()
    assert ids == [built.config_digest]
    chain = chain_ids(built.diff_ids)
    assert {p.name for p in (hybridock_root / "layers").iterdir()} == {
        c.removeprefix("sha256:") for c in chain
    }
    for index, chain_id in enumerate(chain):
        tree = hybridock_root / "layers" / chain_id.removeprefix("sha256:")
        assert (tree / f"layer{index}" / "data").read_bytes() == (
            f"{by} {index} " * 40_000
        ).encode()
    assert list((hybridock_root / "tmp").iterdir()) == []
    with sqlite3.connect(hybridock_root / "metadata.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 1
        assert connection.execute("SELECT COUNT(*) FROM layers").fetchone()[0] == len(chain)
        assert connection.execute("SELECT COUNT(*) FROM image_layers").fetchone()[0] == len(chain)
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_ten_concurrent_pulls_of_one_image_succeed_and_fetch_each_blob_once(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_env: dict[str, str],
    hybridock_root: Path,
    run_cli: RunCli,
) -> None:
    built = multi_layer("ten").build()
    pushed = image_builder.push(built, registry, "concurrent/ten")

    results = pull_concurrently(hybridock_env, pushed.reference, TEN)

    for result in results:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout.splitlines()[-1] == pushed.reference
    assert [registry.blob_gets(digest) for digest in built.layer_digests] == [1] * len(built.layers)
    assert run_cli("images", "-q", "--no-trunc").stdout.split() == [built.config_digest]
    chain = chain_ids(built.diff_ids)
    assert {p.name for p in (hybridock_root / "layers").iterdir()} == {
        c.removeprefix("sha256:") for c in chain
    }
    for index, chain_id in enumerate(chain):
        tree = hybridock_root / "layers" / chain_id.removeprefix("sha256:")
        assert (tree / f"layer{index}" / "data").read_bytes() == (f"ten {index} " * 40_000).encode()
    blobs = {p.name for p in (hybridock_root / "blobs" / "sha256").iterdir()}
    assert {d.removeprefix("sha256:") for d in built.layer_digests} <= blobs
    assert list((hybridock_root / "tmp").iterdir()) == []
    with sqlite3.connect(hybridock_root / "metadata.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 1
        assert connection.execute("SELECT COUNT(*) FROM layers").fetchone()[0] == len(chain)
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_concurrent_pulls_of_images_sharing_layers(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_env: dict[str, str],
    hybridock_root: Path,
    run_cli: RunCli,
) -> None:
    shared = [Layer([File("shared", "x" * 200_000)]), Layer([File("shared2", "y" * 200_000)])]
    specs = [
        ImageSpec(layers=[*shared, Layer([File("own", f"image {n}")])], labels={"n": str(n)})
        for n in range(3)
    ]
    builts = [spec.build() for spec in specs]
    pushed = [
        image_builder.push(built, registry, "concurrent/shared", f"v{n}")
        for n, built in enumerate(builts)
    ]
    processes = [
        subprocess.Popen(
            [*hybridock_command(), "pull", p.reference],
            env=hybridock_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in pushed
    ]
    errors = []
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        errors.append((process.returncode, stderr))

    assert errors == [(0, "")] * len(processes)
    for digest in builts[0].layer_digests[:2]:
        assert registry.blob_gets(digest) == 1
    for built in builts:
        assert registry.blob_gets(built.layer_digests[2]) == 1
    ids = sorted(run_cli("images", "-q", "--no-trunc").stdout.split())
    assert ids == sorted(built.config_digest for built in builts)
    assert len(list((hybridock_root / "layers").iterdir())) == 2 + len(builts)


def test_a_pull_waiting_on_an_interrupted_one_takes_over(
    *,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_env: dict[str, str],
    hybridock_root: Path,
    run_cli: RunCli,
) -> None:
    big = Layer([File("big", os.urandom(3 * 1024 * 1024))], "none").build()
    built = ImageSpec(layers=[Layer([File("small", "small")]), big]).build()
    pushed = image_builder.push(built, registry, "concurrent/takeover")
    stall = StallingBlobHost(big.data, first_part=1024 * 1024)
    # only the first GET of the big layer stalls: the second process fetches it for real
    registry.inject(Fault("blob_get", reference=big.digest, redirect=stall.url, times=1))
    first = second = None
    try:
        first = start_pull(hybridock_env, pushed.reference, stdout=subprocess.PIPE)
        wait_until_downloading(first, big.digest)
        second = start_pull(hybridock_env, pushed.reference, stdout=subprocess.DEVNULL)
        # Once the second pull has resolved the image it holds the gc lock shared, so the
        # interrupted one leaves it the small layer; it then waits on (or finds free) the big
        # layer's lock, and fetches that layer itself.
        wait_for_request(registry, "manifest_get", count=2, process=second)
        first.send_signal(signal.SIGINT)
        _, first_stderr = first.communicate(timeout=120)
        _, second_stderr = second.communicate(timeout=300)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        stall.close()

    assert first.returncode == 130, first_stderr
    assert second.returncode == 0, second_stderr
    assert registry.blob_gets(big.digest) == 2
    assert registry.blob_gets(built.layer_digests[0]) == 1
    assert run_cli("images", "-q", "--no-trunc").stdout.split() == [built.config_digest]
    chain = chain_ids(built.diff_ids)
    top = hybridock_root / "layers" / chain[1].removeprefix("sha256:")
    assert (top / "big").stat().st_size == 3 * 1024 * 1024
    assert list((hybridock_root / "tmp").iterdir()) == []


def start_pull(env: dict[str, str], reference: str, *, stdout: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*hybridock_command(), "pull", reference],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_request(
    registry: Registry, kind: str, *, count: int, process: subprocess.Popen[str]
) -> None:
    """Until the registry has seen ``count`` requests of ``kind`` (a condition, not a time),
    or ``process`` has exited."""
    event = threading.Event()
    while registry.count(kind) < count and process.poll() is None:
        event.wait(0.05)
