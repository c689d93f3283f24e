"""``commit``: a new image from a container's changes, as docker's client has it (exit 1 for
every failure)."""

from __future__ import annotations

from typing import Any

import click

from hybridock.cli.context import GoBoolCommand, State, pass_state


@click.command(
    "commit",
    cls=GoBoolCommand,
    go_bools=[("-p", "--pause")],
    context_settings={"help_option_names": ["--help"]},
)
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
    "-p", "--pause/--no-pause", default=True, help="Pause container during commit (default true)"
)
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
        pause=options["pause"],
    )
    click.echo(image_id)
