"""Container commands: ps, stop, kill, restart, rm, logs, wait, inspect, container prune."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import click

from hybridock.cli.context import (
    ContainerCommandError,
    EachFailed,
    State,
    fail,
    filter_arguments,
    pass_state,
)
from hybridock.cli.output import (
    TimeBoundError,
    ago,
    formatted,
    go_time,
    table,
    time_bounds,
)
from hybridock.client import displayable_ports, log_timestamp
from hybridock.errors import (
    ContainerNotFound,
    HybridockError,
    ImageNotFound,
    InvalidFilter,
    InvalidReference,
)


def _each(names: Iterable[str], action: Callable[[str], None]) -> None:
    """docker's multi-target commands: act on each, then report the failures (exit 1)."""
    failures = []
    for name in names:
        try:
            action(name)
        except HybridockError as error:
            failures.append(str(error))
    if failures:
        raise EachFailed(failures)


def _command_text(command: str, no_trunc: bool) -> str:
    """docker's COMMAND: the list entry's Command in quotes, cut to 20 characters."""
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"
    return f'"{command}"'


#: docker's values for ps --filter health=
HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")
#: docker's ps headers and default table
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
}
PS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)


def _mount_name(mount: dict[str, Any], no_trunc: bool) -> str:
    """docker ps's MOUNTS: a volume's name, else the bind's source, cut to 15 characters."""
    name = str(mount.get("Name") or mount["Source"])
    return name if no_trunc or len(name) <= 15 else name[:14] + "…"


def _port_map(listed: list[dict[str, Any]]) -> dict[str, list[dict[str, str]] | None]:
    """A list entry's Ports as inspect's map, which docker's PORTS display is made from."""
    ports: dict[str, list[dict[str, str]] | None] = {}
    for port in listed:
        key = f"{port['PrivatePort']}/{port['Type']}"
        if "PublicPort" not in port:
            ports.setdefault(key, None)
            continue
        binding = {"HostIp": port.get("IP", ""), "HostPort": str(port["PublicPort"])}
        ports[key] = [*(ports.get(key) or []), binding]
    return ports


def ps_fields(summary: dict[str, Any], no_trunc: bool) -> dict[str, str]:
    """ps's fields of a container, from its list entry (``Client.container_summary``), as
    docker's client makes them from the daemon's."""

    container_id = summary["Id"]
    return {
        "ID": container_id if no_trunc else container_id[:12],
        "Image": summary["Image"],
        "Command": _command_text(summary["Command"], no_trunc),
        "CreatedAt": go_time(summary["Created"]),
        "RunningFor": ago(summary["Created"]),
        "Ports": displayable_ports(_port_map(summary["Ports"])),
        "State": summary["State"],
        "Status": summary["Status"],
        "Names": summary["Names"][0].removeprefix("/"),
        "Labels": ",".join(f"{k}={v}" for k, v in summary["Labels"].items()),
        "Mounts": ",".join(_mount_name(m, no_trunc) for m in summary["Mounts"]),
        "Networks": ",".join(summary["NetworkSettings"]["Networks"]),
    }


@click.command("ps")
@click.option("-a", "--all", "all_states", is_flag=True, help="Show all containers.")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value).")
@click.option("--format", "output_format", help="table, json, or a {{.Field}} template.")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers.")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container.")
@pass_state
def ps(
    state: State,
    all_states: bool,
    quiet: bool,
    no_trunc: bool,
    filters: tuple[str, ...],
    output_format: str | None,
    last: int,
    latest: bool,
) -> None:
    """List containers."""
    if latest:
        last = 1
    for item in filters:
        key, _, value = item.partition("=")
        if key == "health" and value not in HEALTH_STATES:
            # the daemon's refusal: its client exits 1
            raise ContainerCommandError(f"Unrecognised filter value for health: {value}", 1)
    if last == 0:
        return
    try:
        containers = state.client.list_containers(
            all_states=all_states, filters=filter_arguments(filters), limit=last
        )
    except InvalidFilter as error:
        raise fail(error) from error
    if quiet:
        for container in containers:
            click.echo(container.id if no_trunc else container.id[:12])
        return
    rows = [ps_fields(entry, no_trunc) for entry in state.client.container_summaries(containers)]
    for line in formatted(rows, output_format or "table", PS_HEADERS, PS_TABLE):
        click.echo(line)


