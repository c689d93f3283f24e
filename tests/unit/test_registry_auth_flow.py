"""Authentication flows of the client: Bearer tokens from a token server, Basic, login."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from hybridock.errors import (
    AuthenticationError,
)
from tests.unit.registry_harness import (
    LAYERS,
    Harness,
    basic_protected,
    bearer_protected,
    build_image,
    ref_to,
    token_server,
)
from tests.unit.registry_stub_server import (
    Reply,
    StubRegistry,
    digest_of,
    error_reply,
)


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
