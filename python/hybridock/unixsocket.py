"""Unix sockets that are never wider than asked: the attach socket of a container and the
Engine API's socket (both rooms use it, so it sits below them)."""

from __future__ import annotations

import contextlib
import os
import socket


def bind_socket_at(
    listener: socket.socket, directory: int, name: str, mode: int, gid: int = -1
) -> None:
    """Bind the unix socket ``listener`` as ``name`` in the directory open as ``directory``
    with ``mode`` (and group ``gid``) from the first moment it can be reached: bound in a
    private (0700) directory beside it, set, then renamed into place. The process's umask is
    never touched: it is process-wide, and a thread that narrows it for a moment narrows every
    file other threads make meanwhile (two that overlap can leave it narrowed for good). The
    path goes through ``/proc/self/fd``, so a deep directory still fits ``sun_path``."""
    private = f".bind-{os.getpid()}-{os.urandom(4).hex()}"
    os.mkdir(private, 0o700, dir_fd=directory)
    try:
        listener.bind(f"/proc/self/fd/{directory}/{private}/{name}")
        os.chmod(f"{private}/{name}", mode, dir_fd=directory)
        if gid != -1:
            os.chown(f"{private}/{name}", -1, gid, dir_fd=directory)
        os.rename(f"{private}/{name}", name, src_dir_fd=directory, dst_dir_fd=directory)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(f"{private}/{name}", dir_fd=directory)
        os.rmdir(private, dir_fd=directory)
