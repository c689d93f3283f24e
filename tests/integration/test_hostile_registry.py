"""A hostile registry (issue 4), end to end through the CLI: documents that lie about their
type, an index and a manifest in one document, digest strings that are not ``sha256:<64 hex>``,
a huge manifest, and credentials that a token endpoint or a redirect tries to send elsewhere.

A real registry refuses to store most of these, so the registry here is a small HTTP server on
127.0.0.1 (tests/unit/registry_stub_server.py) that serves whatever bytes and headers a case
needs and records every request. Each failure ends as every failed pull must: one ``Error:``
line, exit 1, the store left empty; and no request is ever made with a digest that is not one.
Stalls (issue 10) come from the fault-injecting proxy (tests/support/proxy.py) in front of it.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from tests.integration.test_pull_failures import assert_store_empty
from tests.support.cli import CliResult, failed, ok, run_hybridock
from tests.support.proxy import CountingProxy, Fault
from tests.unit.registry_stub_server import (
    OCI_INDEX,
    OCI_MANIFEST,
    Reply,
    Seen,
    StubRegistry,
    digest_of,
    error_reply,
    other_host,
    stub,
)

__all__ = ["other_host", "stub"]  # fixtures shared with the registry client's unit tests

RunCli = Callable[..., CliResult]

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
LAYER = b"\0" * 1024  # an empty tar: two zero blocks
REPOSITORY = "hostile/image"


@pytest.fixture
def cli(
    make_hybridock_env: Callable[..., dict[str, str]],
) -> tuple[RunCli, dict[str, str]]:
    env = make_hybridock_env()

    def run(*args: str, **_: Any) -> CliResult:
        return run_hybridock(args, env=env, timeout=120)

    return run, env


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data), **extra}


def config_bytes() -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest_of(LAYER)]},
        }
    ).encode()


def manifest_document(media_type: str = OCI_MANIFEST) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(OCI_CONFIG, config_bytes()),
        "layers": [descriptor(OCI_LAYER, LAYER)],
    }


def index_document(manifest: bytes, media_type: str = OCI_INDEX) -> dict[str, Any]:
    platform = {"architecture": "amd64", "os": "linux"}
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [descriptor(OCI_MANIFEST, manifest, platform=platform)],
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def serve_image(stub: StubRegistry) -> bytes:
    """The blobs of the good image, and its manifest by digest; returns the manifest."""
    stub.add_blob(config_bytes())
    stub.add_blob(LAYER)
    manifest = encode(manifest_document())
    stub.add_manifest(REPOSITORY, None, manifest, OCI_MANIFEST)
    return manifest


def serve_tag(stub: StubRegistry, body: bytes, content_type: str, tag: str = "latest") -> None:
    stub.manifests[(REPOSITORY, tag)] = (body, content_type)


def reference(stub: StubRegistry, tag: str = "latest") -> str:
    return f"{stub.netloc}/{REPOSITORY}:{tag}"


def blob_gets(stub: StubRegistry) -> list[str]:
    return [p for p in stub.paths("GET") if "/blobs/" in p]


# --- documents that lie about what they are -----------------------------------------------------


@dataclass(frozen=True)
class Lie:
    name: str
    body: Callable[[bytes], bytes]  # from the good manifest's bytes
    content_type: str


def both(manifest: bytes) -> dict[str, Any]:
    document = manifest_document()
    document["manifests"] = index_document(manifest)["manifests"]
    return document


LIES = [
    Lie("manifest-served-as-an-oci-index", lambda m: m, OCI_INDEX),
    Lie("manifest-served-as-a-docker-list", lambda m: m, DOCKER_LIST),
    Lie("index-served-as-a-manifest", lambda m: encode(index_document(m)), OCI_MANIFEST),
    Lie(
        "index-whose-media-type-field-says-manifest",
        lambda m: encode(index_document(m, media_type=OCI_MANIFEST)),
        OCI_INDEX,
    ),
    Lie(
        "manifest-whose-media-type-field-says-index",
        lambda m: encode(manifest_document(media_type=OCI_INDEX)),
        OCI_MANIFEST,
    ),
    Lie("index-and-manifest-in-one-document-as-manifest", lambda m: encode(both(m)), OCI_MANIFEST),
    Lie("index-and-manifest-in-one-document-as-index", lambda m: encode(both(m)), OCI_INDEX),
]


@pytest.mark.parametrize("lie", LIES, ids=[lie.name for lie in LIES])
def test_a_document_that_lies_about_its_type_is_refused(
    lie: Lie,
    stub: StubRegistry,
    hybridock_root: Path,
    cli: tuple[RunCli, dict[str, str]],
) -> None:
    run, _ = cli
    serve_tag(stub, lie.body(serve_image(stub)), lie.content_type)

    message = failed(run("pull", reference(stub)))

    assert "type confusion" in message or "manifest" in message.lower(), message
    assert blob_gets(stub) == []  # refused before anything it names is fetched
    assert_store_empty(hybridock_root, run)


def test_the_same_image_served_honestly_pulls(
    stub: StubRegistry, hybridock_root: Path, cli: tuple[RunCli, dict[str, str]]
) -> None:
    """The control for the cases above and below: nothing but the lie makes them fail."""
    run, _ = cli
    manifest = serve_image(stub)
    serve_tag(stub, manifest, OCI_MANIFEST)

    ok(run("pull", reference(stub)))
    assert ok(run("images", "-q", "--no-trunc")).stdout == f"{digest_of(config_bytes())}\n"


# --- digest strings that are not digests ----------------------------------------------------------

BAD_DIGESTS = {
    "path-traversal": "sha256:../../../../etc/passwd",
    "traversal-after-hex": "sha256:" + "a" * 64 + "/../../x",
    "uppercase-hex": "sha256:" + "A" * 64,
    "short-hex": "sha256:" + "a" * 63,
    "long-hex": "sha256:" + "a" * 65,
    "other-algorithm": "md5:d41d8cd98f00b204e9800998ecf8427e",
    "url-query": "sha256:" + "a" * 64 + "?x=1",
    "url-encoded-slash": "sha256:..%2f..%2fetc",
    "empty": "",
}


def with_layer_digest(bad: str) -> bytes:
    document = manifest_document()
    document["layers"][0]["digest"] = bad
    return encode(document)


def with_config_digest(bad: str) -> bytes:
    document = manifest_document()
    document["config"]["digest"] = bad
    return encode(document)


def with_index_entry_digest(bad: str) -> bytes:
    document = index_document(encode(manifest_document()))
    document["manifests"][0]["digest"] = bad
    return encode(document)


WHERE = {
    "layer": (with_layer_digest, OCI_MANIFEST),
    "config": (with_config_digest, OCI_MANIFEST),
    "index-entry": (with_index_entry_digest, OCI_INDEX),
}


@pytest.mark.parametrize("where", list(WHERE))
@pytest.mark.parametrize("bad", list(BAD_DIGESTS.values()), ids=list(BAD_DIGESTS))
def test_a_digest_that_is_not_sha256_hex_is_never_used_in_a_request(
    where: str,
    bad: str,
    stub: StubRegistry,
    hybridock_root: Path,
    cli: tuple[RunCli, dict[str, str]],
) -> None:
    run, _ = cli
    serve_image(stub)
    make, content_type = WHERE[where]
    serve_tag(stub, make(bad), content_type)

    message = failed(run("pull", reference(stub)))

    assert "digest" in message, message
    requested = [unquote(path) for path in stub.paths()]
    if bad:
        assert not any(bad in p or quote(bad, safe="") in p for p in stub.paths()), requested
    assert not any(".." in p for p in requested), requested
    assert all(
        re.fullmatch(r"/v2/(.+/(manifests|blobs)/[^/]+)?", p.split("?")[0]) for p in requested
    ), requested
    if where != "layer":
        assert blob_gets(stub) == []  # the config and layers of a refused document: never
    assert_store_empty(hybridock_root, run)


# --- a huge manifest --------------------------------------------------------------------------


@pytest.mark.parametrize("size_mib", [5, 64])
def test_a_huge_manifest_is_refused_with_a_bounded_read(
    size_mib: int,
    stub: StubRegistry,
    hybridock_root: Path,
    cli: tuple[RunCli, dict[str, str]],
) -> None:
    run, _ = cli
    serve_image(stub)
    document = manifest_document()
    document["annotations"] = {"padding": "x" * (size_mib * 1024 * 1024)}
    serve_tag(stub, encode(document), OCI_MANIFEST)

    message = failed(run("pull", reference(stub)))

    assert "larger than" in message, message
    assert blob_gets(stub) == []
    assert_store_empty(hybridock_root, run)


class EndlessManifestHost:
    """A registry whose manifest has no length and never ends: the body streams until the
    client hangs up (at most ``cap`` bytes, so a broken client cannot hang the test)."""

    def __init__(self, cap: int = 512 * 1024 * 1024) -> None:
        self.cap = cap
        self.sent = 0
        self.closed = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.netloc = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            if self.closed:
                connection.close()
                return
            threading.Thread(target=self._answer_and_close, args=(connection,), daemon=True).start()

    def _answer_and_close(self, connection: socket.socket) -> None:
        with connection:
            self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = connection.recv(65536)
            if not chunk or chunk.startswith(b"\x16"):
                return  # closed, or a TLS hello (https is tried first): plain http only
            request += chunk
        if request.startswith(b"GET /v2/ ") or request.startswith(b"HEAD /v2/ "):
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
            )
            return
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {OCI_MANIFEST}\r\nConnection: close\r\n\r\n"
        piece = b"x" * 65536
        try:
            connection.sendall(head.encode() + b'{"schemaVersion": 2, "padding": "')
            while self.sent < self.cap:
                connection.sendall(piece)
                self.sent += len(piece)
        except OSError:
            return  # the client hung up: what the test wants

    def close(self) -> None:
        self.closed = True
        with socket.create_connection(("127.0.0.1", self.listener.getsockname()[1])):
            pass  # wakes the accept() that closing the listener would not
        self.thread.join(timeout=60)
        self.listener.close()


def test_a_manifest_without_length_that_never_ends_is_cut_at_the_bound(
    hybridock_root: Path, cli: tuple[RunCli, dict[str, str]]
) -> None:
    run, _ = cli
    host = EndlessManifestHost()
    try:
        message = failed(run("pull", f"{host.netloc}/{REPOSITORY}:latest"))
    finally:
        host.close()

    assert "larger than" in message, message
    # the client stopped reading near its 4 MiB bound (plus what socket buffers hold)
    assert host.sent < 64 * 1024 * 1024, host.sent
    assert_store_empty(hybridock_root, run)


# --- credentials and other hosts ----------------------------------------------------------------

USER, PASSWORD, TOKEN = "bob", "hunter2", "tok-123"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def save_credentials(env: dict[str, str], registry: str) -> None:
    config = Path(env["DOCKER_CONFIG"]) / "config.json"
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config.write_text(json.dumps({"auths": {registry: {"auth": auth}}}))


def bearer_protected(stub: StubRegistry, realm: str) -> None:
    def check(seen: Seen) -> Reply | None:
        if seen.headers.get("authorization") == f"Bearer {TOKEN}":
            return None
        scope = ""
        match = re.fullmatch(r"/v2/(.+)/(manifests|blobs)/.*", seen.path)
        if match:
            scope = f',scope="repository:{match.group(1)}:pull"'
        challenge = {"WWW-Authenticate": f'Bearer realm="{realm}",service="stub"{scope}'}
        return error_reply(401, "UNAUTHORIZED", "authentication required", challenge)

    stub.override("*", r"/v2/.*", check)


def issues_tokens(server: StubRegistry) -> None:
    def issue(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != BASIC:
            return Reply(401, {"Content-Type": "application/json"}, b'{"details": "no"}')
        body = json.dumps({"access_token": TOKEN, "expires_in": 300}).encode()
        return Reply(200, {"Content-Type": "application/json"}, body)

    server.override("*", r"/token", issue)


def redirects_to(server: StubRegistry, pattern: str, target: str) -> None:
    def redirect(seen: Seen) -> Reply:
        return Reply(307, {"Location": target + seen.path}, b"")

    server.override("*", pattern, redirect, first=True)


def localhost_url(server: StubRegistry) -> str:
    return f"http://localhost:{server.server.server_address[1]}"


def credentials_seen(server: StubRegistry) -> list[str]:
    return [s.path for s in server.requests if "authorization" in s.headers]


def test_credentials_go_only_to_the_realm_the_challenge_names(
    stub: StubRegistry,
    other_host: StubRegistry,
    hybridock_root: Path,
    cli: tuple[RunCli, dict[str, str]],
) -> None:
    """As docker: the registry's Bearer challenge names a token realm on another host, and the
    user's password (saved for the registry) goes there, and only there; the registry itself
    only ever sees the token."""
    run, env = cli
    serve_tag(stub, serve_image(stub), OCI_MANIFEST)
    bearer_protected(stub, localhost_url(other_host) + "/token")
    issues_tokens(other_host)
    save_credentials(env, stub.netloc)

    ok(run("pull", reference(stub)))

    assert credentials_seen(other_host), "the realm got the credentials"
    assert all(s.path.startswith("/token?") for s in other_host.requests)
    assert all(s.headers.get("authorization") == BASIC for s in other_host.requests)
    assert all(
        s.headers.get("authorization") in (None, f"Bearer {TOKEN}") for s in stub.requests
    ), "the registry never sees the password"


def test_a_token_endpoint_redirecting_to_another_host_does_not_carry_the_password(
    stub: StubRegistry,
    other_host: StubRegistry,
    hybridock_root: Path,
    cli: tuple[RunCli, dict[str, str]],
) -> None:
    """The realm the challenge names answers with a redirect to a third host: the password was
    for the realm, so it must not follow the redirect there (as Go's client, and so docker,
    drops Authorization on a redirect to another host)."""
    run, env = cli
    with StubRegistry() as third:
        issues_tokens(third)
        serve_tag(stub, serve_image(stub), OCI_MANIFEST)
        bearer_protected(stub, localhost_url(other_host) + "/token")
        redirects_to(other_host, r"/token", third.url)
        save_credentials(env, stub.netloc)

        result = run("pull", reference(stub))

        assert [s.path.split("?")[0] for s in third.requests] == ["/token"]  # it followed
        assert credentials_seen(third) == [], "the password followed the redirect"
    # the third host wants the password it never got: the pull fails as unauthorized
    message = failed(result)
    assert "unauthorized" in message, message
    assert_store_empty(hybridock_root, run)


def test_a_blob_redirect_to_another_host_does_not_carry_the_token(
    stub: StubRegistry,
    other_host: StubRegistry,
    hybridock_root: Path,
    cli: tuple[RunCli, dict[str, str]],
) -> None:
    run, env = cli
    with StubRegistry() as storage:
        serve_tag(stub, serve_image(stub), OCI_MANIFEST)
        storage.add_blob(LAYER)
        storage.add_blob(config_bytes())
        bearer_protected(stub, localhost_url(other_host) + "/token")
        issues_tokens(other_host)
        redirects_to(stub, r"/v2/.*/blobs/.*", localhost_url(storage))
        save_credentials(env, stub.netloc)

        ok(run("pull", reference(stub)))

        assert blob_gets(storage), "the blobs came from the storage host"
        assert credentials_seen(storage) == [], "a credential followed the redirect"


# --- stalls ---------------------------------------------------------------------------------------

READ_TIMEOUT = "1"  # seconds without a byte before a read gives up (30 by default)
STALLED = "read timed out (no data for 1 s)"


@pytest.fixture
def proxy(stub: StubRegistry) -> Iterator[CountingProxy]:
    """The stub behind the fault-injecting proxy; pulls go to ``127.0.0.1:<proxy port>``."""
    counting = CountingProxy(stub.server.server_address[1])
    try:
        yield counting
    finally:
        counting.close()


@pytest.fixture
def impatient_cli(
    make_hybridock_env: Callable[..., dict[str, str]],
) -> tuple[RunCli, dict[str, str]]:
    """The CLI with the registry read timeout shortened for the suite."""
    env = {**make_hybridock_env(), "HYBRIDOCK_REGISTRY_READ_TIMEOUT": READ_TIMEOUT}

    def run(*args: str, **_: Any) -> CliResult:
        return run_hybridock(args, env=env, timeout=120)

    return run, env


def through(proxy: CountingProxy) -> str:
    return f"127.0.0.1:{proxy.port}/{REPOSITORY}:latest"


@dataclass(frozen=True)
class Stall:
    name: str
    kind: str  # the proxy's request kind
    reference: Callable[[], str | None]
    stall_after: int  # body bytes sent before the stall
    message: str  # the start of the one-line error (then the reason)


STALLS = [
    Stall("layer-body", "blob_get", lambda: digest_of(LAYER), 0, "download of sha256:"),
    Stall("manifest-body", "manifest_get", lambda: "latest", 16, "reading manifest from "),
    Stall(
        "config-body",
        "blob_get",
        lambda: digest_of(config_bytes()),
        0,
        "reading image config from ",
    ),
    Stall("token-answer", "other", lambda: None, 0, "token server "),
]


@pytest.mark.parametrize("stall", STALLS, ids=[stall.name for stall in STALLS])
def test_a_transfer_that_stalls_fails_after_the_read_timeout(
    stall: Stall,
    stub: StubRegistry,
    proxy: CountingProxy,
    hybridock_root: Path,
    impatient_cli: tuple[RunCli, dict[str, str]],
) -> None:
    """Headers, maybe a few bytes, then silence on an open connection: without a bound on the
    time between bytes the pull hangs for minutes; with it, one line names the read timeout."""
    run, env = impatient_cli
    serve_tag(stub, serve_image(stub), OCI_MANIFEST)
    if stall.kind == "other":  # the token server is the stub itself, through the proxy
        bearer_protected(stub, f"http://127.0.0.1:{proxy.port}/token")
        issues_tokens(stub)
        save_credentials(env, f"127.0.0.1:{proxy.port}")
    proxy.inject(Fault(stall.kind, stall.reference(), stall_after=stall.stall_after, times=None))

    message = failed(run("pull", through(proxy)))

    assert message.startswith(f"Error: {stall.message}"), message
    assert message.endswith(STALLED), message
    assert_store_empty(hybridock_root, run)


def test_a_layer_that_stalls_once_resumes_and_the_pull_completes(
    stub: StubRegistry,
    proxy: CountingProxy,
    hybridock_root: Path,
    impatient_cli: tuple[RunCli, dict[str, str]],
) -> None:
    """A stall is treated as a reset: the layer is asked for again (with Range when bytes had
    arrived) and the pull goes on."""
    run, _ = impatient_cli
    serve_tag(stub, serve_image(stub), OCI_MANIFEST)
    stalled = proxy.inject(Fault("blob_get", digest_of(LAYER), stall_after=0, times=1))

    ok(run("pull", through(proxy)))

    assert stalled.hits == 1
    layer_gets = [r for r in proxy.requests if r.reference == digest_of(LAYER)]
    assert [r.kind for r in layer_gets] == ["blob_get", "blob_get"]
    assert ok(run("images", "-q", "--no-trunc")).stdout == f"{digest_of(config_bytes())}\n"
