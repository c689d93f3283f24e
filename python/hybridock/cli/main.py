"""The ``hybridock`` entry point: global options, command registration, error handling.

This is the one place where an exception becomes a message on stderr and an exit code:
1 for a failed image command (as docker's client), 125 for a container command that hybridock
itself could not carry out, the container's own code otherwise. Every line is docker's message
body after ``Error: ``, as podman prints it: there is no daemon whose response it could be.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from hybridock import __version__
from hybridock.cli.context import State
from hybridock.errors import HybridockError

#: command -> "module:attribute" under hybridock.cli. A command's module is imported only when
#: that command runs: `hybridock run` must not pay for the registry client or the image commands.
COMMANDS = {
    "pull": "images:pull",
    "images": "images:images",
    "rmi": "images:rmi",
    "tag": "push:tag",
    "push": "push:push",
    "image": "main:image_group",
    "login": "auth:login",
    "logout": "auth:logout",
    "run": "run:run",
    "create": "run:create",
    "start": "run:start",
    "ps": "containers:ps",
    "stop": "containers:stop",
    "kill": "containers:kill",
    "restart": "containers:restart",
    "rm": "containers:rm",
    "logs": "containers:logs",
    "wait": "containers:wait",
    "stats": "stats:stats",
    "exec": "exec:exec_command",
    "inspect": "containers:inspect",
    "container": "main:container_group",
    "network": "network:network_group",
    "port": "network:port",
    "attach": "attach:attach",
    "pause": "containers:pause",
    "unpause": "containers:unpause",
    "rename": "containers:rename",
    "top": "containers:top",
    "update": "containers:update",
    "volume": "volume:volume_group",
    "cp": "files:cp",
    "diff": "files:diff",
    "export": "files:export",
    "commit": "commit:commit",
    "build": "build:build",
    "builder": "build:builder_group",
    "events": "events:events",
    "history": "images:history",
    "save": "archive:save",
    "load": "archive:load",
    "import": "archive:import_command",
    "info": "system:info",
    "version": "system:version",
    "system": "system:system_group",
}
#: `hybridock container COMMAND`: docker's management-command spellings, loaded the same way
CONTAINER_COMMANDS = {
    **{name: COMMANDS[name] for name in ("run", "create", "start", "stop", "kill", "restart")},
    **{name: COMMANDS[name] for name in ("rm", "logs", "wait", "stats", "exec", "inspect")},
    **{name: COMMANDS[name] for name in ("port", "pause", "unpause", "rename", "top", "update")},
    "ls": COMMANDS["ps"],
    "ps": COMMANDS["ps"],
    "prune": "containers:container_prune",
    **{name: COMMANDS[name] for name in ("cp", "diff", "export", "attach", "commit")},
}
#: `hybridock image COMMAND`
IMAGE_COMMANDS = {
    "pull": COMMANDS["pull"],
    "ls": COMMANDS["images"],
    "rm": COMMANDS["rmi"],
    "inspect": "images:image_inspect",
    "prune": "images:image_prune",
    "history": "images:history",
    "tag": COMMANDS["tag"],
    "push": COMMANDS["push"],
    "build": COMMANDS["build"],
    **{name: COMMANDS[name] for name in ("save", "load", "import")},
}


class LazyGroup(click.Group):
    """A group whose commands' modules are imported only when that command runs."""

    def __init__(self, *args: Any, table: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.table)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.table.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"hybridock.cli.{module}"), attribute)
        assert isinstance(command, click.Command)  # noqa: S101 - tables name commands only
        return command


container_group = LazyGroup("container", table=CONTAINER_COMMANDS, help="Manage containers.")
image_group = LazyGroup("image", table=IMAGE_COMMANDS, help="Manage images.")


class Group(LazyGroup):
    """hybridock's top level: lazy commands, and our errors as docker-style one-line messages."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        """``main()`` with nothing else asked for is the process's own entry (the console
        script, ``python -m hybridock``): it leaves through ``leave`` once the command is done.
        Any other call (CliRunner, a loop of commands in one interpreter) is click's own."""
        if args is not None or rest or extra:
            return super().main(args, *rest, **extra)
        try:
            return super().main()
        except SystemExit as leaving:
            leave(leaving.code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HybridockError as error:
            for line in getattr(error, "messages", None) or [str(error)]:
                click.echo(f"Error: {line}", err=True)
            sys.exit(getattr(error, "cli_exit_code", None) or 1)
        except KeyboardInterrupt:
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(141)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            # A bug of ours: still one line for the user, the traceback only when asked for.
            if os.environ.get("HYBRIDOCK_DEBUG"):
                raise
            click.echo(
                f"Error: internal error: {type(error).__name__}: {error}"
                " (HYBRIDOCK_DEBUG=1 shows the traceback)",
                err=True,
            )
            sys.exit(125)
        finally:
            _release_closed_stdout()


def _release_closed_stdout() -> None:
    """A reader of our output that went away (``| head``) ends it normally: what is still
    buffered for it is dropped, instead of failing the interpreter's last flush (exit 120)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def leave(code: str | int | None) -> NoReturn:
    """Exit as ``sys.exit(code)`` would, but without the interpreter's teardown, which frees
    every module one by one and costs more than a short command's own work. The command has
    returned (its records are committed and closed); the exit handlers still run and the
    output is flushed. While another thread runs, the ordinary exit (which waits for it)."""
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    if isinstance(code, str):
        print(code, file=sys.stderr)
    status = 1 if isinstance(code, str) else code or 0
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        status = status or 120  # what the interpreter's own exit makes of a failed flush
    os._exit(status)


@click.group(cls=Group, table=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-v", "--version", prog_name="hybridock")
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    envvar="HYBRIDOCK_ROOT",
    help="The store directory (default /var/lib/hybridock for root).",
)
@click.pass_context
def main(ctx: click.Context, root: str | None) -> None:
    """A daemonless, Docker-compatible container tool."""
    ctx.obj = State(root)
    ctx.call_on_close(ctx.obj.close)
