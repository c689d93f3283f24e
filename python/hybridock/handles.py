"""docker-py's shape over ``Client``: ``client.containers``, ``client.images``,
``client.networks`` and ``client.volumes`` are collections (list, get, create, run, pull,
prune) whose items are handles with methods (``container.stop()``, ``image.remove()``).

A handle holds its record as it was last read and the client it came from; ``attrs`` is the
inspect document (built on first use, again after ``reload()``). Every method is a call of a
flat ``Client`` method, which the CLI and the Engine API service use too.

    >>> with hybridock.Client() as client:
    ...     web = client.containers.run("nginx", detach=True, name="web")
    ...     web.status
    'running'

Where docker-py's names or shapes are poor, hybridock's are used: an attached ``run`` returns
a ``RunResult`` (exit code, stdout, stderr) instead of raising on a failure; ``wait`` returns
the exit code; ``exec_run`` returns an ``ExecResult`` with both streams apart.
"""

from __future__ import annotations

import builtins
import io
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, overload

if TYPE_CHECKING:
    from hybridock.client import (
        Client,
        Container,
        HistoryEntry,
        ImageRecord,
        Network,
        PullProgress,
        RemovalReport,
        RunOptions,
        RunResult,
        Stats,
        Volume,
    )

#: a command as docker-py takes it: one string (split as a shell would) or its arguments
Command = str | Sequence[str] | None
#: environment or labels: a mapping, or "KEY=VALUE" strings
Pairs = Mapping[str, str] | Sequence[str] | None


class ExecResult(NamedTuple):
    """A process run in a container to its end: its exit code and its output."""

    exit_code: int
    stdout: bytes
    stderr: bytes


def _arguments(command: Command) -> tuple[str, ...]:
    if command is None:
        return ()
    return tuple(shlex.split(command)) if isinstance(command, str) else tuple(command)


def _pairs(pairs: Pairs) -> tuple[str, ...]:
    if pairs is None:
        return ()
    if isinstance(pairs, Mapping):
        return tuple(f"{key}={value}" for key, value in pairs.items())
    return tuple(pairs)


def _options(
    options: RunOptions | None, environment: Pairs, labels: Pairs, network: str | None
) -> RunOptions:
    from hybridock.client import RunOptions  # noqa: PLC0415 (loaded on first use)

    options = options or RunOptions()
    changes: dict[str, Any] = {}
    if environment is not None:
        changes["env"] = (*options.env, *_pairs(environment))
    if labels is not None:
        changes["labels"] = (*options.labels, *_pairs(labels))
    if network is not None:
        changes["network"] = network
    return options._replace(**changes)


class _Handle:
    """What every handle has: its client, its id, its inspect document, equality by id."""

    id: str

    def __init__(self, client: Client) -> None:
        self.client = client
        self._attrs: dict[str, Any] | None = None

    @property
    def short_id(self) -> str:
        """The id's first 12 hex digits (after ``sha256:`` for an image)."""
        return self.id.removeprefix("sha256:")[:12]

    @property
    def attrs(self) -> dict[str, Any]:
        """docker's inspect document, as of the last ``reload()`` (or first use)."""
        if self._attrs is None:
            self._attrs = self._inspect()
        return self._attrs

    def _inspect(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, _Handle) and other.id == self.id

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.short_id}>"


# --- containers -------------------------------------------------------------------------------


class ContainerHandle(_Handle):
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
            _arguments(command),
            env=_pairs(environment),
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
        chosen = _options(options, environment, labels, network)
        if command is not None:
            chosen = chosen._replace(command=_arguments(command))
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
        chosen = _options(options, environment, labels, network)
        arguments = _arguments(command)
        if detach:
            record = self.client.run_detached(
                image, arguments, name=name, remove=remove, pull=pull, options=chosen
            )
            return ContainerHandle(self.client, record)
        return self.client.run(
            image, arguments, name=name, remove=remove, pull=pull, options=chosen
        )

    def prune(self) -> builtins.list[str]:
        """Remove every container that is not running; their ids.

        >>> client.containers.prune()
        ['3f2a...']
        """
        removed, _ = self.client.prune_containers()
        return removed


# --- images -----------------------------------------------------------------------------------


