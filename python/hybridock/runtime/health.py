"""One health check probe: ``python -m hybridock.runtime.health ROOT ID``.

The container's monitor is the timer (``monitor/health.rs``): it starts this program one
interval after the container starts and one interval after each probe ends, for as long as the
container runs, and reaps it. A probe runs the check in the container as ``exec`` does
(``runtime/exec.py``: its namespaces, cgroups, user, confinement), stdout and stderr on one pipe
(docker keeps the first 4096 bytes), kills it with SIGKILL at the check's timeout (docker's
"Health check exceeded timeout"), folds the result into ``health.json`` as docker's
handleProbeResult does (``supervision.HealthState``, written atomically) and exits: no process
is left behind, and nothing runs between probes.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridock.errors import ContainerStateError, HybridockError

if TYPE_CHECKING:
    from hybridock.runtime.containers import Container
    from hybridock.runtime.lifecycle import Runtime
    from hybridock.runtime.supervision import Healthcheck


def go_duration(nanoseconds: int) -> str:
    """Go's Duration.String: 500ms, 1s, 1.5s, 1m30s, 1h0m0s."""
    if nanoseconds < 10**3:
        return f"{nanoseconds}ns"
    if nanoseconds < 10**6:
        return f"{_trimmed(nanoseconds / 10**3)}µs"
    if nanoseconds < 10**9:
        return f"{_trimmed(nanoseconds / 10**6)}ms"
    hours, rest = divmod(nanoseconds, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = f"{_trimmed(rest / 10**9)}s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    return f"{minutes}m{seconds}" if minutes else seconds


def _trimmed(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def probe(runtime: Runtime, container: Container, check: Healthcheck) -> dict[str, Any] | None:
    """Runs the check once; docker's HealthcheckResult (None: the container is not running)."""
    from hybridock.runtime.exec import ExecOptions, Executor  # noqa: PLC0415
    from hybridock.runtime.lifecycle import Stdio  # noqa: PLC0415
    from hybridock.runtime.supervision import OUTPUT_LIMIT  # noqa: PLC0415

    argv = check.probe
    assert argv is not None  # noqa: S101 - checked by the caller
    started = time.time()
    reader, writer = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = Executor(runtime).start_on(
            container,
            ExecOptions(command=argv),
            Stdio((null, writer, writer), None, reader, None, None),
        )
    except ContainerStateError:  # stopped, or paused (docker probes no paused container)
        os.close(reader)
        return None
    except HybridockError as error:  # the check cannot run: docker's exec failure, as a result
        os.close(reader)
        code = getattr(error, "exit_code", 126)
        return _result(started, code if code in (126, 127) else -1, f"{error}\n")
    finally:
        os.close(null)
        os.close(writer)
    deadline = started + check.timeout_seconds
    output = bytearray()
    status = _collect(pid, reader, deadline, output)
    if status is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        timeout = check.timeout or round(check.timeout_seconds * 1e9)
        return _result(started, -1, f"Health check exceeded timeout ({go_duration(timeout)})")
    code = os.waitstatus_to_exitcode(status)
    text = bytes(output[:OUTPUT_LIMIT]).decode(errors="replace")
    return _result(started, 128 - code if code < 0 else code, text)


def _collect(pid: int, reader: int, deadline: float, output: bytearray) -> int | None:
    """The probe's output until it exits; its wait status, or None at the deadline."""
    status: int | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(reader, selectors.EVENT_READ)
        open_pipe = True
        while status is None:
            remaining = deadline - time.time()
            if remaining <= 0:
                break
            if open_pipe:
                for _ in selector.select(min(remaining, 0.05)):
                    data = os.read(reader, 65536)
                    if data:
                        output += data
                    else:
                        selector.unregister(reader)
                        open_pipe = False
            else:
                time.sleep(min(remaining, 0.01))
            finished, wait_status = os.waitpid(pid, os.WNOHANG)
            status = wait_status if finished == pid else None
        while status is not None and open_pipe and selector.select(0):
            data = os.read(reader, 65536)
            if not data:
                break
            output += data
    os.close(reader)
    return status


def _result(started: float, code: int, output: str) -> dict[str, Any]:
    return {"Start": _iso(started), "End": _iso(time.time()), "ExitCode": code, "Output": output}


@contextlib.contextmanager
def probing(arguments: list[str]) -> Iterator[None]:
    """For an attached run, whose CLI is the supervisor: the monitor's timer as a thread, given
    the monitor's ``--health MS PROBE...`` arguments (``supervision.health_probe``); it ends
    (after a probe still running) when the block does."""
    import subprocess  # noqa: PLC0415
    import threading  # noqa: PLC0415

    interval = int(arguments[1]) / 1000
    done = threading.Event()

    def timer() -> None:
        while not done.wait(interval):
            subprocess.run(
                arguments[2:],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )

    thread = threading.Thread(target=timer, name="health", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def main(argv: list[str]) -> int:
    from hybridock.config import load_config  # noqa: PLC0415
    from hybridock.runtime.containers import ContainerStore  # noqa: PLC0415
    from hybridock.runtime.lifecycle import Runtime  # noqa: PLC0415
    from hybridock.runtime.supervision import HealthState  # noqa: PLC0415
    from hybridock.store.db import Database  # noqa: PLC0415
    from hybridock.store.images import ImageStore  # noqa: PLC0415
    from hybridock.store.layout import Layout  # noqa: PLC0415

    root, container_id = argv
    layout = Layout(Path(root))
    database = Database(layout.database)
    containers = ContainerStore(layout, database)
    try:
        container = containers.get(container_id)  # not reconciled: the monitor records exits
    except HybridockError:
        return 0
    check = container.config.healthcheck
    if not container.running or check is None or check.probe is None:
        return 0
    runtime = Runtime(layout, ImageStore(layout, database), containers, load_config())
    begun = time.time()
    result = probe(runtime, container, check)
    current = containers.get(container_id)
    if result is None or current.pid != container.pid or not current.running:
        return 0  # it stopped meanwhile: a later start begins afresh
    if runtime.paused(current):
        return 0  # paused meanwhile: docker drops a probe its pause stopped
    directory = layout.container(container_id)
    health = HealthState.read(directory) or HealthState()
    since_start = begun - (container.started_at or begun)
    judged = health.with_result(result, check, since_start=since_start)
    judged.write(directory)
    if judged.status != health.status:  # docker's event: on a change only
        containers.event(current, f"health_status: {judged.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
