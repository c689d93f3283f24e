"""Manifest and index parsing, validation, layer compression and platform selection."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest

from hybridock.errors import ManifestInvalid, PlatformNotFound
from hybridock.registry.manifest import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MANIFEST_TYPES,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    Index,
    Manifest,
    layer_compression,
    parse_document,
)
from hybridock.registry.platform import Platform, host_platform, parse_platform, select_manifest

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def manifest_doc(**override: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "digest": D1, "size": 10},
        "layers": [{"mediaType": GZIP_LAYER, "digest": D2, "size": 20}],
    }
    doc.update(override)
    return {k: v for k, v in doc.items() if v is not None}


def index_doc(**override: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": D1,
                "size": 5,
                "platform": {"os": "linux", "architecture": "amd64"},
            }
        ],
    }
    doc.update(override)
    return {k: v for k, v in doc.items() if v is not None}


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_docker_manifest() -> None:
    parsed = parse_document(encode(manifest_doc()), DOCKER_MANIFEST)
    assert isinstance(parsed, Manifest)
    assert parsed.media_type == DOCKER_MANIFEST
    assert parsed.config.digest == D1
    assert [(x.digest, x.size, x.compression) for x in parsed.layers] == [(D2, 20, "gzip")]


def test_oci_index_without_media_type_field() -> None:
    parsed = parse_document(encode(index_doc(mediaType=None)), "application/json")
    assert isinstance(parsed, Index)
    assert parsed.media_type == OCI_INDEX
    assert parsed.manifests[0].platform == Platform("linux", "amd64")


def test_docker_manifest_list_from_content_type_only() -> None:
    parsed = parse_document(encode(index_doc(mediaType=None)), DOCKER_MANIFEST_LIST)
    assert isinstance(parsed, Index)
    assert parsed.media_type == DOCKER_MANIFEST_LIST


class Bad(NamedTuple):
    name: str
    doc: bytes
    content_type: str | None
    message: str


BAD = [
    Bad("both shapes", encode(manifest_doc(manifests=[])), None, "type confusion"),
    Bad("manifest type on an index", encode(index_doc(mediaType=OCI_MANIFEST)), None,
        "type confusion"),
    Bad("index content type on a manifest", encode(manifest_doc()), OCI_INDEX, "type confusion"),
    Bad("index field on a manifest", encode(manifest_doc(mediaType=DOCKER_MANIFEST_LIST)),
        DOCKER_MANIFEST_LIST, "type confusion"),
    Bad("schema1 by content type", b"{}", SCHEMA1_SIGNED, "schema 1 is not supported"),
    Bad("schema1 by version", encode({"schemaVersion": 1, "fsLayers": []}), None,
        "schema 1 is not supported"),
    Bad("not json", b"{nope", None, "not valid JSON"),
    Bad("not an object", b"[]", None, "not a JSON object"),
    Bad("no schema version", encode(manifest_doc(schemaVersion=None)), None, "schemaVersion"),
    Bad("neither shape", encode({"schemaVersion": 2}), None, "neither a manifest nor an index"),
    Bad("unknown media type", encode(manifest_doc(mediaType="application/x-nope")), None,
        "unsupported manifest media type"),
    Bad("bad digest", encode(manifest_doc(config={"mediaType": DOCKER_CONFIG,
        "digest": "sha256:../../etc", "size": 1})), None, "invalid digest"),
    Bad("negative size", encode(manifest_doc(config={"mediaType": DOCKER_CONFIG, "digest": D1,
        "size": -1})), None, "invalid size"),
    Bad("boolean size", encode(manifest_doc(config={"mediaType": DOCKER_CONFIG, "digest": D1,
        "size": True})), None, "invalid size"),
    Bad("unknown layer type", encode(manifest_doc(layers=[{"mediaType": "application/x-tar-lz4",
        "digest": D2, "size": 1}])), None, "unsupported layer media type"),
    Bad("not an image", encode(manifest_doc(config={"mediaType":
        "application/vnd.cncf.helm.config.v1+json", "digest": D1, "size": 1})), None,
        "not a container image"),
    Bad("layers not a list", encode(manifest_doc(layers={})), None, "must be a list"),
    Bad("platform without arch", encode(index_doc(manifests=[{"mediaType": OCI_MANIFEST,
        "digest": D1, "size": 1, "platform": {"os": "linux"}}])), None, "architecture"),
    Bad("too big", b" " * (MAX_MANIFEST_BYTES + 1), None, "larger than"),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=[c.name for c in BAD])
def test_invalid_documents(case: Bad) -> None:
    with pytest.raises(ManifestInvalid, match=case.message):
        parse_document(case.doc, case.content_type)


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        ("application/vnd.oci.image.layer.v1.tar", "none"),
        ("application/vnd.oci.image.layer.v1.tar+gzip", "gzip"),
        ("application/vnd.oci.image.layer.v1.tar+zstd", "zstd"),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar", "none"),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "gzip"),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", "zstd"),
        ("application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"),
        ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"),
    ],
)
def test_layer_compression(media_type: str, compression: str) -> None:
    assert layer_compression(media_type) == compression


def test_unknown_layer_compression() -> None:
    with pytest.raises(ManifestInvalid):
        layer_compression("application/octet-stream")


# --- platforms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/x86_64", Platform("linux", "amd64")),
        ("linux/amd64/v1", Platform("linux", "amd64")),
        ("linux/arm64", Platform("linux", "arm64", "v8")),
        ("linux/aarch64", Platform("linux", "arm64", "v8")),
        ("linux/arm64/8", Platform("linux", "arm64", "v8")),
        ("linux/arm", Platform("linux", "arm", "v7")),
        ("linux/arm/6", Platform("linux", "arm", "v6")),
        ("linux/armhf", Platform("linux", "arm", "v7")),
        ("linux/armel", Platform("linux", "arm", "v6")),
        ("linux/i386", Platform("linux", "386")),
        ("Linux/AMD64", Platform("linux", "amd64")),
        ("riscv64", Platform("linux", "riscv64")),
    ],
)
def test_parse_platform(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize("text", ["", "linux/", "/amd64", "a/b/c/d"])
def test_parse_platform_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid platform"):
        parse_platform(text)


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("x86_64", "linux/amd64"),
        ("aarch64", "linux/arm64/v8"),
        ("armv7l", "linux/arm/v7"),
        ("armv6l", "linux/arm/v6"),
        ("i686", "linux/386"),
        ("ppc64le", "linux/ppc64le"),
        ("s390x", "linux/s390x"),
    ],
)
def test_host_platform(machine: str, expected: str) -> None:
    assert str(host_platform(machine)) == expected


def entry(digest: str, os_name: str, arch: str, variant: str | None = None) -> dict[str, Any]:
    platform = {"os": os_name, "architecture": arch}
    if variant:
        platform["variant"] = variant
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": 1, "platform": platform}


MULTI = parse_document(
    encode(
        index_doc(
            manifests=[
                entry(D1, "linux", "amd64"),
                entry(D2, "linux", "arm", "v6"),
                entry(D3, "linux", "arm64", "v8"),
                {**entry("sha256:" + "4" * 64, "unknown", "unknown"), "annotations": {}},
            ]
        )
    )
)


@pytest.mark.parametrize(
    ("wanted", "digest"),
    [
        ("linux/amd64", D1),
        ("linux/arm64", D3),
        ("linux/aarch64/v8", D3),
        ("linux/arm/v7", D2),  # arm/v7 runs v6 images
        ("linux/arm/v6", D2),
    ],
)
def test_select_manifest(wanted: str, digest: str) -> None:
    assert isinstance(MULTI, Index)
    chosen = select_manifest(MULTI.manifests, parse_platform(wanted), manifest_types=MANIFEST_TYPES)
    assert chosen.digest == digest


def test_select_manifest_lists_what_is_available() -> None:
    assert isinstance(MULTI, Index)
    with pytest.raises(PlatformNotFound) as raised:
        select_manifest(
            MULTI.manifests, parse_platform("linux/s390x"), manifest_types=MANIFEST_TYPES
        )
    assert str(raised.value) == (
        "no matching manifest for linux/s390x in the manifest list entries "
        "(available: linux/amd64, linux/arm/v6, linux/arm64/v8)"
    )


def test_arm64_host_falls_back_to_arm_images() -> None:
    only_arm = parse_document(encode(index_doc(manifests=[entry(D2, "linux", "arm", "v7")])))
    assert isinstance(only_arm, Index)
    chosen = select_manifest(
        only_arm.manifests, parse_platform("linux/arm64"), manifest_types=MANIFEST_TYPES
    )
    assert chosen.digest == D2
