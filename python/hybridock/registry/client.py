"""The registry v2 client: resolve a reference to a verified manifest and config, stream blobs.

Endpoints: for a registry with configured mirrors (docker.io usually), the mirrors are tried
first with the same repository path as upstream (``library/busybox``), then the registry
itself; a mirror that cannot be reached, does not know the manifest (404) or fails otherwise
is skipped, and once an endpoint served the manifest, the config and blobs come from it too.
When a mirror answered definitively (not found, access denied) and the registry then cannot be
reached, the mirror's answer is the error.

Verification: a manifest fetched by digest must hash to that digest; a manifest fetched by tag
must hash to Docker-Content-Digest when the registry sends it; a child manifest of an index and
the config blob must hash to (and be as long as) their descriptors. The digest of the document a
tag points to (an index or a manifest) is what docker shows as RepoDigest.
"""

from __future__ import annotations

import json
import threading
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from hybridock.config import Config, load_config
from hybridock.errors import (
    AuthenticationError,
    DigestMismatch,
    ManifestInvalid,
    ManifestUnknown,
    PlatformNotFound,
    RegistryError,
    RegistryUnreachable,
)
from hybridock.reference import Reference, is_digest
from hybridock.registry.blob import BlobStream
from hybridock.registry.connection import Response
from hybridock.registry.credentials import Credentials
from hybridock.registry.manifest import (
    ACCEPT,
    MANIFEST_TYPES,
    MAX_CONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    Descriptor,
    Index,
    Manifest,
    parse_document,
)
from hybridock.registry.platform import Platform, host_platform, parse_platform, select_manifest
from hybridock.registry.session import Endpoint, RegistrySession
from hybridock.registry.transport import RetryPolicy
from hybridock.registry.upload import RepositoryUpload

_T = TypeVar("_T")
# A mirror's answer that stands when the registry itself cannot be reached: as docker and
# containerd, the user hears "not found" or "access denied" rather than the fallback's failure.
_DEFINITIVE = (ManifestUnknown, AuthenticationError)


@dataclass(frozen=True)
class ResolvedImage:
    reference: Reference
    digest: str  # of the document the tag points to (RepoDigest)
    media_type: str  # of that document
    manifest: Manifest
    manifest_bytes: bytes
    manifest_digest: str
    config: Mapping[str, Any]
    config_bytes: bytes
    platform: Platform | None  # of the chosen index entry; None when there was no index
    index: Index | None
    index_bytes: bytes | None
    source: str  # base URL that served everything (a mirror or the registry)

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers

    @property
    def diff_ids(self) -> tuple[str, ...]:
        """The config's ``rootfs.diff_ids`` (validated: one per layer), or () if it has none."""
        rootfs = self.config.get("rootfs")
        values = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
        return tuple(values) if isinstance(values, list) else ()

    @property
    def repo_digest(self) -> str:
        return f"{self.reference.name}@{self.digest}"


def sha256_digest(data: bytes) -> str:
    import hashlib  # noqa: PLC0415 - a pull of a cached image (one HEAD) hashes nothing

    return "sha256:" + hashlib.sha256(data).hexdigest()


def _pull_scope(ref: Reference) -> str:
    return f"repository:{ref.repository}:pull"


