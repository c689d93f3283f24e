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
    raw: bytes = b""  # what the terminal showed, byte for byte

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
    return TerminalResult(code, output.decode("utf-8", "replace").replace("\r\n", "\n"), output)


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


# --- exec -----------------------------------------------------------------------------------------


@pytest.fixture
def running(box: Box, name: str) -> str:
    """A detached busybox container that sleeps (its hostname is "inside")."""
    box.ok("run", "-d", "--name", name, "--hostname", "inside", "busybox", "sleep", "1000")
    return name


def _status(text: str) -> dict[str, str]:
    keys = ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp")
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {key: fields[key].strip() for key in keys}


def test_exec_sees_the_containers_pid_one_and_hostname(box: Box, running: str) -> None:
    out = box.ok("exec", running, "sh", "-c", "cat /proc/1/cmdline; echo; hostname; echo $$")
    cmdline, hostname, own_pid = out.splitlines()
    assert cmdline.split("\0")[0] == "sleep"
    assert hostname == "inside"
    assert 1 < int(own_pid) < 100  # a pid of the container's namespace, not the host's


def test_exec_has_the_confinement_of_the_first_process(box: Box, running: str) -> None:
    first = _status(Path(f"/proc/{box.pid(running)}/status").read_text())
    assert first["Seccomp"] == "2"  # the default profile, as a filter
    assert _status(box.ok("exec", running, "cat", "/proc/self/status")) == first
    privileged = _status(box.ok("exec", "--privileged", running, "cat", "/proc/self/status"))
    ours = _status(Path("/proc/self/status").read_text())
    assert (privileged["CapBnd"], privileged["CapEff"]) == (ours["CapBnd"], ours["CapEff"])
    assert privileged["CapBnd"] != first["CapBnd"]
    assert privileged["Seccomp"] == "0"  # docker: privileged is seccomp unconfined


def test_exec_in_an_unconfined_container_is_unconfined(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "--security-opt", "seccomp=unconfined", "busybox",
           "sleep", "1000")  # fmt: skip
    first = _status(Path(f"/proc/{box.pid(name)}/status").read_text())
    assert first["Seccomp"] == "0"
    assert _status(box.ok("exec", name, "cat", "/proc/self/status")) == first


def test_exec_shares_the_containers_rlimits_and_cgroups(box: Box, running: str) -> None:
    pid = box.pid(running)
    inside = box.ok("exec", running, "sh", "-c", "cat /proc/self/limits; cat /proc/self/cgroup")
    first_limits = Path(f"/proc/{pid}/limits").read_text()
    first_cgroups = Path(f"/proc/{pid}/cgroup").read_text()
    assert inside == first_limits + first_cgroups


def test_files_are_shared_both_ways(box: Box, running: str) -> None:
    box.ok("exec", running, "sh", "-c", "echo from-exec > /tmp/shared")
    root = Path(f"/proc/{box.pid(running)}/root")
    assert (root / "tmp" / "shared").read_text() == "from-exec\n"
    assert box.ok("exec", running, "cat", "/tmp/shared") == "from-exec\n"


@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        pytest.param(("true",), 0, None, id="0-success"),
        pytest.param(("sh", "-c", "exit 3"), 3, None, id="3-own-code"),
        pytest.param(("/etc/passwd",), 126, "permission denied", id="126-not-exec"),
        pytest.param(("no-such-command",), 127, "executable file not found", id="127-not-found"),
    ],
)
def test_exec_exit_codes(
    box: Box, running: str, command: tuple[str, ...], code: int, message: str | None
) -> None:
    result = box("exec", running, *command)
    assert result.returncode == code, str(result)
    if message:
        assert message in result.stderr


def test_exec_into_a_stopped_or_missing_container_fails_cleanly(box: Box, name: str) -> None:
    box.ok("run", "--name", name, "busybox", "true")
    container_id = box.inspect(name)["Id"]
    result = box("exec", name, "true")
    assert result.returncode == 1, str(result)
    assert result.stderr == f"Error: container {container_id} is not running\n"
    missing = box("exec", "no-such-container", "true")
    assert missing.returncode == 1
    assert missing.stderr == "Error: No such container: no-such-container\n"


