"""Starting, supervising, stopping and removing containers.

Attached runs: this process is the supervisor. It relays the container's stdout/stderr to ours
(and our stdin with -i, or everything through a pty with -t), appends docker json-file log
lines, forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container, reaps it and records the exit.

Detached runs: this process prepares the spawn (store reads, the network namespace, the
cgroup, the seccomp filter) and forks; the child only spawns the container (so the container is
its child) and execs the small native monitor, which does the relaying and recording from then
on. The parent only waits for the child to report the container's pid (or the spawn error) over
a pipe, and returns. The parent binds the container's attach socket first; the child hands it,
with the container's stdin (``-i``), to the monitor, which serves ``attach`` clients
(``attach.py``).
The child runs no Python that takes a lock: in a process with threads (the Engine API service)
another thread may hold SQLite's, or any library's, at the fork, and the child would wait for
it forever. It forks once more and exits, so the monitor is init's child: a long-lived
process (the service) keeps no zombie of each ended monitor.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import json
import os
import selectors
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from hybridock import _native
from hybridock.config import Config
from hybridock.errors import (
    ConfigError,
    ContainerNotFound,
    ContainerStateError,
    HybridockError,
    SpawnError,
)
from hybridock.runtime import cgroups, cgroupview, restarts
from hybridock.runtime import tty as terminal
from hybridock.runtime.containers import (
    Container,
    ContainerStore,
    process_alive,
    release_network,
)
from hybridock.runtime.rootfs import write_etc_files
from hybridock.runtime.seccomp import seccomp_filter
from hybridock.runtime.security import container_sysctls
from hybridock.runtime.supervision import (
    JUDGE_MARKER,
    HealthState,
    RestartPolicy,
    RestartState,
    health_probe,
    stopped_by_user,
)
from hybridock.runtime.users import ResolvedUser, resolve_user
from hybridock.store import events as event_log
from hybridock.store.images import ImageStore
from hybridock.store.layout import Layout, remove_tree
from hybridock.store.programs import discard, init_path, monitor_path

if TYPE_CHECKING:
    import socket
    import subprocess

    from hybridock.runtime.config import ContainerConfig
    from hybridock.runtime.resources import Resources
    from hybridock.runtime.sandbox import NetworkRuntime

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
DEFAULT_STOP_TIMEOUT = 10
#: in the container's directory: held by restart, rm, start and cp (``Runtime.exclusive``)
LOCK_FILE = "lifecycle.lock"
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")
#: the restart judges attached runs started (``Runtime._judge_in_background``)
_JUDGES: list[subprocess.Popen[bytes]] = []


def _namespace_inode(pid: int) -> int | None:
    """The inode of a process's pid namespace (None when it is gone)."""
    try:
        return Path(f"/proc/{pid}/ns/pid").stat().st_ino
    except OSError:
        return None


def signal_number(name: str | int) -> int:
    """SIGTERM, TERM, 15 -> 15 (docker accepts all three)."""
    if isinstance(name, int):
        return name
    text = name.strip().upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = f"SIG{text}"
    try:
        return int(signal.Signals[text])
    except KeyError:
        raise ContainerStateError(f"invalid signal: {name}") from None


class Stdio:
    """The fds the container gets (0, 1, 2) and the ends we keep (None when not used).

    With a tty the container opens its own pty (on its devpts, so ``tty`` works inside):
    ``child`` is None and the master arrives with the spawned process (``use_terminal``).
    """

    __slots__ = (
        "child",
        "console_size",
        "pty_master",
        "stderr_reader",
        "stdin_writer",
        "stdout_reader",
    )

    def __init__(
        self,
        child: tuple[int, int, int] | None,
        stdin_writer: int | None,
        stdout_reader: int,
        stderr_reader: int | None,
        pty_master: int | None,
        console_size: tuple[int, int] | None = None,  # (rows, columns) the pty starts with
    ) -> None:
        self.child = child
        self.stdin_writer = stdin_writer
        self.stdout_reader = stdout_reader
        self.stderr_reader = stderr_reader
        self.pty_master = pty_master
        self.console_size = console_size

    def close_child_ends(self) -> None:
        for fd in set(self.child or ()):
            with contextlib.suppress(OSError):
                os.close(fd)

    def use_terminal(self, master: int | None) -> None:
        if master is not None:
            self.stdout_reader = self.pty_master = master

    def close_reader(self, fd: int) -> None:
        """Our end of one of the container's outputs, closed before its end: the container's
        next write there fails (SIGPIPE), as in a shell pipeline; a pty's hangs up."""
        os.close(fd)
        if fd == self.stdout_reader:
            self.stdout_reader = -1
        if fd == self.stderr_reader:
            self.stderr_reader = None
        if fd == self.pty_master:
            self.pty_master = None


def make_bind_source(path: str) -> None:
    """As docker does for -v: a missing host directory is made, parents too, root's and 0755
    whatever our umask."""
    missing = []
    current = Path(path)
    while not os.path.lexists(current):
        missing.append(current)
        current = current.parent
    try:
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):  # made meanwhile by another start
                directory.mkdir(mode=0o755)
                directory.chmod(0o755)
    except OSError as error:
        raise SpawnError(
            f"error while creating mount source path '{path}': mkdir {error.filename}:"
            f" {error.strerror}"
        ) from error


def _open_stdio(*, tty: bool, interactive: bool) -> Stdio:
    if tty:
        return Stdio(None, None, -1, None, None)
    if interactive:
        stdin_reader, stdin_writer = os.pipe()
    else:
        stdin_reader, stdin_writer = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
    out_reader, out_writer = os.pipe()
    err_reader, err_writer = os.pipe()
    return Stdio((stdin_reader, out_writer, err_writer), stdin_writer, out_reader, err_reader, None)


