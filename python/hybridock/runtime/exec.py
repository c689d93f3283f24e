"""``exec``: a second process inside a running container, as ``docker exec`` starts it.

The native ``exec_in`` joins the namespaces of the container's first process; this module
decides what the process is and what confines it:

- the command, the environment (the container's, which already holds the image's, then
  ``-e``/``--env-file``), the user (resolved from the container's own passwd/group: its upper
  dir over the image's layers) and the working directory (the container's unless ``-w``);
- the confinement of the container's first process, read from the kernel rather than
  recomputed: its capability bounding set (``CapBnd``), ``NoNewPrivs``, its rlimits
  (``/proc/PID/limits``) and its cgroups (``/proc/PID/cgroup``, found under the host's cgroup
  mounts). ``--privileged`` widens only the capabilities, as ``run --privileged`` does;
- its seccomp filter, which the kernel does not report: the container's stored profile
  (``--security-opt seccomp=...``) compiled for the capabilities this process gets; none
  with ``--privileged`` (here or at ``run``), as docker.

Attached, this process relays the streams (``-i`` stdin, ``-t`` the pty the container opened
on its devpts) with the same relay as ``run``, forwards signals and returns the exit code;
nothing goes to the container's log (docker logs only the first process). Detached (``-d``),
the process starts on /dev/null and is left running; it ends with the container at the latest
(it is in the container's pid namespace, whose end kills it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import struct
import termios
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hybridock import _native
from hybridock.errors import ContainerStateError
from hybridock.runtime import cgroups
from hybridock.runtime import tty as terminal
from hybridock.runtime.config import _cli_env, merge_env
from hybridock.runtime.containers import Container, process_alive
from hybridock.runtime.lifecycle import (
    FORWARDED_SIGNALS,
    Runtime,
    Stdio,
    _open_stdio,
    _Relay,
)
from hybridock.runtime.seccomp import seccomp_filter
from hybridock.runtime.users import resolve_user

RLIM_INFINITY = 2**64 - 1

# /proc/PID/limits row names -> docker's rlimit names
LIMIT_NAMES = {
    "Max cpu time": "cpu",
    "Max file size": "fsize",
    "Max data size": "data",
    "Max stack size": "stack",
    "Max core file size": "core",
    "Max resident set": "rss",
    "Max processes": "nproc",
    "Max open files": "nofile",
    "Max locked memory": "memlock",
    "Max address space": "as",
    "Max file locks": "locks",
    "Max pending signals": "sigpending",
    "Max msgqueue size": "msgqueue",
    "Max nice priority": "nice",
    "Max realtime priority": "rtprio",
    "Max realtime timeout": "rttime",
}


@dataclass(frozen=True)
class ExecOptions:
    """What ``hybridock exec`` was asked for; None means "as the container says"."""

    command: tuple[str, ...]
    env: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    user: str | None = None
    workdir: str | None = None
    privileged: bool = False
    interactive: bool = False
    tty: bool = False


@dataclass(frozen=True)
class Confinement:
    """What confines the container's first process, as the kernel reports it."""

    capabilities: int | None
    no_new_privs: bool
    rlimits: list[tuple[str, int, int]]
    cgroup_join: list[str]


def _status_fields(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return {
        key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())
    }


def _limits(pid: int) -> list[tuple[str, int, int]]:
    def value(text: str) -> int:
        return RLIM_INFINITY if text == "unlimited" else int(text)

    limits = []
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]:
        name = next((label for label in LIMIT_NAMES if line.startswith(label)), None)
        if name is None:
            continue
        soft, hard = line[len(name) :].split()[:2]
        limits.append((LIMIT_NAMES[name], value(soft), value(hard)))
    return limits


def _cgroup_mounts() -> list[tuple[set[str], str, str]]:
    """(controllers, mount root, mount point) of the host's cgroup mounts; v2's set is {""}."""
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        fstype, options = fields[separator + 1], fields[separator + 3]
        if fstype == "cgroup2":
            mounts.append(({""}, fields[3], fields[4]))
        elif fstype == "cgroup":
            mounts.append((set(options.split(",")), fields[3], fields[4]))
    return mounts


def _cgroups(pid: int) -> dict[str, str]:
    """hierarchy ("cpu,cpuacct", "name=systemd", "" for v2) -> cgroup path."""
    groups = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        groups[controllers] = path
    return groups


