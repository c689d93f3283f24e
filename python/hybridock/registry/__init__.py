"""The registry v2 client: references resolve to verified manifests, configs and blob streams."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hybridock.lazy import exported

if TYPE_CHECKING:
    from hybridock.registry.auth import Authenticator, Challenge, parse_www_authenticate
    from hybridock.registry.blob import CHUNK_SIZE, BlobStream
    from hybridock.registry.client import RegistryClient, ResolvedImage, sha256_digest
    from hybridock.registry.credentials import (
        Credentials,
        erase_credentials,
        lookup_credentials,
        server_key,
        store_credentials,
    )
    from hybridock.registry.manifest import (
        ACCEPT,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
        INDEX_TYPES,
        MANIFEST_TYPES,
        MAX_CONFIG_BYTES,
        MAX_MANIFEST_BYTES,
        OCI_INDEX,
        OCI_MANIFEST,
        Descriptor,
        Index,
        Manifest,
        layer_compression,
        parse_document,
    )
    from hybridock.registry.platform import Platform, host_platform, parse_platform, select_manifest
    from hybridock.registry.session import Endpoint, RegistrySession
    from hybridock.registry.transport import RetryPolicy, TLSFailure, Transport

#: each name's module, imported when the name is first used: a command that needs one manifest
#: constant does not pay for the HTTP client's imports
_MODULES = {
    name: f"{__name__}.{module}"
    for name, module in {
        "ACCEPT": "manifest",
        "Authenticator": "auth",
        "BlobStream": "blob",
        "CHUNK_SIZE": "blob",
        "Challenge": "auth",
        "Credentials": "credentials",
        "DOCKER_MANIFEST": "manifest",
        "DOCKER_MANIFEST_LIST": "manifest",
        "Descriptor": "manifest",
        "Endpoint": "session",
        "INDEX_TYPES": "manifest",
        "Index": "manifest",
        "MANIFEST_TYPES": "manifest",
        "MAX_CONFIG_BYTES": "manifest",
        "MAX_MANIFEST_BYTES": "manifest",
        "Manifest": "manifest",
        "OCI_INDEX": "manifest",
        "OCI_MANIFEST": "manifest",
        "Platform": "platform",
        "RegistryClient": "client",
        "RegistrySession": "session",
        "ResolvedImage": "client",
        "RetryPolicy": "transport",
        "TLSFailure": "transport",
        "Transport": "transport",
        "erase_credentials": "credentials",
        "host_platform": "platform",
        "layer_compression": "manifest",
        "lookup_credentials": "credentials",
        "parse_document": "manifest",
        "parse_platform": "platform",
        "parse_www_authenticate": "auth",
        "select_manifest": "platform",
        "server_key": "credentials",
        "sha256_digest": "client",
        "store_credentials": "credentials",
    }.items()
}


def __getattr__(name: str) -> Any:
    return exported(globals(), _MODULES, name)


__all__ = [
    "ACCEPT",
    "CHUNK_SIZE",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_TYPES",
    "MANIFEST_TYPES",
    "MAX_CONFIG_BYTES",
    "MAX_MANIFEST_BYTES",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Authenticator",
    "BlobStream",
    "Challenge",
    "Credentials",
    "Descriptor",
    "Endpoint",
    "Index",
    "Manifest",
    "Platform",
    "RegistryClient",
    "RegistrySession",
    "ResolvedImage",
    "RetryPolicy",
    "TLSFailure",
    "Transport",
    "erase_credentials",
    "host_platform",
    "layer_compression",
    "lookup_credentials",
    "parse_document",
    "parse_platform",
    "parse_www_authenticate",
    "select_manifest",
    "server_key",
    "sha256_digest",
    "store_credentials",
]
