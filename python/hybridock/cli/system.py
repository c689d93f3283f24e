"""info, version, system df, system prune (and ``system events``/``system info``): docker's
layouts, with hybridock's own facts."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from io import StringIO
from typing import TYPE_CHECKING, Any

import click

from hybridock.cli.context import ContainerCommandError, State, filter_arguments, pass_state
from hybridock.cli.output import ago, bytes_size, formatted, human_size, table
from hybridock.cli.templates import TemplateError, check_closed, render
from hybridock.client import log_timestamp
from hybridock.errors import HybridockError

if TYPE_CHECKING:
    from hybridock.client import DiskUsage


def _show(document: Mapping[str, Any], output_format: str, type_name: str, name: str = "") -> None:
    """A document through --format: a template left open is docker's parse error (exit 64),
    a field the type lacks its execution error (exit 1)."""
    try:
        check_closed(output_format, name)
    except TemplateError as error:
        raise ContainerCommandError(f"template parsing error: {error}", 64) from None
    try:
        shown = render(output_format, document, type_name, name)
    except TemplateError as error:
        click.echo()  # docker's client has begun its line when the template fails
        raise ContainerCommandError(str(error), 1) from None
    click.echo(shown)


# --- info -------------------------------------------------------------------------------------


def _info_lines(info: Mapping[str, Any]) -> list[str]:
    """docker's ``info`` text: the client's lines, then the server's."""
    lines = [
        "Client:",
        " Context:    default",
        " Debug Mode: false",
        "",
        "Server:",
        f" Containers: {info['Containers']}",
        f"  Running: {info['ContainersRunning']}",
        f"  Paused: {info['ContainersPaused']}",
        f"  Stopped: {info['ContainersStopped']}",
        f" Images: {info['Images']}",
        f" Server Version: {info['ServerVersion']}",
        f" Storage Driver: {info['Driver']}",
        *(f"  {key}: {value}" for key, value in info["DriverStatus"]),
        f" Logging Driver: {info['LoggingDriver']}",
        f" Cgroup Driver: {info['CgroupDriver']}",
        f" Cgroup Version: {info['CgroupVersion']}",
        " Plugins:",
        f"  Volume: {' '.join(info['Plugins']['Volume'])}",
        f"  Network: {' '.join(info['Plugins']['Network'])}",
        f"  Log: {' '.join(info['Plugins']['Log'])}",
        " Swarm: inactive",
        f" Runtimes: {' '.join(sorted(info['Runtimes']))}",
        f" Default Runtime: {info['DefaultRuntime']}",
        f" Init Binary: {info['InitBinary']}",
        " Security Options:",
    ]
    for option in info["SecurityOptions"]:
        fields = dict(part.partition("=")[::2] for part in option.split(","))
        lines.append(f"  {fields.get('name', option)}")
        if "profile" in fields:
            lines.append(f"   Profile: {fields['profile']}")
    registry = info["RegistryConfig"]
    lines += [
        f" Kernel Version: {info['KernelVersion']}",
        f" Operating System: {info['OperatingSystem']}",
        f" OSType: {info['OSType']}",
        f" Architecture: {info['Architecture']}",
        f" CPUs: {info['NCPU']}",
        f" Total Memory: {bytes_size(info['MemTotal'])}",
        f" Name: {info['Name']}",
        f" Docker Root Dir: {info['DockerRootDir']}",
        " Debug Mode: false",
        " Experimental: false",
        " Insecure Registries:",
        *(
            f"  {name}"
            for name in [*registry["InsecureRegistries"], *registry["InsecureRegistryCIDRs"]]
        ),
    ]
    if registry["Mirrors"]:
        lines += [" Registry Mirrors:", *(f"  {mirror}/" for mirror in registry["Mirrors"])]
    lines.append(" Live Restore Enabled: false")
    return lines


@click.command("info")
@click.option(
    "-f", "--format", "output_format", help="Format the output using the given Go template."
)
@pass_state
def info(state: State, output_format: str | None) -> None:
    """Display system-wide information."""
    from hybridock import __version__  # noqa: PLC0415

    document = state.client.info()
    if output_format:
        client_info = {"Debug": False, "Version": __version__, "Context": "default"}
        _show({**document, "ClientInfo": client_info}, output_format, "system.info")
        return
    click.echo("\n".join(_info_lines(document)))
    click.echo()


# --- version ----------------------------------------------------------------------------------


