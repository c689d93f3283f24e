"""The CLI's lazy command tables: every name resolves to a command of that name's module."""

from __future__ import annotations

import click
import pytest

from hybridock.cli import main

TABLES = {
    "hybridock": (main.main, main.COMMANDS),
    "hybridock container": (main.container_group, main.CONTAINER_COMMANDS),
    "hybridock image": (main.image_group, main.IMAGE_COMMANDS),
}


@pytest.mark.parametrize("group", sorted(TABLES))
def test_every_command_in_the_table_loads(group: str) -> None:
    command, table = TABLES[group]
    assert isinstance(command, click.Group)
    context = click.Context(command)
    assert command.list_commands(context) == sorted(table)
    for name in table:
        assert isinstance(command.get_command(context, name), click.Command), name
    assert command.get_command(context, "no-such-command") is None


def test_docker_management_spellings() -> None:
    context = click.Context(main.container_group)
    assert main.container_group.get_command(context, "ls") is main.main.get_command(
        click.Context(main.main), "ps"
    )
    image_context = click.Context(main.image_group)
    assert main.image_group.get_command(image_context, "rm") is main.main.get_command(
        click.Context(main.main), "rmi"
    )
