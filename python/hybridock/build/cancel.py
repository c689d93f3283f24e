"""Stopping a build: the RUN steps' processes running now, killed at once when a stage fails
or the user presses Ctrl-C (each is pid 1 of its pid namespace, so its children go with it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from hybridock.errors import BuildError


class Cancel:
    """The pids of the steps running now; ``cancel`` kills them and refuses new ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self.canceled = False

    def add(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)
            if self.canceled:
                _kill(pid)

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def cancel(self) -> None:
        with self._lock:
            self.canceled = True
            for pid in self._pids:
                _kill(pid)

    def check(self) -> None:
        if self.canceled:
            raise BuildError("canceled")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
