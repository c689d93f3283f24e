"""What a detached container's monitor runs when the container's process has ended (and its
exit record is written): ``python -m hybridock.runtime.onexit ROOT ID`` folds the exit into the
store at once, which frees what the container held on its networks (its port rules, address
lease and names) instead of leaving that to the next command that looks, and then carries out
the container's restart policy (``runtime/restarts.py``): it may stay, sleeping out docker's
backoff, to start the container again.

It holds the container's lifecycle lock meanwhile, as ``rm`` does: a ``restart`` (which holds it
from the stop to the new start) is waited for, and the container is then found running again
and left alone; without the lock the old run's exit could be folded over the new run's record.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hybridock.runtime.lifecycle import Runtime
    from hybridock.store.layout import Layout


def main(argv: list[str]) -> int:
    import fcntl  # noqa: PLC0415
    import os  # noqa: PLC0415

    from hybridock.errors import HybridockError  # noqa: PLC0415
    from hybridock.runtime.lifecycle import LOCK_FILE  # noqa: PLC0415
    from hybridock.store.layout import Layout  # noqa: PLC0415

    root, container_id = argv
    layout = Layout(Path(root))
    try:
        lock = os.open(
            layout.container(container_id) / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
    except FileNotFoundError:
        return 0  # removed meanwhile: its rm released everything
    delay = None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        runtime = _runtime(layout)
        container = runtime.containers.find(container_id)
        if container.config.restart_policy.restarts:
            from hybridock.runtime import restarts  # noqa: PLC0415

            delay = restarts.judge_exit(runtime, container)
    except HybridockError as error:  # removed meanwhile, or the store is gone: nothing to do
        print(f"hybridock: after {container_id[:12]} exited: {error}", file=sys.stderr)
        return 1
    finally:
        os.close(lock)
    if delay is not None:
        from hybridock.runtime import restarts  # noqa: PLC0415

        try:
            restarts.restart_when_due(runtime, container_id, delay)
        except HybridockError as error:
            print(f"hybridock: restarting {container_id[:12]}: {error}", file=sys.stderr)
            return 1
    return 0


def _runtime(layout: Layout) -> Runtime:
    from hybridock.config import load_config  # noqa: PLC0415 (the CLI's: its environment)
    from hybridock.runtime.containers import ContainerStore  # noqa: PLC0415
    from hybridock.runtime.lifecycle import Runtime  # noqa: PLC0415
    from hybridock.store.db import Database  # noqa: PLC0415
    from hybridock.store.images import ImageStore  # noqa: PLC0415

    database = Database(layout.database)
    return Runtime(
        layout, ImageStore(layout, database), ContainerStore(layout, database), load_config()
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
