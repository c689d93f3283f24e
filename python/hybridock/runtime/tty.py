"""Terminal handling for -t: our terminal in raw mode, window sizes for the container's pty
(which the container opens on its own devpts; see ``_native.SpawnSpec``), and the signals
an attached process gets from us.

Signal handlers are process-wide: they are installed only when the caller asks
(``handle_signals``, which the CLI does), and only from the main thread. Without them any
number of threads relay containers' streams at once; the streams may be any binary files,
also ones without a file descriptor (``io.BytesIO``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
import threading
import tty
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from hybridock.errors import ConfigError


def check_signal_handling(handle_signals: bool) -> None:
    """``ConfigError`` when signal handlers are asked for off the main thread (Python runs
    handlers there only, and they are the whole process's)."""
    if handle_signals and threading.current_thread() is not threading.main_thread():
        raise ConfigError(
            "signal forwarding and window size changes need the main thread:"
            " pass handle_signals=False from other threads"
        )


def is_terminal(stream: BinaryIO | None) -> bool:
    """Whether ``stream`` is on a terminal (False for one without a file descriptor)."""
    if stream is None:
        return False
    try:
        return os.isatty(stream.fileno())
    except (OSError, ValueError):
        return False


def readable_fd(stream: BinaryIO) -> tuple[int, bool]:
    """A file descriptor to select on for reading ``stream``, and whether it is a pipe of
    ours (to close at the end): the stream's own, or the read end of a pipe a daemon thread
    fills from a stream without one (``io.BytesIO``) and closes at its end."""
    try:
        return stream.fileno(), False
    except (OSError, ValueError):
        pass
    reader, writer = os.pipe()

    def feed() -> None:
        try:
            while chunk := stream.read(65536):
                os.write(writer, chunk)
        except OSError:
            pass  # the relay ended first and closed the read end
        finally:
            os.close(writer)

    threading.Thread(target=feed, name="hybridock-stdin", daemon=True).start()
    return reader, True


def copy_window_size(source_fd: int, target_fd: int) -> None:
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(source_fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(target_fd, termios.TIOCSWINSZ, size)


def window_size(stream: BinaryIO) -> tuple[int, int] | None:
    """(rows, columns) of the terminal ``stream`` is on; None when it is not one."""
    try:
        packed = fcntl.ioctl(stream.fileno(), termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    except (OSError, ValueError):
        return None
    rows, columns, _, _ = struct.unpack("HHHH", packed)
    return (rows, columns) if rows and columns else None


@contextlib.contextmanager
def raw_mode(stream: BinaryIO | None) -> Iterator[None]:
    """Our terminal in raw mode for the duration (keys go to the container untouched)."""
    if stream is None or not is_terminal(stream):
        yield
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def resize_forwarding(
    master: int | None, stream: BinaryIO | None, *, follow: bool
) -> Iterator[None]:
    """Give the pty our window size now and (``follow``) on every SIGWINCH."""
    if master is None or stream is None or not is_terminal(stream):
        yield
        return
    fd = stream.fileno()
    copy_window_size(fd, master)
    if not follow:
        yield
        return
    previous = signal.getsignal(signal.SIGWINCH)
    signal.signal(signal.SIGWINCH, lambda _s, _f: copy_window_size(fd, master))
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


@contextlib.contextmanager
def window_changes(
    stream: BinaryIO | None, send: Callable[[tuple[int, int]], None], *, follow: bool
) -> Iterator[None]:
    """``send`` the size of the terminal ``stream`` is on, now and (``follow``) on every
    SIGWINCH (for a pty we do not hold: an attached container's, through its monitor)."""
    size = window_size(stream) if stream is not None else None
    if stream is None or size is None:
        yield
        return
    send(size)
    if not follow:
        yield
        return
    terminal = stream

    def changed(_signum: int, _frame: object) -> None:
        if (current := window_size(terminal)) is not None:
            send(current)

    previous = signal.signal(signal.SIGWINCH, changed)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


@contextlib.contextmanager
def forwarding_signals(
    pid: int, signals: Iterable[signal.Signals], *, enabled: bool = True
) -> Iterator[None]:
    """``signals`` we get go to process ``pid`` for the duration (an attached run, exec, and
    attach's ``--sig-proxy``); our own handlers come back after. Nothing unless ``enabled``."""
    if not enabled:
        yield
        return

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
