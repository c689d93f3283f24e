"""A detached start's child in a fresh interpreter: what the forked child of a one-threaded
process does (``lifecycle.become_monitor``: spawn the container, report its and the monitor's
pids, exec the monitor), for a process with other threads (the Engine API service, a library
user's threads). A child forked there runs with the locks other threads held at the fork held
for ever (SQLite's allocator and file locks among them): its start hung, or its monitor died.
This interpreter has one thread: it forks the monitor-to-be and exits, so the monitor is not
the threaded process's child (a service would keep every ended monitor as a zombie).

Run by ``Runtime`` only:
``python -m hybridock.runtime.monitorstart ROOT CONFIG ID MONITOR LISTENER REPORT ROWS COLUMNS
MONITOR-ARGUMENTS...`` (CONFIG "": the default configuration; ROWS -1: no first tty size;
LISTENER and REPORT: inherited descriptors).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path


def main(arguments: list[str]) -> None:
    root, config_path, container_id, monitor, listener_fd, report_fd, rows, columns = arguments[:8]
    report = int(report_fd)
    try:
        from hybridock.config import load_config  # noqa: PLC0415
        from hybridock.runtime.containers import ContainerStore  # noqa: PLC0415
        from hybridock.runtime.lifecycle import Runtime, become_monitor  # noqa: PLC0415
        from hybridock.store.db import Database  # noqa: PLC0415
        from hybridock.store.images import ImageStore  # noqa: PLC0415
        from hybridock.store.layout import Layout  # noqa: PLC0415

        layout = Layout(Path(root))
        database = Database(layout.database)
        config = load_config(path=Path(config_path)) if config_path else load_config()
        containers = ContainerStore(layout, database)
        runtime = Runtime(layout, ImageStore(layout, database), containers, config)
        container = containers.get(container_id)
        listener = socket.socket(fileno=int(listener_fd))
        size = (int(rows), int(columns)) if int(rows) >= 0 else None
    except BaseException as error:
        os.write(report, json.dumps({"error": f"cannot start the container: {error}"}).encode())
        os._exit(125)
    if os.fork() != 0:
        os._exit(0)  # the monitor's report says its pid; its parent is init's now
    become_monitor(runtime, container, monitor, arguments[8:], (listener, size), report)


if __name__ == "__main__":
    main(sys.argv[1:])
