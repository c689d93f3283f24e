"""Images built in code: config, manifest, multi-platform index, OCI layout, push.

``ImageSpec(layers=[Layer([...])], cmd=[...]).build("oci"|"docker")`` gives a ``BuiltImage``
whose bytes and digests are known before anything touches a registry, so tests can assert on
exactly what a client must fetch. ``push`` writes the image to an OCI image layout and copies it
with ``skopeo copy --preserve-digests`` (skopeo then refuses to recompress a layer or rewrite
a manifest, so what lands in the registry is byte-for-byte what was built) and checks the
digest skopeo reports. ``push_raw`` uploads blobs and a manifest over the registry API
directly, for content that skopeo would refuse to copy (manifests that lie, broken layers).
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.support.layers import Layer, LayerBlob, sha256_digest

ManifestFormat = Literal["oci", "docker"]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def as_json(self) -> dict[str, str]:
        value = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            value["variant"] = self.variant
        return value


def _canonical(value: Any) -> bytes:
    return json.dumps(value, indent=None, separators=(",", ":"), sort_keys=False).encode()


@dataclass(frozen=True)
class BuiltImage:
    """One image manifest with everything it references, as bytes."""

    manifest: bytes
    digest: str
    media_type: str
    config: bytes
    config_digest: str
    layers: tuple[LayerBlob, ...]
    platform: Platform

    @property
    def layer_digests(self) -> list[str]:
        return [layer.digest for layer in self.layers]

    @property
    def diff_ids(self) -> list[str]:
        return [layer.diff_id for layer in self.layers]

    def blobs(self) -> dict[str, bytes]:
        """Config and layer blobs by digest (not the manifest)."""
        found = {self.config_digest: self.config}
        found.update({layer.digest: layer.data for layer in self.layers})
        return found


@dataclass(frozen=True)
class BuiltIndex:
    """A multi-platform index (OCI) or manifest list (Docker) and its images."""

    manifest: bytes
    digest: str
    media_type: str
    images: tuple[BuiltImage, ...]

    def for_platform(self, platform: Platform) -> BuiltImage:
        for image in self.images:
            if image.platform == platform:
                return image
        raise LookupError(f"no image for {platform}")


Built = BuiltImage | BuiltIndex


@dataclass(frozen=True)
class ImageSpec:
    """What an image holds; ``build`` turns it into bytes and digests."""

    layers: Sequence[Layer | LayerBlob] = ()
    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    working_dir: str = ""
    user: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    platform: Platform = Platform()
    created: str = "2023-11-14T22:13:20Z"
    extra_config: Mapping[str, Any] = field(default_factory=dict)

    def config_json(self, diff_ids: Sequence[str]) -> dict[str, Any]:
        container: dict[str, Any] = {"Env": list(self.env)}
        if self.entrypoint is not None:
            container["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            container["Cmd"] = list(self.cmd)
        if self.working_dir:
            container["WorkingDir"] = self.working_dir
        if self.user:
            container["User"] = self.user
        if self.labels:
            container["Labels"] = dict(self.labels)
        container.update(self.extra_config)
        config: dict[str, Any] = {
            "created": self.created,
            **self.platform.as_json(),
            "config": container,
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
            "history": [{"created": self.created, "created_by": "hybridock tests"}] * len(diff_ids),
        }
        return config

    def build(self, manifest_format: ManifestFormat = "oci") -> BuiltImage:
        blobs = tuple(layer.build() if isinstance(layer, Layer) else layer for layer in self.layers)
        config = _canonical(self.config_json([blob.diff_id for blob in blobs]))
        config_digest = sha256_digest(config)
        oci = manifest_format == "oci"
        media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
        manifest = _canonical(
            {
                "schemaVersion": 2,
                "mediaType": media_type,
                "config": {
                    "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": blob.media_type(manifest_format),
                        "digest": blob.digest,
                        "size": blob.size,
                    }
                    for blob in blobs
                ],
            }
        )
        return BuiltImage(
            manifest,
            sha256_digest(manifest),
            media_type,
            config,
            config_digest,
            blobs,
            self.platform,
        )


def build_index(
    images: Sequence[BuiltImage], manifest_format: ManifestFormat = "oci"
) -> BuiltIndex:
    """An index over already-built images, each entry carrying the image's platform."""
    media_type = OCI_INDEX if manifest_format == "oci" else DOCKER_LIST
    manifest = _canonical(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                {
                    "mediaType": image.media_type,
                    "digest": image.digest,
                    "size": len(image.manifest),
                    "platform": image.platform.as_json(),
                }
                for image in images
            ],
        }
    )
    return BuiltIndex(manifest, sha256_digest(manifest), media_type, tuple(images))


