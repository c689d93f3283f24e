"""The helper programs embedded in the extension, installed into the store's ``bin/``, and
``discard``, which uses one of them to delete trees without making the caller wait.

``hybridock-monitor`` supervises detached containers and, as ``--reclaim``, deletes trash;
``hybridock-init`` is the static ``--init``. Each is written once per version, named by its
content hash, so that every container shares one file (and its page cache) and an upgrade
never rewrites a program that is running.
"""

from __future__ import annotations

import os
from pathlib import Path

from hybridock import _native
from hybridock.errors import ConfigError
from hybridock.store.layout import Layout, remove_tree, write_atomic


def _installed(layout: Layout, name: str, data: bytes) -> Path:
    digest = _native.sha256(data).removeprefix("sha256:")
    path = layout.root / "bin" / f"{name}-{digest[:16]}"
    if not path.exists():
        path.parent.mkdir(mode=0o755, exist_ok=True)
        # executable by design; write_atomic's mode is filtered by the umask
        path_mode = 0o755
        write_atomic(path, data, mode=path_mode)
        path.chmod(path_mode)
    return path


def monitor_path(layout: Layout) -> Path:
    return _installed(layout, "hybridock-monitor", _native.monitor_executable())


def init_path(layout: Layout) -> Path:
    data = _native.init_executable()
    if not data:
        raise ConfigError("--init is not available: this build of hybridock has no static init")
    return _installed(layout, "hybridock-init", data)


def discard(layout: Layout, *paths: Path) -> None:
    """Take the trees at ``paths`` out of the store now; delete their files in the background.

    One rename each into ``trash/`` (the same filesystem) and a tree is gone from the store;
    then ``hybridock-monitor --reclaim`` deletes everything in ``trash/`` from a session of its
    own, so ``rm`` and ``run --rm`` do not wait for a container's files (nor ``rmi`` for an
    image's layers) to be unlinked. A reclaim cut short (a crash, a reboot) leaves trees in
    ``trash/`` that the next one deletes. If the program cannot be started, the trees are
    deleted here.
    """
    trash = layout.trash
    moved = []
    for path in paths:
        target = trash / f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}"
        try:
            trash.mkdir(mode=0o700, exist_ok=True)
            path.rename(target)
        except OSError:
            remove_tree(path)  # missing already, or not movable: delete it here
        else:
            moved.append(target)
    if not moved:
        return
    try:
        program = str(monitor_path(layout))
        pid = os.posix_spawn(
            program,
            [program, "--reclaim", str(trash)],
            {},
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
        )
        os.waitpid(pid, 0)  # it forks and exits at once; the deleting child is not ours
    except OSError:  # not installed (StoreError), not started: delete them ourselves
        for target in moved:
            remove_tree(target)
