"""``commit``: a new image from a container's changes, as docker's client has it (exit 1 for
every failure)."""

from __future__ import annotations

import click

from hybridock.cli.context import State, pass_state

_BOOLEANS = {"true": True, "1": True, "t": True, "false": False, "0": False, "f": False}


def _go_bool(value: str) -> bool:
    """A pflag bool given a value (``--pause=false``): Go's strconv.ParseBool."""
    parsed = _BOOLEANS.get(value.lower())
    if parsed is None:
        raise click.BadParameter(f'invalid argument "{value}" for "-p, --pause" flag')
    return parsed


@click.command("commit", context_settings={"help_option_names": ["--help"]})
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
    "-p",
    "--pause",
    default="true",
    is_flag=False,
    flag_value="true",
    help="Pause container during commit (default true)",
)
@click.argument("container_name", metavar="CONTAINER")
@click.argument("reference", metavar="[REPOSITORY[:TAG]]", required=False)
@pass_state
def commit(
    state: State,
    /,
    author: str,
    changes: tuple[str, ...],
    message: str,
    pause: str,
    container_name: str,
    reference: str | None,
) -> None:
    """Create a new image from a container's changes."""
    image_id = state.client.commit(
        container_name,
        reference,
        author=author,
        message=message,
        changes=changes,
        pause=_go_bool(pause),
    )
    click.echo(image_id)
