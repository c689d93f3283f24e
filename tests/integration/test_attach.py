"""``attach`` end to end, as root, with real detached containers and their monitors.

An attached client sees the output from the moment it connects, feeds a ``-i`` container's
stdin, gets its exit code, and, on a tty container, detaches with the detach keys. Attach
processes run as a user would start them: stdin, stdout and stderr on pipes, or on a pty the
test opens. Every wait is for a condition (a line seen, the terminal in raw mode), never for a
time.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence

import pytest
from tests.integration.test_containers import Box, box, name, wait_for
from tests.support.cli import hybridock_command
from tests.support.terminal import Terminal
from tests.support.terminal import terminal as shared_terminal

__all__ = ["box", "name"]  # fixtures shared with the container tests

pytestmark = [pytest.mark.root, pytest.mark.registry]

# a counter that never ends: one line every 50 ms
COUNTING = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.05; done"


class Attached:
    """``hybridock attach ARGS`` with its streams on pipes; reads with a 60 s guard."""

    def __init__(self, box: Box, args: Sequence[str]) -> None:
        self.process = subprocess.Popen(
            [*hybridock_command(), "attach", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=box.env,
        )
        self.output = b""

    def type(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def read_until(self, text: bytes, lines: int = 0) -> bytes:
        """The stdout seen so far, once it holds ``text`` and ``lines`` lines."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while text not in self.output or self.output.count(b"\n") < lines:
            ready, _, _ = select.select([fd], [], [], 60)
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                raise AssertionError(f"no {text!r} in {self.output!r}")
            self.output += chunk
        return self.output

    def finish(self) -> tuple[int, bytes, str]:
        """Exit code, the rest of stdout, stderr."""
        assert self.process.stdin is not None
        assert self.process.stderr is not None
        if not self.process.stdin.closed:
            self.process.stdin.close()
        with contextlib.suppress(AssertionError):
            self.read_until(b"\0never printed\0")  # everything, to the end
        errors = self.process.stderr.read()
        return self.process.wait(timeout=60), self.output, errors.decode()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


@contextlib.contextmanager
def attached(box: Box, *args: str) -> Iterator[Attached]:
    client = Attached(box, args)
    try:
        yield client
    finally:
        client.close()


def running(box: Box, name: str) -> bool:
    state = box.inspect(name)["State"]
    assert isinstance(state, dict)
    return bool(state["Status"] == "running")


