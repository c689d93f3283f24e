"""``commit``: a new image from a container's changes, as docker's client has it (exit 1 for
every failure)."""

from __future__ import annotations

from typing import Any

import click

from hybridock.cli.context import ContainerCommandError, State, pass_state

_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")
_PAUSE = ("-p", "--pause")


class _PauseCommand(click.Command):
    """``-p``/``--pause`` is a Go bool flag: bare it is true, and it takes a value only after
    ``=`` (``--pause=false``), so ``commit -p web`` names the container ``web``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rewritten = []
        for argument in args:
            name, equals, value = argument.partition("=")
            if equals and name in _PAUSE:
                if value not in _TRUE + _FALSE:
                    raise ContainerCommandError(
                        f'invalid argument "{value}" for "-p, --pause" flag:'
                        f' strconv.ParseBool: parsing "{value}": invalid syntax'
                    )
                rewritten.append("--pause" if value in _TRUE else "--no-pause")
            else:
                rewritten.append(argument)
        return super().parse_args(ctx, rewritten)


@click.command("commit", cls=_PauseCommand, context_settings={"help_option_names": ["--help"]})
@click.option(
    "-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")'
)
@click.option(
    "-c",
    "--change",
    "changes",
    multiple=True,
    help="Apply Dockerfile instruction to the created image",
)
@click.option("-m", "--message", default="", help="Commit message")
@click.option(
    "-p", "--pause", is_flag=True, default=True, help="Pause container during commit (default true)"
)
@click.option("--no-pause", is_flag=True, hidden=True)
@click.argument("container_name", metavar="CONTAINER")
@click.argument("reference", metavar="[REPOSITORY[:TAG]]", required=False)
@pass_state
def commit(state: State, /, **options: Any) -> None:
    """Create a new image from a container's changes."""
    image_id = state.client.commit(
        options["container_name"],
        options["reference"],
        author=options["author"],
        message=options["message"],
        changes=options["changes"],
        pause=not options["no_pause"],
    )
    click.echo(image_id)
