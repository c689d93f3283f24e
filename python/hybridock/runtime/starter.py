"""``python -m hybridock.runtime.starter ROOT ID LISTENER_FD``: a container started under its
monitor by a process of one thread, for a caller that has threads (the Engine API service).

A start forks a child that spawns the container and then execs the monitor; between the fork
and the exec the child runs Python: the network's setup, the store's SQLite. In a process with
other threads, a lock one of them held at the fork (SQLite's allocator mutex: seen in the
service under concurrent runs) stays held in the child for ever, and with it the container's
lifecycle lock. This process has no other threads. Its caller holds the container's lifecycle
lock for it and has bound the attach socket (``LISTENER_FD``), and may have connected to it
already (so it misses no output); this process reports ``{"pid": N}``, or the error, as the
last line of its stdout.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import hybridock.errors
from hybridock.errors import HybridockError, SpawnError


def main(argv: list[str]) -> int:
    from hybridock.runtime.onexit import _runtime  # noqa: PLC0415
    from hybridock.store.layout import Layout  # noqa: PLC0415

    root, container_id, listener_fd = argv
    os.set_inheritable(int(listener_fd), False)  # the monitor gets it as _become_monitor says
    listener = socket.socket(fileno=int(listener_fd))
    try:
        runtime = _runtime(Layout(Path(root)))
        current = runtime.containers.reconcile(runtime.containers.get(container_id))
        pid, _, _ = runtime._spawn_under_monitor(
            current, by_policy=False, console_size=None, connect=False, listener=listener
        )
    except HybridockError as error:
        report = {
            "error": str(error),
            "kind": type(error).__name__,
            "stage": getattr(error, "stage", ""),
            "exit_code": getattr(error, "exit_code", 125),
        }
        print(json.dumps(report), flush=True)
        return 1
    print(json.dumps({"pid": pid}), flush=True)
    return 0


def start(root: Path, container_id: str, listener: socket.socket) -> int:
    """Starts the container by this module's process (its caller holds the container's
    lifecycle lock); returns the container's pid, or raises the start's error."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hybridock.runtime.starter",
            str(root),
            container_id,
            str(listener.fileno()),
        ],
        pass_fds=[listener.fileno()],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    try:
        outcome = json.loads(result.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        reason = result.stderr.decode("utf-8", "replace").strip() or f"status {result.returncode}"
        raise SpawnError(f"cannot start the container: {reason}") from None
    if "error" not in outcome:
        return int(outcome["pid"])
    kind = getattr(hybridock.errors, str(outcome.get("kind")), None)
    if kind is SpawnError:
        raise SpawnError(
            outcome["error"], stage=outcome["stage"], exit_code=int(outcome["exit_code"])
        )
    if isinstance(kind, type) and issubclass(kind, HybridockError):
        raise kind(outcome["error"])
    raise HybridockError(outcome["error"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