def test_exec_env_user_and_workdir(box: Box, running: str, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("FROM_FILE=f\n")
    script = "echo $FROM_FILE $GREETING $HOSTNAME; id -u; id -g; pwd; echo $HOME"
    out = box.ok(
        "exec", "--env-file", str(env_file), "-e", "GREETING=hi", "-u", "nobody:65534",
        "-w", "/tmp", running, "sh", "-c", script,
    )  # fmt: skip
    assert out.splitlines() == ["f hi inside", "65534", "65534", "/tmp", "/home"]
    # a user the container added itself (its upper dir is read, not only the image)
    box.ok("exec", running, "sh", "-c", "echo 'late:x:4242:4243::/late:/bin/sh' >> /etc/passwd")
    # docker's groups: the primary gid is always one of them
    late = box.ok("exec", "-u", "late", running, "id").split()
    assert late == ["uid=4242(late)", "gid=4243", "groups=4243"]
    # without flags: the container's user (root), workdir (/) and environment
    assert box.ok("exec", running, "sh", "-c", "id -u; pwd; echo $HOME").split() == [
        "0",
        "/",
        "/root",
    ]


def test_exec_workdir_cannot_leave_the_container(box: Box, running: str) -> None:
    box.ok("exec", running, "ln", "-s", "/../../../../../../etc", "/tmp/out")
    # the symlink resolves inside the container's root: its /etc, never the host's
    assert box.ok("exec", "-w", "/tmp/out", running, "pwd").strip() == "/etc"
    marker = box.ok("exec", "-w", "/tmp/out", running, "cat", "hostname").strip()
    assert marker == "inside"
    escaped = box("exec", "-w", "/proc/self/fd/3", running, "pwd")
    assert escaped.returncode == 125, str(escaped)


def test_exec_inherits_no_host_fd(box: Box, running: str) -> None:
    fds = box.ok("exec", running, "ls", "/proc/self/fd").split()
    assert sorted(fds) == ["0", "1", "2", "3"]  # 3 is ls's own directory handle
    cwd = box.ok("exec", running, "readlink", "/proc/self/cwd").strip()
    assert cwd == "/"


def test_exec_interactive_forwards_stdin(box: Box, running: str) -> None:
    result = box("exec", "-i", running, "sh", "-c", "read line; echo got:$line", input="hello\n")
    assert (result.returncode, result.stdout) == (0, "got:hello\n"), str(result)


def test_exec_tty_is_a_pty_of_the_container(box: Box, running: str) -> None:
    result = on_terminal(box, ["exec", "-t", running, "sh", "-c", "tty; echo $TERM"])
    assert result.code == 0, result
    assert result.lines[0].startswith("/dev/pts/"), result
    assert result.lines[1] == "xterm", result
    sized = on_terminal(box, ["exec", "-it", running, "stty", "size"], rows=40, columns=120)
    assert (sized.code, sized.lines) == (0, ["40 120"]), sized


def test_exec_detached_returns_at_once(box: Box, running: str) -> None:
    result = box("exec", "-d", running, "sh", "-c", "sleep 1; echo late > /tmp/detached")
    assert (result.returncode, result.stdout) == (0, ""), str(result)
    root = Path(f"/proc/{box.pid(running)}/root")
    wait_for((root / "tmp" / "detached").exists)


def test_an_exec_ends_with_its_container(box: Box, running: str) -> None:
    process = subprocess.Popen(
        [*hybridock_command(), "exec", running, "sleep", "1000"],
        env=box.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def both_sleep() -> bool:
        return box.ok("exec", running, "ps", "-o", "args").count("sleep 1000") == 2

    try:
        wait_for(both_sleep)
        box.ok("kill", running)
        assert process.wait(timeout=30) == 137  # killed with the container's pid namespace
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
