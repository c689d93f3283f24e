"""One HTTP/1.1 connection of the Engine API service, and the request a route sees.

A connection is served by one thread with its own ``hybridock.Client`` (a client is not shared
across threads: it holds a SQLite connection). Requests on it are read one after another
(keep-alive, as the docker CLI and docker-py pool them); a route answers exactly once: a JSON
document, an empty body, a chunked stream flushed as it goes (pull progress, events, logs), or
the raw connection itself (attach and exec: a ``101 UPGRADED`` hijack, as docker's).

Bounds: a request line and its headers as http.server bounds them (64 KiB a line, 100
headers), a JSON body 1 MiB, and a client that sends nothing for ``IDLE_TIMEOUT`` seconds (a
half-sent request, an idle keep-alive) is disconnected; a hijacked connection has no timeout.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, BinaryIO

from hybridock.errors import HybridockError

if TYPE_CHECKING:
    from email.message import Message

    from hybridock.client import Client

#: seconds a client may leave a request half-sent, or a kept-alive connection idle
IDLE_TIMEOUT = 60.0
#: the largest JSON body a route reads (a create request is a few KiB)
JSON_BODY_LIMIT = 1 << 20
#: what a route may leave unread of a body and still keep the connection (else it is closed)
DRAIN_LIMIT = 1 << 20


class ApiError(HybridockError):
    """An answer other than the one a route would give: docker's status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Stream:
    """A chunked body written as it is produced; each write is flushed to the client."""

    def __init__(self, output: BinaryIO) -> None:
        self._output = output
        self.closed = False

    def write(self, data: bytes) -> None:
        if data:
            self._output.write(b"%x\r\n%s\r\n" % (len(data), data))
            self._output.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._output.write(b"0\r\n\r\n")
            self._output.flush()


class _Body:
    """The request's body as a reader: Content-Length bytes, or chunks until the last one."""

    def __init__(self, source: BinaryIO, length: int | None, *, chunked: bool) -> None:
        self._source = source
        self._left = length or 0
        self._chunked = chunked
        self._chunk_left = 0
        self.done = not chunked and not self._left

    def read(self, size: int = -1) -> bytes:
        parts = []
        while not self.done and size != 0:
            part = self._read_some(size if size > 0 else 1 << 16)
            if not part:
                break
            parts.append(part)
            if size > 0:
                size -= len(part)
        return b"".join(parts)

    def _read_some(self, size: int) -> bytes:
        if not self._chunked:
            data = self._source.read(min(size, self._left))
            if not data:
                raise ApiError(400, "unexpected EOF in the request body")
            self._left -= len(data)
            self.done = not self._left
            return data
        if not self._chunk_left:
            line = self._source.readline(1024)
            try:
                self._chunk_left = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ApiError(400, "bad chunked encoding in the request body") from None
            if not self._chunk_left:
                while self._source.readline(1024).strip():  # trailers
                    pass
                self.done = True
                return b""
        data = self._source.read(min(size, self._chunk_left))
        if not data:
            raise ApiError(400, "unexpected EOF in the request body")
        self._chunk_left -= len(data)
        if not self._chunk_left:
            self._source.readline(1024)  # the CRLF after a chunk
        return data

    def drain(self, limit: int) -> bool:
        """Reads what is left, up to ``limit`` bytes: whether the body is now whole."""
        while not self.done and limit > 0:
            data = self.read(min(limit, 1 << 16))
            if not data:
                break
            limit -= len(data)
        return self.done


def _boolean(name: str, text: str) -> bool:
    if text in ("1", "true", "True", "TRUE"):
        return True
    if text in ("", "0", "false", "False", "FALSE"):
        return False
    raise ApiError(400, f"invalid boolean value for {name}: {text!r}")


