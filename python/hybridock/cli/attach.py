"""attach: a terminal on a detached container's streams, as ``docker attach``.

Exit codes: the container's own when it exits; 1 when it does not exist, is not running or is
paused, and after the detach keys ("read escape sequence", as docker's client says).
"""

from __future__ import annotations

import sys

import click

from hybridock.cli.context import ContainerCommandError, GoBoolCommand, State, pass_state
from hybridock.errors import ContainerNotFound, ContainerStateError


@click.command("attach", cls=GoBoolCommand, go_bools=[("--sig-proxy",)])
@click.option("--detach-keys", help="Override the key sequence for detaching a container.")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option(
    "--sig-proxy/--no-sig-proxy",
    default=True,
    show_default=True,
    help="Proxy all received signals to the process.",
)
@click.argument("container_name", metavar="CONTAINER")
@pass_state
def attach(
    state: State,
    /,
    detach_keys: str | None,
    no_stdin: bool,
    sig_proxy: bool,
    container_name: str,
) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    try:
        code = state.client.attach(
            container_name,
            stdin=None if no_stdin else sys.stdin.buffer,
            stdout=sys.stdout.buffer,
            stderr=sys.stderr.buffer,
            sig_proxy=sig_proxy,
            detach_keys=detach_keys,
            handle_signals=True,
        )
    except (ContainerNotFound, ContainerStateError) as error:
        raise ContainerCommandError(str(error), 1) from error
    if code is None:
        click.echo("read escape sequence", err=True)
        sys.exit(1)
    sys.exit(code)
