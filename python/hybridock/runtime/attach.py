"""``attach``: a client of a detached container's monitor, over ``attach.sock`` in the
container's directory (``monitor/attach.rs`` is the other side and documents the frames).

The process that starts a detached container binds the socket (``listen``, mode 0600, before
the container exists, so an ``attach`` right after ``run -d`` finds it) and hands it to the
monitor. An attached client gets the output from the moment it connects, feeds the container's
stdin (when it was created with ``-i``), resizes its pty, and gets its exit code. As docker's:
the detach keys act only on a tty container's input (raw mode, the escape sequence is not
sent), and signals are proxied only to a container without a tty.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from hybridock.errors import ContainerStateError
from hybridock.runtime import tty as terminal
from hybridock.unixsocket import bind_socket_at

SOCKET_NAME = "attach.sock"
STDIN, STDOUT, STDERR, EXIT, STDIN_CLOSE, RESIZE, STDIN_END = range(7)
HEADER = struct.Struct(">B3xI")
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
#: what ``--sig-proxy`` forwards (docker forwards every signal but SIGCHLD, SIGPIPE, SIGWINCH)
PROXIED_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
#: moby/term's names of the control keys: ctrl-@ is 0, ctrl-a 1, ... ctrl-_ 31
_CONTROL_KEYS = {
    f"ctrl-{name}": code for code, name in enumerate("@abcdefghijklmnopqrstuvwxyz[\\]^_")
}


class Detached(Exception):
    """The user typed the detach keys: the container keeps running. ``before``: what the
    same read carried before the sequence, still to be sent."""

    def __init__(self, before: bytes = b"") -> None:
        super().__init__()
        self.before = before


def detach_key_bytes(keys: str) -> bytes:
    """docker's ``--detach-keys`` grammar (moby/term ``ToBytes``): comma-separated keys, each a
    single character or ``ctrl-X``; an empty value is the default."""
    codes = bytearray()
    for key in (keys or DEFAULT_DETACH_KEYS).split(","):
        if len(key) == 1:
            codes += key.encode()
        elif key in _CONTROL_KEYS:
            codes.append(_CONTROL_KEYS[key])
        else:
            raise ContainerStateError(f"Invalid detach keys ({keys}) provided")
    return bytes(codes)


class DetachKeys:
    """Watches typed input for the detach sequence (moby/term's escape proxy): a partial match
    is held back until the next key shows whether it is the sequence (then dropped) or not."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> bytes:
        """The bytes to send on; raises ``Detached`` once the whole sequence was typed."""
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    raise Detached(bytes(out))
                continue
            out += self.keys[: self.matched]
            out.append(byte)
            self.matched = 0
        return bytes(out)


def _directory_path(directory: Path) -> tuple[int, str]:
    """An fd of the directory and a path to ``name`` in it that fits sun_path (108 bytes)."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return fd, f"/proc/self/fd/{fd}/{SOCKET_NAME}"


def listen(directory: Path) -> socket.socket:
    """The container's attach socket, bound afresh (mode 0600) and listening."""
    fd, _ = _directory_path(directory)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(SOCKET_NAME, dir_fd=fd)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            bind_socket_at(listener, fd, SOCKET_NAME, 0o600)
        except BaseException:
            listener.close()
            raise
        listener.listen(16)
        return listener
    finally:
        os.close(fd)


def unlink(directory: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (directory / SOCKET_NAME).unlink()


def connect(directory: Path) -> socket.socket | None:
    """A connection to the container's monitor; None when nothing listens there."""
    try:
        fd, path = _directory_path(directory)
    except FileNotFoundError:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        connection.close()
        return None
    finally:
        os.close(fd)
    return connection


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def resize_frame(rows: int, columns: int) -> bytes:
    return frame(RESIZE, struct.pack(">HH", rows, columns))


def frames(buffer: bytearray) -> Iterator[tuple[int, bytes]]:
    """The whole frames at the start of ``buffer``, removed from it."""
    while len(buffer) >= HEADER.size:
        kind, length = HEADER.unpack_from(buffer)
        if len(buffer) < HEADER.size + length:
            return
        payload = bytes(buffer[HEADER.size : HEADER.size + length])
        del buffer[: HEADER.size + length]
        yield kind, payload


class Session:
    """One attached client: relays until the container exits (``run`` returns its code) or the
    detach keys are typed (``Detached``)."""

    def __init__(
        self,
        connection: socket.socket,
        *,
        stdin: BinaryIO | None,
        stdout: BinaryIO,
        stderr: BinaryIO,
        detach_keys: bytes | None,
    ) -> None:
        self.connection = connection
        self.stdin = stdin
        self.targets = {STDOUT: stdout, STDERR: stderr}
        self.detach_keys = DetachKeys(detach_keys) if detach_keys else None
        self.outbound = bytearray()
        self.inbound = bytearray()
        self.heard = False  # from the monitor, at least once
        self.selector = selectors.DefaultSelector()

    def resize(self, size: tuple[int, int] | None) -> None:
        if size is not None:
            self.outbound += resize_frame(*size)

    def run(self) -> int:
        self.connection.setblocking(False)
        connection = self.connection.fileno()
        self.selector.register(connection, selectors.EVENT_READ)
        stdin, ours = terminal.readable_fd(self.stdin) if self.stdin is not None else (None, False)
        fed = stdin if ours else None  # a pipe of ours, fed from a stream without a file
        if stdin is not None:
            self.selector.register(stdin, selectors.EVENT_READ)
        try:
            while True:
                # input waits while the monitor has not taken the last of it
                writing = bool(self.outbound)
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
                self.selector.modify(connection, events)
                if stdin is not None and writing == (stdin in self.selector.get_map()):
                    if writing:
                        self.selector.unregister(stdin)
                    else:
                        self.selector.register(stdin, selectors.EVENT_READ)
                for key, mask in self.selector.select(0.25):
                    # what the monitor said first: its last words may be the exit code
                    if key.fd == connection and mask & selectors.EVENT_READ:
                        code = self._receive()
                        if code is not None:
                            return code
                    if key.fd == connection and mask & selectors.EVENT_WRITE:
                        self._send()
                    elif key.fd == stdin:
                        stdin = self._read_input(stdin)
        finally:
            self.selector.close()
            if fed is not None:
                os.close(fed)

    def _send(self) -> None:
        try:
            sent = self.connection.send(self.outbound)
        except BlockingIOError:
            return
        except (BrokenPipeError, ConnectionResetError):
            # the monitor has gone: nothing more to send; reading tells how it ended
            self.outbound.clear()
            return
        del self.outbound[:sent]

    def _receive(self) -> int | None:
        """Relays what arrived; the exit code once the monitor sends it."""
        try:
            data = self.connection.recv(65536)
        except BlockingIOError:
            return None
        except ConnectionResetError:
            data = b""
        if not data and not self.heard:
            # connected as the container exited: its monitor had stopped accepting
            raise ContainerStateError("You cannot attach to a stopped container, start it first")
        if not data:
            raise ContainerStateError(
                "the container's monitor dropped this attach connection (its output was not"
                " read fast enough)"
            )
        self.heard = True
        self.inbound += data
        for kind, payload in frames(self.inbound):
            if kind == EXIT:
                return int.from_bytes(payload, "big", signed=True)
            target = self.targets.get(kind)
            if target is not None:
                target.write(payload)
                target.flush()
        return None

    def _read_input(self, fd: int) -> int | None:
        """Forwards typed or piped input; at its end, says so and stops reading it."""
        data = os.read(fd, 65536)
        if not data:
            self.selector.unregister(fd)
            self.outbound += frame(STDIN_CLOSE)
            return None
        if self.detach_keys is not None:
            try:
                data = self.detach_keys.feed(data)
            except Detached as detached:
                self._send_last(detached.before)
                raise
        if data:
            self.outbound += frame(STDIN, data)
        return fd

    def _send_last(self, data: bytes) -> None:
        """Our last input, sent before we go (blocking: the monitor reads it at once unless
        the container's input is full, which nothing typed would wait for)."""
        if data:
            self.outbound += frame(STDIN, data)
        self.connection.setblocking(True)
        self.connection.settimeout(5)
        with contextlib.suppress(OSError):
            self.connection.sendall(self.outbound)


@contextlib.contextmanager
def proxied_signals(pid: int, *, enabled: bool) -> Iterator[None]:
    """``--sig-proxy``: the signals we get go to the container's process for the duration."""
    if not enabled:
        yield
        return
    with terminal.forwarding_signals(pid, PROXIED_SIGNALS):
        yield


class AttachLink:
    """A front end's connection to a container's monitor, relayed by its caller's own loop (the
    Engine API's attach relays it to a client's socket): the container's output as
    ``(stream, bytes)`` (1 stdout, 2 stderr: docker's stream numbers), its input, its pty's
    size, and its exit code once the monitor sends it. Non-blocking: input waits in
    ``outbound`` until the monitor takes it (``flush`` when ``fileno`` is writable).
    ``stdin_once``: the end of our input is the container's (docker's StdinOnce)."""

    def __init__(self, connection: socket.socket, *, stdin_once: bool = False) -> None:
        self.connection = connection
        self.stdin_once = stdin_once
        connection.setblocking(False)
        self.inbound = bytearray()
        self.outbound = bytearray()
        self.exit_code: int | None = None
        self.ended = False  # the exit code came, or the monitor went

    def fileno(self) -> int:
        return self.connection.fileno()

    def output_fds(self) -> list[int]:
        return [] if self.ended else [self.fileno()]

    def input_fd(self) -> int | None:
        """The fd to wait on for writing while input waits; None when none waits."""
        return self.fileno() if self.outbound and not self.ended else None

    def read(self, _fd: int) -> list[tuple[int, bytes]]:
        """What the monitor sent: output chunks; ``ended`` once it said the exit code (or
        closed: a container that exited as we connected, or a client it dropped)."""
        try:
            data = self.connection.recv(65536)
        except BlockingIOError:
            return []
        except ConnectionResetError:
            data = b""
        if not data:
            self.ended = True
            return []
        self.inbound += data
        chunks = []
        for kind, payload in frames(self.inbound):
            if kind == EXIT:
                self.exit_code = int.from_bytes(payload, "big", signed=True)
                self.ended = True
                break
            if kind in (STDOUT, STDERR):
                chunks.append((kind, payload))
        return chunks

    def send(self, data: bytes) -> None:
        if data:
            self.outbound += frame(STDIN, data)

    def close_input(self) -> None:
        self.outbound += frame(STDIN_END if self.stdin_once else STDIN_CLOSE)

    def resize(self, rows: int, columns: int) -> None:
        self.outbound += resize_frame(rows, columns)

    def flush(self) -> None:
        try:
            sent = self.connection.send(self.outbound)
        except BlockingIOError:
            return
        except (BrokenPipeError, ConnectionResetError):
            self.outbound.clear()  # the monitor has gone: reading says how it ended
            return
        del self.outbound[:sent]

    def exited(self) -> bool:
        return self.ended

    def close(self) -> None:
        self.connection.close()