def cgroup_join(pid: int) -> list[str]:
    """The files (host paths) through which a new single-threaded process joins the cgroups
    ``pid`` is in and we are not: v1's ``tasks`` (see ``cgroups``), v2's ``cgroup.procs``."""
    ours = _cgroups(os.getpid())
    mounts = _cgroup_mounts()
    files = []
    for hierarchy, path in _cgroups(pid).items():
        if ours.get(hierarchy) == path:
            continue
        wanted = set(hierarchy.split(",")) if hierarchy else {""}
        for controllers, root, mount_point in mounts:
            if not wanted <= controllers:
                continue
            relative = os.path.relpath(path, root) if path.startswith(root) else None
            if relative is None or relative.startswith(".."):
                continue
            procs = Path(mount_point, relative, cgroups.JOIN_FILE[1 if hierarchy else 2])
            if procs.exists():
                files.append(os.path.normpath(procs))
                break
    return files


def confinement_of(pid: int, *, privileged: bool) -> Confinement:
    """The confinement of process ``pid``, to give a new process of its container."""
    try:
        status = _status_fields(pid)
        return Confinement(
            capabilities=None if privileged else int(status["CapBnd"], 16),
            no_new_privs=status.get("NoNewPrivs", "0") == "1",
            rlimits=_limits(pid),
            cgroup_join=cgroup_join(pid),
        )
    except (FileNotFoundError, ProcessLookupError):
        raise ContainerStateError(f"container process {pid} is not running") from None


class Executor:
    """Starts processes in running containers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def running(self, container: Container) -> Container:
        """The container's current record; ContainerStateError unless it runs."""
        containers = self.runtime.containers
        current = containers.reconcile(containers.get(container.id))
        if not current.running or not process_alive(current.pid, current.pid_start):
            raise ContainerStateError(f"container {current.id} is not running")
        if self.runtime.paused(current):  # the new process would join the frozen cgroup
            raise ContainerStateError(
                f"Container {current.id} is paused, unpause the container before exec"
            )
        return current

    def _start(self, container: Container, options: ExecOptions, stdio: Stdio) -> int:
        current = self.running(container)
        config = current.config
        upper = self.runtime.layout.container(current.id) / "upper"
        layer_dirs = [str(upper), *self.runtime.images.layer_dirs(config.image_id)]
        user = resolve_user(
            options.user if options.user is not None else config.user,
            layer_dirs,
            config.group_add,  # docker's exec gets the container's --group-add, with -u too
        )
        env = list(merge_env(config.env, _cli_env(options.env, options.env_files)))
        if not any(entry.startswith("HOME=") for entry in env):
            env.append(f"HOME={user.home}")
        if options.tty and not any(entry.startswith("TERM=") for entry in env):
            env.append("TERM=xterm")  # as docker exec -t
        pid = current.pid or 0
        confinement = confinement_of(pid, privileged=options.privileged)
        # the container's profile, compiled for the capabilities this process keeps; none
        # for --privileged (here or at run), as docker
        privileged = options.privileged or config.security.privileged
        program = seccomp_filter(
            config.seccomp,
            None if privileged else confinement.capabilities,
            cache=self.runtime.layout.seccomp_cache,
        )
        spawned = _native.exec_in(
            pid,
            list(options.command),
            env=env,
            cwd=options.workdir or config.working_dir,
            uid=user.uid,
            gid=user.gid,
            groups=list(user.groups),
            stdio=list(stdio.child) if stdio.child is not None else None,
            tty=options.tty,
            console_size=stdio.console_size,
            rlimits=confinement.rlimits,
            no_new_privs=confinement.no_new_privs,
            cgroup_join=confinement.cgroup_join,
            capabilities=confinement.capabilities,
            seccomp_filter=program,
        )
        stdio.use_terminal(spawned.terminal)
        return spawned.pid

    def start_on(self, container: Container, options: ExecOptions, stdio: Stdio) -> int:
        """Start the process on ``stdio``'s child ends (a health probe's pipe); returns its
        pid, a child of ours."""
        return self._start(container, options, stdio)

    def start_piped(
        self, container: Container, options: ExecOptions, console_size: tuple[int, int] | None
    ) -> ExecProcess:
        """Start the process on pipes (stdin one only with ``interactive``) or, with ``tty``, on
        a pty of the container's: the caller relays them (the Engine API's exec start)."""
        stdio = _open_stdio(tty=options.tty, interactive=options.interactive)
        stdio.console_size = console_size if options.tty else None
        try:
            pid = self._start(container, options, stdio)
        except BaseException:
            for fd in (stdio.stdout_reader, stdio.stderr_reader, stdio.stdin_writer):
                if fd is not None and fd >= 0:
                    os.close(fd)
            raise
        finally:
            stdio.close_child_ends()
        return ExecProcess(pid, stdio)

    def start_detached(self, container: Container, options: ExecOptions) -> int:
        """Start the process on /dev/null and leave it running; returns its host pid."""
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            stdio = Stdio((null, null, null), None, -1, None, None)
            return self._start(container, dataclasses.replace(options, tty=False), stdio)
        finally:
            os.close(null)

    def run_attached(
        self,
        container: Container,
        options: ExecOptions,
        *,
        stdin: BinaryIO | None,
        stdout: BinaryIO,
        stderr: BinaryIO,
        handle_signals: bool = False,
    ) -> int:
        """Run the process in the foreground, relaying its streams; returns its exit code.
        ``handle_signals`` (the main thread's only): ours go to it, and our terminal's size
        changes to its pty."""
        terminal.check_signal_handling(handle_signals)
        stdin = stdin if options.interactive else None
        stdio = _open_stdio(tty=options.tty, interactive=stdin is not None)
        stdio.console_size = terminal.window_size(stdin or stdout) if options.tty else None
        try:
            pid = self._start(container, options, stdio)
        finally:
            stdio.close_child_ends()
        try:
            with (
                terminal.forwarding_signals(pid, FORWARDED_SIGNALS, enabled=handle_signals),
                terminal.raw_mode(stdin if options.tty else None),
                terminal.resize_forwarding(
                    stdio.pty_master, stdin or stdout, follow=handle_signals
                ),
            ):
                status = _Relay(stdio, stdin, stdout, stderr, None).run(
                    pid
                )  # exec output is not logged
        finally:
            for fd in (stdio.stdout_reader, stdio.stderr_reader, stdio.stdin_writer):
                if fd is not None and fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        code = os.waitstatus_to_exitcode(status)
        return 128 - code if code < 0 else code


