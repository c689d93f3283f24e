"""Shared pieces of the registry client tests: a configured client, images built in code,
and registry behaviours (Basic, Bearer with a token server) installed on a StubRegistry."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from hybridock.config import Config
from hybridock.reference import Reference
from hybridock.registry import Descriptor, RegistryClient, RetryPolicy
from tests.unit.registry_stub_server import (
    OCI_INDEX,
    OCI_MANIFEST,
    Handler,
    Reply,
    Seen,
    StubRegistry,
    counter,
    digest_of,
    error_reply,
)

LAYERS = [b"layer one" * 100, b"layer two" * 50_000]


class Harness:
    def __init__(self, tmp_path: Path, **config: object) -> None:
        self.auth_file = tmp_path / "docker" / "config.json"
        self.sleeps: list[float] = []
        self.now = 1000.0
        self.config = Config(auth_file=self.auth_file, **config)  # type: ignore[arg-type]
        self.client = RegistryClient(
            self.config,
            retry=RetryPolicy(attempts=3, backoff_base=0.01, connect_timeout=2, read_timeout=0.5),
            sleep=self.sleeps.append,
            clock=lambda: self.now,
        )

    def save_auth(self, registry: str, username: str, password: str) -> None:
        self.auth_file.parent.mkdir(parents=True, exist_ok=True)
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.auth_file.write_text(json.dumps({"auths": {registry: {"auth": token}}}))


def ref_to(registry: StubRegistry, rest: str = "library/busybox:latest") -> Reference:
    return Reference.parse(f"{registry.netloc}/{rest}")


def read_all(harness: Harness, ref: Reference, layer: Descriptor, offset: int = 0) -> bytes:
    with harness.client.open_blob(ref, layer, offset) as stream:
        return b"".join(stream)


def fail_first(times: int, reply: Reply) -> Handler:
    numbers = counter()

    def handler(seen: Seen) -> Reply | None:
        return reply if next(numbers) < times else None

    return handler


def basic_protected(registry: StubRegistry, user: str, password: str) -> None:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def check(seen: Seen) -> Reply | None:
        if seen.headers.get("authorization") == expected:
            return None
        challenge = {"WWW-Authenticate": 'Basic realm="stub"'}
        return error_reply(401, "UNAUTHORIZED", "authentication required", challenge)

    registry.override("*", r"/v2/.*", check)


def token_server(server: StubRegistry, user: str, password: str, token: str) -> None:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def issue(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != expected:
            return Reply(
                401,
                {"Content-Type": "application/json"},
                b'{"details": "incorrect username or password"}',
            )
        return Reply(
            200,
            {"Content-Type": "application/json"},
            json.dumps({"access_token": token, "expires_in": 300}).encode(),
        )

    server.override("*", r"/token", issue)


def bearer_protected(registry: StubRegistry, realm: str, token: str) -> None:
    def check(seen: Seen) -> Reply | None:
        if seen.headers.get("authorization") == f"Bearer {token}":
            return None
        scope = ""
        match = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/.*", seen.path)
        if match:
            scope = f',scope="repository:{match.group(1)}:pull"'
        challenge = {"WWW-Authenticate": f'Bearer realm="{realm}",service="stub"{scope}'}
        return error_reply(401, "UNAUTHORIZED", "authentication required", challenge)

    registry.override("*", r"/v2/.*", check)


# --- building images in code -----------------------------------------------------------------


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def build_image(
    registry: StubRegistry, repo: str, tag: str | None, layers: list[bytes], *, arch: str = "amd64"
) -> tuple[bytes, bytes]:
    """Store an OCI image (uncompressed layers); returns (manifest bytes, config bytes)."""
    diff_ids = [digest_of(layer) for layer in layers]
    config = json.dumps(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    registry.add_blob(config)
    for layer in layers:
        registry.add_blob(layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", x) for x in layers],
        }
    ).encode()
    registry.add_manifest(repo, tag, manifest, OCI_MANIFEST)
    return manifest, config


def build_index(
    registry: StubRegistry, repo: str, tag: str, entries: list[tuple[bytes, dict[str, str]]]
) -> bytes:
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                descriptor(OCI_MANIFEST, manifest, platform=platform)
                for manifest, platform in entries
            ],
        }
    ).encode()
    registry.add_manifest(repo, tag, index, OCI_INDEX)
    return index