class Runtime:
    def __init__(
        self,
        layout: Layout,
        images: ImageStore,
        containers: ContainerStore,
        config: Config | None = None,
    ) -> None:
        self.layout = layout
        self.images = images
        self.containers = containers
        self.config = config or Config()
        self._held_locks: set[str] = set()  # containers whose lifecycle.lock we hold

    @functools.cached_property
    def networks(self) -> NetworkRuntime:
        from hybridock.runtime.sandbox import NetworkRuntime  # noqa: PLC0415

        return NetworkRuntime(self.layout, self.containers.db, self.config)

    def _join_network(
        self, container: Container, directory: Path
    ) -> tuple[int | None, dict[str, str]]:
        """The network namespace the container's process joins (None: its own new one, or the
        host's) and its /etc files, made for its network mode."""
        config = container.config
        if config.bridged:
            from hybridock.runtime.sandbox import bindings_to_publish  # noqa: PLC0415

            sandbox = self.networks.prepare(
                container.id, container.name, config, bindings_to_publish(config)
            )
            try:
                etc = write_etc_files(
                    directory,
                    config,
                    addresses=[endpoint.address for _, endpoint in sandbox.addresses],
                    resolver=next(
                        (n.gateway for n, _ in sandbox.addresses if n.user_defined), None
                    ),
                )
            except BaseException:
                sandbox.close()
                raise
            return sandbox.namespace, etc
        if config.network.startswith("container:"):
            other = self.containers.find(config.network.partition(":")[2])
            if not other.running or not other.pid:
                raise ContainerStateError(
                    f"cannot join network of a non running container: {other.id}"
                )
            namespace = os.open(f"/proc/{other.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                etc = write_etc_files(
                    directory, config, shared_from=self.layout.container(other.id)
                )
            except BaseException:
                os.close(namespace)
                raise
            return namespace, etc
        return None, write_etc_files(directory, config)

    # --- spawning ---------------------------------------------------------------------------

    def _spawn(self, container: Container, stdio: Stdio) -> int:
        """Starts the container's process on ``stdio``; returns its pid."""
        spawned = self._spawn_process(container, stdio.child, stdio.console_size)
        stdio.use_terminal(spawned.terminal)
        return spawned.pid

    def _spawn_process(
        self,
        container: Container,
        stdio: tuple[int, int, int] | None,
        console_size: tuple[int, int] | None = None,
    ) -> _native.Spawned:
        arguments, namespace = self._prepare_spawn(container)
        try:
            return _spawn_prepared(arguments, stdio, console_size)
        finally:
            if namespace is not None:
                os.close(namespace)

    def _prepare_spawn(self, container: Container) -> tuple[dict[str, Any], int | None]:
        """All that ``_native.spawn`` takes but the stdio (store reads, bind sources, volume
        devices, the network namespace and /etc files, the cgroup, the seccomp filter); and the
        namespace's fd, which the caller closes once the container is spawned."""
        config = container.config
        directory = self.layout.container(container.id)
        layer_dirs = self.images.layer_dirs(container.image_id)
        user = resolve_user(config.user, layer_dirs, config.group_add)
        env = list(config.env)
        if not any(entry.startswith("HOME=") for entry in env):
            env.append(f"HOME={user.home}")
        for mount in config.mounts:
            if mount.create_source and not mount.is_volume:
                make_bind_source(mount.source)
        if any(mount.is_volume for mount in config.mounts):
            from hybridock.runtime.volumes import VolumeStore  # noqa: PLC0415

            VolumeStore(self.layout, self.containers.db).mount_devices(config.mounts)
        marker = directory / "work" / "work" / "incompat"
        if config.auto_remove and marker.exists():
            # overlayfs leaves incompat/volatile/ after a volatile mount and refuses the next
            # one while it exists (it cannot tell a clean unmount from a crash): a --rm
            # container's upper layer is thrown away anyway, so a restart may reuse it.
            remove_tree(marker)
        namespace, etc = self._join_network(container, directory)
        try:
            arguments = spawn_arguments(
                self.layout,
                directory,
                container.id,
                config,
                IsolatedProcess(user, env, layer_dirs, namespace, etc),
            )
        except BaseException:
            if namespace is not None:
                os.close(namespace)
            raise
        return arguments, namespace

    def _prepared_or_failed(self, container: Container) -> tuple[dict[str, Any], int | None]:
        """``_prepare_spawn`` for a detached start; a failure leaves the container Created
        with the error, as the spawn's own does."""
        try:
            return self._prepare_spawn(container)
        except BaseException as error:
            failure = error
            if isinstance(error, HybridockError):
                failure = SpawnError(
                    str(error),
                    stage=getattr(error, "stage", ""),
                    exit_code=getattr(error, "exit_code", 125),
                )
            elif isinstance(error, Exception):
                failure = SpawnError(f"cannot start the container: {error}")
            self._fail_start(container, failure)
            if failure is error:
                raise
            raise failure from error

    def _begin_run(self, container: Container, *, by_policy: bool) -> list[str]:
        """A new run's bookkeeping: its last exit cleared, a user's start resets the restart
        count (docker's), and its health back to starting; returns the monitor's arguments for
        its health check (none without one)."""
        config = container.config
        directory = self.layout.container(container.id)
        if not by_policy and config.restart_policy.restarts:
            RestartState().write(directory)
        (directory / JUDGE_MARKER).unlink(missing_ok=True)  # an earlier run's update's
        probe = health_probe(self.layout.root, container.id, config.healthcheck)
        if probe:
            (HealthState.read(directory) or HealthState()).restarted().write(directory)
        self.containers.clear_exit(container.id)
        return probe

    def _fail_start(self, container: Container, error: BaseException) -> None:
        """As docker: a container that could not start stays Created, with the code and error."""
        cgroups.release(self.layout.container(container.id))
        if container.config.bridged:
            self.networks.release(container.id)
        code = error.exit_code if isinstance(error, SpawnError) else 125
        self.containers.mark_start_failed(container.id, code, str(error) or type(error).__name__)

    # --- attached ---------------------------------------------------------------------------

    def start_attached(
        self,
        container: Container,
        *,
        stdin: BinaryIO | None,
        stdout: BinaryIO,
        stderr: BinaryIO,
        on_started: Callable[[], None] | None = None,
        handle_signals: bool = False,
    ) -> int | None:
        """Run the container in the foreground; returns its exit code. With a tty and input
        from a terminal (``run -it``, ``start -ai``) it runs under a monitor instead, attached
        from before its spawn: the detach keys then leave it running and return None.
        ``handle_signals`` (the main thread's only): ours go to the container, and our
        terminal's size changes to its pty."""
        terminal.check_signal_handling(handle_signals)
        config = container.config
        if config.tty and config.open_stdin and stdin is not None and terminal.is_terminal(stdin):
            return self._start_detachable(
                container, stdin, stdout, stderr, on_started, handle_signals=handle_signals
            )
        with self.exclusive(container) as current:  # until its root is mounted
            if current.running:
                raise ContainerStateError(f"container {container.id[:12]} is already running")
            config = current.config
            probe = self._begin_run(current, by_policy=False)
            stdio = _open_stdio(tty=config.tty, interactive=config.open_stdin and stdin is not None)
            stdio.console_size = terminal.window_size(stdin or stdout) if config.tty else None
            try:
                try:
                    pid = self._spawn(current, stdio)
                except BaseException as error:  # a bug or Ctrl-C must not leak the cgroup
                    self._fail_start(current, error)
                    raise
            finally:
                stdio.close_child_ends()
            self.containers.mark_running(container.id, pid, os.getpid())
        if on_started:
            on_started()
        # docker's json-file lines, by the writer the monitor uses for detached containers
        log = _native.JsonLog(str(self.layout.container(container.id) / "container.log"))
        try:
            with (
                terminal.forwarding_signals(pid, FORWARDED_SIGNALS, enabled=handle_signals),
                terminal.raw_mode(stdin if config.tty else None),
                terminal.resize_forwarding(
                    stdio.pty_master, stdin or stdout, follow=handle_signals
                ),
                _probing(probe),
            ):
                relay = _Relay(stdio, stdin if config.open_stdin else None, stdout, stderr, log)
                status = relay.run(pid)
        finally:
            log.close()
            for fd in (stdio.stdout_reader, stdio.stderr_reader, stdio.stdin_writer):
                if fd is not None and fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        oom_killed = cgroups.release(self.layout.container(container.id))
        self.containers.write_exit(container.id, code, oom_killed)
        self.containers.mark_exited(container.id, code, oom_killed=oom_killed)
        # the policy now, not the start's: an ``update --restart`` may have changed it (and an
        # ``rm -f`` may have removed the container)
        with contextlib.suppress(ContainerNotFound):
            config = self.containers.get(container.id).config
        if config.restart_policy.restarts:
            # docker's client returns the code; its daemon restarts the container
            self._judge_in_background(container)
        return code

    def _judge_in_background(self, container: Container) -> None:
        """The exit's restart decision, and the restart, in a process of its own session
        (``runtime/restarts.py``), as a detached container's monitor has it done."""
        import subprocess  # noqa: PLC0415 (restart policies only)

        # kept, and reaped by later calls, so a long-lived Client leaves no zombies
        _JUDGES[:] = [judge for judge in _JUDGES if judge.poll() is None]
        judge = [sys.executable, "-m", "hybridock.runtime.onexit", str(self.layout.root)]
        _JUDGES.append(
            subprocess.Popen(
                [*judge, container.id],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

    def _start_detachable(
        self,
        container: Container,
        stdin: BinaryIO,
        stdout: BinaryIO,
        stderr: BinaryIO,
        on_started: Callable[[], None] | None,
        *,
        handle_signals: bool,
    ) -> int | None:
        from hybridock.runtime import attach  # noqa: PLC0415 - see _start_under_monitor

        pid, monitor, connection = self._start_under_monitor(
            container, console_size=terminal.window_size(stdin), connect=True
        )
        if connection is None:
            return None  # waiting to restart: its policy starts it, nothing to attach to yet
        if on_started:
            on_started()
        session = attach.Session(
            connection,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            detach_keys=attach.detach_key_bytes(attach.DEFAULT_DETACH_KEYS),
        )
        try:
            with (
                connection,
                terminal.raw_mode(stdin),
                terminal.window_changes(stdin, session.resize, follow=handle_signals),
                # as the attached run always did
                attach.proxied_signals(pid, enabled=handle_signals),
            ):
                code = session.run()
        except attach.Detached:
            return None
        # the monitor's own work after the exit (--rm, the network's release) is done by now
        _wait_for_process(monitor)
        return code

    # --- detached ---------------------------------------------------------------------------

    def start_detached(self, container: Container, *, by_policy: bool = False) -> int:
        """Start under a monitor process; returns the container's pid (0 for a container
        waiting to restart, which its policy starts). ``by_policy``: a restart by the restart
        policy, which keeps ``RestartCount``; a user's start resets it, as docker's."""
        pid, _, _ = self._start_under_monitor(container, by_policy=by_policy)
        return pid

    def start_linked(self, container: Container, links: int) -> list[socket.socket]:
        """Start under a monitor, as ``start_detached``, with ``links`` attach connections made
        before the spawn (the Engine API's attaches that wait for this start: they miss no
        output); none for a container waiting to restart. Safe in a process with threads
        (``_spawn_under_monitor`` starts the monitor through a fresh interpreter there)."""
        from hybridock.runtime import attach  # noqa: PLC0415 - see _start_under_monitor

        with self.exclusive(container) as current:  # until its root is mounted
            if current.running:
                raise ContainerStateError(f"container {current.id[:12]} is already running")
            if current.restarting:
                return []
            directory = self.layout.container(current.id)
            listener = attach.listen(directory)
            connections: list[socket.socket] = []
            try:
                for _ in range(links):
                    connection = attach.connect(directory)
                    if connection is not None:
                        connections.append(connection)
                self._spawn_under_monitor(
                    current, by_policy=False, console_size=None, connect=False, listener=listener
                )
            except BaseException:
                for connection in connections:
                    connection.close()
                raise
            finally:
                listener.close()
        return connections

    def connect(self, container: Container) -> socket.socket:
        """An attach connection to a running container's monitor, for a caller that relays it
        (the Engine API's attach); ``ContainerStateError`` as ``attach`` says it."""
        from hybridock.runtime import attach  # noqa: PLC0415 - see _start_under_monitor

        current = self.containers.reconcile(self.containers.get(container.id))
        if not current.running:
            raise ContainerStateError("You cannot attach to a stopped container, start it first")
        if self.paused(current):
            raise ContainerStateError("You cannot attach to a paused container, unpause it first")
        connection = attach.connect(self.layout.container(current.id))
        if connection is None:
            raise ContainerStateError(
                f"You cannot attach to container {current.id[:12]}: it runs in the foreground of"
                " the hybridock process that started it"
            )
        return connection

    def _start_under_monitor(
        self,
        container: Container,
        *,
        by_policy: bool = False,
        console_size: tuple[int, int] | None = None,
        connect: bool = False,
    ) -> tuple[int, int, socket.socket | None]:
        """Starts the container under a monitor: (its pid, the monitor's pid, and with
        ``connect`` an attach connection made before the spawn, so it misses no output);
        (0, 0, None) for a container waiting to restart, which its policy starts."""
        with self.exclusive(container) as current:  # until its root is mounted
            return self._spawn_under_monitor(
                current, by_policy=by_policy, console_size=console_size, connect=connect
            )

    def _spawn_under_monitor(
        self,
        container: Container,
        *,
        by_policy: bool,
        console_size: tuple[int, int] | None,
        connect: bool,
        listener: socket.socket | None = None,
    ) -> tuple[int, int, socket.socket | None]:
        """``listener``: the attach socket, bound by the caller (``start_linked``, which
        connected to it first); else bound here."""
        # here, not at the top: an attached run (the benches' warm run) needs no socket module
        from hybridock.runtime import attach  # noqa: PLC0415

        if container.running:
            raise ContainerStateError(f"container {container.id[:12]} is already running")
        if container.restarting and not by_policy:
            return 0, 0, None
        config = container.config
        directory = self.layout.container(container.id)
        monitor = str(monitor_path(self.layout))
        on_exit = ["--", sys.executable, "-m", "hybridock.runtime.onexit"]
        on_exit += [str(self.layout.root), container.id]
        # the exit is folded in (and the network released: port rules, lease, names) as soon
        # as it happens, not when a later command looks, and the restart policy applied
        gate: list[str] = []
        if not config.auto_remove and not config.bridged and not config.restart_policy.restarts:
            # nothing to do then but for an ``update --restart`` during the run, which says so
            # by a marker: no Python start (0.1 s of CPU) at every exit
            gate = ["--if-exists", str(directory / JUDGE_MARKER)]
        if config.auto_remove:
            on_exit = [
                "--",
                sys.executable,
                "-m",
                "hybridock",
                "--root",
                str(self.layout.root),
                "rm",  # not -f: after a restart it finds the container running, and keeps it
                container.id,
            ]
        console_size = console_size or config.console_size
        probe = self._begin_run(container, by_policy=by_policy)
        # the log exists once the start returns (the monitor appends to it after its exec), so
        # a `logs -f` right after `run -d` follows it instead of finding nothing
        (directory / "container.log").touch()
        arguments, namespace = self._prepared_or_failed(container)
        listener = listener or attach.listen(directory)
        connection = attach.connect(directory) if connect else None
        report_reader, report_writer = os.pipe()
        try:
            _fork_monitor(
                container,
                arguments,
                (monitor, directory),
                [*gate, *probe, *on_exit],
                (listener, console_size),
                report_writer,
            )
        finally:
            if namespace is not None:
                os.close(namespace)
        listener.close()
        os.close(report_writer)
        with os.fdopen(report_reader, "rb") as report:
            message = report.read()
        outcome: dict[str, Any] = json.loads(message) if message else {"error": ""}
        if "error" in outcome:
            attach.unlink(directory)
            if connection is not None:
                connection.close()
        if not message:
            raise SpawnError("the monitor process died before the container started")
        if "error" in outcome:
            error = SpawnError(
                outcome["error"],
                stage=outcome.get("stage", ""),
                exit_code=int(outcome.get("exit_code", 125)),
            )
            self._fail_start(container, error)
            raise error
        pid = int(outcome["pid"])
        monitor_pid = int(outcome["monitor"])
        self.containers.mark_running(container.id, pid, monitor_pid)
        return pid, monitor_pid, connection

    def attach(
        self,
        container: Container,
        *,
        stdin: BinaryIO | None,
        stdout: BinaryIO,
        stderr: BinaryIO,
        sig_proxy: bool = True,
        detach_keys: str | None = None,
        handle_signals: bool = False,
    ) -> int | None:
        """docker attach: relays a detached container's output from now on (and ``stdin`` when
        it was created with ``-i``) until it exits; returns its exit code, or None when the
        detach keys were typed (a tty container's only, as docker's), leaving it running.
        ``handle_signals`` (the main thread's only): ours go to the container (``sig_proxy``,
        not with a tty), and our terminal's size changes to its pty."""
        from hybridock.runtime import attach  # noqa: PLC0415 - see _start_under_monitor

        terminal.check_signal_handling(handle_signals)

        current = self.containers.reconcile(self.containers.get(container.id))
        if not current.running:
            raise ContainerStateError("You cannot attach to a stopped container, start it first")
        if self.paused(current):
            raise ContainerStateError("You cannot attach to a paused container, unpause it first")
        config = current.config
        if config.tty and stdin is not None and not terminal.is_terminal(stdin):
            raise ContainerStateError("the input device is not a TTY")
        keys = attach.detach_key_bytes(detach_keys or "")
        connection = attach.connect(self.layout.container(current.id))
        if connection is None:
            raise ContainerStateError(
                f"You cannot attach to container {current.id[:12]}: it runs in the foreground of"
                " the hybridock process that started it"
            )
        self.containers.event(current, "attach")
        typed = stdin if config.open_stdin else None
        session = attach.Session(
            connection,
            stdin=typed,
            stdout=stdout,
            stderr=stderr,
            detach_keys=keys if config.tty else None,
        )
        try:
            with (
                connection,
                terminal.raw_mode(typed if config.tty else None),
                terminal.window_changes(
                    (stdin or stdout) if config.tty else None, session.resize, follow=handle_signals
                ),
                attach.proxied_signals(
                    current.pid or 0, enabled=handle_signals and sig_proxy and not config.tty
                ),
            ):
                return session.run()
        except attach.Detached:
            return None

    # --- control ----------------------------------------------------------------------------

    def kill(self, container: Container, sig: str | int = "SIGKILL") -> None:
        number = signal_number(sig)
        # docker: any kill keeps unless-stopped down; the stop signal or SIGKILL cancels the
        # restart its exit would bring, or the one a restarting container waits for
        cancel = number in (signal.SIGKILL, signal_number(container.config.stop_signal))
        if container.restarting:
            with self.exclusive(container) as current:
                if cancel:
                    restarts.cancel(self, current)
                else:
                    stopped_by_user(self.layout.container(current.id), cancel=False)
            return
        self.containers.require_running(container)
        if container.config.restart_policy.restarts:
            stopped_by_user(self.layout.container(container.id), cancel=cancel)
        if number == signal.SIGKILL:
            self._kill_hard(container)
            return
        self.containers.event(container, "kill", {"signal": str(number)})
        with contextlib.suppress(ProcessLookupError):
            os.kill(container.pid or 0, number)

    def _kill_hard(self, container: Container) -> None:
        """SIGKILL, then a thaw if the container is paused: a frozen process dies only once it
        runs again (docker's kill resumes a paused container after its SIGKILL too)."""
        self.containers.event(container, "kill", {"signal": str(int(signal.SIGKILL))})
        with contextlib.suppress(ProcessLookupError):
            os.kill(container.pid or 0, signal.SIGKILL)
        cgroup = cgroups.load(self.layout.container(container.id))
        if cgroup is not None and cgroup.frozen():
            with contextlib.suppress(HybridockError):
                cgroup.freeze(False)

    def top(
        self, container: Container, ps_args: Sequence[str] = ()
    ) -> tuple[list[str], list[list[str]]]:
        """docker top: the host's ``ps`` (``-ef`` unless ``ps_args``), the rows of the
        container's processes (those in its pid namespace), split as docker's daemon splits
        them: the header's columns, the last one (the command) keeping its spaces."""
        if not container.running or not container.pid:
            raise ContainerStateError(f"Container {container.id} is not running")
        own = _namespace_inode(container.pid)
        pids = {
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and own is not None and _namespace_inode(int(entry.name)) == own
        }
        import subprocess  # noqa: PLC0415 (top only)

        try:
            listing = subprocess.run(
                ["ps", *(ps_args or ("-ef",))],  # noqa: S607 - docker's top runs the host's ps
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
        except FileNotFoundError:
            raise ContainerStateError("top needs ps (Debian's procps) on the host") from None
        if listing.returncode != 0:
            detail = listing.stderr.strip() or f"exit status {listing.returncode}"
            raise ContainerStateError(f"ps: {detail}")
        lines = listing.stdout.splitlines()
        header = lines[0].split() if lines else []
        if "PID" not in header:
            raise ContainerStateError("Couldn't find PID field in ps output")
        column = header.index("PID")
        rows = []
        for line in lines[1:]:
            fields = line.split()
            if len(fields) < len(header):
                continue
            row = [*fields[: len(header) - 1], " ".join(fields[len(header) - 1 :])]
            with contextlib.suppress(ValueError):
                if int(row[column]) in pids:
                    rows.append(row)
        return header, rows

    def update(
        self,
        container: Container,
        resources: Resources,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        """docker update: the container's new limits, recorded (a later start keeps them) and,
        while it runs, written to its cgroup; and its new restart policy, which judges the
        running process's exit already (docker's UpdateMonitor)."""
        with self.exclusive(container) as current:  # not between a start's spawn and monitor
            self._update(current, resources, restart_policy)

    def _update(
        self, current: Container, resources: Resources, restart_policy: RestartPolicy | None
    ) -> None:
        config = current.config
        if restart_policy is not None and config.auto_remove and restart_policy.restarts:
            raise ContainerStateError(
                f"Cannot update container {current.id}: Restart policy cannot be updated"
                " because AutoRemove is enabled for the container"
            )
        old = config.resources
        if current.running and resources != old:
            cgroup = cgroups.load(self.layout.container(current.id))
            if cgroup is None:
                raise ContainerStateError(
                    f"Cannot update container {current.id}: it runs without a cgroup"
                )
            writes = cgroups.update_writes(cgroup.version, old, resources)
            try:
                cgroup.apply(writes)
            except HybridockError as error:
                raise ContainerStateError(
                    f"Cannot update container {current.id}: {error}"
                ) from error
        config = config._replace(resources=resources)
        if restart_policy is not None:
            config = config._replace(restart_policy=restart_policy)
            if current.running and restart_policy.restarts:
                # a monitor started without the judge runs it at the exit all the same (an
                # attached run reads the policy after the exit)
                (self.layout.container(current.id) / JUDGE_MARKER).touch()
        self.containers.replace_config(current.id, config)

    def paused(self, container: Container) -> bool:
        """Whether a running container is paused (``cgroups.paused``)."""
        return container.running and cgroups.paused(self.layout.container(container.id))

    def pause(self, container: Container) -> None:
        """docker pause: every process of the container frozen (cgroup freezer, v1 or v2)."""
        if not container.running:
            raise ContainerStateError(f"Container {container.id} is not running")
        if self.paused(container):
            raise ContainerStateError(f"Container {container.id} is already paused")
        cgroup = cgroups.load(self.layout.container(container.id))
        if cgroup is None:
            raise ContainerStateError(f"Container {container.id} has no cgroup to pause it with")
        cgroup.freeze(True)
        # docker stops probing a paused container and calls it unhealthy until a probe after
        # its unpause says otherwise
        directory = self.layout.container(container.id)
        if (health := HealthState.read(directory)) is not None:
            health._replace(status="unhealthy").write(directory)

    def unpause(self, container: Container) -> None:
        if not self.paused(container):
            raise ContainerStateError(f"Container {container.id} is not paused")
        cgroup = cgroups.load(self.layout.container(container.id))
        assert cgroup is not None  # noqa: S101 - paused means it has one
        cgroup.freeze(False)

    def stop(
        self, container: Container, timeout: int | None = None, sig: str | int | None = None
    ) -> None:
        if container.restarting:
            with self.exclusive(container) as current:
                restarts.cancel(self, current)
            return
        self._stop(container, timeout, sig)

    def _stop(
        self, container: Container, timeout: int | None = None, sig: str | int | None = None
    ) -> None:
        """``stop`` with the lifecycle lock held (or not needed)."""
        restarts.cancel(self, container)
        if not container.running:
            return
        if container.config.restart_policy.restarts:
            stopped_by_user(self.layout.container(container.id), cancel=True)
        grace = (
            timeout
            if timeout is not None
            else (
                container.config.stop_timeout
                if container.config.stop_timeout is not None
                else DEFAULT_STOP_TIMEOUT
            )
        )
        number = signal_number(sig or container.config.stop_signal)
        self.containers.event(container, "kill", {"signal": str(number)})
        with contextlib.suppress(ProcessLookupError):
            os.kill(container.pid or 0, number)
        if self._wait_exit(container, grace) is None:
            self._kill_hard(container)
            self._wait_exit(container, 10)
        self.containers.event(container, "stop")

    def _wait_exit(self, container: Container, timeout: float | None) -> Container | None:
        """The container's record once it is not running; None if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            current = self.containers.reconcile(self.containers.get(container.id))
            if not current.running:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def wait(
        self,
        container: Container,
        condition: str = "not-running",
        stop: threading.Event | None = None,
    ) -> int:
        """docker's wait conditions: ``not-running`` (at once when it is not), ``next-exit``
        (the end of a run that ends after this call: the docker CLI's ``run`` asks before its
        ``start``), ``removed`` (its record gone, as ``run --rm`` waits); the exit code of the
        run that ended. ``stop`` set (its waiter has gone): ``ContainerStateError``."""
        if condition not in WAIT_CONDITIONS:
            raise ConfigError(f"invalid condition: {condition!r}")
        first = last = self.containers.reconcile(self.containers.get(container.id))
        ran = False
        while True:
            try:
                current = self.containers.reconcile(self.containers.get(container.id))
            except ContainerNotFound:
                return self._last_exit_code(container.id, last)
            ran = ran or current.running
            if not current.running and (
                condition == "not-running"
                or (condition == "next-exit" and (ran or current.finished_at != first.finished_at))
            ):
                return current.exit_code or 0
            last = current
            if stop is None:
                time.sleep(0.05)
            elif stop.wait(0.05):
                raise ContainerStateError(f"no more waiting for {container.id}: its waiter went")

    def _last_exit_code(self, container_id: str, last: Container) -> int:
        """A removed container's last exit code: its last ``die`` event's (a --rm container's
        monitor may record the exit and remove it between two looks at its record)."""
        code = last.exit_code or 0
        for document in event_log.read(self.layout.root):
            if document.get("Action") == "die" and document["Actor"]["ID"] == container_id:
                code = int(document["Actor"]["Attributes"].get("exitCode") or 0)
        return code

    @contextlib.contextmanager
    def exclusive(self, container: Container) -> Iterator[Container]:
        """Serializes ``restart``, ``rm``, a start until the container's root is mounted, and
        ``cp`` of a stopped container (docker holds the container's lock for each); yields
        the container as it is now. Re-entrant in this process (a restart's start). A --rm
        container's monitor runs ``rm`` when the process exits: during a ``restart`` that
        ``rm`` waits, then finds the container running again and leaves it, as docker's
        restart keeps it; a start during a ``cp`` into a stopped container's upper dir or
        volumes waits for the copy to end."""
        if container.id in self._held_locks:
            yield self.containers.reconcile(self.containers.get(container.id))
            return
        try:
            fd = os.open(
                self.layout.container(container.id) / LOCK_FILE,
                os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                0o600,
            )
        except FileNotFoundError:
            # no directory: removed meanwhile (get says so), or a record whose files are gone,
            # which nothing can start, so there is no race to guard and rm may still drop it
            yield self.containers.reconcile(self.containers.get(container.id))
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._held_locks.add(container.id)
            yield self.containers.reconcile(self.containers.get(container.id))
        finally:
            self._held_locks.discard(container.id)
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def exclusive_by_id(self, container_id: str) -> Iterator[Container | None]:
        """``exclusive`` for a container that may be gone meanwhile (None then)."""
        try:
            record = self.containers.get(container_id)
        except ContainerNotFound:
            yield None
            return
        with self.exclusive(record) as current:
            yield current

    def restart(
        self, container: Container, timeout: int | None = None, sig: str | int | None = None
    ) -> int:
        with self.exclusive(container) as current:
            self._stop(current, timeout, sig)
            return self.start_detached(self.containers.get(container.id))

    def remove(self, container: Container, *, force: bool = False, volumes: bool = False) -> None:
        with self.exclusive(container) as current:
            if current.restarting:
                if not force:
                    raise ContainerStateError(
                        f"You cannot remove a restarting container {current.id}. Stop the"
                        " container before attempting removal or force remove"
                    )
                restarts.cancel(self, current)
            elif current.running:
                if not force:
                    raise ContainerStateError(
                        f'cannot remove container "/{current.name}": container is running: stop'
                        " the container before removing or force remove"
                    )
                self._kill_hard(current)
                self._wait_exit(current, 10)
            cgroups.release(self.layout.container(current.id), strict=True)
            release_network(self.layout, self.containers.db, current.id)
            self.containers.remove_record(current.id)
            discard(self.layout, self.layout.container(current.id))
            self.images.release(current.image_id)  # an image rmi -f deleted under it goes now
            if any(mount.volume for mount in current.config.mounts):
                from hybridock.runtime.volumes import VolumeStore  # noqa: PLC0415

                store = VolumeStore(self.layout, self.containers.db)
                if volumes or current.config.auto_remove:
                    store.remove_anonymous(
                        [mount.volume for mount in current.config.mounts if mount.anonymous]
                    )
                store.unmount_unused([m.volume for m in current.config.mounts if m.volume])

    # --- logs -------------------------------------------------------------------------------

    def logs(
        self,
        container: Container,
        *,
        follow: bool = False,
        tail: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[tuple[str, str, str]]:
        """(stream, time, text) records of the container's log; ``stop``, asked while a follow
        waits for more, ends it (the reader has gone)."""
        path = self.layout.container(container.id) / "container.log"
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            lines = handle.readlines()
            if tail is not None:
                lines = lines[-tail:] if tail > 0 else []
            for line in lines:
                yield from _parse_log_line(line)
            partial = b""
            while follow:
                chunk = handle.readline()
                if chunk:
                    partial += chunk
                    if partial.endswith(b"\n"):
                        yield from _parse_log_line(partial)
                        partial = b""
                    continue
                current = self.containers.reconcile(self.containers.get(container.id))
                if not current.running:
                    rest = handle.read()
                    for line in rest.splitlines(keepends=True):
                        yield from _parse_log_line(line)
                    return
                if stop is not None and stop():
                    return
                time.sleep(0.1)


def _parse_log_line(line: bytes) -> Iterator[tuple[str, str, str]]:
    try:
        record = json.loads(line)
        yield record["stream"], record["time"], record["log"]
    except (ValueError, KeyError, TypeError):
        return


class _Relay:
    """Copies the container's streams until it exits and its output is drained."""

    def __init__(
        self,
        stdio: Stdio,
        stdin: BinaryIO | None,
        stdout: BinaryIO,
        stderr: BinaryIO,
        log: _native.JsonLog | None,
    ) -> None:
        self.stdio = stdio
        self.log = log
        self.selector = selectors.DefaultSelector()
        self.selector.register(stdio.stdout_reader, selectors.EVENT_READ, ("stdout", stdout))
        if stdio.stderr_reader is not None:
            self.selector.register(stdio.stderr_reader, selectors.EVENT_READ, ("stderr", stderr))
        self.outputs = len(self.selector.get_map())
        self.stdin_target = stdio.pty_master if stdio.pty_master is not None else stdio.stdin_writer
        self.fed: int | None = None  # the read end of a pipe a thread feeds from ``stdin``
        if stdin is not None and self.stdin_target is not None:
            source, ours = terminal.readable_fd(stdin)
            self.fed = source if ours else None
            self.selector.register(source, selectors.EVENT_READ, ("stdin", None))

    def run(self, pid: int) -> int:
        """The container's wait status."""
        status: int | None = None
        try:
            while self.outputs > 0:
                events = self.selector.select(0.0 if status is not None else 0.1)
                if not events and status is not None:
                    break  # exited, and nothing more is buffered (a grandchild may hold a pipe)
                for key, _ in events:
                    self._transfer(key)
                if status is None:
                    finished, wait_status = os.waitpid(pid, os.WNOHANG)
                    status = wait_status if finished == pid else None
        finally:
            self.selector.close()
            if self.fed is not None:
                os.close(self.fed)  # its feeder, still writing, gets EPIPE and ends
        if status is None:
            _, status = os.waitpid(pid, 0)
        return status

    def _transfer(self, key: selectors.SelectorKey) -> None:
        name, target = key.data
        try:
            data = os.read(key.fd, 65536)
        except OSError as error:
            if error.errno != errno.EIO:  # EIO: a pty whose last slave closed, i.e. EOF
                raise
            data = b""
        if name == "stdin":
            self._forward_stdin(key.fd, data)
        elif not data:
            self.selector.unregister(key.fd)
            self.outputs -= 1
        else:
            if self.log is not None:
                self.log.write(name, data)
            try:
                target.write(data)
                target.flush()
            except BrokenPipeError:
                # our reader went away (`| head`): a normal end of this stream, which the
                # container learns on its next write; it is reaped and recorded as usual
                self.selector.unregister(key.fd)
                self.outputs -= 1
                if key.fd == self.stdin_target:
                    self.stdin_target = None
                self.stdio.close_reader(key.fd)

    def _forward_stdin(self, fd: int, data: bytes) -> None:
        if data and self.stdin_target is not None:
            with contextlib.suppress(BrokenPipeError):
                os.write(self.stdin_target, data)
            return
        self.selector.unregister(fd)  # our stdin ended: so does the container's (not a pty's)
        if self.stdio.stdin_writer is not None:
            os.close(self.stdio.stdin_writer)
            self.stdio.stdin_writer = None


def _probing(probe: list[str]) -> contextlib.AbstractContextManager[None]:
    """An attached run's health check timer (none without a check)."""
    if not probe:
        return contextlib.nullcontext()
    from hybridock.runtime.health import probing  # noqa: PLC0415

    return probing(probe)


def _wait_for_process(pid: int) -> None:
    """Until ``pid`` (not our child: a monitor is init's) has ended, through a pidfd."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except OSError:  # a kernel before 5.3: look now and then
        while process_alive(pid, None):
            time.sleep(0.05)
        return
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(descriptor, selectors.EVENT_READ)
            selector.select()
    finally:
        os.close(descriptor)


class IsolatedProcess(NamedTuple):
    """What ``spawn_arguments`` takes beyond a container's config: its resolved user, its
    environment, its image's layer dirs (top first), the network namespace to join (None: a
    new one or the host's) and its /etc files (``write_etc_files``)."""

    user: ResolvedUser
    env: list[str]
    layer_dirs: list[str]
    namespace: int | None
    etc: dict[str, str]


def spawn_arguments(
    layout: Layout,
    directory: Path,
    name: str,
    config: ContainerConfig,
    process: IsolatedProcess,
) -> dict[str, Any]:
    """``_native.spawn``'s arguments (but the stdio) for a process isolated as ``run``
    isolates a container (capabilities, seccomp, masked paths, cgroup, namespaces) on an
    overlay of ``process.layer_dirs`` with ``directory``'s upper/, work/ and rootfs/; its
    cgroup is named ``name``. ``run`` and the build's RUN steps both start processes so."""
    private_network = config.network != "host"
    return dict(
        argv=config.argv,
        env=process.env,
        cwd=config.working_dir,
        uid=process.user.uid,
        gid=process.user.gid,
        groups=list(process.user.groups),
        hostname=config.hostname,
        lower_dirs=process.layer_dirs,
        upper_dir=str(directory / "upper"),
        work_dir=str(directory / "work"),
        volatile=config.auto_remove,
        rootfs=str(directory / "rootfs"),
        mounts=[(m.source, m.destination, m.readonly) for m in config.mounts],
        tmpfs=list(config.tmpfs),
        network=private_network,
        network_namespace=process.namespace,
        sysctls=container_sysctls(config.sysctls, private_network=private_network),
        tty=config.tty,
        # docker leaves no_new_privs off (setuid programs in images keep working) unless
        # --security-opt no-new-privileges asks for it
        no_new_privs=config.no_new_privileges,
        # compiled for the capabilities the container keeps (includes.caps rules follow
        # --cap-add/--cap-drop); none with --privileged, as docker
        seccomp_filter=seccomp_filter(
            config.seccomp,
            config.security.capabilities(_native.DOCKER_CAPABILITIES),
            cache=layout.seccomp_cache,
        ),
        etc_hostname=process.etc["hostname"],
        etc_hosts=process.etc["hosts"],
        etc_resolv_conf=process.etc["resolv_conf"],
        init=str(init_path(layout)) if config.init else None,
        cgroup_join=cgroups.setup(
            directory,
            name,
            config.resources,
            privileged=config.security.privileged,
        ),
        **cgroupview.for_container(directory, config.cgroupns, writable=config.security.privileged),
        # moby's WithMounts: a privileged container's /sys is read-write unless its root is
        writable_sysfs=config.security.privileged and not config.security.read_only,
        **config.security.spawn_fields(_native.DOCKER_CAPABILITIES),
    )


def _spawn_prepared(
    arguments: Mapping[str, Any],
    stdio: tuple[int, int, int] | None,
    console_size: tuple[int, int] | None,
) -> _native.Spawned:
    """``_native.spawn`` of ``Runtime._prepare_spawn``'s arguments on ``stdio``."""
    return _native.spawn(
        stdio=list(stdio) if stdio is not None else None, console_size=console_size, **arguments
    )


def _fork_monitor(
    container: Container,
    arguments: Mapping[str, Any],
    monitor: tuple[str, Path],
    on_exit: list[str],
    attaching: tuple[socket.socket, tuple[int, int] | None],
    report_fd: int,
) -> None:
    """Forks the monitor-to-be (``_become_monitor``) as init's child: an intermediate child
    forks it and exits at once, and is reaped here."""
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child, reported via the pipe
        if os.fork() != 0:
            os._exit(0)
        _become_monitor(container, arguments, monitor, on_exit, attaching, report_fd)
    os.waitpid(child, 0)


def _become_monitor(
    container: Container,
    arguments: Mapping[str, Any],
    monitor: tuple[str, Path],
    on_exit: list[str],
    attaching: tuple[socket.socket, tuple[int, int] | None],
    report_fd: int,
) -> None:  # pragma: no cover - runs in the forked child
    """The forked child: spawn the container, report its pid and the monitor's (its own), exec
    the monitor (with the attach socket ``attaching`` holds, and the size its pty starts with).
    Only system calls and the native spawn: no store, no SQLite, no lock another thread may
    have held."""
    program, directory = monitor
    try:
        os.setsid()
        config = container.config
        listener, console_size = attaching
        stdio = _open_stdio(tty=config.tty, interactive=config.open_stdin)
        try:
            spawned = _spawn_prepared(arguments, stdio.child, console_size)
            stdio.use_terminal(spawned.terminal)
        finally:
            stdio.close_child_ends()
        pid = spawned.pid
        os.write(report_fd, json.dumps({"pid": pid, "monitor": os.getpid()}).encode())
        os.close(report_fd)
        # the container's stdin: a pipe with -i, the pty's master with -t (none without -i)
        stdin = stdio.pty_master if config.tty else stdio.stdin_writer
        stdin = stdin if config.open_stdin else None
        fds = (stdio.stdout_reader, stdio.stderr_reader, stdin, listener.fileno())
        for fd in fds:
            if fd is not None:
                os.set_inheritable(fd, True)
        devnull = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(devnull, target)
        numbers = [str(fd if fd is not None else -1) for fd in fds]
        os.execv(  # noqa: S606 - an argument list to our own monitor, no shell involved
            program, [program, str(directory), str(pid), *numbers, *on_exit]
        )
    except HybridockError as error:
        record = {
            "error": str(error),
            "stage": getattr(error, "stage", ""),
            "exit_code": getattr(error, "exit_code", 125),
        }
        os.write(report_fd, json.dumps(record).encode())
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.write(
                report_fd, json.dumps({"error": f"cannot start the container: {error}"}).encode()
            )
    os._exit(125)
