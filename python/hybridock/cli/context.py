"""The CLI's per-invocation state (the client, created on first use) and the error types of
container commands (cli/main.py prints them), and docker's --filter arguments."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import click

from hybridock.client import Client
from hybridock.errors import HybridockError, SpawnError


class State:
    def __init__(self, root: str | None) -> None:
        self.root = root

    @cached_property
    def client(self) -> Client:
        return Client(self.root)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()


pass_state = click.make_pass_decorator(State)


class ContainerCommandError(HybridockError):
    """A failure of a container command, with docker's exit code for it."""

    def __init__(self, message: str, exit_code: int = 125) -> None:
        super().__init__(message)
        self.cli_exit_code = exit_code


#: Go's strconv.ParseBool words
TRUE_WORDS = ("1", "t", "T", "true", "TRUE", "True")
FALSE_WORDS = ("0", "f", "F", "false", "FALSE", "False")


class GoBoolCommand(click.Command):
    """A command with Go bool flags (``go_bools``: each flag's spellings, e.g. ``("-p",
    "--pause")``, declared as a click ``--pause/--no-pause`` pair): bare, such a flag is true,
    and it takes a value only after ``=`` (``--pause=false``), so ``commit -p web`` names the
    container ``web``; a value Go cannot parse is docker's flag error, exit 125."""

    def __init__(self, *args: Any, go_bools: Sequence[tuple[str, ...]] = (), **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.go_bools = tuple(go_bools)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for index, argument in enumerate(args):
            if argument == "--":
                rewritten += args[index:]
                break
            name, equals, value = argument.partition("=")
            spellings = next((flag for flag in self.go_bools if name in flag), None)
            if not equals or spellings is None:
                rewritten.append(argument)
                continue
            if value not in TRUE_WORDS + FALSE_WORDS:
                raise ContainerCommandError(
                    f'invalid argument "{value}" for "{", ".join(spellings)}" flag:'
                    f' strconv.ParseBool: parsing "{value}": invalid syntax'
                )
            long_name = spellings[-1]
            rewritten.append(long_name if value in TRUE_WORDS else f"--no-{long_name[2:]}")
        return super().parse_args(ctx, rewritten)


def filter_arguments(items: Sequence[str], flag: str = "-f, --filter") -> dict[str, list[str]]:
    """docker's filters.ParseFlag: each ``name=value`` (name trimmed and lower-cased, value
    trimmed) collected by name; one without ``=`` is docker's flag error."""
    parsed: dict[str, list[str]] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals:
            raise ContainerCommandError(
                f'invalid argument "{item}" for "{flag}" flag: bad format of filter'
                " (expected name=value)"
            )
        parsed.setdefault(key.strip().lower(), []).append(value.strip())
    return parsed


class EachFailed(ContainerCommandError):
    """Some targets of a multi-target command failed: one line each, as docker's client
    collects them and prints them after the targets that succeeded, then exits 1."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages), 1)
        self.messages = messages


def fail(error: HybridockError) -> ContainerCommandError:
    code = error.exit_code if isinstance(error, SpawnError) else 125
    return ContainerCommandError(str(error), code)