class RegistryClient:
    """A thread-safe registry client; one per process is enough."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        credentials: Mapping[str, Credentials] | None = None,
    ) -> None:
        """``credentials``: by registry, used instead of the saved ones (docker's
        X-Registry-Auth: a client's credentials for one pull)."""
        self.config = config if config is not None else load_config()
        self._session = RegistrySession(
            self.config, retry=retry, sleep=sleep, clock=clock, credentials=credentials
        )
        self._lock = threading.Lock()
        self._sources: dict[tuple[str, str], Endpoint] = {}

    def close(self) -> None:
        """Close pooled connections (the client stays usable; new ones are opened on demand)."""
        self._session.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- endpoints -----------------------------------------------------------------------

    def _endpoints(self, ref: Reference) -> list[Endpoint]:
        endpoints = []
        for url in self.config.mirrors_for(ref.domain):
            parts = urlsplit(url)
            endpoints.append(Endpoint(parts.netloc.lower(), parts.scheme, mirror=True))
        endpoints.append(Endpoint(ref.registry_host.lower()))
        return endpoints

    # --- manifests -----------------------------------------------------------------------

    def _fetch_manifest(
        self, endpoint: Endpoint, ref: Reference, identifier: str
    ) -> tuple[bytes, str | None, str]:
        response = self._session.request(
            endpoint,
            "GET",
            f"/v2/{ref.repository}/manifests/{identifier}",
            scope=_pull_scope(ref),
            headers={"Accept": ACCEPT},
        )
        self._session.raise_for_status(response, ref, "manifest")
        content_type = response.headers.get("Content-Type")
        header_digest = response.headers.get("Docker-Content-Digest")
        data = self._session.read_bounded(response, MAX_MANIFEST_BYTES, "manifest", endpoint.netloc)
        actual = sha256_digest(data)
        if is_digest(identifier) and actual != identifier:
            raise DigestMismatch(
                f"manifest for {ref.familiar_name}@{identifier} from {endpoint.netloc} has "
                f"digest {actual}"
            )
        if header_digest and header_digest.startswith("sha256:") and header_digest != actual:
            raise DigestMismatch(
                f"manifest for {ref.familiar} from {endpoint.netloc} has digest {actual}, "
                f"not {header_digest} as the registry claims"
            )
        return data, content_type, actual

    def _first_endpoint(
        self, ref: Reference, action: Callable[[Endpoint], _T]
    ) -> tuple[Endpoint, _T]:
        endpoints = self._endpoints(ref)
        mirror_answer: RegistryError | None = None
        for position, endpoint in enumerate(endpoints):
            try:
                return endpoint, action(endpoint)
            except RegistryError as error:
                if isinstance(error, ManifestInvalid):
                    raise
                if position < len(endpoints) - 1:
                    if endpoint.mirror and isinstance(error, _DEFINITIVE):
                        mirror_answer = mirror_answer or error
                    continue
                if mirror_answer is not None and isinstance(error, RegistryUnreachable):
                    raise mirror_answer from None
                raise
        raise AssertionError("unreachable: the last endpoint returns or raises")

    def resolve(
        self, ref: Reference | str, platform: Platform | str | None = None
    ) -> ResolvedImage:
        """Fetch and verify the manifest (through an index for ``platform``) and the config."""
        ref = Reference.parse(ref) if isinstance(ref, str) else ref
        wanted = parse_platform(platform) if isinstance(platform, str) else platform
        wanted = wanted or host_platform()
        endpoint, (top_bytes, top_type, top_digest) = self._first_endpoint(
            ref, lambda e: self._fetch_manifest(e, ref, ref.identifier)
        )
        with self._lock:
            self._sources[(ref.domain, ref.repository)] = endpoint
        document = parse_document(top_bytes, top_type)
        index: Index | None = None
        chosen: Platform | None = None
        manifest_bytes, manifest_digest = top_bytes, top_digest
        if isinstance(document, Index):
            index = document
            entry = select_manifest(index.manifests, wanted, manifest_types=MANIFEST_TYPES)
            chosen = entry.platform
            manifest_bytes, content_type, manifest_digest = self._fetch_manifest(
                endpoint, ref, entry.digest
            )
            if len(manifest_bytes) != entry.size:
                raise ManifestInvalid(
                    f"manifest {entry.digest} is {len(manifest_bytes)} bytes, the index says "
                    f"{entry.size}"
                )
            child = parse_document(manifest_bytes, content_type or entry.media_type)
            if not isinstance(child, Manifest):
                raise ManifestInvalid(f"type confusion: index entry {entry.digest} is an index")
            document = child
        config_bytes = self._fetch_config(endpoint, ref, document.config)
        config = _parse_config(config_bytes, document)
        if index is None and platform is not None:
            _check_single_platform(ref, config, wanted)
        return ResolvedImage(
            reference=ref,
            digest=top_digest,
            media_type=(index.media_type if index is not None else document.media_type),
            manifest=document,
            manifest_bytes=manifest_bytes,
            manifest_digest=manifest_digest,
            config=types.MappingProxyType(config),
            config_bytes=config_bytes,
            platform=chosen,
            index=index,
            index_bytes=top_bytes if index is not None else None,
            source=self._session.base_url(endpoint),
        )

    def head_digest(self, ref: Reference | str) -> str | None:
        """The digest a tag points to now (HEAD, else GET and hash); None if it is unknown."""
        ref = Reference.parse(ref) if isinstance(ref, str) else ref

        def head(endpoint: Endpoint) -> str:
            response = self._session.request(
                endpoint,
                "HEAD",
                f"/v2/{ref.repository}/manifests/{ref.identifier}",
                scope=_pull_scope(ref),
                headers={"Accept": ACCEPT},
            )
            if response.status == 200:
                response.release_conn()
                header = response.headers.get("Docker-Content-Digest", "")
                if is_digest(header):
                    return header
                return self._fetch_manifest(endpoint, ref, ref.identifier)[2]
            self._session.raise_for_status(response, ref, "manifest")
            raise AssertionError("unreachable")

        try:
            return self._first_endpoint(ref, head)[1]
        except ManifestUnknown:
            return None

    # --- blobs ---------------------------------------------------------------------------

    def _fetch_config(self, endpoint: Endpoint, ref: Reference, descriptor: Descriptor) -> bytes:
        if descriptor.size > MAX_CONFIG_BYTES:
            raise ManifestInvalid(f"image config is larger than {MAX_CONFIG_BYTES} bytes")
        response = self._session.request(
            endpoint,
            "GET",
            f"/v2/{ref.repository}/blobs/{descriptor.digest}",
            scope=_pull_scope(ref),
        )
        self._session.raise_for_status(response, ref, "image config")
        data = self._session.read_bounded(
            response, MAX_CONFIG_BYTES, "image config", endpoint.netloc
        )
        actual = sha256_digest(data)
        if actual != descriptor.digest or len(data) != descriptor.size:
            raise DigestMismatch(
                f"image config {descriptor.digest} from {endpoint.netloc} has digest {actual} "
                f"and {len(data)} bytes (expected {descriptor.size})"
            )
        return data

    def open_blob(
        self, ref: Reference | str, descriptor: Descriptor, offset: int = 0
    ) -> BlobStream:
        """Stream a blob from ``offset`` (1 MiB chunks), from the endpoint that served the
        manifest. The caller verifies the digest."""
        ref = Reference.parse(ref) if isinstance(ref, str) else ref
        with self._lock:
            endpoint = self._sources.get((ref.domain, ref.repository))
        endpoint = endpoint or self._endpoints(ref)[-1]
        path = f"/v2/{ref.repository}/blobs/{descriptor.digest}"

        def opener(position: int) -> Response:
            headers = {"Range": f"bytes={position}-"} if position else {}
            response = self._session.request(
                endpoint, "GET", path, scope=_pull_scope(ref), headers=headers
            )
            self._session.raise_for_status(response, ref, f"blob {descriptor.digest}")
            return response

        return BlobStream(opener, descriptor, offset, endpoint.netloc)

    # --- push ----------------------------------------------------------------------------

    def repository_upload(
        self, ref: Reference | str, *, cancelled: Callable[[], bool] = lambda: False
    ) -> RepositoryUpload:
        """Blob uploads and manifest PUTs into ``ref``'s repository (on the registry itself,
        never a mirror), with this client's connections and credentials."""
        ref = Reference.parse(ref) if isinstance(ref, str) else ref
        return RepositoryUpload(self._session, ref, cancelled=cancelled)

    # --- login ---------------------------------------------------------------------------

    def login(self, registry: str, username: str, password: str) -> None:
        """Check the credentials against the registry, then save them in the auth file."""
        self._session.login(registry, username, password)

    def logout(self, registry: str) -> bool:
        """Forget saved credentials; True when there were some."""
        return self._session.logout(registry)


def _check_single_platform(ref: Reference, config: Mapping[str, Any], wanted: Platform) -> None:
    """A tag without an index must still be the platform that was asked for explicitly."""
    os_name, arch = config.get("os"), config.get("architecture")
    if not isinstance(os_name, str) or not isinstance(arch, str):
        return
    variant = config.get("variant") if isinstance(config.get("variant"), str) else None
    actual = Platform(os_name, arch, variant)
    if not any(candidate.matches(actual) for candidate in wanted.compatible()):
        raise PlatformNotFound(
            f"image with reference {ref.familiar} was found but does not match the specified "
            f"platform: wanted {wanted.normalized()}, actual: {actual.normalized()}"
        )


def _parse_config(data: bytes, manifest: Manifest) -> Mapping[str, Any]:
    try:
        config = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise ManifestInvalid("image config is not valid JSON") from None
    if not isinstance(config, dict):
        raise ManifestInvalid("image config is not a JSON object")
    rootfs = config.get("rootfs")
    if isinstance(rootfs, dict) and isinstance(rootfs.get("diff_ids"), list):
        if len(rootfs["diff_ids"]) != len(manifest.layers):
            raise ManifestInvalid(
                f"image config lists {len(rootfs['diff_ids'])} diff_ids for "
                f"{len(manifest.layers)} layers"
            )
        for diff_id in rootfs["diff_ids"]:
            if not is_digest(diff_id):
                raise ManifestInvalid(f"image config has an invalid diff_id {diff_id!r}")
    return config
