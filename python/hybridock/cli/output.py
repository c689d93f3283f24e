"""Rendering for the CLI: docker's human sizes and durations, tables, --format, pull progress."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from io import StringIO
from typing import TYPE_CHECKING, Any, TextIO

import click

from hybridock.client import human_duration, log_timestamp

if TYPE_CHECKING:
    from hybridock.client import PullResult
    from hybridock.reference import Reference


def _scaled(size: float, base: float, units: tuple[str, ...], digits: int) -> str:
    index = 0
    while size >= base and index < len(units) - 1:
        size /= base
        index += 1
    return f"{size:.{digits}g}{units[index]}"


def human_size(size: float, digits: int = 3) -> str:
    """docker's units.HumanSizeWithPrecision: decimal units, three significant digits by
    default ("4.26MB"; units.HumanSize itself keeps four)."""
    return _scaled(size, 1000.0, ("B", "kB", "MB", "GB", "TB", "PB"), digits)


def bytes_size(size: float) -> str:
    """docker's units.BytesSize: binary units, four significant digits ("1.5MiB")."""
    return _scaled(size, 1024.0, ("B", "KiB", "MiB", "GiB", "TiB", "PiB"), 4)


def parse_timestamp(text: str | None) -> float | None:
    """An RFC 3339 timestamp from an image config (nanoseconds allowed) as epoch seconds."""
    if not text:
        return None
    from datetime import UTC, datetime  # noqa: PLC0415 (~5 ms: only listings need it)

    value = text.strip().replace("Z", "+00:00")
    if "." in value:  # Python takes at most microseconds
        head, _, tail = value.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        zone = tail[len(digits) :]
        value = f"{head}.{digits[:6]}{zone}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def go_time(timestamp: float | None) -> str:
    """Go's ``time.Unix(seconds, 0).String()`` in local time, as docker's CreatedAt columns
    print it ("2026-12-06 08:26:18 +0000 UTC")."""
    from datetime import UTC, datetime  # noqa: PLC0415 (see parse_timestamp)

    moment = datetime.fromtimestamp(int(timestamp or 0), UTC).astimezone()
    return f"{moment:%Y-%m-%d %H:%M:%S %z} {moment.tzname()}"


def ago(timestamp: float | None) -> str:
    if timestamp is None:
        return "N/A"
    return f"{human_duration(time.time() - timestamp)} ago"


def table(rows: Sequence[Sequence[str]], out: TextIO | None = None, *, minwidth: int = 10) -> None:
    """docker's tabwriter (minwidth 10, or ``top``'s 20; padding 3): a cell followed by
    another is padded to the widest such cell of its column plus three spaces, and to at least
    ``minwidth``; the last cell of a row is not padded (an empty one leaves the padding of the
    cell before it, as docker's ``volume ls --format 'table {{.Name}}\t{{.Labels}}'`` shows)."""
    stream = out or sys.stdout
    widths: dict[int, int] = {}
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths.get(index, minwidth), len(cell) + 3)
    for row in rows:
        cells = [cell.ljust(widths[index]) for index, cell in enumerate(row[:-1])]
        stream.write("".join([*cells, *row[-1:]]) + "\n")


