"""login and logout: credentials in docker's config.json, checked against the registry."""

from __future__ import annotations

import sys

import click

from hybridock.cli.context import State, pass_state
from hybridock.errors import ConfigError


@click.command()
@click.option("-u", "--username", help="Username.")
@click.option("-p", "--password", help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@click.argument("server", required=False, default="docker.io")
@pass_state
def login(
    state: State, username: str | None, password: str | None, password_stdin: bool, server: str
) -> None:
    """Log in to a registry."""
    if password_stdin:
        if password:
            raise ConfigError("--password and --password-stdin are mutually exclusive")
        if not username:
            raise ConfigError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        click.echo(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True
        )
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    state.client.login(server, username, password)
    click.echo("Login Succeeded")


@click.command()
@click.argument("server", required=False, default="docker.io")
@pass_state
def logout(state: State, server: str) -> None:
    """Log out from a registry."""
    if state.client.logout(server):
        click.echo(f"Removing login credentials for {server}")
    else:
        click.echo(f"Not logged in to {server}")
