"""The client's transport against misbehaving servers: retries, stalls, resets, redirects, TLS."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hybridock.errors import (
    RegistryError,
    RegistryUnreachable,
)
from hybridock.reference import Reference
from tests.unit.registry_harness import (
    LAYERS,
    Harness,
    basic_protected,
    build_image,
    fail_first,
    read_all,
    ref_to,
)
from tests.unit.registry_stub_server import (
    Reply,
    StubRegistry,
    digest_of,
    error_reply,
    self_signed_certificate,
    server_tls_context,
)

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
    with pytest.raises(RegistryUnreachable, match=f"127.0.0.1:{port}: connection refused"):
        harness.client.resolve(Reference.parse(f"127.0.0.1:{port}/x:1"))


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


# --- permanent failures fail at once (docker and containerd do not retry the ping) -----------


def _resolver_failing_with(code: int) -> Callable[..., object]:
    def getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        raise socket.gaierror(
            code,
            {socket.EAI_NONAME: "Name or service not known"}.get(
                code, "Temporary failure in name resolution"
            ),
        )

    return getaddrinfo


@pytest.mark.parametrize(
    ("name", "code", "retries"),
    [
        ("unknown name: at once", socket.EAI_NONAME, 0),
        ("resolver temporarily down: retried", socket.EAI_AGAIN, 2),
    ],
)
def test_name_resolution_failures(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, name: str, code: int, retries: int
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _resolver_failing_with(code))
    with pytest.raises(RegistryUnreachable, match=r"cannot reach registry registry\.example:"):
        harness.client.resolve(Reference.parse("registry.example/x:1"))
    assert len(harness.sleeps) == retries, name


def test_a_reserved_invalid_name_fails_without_retries(harness: Harness) -> None:
    """``.invalid`` never resolves (RFC 6761); whether the resolver answers NXDOMAIN or is
    unreachable, the error names the host, and an unknown name is not retried."""
    with pytest.raises(RegistryUnreachable, match=r"nonexistent\.invalid") as failure:
        harness.client.resolve(Reference.parse("nonexistent.invalid/x:1"))
    if "not known" in str(failure.value):
        assert harness.sleeps == []


def test_a_refused_connection_is_retried_only_at_a_host_that_answered(
    harness: Harness,
) -> None:
    with StubRegistry() as server:
        build_image(server, "library/busybox", "latest", LAYERS)
        harness.client.resolve(ref_to(server), "linux/amd64")
        netloc = server.netloc
    harness.client.close()  # no kept-alive connection to a serving thread either
    assert harness.sleeps == []
    # the registry stopped: it answered before, so it may be restarting
    with pytest.raises(RegistryUnreachable, match=f"{netloc}: connection refused"):
        harness.client.head_digest(Reference.parse(f"{netloc}/library/busybox:latest"))
    assert len(harness.sleeps) == 2
    # a host that never answered: nothing listens there
    harness.sleeps.clear()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RegistryUnreachable, match="connection refused"):
        harness.client.resolve(Reference.parse(f"127.0.0.1:{port}/x:1"))
    assert harness.sleeps == []
