"""HTTP/1.1 over a socket, for the registry transport: pooled connections and streamed bodies.

A registry client needs little of HTTP: one request at a time per connection, bodies by
Content-Length, chunked or until close, keep-alive. This module does that with ``socket``
alone and imports ``ssl`` only when an https connection is opened, so a pull of a cached
image over plain http starts without the ~30 ms of ssl and the ~70 ms urllib3 added.

Everything that fails here raises ``OSError``: the socket's own errors (``socket.gaierror``,
``ConnectionRefusedError``, ``TimeoutError`` for a connect), ``ReadTimeout`` when the server
sends nothing for the read timeout (between any two reads of an answer: a stalled server is an
error, not a hang), ``TLSError`` for a failed handshake and ``ProtocolViolation`` for an answer
that is not HTTP. A response is released to its pool only
when its body was read to the end on a connection the server keeps open.

The reader is strict where leniency lets two parsers disagree (tests/unit/
test_registry_connection_properties.py checks it on generated answers): ASCII digits only in a
status, a Content-Length or a chunk size; ``chunked`` as the only transfer coding; token header
names; a Transfer-Encoding beside a Content-Length wins and the connection is not reused; and
every loop over lines (headers, folded continuations, trailers, interim answers) is bounded.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, overload

if TYPE_CHECKING:
    import ssl

MAX_LINE = 64 * 1024
MAX_HEADERS = 100  # header lines of one answer, folded continuations and trailers included
MAX_INTERIM = 5  # 1xx answers before the final one (as Go's client)
_NO_BODY_STATUS = frozenset({204, 304})
_STATUS = re.compile(r"[0-9]{3}")
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LENGTH = re.compile(r"[0-9]{1,19}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_OWS = " \t"


class ProtocolViolation(OSError):
    """The server's answer is not well-formed HTTP/1.1."""


class ReadTimeout(TimeoutError):
    """The server sent nothing for the connection's read timeout."""


class TLSError(OSError):
    """The TLS handshake failed (an untrusted certificate, a plain-http server)."""