class Request:
    """What a route reads (method, path, version, params, query, headers, body) and how it
    answers (``send_json``, ``send_empty``, ``stream_json``, ``stream_bytes``,
    ``start_stream``, ``hijack``): see /work's api contract in docs/ARCHITECTURE.md."""

    def __init__(
        self,
        connection: Connection,
        path: str,
        version: tuple[int, int],
        params: Mapping[str, str],
        query: Mapping[str, list[str]],
    ) -> None:
        self._connection = connection
        self.method = connection.command
        self.path = path
        self.version = version
        self.params = dict(params)
        self.query = dict(query)
        self.headers: Message = connection.headers
        self.answered = False
        self._body: _Body | None = None
        self._gone: threading.Event | None = None

    @property
    def client(self) -> Client:
        return self._connection.client

    # --- the query ----------------------------------------------------------------------------

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.arg(name)
        return default if value is None else _boolean(name, value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, f"invalid value for {name}: {value!r} is not an integer") from None

    def filters(self) -> dict[str, list[str]]:
        """docker's ``filters`` parameter: ``{"k": ["v"]}``, or the old ``{"k": {"v": true}}``."""
        text = self.arg("filters")
        if not text:
            return {}
        try:
            document = json.loads(text)
        except ValueError as error:
            raise ApiError(400, f"invalid filter: {error}") from None
        if not isinstance(document, dict):
            raise ApiError(400, "invalid filter: not a JSON object")
        parsed: dict[str, list[str]] = {}
        for key, values in document.items():
            if isinstance(values, dict):
                parsed[key] = [value for value, chosen in values.items() if chosen]
            elif isinstance(values, list) and all(isinstance(v, str) for v in values):
                parsed[key] = list(values)
            else:
                raise ApiError(400, f"invalid filter: the values of {key!r} are not strings")
        return parsed

    # --- the body -----------------------------------------------------------------------------

    def body_stream(self) -> _Body:
        """The body as a reader (whole, however long: archives and image tarballs)."""
        if self._body is None:
            self._body = self._connection.body()
        return self._body

    def json_body(self, *, limit: int = JSON_BODY_LIMIT) -> Any:
        """The body parsed as JSON (None when it is empty), at most ``limit`` bytes."""
        body = self.body_stream()
        data = body.read(limit + 1)
        if len(data) > limit:
            raise ApiError(413, f"request body too large (more than {limit} bytes)")
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError as error:
            raise ApiError(400, f"invalid JSON: {error}") from None

    # --- the answer ---------------------------------------------------------------------------

    def _begin(self, status: int, headers: Mapping[str, str]) -> None:
        if self.answered:
            raise RuntimeError("a request is answered once")
        self.answered = True
        self._connection.begin(status, headers)

    def send_bytes(self, status: int, content_type: str, data: bytes) -> None:
        self._begin(status, {"Content-Type": content_type, "Content-Length": str(len(data))})
        if self.method != "HEAD":
            self._connection.wfile.write(data)
        self._connection.wfile.flush()

    def send_json(self, status: int, document: Any) -> None:
        data = json.dumps(document, separators=(",", ":")).encode() + b"\n"
        self.send_bytes(status, "application/json", data)

    def send_text(
        self, status: int, text: str, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        self.send_bytes(status, content_type, text.encode())

    def send_empty(self, status: int = 204, headers: Mapping[str, str] | None = None) -> None:
        extra = {} if status in (204, 304) else {"Content-Length": "0"}
        self._begin(status, {**extra, **(headers or {})})
        self._connection.wfile.flush()

    def start_stream(
        self, status: int, content_type: str, headers: Mapping[str, str] | None = None
    ) -> Stream:
        """Sends the headers now (the docker CLI waits for wait's before it starts the
        container); the body follows in chunks, each flushed; ``close`` ends it."""
        self._begin(
            status,
            {"Content-Type": content_type, "Transfer-Encoding": "chunked", **(headers or {})},
        )
        self._connection.wfile.flush()
        stream = Stream(self._connection.wfile)  # type: ignore[arg-type]
        self._connection.open_stream = stream
        return stream

    def stream_bytes(
        self,
        status: int,
        content_type: str,
        chunks: Iterable[bytes],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        stream = self.start_stream(status, content_type, headers)
        for chunk in chunks:
            stream.write(chunk)
        stream.close()

    def stream_json(self, status: int, documents: Iterable[Mapping[str, Any]]) -> None:
        self.stream_bytes(
            status,
            "application/json",
            (json.dumps(doc, separators=(",", ":")).encode() + b"\n" for doc in documents),
        )

    def hijack(self, content_type: str) -> socket.socket:
        """The raw connection, after ``101 UPGRADED`` when the client asked to upgrade (the
        docker CLI, docker-py), else ``200 OK`` and a body that ends when the connection
        does. Bytes the client sent after its request are in ``buffered()``."""
        upgrade = "upgrade" in self.headers.get("Connection", "").lower()
        if upgrade:
            headers = {"Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"}
            self._begin(101, headers)
        else:
            self._begin(200, {"Content-Type": content_type})
        self._connection.wfile.flush()
        self._connection.close_connection = True
        connection: socket.socket = self._connection.connection
        connection.settimeout(None)
        return connection

    def abandon(self) -> None:
        """After a failure in a begun answer: end its stream (the client reads it cut short)
        and the connection."""
        stream = self._connection.open_stream
        if stream is not None and not stream.closed:
            with contextlib.suppress(OSError):
                stream.close()
        self._connection.close_connection = True

    def gone(self) -> threading.Event:
        """Set once the client has closed its end: a route that waits (events, wait, logs
        --follow) stops then instead of when it next writes. Watches only until the client
        sends anything (a pipelined request): such a connection is closed after this answer."""
        if self._gone is None:
            self._gone = threading.Event()
            self._connection.close_connection = True
            watcher = threading.Thread(
                target=_watch_close, args=(self._connection.connection, self._gone), daemon=True
            )
            watcher.start()
        return self._gone

    def disconnected(self) -> bool:
        """Whether the client has closed its end (a ``logs -f`` whose reader left): asked
        while a stream has nothing to send, which would otherwise not notice."""
        connection: socket.socket = self._connection.connection
        ready, _, _ = select.select([connection], [], [], 0)
        if not ready:
            return False
        try:
            return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def buffered(self) -> bytes:
        """What the client sent after its request that the server has already read."""
        return self._connection.take_buffered()


#: (request) -> None: the route table's lookup, given by the server
Dispatch = Callable[["Connection"], None]


class Connection(BaseHTTPRequestHandler):
    """One client connection: requests read in turn, each handed to the route table."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    server_version = "Hybridock"
    sys_version = ""
    client: Client
    #: headers every answer carries (the API version among them), set by the server
    common_headers: Mapping[str, str] = {}
    #: the request's body reader, once a route asked for it
    open_stream: Stream | None

    def setup(self) -> None:
        super().setup()
        self.client = self.server.new_client()  # type: ignore[attr-defined]
        self._read_body: _Body | None = None

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.client.close()

    def handle_one_request(self) -> None:
        self._read_body = None
        self.open_stream = None
        super().handle_one_request()

    def __getattr__(self, name: str) -> Any:
        # do_GET, do_POST, ...: every method goes to the route table
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        self.server.dispatch(self)  # type: ignore[attr-defined]
        body = self._read_body if self._read_body is not None else self.body()
        if not body.drain(DRAIN_LIMIT):
            self.close_connection = True

    def body(self) -> _Body:
        if self._read_body is None:
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                raise ApiError(400, "bad Content-Length")
            self._read_body = _Body(self.rfile, length, chunked=chunked)  # type: ignore[arg-type]
        return self._read_body

    def begin(self, status: int, headers: Mapping[str, str]) -> None:
        if status == 101:
            self.send_response_only(101, "UPGRADED")
        else:
            self.send_response(status)
        for name, value in {**self.common_headers, **headers}.items():
            if name == "Server":
                continue  # send_response's
            self.send_header(name, value)
        self.end_headers()

    def take_buffered(self) -> bytes:
        """Bytes the buffered reader holds beyond the request, without waiting for more."""
        self.connection.setblocking(False)
        try:
            data = self.rfile.read1(1 << 16)
        except (BlockingIOError, InterruptedError):
            data = b""
        finally:
            self.connection.setblocking(True)
        return data or b""

    def address_string(self) -> str:
        return "unix" if not self.client_address else str(self.client_address[0])

    def version_string(self) -> str:
        return self.common_headers.get("Server", "Hybridock")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:  # type: ignore[attr-defined]
            self.server.log(format % args)  # type: ignore[attr-defined]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.log_request(self, code)  # type: ignore[attr-defined]


def _watch_close(connection: socket.socket, gone: threading.Event) -> None:
    poller = select.poll()
    poller.register(connection, select.POLLIN | select.POLLRDHUP)
    try:
        while not poller.poll(1000):
            if connection.fileno() < 0:
                return
        if not connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
            gone.set()
    except BlockingIOError:
        return
    except OSError:
        gone.set()


def split_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """The request target's path (percent-decoded) and query."""
    parts = urllib.parse.urlsplit(target)
    return urllib.parse.unquote(parts.path), urllib.parse.parse_qs(
        parts.query, keep_blank_values=True
    )