@click.command()
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing it.")
@click.option("-s", "--signal", "sig", help="Signal to send to the container.")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_state
def stop(state: State, timeout: int | None, sig: str | None, names: tuple[str, ...]) -> None:
    """Stop one or more running containers."""

    def action(name: str) -> None:
        state.client.stop(name, timeout, sig)
        click.echo(name)

    _each(names, action)


@click.command()
@click.option("-s", "--signal", "sig", default="KILL", help="Signal to send to the container.")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_state
def kill(state: State, sig: str, names: tuple[str, ...]) -> None:
    """Kill one or more running containers."""

    def action(name: str) -> None:
        state.client.kill(name, sig)
        click.echo(name)

    _each(names, action)


@click.command()
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing it.")
@click.option("-s", "--signal", "sig", help="Signal to send to the container.")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_state
def restart(state: State, timeout: int | None, sig: str | None, names: tuple[str, ...]) -> None:
    """Restart one or more containers."""

    def action(name: str) -> None:
        state.client.restart(name, timeout, sig)
        click.echo(name)

    _each(names, action)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container.")
@click.option(
    "-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container."
)
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_state
def rm(state: State, force: bool, volumes: bool, names: tuple[str, ...]) -> None:
    """Remove one or more containers."""

    def action(name: str) -> None:
        state.client.remove_container(name, force=force, volumes=volumes)
        click.echo(name)

    _each(names, action)


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("--since", help="Show logs since a timestamp or relative (e.g. 42m).")
@click.option("--until", help="Show logs before a timestamp or relative (e.g. 42m).")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.argument("name", metavar="CONTAINER")
@pass_state
def logs(
    state: State,
    follow: bool,
    since: str | None,
    until: str | None,
    tail: str,
    timestamps: bool,
    name: str,
) -> None:
    """Fetch the logs of a container."""
    now = time.time()
    try:
        bounds = time_bounds(since, until, now)
    except TimeBoundError as error:
        raise HybridockError(f'invalid value for "{error.option}": {error}') from None
    if bounds.get("until", now * 10**9) < now * 10**9:
        follow = False  # nothing that comes later is wanted
    container = state.client.container(name)
    count = None if tail == "all" else int(tail)
    streams = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    for stream, moment, text in state.client.logs(container, follow=follow, tail=count):
        if bounds:
            logged = log_timestamp(moment, now)
            if logged < bounds.get("since", logged):
                continue
            if logged > bounds.get("until", logged):
                break  # the log is in time order: docker stops here
        output = streams.get(stream, sys.stdout.buffer)
        line = f"{moment} {text}" if timestamps else text
        output.write(line.encode())
        output.flush()


