"""The registry v2 client: references resolve to verified manifests, configs and blob streams."""

from __future__ import annotations

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