class ExecProcess:
    """An exec's process started on pipes or a pty (``Executor.start_piped``), for a caller that
    relays its streams in its own loop: output as ``(stream, bytes)`` (1 stdout, 2 stderr;
    a pty's is stdout), input written as the process takes it (``outbound``; ``flush`` when
    ``input_fd`` is writable), the pty's size, and its exit code. Its caller reaps it:
    ``exited`` polls, ``wait`` blocks; ``close`` closes our ends."""

    def __init__(self, pid: int, stdio: Stdio) -> None:
        self.pid = pid
        self.tty = stdio.pty_master is not None
        self._outputs = {stdio.stdout_reader: 1}
        if stdio.stderr_reader is not None:
            self._outputs[stdio.stderr_reader] = 2
        self._input = stdio.pty_master if self.tty else stdio.stdin_writer
        self._open = list(
            dict.fromkeys(fd for fd in (*self._outputs, self._input) if fd is not None)
        )
        for fd in self._open:
            os.set_blocking(fd, False)
        self.outbound = bytearray()
        self._closing_input = False
        self.exit_code: int | None = None

    def output_fds(self) -> list[int]:
        return list(self._outputs)

    def input_fd(self) -> int | None:
        return self._input if self.outbound and self._input is not None else None

    def read(self, fd: int) -> list[tuple[int, bytes]]:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return []
        except OSError as error:
            if error.errno != errno.EIO:  # EIO: a pty whose last slave closed, i.e. EOF
                raise
            data = b""
        if not data:
            del self._outputs[fd]
            return []
        return [(self._outputs[fd], data)]

    def send(self, data: bytes) -> None:
        if self._input is not None:
            self.outbound += data

    def close_input(self) -> None:
        """The caller's input ended: so does the process's, once it has taken what waits (a
        pty's is left open: it is also the output)."""
        self._closing_input = True
        if not self.outbound:
            self._end_input()

    def _end_input(self) -> None:
        if not self.tty and self._input is not None:
            self._close(self._input)
            self._input = None

    def flush(self) -> None:
        if self._input is None:
            self.outbound.clear()
            return
        try:
            written = os.write(self._input, self.outbound)
        except BlockingIOError:
            return
        except BrokenPipeError:  # the process closed its stdin: the rest is not wanted
            self.outbound.clear()
            written = 0
        del self.outbound[:written]
        if not self.outbound and self._closing_input:
            self._end_input()

    def resize(self, rows: int, columns: int) -> None:
        if self.tty and self._input is not None:
            with contextlib.suppress(OSError):
                size = struct.pack("HHHH", rows, columns, 0, 0)
                fcntl.ioctl(self._input, termios.TIOCSWINSZ, size)

    def exited(self) -> bool:
        if self.exit_code is None:
            finished, status = os.waitpid(self.pid, os.WNOHANG)
            if finished == self.pid:
                self._set_status(status)
        return self.exit_code is not None

    def wait(self) -> int:
        if self.exit_code is None:
            _, status = os.waitpid(self.pid, 0)
            self._set_status(status)
        assert self.exit_code is not None  # noqa: S101 - set just above
        return self.exit_code

    def _set_status(self, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        self.exit_code = 128 - code if code < 0 else code

    def _close(self, fd: int) -> None:
        if fd in self._open:
            self._open.remove(fd)
            with contextlib.suppress(OSError):
                os.close(fd)

    def close(self) -> None:
        for fd in list(self._open):
            self._close(fd)
        self._outputs.clear()
        self._input = None
