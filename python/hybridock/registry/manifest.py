"""Manifests and indexes: the four media types, parsed into immutable records and validated.

A document is accepted only when its Content-Type, its ``mediaType`` field and its shape agree
on what it is (a manifest has ``config``/``layers``, an index has ``manifests``); anything else
is "type confusion" and refused, so an index can never be treated as a manifest or the other way
round. Every digest is validated before it can reach a URL. Schema 1 is refused.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from typing import Any, NamedTuple

from hybridock.errors import InvalidReference, ManifestInvalid
from hybridock.reference import validate_digest
from hybridock.registry.platform import Platform

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
# What a pull asks for, in order of preference.
ACCEPT = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
IMAGE_CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 8 * 1024 * 1024

NO_ANNOTATIONS: Mapping[str, str] = types.MappingProxyType({})
LAYER_COMPRESSION: Mapping[str, str] = types.MappingProxyType(
    {
        "application/vnd.oci.image.layer.v1.tar": "none",
        "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
        "application/vnd.docker.image.rootfs.diff.tar": "none",
        "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
        "application/vnd.docker.image.rootfs.diff.tar.zstd": "zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar": "none",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
    }
)


def layer_compression(media_type: str) -> str:
    """``"gzip"``, ``"zstd"`` or ``"none"`` for a layer media type; ManifestInvalid otherwise."""
    try:
        return LAYER_COMPRESSION[media_type]
    except KeyError:
        raise ManifestInvalid(f"unsupported layer media type {media_type!r}") from None


class Descriptor(NamedTuple):
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = NO_ANNOTATIONS

    @property
    def compression(self) -> str:
        return layer_compression(self.media_type)


class Manifest(NamedTuple):
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = NO_ANNOTATIONS


class Index(NamedTuple):
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = NO_ANNOTATIONS


def _kind(media_type: str) -> str | None:
    if media_type in MANIFEST_TYPES:
        return "manifest"
    if media_type in INDEX_TYPES:
        return "index"
    if media_type in SCHEMA1_TYPES:
        return "schema1"
    return None


def _schema1_error() -> ManifestInvalid:
    return ManifestInvalid(
        "Docker Image manifest version 2, schema 1 is not supported: "
        "the image must be pushed again with a current client"
    )


def _string_map(value: Any, what: str) -> Mapping[str, str]:
    if value is None:
        return types.MappingProxyType({})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestInvalid(f"{what} must map strings to strings")
    return types.MappingProxyType(dict(value))


def _platform(value: Any) -> Platform | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ManifestInvalid("descriptor platform must be an object")
    os_name, arch = value.get("os"), value.get("architecture")
    variant = value.get("variant")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        raise ManifestInvalid("descriptor platform needs 'os' and 'architecture' strings")
    if variant is not None and not isinstance(variant, str):
        raise ManifestInvalid("descriptor platform 'variant' must be a string")
    os_version = value.get("os.version")
    return Platform(
        os_name, arch, variant or None, os_version if isinstance(os_version, str) else None
    )


def parse_descriptor(value: Any, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{what} must be an object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{what} has no mediaType")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{what} has no digest")
    try:
        validate_digest(digest)
    except InvalidReference:
        raise ManifestInvalid(f"{what} has an invalid digest {digest!r}") from None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ManifestInvalid(f"{what} has an invalid size {size!r}")
    urls = value.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ManifestInvalid(f"{what} 'urls' must be a list of strings")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        platform=_platform(value.get("platform")),
        urls=tuple(urls),
        annotations=_string_map(value.get("annotations"), f"{what} annotations"),
    )


def _base_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _load_json(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ManifestInvalid(f"manifest is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("manifest is not a JSON object")
    return document


def _document_type(document: dict[str, Any], header_type: str | None) -> tuple[str, str]:
    """(shape, media type) of a document, refusing schema 1 and type confusion."""
    field_type = document.get("mediaType")
    if field_type is not None and not isinstance(field_type, str):
        raise ManifestInvalid("manifest 'mediaType' must be a string")
    if document.get("schemaVersion") == 1 or field_type in SCHEMA1_TYPES:
        raise _schema1_error()
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid(f"unsupported schemaVersion {document.get('schemaVersion')!r}")
    has_index_shape = "manifests" in document
    has_manifest_shape = "layers" in document or "config" in document
    if has_index_shape and has_manifest_shape:
        raise ManifestInvalid("type confusion: document has both 'manifests' and 'layers'/'config'")
    if not has_index_shape and not has_manifest_shape:
        raise ManifestInvalid("document is neither a manifest nor an index")
    shape = "index" if has_index_shape else "manifest"
    if field_type is not None and _kind(field_type) is None:
        raise ManifestInvalid(f"unsupported manifest media type {field_type!r}")
    for claimed, source in ((field_type, "mediaType field"), (header_type, "Content-Type")):
        kind = _kind(claimed) if claimed else None
        if kind is not None and kind != shape:
            raise ManifestInvalid(
                f"type confusion: {source} says {claimed} but the document is an {shape}"
            )
    if field_type:
        return shape, field_type
    if header_type and _kind(header_type) == shape:
        return shape, header_type
    return shape, OCI_INDEX if shape == "index" else OCI_MANIFEST


def parse_document(data: bytes, content_type: str | None = None) -> Manifest | Index:
    """Parse a manifest or index, checking Content-Type, ``mediaType`` and shape agree."""
    header_type = _base_content_type(content_type)
    if header_type in SCHEMA1_TYPES:
        raise _schema1_error()
    document = _load_json(data)
    shape, media_type = _document_type(document, header_type)
    annotations = _string_map(document.get("annotations"), "manifest annotations")
    if shape == "index":
        entries = document["manifests"]
        if not isinstance(entries, list):
            raise ManifestInvalid("index 'manifests' must be a list")
        manifests = tuple(parse_descriptor(e, f"index entry {i}") for i, e in enumerate(entries))
        return Index(media_type=media_type, manifests=manifests, annotations=annotations)

    config = parse_descriptor(document.get("config"), "manifest config")
    raw_layers = document.get("layers")
    if not isinstance(raw_layers, list):
        raise ManifestInvalid("manifest 'layers' must be a list")
    layers = tuple(parse_descriptor(layer, f"layer {i}") for i, layer in enumerate(raw_layers))
    manifest = Manifest(
        media_type=media_type, config=config, layers=layers, annotations=annotations
    )
    check_image_config_type(manifest)
    for layer in layers:
        layer_compression(layer.media_type)
    return manifest


def check_image_config_type(manifest: Manifest) -> None:
    """Refuse artifacts (helm charts, signatures) that are not container images."""
    if manifest.config.media_type not in IMAGE_CONFIG_TYPES:
        raise ManifestInvalid(
            f"not a container image: config media type is {manifest.config.media_type!r}"
        )
