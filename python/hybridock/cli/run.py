"""run, create, start: from an image name to a running container, as docker does.

Exit codes: the container's own code; 125 when hybridock itself fails (bad flags, no such
image, setup failure); 126/127 when the command cannot be executed / was not found.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from hybridock.cli.context import ContainerCommandError, EachFailed, State, fail, pass_state
from hybridock.cli.output import PullRenderer, pull_status
from hybridock.client import Container, RunOptions
from hybridock.errors import ConfigError, ContainerNotFound, HybridockError
from hybridock.reference import Reference

if TYPE_CHECKING:
    from hybridock.client import PullResult

F = TypeVar("F", bound=Callable[..., Any])


def container_options(function: F) -> F:
    """The options create and run share (docker's container config flags)."""
    options = [
        click.option("-e", "--env", multiple=True, help="Set environment variables."),
        click.option("--env-file", multiple=True, help="Read in a file of environment variables."),
        click.option("-w", "--workdir", help="Working directory inside the container."),
        click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])."),
        click.option("--name", help="Assign a name to the container."),
        click.option("-h", "--hostname", help="Container host name."),
        click.option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image."),
        click.option(
            "-v",
            "--volume",
            multiple=True,
            help="Bind mount a volume (host:ctr[:ro], name:ctr[:ro], ctr).",
        ),
        click.option(
            "--volumes-from",
            multiple=True,
            help="Mount volumes from the specified container(s) (CONTAINER[:ro|rw]).",
        ),
        click.option(
            "--mount",
            multiple=True,
            help="Attach a filesystem mount (type=bind|volume|tmpfs,source=,target=,readonly).",
        ),
        click.option(
            "--network",
            "--net",
            default="bridge",
            show_default=True,
            help="Connect a container to a network (bridge, host, none, container:NAME, NAME).",
        ),
        click.option(
            "--network-alias",
            "--net-alias",
            multiple=True,
            help="Add network-scoped alias for the container.",
        ),
        click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)."),
        click.option(
            "-p", "--publish", multiple=True, help="Publish a container's port(s) to the host."
        ),
        click.option(
            "-P",
            "--publish-all",
            is_flag=True,
            help="Publish all exposed ports to random ports.",
        ),
        click.option("--expose", multiple=True, help="Expose a port or a range of ports."),
        click.option("--dns", multiple=True, help="Set custom DNS servers."),
        click.option("--dns-search", multiple=True, help="Set custom DNS search domains."),
        click.option("--dns-option", multiple=True, help="Set DNS options."),
        click.option("--init", is_flag=True, help="Run an init inside the container."),
        click.option("--stop-signal", help="Signal to stop the container."),
        click.option(
            "--restart",
            default="no",
            show_default=True,
            help="Restart policy (no, on-failure[:max-retries], always, unless-stopped).",
        ),
        click.option("--health-cmd", default="", help="Command to run to check health."),
        click.option("--health-interval", default="", help="Time between running the check."),
        click.option("--health-timeout", default="", help="Maximum time to allow one check."),
        click.option(
            "--health-start-period",
            default="",
            help="Start period for the container to initialize before failures count.",
        ),
        click.option(
            "--health-retries",
            type=int,
            default=0,
            help="Consecutive failures needed to report unhealthy.",
        ),
        click.option(
            "--no-healthcheck", is_flag=True, help="Disable any container-specified HEALTHCHECK."
        ),
        click.option("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container."),
        click.option("-l", "--label", multiple=True, help="Set meta data on a container."),
        click.option("-m", "--memory", help="Memory limit (e.g. 512m, 2g)."),
        click.option("--memory-swap", help="Memory plus swap limit; -1 for unlimited swap."),
        click.option("--cpus", help="Number of CPUs (e.g. 0.5)."),
        click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)."),
        click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)."),
        click.option("--pids-limit", type=int, help="Tune container pids limit (-1: unlimited)."),
        click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
        click.option(
            "--rm",
            "auto_remove",
            is_flag=True,
            help="Automatically remove the container when it exits.",
        ),
        click.option(
            "--pull",
            default="missing",
            show_default=True,
            type=click.Choice(["missing", "always", "never"]),
            help="Pull image before running.",
        ),
        click.option("--platform", help="Set platform if server is multi-platform capable."),
        click.option("--cap-add", multiple=True, help="Add Linux capabilities."),
        click.option("--cap-drop", multiple=True, help="Drop Linux capabilities."),
        click.option("--privileged", is_flag=True, help="Give extended privileges."),
        click.option("--read-only", is_flag=True, help="Mount the root filesystem read-only."),
        click.option("--tmpfs", multiple=True, help="Mount a tmpfs (PATH[:OPTIONS])."),
        click.option("--ulimit", multiple=True, help="Ulimit options (name=soft[:hard])."),
        click.option("--sysctl", multiple=True, help="Sysctl options (key=value)."),
        click.option("--group-add", multiple=True, help="Add additional groups to join."),
        click.option("--cgroupns", default="", help="Cgroup namespace to use (host|private)."),
        click.option(
            "--security-opt",
            multiple=True,
            help="Security options: seccomp=unconfined|PROFILE.json, no-new-privileges.",
        ),
        click.argument("image"),
        click.argument("command", nargs=-1, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _check_flags(state: State, params: dict[str, Any]) -> None:
    """What docker's client checks before it asks for the image: --security-opt, --sysctl,
    --mount, --restart, --health-*; the last two are kept in ``params`` parsed."""
    try:
        params["restart_policy"], params["healthcheck"] = state.client.supervision(
            restart=params["restart"],
            auto_remove=params["auto_remove"],
            health_cmd=params["health_cmd"],
            health_interval=params["health_interval"],
            health_timeout=params["health_timeout"],
            health_start_period=params["health_start_period"],
            health_retries=params["health_retries"],
            no_healthcheck=params["no_healthcheck"],
        )
        state.client.check_run_flags(
            security_options=params["security_opt"],
            sysctls=params["sysctl"],
            mounts=params["mount"],
            publish=params["publish"],
            expose=params["expose"],
        )
    except HybridockError as error:
        raise fail(error) from error


def _create(state: State, params: dict[str, Any], *, attached: bool = True) -> Container:
    """The container ``run`` or ``create`` asks for; ``attached``: docker's client means to
    attach its output (all but ``run -d``) and, with ``-i``, its input, once only (the
    Config's AttachStdout/AttachStderr, AttachStdin and StdinOnce)."""
    client = state.client
    renderer = PullRenderer(sys.stderr)  # docker run says nothing of the default tag

    def on_missing(reference: Reference) -> None:
        click.echo(f"Unable to find image '{reference.familiar}' locally", err=True)

    def on_pulled(result: PullResult) -> None:
        renderer.finish()
        click.echo(f"Digest: {result.digest}", err=True)
        click.echo(f"Status: {pull_status(result)}", err=True)

    image_id = client.find_image(
        params["image"],
        pull=params["pull"],
        platform=params["platform"],
        progress=renderer,
        on_missing=on_missing,
        on_pulled=on_pulled,
    )
    if params["network"] == "host" and (params["publish"] or params["publish_all"]):
        # docker's daemon warning, printed by its client after the create
        click.echo("WARNING: Published ports are discarded when using host network mode", err=True)
    options = RunOptions(
        command=tuple(params["command"]),
        entrypoint=params["entrypoint"],
        env=tuple(params["env"]),
        env_files=tuple(params["env_file"]),
        working_dir=params["workdir"],
        user=params["user"],
        hostname=params["hostname"],
        labels=tuple(params["label"]),
        volumes=tuple(params["volume"]),
        network=params["network"],
        network_aliases=tuple(params["network_alias"]),
        ip=params["ip"],
        publish=tuple(params["publish"]),
        publish_all=params["publish_all"],
        expose=tuple(params["expose"]),
        dns=tuple(params["dns"]),
        dns_search=tuple(params["dns_search"]),
        dns_options=tuple(params["dns_option"]),
        init=params["init"],
        tty=params["tty"],
        interactive=params["interactive"],
        stdin_once=attached and params["interactive"],
        attach=(("stdin",) if params["interactive"] else ()) + ("stdout", "stderr")
        if attached
        else (),
        auto_remove=params["auto_remove"],
        stop_signal=params["stop_signal"],
        stop_timeout=params["stop_timeout"],
        memory=params["memory"],
        memory_swap=params["memory_swap"],
        cpus=params["cpus"],
        cpu_shares=params["cpu_shares"],
        cpuset_cpus=params["cpuset_cpus"],
        pids_limit=params["pids_limit"],
        cap_add=tuple(params["cap_add"]),
        cap_drop=tuple(params["cap_drop"]),
        privileged=params["privileged"],
        read_only=params["read_only"],
        ulimits=tuple(params["ulimit"]),
        tmpfs=tuple(params["tmpfs"]),
        security_opt=tuple(params["security_opt"]),
        sysctls=tuple(params["sysctl"]),
        group_add=tuple(params["group_add"]),
        cgroupns=params["cgroupns"],
        mounts=tuple(params["mount"]),
        volumes_from=tuple(params["volumes_from"]),
        restart_policy=params["restart_policy"],
        healthcheck=params["healthcheck"],
    )
    return client.create_container(params["image"], image_id, options, params["name"])


def _require_terminal(interactive: bool, tty: bool) -> None:
    """As docker's client: -i and -t together need a terminal on our stdin."""
    if interactive and tty and not sys.stdin.isatty():
        raise ContainerCommandError("the input device is not a TTY", 1)


def _require_root(state: State) -> None:
    try:
        state.client.require_root()
    except HybridockError as error:
        raise fail(error) from error


def _attach(state: State, container: Container) -> int | None:
    """The container's exit code; None when the user detached (docker's run and start then
    leave it running and exit 0)."""
    interactive = container.config.open_stdin
    stdin = sys.stdin.buffer if interactive else None
    return state.client.start_attached(
        container,
        stdin=stdin,
        stdout=sys.stdout.buffer,
        stderr=sys.stderr.buffer,
        handle_signals=True,
    )


def _remove(state: State, container: Container) -> None:
    """--rm after an attached run (one under a monitor has already been removed by it)."""
    with contextlib.suppress(ContainerNotFound):
        state.client.remove_container(container.id, force=True)


@click.command(context_settings={"allow_interspersed_args": False, "help_option_names": ["--help"]})
@container_options
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print ID.")
@pass_state
def run(state: State, /, detach: bool, **params: Any) -> None:
    """Create and run a new container from an image."""
    if not detach:
        _require_terminal(params["interactive"], params["tty"])
    _require_root(state)
    _check_flags(state, params)
    client = state.client
    try:
        container = _create(state, params, attached=not detach)
        if detach:
            client.start(container)
            click.echo(container.id)
            return
    except HybridockError as error:
        raise fail(error) from error
    try:
        code = _attach(state, container)
    except HybridockError as error:
        if container.config.auto_remove:
            _remove(state, container)
        raise fail(error) from error
    if code is None:
        sys.exit(0)
    if container.config.auto_remove:
        _remove(state, container)
    sys.exit(code)


@click.command(context_settings={"allow_interspersed_args": False, "help_option_names": ["--help"]})
@container_options
@pass_state
def create(state: State, /, **params: Any) -> None:
    """Create a new container."""
    _require_root(state)
    _check_flags(state, params)
    try:
        container = _create(state, params)
    except ConfigError as error:  # a flag docker's client parses itself: 125
        raise fail(error) from error
    except HybridockError as error:
        # docker's client exits 1 on what its daemon refuses (no such image, a name in use)
        raise ContainerCommandError(str(error), 1) from error
    click.echo(container.id)


@click.command()
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@click.argument("names", nargs=-1, required=True, metavar="CONTAINER [CONTAINER...]")
@pass_state
def start(state: State, attach: bool, interactive: bool, names: tuple[str, ...]) -> None:
    """Start one or more stopped containers."""
    _require_root(state)
    client = state.client
    if attach or interactive:
        if len(names) > 1:
            raise ContainerCommandError("you cannot start and attach multiple containers at once")
        try:
            container = client.container(names[0])
            code = _attach(state, container)
        except HybridockError as error:
            raise fail(error) from error
        if code is None:
            sys.exit(0)
        if container.config.auto_remove:
            _remove(state, container)
        sys.exit(code)
    failures, failed = [], []
    for name in names:
        try:
            container = client.container(name)
            if not container.running:
                client.start(container)
            click.echo(name)
        except HybridockError as error:
            failures.append(str(error))
            failed.append(name)
    if failures:
        raise EachFailed([*failures, "failed to start containers: " + ", ".join(failed)])
