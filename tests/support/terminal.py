"""A command on a pty the test opens (24 rows, 80 columns), as a user's terminal: keys typed,
output read until a text appears, the command's end."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Iterator, Mapping, Sequence


class Terminal:
    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.process = subprocess.Popen(
            list(command),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(env),
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def wait_raw(self) -> None:
        """Until the program put the terminal in raw mode (keys typed before would be
        flushed)."""
        deadline = time.monotonic() + 60
        while termios.tcgetattr(self.master)[3] & termios.ICANON:
            if time.monotonic() > deadline:
                raise AssertionError("the terminal never went raw")
            time.sleep(0.05)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def read_until(self, text: bytes) -> None:
        while text not in self.output:
            ready, _, _ = select.select([self.master], [], [], 60)
            try:
                chunk = os.read(self.master, 65536) if ready else b""
            except OSError:  # EIO: every writer of the pty is gone
                chunk = b""
            if not chunk:
                raise AssertionError(f"no {text!r} in {self.output!r}")
            self.output += chunk

    def finish(self) -> int:
        with contextlib.suppress(AssertionError):
            self.read_until(b"\0never printed\0")  # everything, to the end
        return self.process.wait(timeout=60)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


@contextlib.contextmanager
def terminal(command: Sequence[str], env: Mapping[str, str]) -> Iterator[Terminal]:
    made = Terminal(command, env)
    try:
        yield made
    finally:
        made.close()
