"""``system service``: the Docker Engine API on a socket, for the tools that speak it (the
docker CLI with ``DOCKER_HOST``, docker-py, compose, testcontainers)."""

from __future__ import annotations

import click

from hybridock.cli.context import State, pass_state


@click.command()
@click.argument("uri", required=False, metavar="[URI]")
@click.option(
    "--socket",
    "socket_path",
    metavar="PATH",
    help="The unix socket to serve on (default /run/hybridock/docker.sock).",
)
@click.option(
    "-t",
    "--time",
    "idle_time",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Seconds without a request before the service exits (0: never).",
)
@click.option("--group", metavar="GROUP", help="The group that may use the socket (0660).")
@click.option(
    "--tcp",
    metavar="HOST:PORT",
    help="Also serve on a loopback TCP address (no authentication: loopback only).",
)
@click.option("--log-requests", is_flag=True, help="Print each request on stderr.")
@pass_state
def service(
    state: State,
    uri: str | None,
    socket_path: str | None,
    idle_time: float,
    group: str | None,
    tcp: str | None,
    log_requests: bool,
) -> None:
    """Serve the Docker Engine API (``podman system service``'s URI form works too:
    unix:///path/to.sock or tcp://127.0.0.1:PORT)."""
    from hybridock.api.server import DEFAULT_SOCKET, serve  # noqa: PLC0415
    from hybridock.client import Client  # noqa: PLC0415

    if uri is not None:
        if uri.startswith("unix://"):
            socket_path = socket_path or uri.removeprefix("unix://")
        elif uri.startswith("tcp://"):
            tcp = tcp or uri
        else:
            raise click.BadParameter(f"{uri}: give unix:///PATH or tcp://127.0.0.1:PORT")
    if socket_path is None and tcp is None:
        socket_path = str(DEFAULT_SOCKET)
    root = state.root

    def new_client() -> Client:
        return Client(root)

    state.client.require_root()
    serve(
        new_client,
        socket_path,
        idle_time=idle_time,
        group=group,
        tcp=tcp,
        verbose=log_requests,
    )
