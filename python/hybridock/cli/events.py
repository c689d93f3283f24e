"""events: docker 20.10's, from the store's event log (no daemon: each hybridock process
appends what it does, and this command reads and follows the log)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

import click

from hybridock.cli.context import ContainerCommandError, State, filter_arguments, pass_state
from hybridock.cli.output import TimeBoundError, time_bounds
from hybridock.cli.templates import TemplateError, expand

#: the Go field names of docker's events.Message, by the key its JSON carries
MESSAGE_FIELDS = {
    "Status": "status",
    "ID": "id",
    "From": "from",
    "Type": "Type",
    "Action": "Action",
    "Actor": "Actor",
    "Scope": "scope",
    "Time": "time",
    "TimeNano": "timeNano",
}
ACTOR_FIELDS = {"ID": "ID", "Attributes": "Attributes"}


def _go_text(value: Any) -> str:
    """Go's fmt %v of what a template prints: maps as map[k:v ...] in key order, structs as
    {a b}."""
    if isinstance(value, dict):
        if set(value) == {"ID", "Attributes"}:
            return f"{{{value['ID']} {_go_text(value['Attributes'])}}}"
        return "map[" + " ".join(f"{k}:{_go_text(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _lookup(document: Mapping[str, Any], path: str, column: int) -> Any:
    """A field chain (.Actor.Attributes.name) through the message, as Go's template engine
    walks the struct: an unknown field is an error, a missing map key prints <no value>."""
    value: Any = document
    names = [part for part in path.split(".") if part]
    fields: Mapping[str, str] | None = MESSAGE_FIELDS
    for depth, name in enumerate(names):
        if fields is not None:
            if name not in fields:
                kind = "*events.Message" if fields is MESSAGE_FIELDS else "events.Actor"
                shown = "." + ".".join(names[: depth + 1])
                column += sum(len(part) + 1 for part in names[:depth])  # Go points at the field
                raise TemplateError(
                    f'template: :1:{column}: executing "" at <{shown}>: can\'t evaluate field'
                    f" {name} in type {kind}"
                )
            value = value.get(fields[name]) if isinstance(value, dict) else None
            fields = ACTOR_FIELDS if name == "Actor" and fields is MESSAGE_FIELDS else None
            if value is None:
                value = "" if name in ("Status", "ID", "From", "Type", "Action", "Scope") else 0
                if name in ("Actor", "Attributes"):
                    value = {"ID": "", "Attributes": {}} if name == "Actor" else {}
        else:
            value = value.get(name, "<no value>") if isinstance(value, dict) else "<no value>"
    return value


def render(template: str, document: Mapping[str, Any]) -> str:
    """An event through a template, its fields walked as Go walks docker's events.Message."""
    return expand(
        template, document, lambda path, column: _lookup(document, path, column), text=_go_text
    )


def default_line(document: Mapping[str, Any]) -> str:
    """docker's printOutput: RFC 3339 with nanoseconds (local time), type, action, actor and
    its attributes sorted as "key=value" strings."""
    from datetime import datetime  # noqa: PLC0415

    nanoseconds = int(document.get("timeNano") or int(document.get("time", 0)) * 10**9)
    moment = datetime.fromtimestamp(nanoseconds // 10**9).astimezone()
    zone = moment.strftime("%z")
    zone = "Z" if zone == "+0000" else f"{zone[:3]}:{zone[3:]}"
    stamp = f"{moment:%Y-%m-%dT%H:%M:%S}.{nanoseconds % 10**9:09d}{zone}"
    actor = document.get("Actor") or {}
    line = f"{stamp} {document.get('Type', '')} {document.get('Action', '')} {actor.get('ID', '')}"
    attributes = sorted(f"{k}={v}" for k, v in (actor.get("Attributes") or {}).items())
    return f"{line} ({', '.join(attributes)})" if attributes else line


@click.command("events")
@click.option(
    "-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided."
)
@click.option("--format", "output_format", help="Format the output using the given Go template.")
@click.option("--since", help="Show all events created since timestamp.")
@click.option("--until", help="Stream events until this timestamp.")
@pass_state
def events(
    state: State,
    filters: tuple[str, ...],
    output_format: str | None,
    since: str | None,
    until: str | None,
) -> None:
    """Get real time events (from the store's event log)."""
    wanted = filter_arguments(filters)
    if output_format:
        try:
            render(output_format, {})
        except TemplateError as error:
            raise ContainerCommandError(f"parsing format: {error}", 64) from None
    now = time.time()
    try:
        bounds = time_bounds(since, until, now)
    except TimeBoundError as error:
        raise ContainerCommandError(str(error), 1) from None
    if "since" in bounds and "until" in bounds and bounds["since"] > bounds["until"]:
        raise ContainerCommandError(
            f"`since` time ({since}) cannot be after `until` time ({until})", 1
        )
    stream = state.client.events(
        since=bounds.get("since"), until=bounds.get("until"), filters=wanted
    )
    try:
        for document in stream:
            line = render(output_format, document) if output_format else default_line(document)
            click.echo(line)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return  # docker's events ends quietly on Ctrl-C
    except TemplateError as error:
        raise ContainerCommandError(f"parsing format: {error}", 64) from None
