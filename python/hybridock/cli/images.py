"""Image commands: pull, images (image ls), rmi (image rm), image inspect, image prune."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from hybridock.cli.context import State, pass_state
from hybridock.cli.output import PullRenderer, ago, human_size, parse_timestamp, table
from hybridock.client import ImageRecord, RemovalReport
from hybridock.errors import HybridockError
from hybridock.reference import Reference


def tag_given(text: str) -> bool:
    """Whether a reference as typed names a tag or digest (else docker defaults to latest)."""
    last = text.rsplit("/", 1)[-1]
    return ":" in last or "@" in text


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Print only the image digest.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", help="Pull this platform of an index.")
@click.argument("name", metavar="NAME[:TAG|@DIGEST]")
@pass_state
def pull(state: State, quiet: bool, platform: str | None, name: str) -> None:
    """Download an image from a registry."""
    reference = Reference.parse(name)
    renderer = PullRenderer(sys.stdout, quiet=quiet, default_tag=not tag_given(name))
    try:
        result = state.client.pull(reference, platform=platform, progress=renderer)
    finally:
        renderer.finish()
    if quiet:
        click.echo(result.digest)
        return
    click.echo(f"Digest: {result.digest}")
    status = "Downloaded newer image" if result.downloaded else "Image is up to date"
    click.echo(f"Status: {status} for {reference.familiar}")
    click.echo(str(reference))


def _image_rows(
    images: list[ImageRecord], *, digests: bool, no_trunc: bool
) -> list[tuple[str, str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str, str]] = []
    for image in images:
        image_id = image.id if no_trunc else image.id.removeprefix("sha256:")[:12]
        created = ago(parse_timestamp(image.created))
        size = human_size(image.size)
        digest_by_repository = {}
        for repo_digest in image.repo_digests:
            repository, _, digest = repo_digest.partition("@")
            digest_by_repository[repository] = digest
        entries: list[tuple[str, str, str]] = []
        for tag in image.tags:
            reference = Reference.parse(tag)
            digest = digest_by_repository.pop(reference.name, "<none>")
            entries.append((reference.familiar_name, reference.tag or "<none>", digest))
        for repository, digest in digest_by_repository.items():
            if not any(entry[0] == Reference.parse(repository).familiar_name for entry in entries):
                entries.append((Reference.parse(repository).familiar_name, "<none>", digest))
        if not entries:
            entries.append(("<none>", "<none>", "<none>"))
        rows.extend((repo, tag, digest, image_id, created, size) for repo, tag, digest in entries)
    return rows


@click.command("images")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.argument("repository", required=False)
@pass_state
def images(
    state: State, quiet: bool, digests: bool, no_trunc: bool, repository: str | None
) -> None:
    """List images."""
    rows = _image_rows(state.client.images(), digests=digests, no_trunc=no_trunc)
    if repository:
        wanted = Reference.parse(repository)
        rows = [
            row
            for row in rows
            if row[0] == wanted.familiar_name
            and (not tag_given(repository) or row[1] == wanted.tag)
        ]
    if quiet:
        seen = []
        for row in rows:
            if row[3] not in seen:
                seen.append(row[3])
        for image_id in seen:
            click.echo(image_id)
        return
    header = ("REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE")
    selected = [0, 1, 2, 3, 4, 5] if digests else [0, 1, 3, 4, 5]
    table([[row[i] for i in selected] for row in [header, *rows]])


def _print_removal(report: RemovalReport) -> None:
    for name in report.untagged:
        click.echo(f"Untagged: {name}")
    for deleted in report.deleted:
        click.echo(f"Deleted: {deleted}")


@click.command("rmi")
@click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE [IMAGE...]")
@pass_state
def rmi(state: State, force: bool, names: tuple[str, ...]) -> None:
    """Remove one or more images."""
    failed = False
    for name in names:
        try:
            _print_removal(state.client.remove_image(name, force=force))
        except HybridockError as error:
            click.echo(f"Error: {error}", err=True)
            failed = True
    if failed:
        sys.exit(1)


def inspect_image(state: State, image: ImageRecord) -> dict[str, Any]:
    """docker image inspect's shape, as far as hybridock knows the fields."""
    config = image.config
    layout = state.client.layout
    layer_dirs = [str(layout.layer(chain)) for chain in reversed(image.chain_ids)]
    graph: dict[str, str] = {}
    if layer_dirs:
        graph = {"UpperDir": layer_dirs[0]}
        if len(layer_dirs) > 1:
            graph["LowerDir"] = ":".join(layer_dirs[1:])
    return {
        "Id": image.id,
        "RepoTags": [Reference.parse(tag).familiar for tag in image.tags],
        "RepoDigests": [
            f"{Reference.parse(r.partition('@')[0]).familiar_name}@{r.partition('@')[2]}"
            for r in image.repo_digests
        ],
        "Parent": "",
        "Comment": config.get("comment", ""),
        "Created": config.get("created", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config", {}),
        "Architecture": config.get("architecture", ""),
        "Variant": config.get("variant", ""),
        "Os": config.get("os", ""),
        "Size": image.size,
        "GraphDriver": {"Name": "overlay", "Data": graph},
        "RootFS": {"Type": "layers", "Layers": config.get("rootfs", {}).get("diff_ids", [])},
        "Metadata": {"ManifestDigest": image.manifest_digest},
    }


@click.command("inspect")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE [IMAGE...]")
@pass_state
def image_inspect(state: State, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more images."""
    documents = []
    failed = False
    for name in names:
        try:
            documents.append(inspect_image(state, state.client.image(name)))
        except HybridockError as error:
            click.echo(f"Error: {error}", err=True)
            failed = True
    click.echo(json.dumps(documents, indent=4))
    if failed:
        sys.exit(1)


@click.command("prune")
@click.option("-a", "--all", "all_unused", is_flag=True, help="Remove all unused images.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_state
def image_prune(state: State, all_unused: bool, force: bool) -> None:
    """Remove unused images."""
    if not force and sys.stdin.isatty():
        what = "all images without at least one container" if all_unused else "all dangling images"
        prompt = f"WARNING! This will remove {what}.\nAre you sure you want to continue?"
        if not click.confirm(prompt, default=False):
            return
    report = state.client.prune_images(all_unused=all_unused)
    if report.untagged or report.deleted:
        click.echo("Deleted Images:")
        _print_removal(report)
    click.echo(f"\nTotal reclaimed space: {human_size(0) if not report.deleted else 'n/a'}")