def go_json(value: Any) -> str:
    """Go's json.Marshal: compact, keys sorted, and <, >, & (and U+2028/9) escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for character, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(character, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_template(template: str, fields: Mapping[str, str]) -> str:
    """The subset of Go templates listings are formatted with: {{.Field}}, {{json .Field}}
    and {{json .}} (every field)."""

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1).strip()
        if expression.startswith("json "):
            name = expression[5:].strip()
            return go_json(dict(fields) if name == "." else fields.get(name.lstrip("."), ""))
        return fields.get(expression.lstrip("."), "")

    return re.sub(r"\{\{\s*(.*?)\s*\}\}", replace, template)


def formatted(
    rows: Sequence[Mapping[str, str]],
    output_format: str,
    headers: Mapping[str, str],
    default_table: str,
) -> list[str]:
    """docker's formatter.Context: ``table`` (the command's default columns), ``json`` (one
    object a row), ``table TEMPLATE`` (a header row, cells aligned as by its tabwriter) or a
    plain TEMPLATE (a line a row)."""
    if output_format == "json":
        return [go_json(dict(row)) for row in rows]
    if output_format == "table":
        output_format = default_table
    is_table = output_format.startswith("table")
    template = output_format.removeprefix("table") if is_table else output_format
    template = template.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    lines = [render_template(template, row) for row in rows]
    if not is_table:
        return lines
    header = render_template(template, headers)
    buffer = StringIO()
    table([line.split("\t") for line in [header, *lines]], buffer)
    return buffer.getvalue().splitlines()


def error(message: str, prefix: str = "Error") -> None:
    click.echo(f"{prefix}: {message}" if prefix else message, err=True)


def pull_status(result: PullResult) -> str:
    """The text of docker's ``Status:`` line after a pull (docker pull, and docker run's
    pull to stderr)."""
    status = "Downloaded newer image" if result.downloaded else "Image is up to date"
    return f"{status} for {result.reference.familiar}"


#: the layer statuses that carry docker's progress bar (pull's and push's)
_BAR_STATUSES = ("Downloading", "Extracting", "Pushing")


class PullRenderer:
    """docker pull's progress: a line per layer, redrawn in place on a terminal.

    Off a terminal (or with NO_COLOR / TERM=dumb) each status change is one plain line, so
    logs stay readable. Updates come from the layer threads, hence the lock.
    """

    def __init__(self, stream: TextIO, *, quiet: bool = False, default_tag: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.default_tag = default_tag
        self.live = (
            stream.isatty() and os.environ.get("TERM") != "dumb" and not os.environ.get("NO_COLOR")
        )
        self._lock = threading.Lock()
        self._order: list[str] = []
        self._lines: dict[str, str] = {}
        self._last_status: dict[str, str] = {}
        self._last_draw = 0.0

    def resolving(self, reference: Reference) -> None:
        if self.quiet:
            return
        if self.default_tag:
            self._write(f"Using default tag: {reference.tag}\n")
        self._write(f"{reference.identifier}: Pulling from {reference.repository}\n")

    def layer(self, layer_id: str, status: str, current: int = 0, total: int = 0) -> None:
        if self.quiet:
            return
        with self._lock:
            text = status
            if status in _BAR_STATUSES and total:
                text = f"{status} {_bar(current, total)} {human_size(current)}/{human_size(total)}"
            if self.live:
                if layer_id not in self._lines:
                    self._order.append(layer_id)
                    self.stream.write("\n")
                self._lines[layer_id] = text
                now = time.monotonic()
                if status in _BAR_STATUSES and now - self._last_draw < 0.1:
                    return
                self._last_draw = now
                self._redraw()
            elif self._last_status.get(layer_id) != status:
                self._last_status[layer_id] = status
                self._write(f"{layer_id}: {status}\n")

    def _redraw(self) -> None:
        count = len(self._order)
        self.stream.write(f"\x1b[{count}A")
        for layer_id in self._order:
            self.stream.write(f"\x1b[2K{layer_id}: {self._lines[layer_id]}\n")
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            if self.live and self._order:
                self._redraw()

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _bar(current: int, total: int, width: int = 50) -> str:
    filled = min(width, int(width * current / total)) if total else 0
    if filled >= width:
        return "[" + "=" * width + "]"
    return "[" + "=" * filled + ">" + " " * (width - filled - 1) + "]"


class TimeBoundError(ValueError):
    """A bad ``--since``/``--until``: ``option`` names which, the message is docker's reason."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(reason)
        self.option = option


def time_bounds(since: str | None, until: str | None, now: float) -> dict[str, int]:
    """The ``since`` and ``until`` given, as ``log_timestamp`` reads them (Unix nanoseconds)."""
    bounds: dict[str, int] = {}
    for option, value in (("since", since), ("until", until)):
        if value:
            try:
                bounds[option] = log_timestamp(value, now)
            except ValueError as error:
                raise TimeBoundError(option, str(error)) from None
    return bounds
