"""``build`` and ``builder prune``: docker build's flags, BuildKit's progress on stderr (plain
lines, or a live view on a terminal), the image id on stdout with ``-q``; a failed build is
BuildKit's ``ERROR: failed to solve: ...`` and exit 1."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

import click

from hybridock.cli.context import State, pass_state
from hybridock.client import BuildOptions, build_progress
from hybridock.errors import HybridockError


def _pairs(values: tuple[str, ...], *, from_env: bool) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for value in values:
        name, equals, given = value.partition("=")
        found[name] = given if equals else (os.environ.get(name) if from_env else "")
    return found


def _secrets(values: tuple[str, ...]) -> dict[str, str]:
    secrets: dict[str, str] = {}
    for value in values:
        fields = dict(part.partition("=")[::2] for part in value.split(","))
        secret_id = fields.get("id", "")
        source = fields.get("src") or fields.get("source")
        if source is None and fields.get("env"):
            raise click.UsageError("--secret env= is not supported yet")
        if not secret_id or source is None:
            raise click.UsageError(f"invalid secret: {value}")
        secrets[secret_id] = source
    return secrets


@click.command("build", context_settings={"help_option_names": ["--help"]})
@click.option("-t", "--tag", "tags", multiple=True, help='Name and optionally a tag ("name:tag")')
@click.option("-f", "--file", "dockerfile", help="Name of the Dockerfile")
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables")
@click.option("--label", "labels", multiple=True, help="Set metadata for an image")
@click.option("--target", help="Set the target build stage to build")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the image")
@click.option("--iidfile", help="Write the image ID to the file")
@click.option(
    "--progress",
    type=click.Choice(["auto", "plain", "tty", "quiet"]),
    default="auto",
    help="Set type of progress output",
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID")
@click.option("--network", default="default", help="Set the networking mode for RUN")
@click.option("--secret", "secrets", multiple=True, help="Secret to expose to the build")
@click.option("--cache-from", "cache_from", multiple=True, help="Images to consider as cache")
@click.argument("context", metavar="PATH | URL | -")
@pass_state
def build(state: State, /, **options: Any) -> None:
    """Build an image from a Dockerfile."""
    context: Path | BinaryIO | None = Path(options["context"])
    text = None
    dockerfile = options["dockerfile"] if options["dockerfile"] != "-" else None
    if options["context"] == "-":
        # docker's: a Dockerfile on stdin (no context), or a context archive
        data = sys.stdin.buffer.read()
        if _is_archive(data):
            context = io.BytesIO(data)
        else:
            context, text = None, data.decode(errors="replace")
    else:
        if not Path(options["context"]).is_dir():
            click.echo(
                f'ERROR: unable to prepare context: path "{options["context"]}" not found',
                err=True,
            )
            sys.exit(1)
        if options["dockerfile"] == "-":
            text = sys.stdin.read()
        elif dockerfile is None:
            dockerfile = str(Path(options["context"]) / "Dockerfile")
    mode = "quiet" if options["quiet"] else options["progress"]
    try:
        made = state.client.build(
            context,
            BuildOptions(
                tags=options["tags"],
                dockerfile=dockerfile,
                dockerfile_text=text,
                build_args=_pairs(options["build_args"], from_env=True),
                labels={k: v or "" for k, v in _pairs(options["labels"], from_env=False).items()},
                target=options["target"],
                no_cache=options["no_cache"],
                pull=options["pull"],
                cache_from=options["cache_from"],
                network=options["network"],
                secrets=_secrets(options["secrets"]),
                iidfile=options["iidfile"],
            ),
            progress=build_progress(mode, sys.stderr),
        )
    except HybridockError as error:  # a DockerfileError's message names its line already
        _fail(str(error))
    if options["quiet"]:
        click.echo(made.image_id)


def _is_archive(data: bytes) -> bool:
    """A tar (its ``ustar`` magic) or a compressed stream (gzip, bzip2, xz), as docker's
    ``build -`` tells a context archive from a Dockerfile."""
    compressed = data.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"))
    return compressed or data[257:262] == b"ustar"


def _fail(message: str) -> None:
    click.echo(f"ERROR: failed to solve: {message}", err=True)
    sys.exit(1)


@click.group("builder", help="Manage builds")
def builder_group() -> None:
    pass


@builder_group.command("prune", context_settings={"help_option_names": ["--help"]})
@click.option("-a", "--all", "everything", is_flag=True, help="Remove all unused build cache")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@pass_state
def builder_prune(state: State, /, everything: bool, force: bool) -> None:
    """Remove build cache."""
    if not force:
        click.echo(
            "WARNING! This will remove all dangling build cache. Are you sure you want to"
            " continue? [y/N] ",
            nl=False,
        )
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return
    reclaimed = state.client.prune_build_cache(all=everything)
    click.echo(f"Total:\t{_size(reclaimed)}")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.3g}{unit}"
        value /= 1000
    return f"{value}GB"
