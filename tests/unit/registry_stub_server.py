"""A tiny in-process registry for client tests: http.server on 127.0.0.1 in a thread.

It serves what a real registry serves (``/v2/``, manifests by tag and digest, blobs with Range)
and, through ``override``, the misbehaviour a real registry cannot be made to show on demand:
429 with Retry-After, 5xx, a reset connection, a stall, redirects, lying digests.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import re
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    action: str = ""  # "reset": send a TCP RST; "stall": wait until the server stops
    partial: int | None = None  # send only this many body bytes, then close


Handler = Callable[[Seen], Reply | None]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class StubRegistry:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[Seen] = []
        self.overrides: list[tuple[str, re.Pattern[str], Handler]] = []
        self.release = threading.Event()
        registry = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                try:
                    self._answer()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up early; that is the test

            def _answer(self) -> None:
                seen = Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}
                )
                registry.requests.append(seen)
                reply = registry.dispatch(seen)
                if reply.action == "reset":
                    self._reset()
                    return
                if reply.action == "stall":
                    registry.release.wait(30)
                    self._reset()
                    return
                self.send_response(reply.status)
                headers = {"Content-Length": str(len(reply.body)), **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    if reply.partial is not None:
                        self.wfile.write(reply.body[: reply.partial])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_WR)
                        return
                    self.wfile.write(reply.body)

            def _reset(self) -> None:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

            do_GET = do_HEAD = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> StubRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    # --- content ---------------------------------------------------------------------------

    def add_blob(self, data: bytes) -> str:
        digest = digest_of(data)
        self.blobs[digest] = data
        return digest

    def add_manifest(self, repo: str, tag: str | None, data: bytes, media_type: str) -> str:
        digest = digest_of(data)
        self.manifests[(repo, digest)] = (data, media_type)
        if tag is not None:
            self.manifests[(repo, tag)] = (data, media_type)
        return digest

    def override(self, method: str, pattern: str, handler: Handler, *, first: bool = False) -> None:
        """Answer matching requests with ``handler`` (None from it: fall through)."""
        entry = (method, re.compile(pattern), handler)
        if first:
            self.overrides.insert(0, entry)
        else:
            self.overrides.append(entry)

    def paths(self, method: str | None = None) -> list[str]:
        return [s.path for s in self.requests if method is None or s.method == method]

    # --- dispatch --------------------------------------------------------------------------

    def dispatch(self, seen: Seen) -> Reply:
        path = urlsplit(seen.path).path
        for method, pattern, handler in self.overrides:
            if method in {seen.method, "*"} and pattern.fullmatch(path):
                reply = handler(seen)
                if reply is not None:
                    return reply
        if path == "/v2/":
            return Reply(200, {"Content-Type": "application/json"}, b"{}")
        match = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path)
        if match:
            return self._manifest(match.group(1), match.group(2))
        match = re.fullmatch(r"/v2/(.+)/blobs/(sha256:[0-9a-f]{64})", path)
        if match:
            blob = self.blobs.get(match.group(2))
            if blob is None:
                return error_reply(404, "BLOB_UNKNOWN", "blob unknown to registry")
            return range_reply(blob, seen.headers.get("range"))
        return error_reply(404, "NOT_FOUND", "not found")

    def _manifest(self, repo: str, reference: str) -> Reply:
        found = self.manifests.get((repo, reference))
        if found is None:
            return error_reply(404, "MANIFEST_UNKNOWN", "manifest unknown")
        data, media_type = found
        headers = {"Content-Type": media_type, "Docker-Content-Digest": digest_of(data)}
        return Reply(200, headers, data)


def error_reply(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    return Reply(status, {"Content-Type": "application/json", **(headers or {})}, body)


def range_reply(blob: bytes, range_header: str | None) -> Reply:
    headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest_of(blob)}
    if range_header:
        start = int(range_header.removeprefix("bytes=").split("-", 1)[0])
        headers["Content-Range"] = f"bytes {start}-{len(blob) - 1}/{len(blob)}"
        return Reply(206, headers, blob[start:])
    return Reply(200, headers, blob)


def counter() -> Iterator[int]:
    number = 0
    while True:
        yield number
        number += 1


# --- TLS -----------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, acting as its own CA; (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hybridock test registry")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "registry.crt", directory / "registry.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.fixture
def stub() -> Iterator[StubRegistry]:
    """A stub registry for one test (tests/unit calls it ``registry``)."""
    with StubRegistry() as server:
        yield server


@pytest.fixture
def other_host() -> Iterator[StubRegistry]:
    """A second server, addressed as localhost:PORT so it is a host other than 127.0.0.1."""
    with StubRegistry() as server:
        yield server
