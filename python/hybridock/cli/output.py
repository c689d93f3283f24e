"""Rendering for the CLI: docker's human sizes and durations, tables, pull progress."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

import click

if TYPE_CHECKING:
    from hybridock.reference import Reference


def _scaled(size: float, base: float, units: tuple[str, ...], digits: int) -> str:
    index = 0
    while size >= base and index < len(units) - 1:
        size /= base
        index += 1
    return f"{size:.{digits}g}{units[index]}"


def human_size(size: float) -> str:
    """docker's units.HumanSize: decimal units, three significant digits ("4.26MB")."""
    return _scaled(size, 1000.0, ("B", "kB", "MB", "GB", "TB", "PB"), 3)


def bytes_size(size: float) -> str:
    """docker's units.BytesSize: binary units, four significant digits ("1.5MiB")."""
    return _scaled(size, 1024.0, ("B", "KiB", "MiB", "GiB", "TiB", "PiB"), 4)


def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration ("About a minute", "3 hours", "2 weeks")."""
    seconds = max(seconds, 0)
    if seconds < 1:
        return "Less than a second"
    if seconds < 2:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = seconds / 60
    if int(minutes) == 1:
        return "About a minute"
    if minutes < 60:
        return f"{int(minutes)} minutes"
    hours = minutes / 60
    if round(hours) == 1:
        return "About an hour"
    if hours < 48:
        return f"{round(hours)} hours"
    if hours < 24 * 7 * 2:
        return f"{round(hours / 24)} days"
    if hours < 24 * 30 * 2:
        return f"{round(hours / 24 / 7)} weeks"
    if hours < 24 * 365 * 2:
        return f"{round(hours / 24 / 30)} months"
    return f"{round(hours / 24 / 365)} years"


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


def ago(timestamp: float | None) -> str:
    if timestamp is None:
        return "N/A"
    return f"{human_duration(time.time() - timestamp)} ago"


def table(rows: Sequence[Sequence[str]], out: TextIO | None = None) -> None:
    """docker's tabwriter layout: columns padded to the widest cell plus three spaces."""
    stream = out or sys.stdout
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        stream.write("   ".join([*cells, row[-1]]).rstrip() + "\n")


def error(message: str, prefix: str = "Error") -> None:
    click.echo(f"{prefix}: {message}" if prefix else message, err=True)


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
            if status in ("Downloading", "Extracting") and total:
                text = f"{status} {_bar(current, total)} {human_size(current)}/{human_size(total)}"
            if self.live:
                if layer_id not in self._lines:
                    self._order.append(layer_id)
                    self.stream.write("\n")
                self._lines[layer_id] = text
                now = time.monotonic()
                if status in ("Downloading", "Extracting") and now - self._last_draw < 0.1:
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