def _version_lines(document: Mapping[str, Any]) -> list[str]:
    """docker's version template: label cells padded to 20 (its tabwriter's minwidth)."""
    client, server = document["Client"], document["Server"]
    rows: list[list[str]] = [
        ["Client: hybridock"],
        [" Version:", client["Version"]],
        [" Python version:", client["PythonVersion"]],
        [" OS/Arch:", f"{client['Os']}/{client['Arch']}"],
        [" Context:", client["Context"]],
        [],
        ["Server: hybridock"],
    ]
    for component in server["Components"]:
        details = component["Details"]
        rows += [
            [f" {component['Name']}:"],
            ["  Version:", component["Version"]],
            ["  Python version:", details["PythonVersion"]],
            ["  OS/Arch:", f"{details['Os']}/{details['Arch']}"],
            ["  Experimental:", details["Experimental"]],
        ]
    return [
        (row[0].ljust(max(20, len(row[0]) + 1)) + row[1]) if len(row) == 2 else "".join(row)
        for row in rows
    ]


@click.command("version")
@click.option(
    "-f", "--format", "output_format", help="Format the output using the given Go template."
)
@pass_state
def version(state: State, output_format: str | None) -> None:
    """Show the hybridock version information."""
    document = state.client.version()
    if output_format:
        _show(document, output_format, "system.versionInfo", "version")
        return
    click.echo("\n".join(_version_lines(document)))


# --- system df --------------------------------------------------------------------------------

DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}
DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


def _reclaimable(reclaimable: int, total: int) -> str:
    shown = human_size(reclaimable, 4)
    return f"{shown} ({reclaimable * 100 // total}%)" if total > 0 else shown


def _summary(usage: DiskUsage) -> list[dict[str, str]]:
    """docker's four rows: images (every layer once; what no container's image holds is
    reclaimable), containers (what they wrote; a stopped one's is reclaimable), volumes (an
    unused one's), and the build cache (what only it keeps)."""
    used = sum(image.size - image.shared_size for image in usage.images if image.containers)
    active = [c for c in usage.containers if c.container.running]
    written = sum(c.size for c in usage.containers)
    volume_total = sum(v.size for v in usage.volumes)
    return [
        {
            "Type": "Images",
            "TotalCount": str(len(usage.images)),
            "Active": str(sum(1 for image in usage.images if image.containers)),
            "Size": human_size(usage.layers_size, 4),
            "Reclaimable": _reclaimable(usage.layers_size - used, usage.layers_size),
        },
        {
            "Type": "Containers",
            "TotalCount": str(len(usage.containers)),
            "Active": str(len(active)),
            "Size": human_size(written, 4),
            "Reclaimable": _reclaimable(written - sum(c.size for c in active), written),
        },
        {
            "Type": "Local Volumes",
            "TotalCount": str(len(usage.volumes)),
            "Active": str(sum(1 for v in usage.volumes if v.users)),
            "Size": human_size(volume_total, 4),
            "Reclaimable": _reclaimable(
                sum(v.size for v in usage.volumes if not v.users), volume_total
            ),
        },
        {
            "Type": "Build Cache",
            "TotalCount": str(usage.build_cache[0]),
            "Active": str(usage.build_cache[1]),
            "Size": human_size(usage.build_cache[2], 4),
            "Reclaimable": human_size(usage.build_cache[2], 4),
        },
    ]


def _tabled(rows: Sequence[Sequence[str]]) -> str:
    buffer = StringIO()
    table(rows, buffer)
    return buffer.getvalue()


def _verbose(state: State, usage: DiskUsage) -> str:
    """docker's ``system df -v`` sections."""
    from hybridock.cli.containers import _command_text  # noqa: PLC0415
    from hybridock.cli.output import parse_timestamp  # noqa: PLC0415
    from hybridock.client import command_text, status_text  # noqa: PLC0415
    from hybridock.reference import Reference  # noqa: PLC0415

    images = [
        [
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ]
    ]
    for entry in usage.images:
        repository = tag = "<none>"
        if entry.image.tags:
            first = Reference.parse(entry.image.tags[0])
            repository, tag = first.familiar_name, first.tag or "<none>"
        images.append(
            [
                repository,
                tag,
                entry.image.id.removeprefix("sha256:")[:12],
                ago(parse_timestamp(entry.image.created)),
                human_size(entry.size, 4),
                human_size(entry.shared_size, 4),
                human_size(entry.size - entry.shared_size, 4),
                str(entry.containers),
            ]
        )
    containers = [
        ["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"]
    ]
    for used in usage.containers:
        container = used.container
        paused = container.running and state.client.paused(container)
        containers.append(
            [
                container.id[:12],
                container.image,
                _command_text(command_text(container), no_trunc=False),
                str(sum(1 for mount in container.config.mounts if mount.is_volume)),
                human_size(used.size),
                ago(container.created),
                status_text(container, paused=paused),
                container.name,
            ]
        )
    volumes = [["VOLUME NAME", "LINKS", "SIZE"]]
    volumes += [[v.volume.name, str(v.users), human_size(v.size, 4)] for v in usage.volumes]
    return (
        f"Images space usage:\n\n{_tabled(images)}\n"
        f"Containers space usage:\n\n{_tabled(containers)}\n"
        f"Local Volumes space usage:\n\n{_tabled(volumes)}\n"
        f"Build cache usage: {human_size(usage.build_cache[2], 4)}\n\n"
        "CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED"
    )


