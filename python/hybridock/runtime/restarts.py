"""Restart policies carried out without a daemon: what docker's restart manager does, done by
the process that learns of the exit.

A detached container's monitor execs ``python -m hybridock.runtime.onexit`` once its exit is
recorded; an attached run's CLI starts the same program in the background after it recorded
the exit (docker's client returns the exit code while its daemon restarts the container).
Under the container's lifecycle lock it folds the exit in and judges it (``restart.json``,
``supervision.RestartState``). To restart, it records the container ``restarting`` with its
own pid as the supervisor, lets the lock go, sleeps docker's backoff, then, under the lock
again, starts the container detached if nothing changed meanwhile: a ``stop``, ``kill`` or
``rm -f`` during the wait (``cancel``, under the lock) marks it exited and ends the sleeper;
a sleeper that died (the host rebooted, nothing survives that) is folded into exited by
``ContainerStore.reconcile``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hybridock.errors import HybridockError
from hybridock.runtime.containers import Container, process_alive
from hybridock.runtime.supervision import RestartState

if TYPE_CHECKING:
    from hybridock.runtime.lifecycle import Runtime

#: a sleeper's command line after the interpreter (a monitor's holds it too, after ``--``):
#: ``cancel`` signals no other process
SLEEPER_ARGUMENTS = [b"-m", b"hybridock.runtime.onexit"]


def judge_exit(runtime: Runtime, container: Container) -> float | None:
    """With the lifecycle lock held and the exit folded in: the backoff before a restart, the
    container marked restarting by this process; None when it stays exited."""
    if container.state != "exited":
        return None  # started again meanwhile, or removed
    policy = container.config.restart_policy
    directory = runtime.layout.container(container.id)
    state = RestartState.read(directory)
    if not policy.restarts or not state.should_restart(policy, container.exit_code or 0):
        return None
    ran_for = (container.finished_at or 0.0) - (container.started_at or 0.0)
    delay = state.next_delay(ran_for)
    state._replace(restart_count=state.restart_count + 1, delay=delay).write(directory)
    runtime.containers.mark_restarting(container.id, os.getpid())
    return delay


def restart_when_due(runtime: Runtime, container_id: str, delay: float) -> None:
    """The sleeper: waits out the backoff, then starts the container unless canceled."""
    time.sleep(delay)
    with runtime.exclusive_by_id(container_id) as current:
        if current is None or current.state != "restarting" or current.monitor_pid != os.getpid():
            return
        try:
            runtime.start_detached(current, by_policy=True)
        except Exception as error:  # no one else would ever hear of it
            # docker: a restart that fails to start leaves the container exited, with the error
            # (this process's stderr is the monitor's /dev/null: the record is where it is seen)
            runtime.containers.mark_exited(
                current.id,
                current.exit_code or 0,
                finished_at=current.finished_at,
                error=str(error) if isinstance(error, HybridockError) else repr(error),
            )


def cancel(runtime: Runtime, container: Container) -> None:
    """With the lifecycle lock held: a pending restart given up (stop, kill, rm -f, restart);
    the container exited as it last did, and its sleeper ended."""
    if container.state != "restarting":
        return
    RestartState.read(runtime.layout.container(container.id))._replace(
        canceled=True, manually_stopped=True
    ).write(runtime.layout.container(container.id))
    runtime.containers.mark_exited(
        container.id, container.exit_code or 0, finished_at=container.finished_at
    )
    sleeper = container.monitor_pid
    if sleeper and process_alive(sleeper, None) and _is_sleeper(sleeper):
        with contextlib.suppress(ProcessLookupError):
            os.kill(sleeper, signal.SIGTERM)


def _is_sleeper(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:3] == SLEEPER_ARGUMENTS
    except OSError:
        return False
