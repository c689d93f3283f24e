"""Inter-process locks: one ``flock`` file per key under ``locks/``.

Two pulls of the same image in two processes must fetch each blob once: the first takes the
key's lock and does the work, the second waits on the lock and then finds the result recorded.
Pulls hold the ``gc`` lock shared for their whole run and garbage collection holds it
exclusive, so a collector never deletes a file a pull has written but not yet recorded.
Lock files are never removed (removing them would race with a waiter holding the old inode).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

GC = "gc"


@contextlib.contextmanager
def _flock(lock_dir: Path, key: str, operation: int) -> Iterator[None]:
    fd = os.open(lock_dir / f"{key}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, operation)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def exclusive(lock_dir: Path, key: str) -> contextlib.AbstractContextManager[None]:
    return _flock(lock_dir, key, fcntl.LOCK_EX)


def shared(lock_dir: Path, key: str) -> contextlib.AbstractContextManager[None]:
    return _flock(lock_dir, key, fcntl.LOCK_SH)


@contextlib.contextmanager
def try_exclusive(lock_dir: Path, key: str) -> Iterator[bool]:
    """The lock if nobody holds it now (yields True), else yields False at once."""
    fd = os.open(lock_dir / f"{key}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)
