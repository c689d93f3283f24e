"""Terminal handling for -t: our terminal in raw mode, window sizes for the container's pty
(which the container opens on its own devpts; see ``_native.SpawnSpec``), and the signals
an attached process gets from us."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
import tty
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO


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
    if stream is None or not os.isatty(stream.fileno()):
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
def resize_forwarding(master: int | None, stream: BinaryIO | None) -> Iterator[None]:
    """Give the pty our window size now and on every SIGWINCH."""
    if master is None or stream is None or not os.isatty(stream.fileno()):
        yield
        return
    fd = stream.fileno()
    copy_window_size(fd, master)
    previous = signal.getsignal(signal.SIGWINCH)
    signal.signal(signal.SIGWINCH, lambda _s, _f: copy_window_size(fd, master))
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


@contextlib.contextmanager
def window_changes(
    stream: BinaryIO | None, send: Callable[[tuple[int, int]], None]
) -> Iterator[None]:
    """``send`` the size of the terminal ``stream`` is on, now and on every SIGWINCH (for a pty
    we do not hold: an attached container's, through its monitor)."""
    size = window_size(stream) if stream is not None else None
    if stream is None or size is None:
        yield
        return
    send(size)
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
def forwarding_signals(pid: int, signals: Iterable[signal.Signals]) -> Iterator[None]:
    """``signals`` we get go to process ``pid`` for the duration (an attached run, exec, and
    attach's ``--sig-proxy``); our own handlers come back after."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