def test_attach_streams_output_from_now_on_and_leaves_it_running(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", COUNTING)
    wait_for(lambda: len(box.ok("logs", name).split()) >= 5)
    logged = len(box.ok("logs", name).split())
    with attached(box, name) as client:
        seen = [int(line) for line in client.read_until(b"", lines=4).splitlines()]
        assert seen[0] >= logged - 1, (seen, logged)  # nothing from before the attach
        assert seen == list(range(seen[0], seen[0] + len(seen)))
        client.process.kill()  # the attaching process dies, not the container
    assert running(box, name)
    last = int(box.ok("logs", "--tail", "1", name))
    wait_for(lambda: int(box.ok("logs", "--tail", "1", name)) > last)


def test_stdin_of_an_interactive_container_goes_through_attach(box: Box, name: str) -> None:
    box.ok("run", "-di", "--name", name, "busybox", "cat")
    with attached(box, name) as client:
        client.type(b"hello\n")
        client.read_until(b"hello\n")
        client.type(b"again\n")
        assert client.read_until(b"again\n") == b"hello\nagain\n"
        assert client.process.stdin is not None
        client.process.stdin.close()  # our input ends; the container's does not (docker's)
        box.ok("kill", name)
        code, output, _ = client.finish()
    assert code == 137
    assert output == b"hello\nagain\n"
    assert box.ok("logs", name) == "hello\nagain\n"


def test_attach_relays_both_streams_and_exits_with_the_containers_code(box: Box, name: str) -> None:
    script = 'read line; echo "out:$line"; echo err >&2; exit 3'
    box.ok("run", "-di", "--name", name, "busybox", "sh", "-c", script)
    result = box("attach", name, input="go\n")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out:go\n", "err\n")
    actions = box.ok(
        "events", "--since", "0", "--until", f"{time.time() + 1:.3f}", "--format",
        "{{.Action}}", "--filter", f"container={name}", "--filter", "event=attach",
    )  # fmt: skip
    assert actions.splitlines() == ["attach"]  # docker's event, once per attach
    assert box.inspect(name)["State"]["ExitCode"] == 3  # type: ignore[index]


def test_without_dash_i_attach_ignores_stdin(box: Box, name: str) -> None:
    ticking = "(while true; do echo tick; sleep 0.05; done) & read x; echo read:$x; wait"
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", ticking)
    with attached(box, name) as client:
        client.read_until(b"tick\n")
        client.type(b"ignored\n")
        box.ok("kill", name)
        code, output, _ = client.finish()
    assert code == 137
    assert set(output.splitlines()) == {b"tick"}


def test_two_clients_see_the_same_output(box: Box, name: str) -> None:
    box.ok("run", "-di", "--name", name, "busybox", "cat")
    with attached(box, name) as writer, attached(box, "--no-stdin", name) as reader:
        round_number = 0
        assert reader.process.stdout is not None
        while True:  # until the second client is surely connected: it sees a round
            round_number += 1
            writer.type(f"round {round_number}\n".encode())
            writer.read_until(f"round {round_number}\n".encode())
            ready, _, _ = select.select([reader.process.stdout], [], [], 0.2)
            if ready:
                break
        writer.type(b"both\n")
        assert writer.read_until(b"both\n").endswith(b"both\n")
        assert reader.read_until(b"both\n").endswith(b"both\n")
        box.ok("kill", name)
        assert writer.finish()[0] == reader.finish()[0] == 137


def test_a_client_that_stops_reading_holds_up_neither_the_container_nor_its_log(
    box: Box, name: str
) -> None:
    chunk, chunks = 256 * 1024, 64  # 16 MiB: far past what the monitor queues for one client
    script = (
        'while read x; do [ "$x" = go ] && break; echo "$x"; done; i=0;'
        f" while [ $i -lt {chunks} ]; do head -c {chunk} /dev/zero | tr '\\0' a; echo;"
        " read x; i=$((i+1)); done; echo end"
    )
    box.ok("run", "-di", "--name", name, "busybox", "sh", "-c", script)
    with attached(box, "--no-stdin", name) as stalled, attached(box, name) as reading:
        assert stalled.process.stdout is not None
        round_number = 0
        while True:  # until the stalled client is surely connected: it sees a round
            round_number += 1
            reading.type(f"round {round_number}\n".encode())
            reading.read_until(f"round {round_number}\n".encode())
            if select.select([stalled.process.stdout], [], [], 0.2)[0]:
                stalled.read_until(b"round")
                break
        reading.type(b"go\n")  # from now on the stalled client is never read again
        seen = reading.output.count(b"\n")
        for count in range(1, chunks + 1):  # the container writes a chunk once we have the last
            reading.read_until(b"", lines=seen + count)
            reading.type(b"next\n")
        code, output, _ = reading.finish()
        assert code == 0
        assert output.endswith((b"a" * chunk + b"\n") * chunks + b"end\n")
        assert box.ok("logs", "--tail", "1", name) == "end\n"
        assert box.ok("wait", name) == "0\n"
        code, _, errors = stalled.finish()
    assert code == 1
    assert errors.startswith("Error: the container's monitor dropped this attach connection")


def test_signals_are_proxied_without_a_tty(box: Box, name: str) -> None:
    script = 'trap "echo got-term; exit 5" TERM; while true; do echo tick; sleep 0.05; done'
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", script)
    with attached(box, name) as client:
        client.read_until(b"tick\n")  # connected, the signal handlers are in place
        client.process.send_signal(signal.SIGTERM)
        code, output, _ = client.finish()
    assert code == 5
    assert output.endswith(b"got-term\n")


def test_sig_proxy_false_leaves_the_container_alone(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", COUNTING)
    with attached(box, "--sig-proxy=false", name) as client:
        client.read_until(b"\n")
        client.process.send_signal(signal.SIGINT)
        code, _, _ = client.finish()
    assert code == 130
    assert running(box, name)


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ((), ("attach", "attach-nosuch"), "Error: No such container: attach-nosuch"),
        (
            (("create", "--name", "{name}", "busybox", "true"),),
            ("attach", "{name}"),
            "Error: You cannot attach to a stopped container, start it first",
        ),
        (
            (("run", "-d", "--name", "{name}", "busybox", "sleep", "1000"), ("pause", "{name}")),
            ("attach", "{name}"),
            "Error: You cannot attach to a paused container, unpause it first",
        ),
        (
            (("run", "-d", "--name", "{name}", "busybox", "sleep", "1000"),),
            ("attach", "--detach-keys", "ctrl-x,zz", "{name}"),
            "Error: Invalid detach keys (ctrl-x,zz) provided",
        ),
        (
            (("run", "-dt", "--name", "{name}", "busybox", "sleep", "1000"),),
            ("attach", "{name}"),
            "Error: the input device is not a TTY",
        ),
    ],
    ids=["missing", "stopped", "paused", "bad-detach-keys", "tty-without-terminal"],
)
def test_refusals_are_one_line_with_dockers_words_and_code(
    box: Box, name: str, setup: Sequence[Sequence[str]], args: Sequence[str], message: str
) -> None:
    for step in setup:
        box.ok(*(part.format(name=name) for part in step))
    result = box(*(part.format(name=name) for part in args), input="")
    assert (result.returncode, result.stderr, result.stdout) == (1, f"{message}\n", "")


