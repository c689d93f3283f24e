"""Sockets bound with their mode from the start, without the process's umask: it is
process-wide, so narrowing it for a moment narrowed the files other threads made meanwhile,
and two overlapping binds could leave it narrowed for good (a build's layers came out 0600)."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import stat
from pathlib import Path

import pytest

from hybridock.runtime import attach
from hybridock.unixsocket import bind_socket_at


def _umask() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    raise AssertionError("no Umask in /proc/self/status")


def test_no_bind_touches_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(mask: int) -> int:
        raise AssertionError(f"os.umask({mask:o}) called")

    monkeypatch.setattr(os, "umask", refuse)
    listener = attach.listen(tmp_path)
    listener.close()
    assert stat.S_IMODE((tmp_path / attach.SOCKET_NAME).stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [attach.SOCKET_NAME]  # no temp dir


def test_concurrent_binds_keep_the_umask_and_their_modes(tmp_path: Path) -> None:
    before = _umask()

    def bind(index: int) -> int:
        directory = tmp_path / str(index)
        directory.mkdir()
        fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            try:
                bind_socket_at(listener, fd, "s", 0o660)
            finally:
                os.close(fd)
        return stat.S_IMODE((directory / "s").stat().st_mode)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        modes = list(pool.map(bind, range(200)))
    assert set(modes) == {0o660}
    assert _umask() == before
