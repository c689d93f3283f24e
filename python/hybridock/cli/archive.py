"""save, load and import (also under ``image``): images to and from tar archives.

Exit codes as docker's: 1 for every failure. Results go to stdout (the archive itself when
``save`` has no ``-o``, ``Loaded image: ...`` lines, an imported image's id).
"""

from __future__ import annotations

import sys

import click

from hybridock.cli.context import State, pass_state
from hybridock.errors import ConfigError

#: podman's --format values (images/archive.py's FORMATS)
FORMATS = ("docker-archive", "oci-archive", "oci-dir")


@click.command("save", context_settings={"help_option_names": ["--help"]})
@click.option("-o", "--output", help="Write to a file, instead of STDOUT.")
@click.option(
    "--format",
    "archive_format",
    type=click.Choice(FORMATS),
    default="docker-archive",
    show_default=True,
    help="The archive's format (oci-dir writes a directory).",
)
@click.argument("names", metavar="IMAGE...", nargs=-1, required=True)
@pass_state
def save(state: State, /, output: str | None, archive_format: str, names: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    client = state.client
    if output is not None:
        client.save(list(names), output, format=archive_format)
        return
    if archive_format == "oci-dir":
        raise ConfigError("--format oci-dir writes a directory: give it with -o")
    if sys.stdout.isatty():
        raise ConfigError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    sys.stdout.flush()
    client.save(list(names), sys.stdout.buffer, format=archive_format)
    sys.stdout.buffer.flush()


@click.command("load", context_settings={"help_option_names": ["--help"]})
@click.option("-i", "--input", "source", help="Read from tar archive file, instead of STDIN.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
@pass_state
def load(state: State, /, source: str | None, quiet: bool) -> None:
    """Load an image from a tar archive or STDIN.

    docker's archives (its save's, old and new) and OCI archives, plain or gzipped.
    """
    if source is None and sys.stdin.isatty():
        raise ConfigError("requested load from stdin, but stdin is empty")
    loaded = state.client.load(source if source is not None else sys.stdin.buffer)
    del quiet  # docker's -q hides the progress bars; the result lines are printed either way
    for image in loaded:
        for line in image.messages():
            click.echo(line)


@click.command("import", context_settings={"help_option_names": ["--help"]})
@click.option(
    "-c", "--change", "changes", multiple=True, help="Apply Dockerfile instruction to the image."
)
@click.option("-m", "--message", help="Set commit message for imported image.")
@click.option(
    "--platform",
    metavar="OS/ARCH[/VARIANT]",
    help="Set platform if server is multi-platform capable.",
)
@click.argument("source", metavar="file|URL|-")
@click.argument("reference", metavar="[REPOSITORY[:TAG]]", required=False)
@pass_state
def import_command(
    state: State,
    /,
    changes: tuple[str, ...],
    message: str | None,
    platform: str | None,
    source: str,
    reference: str | None,
) -> None:
    """Import the contents from a tarball to create a filesystem image."""
    stream = source == "-"
    image_id = state.client.import_image(
        sys.stdin.buffer if stream else source,
        reference,
        changes=list(changes),
        message=message,
        platform=platform,
    )
    click.echo(image_id)
