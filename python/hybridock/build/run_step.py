"""A RUN step's process: started as ``run`` starts a container's (``lifecycle.spawn_arguments``:
the same capabilities, seccomp filter, masked paths, namespaces and cgroup) on an overlay of
the stage's layers with a fresh upper dir, its output relayed line by line to the progress.

Networks: ``default`` is docker's builder's, a namespace of its own on the default bridge
(``NetworkRuntime.build_step``: a lease no container can take, outbound through the bridge's
NAT, nothing published); ``none`` a namespace with ``lo`` only; ``host`` the host's. The
process runs in its own pid namespace as pid 1: killing it ends every process the step started
(``Cancel``: Ctrl-C, or a sibling stage's failure).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from hybridock import _native
from hybridock.build.cancel import Cancel
from hybridock.errors import BuildError, SpawnError
from hybridock.runtime import cgroups
from hybridock.runtime.config import ContainerConfig, Mount
from hybridock.runtime.lifecycle import IsolatedProcess, spawn_arguments
from hybridock.runtime.rootfs import write_etc_files
from hybridock.runtime.users import resolve_user
from hybridock.store.layout import Layout

if TYPE_CHECKING:
    from hybridock.runtime.sandbox import NetworkRuntime

#: BuildKit's PATH for a RUN whose image sets none
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: BuildKit's hostname for RUN steps
HOSTNAME = "buildkitsandbox"


class Process(NamedTuple):
    argv: list[str]
    env: list[str]
    working_dir: str
    user: str
    network: str  # none, host or default
    binds: list[tuple[str, str, bool]]  # (host path, path in the step, readonly)
    tmpfs: list[tuple[str, int, str]]


def run_process(
    layout: Layout,
    directory: Path,
    layer_dirs: Sequence[str],
    process: Process,
    on_line: Callable[[str], None],
    cancel: Cancel,
    networks: Callable[[], NetworkRuntime],
) -> int:
    """Run ``process`` with ``directory``'s upper/ over ``layer_dirs`` (top first); its exit
    code (128 + n when a signal n ended it)."""
    cancel.check()
    with contextlib.ExitStack() as stack:
        namespace, addresses = None, []
        if process.network == "default":
            namespace, address = stack.enter_context(networks().build_step(directory.name))
            addresses = [address]
        for name in ("upper", "work", "rootfs"):
            (directory / name).mkdir(exist_ok=True)
        user = resolve_user(process.user, layer_dirs)
        env = list(process.env)
        if not any(entry.startswith("PATH=") for entry in env):
            env.insert(0, DEFAULT_PATH)
        if not any(entry.startswith("HOME=") for entry in env):
            env.append(f"HOME={user.home}")
        config = _container_config(process, env)
        etc = write_etc_files(directory, config, addresses=addresses)
        name = f"build-{directory.name}"
        try:
            arguments = spawn_arguments(
                layout,
                directory,
                name,
                config,
                IsolatedProcess(user, env, list(layer_dirs), namespace, etc),
            )
            # BuildKit binds /etc/hosts and /etc/resolv.conf into a step, not /etc/hostname: a
            # step may remove or replace the image's own
            arguments["etc_hostname"] = None
            return _spawn_and_wait(arguments, on_line, cancel)
        finally:
            cgroups.release(directory)


def _container_config(process: Process, env: list[str]) -> ContainerConfig:
    """The step as a container config, for ``spawn_arguments``: run's defaults otherwise."""
    return ContainerConfig(
        image="",
        image_id="",
        entrypoint=(),
        cmd=tuple(process.argv),
        env=tuple(env),
        working_dir=process.working_dir or "/",
        user=process.user,
        hostname=HOSTNAME,
        mounts=tuple(Mount(s, d, readonly=ro, create_source=False) for s, d, ro in process.binds),
        network="host" if process.network == "host" else "none",
        tmpfs=tuple(process.tmpfs),
    )


def _spawn_and_wait(
    arguments: dict[str, Any], on_line: Callable[[str], None], cancel: Cancel
) -> int:
    reader, writer = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            spawned = _native.spawn(stdio=[stdin, writer, writer], console_size=None, **arguments)
        except SpawnError as error:
            raise BuildError(str(error), exit_code=getattr(error, "exit_code", 125)) from error
        finally:
            os.close(writer)
            os.close(stdin)
        cancel.add(spawned.pid)
        try:
            with os.fdopen(reader, "rb", closefd=False) as output:
                for raw in output:
                    on_line(raw.decode(errors="replace").rstrip("\n"))
            _, status = os.waitpid(spawned.pid, 0)
        finally:
            cancel.discard(spawned.pid)
    finally:
        os.close(reader)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
