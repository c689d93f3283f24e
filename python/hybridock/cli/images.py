"""Image commands: pull, images (image ls), rmi (image rm), image inspect, image prune."""

from __future__ import annotations

import sys

import click

from hybridock.cli.context import (
    ContainerCommandError,
    GoBoolCommand,
    State,
    filter_arguments,
    pass_state,
)
from hybridock.cli.output import (
    PullRenderer,
    ago,
    formatted,
    go_time,
    human_size,
    parse_timestamp,
    pull_status,
)
from hybridock.client import ListedImage, RemovalReport
from hybridock.errors import HybridockError, ImageNotFound, InvalidReference
from hybridock.reference import Reference, tag_given


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
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
    if not quiet:
        click.echo(f"Digest: {result.digest}")
        click.echo(f"Status: {pull_status(result)}")
    click.echo(str(reference))  # docker prints the reference pulled, -q or not


IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
    "VirtualSize": "SIZE",
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}
IMAGE_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGE_TABLE_WITH_DIGEST = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)


def _counted(value: int, shown: str) -> str:
    return "N/A" if value == -1 else shown  # the daemon's -1: not counted


def _image_fields(
    state: State, listed: ListedImage, *, digests: bool, need_digest: bool, no_trunc: bool
) -> list[dict[str, str]]:
    """docker's imageFormat: a row per tag (per tag and digest when digests are shown), a
    row per repository known only by digest, one ``<none>`` row for a dangling image; the
    image's own fields from its list entry (``Client.image_summary``)."""
    summary = state.client.image_summary(listed.image)
    created = summary["Created"] or None
    image_id = summary["Id"]
    common = {
        "ID": image_id if no_trunc else image_id.removeprefix("sha256:")[:12],
        "CreatedSince": ago(created),
        "CreatedAt": go_time(created),
        "Size": human_size(summary["Size"]),
        "VirtualSize": human_size(summary["VirtualSize"], digits=4),
        "Containers": _counted(summary["Containers"], str(summary["Containers"])),
        "SharedSize": _counted(summary["SharedSize"], human_size(summary["SharedSize"])),
        "UniqueSize": _counted(
            summary["SharedSize"], human_size(summary["Size"] - summary["SharedSize"])
        ),
    }
    entries: list[tuple[str, str, str]] = []
    by_repository: dict[str, list[str]] = {}
    for reference in listed.digests:
        by_repository.setdefault(reference.familiar_name, []).append(reference.digest or "")
    tagged: dict[str, list[str]] = {}
    for reference in listed.tags:
        tagged.setdefault(reference.familiar_name, []).append(reference.tag or "")
    for repository, tags in tagged.items():
        repository_digests = by_repository.pop(repository, []) if need_digest else []
        by_repository.pop(repository, None)
        for tag in tags:
            entries.extend((repository, tag, d) for d in repository_digests or ["<none>"])
    for repository, repository_digests in by_repository.items():
        if digests:
            entries.extend((repository, "<none>", digest) for digest in repository_digests)
        else:
            entries.append((repository, "<none>", ""))
    if not entries:
        entries.append(("<none>", "<none>", "<none>"))
    return [
        {**common, "Repository": repository, "Tag": tag, "Digest": digest}
        for repository, tag, digest in entries
    ]