@click.command("df")
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage.")
@click.option("--format", "output_format", help="Format output using a custom template.")
@pass_state
def df(state: State, verbose: bool, output_format: str | None) -> None:
    """Show the store's disk usage."""
    if output_format:
        try:
            check_closed(output_format)
        except TemplateError as error:
            raise ContainerCommandError(f"template parsing error: {error}", 1) from None
    usage = state.client.disk_usage()
    if verbose and not output_format:
        click.echo(_verbose(state, usage))
        return
    for line in formatted(_summary(usage), output_format or "table", DF_HEADERS, DF_TABLE):
        click.echo(line)


# --- system prune -----------------------------------------------------------------------------


def _prune_warning(all_images: bool, volumes: bool) -> str:
    removes = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        removes.append("all volumes not used by at least one container")
    if all_images:
        removes += [
            "all images without at least one container associated to them",
            "all build cache",
        ]
    else:
        removes += ["all dangling images", "unused build cache"]
    listed = "".join(f"  - {item}\n" for item in removes)
    return f"WARNING! This will remove:\n{listed}\nAre you sure you want to continue? [y/N] "


def _prune_filters(items: Sequence[str]) -> dict[str, list[str]]:
    parsed = filter_arguments(items, "--filter")
    if "until" in parsed:
        try:
            parsed["until"] = [str(log_timestamp(value, time.time())) for value in parsed["until"]]
        except ValueError as error:
            raise ContainerCommandError(str(error), 1) from None
    return parsed


@click.command("prune")
@click.option(
    "-a",
    "--all",
    "all_images",
    is_flag=True,
    help="Remove all unused images not just dangling ones.",
)
@click.option("--volumes", is_flag=True, help="Prune volumes.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option(
    "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<key>=<value>')."
)
@pass_state
def prune(
    state: State, all_images: bool, volumes: bool, force: bool, filters: tuple[str, ...]
) -> None:
    """Remove unused data."""
    wanted = _prune_filters(filters)
    from hybridock.client import PruneFilter  # noqa: PLC0415

    try:
        PruneFilter.parse(wanted)
    except HybridockError as error:  # docker's words for a filter it does not know, exit 1
        raise ContainerCommandError(str(error), 1) from None
    if not force:
        click.echo(_prune_warning(all_images, volumes), nl=False)
        answer = sys.stdin.readline() if sys.stdin is not None else ""
        if answer.strip().lower() not in ("y", "yes"):
            return
    report = state.client.prune_system(all_images=all_images, volumes=volumes, filters=wanted)
    for title, names in (
        ("Deleted Containers:", report.containers),
        ("Deleted Networks:", report.networks),
        ("Deleted Volumes:", report.volumes),
    ):
        if names:
            click.echo("\n".join([title, *names]) + "\n")
    images = [f"untagged: {name}" for name in report.images.untagged]
    images += [f"deleted: {name}" for name in report.images.deleted]
    if images:
        click.echo("\n".join(["Deleted Images:", *images]) + "\n")
    click.echo(f"Total reclaimed space: {human_size(report.reclaimed, 4)}")


@click.group("system")
def system_group() -> None:
    """Manage hybridock."""


system_group.add_command(df)
system_group.add_command(prune)
system_group.add_command(info)


def _events() -> click.Command:
    from hybridock.cli.events import events  # noqa: PLC0415

    return events


system_group.add_command(_events(), "events")


def _service() -> click.Command:
    from hybridock.cli.service import service  # noqa: PLC0415

    return service


system_group.add_command(_service(), "service")