class ImageHandle(_Handle):
    """An image: ``record`` is its ``ImageRecord`` as last read."""

    def __init__(self, client: Client, record: ImageRecord) -> None:
        super().__init__(client)
        self.record = record
        self.id = record.id

    @property
    def tags(self) -> list[str]:
        """Its tags as docker shows them.

        >>> client.images.get("busybox").tags
        ['busybox:latest']
        """
        from hybridock.reference import Reference  # noqa: PLC0415

        return [Reference.parse(tag).familiar for tag in self.record.tags]

    @property
    def labels(self) -> dict[str, str]:
        """Its config's labels.

        >>> client.images.get("nginx").labels
        {'maintainer': 'NGINX Docker Maintainers <docker-maint@nginx.com>'}
        """
        return dict((self.record.config.get("config") or {}).get("Labels") or {})

    def _inspect(self) -> dict[str, Any]:
        return self.client.inspect_image(self.record)

    def reload(self) -> None:
        """Read its record again (``tags``, ``attrs``).

        >>> image.reload()
        """
        self.record = self.client.image(self.id)
        self._attrs = None

    def history(self) -> list[HistoryEntry]:
        """docker's ``history`` of it, newest step first.

        >>> [step.size for step in client.images.get("busybox").history()]
        [0, 4261550]
        """
        return self.client.image_history(self.id)

    def remove(self, *, force: bool = False) -> RemovalReport:
        """Delete it with all its tags, as ``rmi -f ID`` (``force``: also while a stopped
        container uses it); what was untagged and deleted.

        >>> client.images.get("busybox").remove().deleted
        ['sha256:...']
        """
        return self.client.remove_image(self.id, force=force)