@click.command("images")
@click.option("-a", "--all", "all_images", is_flag=True, help="Show all images.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (key=value).")
@click.option("--format", "output_format", help="table, json, or a {{.Field}} template.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.argument("repository", required=False)
@pass_state
def images(
    state: State,
    all_images: bool,
    quiet: bool,
    digests: bool,
    filters: tuple[str, ...],
    output_format: str | None,
    no_trunc: bool,
    repository: str | None,
) -> None:
    """List images.

    hybridock keeps no intermediate images, so --all lists what the default does: every
    image, dangling ones included."""
    if repository:
        filters = (*filters, f"reference={repository}")  # as docker's client does
    listed = state.client.image_listing(filter_arguments(filters))
    need_digest = digests or "{{.Digest}}" in (output_format or "")
    rows = [
        row
        for entry in listed
        for row in _image_fields(
            state, entry, digests=digests, need_digest=need_digest, no_trunc=no_trunc
        )
    ]
    if quiet and output_format in (None, "table"):
        seen = []
        for row in rows:
            if row["ID"] not in seen:
                seen.append(row["ID"])
        for image_id in seen:
            click.echo(image_id)
        return
    default = IMAGE_TABLE_WITH_DIGEST if digests else IMAGE_TABLE
    chosen = output_format or "table"
    if digests and chosen.startswith("table") and chosen != "table" and "{{.Digest}}" not in chosen:
        chosen += "\t{{.Digest}}"
    for line in formatted(rows, chosen, IMAGE_HEADERS, default):
        click.echo(line)


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
            # as docker's client: with -f, an image that is not there is said but no failure
            failed = failed or not (force and isinstance(error, ImageNotFound))
    if failed:
        sys.exit(1)


@click.command("inspect")
@click.option("-f", "--format", "output_format", help="A {{.Field}} template.")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE [IMAGE...]")
@pass_state
def image_inspect(state: State, output_format: str | None, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more images."""
    from hybridock.cli.containers import show_documents  # noqa: PLC0415

    documents = []
    failures = []
    for name in names:
        try:
            documents.append(state.client.inspect_image(name))
        except HybridockError as error:
            failures.append(image_failure(name, error))
    show_documents(documents, output_format, failures)


def image_failure(name: str, error: HybridockError) -> str:
    """docker 20.10's words for an image inspect that found nothing (its LookupImage wraps
    the store's error in the name asked for)."""
    return f"no such image: {name}: {error}" if isinstance(error, ImageNotFound) else str(error)


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


HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def _ellipsis(text: str, width: int) -> str:
    """docker's formatter.Ellipsis: cut to ``width`` characters, the last one an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


@click.command("history", cls=GoBoolCommand, go_bools=[("-H", "--human")])
@click.option(
    "-H", "--human/--no-human", default=True, help="Print sizes and dates in human readable format."
)
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--format", "output_format", help="Pretty-print images using a Go template.")
@click.argument("name", metavar="IMAGE")
@pass_state
def history(
    state: State,
    human: bool,
    no_trunc: bool,
    quiet: bool,
    output_format: str | None,
    name: str,
) -> None:
    """Show the history of an image."""
    readable = human
    if output_format:
        from hybridock.cli.templates import TemplateError, check_closed  # noqa: PLC0415

        try:
            check_closed(output_format)
        except TemplateError as error:
            raise ContainerCommandError(f"template parsing error: {error}", 1) from None
    try:
        steps = state.client.image_history(name)
    except ImageNotFound:
        raise ContainerCommandError(f"No such image: {_as_typed(name)}", 1) from None
    from datetime import datetime  # noqa: PLC0415

    rows = []
    for step in steps:
        created = parse_timestamp(step.created) or 0
        created_at = datetime.fromtimestamp(int(created)).astimezone().isoformat()
        created_at = created_at.replace("+00:00", "Z")
        created_by = step.created_by.replace("\t", " ")
        identifier = step.id
        if not no_trunc and identifier.startswith("sha256:"):
            identifier = identifier.removeprefix("sha256:")[:12]
        rows.append(
            {
                "ID": identifier,
                "CreatedSince": ago(created) if readable else created_at,
                "CreatedAt": created_at,
                "CreatedBy": created_by if no_trunc else _ellipsis(created_by, 45),
                "Size": human_size(step.size) if readable else str(step.size),
                "Comment": step.comment,
            }
        )
    if quiet and output_format in (None, "table"):
        for row in rows:
            click.echo(row["ID"])
        return
    headers = HISTORY_HEADERS if readable else {**HISTORY_HEADERS, "CreatedSince": "CREATED AT"}
    for line in formatted(rows, output_format or "table", headers, HISTORY_TABLE):
        click.echo(line)


def _as_typed(name: str) -> str:
    """The name as docker's daemon echoes it: a reference gets its default tag."""
    try:
        return Reference.parse(name).familiar
    except InvalidReference:
        return name
