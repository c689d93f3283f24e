"""cp, diff and export: files in and out of containers, as docker's client has them.

Exit codes as docker's: 1 for every failure (a bad argument, an unknown container, a path
that is not there).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from hybridock.cli.context import State, pass_state
from hybridock.errors import ContainerNotFound, FileCopyError


def split_container_path(argument: str) -> tuple[str | None, str]:
    """docker's ``splitCpArg``: ``CONTAINER:PATH``, unless the argument is a local path
    (absolute, or starting with ``.``) or has no colon."""
    if argument.startswith(("/", ".")) or ":" not in argument:
        return None, argument
    container, _, path = argument.partition(":")
    return container, path


@click.command("cp", context_settings={"help_option_names": ["--help"]})
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@click.argument("source", metavar="SRC_PATH")
@click.argument("destination", metavar="DEST_PATH")
@pass_state
def cp(state: State, /, archive: bool, follow_link: bool, source: str, destination: str) -> None:
    """Copy files/folders between a container and the local filesystem.

    Use '-' as the source to read a tar archive from stdin and extract it to a directory
    destination in a container. Use '-' as the destination to stream a tar archive of a
    container source to stdout.
    """
    source_container, source_path = split_container_path(source)
    destination_container, destination_path = split_container_path(destination)
    if source_container is not None and destination_container is not None:
        raise FileCopyError("copying between containers is not supported")
    if source_container is None and destination_container is None:
        raise FileCopyError("must specify at least one container source")
    try:
        _copy(
            state,
            source_container,
            source_path,
            destination_container,
            destination_path,
            archive=archive,
            follow_link=follow_link,
        )
    except ContainerNotFound:
        container, path = (
            (source_container, source_path)
            if source_container is not None
            else (destination_container, destination_path)
        )
        raise FileCopyError(f"No such container:path: {container}:{path}") from None


def _copy(
    state: State,
    source_container: str | None,
    source_path: str,
    destination_container: str | None,
    destination_path: str,
    *,
    archive: bool,
    follow_link: bool,
) -> None:
    client = state.client
    if source_container is not None:
        path = source_path or "/"
        if destination_path == "-":
            client.copy_from_container(
                source_container, path, sys.stdout.buffer, archive=archive, follow_link=follow_link
            )
            sys.stdout.buffer.flush()
            return
        client.copy_from_container(
            source_container, path, destination_path, archive=archive, follow_link=follow_link
        )
        return
    assert destination_container is not None  # noqa: S101 - one side is a container
    client.copy_to_container(
        destination_container,
        sys.stdin.buffer if source_path == "-" else source_path,
        destination_path or "/",
        archive=archive,
        follow_link=follow_link,
    )


@click.command("diff", context_settings={"help_option_names": ["--help"]})
@click.argument("container_name", metavar="CONTAINER")
@pass_state
def diff(state: State, /, container_name: str) -> None:
    """Inspect changes to files or directories on a container's filesystem."""
    for kind, path in state.client.container_changes(container_name):
        click.echo(f"{kind} {path}")


@click.command("export", context_settings={"help_option_names": ["--help"]})
@click.option("-o", "--output", help="Write to a file, instead of STDOUT.")
@click.argument("container_name", metavar="CONTAINER")
@pass_state
def export(state: State, /, output: str | None, container_name: str) -> None:
    """Export a container's filesystem as a tar archive."""
    client = state.client
    if output is None:
        if sys.stdout.isatty():
            raise FileCopyError(
                "cowardly refusing to save to a terminal. Use the -o flag or redirect"
            )
        client.export_container(container_name, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    record = client.container(container_name)
    partial = Path(f"{output}.partial-{os.getpid()}")
    try:
        with partial.open("wb") as out:
            client.export_container(record, out)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
