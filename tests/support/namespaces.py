"""Run a piece of a test in network and mount namespaces of its own, as the network tests must.

``in_new_namespaces(function)`` forks; the child unshares a network namespace (``lo`` up) and a
mount namespace (all mounts private: a bind mount over /etc/resolv.conf stays there), becomes
the subreaper of what it starts (daemons that double-fork come back to it, so the test can wait
for their end and nothing outlives it), runs ``function`` and exits. Its failure, traceback
included, fails the calling test. Whatever the child still has running at the end is killed by
pid and reaped, so the namespaces go away with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def bind_mount(source: Path, target: Path) -> None:
    """Bind ``source`` over ``target`` (in the child's private mount namespace)."""
    result = _libc.mount(os.fsencode(source), os.fsencode(target), None, MS_BIND, None)
    _check(result, f"bind mount {source} on {target}")


def ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _enter_namespaces() -> None:
    _check(_libc.unshare(CLONE_NEWNET | CLONE_NEWNS), "unshare")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "become a subreaper")
    ip("link", "set", "lo", "up")


def _end_children() -> None:
    for child in children_of(os.getpid()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def in_new_namespaces(function: Callable[[], None]) -> None:
    """Run ``function`` in a child in new network and mount namespaces; fail if it fails."""
    report_read, report_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        status = 1
        try:
            os.close(report_read)
            _enter_namespaces()
            function()
            status = 0
        except BaseException:
            os.write(report_write, traceback.format_exc().encode())
        finally:
            with contextlib.suppress(BaseException):
                _end_children()
            os._exit(status)
    os.close(report_write)
    try:
        with os.fdopen(report_read, "rb") as reader:
            report = reader.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    if status != 0:
        pytest.fail(f"in the test's namespaces:\n{report}", pytrace=False)
