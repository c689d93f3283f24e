"""Acceptance tests of failed pulls (issue 2): each failure is one clear line on stderr, exit
1 (130 for Ctrl-C), NOTHING of it is left in the store (no layer dir, blob, tmp/ entry or
database row), nothing is written outside the store, and the next pull (cause fixed) works.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.support.cleanup import remove_tree
from tests.support.cli import CliResult, failed, ok, running_hybridock, wait_until_downloading
from tests.support.images import ImageSpec, Platform, PushedImage, build_index, push_raw
from tests.support.layers import (
    Dir,
    Entry,
    File,
    Hardlink,
    Layer,
    LayerBlob,
    Symlink,
    Whiteout,
)
from tests.support.proxy import Fault
from tests.support.registry import Registry

RunCli = Callable[..., CliResult]

pytestmark = pytest.mark.registry

STORE_TABLES = ("layers", "images", "image_layers", "tags", "repo_digests", "blobs")


def assert_store_empty(root: Path, run_cli: RunCli) -> None:
    """Nothing of a failed pull is visible: files, temp entries, rows."""
    for sub in ("tmp", "layers", "blobs/sha256"):
        directory = root / sub
        leftovers = sorted(p.name for p in directory.iterdir()) if directory.exists() else []
        assert leftovers == [], f"{sub}: {leftovers}"
    if (root / "metadata.db").exists():
        with sqlite3.connect(root / "metadata.db") as connection:
            for table in STORE_TABLES:
                count = connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
                assert count == 0, f"{table} has {count} rows"
    assert ok(run_cli("images", "-q")).stdout == ""


def good_image(name: str) -> ImageSpec:
    return ImageSpec(
        layers=[Layer([File("base", f"{name} base")]), Layer([Dir("etc"), File("etc/ok", name)])],
        cmd=["/bin/true"],
    )


def repository_for(request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")
    while "--" in name:
        name = name.replace("--", "-")
    return f"fail/{name}"


# --- bad content --------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["head", "tail"])
def test_blob_served_with_wrong_content_fails_and_leaves_nothing(
    *,
    where: str,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    built = good_image("corrupt").build()
    pushed = image_builder.push(built, registry, repository_for(request))
    digest = built.layer_digests[1]
    data = registry.blob_path(digest).read_bytes()
    flipped = bytes(byte ^ 0xFF for byte in data[-16:])
    # head: the gzip header is garbage; tail: the stream is fine up to its checksum/digest
    original = registry.corrupt_blob(digest, None if where == "head" else data[:-16] + flipped)
    try:
        message = failed(run_cli("pull", pushed.reference))
    finally:
        registry.restore_blob(digest, original)

    assert message.removeprefix("Error: ").strip(), message
    assert_store_empty(hybridock_root, run_cli)
    ok(run_cli("pull", pushed.reference))
    assert ok(run_cli("images", "-q", "--no-trunc")).stdout == f"{built.config_digest}\n"


def test_config_whose_diff_id_does_not_match_fails_and_leaves_nothing(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = repository_for(request)
    good = Layer([File("good", "good")]).build()
    real = Layer([File("real", "real content")]).build()
    lying = LayerBlob(real.data, real.digest, diff_id=good.diff_id, compression="gzip")
    built = ImageSpec(layers=[good, lying]).build()
    push_raw(
        registry.backend_url,
        repository,
        "latest",
        manifest=built.manifest,
        media_type=built.media_type,
        blobs=built.blobs(),
    )
    reference = f"{registry.address}/{repository}:latest"

    message = failed(run_cli("pull", reference))

    assert "diff" in message.lower() or "digest" in message.lower(), message
    assert_store_empty(hybridock_root, run_cli)
    fixed = image_builder.push(good_image("fixed"), registry, repository)
    ok(run_cli("pull", fixed.reference))


# --- hostile layers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    name: str
    entries: Callable[[Path, str], Sequence[Entry]]  # (sentinel dir, relative way out) -> entries
    # None: the layer is refused. Else the pull succeeds and the entry is confined: it lands
    # at this path inside the layer's own tree (docker strips a leading "/" from names).
    confined_to: Callable[[Path], str] | None = None


# From the layer's tree (<root>/tmp/<work>/tree or <root>/layers/<chain>), four ".." reach
# the directory that holds the store and the sentinel beside it.
HOSTILE = [
    Hostile("dotdot-escape", lambda s, up: [File(f"{up}/escaped", "x")]),
    Hostile("dotdot-deep-escape", lambda s, up: [File("a/../../" + up + "/escaped", "x")]),
    Hostile(
        "absolute-path",
        lambda s, up: [File(str(s / "escaped"), "x")],
        confined_to=lambda s: str(s / "escaped").lstrip("/"),
    ),
    Hostile(
        "absolute-symlink-then-write-through",
        lambda s, up: [Symlink("evil", str(s)), File("evil/escaped", "x")],
    ),
    Hostile(
        "relative-symlink-then-write-through",
        lambda s, up: [Symlink("evil", up), File("evil/escaped", "x")],
    ),
    Hostile(
        "symlink-replacing-dot",
        lambda s, up: [Symlink(".", str(s)), File("escaped", "x")],
    ),
    Hostile(
        "symlink-dir-then-dotdot",
        lambda s, up: [Dir("d"), Symlink("d/link", str(s)), File("d/link/escaped", "x")],
    ),
    Hostile(
        "absolute-hardlink-then-write",
        lambda s, up: [Hardlink("victim", str(s / "target")), File("victim", "overwritten")],
    ),
    Hostile(
        "relative-hardlink-to-outside",
        lambda s, up: [Hardlink("victim", f"{up}/target")],
    ),
    Hostile("whiteout-of-dotdot", lambda s, up: [Dir("a"), Whiteout("a/..")]),
    Hostile("whiteout-of-dotdot-at-top", lambda s, up: [Whiteout("..")]),
]


@pytest.fixture
def sentinel(hybridock_root: Path) -> Iterator[Path]:
    """A directory beside the store that no layer may touch."""
    directory = hybridock_root.parent / f"{hybridock_root.name}-sentinel"
    directory.mkdir()
    (directory / "target").write_text("precious")
    try:
        yield directory
    finally:
        remove_tree(directory)


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes | str]]:
    found: dict[str, tuple[int, int, bytes | str]] = {}
    for path in [directory, *directory.rglob("*")]:
        info = path.lstat()
        content: bytes | str = (
            str(path.readlink())
            if path.is_symlink()
            else path.read_bytes()
            if path.is_file()
            else b""
        )
        found[str(path.relative_to(directory))] = (info.st_mode, info.st_nlink, content)
    return found


@pytest.mark.parametrize("case", HOSTILE, ids=[c.name for c in HOSTILE])
def test_hostile_layer_is_refused_and_writes_nothing_outside(
    *,
    case: Hostile,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    sentinel: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    up = "../../../../" + sentinel.name
    parent_before = sorted(p.name for p in hybridock_root.parent.iterdir())
    sentinel_before = snapshot(sentinel)
    hostile = ImageSpec(
        layers=[Layer([File("harmless", "first layer is fine")]), Layer(case.entries(sentinel, up))]
    )
    pushed = image_builder.push(hostile, registry, repository_for(request))

    result = run_cli("pull", pushed.reference)

    assert snapshot(sentinel) == sentinel_before
    assert sorted(p.name for p in hybridock_root.parent.iterdir()) == parent_before
    assert hybridock_root.is_dir()
    if case.confined_to is None:
        failed(result)
        assert_store_empty(hybridock_root, run_cli)
    else:
        ok(result)
        inside = (
            hybridock_root / "layers" / chain_of(hostile.build().diff_ids).removeprefix("sha256:")
        )
        assert (inside / case.confined_to(sentinel)).read_text() == "x"
    fixed = image_builder.push(good_image(case.name), registry, pushed.repository)
    ok(run_cli("pull", fixed.reference))


def chain_of(diff_ids: Sequence[str]) -> str:
    """The chain id of the top layer."""
    chain = diff_ids[0]
    for diff_id in diff_ids[1:]:
        chain = "sha256:" + hashlib.sha256(f"{chain} {diff_id}".encode()).hexdigest()
    return chain


# --- the registry is missing, wrong or broken -----------------------------------------------------


def test_unknown_image_says_not_found(
    registry: Registry, hybridock_root: Path, run_cli: RunCli
) -> None:
    message = failed(run_cli("pull", f"{registry.address}/no/such-image:v1"))

    assert "not found" in message.lower() or "unknown" in message.lower(), message
    assert_store_empty(hybridock_root, run_cli)


def test_unknown_tag_of_a_known_repository_says_not_found(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    pushed = image_builder.push(good_image("tagged"), registry, repository_for(request), "v1")

    message = failed(run_cli("pull", f"{pushed.address}/{pushed.repository}:v2"))

    assert "not found" in message.lower() or "unknown" in message.lower(), message
    assert_store_empty(hybridock_root, run_cli)


def test_unknown_registry_host_fails_clearly(hybridock_root: Path, run_cli: RunCli) -> None:
    message = failed(run_cli("pull", "registry.invalid/some/image:v1"))

    assert "registry.invalid" in message, message
    assert_store_empty(hybridock_root, run_cli)


def test_registry_down_fails_clearly_and_works_once_it_is_back(
    registry_factory: Callable[..., Registry],
    image_builder: ImageBuilder,
    make_hybridock_env: Callable[..., dict[str, str]],
    hybridock_root: Path,
    run_cli: RunCli,
) -> None:
    own = registry_factory()
    pushed = image_builder.push(good_image("down"), own, "down/image")
    env = make_hybridock_env(own)
    own.stop()

    message = failed(run_cli("pull", pushed.reference, env=env))

    assert own.address in message, message
    assert_store_empty(hybridock_root, run_cli)
    own.start()
    ok(run_cli("pull", pushed.reference, env=env))


ALL_KINDS = ("ping", "manifest_head", "manifest_get", "blob_get", "blob_head", "other")


def test_registry_answering_500_to_everything_fails_after_retries(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    pushed = image_builder.push(good_image("five-hundred"), registry, repository_for(request))
    for kind in ALL_KINDS:
        registry.inject(Fault(kind, status=500, times=None))

    failed(run_cli("pull", pushed.reference))

    assert len(registry.requests) > 1  # it retried
    assert_store_empty(hybridock_root, run_cli)
    registry.reset_requests()  # drops the faults
    ok(run_cli("pull", pushed.reference))


def test_layer_blob_answering_500_fails_and_leaves_the_other_layers_out(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    built = good_image("one-bad-layer").build()
    pushed = image_builder.push(built, registry, repository_for(request))
    registry.inject(Fault("blob_get", reference=built.layer_digests[1], status=500, times=None))

    failed(run_cli("pull", pushed.reference))

    assert registry.blob_gets(built.layer_digests[1]) > 1  # retried
    assert_store_empty(hybridock_root, run_cli)
    registry.reset_requests()
    ok(run_cli("pull", pushed.reference))


# --- Ctrl-C -------------------------------------------------------------------------------------


class StallingBlobHost:
    """Where the registry redirects one blob: it sends the headers and the first part of the
    body, then sends nothing more until closed, so a pull is reliably caught mid-download."""

    def __init__(self, data: bytes, first_part: int) -> None:
        self.data = data
        self.first_part = first_part
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            if self.closed.is_set():
                connection.close()
                return
            self.connections.append(connection)
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(65536)
                if not chunk:
                    return
                request += chunk
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(self.data)}\r\n\r\n"
            )
            connection.sendall(head.encode() + self.data[: self.first_part])
            self.closed.wait()
        except OSError:
            return

    def close(self) -> None:
        self.closed.set()
        with socket.create_connection(("127.0.0.1", self.port)):
            pass  # wakes the accept() that a close would not
        self.listener.close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.thread.join(timeout=60)


def test_ctrl_c_during_a_download_exits_130_and_leaves_nothing(
    *,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_env: dict[str, str],
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    big = Layer([File("big", os.urandom(4 * 1024 * 1024))], "none").build()
    built = ImageSpec(layers=[Layer([File("small", "small")]), big]).build()
    pushed: PushedImage = image_builder.push(built, registry, repository_for(request))
    stall = StallingBlobHost(big.data, first_part=2 * 1024 * 1024)
    registry.inject(Fault("blob_get", reference=big.digest, redirect=stall.url, times=None))
    try:
        with running_hybridock(["pull", pushed.reference], env=hybridock_env) as process:
            wait_until_downloading(process, big.digest)
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=120)
    finally:
        stall.close()
        registry.reset_requests()

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert_store_empty(hybridock_root, run_cli)
    ok(run_cli("pull", pushed.reference))
    assert ok(run_cli("images", "-q", "--no-trunc")).stdout == f"{built.config_digest}\n"


# --- platforms ----------------------------------------------------------------------------------


def test_index_without_the_asked_platform_fails_clearly(
    *,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    only = ImageSpec(layers=[Layer([File("arch", "s390x")])], platform=Platform("linux", "s390x"))
    pushed = image_builder.push(build_index([only.build()]), registry, repository_for(request))

    message = failed(run_cli("pull", pushed.reference))
    assert "no matching manifest" in message, message
    assert "linux/s390x" in message, message
    assert registry.blob_gets() == 0
    assert_store_empty(hybridock_root, run_cli)

    ok(run_cli("pull", "--platform", "linux/s390x", pushed.reference))


@pytest.mark.parametrize("platform", ["a//b", "linux/amd64/v1/extra", "linux/"])
def test_invalid_platform_is_refused_clearly(
    platform: str, *, hybridock_root: Path, run_cli: RunCli
) -> None:
    message = failed(run_cli("pull", "--platform", platform, "127.0.0.1:1/some/image:v1"))

    assert "platform" in message, message
    assert_store_empty(hybridock_root, run_cli)


def test_a_killed_pull_leaves_nothing_that_blocks_the_next_and_gc_reclaims_its_work(
    *,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_env: dict[str, str],
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    big = Layer([File("big", os.urandom(3 * 1024 * 1024))], "none").build()
    built = ImageSpec(layers=[Layer([File("small", "small")]), big]).build()
    pushed = image_builder.push(built, registry, repository_for(request))
    stall = StallingBlobHost(big.data, first_part=1024 * 1024)
    registry.inject(Fault("blob_get", reference=big.digest, redirect=stall.url, times=1))
    try:
        pull = ["pull", pushed.reference]
        with running_hybridock(pull, env=hybridock_env, stderr=subprocess.DEVNULL) as process:
            wait_until_downloading(process, big.digest)
            process.kill()  # no chance to clean up: a crash
            process.communicate(timeout=120)
    finally:
        stall.close()

    leftovers = [p.name for p in (hybridock_root / "tmp").iterdir()]
    assert leftovers, "a killed pull leaves its work tree behind"
    assert all(name.startswith("layer-") for name in leftovers), leftovers
    assert ok(run_cli("images", "-q")).stdout == ""
    ok(run_cli("pull", pushed.reference))
    assert ok(run_cli("images", "-q", "--no-trunc")).stdout == f"{built.config_digest}\n"
    ok(run_cli("image", "prune", "-f"))  # collects garbage, keeps the tagged image
    assert list((hybridock_root / "tmp").iterdir()) == []
    assert ok(run_cli("images", "-q", "--no-trunc")).stdout == f"{built.config_digest}\n"


def test_ctrl_c_while_a_layer_extracts_does_not_draw_it_complete(
    *,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_env: dict[str, str],
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    """docker leaves every layer drawn as it was at Ctrl-C. The layer's download ends long
    before its 10,000 files are written, so the SIGINT sent at `Download complete` lands
    while it is still extracting."""
    many = Layer([File(f"f{index}", "x") for index in range(10_000)], "none").build()
    pushed = image_builder.push(ImageSpec(layers=[many]).build(), registry, repository_for(request))
    layer = many.digest.removeprefix("sha256:")[:12]
    with running_hybridock(["pull", pushed.reference], env=hybridock_env) as process:
        assert process.stdout is not None
        before = []
        for line in process.stdout:
            before.append(line)
            if line.strip() == f"{layer}: Download complete":
                break
        process.send_signal(signal.SIGINT)
        after, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, "".join(before) + after + stderr
    assert f"{layer}: Pull complete" not in after, after
    assert_store_empty(hybridock_root, run_cli)
    trash = hybridock_root / "trash"  # the background discard of the partial tree
    deadline = time.monotonic() + 120
    while trash.is_dir() and any(trash.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
