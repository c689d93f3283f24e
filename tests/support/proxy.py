"""A counting, fault-injecting reverse proxy in front of a test registry.

Every request is recorded *before* it is forwarded, so once a client has its answer the
record is already there: counts are exact with no waiting and no log parsing. Faults make
the registry misbehave on demand for one kind of request: answer with a status (500, 429 with
Retry-After, ...), cut a body short and drop the connection (for Range resume), stall a body
after its headers (send nothing more, keep the connection open), or serve other bytes than the
registry holds. The proxy speaks TLS when the registry does, with the same
certificate, and passes the client's Host header through, so the registry's Location headers
point back at the proxy.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

_BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<ref>sha256:[0-9a-f]{64})$")
_UPLOAD = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<ref>.*)$")
_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_TAGS = re.compile(r"^/v2/(?P<name>.+)/tags/list$")


def classify(method: str, path: str) -> tuple[str, str | None, str | None]:
    """``(kind, repository, reference)`` of a registry API request, e.g. ``blob_get``."""
    verb = method.lower()
    if path in {"/v2", "/v2/"}:
        return "ping", None, None
    if path == "/v2/_catalog":
        return "catalog", None, None
    if match := _UPLOAD.match(path):
        return "blob_upload", match["name"], match["ref"] or None
    if match := _BLOB.match(path):
        return f"blob_{verb}", match["name"], match["ref"]
    if match := _MANIFEST.match(path):
        return f"manifest_{verb}", match["name"], match["ref"]
    if match := _TAGS.match(path):
        return "tags", match["name"], None
    return "other", None, None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    kind: str
    repository: str | None
    reference: str | None
    status: int | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Fault:
    """Misbehaviour for requests of ``kind`` (and, if given, ``reference``/``repository``).

    Exactly one effect: ``status`` (answer this code with ``headers``, never forwarding),
    ``redirect`` (answer 307 to this base URL plus the request's path and query, as registries
    that keep blobs on another host do), ``truncate_after`` (forward, send the headers and this
    many body bytes, drop the connection), ``stall_after`` (forward, send the headers and this
    many body bytes, then nothing more until the client hangs up) or ``body`` (forward, but
    send these bytes as the body). ``times`` is how many matching requests it hits (None: all
    of them).
    """

    kind: str
    reference: str | None = None
    repository: str | None = None
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    truncate_after: int | None = None
    stall_after: int | None = None
    body: bytes | None = None
    redirect: str | None = None
    times: int | None = 1
    hits: int = 0

    def matches(self, record: RecordedRequest) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if record.kind != self.kind:
            return False
        if self.reference is not None and record.reference != self.reference:
            return False
        return self.repository is None or record.repository == self.repository


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, proxy: CountingProxy, port: int) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = self.socket.accept()
        if self.proxy.server_context is not None:
            # Handshake lazily in the handler's thread: a slow client must not block accept().
            connection = self.proxy.server_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        self.proxy.track(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        self.proxy.untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client resets and TLS errors are part of the tests; never print them."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the proxy's records are the log."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in {b"\r\n", b"\n", b""}:
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        proxy = self.server.proxy
        path, _, query = self.path.partition("?")
        kind, repository, reference = classify(self.command, path)
        record = RecordedRequest(
            self.command, path, query, dict(self.headers.items()), kind, repository, reference
        )
        fault = proxy.record(record)
        body = self._read_body()
        if fault is not None and fault.redirect is not None:
            record.status = 307
            location = fault.redirect.rstrip("/") + self.path
            self._send_simple(307, b"", {"Location": location, **fault.headers})
            return
        if fault is not None and fault.status is not None:
            record.status = fault.status
            self._send_fault(fault)
            return
        try:
            response, connection = proxy.forward(self.command, self.path, self.headers, body)
        except OSError:
            record.status = 502
            self._send_simple(502, b'{"errors":[{"code":"UNAVAILABLE","message":"backend down"}]}')
            return
        try:
            record.status = response.status
            self._relay(response, fault)
        finally:
            connection.close()

    def _send_simple(self, status: int, payload: bytes, headers: Mapping[str, str] = {}) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_fault(self, fault: Fault) -> None:
        message = {"errors": [{"code": "UNKNOWN", "message": "fault injected by the test proxy"}]}
        self._send_simple(fault.status or 500, json.dumps(message).encode(), fault.headers)

    def _relay(self, response: http.client.HTTPResponse, fault: Fault | None) -> None:
        self.send_response(response.status, response.reason)
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        no_body = self.command == "HEAD" or response.status in {204, 304}
        if fault is not None and fault.body is not None and not no_body:
            payload = fault.body
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(payload))))
        elif response.length is None and not no_body:
            payload = response.read()
            headers.append(("Content-Length", str(len(payload))))
        else:
            payload = None
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if no_body:
            return
        if fault is not None and fault.stall_after is not None:
            if payload is None:
                payload = response.read(fault.stall_after)
            self.wfile.write(payload[: fault.stall_after])
            self._wait_for_hangup()
            return
        if payload is not None:
            self.wfile.write(payload)
            return
        remaining = fault.truncate_after if fault is not None else None
        while chunk := response.read(65536):
            if remaining is not None:
                chunk = chunk[:remaining]
                remaining -= len(chunk)
            self.wfile.write(chunk)
            if remaining == 0:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return

    def _wait_for_hangup(self) -> None:
        """Send nothing more, until the client closes the connection (or the proxy stops)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            while self.connection.recv(65536):
                pass

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class CountingProxy:
    """Listens on 127.0.0.1 (a fixed port, or a free one) and forwards to ``backend_port``."""

    def __init__(
        self,
        backend_port: int,
        *,
        server_context: ssl.SSLContext | None = None,
        client_context: ssl.SSLContext | None = None,
        port: int = 0,
    ) -> None:
        self.backend_port = backend_port
        self.server_context = server_context
        self.client_context = client_context
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._connections: set[Any] = set()
        self._server = _Server(self, port)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # --- bookkeeping, called from handler threads ---

    def track(self, connection: Any) -> None:
        with self._lock:
            self._connections.add(connection)

    def untrack(self, connection: Any) -> None:
        with self._lock:
            self._connections.discard(connection)

    def record(self, record: RecordedRequest) -> Fault | None:
        with self._lock:
            self._requests.append(record)
            for fault in self._faults:
                if fault.matches(record):
                    fault.hits += 1
                    return fault
        return None

    def forward(
        self, method: str, target: str, headers: Any, body: bytes
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        connection: http.client.HTTPConnection
        if self.client_context is not None:
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.backend_port, context=self.client_context, timeout=60
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.backend_port, timeout=60)
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                connection.putheader(name, value)
        if body or method in {"POST", "PUT", "PATCH"}:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        return connection.getresponse(), connection

    # --- the test's side ---

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join()