# --- a tty ----------------------------------------------------------------------------------


@contextlib.contextmanager
def terminal(box: Box, *args: str) -> Iterator[Terminal]:
    with shared_terminal([*hybridock_command(), *args], box.env) as made:
        yield made


def test_tty_attach_answers_typed_commands_and_detaches_with_the_keys(box: Box, name: str) -> None:
    box.ok("run", "-dit", "--name", name, "busybox", "sh")
    with terminal(box, "attach", name) as user:
        user.wait_raw()
        user.type(b"echo hi$((1+2))\r")
        user.read_until(b"hi3\r\n")
        user.type(b"\x10\x11")  # ctrl-p ctrl-q
        assert user.finish() == 1
        assert user.output.endswith(b"read escape sequence\r\n") or user.output.endswith(
            b"read escape sequence\n"
        )
    assert running(box, name)
    with terminal(box, "attach", "--detach-keys", "ctrl-a,x", name) as user:
        user.wait_raw()
        user.type(b"stty size\r")
        user.read_until(b"24 80")  # the pty has our terminal's size
        user.type(b"\x01\r")  # not the sequence: both keys go through (an empty line)
        user.type(b"echo c$((4+5))\r\x01x")  # one write: the line before the keys goes on
        assert user.finish() == 1
    assert running(box, name)
    wait_for(lambda: "c9" in box.ok("logs", name), timeout=60)
    with terminal(box, "attach", name) as user:
        user.wait_raw()
        user.type(b"exit 7\r")
        assert user.finish() == 7
    assert box.inspect(name)["State"]["ExitCode"] == 7  # type: ignore[index]


# --- run -it and start -ai: detachable ------------------------------------------------------


def test_run_it_detaches_with_ctrl_p_ctrl_q_and_misses_no_early_output(box: Box, name: str) -> None:
    script = "echo first; while read line; do echo got:$line; done"
    with terminal(box, "run", "-it", "--name", name, "busybox", "sh", "-c", script) as user:
        user.read_until(b"first\r\n")  # printed before anyone could have attached
        user.wait_raw()
        user.type(b"one\r")
        user.read_until(b"got:one")
        user.type(b"\x10\x11")
        assert user.finish() == 0  # as docker's run: detached, quietly
        assert b"read escape sequence" not in user.output
    assert running(box, name)
    with terminal(box, "attach", name) as user:
        user.wait_raw()
        user.type(b"two\r")
        user.read_until(b"got:two")
        user.type(b"\x04")  # ctrl-d: the end of the loop's input, and of the container
        assert user.finish() == 0
    assert box.inspect(name)["State"]["Status"] == "exited"  # type: ignore[index]


def test_start_ai_detaches_and_exit_codes_come_through(box: Box, name: str) -> None:
    box.ok("create", "-it", "--name", name, "busybox", "sh")
    with terminal(box, "start", "-ai", name) as user:
        user.wait_raw()
        user.type(b"echo b$((2+3))\r")
        user.read_until(b"b5\r\n")
        user.type(b"\x10\x11")
        assert user.finish() == 0
    assert running(box, name)
    box.ok("kill", name)
    with terminal(box, "start", "-ai", name) as user:
        user.wait_raw()
        user.type(b"exit 4\r")
        assert user.finish() == 4
    assert box.inspect(name)["State"]["ExitCode"] == 4  # type: ignore[index]


def test_run_rm_it_is_removed_when_it_exits_and_not_when_detached(box: Box, name: str) -> None:
    with terminal(box, "run", "--rm", "-it", "--name", name, "busybox", "sh") as user:
        user.wait_raw()
        user.type(b"exit 3\r")
        assert user.finish() == 3
    assert box("inspect", name).returncode == 1  # gone by the time run returned
    with terminal(box, "run", "--rm", "-it", "--name", name, "busybox", "sh") as user:
        user.wait_raw()
        user.type(b"\x10\x11")
        assert user.finish() == 0
    assert running(box, name)
    box.ok("stop", "-t", "1", name)
    wait_for(lambda: box("inspect", name).returncode == 1)  # its monitor's rm
