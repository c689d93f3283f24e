"""What a detached container's monitor runs when the container's process has ended (and its
exit record is written): ``python -m hybridock.runtime.onexit ROOT ID`` folds the exit into the
store at once, which frees what the container held on its networks (its port rules, address
lease and names) instead of leaving that to the next command that looks."""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from hybridock.errors import HybridockError  # noqa: PLC0415
    from hybridock.runtime.containers import ContainerStore  # noqa: PLC0415
    from hybridock.store.db import Database  # noqa: PLC0415
    from hybridock.store.layout import Layout  # noqa: PLC0415

    root, container_id = argv
    layout = Layout(Path(root))
    try:
        database = Database(layout.database)
        ContainerStore(layout, database).find(container_id)
    except HybridockError as error:  # removed meanwhile, or the store is gone: nothing to do
        print(f"hybridock: after {container_id[:12]} exited: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
