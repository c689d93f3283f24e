"""Acceptance tests of ``rmi`` and ``image prune`` (issue 2): what is untagged, what is
deleted, which layers and blobs go and which stay, and that a removed image is fetched again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.support.cli import CliResult, failed, ok
from tests.support.images import BuiltImage, ImageSpec, PushedImage
from tests.support.layers import File, Layer
from tests.support.registry import Registry

RunCli = Callable[..., CliResult]

pytestmark = pytest.mark.registry


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    chain: list[str] = []
    for diff_id in diff_ids:
        if chain:
            chain.append("sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest())
        else:
            chain.append(diff_id)
    return chain


def layer_dirs(root: Path) -> set[str]:
    return {path.name for path in (root / "layers").iterdir()}


def blob_files(root: Path) -> set[str]:
    return {path.name for path in (root / "blobs" / "sha256").iterdir()}


def hexes(digests: Sequence[str]) -> set[str]:
    return {digest.removeprefix("sha256:") for digest in digests}


def image_ids(run_cli: RunCli) -> list[str]:
    return ok(run_cli("images", "-q", "--no-trunc")).stdout.split()


def repository_for(request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"rmi/{name}"


def spec(name: str) -> ImageSpec:
    """Three layers; the first two are the same in every image, the top one is ``name``'s."""
    return ImageSpec(
        layers=[
            Layer([File("base", "shared base")]),
            Layer([File("middle", "shared middle")], "zstd"),
            Layer([File("top", f"top of {name}")]),
        ],
        labels={"name": name},
    )


def build(name: str) -> BuiltImage:
    return spec(name).build()


def assert_store_empty(root: Path, run_cli: RunCli) -> None:
    assert layer_dirs(root) == set()
    assert blob_files(root) == set()
    assert image_ids(run_cli) == []


# --- rmi ----------------------------------------------------------------------------------------


