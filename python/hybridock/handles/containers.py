"""``client.containers`` and its handles."""

from __future__ import annotations

import builtins
import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from hybridock.handles.common import (
    Command,
    ExecResult,
    Handle,
    Pairs,
    arguments,
    pairs,
    run_options,
)

if TYPE_CHECKING:
    from hybridock.client import Client, Container, RunOptions, RunResult, Stats
    from hybridock.handles.images import ImageHandle


class ContainerHandle(Handle):
    """A container: ``record`` is its ``Container`` record as last read."""

    def __init__(self, client: Client, record: Container) -> None:
        super().__init__(client)
        self.record = record
        self.id = record.id

    @property
    def name(self) -> str:
        """Its name, without docker's leading slash.

        >>> client.containers.get("web").name
        'web'
        """
        return self.record.name

    @property
    def status(self) -> str:
        """created, running, paused, restarting or exited, as of the last ``reload()``.

        >>> client.containers.get("web").status
        'running'
        """
        if self.record.running and self.client.paused(self.record):
            return "paused"
        return self.record.state

    @property
    def labels(self) -> dict[str, str]:
        """Its labels (the image's and its own).

        >>> client.containers.get("web").labels
        {'tier': 'web'}
        """
        return dict(self.record.config.labels)

    def _inspect(self) -> dict[str, Any]:
        return self.client.inspect_container(self.record)

    def reload(self) -> None:
        """Read its record again (``status``, ``attrs``).

        >>> job.reload()
        """
        self.record = self.client.container(self.id)
        self._attrs = None

    def start(self) -> None:
        """Start it in the background, under its monitor.

        >>> client.containers.create("busybox", "sleep 60").start()
        """
        self.client.start(self.id)
        self.reload()

    def stop(self, timeout: int | None = None, signal: str | int | None = None) -> None:
        """Its stop signal, then SIGKILL after ``timeout`` seconds; returns once it exited.

        >>> web.stop(timeout=2)
        """
        self.client.stop(self.id, timeout, signal)
        self.reload()

    def kill(self, signal: str | int = "SIGKILL") -> None:
        """Send a signal to its process.

        >>> web.kill("HUP")
        """
        self.client.kill(self.id, signal)
        self.reload()

    def restart(self, timeout: int | None = None) -> None:
        """``stop``, then ``start``.

        >>> web.restart(timeout=2)
        """
        self.client.restart(self.id, timeout)
        self.reload()

    def pause(self) -> None:
        """Freeze its processes.

        >>> web.pause()
        """
        self.client.pause(self.id)

    def unpause(self) -> None:
        """Thaw its processes.

        >>> web.unpause()
        """
        self.client.unpause(self.id)

    def rename(self, name: str) -> None:
        """Give it a new name.

        >>> web.rename("frontend")
        """
        self.client.rename(self.id, name)
        self.reload()

    def wait(self) -> int:
        """Block until it is not running; its exit code.

        >>> client.containers.run("busybox", "false", detach=True).wait()
        1
        """
        code = self.client.wait(self.id)
        self.reload()
        return code

    @overload
    def logs(
        self,
        *,
        stream: Literal[False] = False,
        follow: bool | None = None,
        tail: int | None = None,
        stdout: bool = True,
        stderr: bool = True,
    ) -> bytes: ...

    @overload
    def logs(
        self,
        *,
        stream: Literal[True],
        follow: bool | None = None,
        tail: int | None = None,
        stdout: bool = True,
        stderr: bool = True,
    ) -> Iterator[bytes]: ...

    def logs(
        self,
        *,
        stream: bool = False,
        follow: bool | None = None,
        tail: int | None = None,
        stdout: bool = True,
        stderr: bool = True,
    ) -> bytes | Iterator[bytes]:
        """Its log: all of it as bytes, or (``stream``) line by line as it comes, following it
        until it exits unless ``follow=False`` (docker-py's defaults); ``tail``: the last N
        lines; ``stdout``/``stderr`` choose the streams.

        >>> client.containers.run("busybox", "echo hi", detach=True).logs()
        b'hi\\n'
        >>> for line in web.logs(stream=True): ...
        """
        wanted = {name for name, on in (("stdout", stdout), ("stderr", stderr)) if on}
        lines = (
            text.encode()
            for source, _, text in self.client.logs(
                self.id, follow=stream if follow is None else follow, tail=tail
            )
            if source in wanted
        )
        return lines if stream else b"".join(lines)

    def exec_run(
        self,
        command: Command,
        *,
        environment: Pairs = None,
        user: str | None = None,
        workdir: str | None = None,
        privileged: bool = False,
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Run a process in it to its end (``stdin``: bytes fed to it); its exit code and
        output.

        >>> web.exec_run("cat /etc/hostname").stdout
        b'3f2a1b2c3d4e\\n'
        """
        from hybridock.client import ExecOptions  # noqa: PLC0415 (loaded on first use)

        options = ExecOptions(
            arguments(command),
            env=pairs(environment),
            user=user,
            workdir=workdir,
            privileged=privileged,
            interactive=stdin is not None,
        )
        out, err = io.BytesIO(), io.BytesIO()
        code = self.client.exec(
            self.id,
            options,
            stdin=io.BytesIO(stdin) if stdin is not None else None,
            stdout=out,
            stderr=err,
        )
        return ExecResult(code, out.getvalue(), err.getvalue())

    def top(self, ps_args: Sequence[str] = ()) -> tuple[list[str], list[list[str]]]:
        """Its processes as the host's ``ps`` shows them: (header, rows).

        >>> web.top()[0]
        ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']
        """
        return self.client.top(self.id, ps_args)

    def stats(self) -> Stats:
        """Its counters from its cgroups (zero when not running).

        >>> web.stats().memory_usage
        2207744
        """
        return self.client.stats(self.id)

    def commit(
        self,
        repository: str | None = None,
        tag: str | None = None,
        *,
        message: str | None = None,
        author: str | None = None,
        pause: bool = True,
        changes: str | Sequence[str] | None = None,
        conf: dict[str, Any] | None = None,
    ) -> ImageHandle:
        """A new image of its changes (docker-py's ``commit``; ``changes``: Dockerfile
        instructions, one string or many; ``conf``: a container config to commit instead).

        >>> web.commit("web", "snapshot", message="before the upgrade").tags
        ['web:snapshot']
        """
        reference = f"{repository}:{tag}" if repository and tag else repository
        steps = [changes] if isinstance(changes, str) else list(changes or ())
        image_id = self.client.commit(
            self.id,
            reference,
            author=author,
            message=message,
            changes=steps,
            pause=pause,
            config=conf,
        )
        return self.client.images.get(image_id)

    def remove(self, *, force: bool = False, volumes: bool = False) -> None:
        """Delete it (``force``: kill it first; ``volumes``: its anonymous volumes too).

        >>> web.remove(force=True)
        """
        self.client.remove_container(self.id, force=force, volumes=volumes)


class ContainerCollection:
    """``client.containers``: list, get, create and run containers."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, name: str) -> ContainerHandle:
        """A container by id, unique id prefix or name (``ContainerNotFound`` otherwise).

        >>> client.containers.get("web").id
        '3f2a...'
        """
        return ContainerHandle(self.client, self.client.container(name))

    def list(self, *, all: bool = False) -> list[ContainerHandle]:
        """Running containers (and those waiting to restart), newest first; ``all``: every
        one, as ``ps -a``.

        >>> [c.name for c in client.containers.list(all=True)]
        ['web', 'job']
        """
        records = self.client.list_containers(all_states=all)
        return [ContainerHandle(self.client, record) for record in records]

    def create(
        self,
        image: str,
        command: Command = None,
        *,
        name: str | None = None,
        environment: Pairs = None,
        labels: Pairs = None,
        network: str | None = None,
        options: RunOptions | None = None,
    ) -> ContainerHandle:
        """A ``created`` container of ``image`` (pulled when missing); ``options`` carry
        docker's other flags.

        >>> client.containers.create("busybox", "sleep 60", name="later").status
        'created'
        """
        chosen = run_options(options, environment, labels, network)
        if command is not None:
            chosen = chosen._replace(command=arguments(command))
        return ContainerHandle(
            self.client, self.client.create_container(image, options=chosen, name=name)
        )

    @overload
    def run(
        self,
        image: str,
        command: Command = None,
        *,
        detach: Literal[True],
        name: str | None = None,
        remove: bool = False,
        environment: Pairs = None,
        labels: Pairs = None,
        network: str | None = None,
        pull: str = "missing",
        options: RunOptions | None = None,
    ) -> ContainerHandle: ...

    @overload
    def run(
        self,
        image: str,
        command: Command = None,
        *,
        detach: Literal[False] = False,
        name: str | None = None,
        remove: bool = False,
        environment: Pairs = None,
        labels: Pairs = None,
        network: str | None = None,
        pull: str = "missing",
        options: RunOptions | None = None,
    ) -> RunResult: ...

    def run(
        self,
        image: str,
        command: Command = None,
        *,
        detach: bool = False,
        name: str | None = None,
        remove: bool = False,
        environment: Pairs = None,
        labels: Pairs = None,
        network: str | None = None,
        pull: str = "missing",
        options: RunOptions | None = None,
    ) -> ContainerHandle | RunResult:
        """Create and run a container: ``detach`` leaves it running in the background and
        returns its handle; otherwise it runs to its end with its output captured and the
        ``RunResult`` says its exit code and output (a failure is not an exception).
        ``remove`` deletes it at its end (``--rm``).

        >>> client.containers.run("busybox", "echo hi").stdout
        b'hi\\n'
        >>> client.containers.run("busybox", ["sleep", "60"], detach=True).status
        'running'
        """
        chosen = run_options(options, environment, labels, network)
        argv = arguments(command)
        if detach:
            record = self.client.run_detached(
                image, argv, name=name, remove=remove, pull=pull, options=chosen
            )
            return ContainerHandle(self.client, record)
        return self.client.run(image, argv, name=name, remove=remove, pull=pull, options=chosen)

    def prune(self) -> builtins.list[str]:
        """Remove every container that is not running; their ids.

        >>> client.containers.prune()
        ['3f2a...']
        """
        removed, _ = self.client.prune_containers()
        return removed
