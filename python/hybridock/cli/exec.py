"""exec: run a command in a running container, as ``docker exec`` does.

Exit codes: the command's own; 126/127 when it cannot be executed / was not found; 125 when
hybridock itself fails; 1 when the container does not exist or is not running (as docker).
"""

from __future__ import annotations

import dataclasses
import sys

import click

from hybridock.cli.context import ContainerCommandError, State, fail, pass_state
from hybridock.client import ExecOptions
from hybridock.errors import ContainerNotFound, ContainerStateError, HybridockError


@click.command(
    "exec",
    context_settings={"allow_interspersed_args": False, "help_option_names": ["--help"]},
)
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>]).")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.argument("container_name", metavar="CONTAINER")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_state
def exec_command(
    state: State,
    /,
    detach: bool,
    env: tuple[str, ...],
    env_file: tuple[str, ...],
    interactive: bool,
    privileged: bool,
    tty: bool,
    user: str | None,
    workdir: str | None,
    container_name: str,
    command: tuple[str, ...],
) -> None:
    """Execute a command in a running container."""
    client = state.client
    try:
        client.require_root()
    except HybridockError as error:
        raise fail(error) from error
    options = ExecOptions(
        command=command,
        env=env,
        env_files=env_file,
        user=user,
        workdir=workdir,
        privileged=privileged,
        interactive=interactive,
        tty=tty,
    )
    try:
        container = client.running_container(container_name)
    except (ContainerNotFound, ContainerStateError) as error:
        raise ContainerCommandError(str(error), 1) from error
    # as docker's client: after the container is found, before anything starts
    if not detach and interactive and tty and not sys.stdin.isatty():
        raise ContainerCommandError("the input device is not a TTY", 1)
    try:
        if detach:
            client.exec_detached(container, dataclasses.replace(options, tty=False))
            return
        stdin = sys.stdin.buffer if options.interactive else None
        code = client.exec(
            container,
            options,
            stdin=stdin,
            stdout=sys.stdout.buffer,
            stderr=sys.stderr.buffer,
            handle_signals=True,
        )
    except ContainerStateError as error:
        raise ContainerCommandError(str(error), 1) from error
    except HybridockError as error:
        raise fail(error) from error
    sys.exit(code)