class ImageCollection:
    """``client.images``: list, get, pull, remove and prune images."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, name: str) -> ImageHandle:
        """An image by reference, id or id prefix (``ImageNotFound`` otherwise).

        >>> client.images.get("busybox").short_id
        'b54c4f6a43fa'
        """
        return ImageHandle(self.client, self.client.image(name))

    def list(self) -> list[ImageHandle]:
        """Every stored image.

        >>> [image.tags for image in client.images.list()]
        [['busybox:latest']]
        """
        return [ImageHandle(self.client, record) for record in self.client.list_images()]

    def pull(
        self,
        reference: str,
        *,
        platform: str | None = None,
        progress: PullProgress | None = None,
    ) -> ImageHandle:
        """Pull an image (only the layers not already stored); the image pulled.

        >>> client.images.pull("busybox:1.36").tags
        ['busybox:1.36']
        """
        result = self.client.pull(reference, platform=platform, progress=progress)
        return ImageHandle(self.client, self.client.image(result.image_id))

    def remove(self, name: str, *, force: bool = False) -> RemovalReport:
        """``rmi``: untag ``name`` (and delete the image when nothing else refers to it).

        >>> client.images.remove("busybox:1.36").untagged
        ['busybox:1.36']
        """
        return self.client.remove_image(name, force=force)

    def prune(self, *, all_unused: bool = False) -> RemovalReport:
        """Delete dangling images (``all_unused``: every image no container uses).

        >>> client.images.prune(all_unused=True).deleted
        ['sha256:...']
        """
        return self.client.prune_images(all_unused=all_unused)


# --- networks ---------------------------------------------------------------------------------


class NetworkHandle(_Handle):
    """A network: ``record`` is its ``Network`` record."""

    def __init__(self, client: Client, record: Network) -> None:
        super().__init__(client)
        self.record = record
        self.id = record.id

    @property
    def name(self) -> str:
        """Its name.

        >>> client.networks.get("bridge").name
        'bridge'
        """
        return self.record.name

    @property
    def containers(self) -> list[ContainerHandle]:
        """The running containers on it.

        >>> [c.name for c in client.networks.get("backend").containers]
        ['api']
        """
        return [
            ContainerHandle(self.client, record)
            for record, _ in self.client.network_containers(self.record)
        ]

    def _inspect(self) -> dict[str, Any]:
        return self.client.inspect_network(self.record)

    def reload(self) -> None:
        """Read its record again (``attrs``).

        >>> network.reload()
        """
        self.record = self.client.network(self.id)
        self._attrs = None

    def connect(
        self, container: ContainerHandle | str, *, aliases: Sequence[str] = (), ip: str = ""
    ) -> None:
        """The container joins it now if running, and at every start.

        >>> client.networks.get("backend").connect("web", aliases=["api"])
        """
        target = container.id if isinstance(container, ContainerHandle) else container
        self.client.connect_network(self.id, target, aliases=aliases, ip=ip)

    def disconnect(self, container: ContainerHandle | str) -> None:
        """The container leaves it.

        >>> client.networks.get("backend").disconnect("web")
        """
        target = container.id if isinstance(container, ContainerHandle) else container
        self.client.disconnect_network(self.id, target)

    def remove(self) -> None:
        """Delete it (refused for the predefined ones and while a container uses it).

        >>> client.networks.get("backend").remove()
        """
        self.client.remove_network(self.id)


class NetworkCollection:
    """``client.networks``: list, get, create and prune networks."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, name: str) -> NetworkHandle:
        """A network by name, id or unique id prefix (``NetworkNotFound`` otherwise).

        >>> client.networks.get("bridge").attrs["Driver"]
        'bridge'
        """
        return NetworkHandle(self.client, self.client.network(name))

    def list(self) -> list[NetworkHandle]:
        """Every network: docker's predefined ones and the user's.

        >>> [n.name for n in client.networks.list()]
        ['bridge', 'host', 'none']
        """
        return [NetworkHandle(self.client, record) for record in self.client.list_networks()]

    def create(
        self,
        name: str,
        *,
        driver: str = "bridge",
        subnet: str | None = None,
        gateway: str | None = None,
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> NetworkHandle:
        """A bridge network whose containers resolve each other by name.

        >>> client.networks.create("backend", subnet="10.20.0.0/24").name
        'backend'
        """
        record = self.client.create_network(
            name,
            driver=driver,
            subnet=subnet,
            gateway=gateway,
            internal=internal,
            labels=labels,
            options=options,
        )
        return NetworkHandle(self.client, record)

    def prune(self) -> builtins.list[str]:
        """Remove the user's networks no container names; their names.

        >>> client.networks.prune()
        ['backend']
        """
        return self.client.prune_networks()


# --- volumes ----------------------------------------------------------------------------------


class VolumeHandle(_Handle):
    """A volume: ``record`` is its ``Volume`` record; its id is its name."""

    def __init__(self, client: Client, record: Volume) -> None:
        super().__init__(client)
        self.record = record
        self.id = record.name

    @property
    def name(self) -> str:
        """Its name.

        >>> client.volumes.create("pgdata").name
        'pgdata'
        """
        return self.record.name

    @property
    def short_id(self) -> str:
        """Its name (docker-py's short id of a volume)."""
        return self.record.name

    def _inspect(self) -> dict[str, Any]:
        return self.client.inspect_volume(self.record)

    def reload(self) -> None:
        """Read its record again (``attrs``).

        >>> volume.reload()
        """
        self.record = self.client.volume(self.id)
        self._attrs = None

    def remove(self, *, force: bool = False) -> None:
        """Delete it (refused while a container mounts it).

        >>> client.volumes.get("pgdata").remove()
        """
        self.client.remove_volume(self.id, force=force)


class VolumeCollection:
    """``client.volumes``: list, get, create and prune volumes."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, name: str) -> VolumeHandle:
        """A volume by name (``VolumeNotFound`` otherwise).

        >>> client.volumes.get("pgdata").attrs["Mountpoint"]
        '/var/lib/hybridock/volumes/pgdata/_data'
        """
        return VolumeHandle(self.client, self.client.volume(name))

    def list(self) -> list[VolumeHandle]:
        """Every volume, by name.

        >>> [v.name for v in client.volumes.list()]
        ['pgdata']
        """
        return [VolumeHandle(self.client, record) for record in self.client.list_volumes()]

    def create(
        self,
        name: str | None = None,
        *,
        driver: str = "local",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> VolumeHandle:
        """A new volume (a random name when none), or the existing one of that name.

        >>> client.volumes.create("pgdata", labels={"tier": "db"}).name
        'pgdata'
        """
        record = self.client.create_volume(name, driver=driver, labels=labels, options=options)
        return VolumeHandle(self.client, record)

    def prune(self, *, labels: Sequence[str] = ()) -> tuple[builtins.list[str], int]:
        """Remove every volume no container mounts (with ``labels``, "KEY" or "KEY=VALUE",
        only those that have each); their names and the bytes they held.

        >>> client.volumes.prune()
        (['pgdata'], 41234432)
        """
        return self.client.prune_volumes(labels=labels)