class Headers:
    """Response headers: case-insensitive, a name may repeat (WWW-Authenticate)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.lower()
        values = [value for field, value in self._pairs if field.lower() == key]
        return ", ".join(values) if values else default

    def getlist(self, name: str) -> list[str]:
        key = name.lower()
        return [value for field, value in self._pairs if field.lower() == key]


def _open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """socket.create_connection, except that an ASCII host goes to getaddrinfo as bytes (a
    str would import the idna codec, ~5 ms)."""
    bare = host.strip("[]")
    name: str | bytes = bare.encode("ascii") if bare.isascii() else bare
    failure: OSError | None = None
    for family, kind, protocol, _, address in socket.getaddrinfo(
        name, port, type=socket.SOCK_STREAM
    ):
        sock = socket.socket(family, kind, protocol)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as error:
            sock.close()
            failure = error
            continue
        return sock
    raise failure or OSError(f"getaddrinfo returned no address for {bare}")


class Connection:
    """One socket to ``host:port`` (TLS when ``tls`` is given) and its buffered reader."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader: BinaryIO = sock.makefile("rb")

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None,
        connect_timeout: float,
        read_timeout: float,
    ) -> Connection:
        raw = _open_socket(host, port, connect_timeout)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                raw = _handshake(tls, raw, host.strip("[]"))
            raw.settimeout(read_timeout)
        except BaseException:
            raw.close()
            raise
        return cls(raw)

    def send(self, head: bytes, body: bytes | None) -> None:
        self.sock.sendall(head + body if body else head)

    def dropped(self) -> bool:
        """Whether an idle connection is unfit to carry another request: closed by the server,
        or holding bytes past the last answer's end (readable = EOF or junk; junk that already
        sits in our buffer, or decrypted in TLS's, is invisible to select, so it is peeked at
        without waiting)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if readable:
            return True
        timeout = self.sock.gettimeout()
        self.sock.setblocking(False)
        try:
            extra = self.reader.peek(1)  # type: ignore[attr-defined] # a BufferedReader
        except OSError:  # TLS with nothing to decrypt says "want read": nothing is there
            extra = b""
        finally:
            self.sock.settimeout(timeout)
        return bool(extra)

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.sock.close()


def _handshake(context: ssl.SSLContext, raw: socket.socket, hostname: str) -> socket.socket:
    import ssl  # noqa: PLC0415 - plain-http registries never pay for it

    try:
        return context.wrap_socket(raw, server_hostname=hostname)
    except ssl.SSLError as error:
        reason = getattr(error, "verify_message", None) or error.reason or str(error)
        raise TLSError(str(reason).lower().replace("_", " ")) from error


def _readline(reader: BinaryIO) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ProtocolViolation("header line too long")
    return line


class Response:
    """A response whose body is read on demand: ``read``, ``stream``; then ``release_conn``."""

    def __init__(self, connection: Connection, pool: Pool, key: object, method: str) -> None:
        self._connection: Connection | None = connection
        self._pool = pool
        self._key = key
        try:
            version, self.status, pairs = self._read_head(connection.reader)
        except TimeoutError:
            raise self._timed_out() from None
        self.headers = Headers(pairs)
        self._frame(method, version)

    @classmethod
    def _read_head(cls, reader: BinaryIO) -> tuple[str, int, list[tuple[str, str]]]:
        """The final answer's version, status and headers (interim 1xx answers skipped)."""
        for _ in range(MAX_INTERIM + 1):
            status_line = _readline(reader)
            if not status_line:
                raise ConnectionResetError("server closed the connection without an answer")
            version, status, _ = (status_line.decode("latin-1").rstrip("\r\n") + "  ").split(" ", 2)
            if not version.startswith("HTTP/1.") or not _STATUS.fullmatch(status):
                raise ProtocolViolation(f"not an HTTP/1.x status line: {status_line[:40]!r}")
            pairs = cls._read_headers(reader)
            if not 100 <= int(status) < 200 or int(status) == 101:
                return version, int(status), pairs
        raise ProtocolViolation(f"more than {MAX_INTERIM} interim (1xx) answers")

    def _frame(self, method: str, version: str) -> None:
        """How the body is delimited, and whether the connection can be used again."""
        connection_header = (self.headers.get("Connection") or "").lower()
        self._keep_alive = "close" not in connection_header and (
            version != "HTTP/1.0" or "keep-alive" in connection_header
        )
        self._chunked = False
        self._remaining: int | None = None  # None: until the server closes
        self._chunk_left = 0
        self._done = False
        coding = self.headers.get("Transfer-Encoding")
        length = self.headers.get("Content-Length")
        if method == "HEAD" or self.status in _NO_BODY_STATUS:
            self._remaining = 0
        elif coding is not None:
            if coding.strip(_OWS).lower() != "chunked":
                raise ProtocolViolation(f"unsupported Transfer-Encoding {coding[:40]!r}")
            self._chunked = True
            if length is not None:  # Transfer-Encoding wins; a smuggling attempt, or a bug
                self._keep_alive = False
        elif length is not None:
            if not _LENGTH.fullmatch(length):
                raise ProtocolViolation(f"invalid Content-Length {length[:40]!r}")
            self._remaining = int(length)
        else:
            self._keep_alive = False
        if self._remaining == 0:
            self._done = True

    @staticmethod
    def _read_headers(reader: BinaryIO) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for _ in range(MAX_HEADERS + 1):
            line = _readline(reader)
            if line in {b"\r\n", b"\n"}:
                return pairs
            if not line.endswith(b"\n"):
                raise ConnectionResetError("connection closed in the middle of the headers")
            text = line.decode("latin-1").removesuffix("\n").removesuffix("\r")
            if text[:1] in {" ", "\t"} and pairs:  # obsolete line folding
                name, value = pairs[-1]
                pairs[-1] = (name, f"{value} {text.strip(_OWS)}")
                continue
            name, colon, value = text.partition(":")
            if not colon or not _FIELD_NAME.fullmatch(name):
                raise ProtocolViolation(f"malformed header line {text[:40]!r}")
            pairs.append((name, value.strip(_OWS)))
        raise ProtocolViolation(f"more than {MAX_HEADERS} header lines")

    def _timed_out(self) -> ReadTimeout:
        connection = self._connection
        seconds = connection.sock.gettimeout() if connection is not None else None
        return ReadTimeout(f"read timed out (no data for {seconds or 0:g} s)")

    # --- the body --------------------------------------------------------------------------

    def _read_some(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body; b"" at its end."""
        try:
            return self._read_body(limit)
        except TimeoutError:
            raise self._timed_out() from None

    def _read_body(self, limit: int) -> bytes:
        connection = self._connection
        if self._done or connection is None or limit <= 0:
            return b""
        reader = connection.reader
        if self._chunked:
            if self._chunk_left == 0:
                line = _readline(reader)
                if not line.endswith(b"\n"):
                    raise ConnectionResetError("connection closed before the end of the chunks")
                size = line.split(b";", 1)[0].strip(b" \t\r\n")
                if not _CHUNK_SIZE.fullmatch(size):
                    raise ProtocolViolation(f"invalid chunk size {size[:20]!r}")
                self._chunk_left = int(size, 16)
                if self._chunk_left == 0:
                    self._read_headers(reader)  # the trailers: bounded, then discarded
                    self._done = True
                    return b""
            data = reader.read(min(limit, self._chunk_left))
            if not data:
                raise ConnectionResetError("connection closed in the middle of a chunk")
            self._chunk_left -= len(data)
            if self._chunk_left == 0 and _readline(reader) not in {b"\r\n", b"\n"}:
                raise ProtocolViolation("chunk not followed by CRLF")
            return data
        if self._remaining is None:
            data = reader.read(limit)
            if not data:
                self._done = True
            return data
        data = reader.read(min(limit, self._remaining))
        if not data:
            raise ConnectionResetError(
                f"connection closed with {self._remaining} bytes of the body missing"
            )
        self._remaining -= len(data)
        self._done = self._remaining == 0
        return data

    def read(self, amount: int | None = None) -> bytes:
        """The body (or its next ``amount`` bytes; fewer only at its end)."""
        parts: list[bytes] = []
        wanted = amount if amount is not None else 1 << 62
        while wanted > 0:
            data = self._read_some(min(wanted, 1 << 20))
            if not data:
                break
            parts.append(data)
            wanted -= len(data)
        return b"".join(parts)

    def stream(self, size: int) -> Iterator[bytes]:
        """The body in chunks of up to ``size`` bytes. What arrived before a broken
        connection is yielded before the error is raised (a resume starts after it)."""
        while data := self._read_some(size):
            yield data

    # --- the connection ----------------------------------------------------------------------

    def release_conn(self) -> None:
        """Give the connection back when the body was read to its end, else close it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._done and self._keep_alive:
            self._pool.put(self._key, connection)
        else:
            connection.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def shutdown(self) -> None:
        """From another thread: wake a read blocked on this response's socket."""
        connection = self._connection
        if connection is not None:
            connection.sock.shutdown(socket.SHUT_RDWR)


class Pool:
    """Idle keep-alive connections by key (scheme, host, TLS policy); thread-safe."""

    def __init__(self, per_key: int) -> None:
        self._per_key = per_key
        self._lock = threading.Lock()
        self._idle: dict[object, list[Connection]] = {}
        # as urllib3's pools: idle sockets are closed when the pool is collected, not leaked
        weakref.finalize(self, _close_idle, self._lock, self._idle)

    def take(self, key: object) -> Connection | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None or not connection.dropped():
                return connection
            connection.close()

    def put(self, key: object, connection: Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._per_key:
                idle.append(connection)
                return
        connection.close()

    def clear(self) -> None:
        _close_idle(self._lock, self._idle)


def _close_idle(lock: threading.Lock, idle: dict[object, list[Connection]]) -> None:
    with lock:
        connections = [connection for group in idle.values() for connection in group]
        idle.clear()
    for connection in connections:
        connection.close()


def request_head(
    method: str, path: str, host: str, headers: dict[str, str], body: bytes | None
) -> bytes:
    """The request line and headers, as sent."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body or b'')}")
    if any(ord(char) <= 0x20 or char == "\x7f" for char in path):
        raise ValueError(f"a space or control character in the path {path[:60]!r}")
    for line in lines:
        if "\r" in line or "\n" in line:
            raise ValueError(f"a line break in the request: {line[:40]!r}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
