"""RegistryClient against an in-process HTTP registry on 127.0.0.1: resolving, verifying,
streaming, mirrors. These cover what Debian's real docker-registry cannot be made to do on
demand; the integration suite runs the same client against the real one.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from hybridock.errors import (
    DigestMismatch,
    ManifestInvalid,
    ManifestUnknown,
    PlatformNotFound,
)
from hybridock.registry import Platform
from tests.unit.registry_harness import (
    LAYERS,
    Harness,
    build_image,
    build_index,
    descriptor,
    fail_first,
    read_all,
    ref_to,
)
from tests.unit.registry_stub_server import (
    OCI_INDEX,
    OCI_MANIFEST,
    Reply,
    StubRegistry,
    digest_of,
)

# --- the happy paths -------------------------------------------------------------------------


def test_resolve_a_tag_pointing_at_a_manifest(registry: StubRegistry, harness: Harness) -> None:
    manifest, config = build_image(registry, "library/busybox", "latest", LAYERS)
    image = harness.client.resolve(ref_to(registry), "linux/amd64")
    assert image.digest == digest_of(manifest) == image.manifest_digest
    assert image.manifest_bytes == manifest
    assert image.config_bytes == config
    assert image.config["architecture"] == "amd64"
    assert [layer.digest for layer in image.layers] == [digest_of(x) for x in LAYERS]
    assert image.index is None
    assert image.source == registry.url
    assert image.repo_digest == f"{registry.netloc}/library/busybox@{digest_of(manifest)}"
    assert image.diff_ids == tuple(digest_of(x) for x in LAYERS)
    assert [read_all(harness, image.reference, layer) for layer in image.layers] == LAYERS


def test_resolve_an_index_picks_the_platform(registry: StubRegistry, harness: Harness) -> None:
    amd64, _ = build_image(registry, "app", None, [b"amd64 layer"])
    arm64, _ = build_image(registry, "app", None, [b"arm64 layer"], arch="arm64")
    index = build_index(
        registry,
        "app",
        "1.0",
        [
            (amd64, {"os": "linux", "architecture": "amd64"}),
            (arm64, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        ],
    )
    image = harness.client.resolve(ref_to(registry, "app:1.0"), "linux/arm64")
    assert image.digest == digest_of(index)
    assert image.manifest_digest == digest_of(arm64)
    assert image.platform == Platform("linux", "arm64", "v8")
    assert image.media_type == OCI_INDEX
    with pytest.raises(PlatformNotFound, match=r"linux/riscv64.*linux/amd64, linux/arm64/v8"):
        harness.client.resolve(ref_to(registry, "app:1.0"), "linux/riscv64")


def test_a_single_platform_image_must_match_an_explicit_platform(
    registry: StubRegistry, harness: Harness
) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    assert harness.client.resolve(ref_to(registry)).platform is None
    with pytest.raises(PlatformNotFound, match="wanted linux/arm64/v8, actual: linux/amd64"):
        harness.client.resolve(ref_to(registry), "linux/arm64")


def test_resolve_by_digest_and_head_digest(registry: StubRegistry, harness: Harness) -> None:
    manifest, _ = build_image(registry, "library/busybox", "latest", LAYERS)
    digest = digest_of(manifest)
    assert harness.client.head_digest(ref_to(registry)) == digest
    assert harness.client.head_digest(ref_to(registry, "library/busybox:gone")) is None
    image = harness.client.resolve(ref_to(registry, f"library/busybox@{digest}"))
    assert image.digest == digest


def test_head_digest_falls_back_to_get_and_hash(registry: StubRegistry, harness: Harness) -> None:
    manifest, _ = build_image(registry, "library/busybox", "latest", LAYERS)
    registry.override("HEAD", r"/v2/.*/manifests/latest", lambda seen: Reply(200))
    assert harness.client.head_digest(ref_to(registry)) == digest_of(manifest)
    assert "/v2/library/busybox/manifests/latest" in registry.paths("GET")


def test_open_blob_resumes_from_an_offset_and_after_a_reset(
    registry: StubRegistry, harness: Harness
) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    image = harness.client.resolve(ref_to(registry), "linux/amd64")
    layer = image.layers[1]
    assert read_all(harness, image.reference, layer, offset=1000) == LAYERS[1][1000:]
    blob = registry.blobs[layer.digest]
    registry.override(
        "GET", rf"/v2/.*/blobs/{layer.digest}", fail_first(1, Reply(200, {}, blob, partial=70_000))
    )
    assert read_all(harness, image.reference, layer) == LAYERS[1]
    ranges = [s.headers.get("range") for s in registry.requests if layer.digest in s.path]
    assert ranges[-1] is not None
    assert ranges[-1].startswith("bytes=")


def test_unknown_manifest(registry: StubRegistry, harness: Harness) -> None:
    with pytest.raises(
        ManifestUnknown, match=r"manifest for .*busybox:nope not found: manifest unknown"
    ):
        harness.client.resolve(ref_to(registry, "library/busybox:nope"))


# --- content that lies ------------------------------------------------------------------------


def test_manifest_by_digest_must_match_it(registry: StubRegistry, harness: Harness) -> None:
    manifest, _ = build_image(registry, "library/busybox", "latest", LAYERS)
    wrong = "sha256:" + "0" * 64
    registry.manifests[("library/busybox", wrong)] = (manifest, OCI_MANIFEST)
    with pytest.raises(DigestMismatch):
        harness.client.resolve(ref_to(registry, f"library/busybox@{wrong}"))


def test_manifest_by_tag_must_match_docker_content_digest(
    registry: StubRegistry, harness: Harness
) -> None:
    manifest, _ = build_image(registry, "library/busybox", "latest", LAYERS)
    lying = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "1" * 64}
    registry.override("GET", r"/v2/.*/manifests/latest", lambda seen: Reply(200, lying, manifest))
    with pytest.raises(DigestMismatch, match="as the registry claims"):
        harness.client.resolve(ref_to(registry), "linux/amd64")


def test_config_must_match_its_descriptor(registry: StubRegistry, harness: Harness) -> None:
    _, config = build_image(registry, "library/busybox", "latest", LAYERS)
    registry.blobs[digest_of(config)] = config.replace(b"amd64", b"arm64")
    with pytest.raises(DigestMismatch, match="image config"):
        harness.client.resolve(ref_to(registry), "linux/amd64")


def test_index_entry_size_must_match(registry: StubRegistry, harness: Harness) -> None:
    amd64, _ = build_image(registry, "app", None, [b"amd64 layer"])
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest_of(amd64),
                    "size": len(amd64) + 1,
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    ).encode()
    registry.add_manifest("app", "1", index, OCI_INDEX)
    with pytest.raises(ManifestInvalid, match="the index says"):
        harness.client.resolve(ref_to(registry, "app:1"), "linux/amd64")


def test_config_diff_ids_must_match_the_layers(registry: StubRegistry, harness: Harness) -> None:
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
    registry.add_blob(config)
    registry.add_blob(LAYERS[0])
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", LAYERS[0])],
        }
    ).encode()
    registry.add_manifest("app", "1", manifest, OCI_MANIFEST)
    with pytest.raises(ManifestInvalid, match="0 diff_ids for 1 layers"):
        harness.client.resolve(ref_to(registry, "app:1"), "linux/amd64")


def test_type_confusion_is_refused(registry: StubRegistry, harness: Harness) -> None:
    manifest, _ = build_image(registry, "library/busybox", "latest", LAYERS)
    registry.manifests[("library/busybox", "latest")] = (manifest, OCI_INDEX)
    with pytest.raises(ManifestInvalid, match="type confusion"):
        harness.client.resolve(ref_to(registry), "linux/amd64")


def test_an_oversized_manifest_is_refused_without_reading_it_all(
    registry: StubRegistry, harness: Harness
) -> None:
    huge = b"{" + b" " * (5 * 1024 * 1024) + b"}"
    registry.override(
        "GET",
        r"/v2/.*/manifests/big",
        lambda seen: Reply(200, {"Content-Type": OCI_MANIFEST}, huge),
    )
    with pytest.raises(ManifestInvalid, match="larger than"):
        harness.client.resolve(ref_to(registry, "library/busybox:big"))


# --- mirrors ---------------------------------------------------------------------------------


def test_a_mirror_serves_manifest_and_blobs(
    registry: StubRegistry, other_host: StubRegistry, tmp_path: Path
) -> None:
    manifest, _ = build_image(other_host, "library/busybox", "latest", LAYERS)
    harness = Harness(tmp_path, registry_mirrors={registry.netloc: (other_host.url,)})
    image = harness.client.resolve(ref_to(registry), "linux/amd64")
    assert image.digest == digest_of(manifest)
    assert image.source == other_host.url
    assert read_all(harness, image.reference, image.layers[0]) == LAYERS[0]
    assert registry.requests == []


@pytest.mark.parametrize("failure", ["404", "unreachable"])
def test_mirror_falls_back_to_upstream(
    registry: StubRegistry, other_host: StubRegistry, tmp_path: Path, failure: str
) -> None:
    manifest, _ = build_image(registry, "library/busybox", "latest", LAYERS)
    mirror = other_host.url
    if failure == "unreachable":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            mirror = f"http://127.0.0.1:{probe.getsockname()[1]}"
    harness = Harness(tmp_path, registry_mirrors={registry.netloc: (mirror,)})
    image = harness.client.resolve(ref_to(registry), "linux/amd64")
    assert image.digest == digest_of(manifest)
    assert image.source == registry.url
    assert read_all(harness, image.reference, image.layers[0]) == LAYERS[0]


def test_a_blob_stream_at_its_end_or_closed_early(registry: StubRegistry, harness: Harness) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    image = harness.client.resolve(ref_to(registry), "linux/amd64")
    layer = image.layers[1]
    assert read_all(harness, image.reference, layer, offset=layer.size) == b""
    with harness.client.open_blob(image.reference, layer) as stream:
        first = next(iter(stream))
    assert 0 < len(first) <= 1024 * 1024
    with pytest.raises(ValueError, match="outside blob"):
        harness.client.open_blob(image.reference, layer, layer.size + 1)
