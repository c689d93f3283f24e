"""The relay of a hijacked connection (attach, exec start) to what it attaches to: a
container's monitor (``AttachLink``) or an exec's pipes or pty (``ExecProcess``).

docker's stream format: without a tty each chunk of output is framed (stdcopy's 8-byte header:
the stream, 1 stdout or 2 stderr, three zero bytes, the length as u32 big-endian), with one it
is the pty's bytes as they come; the client's bytes are the process's input either way. When
the client half-closes (its stdin ended), the process's input is closed (a container's only
when it was created StdinOnce, as docker's) and its output still flows until it ends.

One thread, non-blocking both ways: output the client does not take is held up to
``CLIENT_BACKLOG`` (then the other side is not read), and input the process does not take
holds up reading the client. A client that goes away ends the relay, not the process: seen
when a write to it fails or, on a unix socket, at once (a hang-up, which a half-close is not;
a TCP client's close looks like a half-close until something is written).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
from collections.abc import Collection
from typing import TYPE_CHECKING, Protocol

from hybridock.client import Detached

if TYPE_CHECKING:
    from hybridock.client import DetachKeys

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
#: output held for a client that does not read, before its source is no longer read
CLIENT_BACKLOG = 1 << 20
#: how long a client gets to read the last of the output once the process has ended
FAREWELL_TIMEOUT = 30.0
_HEADER = struct.Struct(">B3xI")
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


def frame(stream: int, payload: bytes) -> bytes:
    """One chunk of docker's multiplexed stream."""
    return _HEADER.pack(stream, len(payload)) + payload


def hung_up(connection: socket.socket) -> bool:
    """Whether the client has closed both directions (not a half-close)."""
    poller = select.poll()
    poller.register(connection.fileno(), 0)
    return any(mask & _GONE for _, mask in poller.poll(0))


def content_type(version: tuple[int, int], *, tty: bool) -> str:
    """docker's: the multiplexed type names the framed stream from API 1.42 (framed before it
    too, under the raw type)."""
    return MULTIPLEXED_STREAM if not tty and version >= (1, 42) else RAW_STREAM


class Upstream(Protocol):
    """What a hijacked connection is relayed to (``AttachLink``, ``ExecProcess``)."""

    outbound: bytearray

    def output_fds(self) -> list[int]: ...
    def input_fd(self) -> int | None: ...
    def read(self, fd: int) -> list[tuple[int, bytes]]: ...
    def send(self, data: bytes) -> None: ...
    def close_input(self) -> None: ...
    def flush(self) -> None: ...
    def exited(self) -> bool: ...


class Relay:
    """Relays ``connection`` to an upstream (``run``); ``streams``: the output streams the
    client asked for."""

    def __init__(
        self,
        connection: socket.socket,
        *,
        framed: bool,
        stdin: bool,
        streams: Collection[int] = (1, 2),
        detach_keys: DetachKeys | None = None,
    ) -> None:
        self.connection = connection
        self.framed = framed
        self.stdin = stdin
        self.streams = frozenset(streams)
        self.detach_keys = detach_keys
        self.output = bytearray()
        self.reading_client = True

    def add_output(self, stream: int, payload: bytes) -> None:
        if stream in self.streams and payload:
            self.output += frame(stream, payload) if self.framed else payload

    def run(self, upstream: Upstream, pending: bytes = b"") -> bool:
        """Relays until the upstream's output ends (True: ``finish`` then sends the rest), or the
        client goes or types the detach keys (False). ``pending``: what the client sent that
        the server had read already."""
        self.connection.setblocking(False)
        try:
            if pending:
                self._from_client(upstream, pending)
            self._loop(upstream)
        except (BrokenPipeError, ConnectionResetError, Detached):
            return False
        return True

    def finish(self) -> None:
        """The last of the output, blocking (bounded): the client reads it, then the end."""
        self.connection.settimeout(FAREWELL_TIMEOUT)
        with contextlib.suppress(OSError):
            self.connection.sendall(self.output)
            self.connection.shutdown(socket.SHUT_WR)

    def _loop(self, upstream: Upstream) -> None:
        client = self.connection.fileno()
        while upstream.output_fds():
            masks: dict[int, int] = {}
            if len(self.output) < CLIENT_BACKLOG:
                for fd in upstream.output_fds():
                    masks[fd] = select.POLLIN
            input_fd = upstream.input_fd()
            if input_fd is not None:
                masks[input_fd] = masks.get(input_fd, 0) | select.POLLOUT
            wanted = select.POLLIN if self.reading_client and not upstream.outbound else 0
            wanted |= select.POLLOUT if self.output else 0
            masks[client] = wanted  # none: still told of a hang-up
            poller = select.poll()
            for fd, mask in masks.items():
                poller.register(fd, mask)
            events = poller.poll(250)
            if not events and upstream.exited():
                break  # ended, and nothing more is buffered (a grandchild may hold a pipe)
            for fd, mask in events:
                if fd == client:
                    self._serve_client(upstream, mask)
                    continue
                if fd in upstream.output_fds() and mask & (select.POLLIN | _GONE):
                    for stream, payload in upstream.read(fd):
                        self.add_output(stream, payload)
                if fd == input_fd and mask & (select.POLLOUT | _GONE):
                    upstream.flush()

    def _serve_client(self, upstream: Upstream, mask: int) -> None:
        if mask & _GONE and not mask & select.POLLIN:
            # both directions closed (a unix socket's peer closed it; a half-close is not a
            # hang-up): nobody reads the output; the input's end goes on, as it would have
            upstream.flush()
            raise ConnectionResetError
        if mask & select.POLLOUT or (mask & _GONE and self.output):
            try:
                sent = self.connection.send(self.output)
            except BlockingIOError:
                sent = 0
            del self.output[:sent]
        if mask & (select.POLLIN | _GONE) and self.reading_client:
            try:
                data = self.connection.recv(65536)
            except BlockingIOError:
                return
            if data:
                self._from_client(upstream, data)
            else:  # the client's stdin ended (a half-close): so does the process's
                self.reading_client = False
                if self.stdin:
                    upstream.close_input()

    def _from_client(self, upstream: Upstream, data: bytes) -> None:
        if not self.stdin:
            return  # not attached to the process's input: read only to see the client go
        if self.detach_keys is not None:
            try:
                data = self.detach_keys.feed(data)
            except Detached as detached:
                upstream.send(detached.before)
                upstream.flush()
                raise
        upstream.send(data)
