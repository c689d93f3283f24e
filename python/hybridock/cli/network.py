"""network create/ls/inspect/rm/prune/connect/disconnect, and port: as docker's.

Exit codes as docker's client: 1 for a failed network command (no such network, in use,
a name taken), with one line per target that failed after the others were done.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from hybridock.cli.context import ContainerCommandError, EachFailed, State, pass_state
from hybridock.cli.output import formatted
from hybridock.errors import HybridockError

if TYPE_CHECKING:
    from hybridock.client import Network

NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
NETWORK_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"


def _failed(message: str) -> ContainerCommandError:
    return ContainerCommandError(message, 1)


def _each(names: tuple[str, ...], action: Callable[[str], None]) -> None:
    failures = []
    for name in names:
        try:
            action(name)
        except HybridockError as error:
            failures.append(_no_such(name, error))
    if failures:
        raise EachFailed(failures)


def _no_such(name: str, error: HybridockError) -> str:
    from hybridock.client import NetworkNotFound  # noqa: PLC0415

    return f"No such network: {name}" if isinstance(error, NetworkNotFound) else str(error)


@click.group("network")
def network_group() -> None:
    """Manage networks."""


@network_group.command("create")
@click.option(
    "-d", "--driver", default="bridge", show_default=True, help="Driver to manage the Network."
)
@click.option("--subnet", multiple=True, help="Subnet in CIDR format.")
@click.option("--gateway", multiple=True, help="IPv4 Gateway for the master subnet.")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--label", multiple=True, help="Set metadata on a network.")
@click.option("-o", "--opt", multiple=True, help="Set driver specific options.")
@click.argument("name")
@pass_state
def create(
    state: State,
    driver: str,
    subnet: tuple[str, ...],
    gateway: tuple[str, ...],
    internal: bool,
    label: tuple[str, ...],
    opt: tuple[str, ...],
    name: str,
) -> None:
    """Create a network."""
    if len(subnet) > 1 or len(gateway) > 1:
        raise _failed("hybridock networks take one IPv4 subnet and gateway")
    try:
        network = state.client.create_network(
            name,
            driver=driver,
            subnet=subnet[0] if subnet else None,
            gateway=gateway[0] if gateway else None,
            internal=internal,
            labels=dict(item.partition("=")[::2] for item in label),
            options=dict(item.partition("=")[::2] for item in opt),
        )
    except HybridockError as error:
        raise _failed(str(error)) from error
    click.echo(network.id)


@network_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values.")
@click.option("--format", "output_format", help="Pretty-print networks using a Go template.")
@pass_state
def ls(
    state: State, quiet: bool, no_trunc: bool, filters: tuple[str, ...], output_format: str | None
) -> None:
    """List networks."""
    rows = []
    for network in state.client.list_networks():
        if not _matches(network, filters):
            continue
        document = state.client.inspect_network(network)
        rows.append(
            {
                "ID": document["Id"] if no_trunc else document["Id"][:12],
                "Name": document["Name"],
                "Driver": document["Driver"],
                "Scope": document["Scope"],
                "IPv6": str(document["EnableIPv6"]).lower(),
                "Internal": str(document["Internal"]).lower(),
                "Labels": ",".join(f"{k}={v}" for k, v in document["Labels"].items()),
                "CreatedAt": document["Created"],
            }
        )
    if quiet:
        for row in rows:
            click.echo(row["ID"])
        return
    for line in formatted(rows, output_format or "table", NETWORK_HEADERS, NETWORK_TABLE):
        click.echo(line)


def _matches(network: Network, filters: tuple[str, ...]) -> bool:
    for item in filters:
        key, _, value = item.partition("=")
        if key == "name" and value not in network.name:
            return False
        if key == "id" and not network.id.startswith(value):
            return False
        if key == "driver" and network.driver != value:
            return False
        if key == "type" and (value == "custom") == network.predefined:
            return False
        if key == "label":
            label, _, wanted = value.partition("=")
            if label not in network.labels or (wanted and network.labels[label] != wanted):
                return False
        if key not in ("name", "id", "driver", "type", "label", "scope"):
            raise _failed(f"Invalid filter '{key}'")
    return True


@network_group.command("inspect")
@click.option("-f", "--format", "output_format", help="Format the output using a Go template.")
@click.argument("names", nargs=-1, required=True)
@pass_state
def inspect(state: State, output_format: str | None, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""
    documents = []
    failures = []
    for name in names:
        try:
            documents.append(state.client.inspect_network(name))
        except HybridockError as error:
            failures.append(_no_such(name, error))
    from hybridock.cli.containers import show_documents  # noqa: PLC0415

    show_documents(documents, output_format, failures)


@network_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@pass_state
def rm(state: State, names: tuple[str, ...]) -> None:
    """Remove one or more networks."""

    def action(name: str) -> None:
        state.client.remove_network(name)
        click.echo(name)

    _each(names, action)


@network_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, help="Provide filter values.")
@pass_state
def prune(state: State, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all unused networks."""
    del filters
    if (
        not force
        and sys.stdin.isatty()
        and not click.confirm(
            "WARNING! This will remove all custom networks not used by at least one container."
            "\nAre you sure you want to continue?"
        )
    ):
        return
    removed = state.client.prune_networks()
    if removed:
        click.echo("Deleted Networks:")
        for name in removed:
            click.echo(name)


@network_group.command("connect")
@click.option("--alias", multiple=True, help="Add network-scoped alias for the container.")
@click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104).")
@click.argument("network")
@click.argument("container")
@pass_state
def connect(state: State, alias: tuple[str, ...], ip: str, network: str, container: str) -> None:
    """Connect a container to a network."""
    try:
        state.client.connect_network(network, container, aliases=alias, ip=ip)
    except HybridockError as error:
        raise _failed(_no_such(network, error)) from error


@network_group.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect.")
@click.argument("network")
@click.argument("container")
@pass_state
def disconnect(state: State, force: bool, network: str, container: str) -> None:
    """Disconnect a container from a network."""
    try:
        state.client.disconnect_network(network, container, force=force)
    except HybridockError as error:
        raise _failed(_no_such(network, error)) from error


@click.command("port")
@click.argument("container")
@click.argument("private_port", required=False)
@pass_state
def port(state: State, container: str, private_port: str | None) -> None:
    """List port mappings or a specific mapping for the container."""
    from hybridock.client import port_lines  # noqa: PLC0415

    try:
        record = state.client.container(container)
        lines = port_lines(state.client.port_map(record), container, private_port)
    except HybridockError as error:
        raise _failed(str(error)) from error
    for line in lines:
        click.echo(line)
