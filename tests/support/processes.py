"""Processes the tests and the comparison started: stopped by pid, and found again by what
their command line mentions (a work directory, a socket), never by a broad name.

- ``stop_process``: terminate, wait, kill.
- ``pids_mentioning``: the pids of processes named one of a few names (shims, conmons) whose
  command line mentions a marker, to kill what a daemon left; ``kill_pids`` kills them.
- ``processes_mentioning``: every process whose command line mentions a marker, as
  ``"pid: command line"``, for a test's assertion that none is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path


def run_tool(
    name: str,
    args: Sequence[str],
    command: Sequence[str],
    env: dict[str, str],
    *,
    timeout: float,
    check: bool,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``command``, a client tool's command line (docker, ctr, podman) for ``name ARGS``, run to
    completion with its text captured and stdin empty unless ``input``; with ``check`` a
    failure raises with the exit code and stderr."""
    result = subprocess.run(
        command,
        env=env,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{name} {' '.join(args[:3])}: exit {result.returncode}: {result.stderr.strip()}"
        )
    return result


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, up to ``timeout`` seconds to exit, then SIGKILL; reaped either way."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _command_lines() -> Iterator[tuple[int, str, str]]:
    """(pid, name, command line) of each process still there when it is read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        yield int(entry.name), name, command_line.decode(errors="replace")


def pids_mentioning(marker: str, names: Sequence[str]) -> list[int]:
    """Pids of processes named one of ``names`` whose command line contains ``marker``."""
    return [
        pid
        for pid, name, command_line in _command_lines()
        if name in names and marker in command_line
    ]


def processes_mentioning(marker: str | Path) -> list[str]:
    """``"pid: command line"`` of every process whose command line contains ``marker``."""
    return [
        f"{pid}: {command_line}"
        for pid, _, command_line in _command_lines()
        if str(marker) in command_line
    ]


def kill_pids(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
