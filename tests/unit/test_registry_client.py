"""RegistryClient against an in-process HTTP registry on 127.0.0.1 (see registry_stub_server).

These cover what Debian's real docker-registry cannot be made to do on demand; the integration
suite runs the same client against the real one.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_stub_server import (
    OCI_INDEX,
    OCI_MANIFEST,
    Handler,
    Reply,
    Seen,
    StubRegistry,
    build_image,
    build_index,
    counter,
    descriptor,
    digest_of,
    error_reply,
    self_signed_certificate,
    server_tls_context,
)

from hybridock.config import Config
from hybridock.errors import (
    AuthenticationError,
    DigestMismatch,
    ManifestInvalid,
    ManifestUnknown,
    PlatformNotFound,
    RegistryError,
    RegistryUnreachable,
)
from hybridock.reference import Reference
from hybridock.registry import Descriptor, Platform, RegistryClient, RetryPolicy

LAYERS = [b"layer one" * 100, b"layer two" * 50_000]


@pytest.fixture
def registry() -> Iterator[StubRegistry]:
    with StubRegistry() as server:
        yield server


@pytest.fixture
def other_host() -> Iterator[StubRegistry]:
    """A second server, addressed as localhost:PORT so it is a different host."""
    with StubRegistry() as server:
        yield server


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


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


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


# --- retries and failures ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reply", "expected_sleep"),
    [
        (
            "429 with Retry-After",
            error_reply(429, "TOOMANYREQUESTS", "slow down", {"Retry-After": "7"}),
            7.0,
        ),
        ("500 then success", error_reply(500, "UNKNOWN", "boom"), None),
        ("503 then success", Reply(503, {}, b"busy"), None),
        ("connection reset", Reply(action="reset"), None),
    ],
)
def test_transient_failures_are_retried(
    registry: StubRegistry,
    harness: Harness,
    name: str,
    reply: Reply,
    expected_sleep: float | None,
) -> None:
    manifest, _ = build_image(registry, "library/busybox", "latest", LAYERS)
    registry.override("GET", r"/v2/.*/manifests/latest", fail_first(1, reply))
    assert harness.client.resolve(ref_to(registry), "linux/amd64").digest == digest_of(manifest)
    assert len(harness.sleeps) == 1, name
    if expected_sleep is not None:
        assert harness.sleeps == [expected_sleep]


def test_retries_are_bounded(registry: StubRegistry, harness: Harness) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    registry.override("GET", r"/v2/.*/manifests/latest", lambda seen: Reply(500, {}, b"down"))
    with pytest.raises(RegistryError, match="HTTP 500"):
        harness.client.resolve(ref_to(registry), "linux/amd64")
    assert registry.paths("GET").count("/v2/library/busybox/manifests/latest") == 3


def test_a_stalled_response_is_an_error_not_a_hang(
    registry: StubRegistry, harness: Harness
) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    registry.override("GET", r"/v2/.*/manifests/latest", lambda seen: Reply(action="stall"))
    with pytest.raises(RegistryUnreachable, match=f"{registry.netloc}.*timed out"):
        harness.client.resolve(ref_to(registry), "linux/amd64")


def test_an_unreachable_host_is_named(harness: Harness) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RegistryUnreachable, match=f"127.0.0.1:{port}"):
        harness.client.resolve(Reference.parse(f"127.0.0.1:{port}/x:1"))


def test_unknown_manifest(registry: StubRegistry, harness: Harness) -> None:
    with pytest.raises(
        ManifestUnknown, match=r"manifest for .*busybox:nope not found: manifest unknown"
    ):
        harness.client.resolve(ref_to(registry, "library/busybox:nope"))


def test_a_server_ignoring_range_is_skipped_forward(
    registry: StubRegistry, harness: Harness
) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    image = harness.client.resolve(ref_to(registry), "linux/amd64")
    blob = LAYERS[1]
    registry.override("GET", r"/v2/.*/blobs/.*", lambda seen: Reply(200, {}, blob), first=True)
    assert read_all(harness, image.reference, image.layers[1], offset=12345) == blob[12345:]


def test_a_blob_longer_than_declared_is_an_error(registry: StubRegistry, harness: Harness) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    image = harness.client.resolve(ref_to(registry), "linux/amd64")
    longer = LAYERS[0] + b"extra"
    registry.override("GET", r"/v2/.*/blobs/.*", lambda seen: Reply(200, {}, longer), first=True)
    with pytest.raises(RegistryError, match="larger than its declared"):
        read_all(harness, image.reference, image.layers[0])


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


# --- redirects and authentication -------------------------------------------------------------


def basic_protected(registry: StubRegistry, user: str, password: str) -> None:
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def check(seen: Seen) -> Reply | None:
        if seen.headers.get("authorization") == expected:
            return None
        challenge = {"WWW-Authenticate": 'Basic realm="stub"'}
        return error_reply(401, "UNAUTHORIZED", "authentication required", challenge)

    registry.override("*", r"/v2/.*", check)


def test_a_redirect_to_another_host_drops_authorization(
    registry: StubRegistry, other_host: StubRegistry, harness: Harness
) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    basic_protected(registry, "alice", "secret")
    harness.save_auth(registry.netloc, "alice", "secret")
    layer_digest = digest_of(LAYERS[1])
    other_host.add_blob(LAYERS[1])
    storage = f"http://localhost:{other_host.server.server_address[1]}/v2/x/blobs/{layer_digest}"
    registry.override(
        "GET",
        rf"/v2/.*/blobs/{layer_digest}",
        lambda seen: Reply(307, {"Location": storage}) if "authorization" in seen.headers else None,
        first=True,
    )
    image = harness.client.resolve(ref_to(registry), "linux/amd64")
    assert read_all(harness, image.reference, image.layers[1]) == LAYERS[1]
    assert other_host.requests, "the blob storage host was never asked"
    assert all("authorization" not in seen.headers for seen in other_host.requests)
    assert any("authorization" in seen.headers for seen in registry.requests)


def test_too_many_redirects(registry: StubRegistry, harness: Harness) -> None:
    registry.override(
        "GET", r"/v2/.*/manifests/loop", lambda seen: Reply(302, {"Location": seen.path})
    )
    with pytest.raises(RegistryError, match="too many redirects"):
        harness.client.resolve(ref_to(registry, "library/busybox:loop"))


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


def test_bearer_token_from_a_realm_on_another_host(
    registry: StubRegistry, other_host: StubRegistry, harness: Harness
) -> None:
    manifest, _ = build_image(registry, "library/busybox", "latest", LAYERS)
    realm = f"http://localhost:{other_host.server.server_address[1]}/token"
    token_server(other_host, "bob", "hunter2", "tok-123")
    bearer_protected(registry, realm, "tok-123")
    harness.save_auth(registry.netloc, "bob", "hunter2")
    image = harness.client.resolve(ref_to(registry), "linux/amd64")
    assert image.digest == digest_of(manifest)
    assert len(other_host.requests) == 1, "the token is cached for its scope"
    token_request = other_host.requests[0]
    assert "scope=repository%3Alibrary%2Fbusybox%3Apull" in token_request.path
    assert "service=stub" in token_request.path
    assert token_request.headers["authorization"].startswith("Basic ")


def test_tokens_are_cached_until_they_expire(
    registry: StubRegistry, other_host: StubRegistry, harness: Harness
) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    realm = f"http://localhost:{other_host.server.server_address[1]}/token"
    token_server(other_host, "bob", "hunter2", "tok-123")
    bearer_protected(registry, realm, "tok-123")
    harness.save_auth(registry.netloc, "bob", "hunter2")
    harness.client.resolve(ref_to(registry), "linux/amd64")
    harness.now += 299
    harness.client.head_digest(ref_to(registry))
    assert len(other_host.requests) == 1
    harness.now += 2
    harness.client.head_digest(ref_to(registry))
    assert len(other_host.requests) == 2, "an expired token is fetched again"


def test_a_token_the_registry_rejects_is_refreshed_once(
    registry: StubRegistry, other_host: StubRegistry, harness: Harness
) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    realm = f"http://localhost:{other_host.server.server_address[1]}/token"
    token_server(other_host, "bob", "hunter2", "tok-123")
    bearer_protected(registry, realm, "tok-123")
    harness.save_auth(registry.netloc, "bob", "hunter2")
    harness.client.resolve(ref_to(registry), "linux/amd64")
    other_host.overrides.clear()
    token_server(other_host, "bob", "hunter2", "tok-456")
    registry.overrides.clear()
    bearer_protected(registry, realm, "tok-456")
    assert harness.client.head_digest(ref_to(registry)) is not None
    assert len(other_host.requests) == 2


def test_identity_token_uses_the_oauth_refresh_grant(
    registry: StubRegistry, other_host: StubRegistry, harness: Harness
) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    realm = f"http://localhost:{other_host.server.server_address[1]}/token"
    other_host.override(
        "POST",
        r"/token",
        lambda seen: Reply(200, {}, json.dumps({"access_token": "oauth-tok"}).encode()),
    )
    bearer_protected(registry, realm, "oauth-tok")
    harness.auth_file.parent.mkdir(parents=True)
    harness.auth_file.write_text(
        json.dumps({"auths": {registry.netloc: {"auth": "", "identitytoken": "refresh-me"}}})
    )
    harness.client.resolve(ref_to(registry), "linux/amd64")
    assert [seen.method for seen in other_host.requests] == ["POST"]


def test_forbidden_is_pull_access_denied(registry: StubRegistry, harness: Harness) -> None:
    registry.override(
        "GET", r"/v2/.*/manifests/.*", lambda seen: error_reply(403, "DENIED", "go away")
    )
    with pytest.raises(
        AuthenticationError, match=r"^pull access denied for .*busybox, .*: denied: go away$"
    ):
        harness.client.resolve(ref_to(registry))


def test_wrong_credentials_fail_with_one_line(
    registry: StubRegistry, other_host: StubRegistry, harness: Harness
) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    realm = f"http://localhost:{other_host.server.server_address[1]}/token"
    token_server(other_host, "bob", "hunter2", "tok-123")
    bearer_protected(registry, realm, "tok-123")
    harness.save_auth(registry.netloc, "bob", "wrong")
    with pytest.raises(
        AuthenticationError, match=r"^unauthorized: incorrect username or password$"
    ):
        harness.client.resolve(ref_to(registry), "linux/amd64")


def test_basic_auth_without_credentials(registry: StubRegistry, harness: Harness) -> None:
    build_image(registry, "library/busybox", "latest", LAYERS)
    basic_protected(registry, "alice", "secret")
    with pytest.raises(AuthenticationError, match="unauthorized: authentication required"):
        harness.client.resolve(ref_to(registry), "linux/amd64")


def test_login_and_logout(registry: StubRegistry, harness: Harness) -> None:
    basic_protected(registry, "alice", "secret")
    with pytest.raises(AuthenticationError):
        harness.client.login(registry.netloc, "alice", "nope")
    assert not harness.auth_file.exists()
    harness.client.login(registry.netloc, "alice", "secret")
    assert stat.S_IMODE(harness.auth_file.stat().st_mode) == 0o600
    saved = json.loads(harness.auth_file.read_text())
    assert base64.b64decode(saved["auths"][registry.netloc]["auth"]) == b"alice:secret"
    assert harness.client.logout(registry.netloc) is True
    assert json.loads(harness.auth_file.read_text())["auths"] == {}
    assert harness.client.logout(registry.netloc) is False


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


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[StubRegistry, Path]]:
    cert, key = self_signed_certificate(tmp_path)
    with StubRegistry(tls=server_tls_context(cert, key)) as server:
        build_image(server, "library/busybox", "latest", LAYERS)
        yield server, cert


@pytest.mark.parametrize("trust", ["ca file", "insecure"])
def test_https_with_a_configured_ca_or_marked_insecure(
    tls_registry: tuple[StubRegistry, Path], tmp_path: Path, trust: str
) -> None:
    server, cert = tls_registry
    if trust == "ca file":
        harness = Harness(tmp_path, ca_files={server.netloc: str(cert)})
    else:
        harness = Harness(tmp_path, insecure_registries=frozenset({server.netloc}))
    image = harness.client.resolve(ref_to(server), "linux/amd64")
    assert image.source == f"https://{server.netloc}"
    assert read_all(harness, image.reference, image.layers[1]) == LAYERS[1]


def test_https_with_an_unknown_ca_is_refused(
    tls_registry: tuple[StubRegistry, Path], harness: Harness
) -> None:
    server, _ = tls_registry
    with pytest.raises(RegistryUnreachable, match=server.netloc):
        harness.client.resolve(ref_to(server), "linux/amd64")
    assert server.requests == [], "nothing was sent without a verified TLS session"
