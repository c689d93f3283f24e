"""What every handle and collection shares: the handle's base, docker-py's argument forms."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from hybridock.client import Client, RunOptions

#: a command as docker-py takes it: one string (split as a shell would) or its arguments
Command = str | Sequence[str] | None
#: environment or labels: a mapping, or "KEY=VALUE" strings
Pairs = Mapping[str, str] | Sequence[str] | None


class ExecResult(NamedTuple):
    """A process run in a container to its end: its exit code and its output."""

    exit_code: int
    stdout: bytes
    stderr: bytes


def arguments(command: Command) -> tuple[str, ...]:
    """A command's arguments (a string split as a shell would)."""
    if command is None:
        return ()
    return tuple(shlex.split(command)) if isinstance(command, str) else tuple(command)


def pairs(given: Pairs) -> tuple[str, ...]:
    """Environment or labels as docker's flags give them: "KEY=VALUE" strings."""
    if given is None:
        return ()
    if isinstance(given, Mapping):
        return tuple(f"{key}={value}" for key, value in given.items())
    return tuple(given)


def run_options(
    options: RunOptions | None, environment: Pairs, labels: Pairs, network: str | None
) -> RunOptions:
    """``options`` with docker-py's keyword arguments added (environment and labels after
    the options' own, a network instead of theirs)."""
    from hybridock.client import RunOptions  # noqa: PLC0415 (loaded on first use)

    options = options or RunOptions()
    changes: dict[str, Any] = {}
    if environment is not None:
        changes["env"] = (*options.env, *pairs(environment))
    if labels is not None:
        changes["labels"] = (*options.labels, *pairs(labels))
    if network is not None:
        changes["network"] = network
    return options._replace(**changes)


class Handle:
    """What every handle has: its client, its id, its inspect document, equality by id."""

    id: str

    def __init__(self, client: Client) -> None:
        self.client = client
        self._attrs: dict[str, Any] | None = None

    @property
    def short_id(self) -> str:
        """The id's first 12 hex digits (after ``sha256:`` for an image).

        >>> client.images.get("busybox").short_id
        'b54c4f6a43fa'
        """
        return self.id.removeprefix("sha256:")[:12]

    @property
    def attrs(self) -> dict[str, Any]:
        """docker's inspect document, as of the last ``reload()`` (or first use).

        >>> client.containers.get("web").attrs["State"]["Running"]
        True
        """
        if self._attrs is None:
            self._attrs = self._inspect()
        return self._attrs

    def _inspect(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Handle) and other.id == self.id

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.short_id}>"
