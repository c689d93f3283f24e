"""Hostile layers (issue 4): decompression bombs bounded by the configured layer budget, a tar
whose PAX size disagrees with its header, and a disk that fills up during extraction.

Each case ends as every failed pull must (see test_pull_failures.py): one ``Error:`` line,
exit 1, nothing of the pull left in the store (no layer tree, no blob, tmp/ empty, no rows),
and the next pull, with the cause removed, works.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.integration.test_pull_failures import assert_store_empty, good_image, repository_for
from tests.support.cleanup import remove_tree
from tests.support.cli import CliResult, failed, ok
from tests.support.images import ImageSpec, push_raw
from tests.support.layers import File, Layer, LayerBlob, raw_layer, sha256_digest
from tests.support.registry import Registry

RunCli = Callable[..., CliResult]

pytestmark = pytest.mark.registry

MiB = 1024 * 1024


def gzip_layer(tar: bytes) -> LayerBlob:
    """A gzip layer at the strongest level: what a bomb maker would ship."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="", compresslevel=9) as out:
        out.write(tar)
    data = buffer.getvalue()
    return LayerBlob(data, sha256_digest(data), sha256_digest(tar), "gzip")


def zeros_tar(size: int) -> bytes:
    """One file of ``size`` zero bytes, streamed so the tar is built without a second copy."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("zeros")
        info.size = size
        info.mtime = 1_700_000_000
        archive.addfile(info, io.BytesIO(bytes(size)))
    return buffer.getvalue()


def empty_files_tar(count: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for index in range(count):
            info = tarfile.TarInfo(f"e{index}")
            info.mtime = 1_700_000_000
            archive.addfile(info)
    return buffer.getvalue()


@dataclass(frozen=True)
class Bomb:
    name: str
    tar: Callable[[], bytes]
    env: dict[str, str]  # the budget, set through the environment
    mentions: str  # what the one-line error names (the LayerLimitExceeded message)


BOMBS = [
    Bomb(
        "bytes",
        lambda: zeros_tar(64 * MiB),
        {"HYBRIDOCK_MAX_LAYER_SIZE": str(1 * MiB)},
        f"limit of {1 * MiB}",
    ),
    Bomb(
        "entries",
        lambda: empty_files_tar(20_000),
        {"HYBRIDOCK_MAX_LAYER_ENTRIES": "1000"},
        "limit of 1000",
    ),
]


@pytest.mark.parametrize("bomb", BOMBS, ids=[b.name for b in BOMBS])
def test_decompression_bomb_is_bounded_by_the_configured_budget(
    *,
    bomb: Bomb,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    layer = gzip_layer(bomb.tar())
    assert layer.size < 256 * 1024  # tiny on the wire, large once expanded
    built = ImageSpec(layers=[Layer([File("harmless", "fine")]), layer]).build()
    pushed = image_builder.push(built, registry, repository_for(request))

    message = failed(run_cli("pull", pushed.reference, env=bomb.env))

    assert "layer exceeds the" in message, message
    assert bomb.mentions in message, message
    assert not (hybridock_root / "blobs" / "sha256" / layer.digest[7:]).exists()
    assert_store_empty(hybridock_root, run_cli)
    # The default budget is far above a real layer: the same image pulls without the override.
    ok(run_cli("pull", pushed.reference))
    assert ok(run_cli("images", "-q", "--no-trunc")).stdout == f"{built.config_digest}\n"


def gibibyte_bomb() -> LayerBlob:
    """About 1 MiB of gzip that expands to a 1 GiB tar: one file header, then 1024 copies of
    the same gzip member of 1 MiB of zeros (a multi-member stream, as gzip(1) and docker read
    it). The tar is never materialised, so its diff_id is not known: the config claims one that
    the pull never gets to check, because the budget stops it long before the end."""
    size = 1024 * MiB
    header = tarfile.TarInfo("zeros")
    header.size = size
    header.mtime = 1_700_000_000
    head = header.tobuf(tarfile.USTAR_FORMAT)
    zeros = gzip.compress(bytes(MiB), compresslevel=9, mtime=0)
    # the file's data, then the end-of-archive blocks (data is a multiple of 512 already)
    data = gzip.compress(head, mtime=0) + zeros * 1024 + gzip.compress(bytes(1024), mtime=0)
    return LayerBlob(data, sha256_digest(data), sha256_digest(b"never computed"), "gzip")


def test_a_megabyte_that_expands_to_a_gibibyte_stops_at_the_budget(
    *,
    registry: Registry,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = repository_for(request)
    bomb = gibibyte_bomb()
    assert bomb.size < 2 * MiB
    built = ImageSpec(layers=[bomb]).build()
    push_raw(
        registry.backend_url,
        repository,
        "latest",
        manifest=built.manifest,
        media_type=built.media_type,
        blobs=built.blobs(),
    )

    result = run_cli(
        "pull",
        f"{registry.address}/{repository}:latest",
        env={"HYBRIDOCK_MAX_LAYER_SIZE": str(16 * MiB)},
    )

    message = failed(result)
    assert f"layer exceeds the limit of {16 * MiB} uncompressed bytes" in message, message
    assert_store_empty(hybridock_root, run_cli)


def test_layer_budget_from_the_config_file_and_the_environment_over_it(
    *,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_env: dict[str, str],
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    layer = gzip_layer(zeros_tar(8 * MiB))
    built = ImageSpec(layers=[layer]).build()
    pushed = image_builder.push(built, registry, repository_for(request))
    config = json.loads(Path(hybridock_env["HYBRIDOCK_CONFIG"]).read_text())
    limited = tmp_path / "limited.json"
    limited.write_text(json.dumps({**config, "max-layer-size": MiB, "max-layer-entries": 10}))
    env = {"HYBRIDOCK_CONFIG": str(limited)}

    message = failed(run_cli("pull", pushed.reference, env=env))

    assert f"limit of {MiB}" in message, message
    assert_store_empty(hybridock_root, run_cli)
    # the environment replaces the file's value
    ok(run_cli("pull", pushed.reference, env={**env, "HYBRIDOCK_MAX_LAYER_SIZE": str(64 * MiB)}))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HYBRIDOCK_MAX_LAYER_SIZE", "lots"),
        ("HYBRIDOCK_MAX_LAYER_SIZE", "0"),
        ("HYBRIDOCK_MAX_LAYER_ENTRIES", "-5"),
    ],
)
def test_a_bad_layer_budget_is_a_clear_error(
    variable: str, value: str, *, hybridock_root: Path, run_cli: RunCli
) -> None:
    message = failed(run_cli("pull", "127.0.0.1:1/some/image:v1", env={variable: value}))

    assert variable in message, message
    assert_store_empty(hybridock_root, run_cli)


def pax_size_mismatch_tar(claimed: int, real: int) -> bytes:
    """One file whose PAX ``size`` record says ``claimed`` while the ustar header and the data
    that follows say ``real``: a reader that trusts either one lands in the middle of data."""
    payload = b"A" * real
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("lying")
        info.size = real
        info.mtime = 1_700_000_000
        info.pax_headers = {"size": str(claimed)}
        archive.addfile(info, io.BytesIO(payload))
        after = tarfile.TarInfo("after")
        after.size = 5
        after.mtime = 1_700_000_000
        archive.addfile(after, io.BytesIO(b"after"))
    data = buffer.getvalue()
    assert f" size={claimed}\n".encode() in data  # the lie is written
    return data


@pytest.mark.parametrize(("claimed", "real"), [(100_000, 1024), (10, 4096)], ids=["more", "less"])
def test_tar_whose_pax_size_disagrees_with_its_header_is_refused(
    *,
    claimed: int,
    real: int,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = repository_for(request)
    lying = raw_layer(pax_size_mismatch_tar(claimed, real))
    built = ImageSpec(layers=[Layer([File("harmless", "fine")]), lying]).build()
    push_raw(
        registry.backend_url,
        repository,
        "latest",
        manifest=built.manifest,
        media_type=built.media_type,
        blobs=built.blobs(),
    )

    message = failed(run_cli("pull", f"{registry.address}/{repository}:latest"))

    # the PAX size wins (as in Go's archive/tar): "more" runs off the end of the stream,
    # "less" lands in the file's data where the next header should be
    assert "invalid layer" in message, message

    assert_store_empty(hybridock_root, run_cli)
    fixed = image_builder.push(good_image("pax"), registry, repository)
    ok(run_cli("pull", fixed.reference))


# --- the disk fills up during extraction ----------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, unmounted afterwards whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
        remove_tree(mountpoint)


@pytest.mark.root
def test_disk_full_during_extraction_fails_clearly_and_leaves_nothing_half_written(
    *,
    small_disk: Path,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_env: dict[str, str],
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    root = small_disk / "store"
    env = {**hybridock_env, "HYBRIDOCK_ROOT": str(root)}
    # incompressible content: the blob and the tree each need their full size
    big = Layer([File("big", os.urandom(6 * MiB))], "gzip").build()
    built = ImageSpec(layers=[Layer([File("small", "small")]), big]).build()
    pushed = image_builder.push(built, registry, repository_for(request))

    def cli(*args: str) -> CliResult:
        return run_cli(*args, env=env)

    message = failed(cli("pull", pushed.reference))

    assert "no space" in message.lower(), message
    assert_store_empty(root, cli)
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    ok(cli("pull", pushed.reference))
    assert ok(cli("images", "-q", "--no-trunc")).stdout == f"{built.config_digest}\n"
    layer_tree = root / "layers"
    assert any((tree / "big").is_file() for tree in layer_tree.iterdir())
    assert list((root / "tmp").iterdir()) == []
