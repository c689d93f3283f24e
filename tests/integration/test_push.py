"""Acceptance tests of ``tag`` and ``push`` (issue 14) against a real registry.

An image built in code goes into the registry with skopeo, hybridock pulls it, tags it and
pushes it to other repositories; what arrived is read back with skopeo and with hybridock
itself (after rmi). The registry's proxy counts requests, so "uploads nothing" means the
registry saw no upload.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import TLS_USER, TOKEN_USER, ImageBuilder
from tests.support.cli import CliResult, failed, ok, run_hybridock
from tests.support.images import ImageSpec, PushedImage, skopeo_digest, skopeo_inspect
from tests.support.layers import File, Layer
from tests.support.registry import Registry
from tests.support.tokenserver import TokenRegistry

RunCli = Callable[..., CliResult]

pytestmark = pytest.mark.registry


def repository_for(request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"push/{name}"


def spec(name: str) -> ImageSpec:
    return ImageSpec(
        layers=[
            Layer([File("base", f"base of {name}")]),
            Layer([File("top", f"top of {name}")], "zstd"),
        ],
        labels={"name": name},
    )


def uploads(registry: Registry) -> list[str]:
    """The upload requests the registry saw (POST, PATCH, PUT of blobs)."""
    return [
        f"{record.method} {record.path}"
        for record in registry.requests
        if record.kind == "blob_upload"
    ]


def repo_digests(root: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(root / "metadata.db") as connection:
        rows = connection.execute("SELECT repository, digest FROM repo_digests").fetchall()
    return {(row[0], row[1]) for row in rows}


@pytest.fixture
def pulled(
    request: pytest.FixtureRequest,
    image_builder: ImageBuilder,
    registry: Registry,
    run_cli: RunCli,
) -> PushedImage:
    """An image in the registry (by skopeo) that hybridock pulled."""
    image = image_builder.push(spec(request.node.name), registry, repository_for(request))
    ok(run_cli("pull", "-q", image.reference))
    registry.reset_requests()
    return image


# --- tag ---------------------------------------------------------------------------------------


def test_tag_names_the_image_and_rmi_of_one_of_two_tags_untags_only(
    pulled: PushedImage, run_cli: RunCli, hybridock_root: Path
) -> None:
    image_id = ok(run_cli("images", "-q", "--no-trunc", pulled.reference)).stdout.strip()
    ok(run_cli("tag", pulled.reference, "mine/copy:v1"))
    ok(run_cli("image", "tag", image_id, "mine/copy:v2"))
    assert ok(run_cli("images", "-q", "--no-trunc", "mine/copy:v1")).stdout.strip() == image_id
    assert ok(run_cli("images", "-q", "--no-trunc", "mine/copy:v2")).stdout.strip() == image_id
    with sqlite3.connect(hybridock_root / "metadata.db") as connection:
        digest = connection.execute(
            "SELECT digest FROM tags WHERE name = 'docker.io/mine/copy:v1'"
        ).fetchone()[0]
        manifest = connection.execute(
            "SELECT manifest_digest FROM images WHERE id = ?", (image_id,)
        ).fetchone()[0]
    assert digest == manifest

    removed = ok(run_cli("rmi", "mine/copy:v1"))
    assert removed.stdout.splitlines() == ["Untagged: mine/copy:v1"]
    assert ok(run_cli("images", "-q", "--no-trunc", "mine/copy:v2")).stdout.strip() == image_id
    assert ok(run_cli("images", "-q", "--no-trunc", pulled.reference)).stdout.strip() == image_id


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(
            ("no-such-image", "x:1"), "Error: No such image: no-such-image:latest", id="no-source"
        ),
        pytest.param(
            ("SOURCE", "Bad/Name"),
            'Error: Error parsing reference: "Bad/Name" is not a valid repository/tag:'
            " invalid reference format: repository name (Name) must be lowercase",
            id="bad-target",
        ),
    ],
)
def test_tag_errors_are_one_line_and_exit_1(
    pulled: PushedImage, run_cli: RunCli, arguments: tuple[str, str], message: str
) -> None:
    source, target = arguments
    source = pulled.reference if source == "SOURCE" else source
    assert failed(run_cli("tag", source, target)) == message


# --- push --------------------------------------------------------------------------------------


def test_push_of_a_pulled_image_keeps_its_digest_and_pulls_back(
    pulled: PushedImage, run_cli: RunCli, registry: Registry, hybridock_root: Path
) -> None:
    target = f"{registry.address}/pushed/copy:v1"
    ok(run_cli("tag", pulled.reference, target))
    result = ok(run_cli("push", target))
    lines = result.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{registry.address}/pushed/copy]"
    diff_ids = [short.removeprefix("sha256:")[:12] for short in pulled.image.diff_ids]
    for diff_id in diff_ids:
        assert f"{diff_id}: Preparing" in lines
        assert (
            f"{diff_id}: Pushed" in lines or f"{diff_id}: Mounted from {pulled.repository}" in lines
        )
    size = len(pulled.image.manifest)
    assert lines[-1] == f"v1: digest: {pulled.digest} size: {size}"

    assert skopeo_digest(target) == pulled.digest
    assert (f"{registry.address}/pushed/copy", pulled.digest) in repo_digests(hybridock_root)
    digests = ok(run_cli("images", "--digests", "--format", "{{.Repository}} {{.Digest}}"))
    assert f"{registry.address}/pushed/copy {pulled.digest}" in digests.stdout.splitlines()

    ok(run_cli("rmi", "-f", target, pulled.reference))
    ok(run_cli("pull", "-q", target))
    again = ok(run_cli("images", "--digests", "--format", "{{.Repository}} {{.Digest}}"))
    assert again.stdout.splitlines() == [f"{registry.address}/pushed/copy {pulled.digest}"]


def test_a_second_push_uploads_nothing(
    pulled: PushedImage, run_cli: RunCli, registry: Registry
) -> None:
    target = f"{registry.address}/pushed/twice:v1"
    ok(run_cli("tag", pulled.reference, target))
    ok(run_cli("push", target))
    registry.reset_requests()
    result = ok(run_cli("push", target))
    assert uploads(registry) == []
    for diff_id in pulled.image.diff_ids:
        assert f"{diff_id.removeprefix('sha256:')[:12]}: Layer already exists" in result.stdout


def test_a_push_to_a_sibling_repository_mounts_the_layers(
    pulled: PushedImage, run_cli: RunCli, registry: Registry
) -> None:
    target = f"{registry.address}/pushed/sibling:v1"
    ok(run_cli("tag", pulled.reference, target))
    result = ok(run_cli("push", target))
    for diff_id in pulled.image.diff_ids:
        line = f"{diff_id.removeprefix('sha256:')[:12]}: Mounted from {pulled.repository}"
        assert line in result.stdout.splitlines(), result.stdout
    assert [r for r in uploads(registry) if r.startswith(("PATCH", "PUT"))] == [], uploads(registry)
    assert skopeo_digest(target) == pulled.digest


def test_push_quiet_prints_the_reference_only(
    pulled: PushedImage, run_cli: RunCli, registry: Registry
) -> None:
    target = f"{registry.address}/pushed/quiet"
    ok(run_cli("tag", pulled.reference, target))
    result = ok(run_cli("push", "-q", target))
    assert result.stdout == f"{target}:latest\n"
    assert result.stderr == ""


def test_push_all_tags_pushes_every_tag_of_the_repository(
    pulled: PushedImage, run_cli: RunCli, registry: Registry
) -> None:
    repository = f"{registry.address}/pushed/all"
    for tag in ("one", "two"):
        ok(run_cli("tag", pulled.reference, f"{repository}:{tag}"))
    result = ok(run_cli("push", "--all-tags", repository))
    digest_lines = [line for line in result.stdout.splitlines() if ": digest: " in line]
    assert [line.split(":")[0] for line in digest_lines] == ["one", "two"]
    assert result.stdout.count("The push refers to repository") == 1
    for tag in ("one", "two"):
        assert skopeo_digest(f"{repository}:{tag}") == pulled.digest
    assert failed(run_cli("push", "-a", f"{repository}:one")) == (
        "Error: tag can't be used with --all-tags/-a"
    )


def test_push_of_a_missing_image_says_so(run_cli: RunCli, registry: Registry) -> None:
    assert failed(run_cli("push", f"{registry.address}/pushed/none:v1")) == (
        f"Error: An image does not exist locally with the tag: {registry.address}/pushed/none"
    )
    assert registry.requests == []


def test_a_big_layer_goes_up_in_chunks_to_another_registry_and_pulls_back(
    request: pytest.FixtureRequest,
    image_builder: ImageBuilder,
    registry: Registry,
    registry_factory: Callable[..., Registry],
    run_cli: RunCli,
) -> None:
    """A blob above the monolithic limit goes in PATCH chunks with Content-Range; another
    registry has no repository to mount from."""
    noise = os.urandom(20 * 1024 * 1024)  # random: it stays above 16 MiB compressed
    image = image_builder.push(
        ImageSpec(layers=[Layer([File("noise", noise)])]), registry, repository_for(request)
    )
    ok(run_cli("pull", "-q", image.reference))
    other = registry_factory()
    target = f"{other.address}/pushed/big:v1"
    ok(run_cli("tag", image.reference, target))
    result = ok(run_cli("push", target))
    assert f"{image.image.diff_ids[0].removeprefix('sha256:')[:12]}: Pushed" in result.stdout
    patches = [r for r in other.requests if r.kind == "blob_upload" and r.method == "PATCH"]
    assert [r.header("Content-Range") for r in patches] == [
        f"0-{16 * 1024 * 1024 - 1}",
        f"{16 * 1024 * 1024}-{image.image.layers[0].size - 1}",
    ]
    assert skopeo_digest(target) == image.digest
    ok(run_cli("rmi", "-f", target, image.reference))
    ok(run_cli("pull", "-q", target))


def test_a_layer_the_store_has_in_another_compression_goes_up_as_stored(
    request: pytest.FixtureRequest,
    image_builder: ImageBuilder,
    registry: Registry,
    run_cli: RunCli,
    hybridock_root: Path,
) -> None:
    """The second image's manifest names a zstd blob of a layer the store keeps as gzip (its
    first pull): the push writes a manifest naming the gzip blob, and records it."""
    files = [File("same", "the same layer in two compressions")]
    first = image_builder.push(
        ImageSpec(layers=[Layer(files, "gzip")]), registry, repository_for(request) + "-gzip"
    )
    second = image_builder.push(
        ImageSpec(layers=[Layer(files, "zstd")], labels={"second": "yes"}),
        registry,
        repository_for(request) + "-zstd",
    )
    ok(run_cli("pull", "-q", first.reference))
    ok(run_cli("pull", "-q", second.reference))
    target = f"{registry.address}/pushed/recompressed:v1"
    ok(run_cli("tag", second.reference, target))
    result = ok(run_cli("push", target))
    digest = result.stdout.splitlines()[-1].split()[2]
    assert digest != second.digest
    manifest = skopeo_inspect(target)
    layers = manifest["layers"]
    assert isinstance(layers, list)
    assert [layer["digest"] for layer in layers] == [first.image.layers[0].digest]
    with sqlite3.connect(hybridock_root / "metadata.db") as connection:
        stored = connection.execute(
            "SELECT manifest_digest FROM images WHERE id = ?", (second.image.config_digest,)
        ).fetchone()[0]
    assert stored == digest
    assert (hybridock_root / "blobs/sha256" / digest.removeprefix("sha256:")).is_file()
    ok(run_cli("rmi", "-f", target, second.reference))
    ok(run_cli("pull", "-q", target))


def plain_tar_image(
    request: pytest.FixtureRequest, image_builder: ImageBuilder, registry: Registry
) -> PushedImage:
    spec = ImageSpec(layers=[Layer([File("plain", "an uncompressed layer")], "none")])
    return image_builder.push(spec.build("docker"), registry, repository_for(request))


def test_a_plain_tar_layer_is_compressed_on_the_way_and_recorded(
    request: pytest.FixtureRequest,
    image_builder: ImageBuilder,
    registry: Registry,
    run_cli: RunCli,
    hybridock_root: Path,
) -> None:
    image = plain_tar_image(request, image_builder, registry)
    ok(run_cli("pull", "-q", image.reference))
    target = f"{registry.address}/pushed/plain:v1"
    ok(run_cli("tag", image.reference, target))
    ok(run_cli("push", target))
    layers = skopeo_inspect(target)["layers"]
    assert isinstance(layers, list)
    assert layers[0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    with sqlite3.connect(hybridock_root / "metadata.db") as connection:
        recorded = connection.execute("SELECT digest, media_type FROM layers").fetchall()
    assert recorded == [(layers[0]["digest"], layers[0]["mediaType"])]
    ok(run_cli("rmi", "-f", target, image.reference))
    ok(run_cli("pull", "-q", target))
    ok(run_cli("push", target))  # again: the store's blob is now the compressed one


def test_a_committed_image_mounts_the_layers_its_base_came_with(
    request: pytest.FixtureRequest, image_builder: ImageBuilder, registry: Registry, run_cli: RunCli
) -> None:
    """A commit has no repository digest of its own: its base's layers are mounted from the
    repository the base was pulled from, as docker remembers where it saw each layer."""
    image = image_builder.push(spec("committed"), registry, repository_for(request))
    ok(run_cli("pull", "-q", image.reference))
    name = f"committed-{os.getpid()}"
    ok(run_cli("create", "--name", name, "--network", "none", image.reference, "/top"))
    try:
        target = f"{registry.address}/pushed/committed:v1"
        ok(run_cli("commit", "-c", "LABEL made=here", name, target))
        pushed = ok(run_cli("push", target)).stdout
    finally:
        ok(run_cli("rm", name))
    mounted = [line for line in pushed.splitlines() if "Mounted from" in line]
    assert len(mounted) == 2, pushed
    assert all(line.endswith(f"Mounted from {repository_for(request)}") for line in mounted)


def test_compression_format_recompresses_every_layer_and_keeps_the_stored_blobs(
    request: pytest.FixtureRequest,
    image_builder: ImageBuilder,
    registry: Registry,
    run_cli: RunCli,
    hybridock_root: Path,
) -> None:
    """podman's ``--compression-format zstd``: every layer goes up as zstd (an OCI manifest),
    the store keeps the blobs it had; the image pulls back whole."""
    image = image_builder.push(spec("zstd"), registry, repository_for(request))
    ok(run_cli("pull", "-q", image.reference))
    with sqlite3.connect(hybridock_root / "metadata.db") as connection:
        stored = connection.execute("SELECT digest FROM layers ORDER BY digest").fetchall()
    target = f"{registry.address}/pushed/zstd:v1"
    ok(run_cli("tag", image.reference, target))
    ok(run_cli("push", "--compression-format", "zstd", "--compression-level", "5", target))
    manifest = skopeo_inspect(target)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    layers = manifest["layers"]
    assert isinstance(layers, list)
    assert [layer["mediaType"] for layer in layers] == [
        "application/vnd.oci.image.layer.v1.tar+zstd"
    ] * 2
    with sqlite3.connect(hybridock_root / "metadata.db") as connection:
        assert connection.execute("SELECT digest FROM layers ORDER BY digest").fetchall() == stored
    ok(run_cli("rmi", "-f", target, image.reference))
    ok(run_cli("pull", "-q", target))
    bad = run_cli("push", "--compression-format", "zstd", "--compression-level", "99", target)
    assert "level" in failed(bad), bad


# --- credentials ---------------------------------------------------------------------------------


def runner(env: dict[str, str]) -> RunCli:
    def run(*args: str, input: str | None = None) -> CliResult:
        return run_hybridock(args, env=env, input=input, timeout=300)

    return run


def test_push_to_a_tls_registry_with_htpasswd_after_login(
    tls_registry: Registry,
    image_builder: ImageBuilder,
    make_hybridock_env: Callable[..., dict[str, str]],
    request: pytest.FixtureRequest,
) -> None:
    image = image_builder.push(spec("tls"), tls_registry, repository_for(request))
    run = runner(make_hybridock_env(tls_registry))
    user, password = TLS_USER
    ok(run("login", "-u", user, "--password-stdin", tls_registry.address, input=password + "\n"))
    ok(run("pull", "-q", image.reference))
    target = f"{tls_registry.address}/pushed/tls:v1"
    ok(run("tag", image.reference, target))
    result = ok(run("push", target))
    assert result.stdout.splitlines()[-1].startswith(f"v1: digest: {image.digest} ")
    ok(run("rmi", "-f", target, image.reference))
    ok(run("pull", "-q", target))


@pytest.fixture
def token_push(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TokenRegistry]:
    """Token auth where ``alice`` may do anything and ``bob`` only pull (public/*)."""
    bundle = TokenRegistry.create(
        tmp_path_factory.mktemp("token-push"),
        users={TOKEN_USER[0]: TOKEN_USER[1], "bob": "builder"},
        anonymous_pull=("public/*",),
    )
    bundle.tokens.user_repositories["bob"] = ("bob/*",)
    try:
        yield bundle
    finally:
        bundle.stop()


def test_token_auth_push_asks_for_push_scope_and_mounts_with_pull_scope(
    token_push: TokenRegistry,
    image_builder: ImageBuilder,
    make_hybridock_env: Callable[..., dict[str, str]],
) -> None:
    image = image_builder.push(spec("token"), token_push, "public/token")
    run = runner(make_hybridock_env(token_push.registry))
    address = token_push.registry.address
    ok(run("login", "-u", TOKEN_USER[0], "--password-stdin", address, input=TOKEN_USER[1] + "\n"))
    ok(run("pull", "-q", image.reference))
    target = f"{address}/team/token:v1"
    ok(run("tag", image.reference, target))
    token_push.reset()
    result = ok(run("push", target))
    assert "Mounted from public/token" in result.stdout
    scopes = {scope for r in token_push.tokens.requests for scope in r.params.get("scope", [])}
    assert "repository:team/token:pull,push" in scopes
    assert "repository:public/token:pull" in scopes
    granted = [g for r in token_push.tokens.requests for g in r.granted]
    assert {"type": "repository", "name": "team/token", "actions": ["pull", "push"]} in granted
    assert skopeo_digest(target, TOKEN_USER) == image.digest


def test_a_user_without_push_rights_is_denied_and_nothing_is_recorded(
    token_push: TokenRegistry,
    image_builder: ImageBuilder,
    make_hybridock_env: Callable[..., dict[str, str]],
    hybridock_root: Path,
) -> None:
    image = image_builder.push(spec("denied"), token_push, "public/denied")
    run = runner(make_hybridock_env(token_push.registry))
    address = token_push.registry.address
    ok(run("login", "-u", "bob", "--password-stdin", address, input="builder\n"))
    ok(run("pull", "-q", image.reference))
    target = f"{address}/team/denied:v1"
    ok(run("tag", image.reference, target))
    before = repo_digests(hybridock_root)
    assert failed(run("push", target)) == (
        "Error: denied: requested access to the resource is denied"
    )
    assert repo_digests(hybridock_root) == before
    assert list((hybridock_root / "tmp").iterdir()) == []