def write_oci_layout(directory: Path, built: Built, tag: str = "latest") -> Path:
    """Write ``built`` as an OCI image layout whose index.json names it ``tag``."""
    blob_dir = directory / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)

    def put(digest: str, data: bytes) -> None:
        (blob_dir / digest.removeprefix("sha256:")).write_bytes(data)

    images = built.images if isinstance(built, BuiltIndex) else (built,)
    for image in images:
        for digest, data in image.blobs().items():
            put(digest, data)
        put(image.digest, image.manifest)
    put(built.digest, built.manifest)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": built.media_type,
                "digest": built.digest,
                "size": len(built.manifest),
                "annotations": {REF_NAME_ANNOTATION: tag},
            }
        ],
    }
    (directory / "index.json").write_bytes(_canonical(index))
    return directory


def write_dir_layout(directory: Path, built: Built) -> Path:
    """Write ``built`` in skopeo's ``dir:`` layout, which (unlike an OCI layout) carries Docker
    v2s2 manifests and manifest lists unchanged: ``manifest.json``, one file per blob named by
    its hex digest, ``<hex>.manifest.json`` for each image of a list."""
    directory.mkdir(parents=True, exist_ok=True)
    images = built.images if isinstance(built, BuiltIndex) else (built,)
    for image in images:
        for digest, data in image.blobs().items():
            (directory / digest.removeprefix("sha256:")).write_bytes(data)
        if isinstance(built, BuiltIndex):
            hexdigest = image.digest.removeprefix("sha256:")
            (directory / f"{hexdigest}.manifest.json").write_bytes(image.manifest)
    (directory / "manifest.json").write_bytes(built.manifest)
    (directory / "version").write_text("Directory Transport Version: 1.1\n")
    return directory


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"


@dataclass(frozen=True)
class PushedImage:
    """Where a built image landed, with everything tests assert on."""

    address: str  # host:port
    repository: str
    tag: str | None  # None: pushed by digest only, untagged
    built: Built

    @property
    def digest(self) -> str:
        return self.built.digest

    @property
    def reference(self) -> str:
        if self.tag is None:
            return self.digest_reference
        return f"{self.address}/{self.repository}:{self.tag}"

    @property
    def digest_reference(self) -> str:
        return f"{self.address}/{self.repository}@{self.digest}"

    @property
    def image(self) -> BuiltImage:
        """The single image, or for an index the first platform's image."""
        return self.built if isinstance(self.built, BuiltImage) else self.built.images[0]

    @property
    def layer_digests(self) -> list[str]:
        return self.image.layer_digests

    @property
    def diff_ids(self) -> list[str]:
        return self.image.diff_ids

    @property
    def config_digest(self) -> str:
        return self.image.config_digest


def skopeo_transport_flags(
    prefix: Literal["src", "dest", ""],
    *,
    tls_verify: bool,
    cert_dir: Path | None,
    credentials: Credentials | None,
) -> list[str]:
    """skopeo's flags for one side of a copy (``src``/``dest``) or for ``inspect`` (``""``):
    TLS verification, CA dir, credentials."""
    dash = f"--{prefix}-" if prefix else "--"
    flags = [f"{dash}tls-verify={'true' if tls_verify else 'false'}"]
    if cert_dir is not None:
        flags.append(f"{dash}cert-dir={cert_dir}")
    if credentials is not None:
        flags.append(f"{dash}creds={credentials.username}:{credentials.password}")
    else:
        flags.append(f"{dash}no-creds")
    return flags


