"""The ``hybridock`` entry point: global options, command registration, error handling.

This is the one place where an exception becomes a one-line message on stderr and an exit
code: 1 for a failed image command (as docker's client), 125 for a container command that
hybridock itself could not carry out, the container's own code otherwise.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from hybridock import __version__
from hybridock.cli.context import State
from hybridock.errors import HybridockError


class Group(click.Group):
    """Runs a command and turns our errors into docker-style one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HybridockError as error:
            code = getattr(error, "cli_exit_code", None)
            # docker prints container-command failures after its own name, others as Error:
            click.echo(f"hybridock: {error}" if code else f"Error: {error}", err=True)
            sys.exit(code or 1)
        except KeyboardInterrupt:
            sys.exit(130)
        except BrokenPipeError:
            sys.exit(141)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
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


def _register() -> None:
    from hybridock.cli import auth, containers, images  # noqa: PLC0415 (commands register here)

    images.register(main)
    auth.register(main)
    containers.register(main)


_register()
