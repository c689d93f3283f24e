"""tag (image tag) and push (image push): names for images, and images out to a registry."""

from __future__ import annotations

import sys
from typing import TextIO

import click

from hybridock.cli.context import State, pass_state
from hybridock.cli.output import PullRenderer
from hybridock.errors import ConfigError
from hybridock.reference import Reference, tag_given


@click.command()
@click.argument("source", metavar="SOURCE_IMAGE[:TAG]")
@click.argument("target", metavar="TARGET_IMAGE[:TAG]")
@pass_state
def tag(state: State, source: str, target: str) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    state.client.tag(source, target)


class PushRenderer(PullRenderer):
    """docker push's progress: the repository once, a line per layer (redrawn in place on a
    terminal), then each tag's digest line."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        super().__init__(stream, quiet=quiet)
        self._announced = False

    def repository(self, reference: Reference) -> None:
        if self.quiet or self._announced:
            return
        self._announced = True
        self._write(f"The push refers to repository [{reference.name}]\n")

    def pushed(self, reference: Reference, digest: str, size: int) -> None:
        self.finish()
        with self._lock:
            self._order.clear()
            self._lines.clear()
            self._last_status.clear()
        if not self.quiet:
            self._write(f"{reference.identifier}: digest: {digest} size: {size}\n")


@click.command()
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of an image to the repository.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option(
    "--compression-format",
    type=click.Choice(["gzip", "zstd"]),
    help="Compress every layer so (podman's flag; default: as stored, a plain tar as gzip).",
)
@click.option("--compression-level", type=int, help="The compression level (gzip 1-9, zstd 1-19).")
@click.argument("name", metavar="NAME[:TAG]")
@pass_state
def push(
    state: State,
    all_tags: bool,
    quiet: bool,
    compression_format: str | None,
    compression_level: int | None,
    name: str,
) -> None:
    """Upload an image to a registry."""
    if all_tags and tag_given(name):
        raise ConfigError("tag can't be used with --all-tags/-a")
    if compression_level is not None and compression_format is None:
        compression_format = "gzip"
    reference = Reference.parse(name)
    renderer = PushRenderer(sys.stdout, quiet=quiet)
    if not all_tags and not tag_given(name) and not quiet:
        click.echo(f"Using default tag: {reference.tag}")
    try:
        state.client.push(
            reference,
            all_tags=all_tags,
            progress=renderer,
            compression=compression_format,
            compression_level=compression_level,
        )
    finally:
        renderer.finish()
    if quiet:  # docker 28 prints the reference it pushed, and nothing else
        click.echo(reference.name if all_tags else str(reference))