def push(
    built: Built,
    address: str,
    repository: str,
    tag: str | None = "latest",
    *,
    tls_verify: bool = False,
    cert_dir: Path | None = None,
    credentials: Credentials | None = None,
) -> PushedImage:
    """Copy ``built`` into the registry at ``address`` with skopeo, digests preserved;
    ``tag=None`` pushes it by digest only (``repo@sha256:...``), leaving it untagged.

    OCI images go through an OCI image layout; Docker v2s2 ones through skopeo's ``dir:``
    layout, since skopeo's OCI layout reader only finds OCI media types.
    """
    with tempfile.TemporaryDirectory(prefix="hybridock-push-") as scratch:
        if built.media_type in {OCI_MANIFEST, OCI_INDEX}:
            name = tag or "untagged"
            source = f"oci:{write_oci_layout(Path(scratch) / 'layout', built, name)}:{name}"
        else:
            source = f"dir:{write_dir_layout(Path(scratch) / 'layout', built)}"
        digest_file = Path(scratch) / "digest"
        command = [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--retry-times=0",
            f"--digestfile={digest_file}",
            *skopeo_transport_flags(
                "dest", tls_verify=tls_verify, cert_dir=cert_dir, credentials=credentials
            ),
        ]
        if isinstance(built, BuiltIndex):
            command.append("--all")
        destination = f"{repository}:{tag}" if tag else f"{repository}@{built.digest}"
        command += [source, f"docker://{address}/{destination}"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"skopeo copy failed ({result.returncode}): {result.stderr}")
        pushed_digest = digest_file.read_text().strip()
    if pushed_digest != built.digest:
        raise RuntimeError(f"skopeo pushed {pushed_digest}, built {built.digest}")
    return PushedImage(address, repository, tag, built)


def _request(
    method: str,
    url: str,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[int, Mapping[str, str]]:
    request = urllib.request.Request(  # noqa: S310 - http(s) URLs of test registries only
        url, data=data, method=method, headers=dict(headers or {})
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=60) as response:  # noqa: S310
            response.read()
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        raise RuntimeError(f"{method} {url}: {error.code} {body}") from error


def push_raw(
    base_url: str,
    repository: str,
    reference: str,
    *,
    manifest: bytes,
    media_type: str,
    blobs: Mapping[str, bytes],
    context: ssl.SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Upload ``blobs`` (digest -> bytes) and then ``manifest``, byte for byte as given.

    ``reference`` is a tag or a digest. Meant for registries without token auth (plain or
    Basic: pass ``headers={"Authorization": ...}``). Returns the manifest's digest.
    """
    for digest, data in blobs.items():
        _status, answer = _request(
            "POST",
            f"{base_url}/v2/{repository}/blobs/uploads/",
            data=b"",
            headers=headers,
            context=context,
        )
        location = answer["Location"]
        if location.startswith("/"):
            location = base_url + location
        separator = "&" if "?" in location else "?"
        _request(
            "PUT",
            f"{location}{separator}digest={digest}",
            data=data,
            headers={**(headers or {}), "Content-Type": "application/octet-stream"},
            context=context,
        )
    _request(
        "PUT",
        f"{base_url}/v2/{repository}/manifests/{reference}",
        data=manifest,
        headers={**(headers or {}), "Content-Type": media_type},
        context=context,
    )
    return sha256_digest(manifest)


def skopeo_available() -> bool:
    return shutil.which("skopeo") is not None


def skopeo_inspect(reference: str) -> dict[str, object]:
    """The raw manifest skopeo reads at ``reference`` (a plain-http test registry)."""
    result = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{reference}"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(result.stdout))


def skopeo_digest(reference: str, credentials: tuple[str, str] | None = None) -> str:
    """The manifest digest skopeo reports for ``reference`` (a plain-http test registry, as
    ``credentials`` (user, password) when given)."""
    creds = ["--creds", ":".join(credentials)] if credentials else []
    result = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--tls-verify=false",
            *creds,
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