@click.command()
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_state
def wait(state: State, names: tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes."""

    def action(name: str) -> None:
        click.echo(state.client.wait(name))

    _each(names, action)


@click.command("rename")
@click.argument("container")
@click.argument("new_name")
@pass_state
def rename(state: State, container: str, new_name: str) -> None:
    """Rename a container."""
    try:
        state.client.rename(container, new_name)
    except HybridockError as error:
        raise ContainerCommandError(str(error), 1) from error


@click.command("top", context_settings={"ignore_unknown_options": True})
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@pass_state
def top(state: State, container: str, ps_args: tuple[str, ...]) -> None:
    """Display the running processes of a container."""
    try:
        header, rows = state.client.top(container, ps_args)
    except HybridockError as error:
        raise ContainerCommandError(str(error), 1) from error
    table([header, *rows], minwidth=20)  # the docker CLI's tabwriter for top


@click.command("update")
@click.option("-m", "--memory", help="Memory limit.")
@click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 for unlimited.")
@click.option("--cpus", help="Number of CPUs.")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight).")
@click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1).")
@click.option("--pids-limit", type=int, help="Tune container pids limit (-1 for unlimited).")
@click.option("--restart", help="Restart policy to apply when a container exits.")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_state
def update(
    state: State,
    memory: str | None,
    memory_swap: str | None,
    cpus: str | None,
    cpu_shares: int | None,
    cpuset_cpus: str | None,
    pids_limit: int | None,
    restart: str | None,
    names: tuple[str, ...],
) -> None:
    """Update configuration of one or more containers."""
    given = (memory, memory_swap, cpus, cpu_shares, cpuset_cpus, pids_limit, restart)
    if all(value is None for value in given):
        raise ContainerCommandError(
            "You must provide one or more flags when using this command.", 1
        )

    def action(name: str) -> None:
        state.client.update(
            name,
            memory=memory,
            memory_swap=memory_swap,
            cpus=cpus,
            cpu_shares=cpu_shares,
            cpuset_cpus=cpuset_cpus,
            pids_limit=pids_limit,
            restart=restart,
        )
        click.echo(name)

    _each(names, action)


@click.command("pause")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_state
def pause(state: State, names: tuple[str, ...]) -> None:
    """Pause all processes within one or more containers."""

    def action(name: str) -> None:
        state.client.pause(name)
        click.echo(name)

    _each(names, action)


@click.command("unpause")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_state
def unpause(state: State, names: tuple[str, ...]) -> None:
    """Unpause all processes within one or more containers."""

    def action(name: str) -> None:
        state.client.unpause(name)
        click.echo(name)

    _each(names, action)


@click.command("inspect")
@click.option(
    "--type", "kind", type=click.Choice(["container", "image", "volume"]), help="Only this type."
)
@click.option("-f", "--format", "output_format", help="A {{.Field}} template.")
@click.argument("names", nargs=-1, required=True, metavar="NAME|ID [NAME|ID...]")
@pass_state
def inspect(
    state: State, kind: str | None, output_format: str | None, names: tuple[str, ...]
) -> None:
    """Return low-level information on containers, images or volumes."""
    documents = []
    failures = []
    for name in names:
        try:
            documents.append(_inspect_one(state, name, kind))
        except HybridockError as error:
            if kind == "image":
                from hybridock.cli.images import image_failure  # noqa: PLC0415

                failures.append(image_failure(name, error))
            elif kind == "volume":
                failures.append(f"No such volume: {name}")
            else:
                failures.append(f"No such object: {name}")
    show_documents(documents, output_format, failures)


def show_documents(
    documents: list[dict[str, Any]], output_format: str | None, failures: list[str]
) -> None:
    """inspect's output, as docker's: each document through ``--format``, or the JSON list;
    then the targets that failed, one line each (exit 1)."""
    if output_format:
        for document in documents:
            click.echo(_format_document(output_format, document))
    else:
        click.echo(json.dumps(documents, indent=4))
    if failures:
        raise EachFailed(failures)


def _inspect_one(state: State, name: str, kind: str | None) -> dict[str, Any]:
    if kind in (None, "container"):
        try:
            return state.client.inspect_container(name)
        except ContainerNotFound:
            if kind == "container":
                raise
    if kind in (None, "image"):
        try:
            return state.client.inspect_image(name)
        except (ImageNotFound, InvalidReference):
            if kind == "image":
                raise
    return state.client.inspect_volume(name)


def _format_document(template: str, document: dict[str, Any]) -> str:
    """The subset of Go templates people use with inspect: {{.A.B}} and {{json .A}}."""

    def lookup(path: str) -> Any:
        value: Any = document
        for part in [p for p in path.split(".") if p]:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        if expression.startswith("json "):
            return json.dumps(lookup(expression[5:].strip()), separators=(",", ":"))
        value = lookup(expression)
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return "<no value>" if value is None else str(value)

    return re.sub(r"\{\{\s*(.*?)\s*\}\}", replace, template)


@click.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_state
def container_prune(state: State, force: bool) -> None:
    """Remove all stopped containers."""
    if (
        not force
        and sys.stdin.isatty()
        and not click.confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"
        )
    ):
        return
    removed, _ = state.client.prune_containers()
    if removed:
        click.echo("Deleted Containers:")
        for container_id in removed:
            click.echo(container_id)
