"""volume create/ls/inspect/rm/prune: as docker 20.10's.

Exit codes as docker's client: 1 for a failed volume command (no such volume, in use, a bad
name), with one line per target that failed after the others were done.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from hybridock.cli.context import ContainerCommandError, EachFailed, State, pass_state
from hybridock.cli.output import formatted, human_size
from hybridock.errors import HybridockError

if TYPE_CHECKING:
    from hybridock.client import Volume

VOLUME_HEADERS = {
    "Name": "VOLUME NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
}
VOLUME_TABLE = "table {{.Driver}}\t{{.Name}}"
FILTERS = ("dangling", "name", "label", "driver")
DANGLING = {"true": True, "1": True, "false": False, "0": False}


def _no_such(name: str, error: HybridockError) -> str:
    from hybridock.client import VolumeNotFound  # noqa: PLC0415

    return f"No such volume: {name}" if isinstance(error, VolumeNotFound) else str(error)


@click.group("volume")
def volume_group() -> None:
    """Manage volumes."""


@volume_group.command("create")
@click.option("-d", "--driver", default="local", show_default=True, help="Volume driver name.")
@click.option("--label", multiple=True, help="Set metadata for a volume.")
@click.option("-o", "--opt", multiple=True, help="Set driver specific options.")
@click.argument("name", required=False)
@pass_state
def create(
    state: State, driver: str, label: tuple[str, ...], opt: tuple[str, ...], name: str | None
) -> None:
    """Create a volume."""
    try:
        volume = state.client.create_volume(
            name,
            driver=driver,
            labels=dict(item.partition("=")[::2] for item in label),
            options=dict(item.partition("=")[::2] for item in opt),
        )
    except HybridockError as error:
        raise ContainerCommandError(str(error), 1) from error
    click.echo(volume.name)


def _filters(filters: tuple[str, ...]) -> list[tuple[str, str]]:
    parsed = []
    for item in filters:
        key, _, value = item.partition("=")
        if key not in FILTERS:
            raise ContainerCommandError(f"Invalid filter '{key}'", 1)
        if key == "dangling" and value not in DANGLING:
            raise ContainerCommandError(f"Invalid filter 'dangling=[{value}]'", 1)
        parsed.append((key, value))
    return parsed


def _matches(volume: Volume, filters: list[tuple[str, str]], unused: set[str]) -> bool:
    """docker's filters: the same key ORs its values, different keys AND."""
    by_key: dict[str, list[str]] = {}
    for key, value in filters:
        by_key.setdefault(key, []).append(value)
    for key, values in by_key.items():
        if key == "dangling":
            matched = any(DANGLING[value] == (volume.name in unused) for value in values)
        elif key == "name":
            matched = any(value in volume.name for value in values)
        elif key == "driver":
            matched = volume.driver in values
        else:
            matched = any(volume.has_label(value) for value in values)
        if not matched:
            return False
    return True


@volume_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values.")
@click.option("--format", "output_format", help="Pretty-print volumes using a Go template.")
@pass_state
def ls(state: State, quiet: bool, filters: tuple[str, ...], output_format: str | None) -> None:
    """List volumes."""
    parsed = _filters(filters)
    unused = {volume.name for volume in state.client.unused_volumes()}
    documents = [
        state.client.inspect_volume(volume)
        for volume in state.client.list_volumes()
        if _matches(volume, parsed, unused)
    ]
    rows = [
        {
            "Name": document["Name"],
            "Driver": document["Driver"],
            "Scope": document["Scope"],
            "Mountpoint": document["Mountpoint"],
            "Labels": ",".join(f"{k}={v}" for k, v in (document["Labels"] or {}).items()),
            "Links": "N/A",
            "Size": "N/A",
        }
        for document in documents
    ]
    if quiet:
        for row in rows:
            click.echo(row["Name"])
        return
    for line in formatted(rows, output_format or "table", VOLUME_HEADERS, VOLUME_TABLE):
        click.echo(line)


@volume_group.command("inspect")
@click.option("-f", "--format", "output_format", help="Format the output using a Go template.")
@click.argument("names", nargs=-1, required=True, metavar="VOLUME [VOLUME...]")
@pass_state
def inspect(state: State, output_format: str | None, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes."""
    documents = []
    failures = []
    for name in names:
        try:
            documents.append(state.client.inspect_volume(name))
        except HybridockError as error:
            failures.append(_no_such(name, error))
    from hybridock.cli.containers import show_documents  # noqa: PLC0415

    show_documents(documents, output_format, failures)


@volume_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes.")
@click.argument("names", nargs=-1, required=True, metavar="VOLUME [VOLUME...]")
@pass_state
def rm(state: State, force: bool, names: tuple[str, ...]) -> None:
    """Remove one or more volumes."""
    failures = []
    for name in names:
        try:
            state.client.remove_volume(name, force=force)
        except HybridockError as error:
            failures.append(_no_such(name, error))
        else:
            click.echo(name)
    if failures:
        raise EachFailed(failures)


@volume_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values.")
@pass_state
def prune(state: State, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all unused local volumes."""
    labels = []
    for item in filters:
        key, _, value = item.partition("=")
        if key != "label":
            raise ContainerCommandError(f"Invalid filter '{key}'", 1)
        labels.append(value)
    if not force:
        click.echo(
            "WARNING! This will remove all local volumes not used by at least one container.\n"
            "Are you sure you want to continue? [y/N] ",
            nl=False,
        )
        answer = sys.stdin.readline() if sys.stdin is not None else ""
        if answer.strip().lower() not in ("y", "yes"):
            click.echo("Total reclaimed space: 0B")
            return
    removed, reclaimed = state.client.prune_volumes(labels=labels)
    if removed:
        click.echo("Deleted Volumes:")
        for name in removed:
            click.echo(name)
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(reclaimed, 4)}")