def test_rmi_then_pull_downloads_again(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    built = build("again")
    pushed = image_builder.push(built, registry, repository_for(request))
    ok(run_cli("pull", pushed.reference))

    output = ok(run_cli("rmi", pushed.reference)).stdout.splitlines()

    assert output[0] == f"Untagged: {pushed.reference}"
    assert f"Deleted: {built.config_digest}" in output
    assert_store_empty(hybridock_root, run_cli)
    registry.reset_requests()
    ok(run_cli("pull", pushed.reference))
    assert [registry.blob_gets(digest) for digest in built.layer_digests] == [1, 1, 1]
    assert image_ids(run_cli) == [built.config_digest]


def test_rmi_of_an_image_sharing_layers_keeps_them_for_the_other(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = repository_for(request)
    first, second = build("first"), build("second")
    one = image_builder.push(first, registry, repository, "first")
    two = image_builder.push(second, registry, repository, "second")
    ok(run_cli("pull", one.reference))
    ok(run_cli("pull", two.reference))
    first_chain, second_chain = chain_ids(first.diff_ids), chain_ids(second.diff_ids)
    assert first_chain[:2] == second_chain[:2]

    ok(run_cli("rmi", one.reference))

    assert image_ids(run_cli) == [second.config_digest]
    assert layer_dirs(hybridock_root) == hexes(second_chain)
    assert hexes(second.layer_digests) <= blob_files(hybridock_root)
    assert not hexes([first.layer_digests[2], first.config_digest]) & blob_files(hybridock_root)
    registry.reset_requests()
    ok(run_cli("pull", one.reference))
    assert [registry.blob_gets(digest) for digest in first.layer_digests] == [0, 0, 1]


@dataclass(frozen=True)
class RemovalCase:
    name: str
    pull: Callable[[PushedImage], str]  # what to pull
    remove: Callable[[PushedImage, BuiltImage], str]  # what to name in rmi
    untagged: Callable[[PushedImage], list[str]]


REMOVAL_CASES = [
    RemovalCase(
        "by-tag",
        lambda p: p.reference,
        lambda p, b: p.reference,
        lambda p: [f"Untagged: {p.reference}", f"Untagged: {p.digest_reference}"],
    ),
    RemovalCase(
        "by-id-prefix",
        lambda p: p.reference,
        lambda p, b: b.config_digest.removeprefix("sha256:")[:6],
        lambda p: [f"Untagged: {p.reference}", f"Untagged: {p.digest_reference}"],
    ),
    RemovalCase(
        "by-full-id",
        lambda p: p.reference,
        lambda p, b: b.config_digest,
        lambda p: [f"Untagged: {p.reference}", f"Untagged: {p.digest_reference}"],
    ),
    RemovalCase(
        "by-digest",
        lambda p: p.digest_reference,
        lambda p, b: p.digest_reference,
        lambda p: [f"Untagged: {p.digest_reference}"],
    ),
]


@pytest.mark.parametrize("case", REMOVAL_CASES, ids=[c.name for c in REMOVAL_CASES])
def test_rmi_removes_the_image_it_names(
    *,
    case: RemovalCase,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    built = build(case.name)
    pushed = image_builder.push(built, registry, repository_for(request))
    ok(run_cli("pull", case.pull(pushed)))

    output = ok(run_cli("rmi", case.remove(pushed, built))).stdout.splitlines()

    untagged = [line for line in output if line.startswith("Untagged: ")]
    assert sorted(untagged) == sorted(case.untagged(pushed))
    deleted = [line.removeprefix("Deleted: ") for line in output if line.startswith("Deleted: ")]
    assert deleted[0] == built.config_digest
    assert set(deleted[1:]) == set(chain_ids(built.diff_ids))
    assert_store_empty(hybridock_root, run_cli)


def test_rmi_of_one_of_two_tags_only_untags(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = repository_for(request)
    built = build("two-tags")
    one = image_builder.push(built, registry, repository, "one")
    two = image_builder.push(built, registry, repository, "two")
    ok(run_cli("pull", one.reference))
    ok(run_cli("pull", two.reference))
    layers_before = layer_dirs(hybridock_root)

    output = ok(run_cli("rmi", one.reference)).stdout

    assert output == f"Untagged: {one.reference}\n"
    assert image_ids(run_cli) == [built.config_digest]
    assert layer_dirs(hybridock_root) == layers_before
    assert ok(run_cli("images", "-q", one.reference)).stdout == ""
    assert ok(run_cli("images", "-q", two.reference)).stdout != ""


def test_rmi_by_id_of_an_image_with_two_tags_needs_force(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = repository_for(request)
    built = build("forced")
    one = image_builder.push(built, registry, repository, "one")
    two = image_builder.push(built, registry, repository, "two")
    ok(run_cli("pull", one.reference))
    ok(run_cli("pull", two.reference))
    short = built.config_digest.removeprefix("sha256:")[:12]

    message = failed(run_cli("rmi", short))
    assert "must be forced" in message, message
    assert image_ids(run_cli) == [built.config_digest]

    output = ok(run_cli("rmi", "-f", short)).stdout.splitlines()
    assert f"Untagged: {one.reference}" in output
    assert f"Untagged: {two.reference}" in output
    assert f"Deleted: {built.config_digest}" in output
    assert_store_empty(hybridock_root, run_cli)


def test_rmi_of_an_unknown_image_fails_and_continues_with_the_others(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    pushed = image_builder.push(build("known"), registry, repository_for(request))
    ok(run_cli("pull", pushed.reference))

    result = run_cli("rmi", "no-such-image:v9", pushed.reference)

    assert failed(result) == "Error: No such image: no-such-image:v9"
    assert f"Untagged: {pushed.reference}" in result.stdout
    assert_store_empty(hybridock_root, run_cli)


# --- image prune --------------------------------------------------------------------------------


def test_image_prune_removes_dangling_images_only(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = repository_for(request)
    old, new, other = build("old"), build("new"), build("other")
    moving = image_builder.push(old, registry, repository, "moving")
    kept = image_builder.push(other, registry, repository, "kept")
    ok(run_cli("pull", moving.reference))
    ok(run_cli("pull", kept.reference))
    image_builder.push(new, registry, repository, "moving")
    ok(run_cli("pull", moving.reference))  # old is now dangling
    assert sorted(image_ids(run_cli)) == sorted(
        [old.config_digest, new.config_digest, other.config_digest]
    )

    output = ok(run_cli("image", "prune", "-f")).stdout

    assert "Deleted Images:" in output
    assert f"Deleted: {old.config_digest}" in output
    assert sorted(image_ids(run_cli)) == sorted([new.config_digest, other.config_digest])
    assert layer_dirs(hybridock_root) == hexes(chain_ids(new.diff_ids) + chain_ids(other.diff_ids))
    assert hexes([old.config_digest, old.layer_digests[2]]).isdisjoint(blob_files(hybridock_root))

    again = ok(run_cli("image", "prune", "-f")).stdout
    assert "Deleted" not in again
    assert len(image_ids(run_cli)) == 2


def test_image_prune_all_removes_tagged_images_too(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    pushed = image_builder.push(build("all"), registry, repository_for(request))
    ok(run_cli("pull", pushed.reference))

    ok(run_cli("image", "prune", "-a", "-f"))

    assert_store_empty(hybridock_root, run_cli)
