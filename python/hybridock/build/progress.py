"""A build's progress as BuildKit shows it: numbered vertices (``#4 [build 2/3] RUN make``),
each started, logging, then DONE, CACHED or ERROR. The executor reports through a
``Reporter`` (thread-safe: stages build in parallel); what it reports, ``BuildEvent``s, goes
to a caller's callback: ``PlainProgress`` (``--progress=plain``: BuildKit's lines),
``TtyProgress`` (a live view redrawn in place on a terminal) or nothing (quiet).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

#: what a vertex reports: started, a log line, done, cached, error
STARTED, LOG, DONE, CACHED, ERROR = "started", "log", "done", "cached", "error"


@dataclass(frozen=True)
class BuildEvent:
    vertex: int  # 1-based, in the order vertices started
    name: str  # "[build 2/3] RUN make", "exporting to image"
    status: str  # STARTED, LOG, DONE, CACHED or ERROR
    text: str = ""  # LOG: one line (no newline); ERROR: the message
    elapsed: float = 0.0  # seconds since the vertex started


Callback = Callable[[BuildEvent], None]


class Vertex:
    def __init__(self, reporter: Reporter, number: int, name: str) -> None:
        self.reporter = reporter
        self.number = number
        self.name = name
        self.started = time.monotonic()
        self.finished = False

    def _emit(self, status: str, text: str = "") -> None:
        if self.number == 0:  # a step BuildKit shows no vertex for
            return
        elapsed = time.monotonic() - self.started
        self.reporter.emit(BuildEvent(self.number, self.name, status, text, elapsed))

    def log(self, text: str) -> None:
        self._emit(LOG, text)

    def cached(self) -> None:
        self.finished = True
        self._emit(CACHED)

    def error(self, message: str) -> None:
        self.finished = True
        self._emit(ERROR, message)


class Reporter:
    """Numbers vertices and hands their events, one at a time, to ``callback``."""

    def __init__(self, callback: Callback | None) -> None:
        self.callback = callback
        self._lock = threading.Lock()
        self._count = 0

    def emit(self, event: BuildEvent) -> None:
        if self.callback is not None:
            with self._lock:
                self.callback(event)

    @contextlib.contextmanager
    def vertex(self, name: str, *, shown: bool = True) -> Iterator[Vertex]:
        """A vertex started now: DONE when the body ends, unless it reported CACHED or
        ERROR; an exception makes it ERROR (a BuildError's message) and goes on. ``shown``
        false: a step that changes only the image config, of which BuildKit shows nothing."""
        number = 0
        if shown:
            with self._lock:
                self._count += 1
                number = self._count
        vertex = Vertex(self, number, name)
        vertex._emit(STARTED)
        try:
            yield vertex
        except BaseException as error:
            if not vertex.finished:
                vertex.error(str(error) or "canceled")
            raise
        if not vertex.finished:
            vertex.finished = True
            vertex._emit(DONE)


class PlainProgress:
    """BuildKit's ``--progress=plain`` lines on ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, event: BuildEvent) -> None:
        prefix = f"#{event.vertex}"
        if event.status == STARTED:
            line = f"{prefix} {event.name}"
        elif event.status == LOG:
            line = f"{prefix} {event.elapsed:.3f} {event.text}"
        elif event.status == DONE:
            line = f"{prefix} DONE {event.elapsed:.1f}s\n"
        elif event.status == CACHED:
            line = f"{prefix} CACHED\n"
        else:
            line = f"{prefix} ERROR: {event.text}\n"
        self.stream.write(line + "\n")
        self.stream.flush()


class TtyProgress:
    """A live view for a terminal: one line per vertex with its state and time, the last few
    log lines of the running ones under it, redrawn in place after each event."""

    LOG_LINES = 6
    #: a step's output redraws the view at most this often (BuildKit's pace); a step that
    #: starts or ends redraws it at once
    INTERVAL = 0.1

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.vertices: dict[int, list[str]] = {}  # number -> [name, state]
        self.logs: dict[int, list[str]] = {}
        self.drawn = 0
        self.last_drawn = 0.0

    def __call__(self, event: BuildEvent) -> None:
        entry = self.vertices.setdefault(event.vertex, [event.name, ""])
        if event.status == LOG:
            self.logs.setdefault(event.vertex, []).append(event.text)
            del self.logs[event.vertex][: -self.LOG_LINES]
            if time.monotonic() - self.last_drawn < self.INTERVAL:
                return
        elif event.status == DONE:
            entry[1] = f"{event.elapsed:.1f}s"
            self.logs.pop(event.vertex, None)
        elif event.status == CACHED:
            entry[1] = "CACHED"
            self.logs.pop(event.vertex, None)
        elif event.status == ERROR:
            entry[1] = "ERROR"
            self.logs[event.vertex] = [*self.logs.get(event.vertex, []), event.text]
        self.redraw()

    def redraw(self) -> None:
        total = time.monotonic() - self.started
        lines = [f"[+] Building {total:.1f}s ({self._finished()}/{len(self.vertices)})"]
        for number, (name, state) in self.vertices.items():
            lines.append(f" => {name:<60} {state or '...'}")
            lines.extend(f" => => # {text}" for text in self.logs.get(number, ()))
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        self.stream.write(up + "".join(f"\x1b[2K{line}\n" for line in lines) + "\x1b[J")
        self.stream.flush()
        self.drawn = len(lines)
        self.last_drawn = time.monotonic()

    def _finished(self) -> int:
        return sum(1 for _, state in self.vertices.values() if state)


def build_progress(mode: str, stream: TextIO) -> Callback | None:
    """The callback for ``--progress`` ``mode``: auto is tty on a terminal, else plain."""
    if mode == "quiet":
        return None
    if mode == "tty" or (mode == "auto" and stream.isatty()):
        return TtyProgress(stream)
    return PlainProgress(stream)
