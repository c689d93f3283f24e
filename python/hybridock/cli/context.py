"""The CLI's per-invocation state: the client, created on first use."""

from __future__ import annotations

from functools import cached_property

import click

from hybridock.client import Client


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
