"""Acceptance tests of ``tag`` and ``push`` (issue 14) against a real registry.

An image built in code goes into the registry with skopeo, hybridock pulls it, tags it and
pushes it to other repositories; what arrived is read back with skopeo and with hybridock
itself (after rmi). The registry's proxy counts requests, so "uploads nothing" means the
registry saw no upload.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.support.cli import CliResult
from tests.support.images import ImageSpec, PushedImage
from tests.support.layers import File, Layer
from tests.support.registry import Registry

RunCli = Callable[..., CliResult]

pytestmark = pytest.mark.registry


def ok(result: CliResult) -> CliResult:
    assert result.returncode == 0, str(result)
    assert "Traceback" not in result.stderr, str(result)
    return result


def failed(result: CliResult) -> str:
    assert result.returncode == 1, str(result)
    assert "Traceback" not in result.stderr, str(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, str(result)
    assert lines[0].startswith("Error: "), str(result)
    return lines[0]


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


def skopeo_inspect(reference: str) -> dict[str, object]:
    result = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{reference}"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(result.stdout))


def skopeo_digest(reference: str) -> str:
    result = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            f"docker://{reference}",
        ],
        capture_output=True,
        check=True,
        text=True,
        timeout=120,
    )
    return result.stdout.strip()


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
