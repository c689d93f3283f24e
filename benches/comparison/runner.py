"""Timing contenders side by side: one warm-up each, then alternating rounds (A B C A B C ...).

A contender's ``prepare`` runs untimed before every run (empty a store, remove a container),
its ``action`` is what is timed. The warm-up is one untimed run, or the contender's own
``warm_up`` where a full run would only repeat a measured one at length: a multi-second
workload warms up on a small image (binaries, daemon, registry connection), since its first
large run is not special (the large blobs were just pushed, so every tool reads them from the
page cache). An exception in either is recorded as the contender's error
and the contender leaves the workload; the other contenders go on. Measurements that are not
durations (memory) come in as ``Row.measured`` directly.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class CommandFailed(RuntimeError):
    """A benchmarked command exited non-zero; the message carries its stderr tail."""


def run_command(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    capture: bool = False,
    cwd: Path | None = None,
) -> str:
    """Run ``command``; raise ``CommandFailed`` with the stderr tail when it fails."""
    try:
        result = subprocess.run(
            list(command),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CommandFailed(f"{command[0]}: {error}") from error
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise CommandFailed(
            f"{' '.join(command[:4])} ... exit {result.returncode}: {' | '.join(tail)}"
        )
    return result.stdout.decode(errors="replace") if capture else ""


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def nothing() -> None:
    return None


@dataclass
class Contender:
    tool: str
    action: Callable[[], object]
    prepare: Callable[[], object] = nothing
    note: str = ""
    baseline: bool = False
    warm_up: Callable[[], object] | None = None


@dataclass
class Row:
    workload: str
    tool: str
    unit: str = "s"
    measured: list[float] = field(default_factory=list)
    error: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    baseline: bool = False

    @property
    def median(self) -> float | None:
        return statistics.median(self.measured) if self.measured else None

    def as_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "tool": self.tool,
            "unit": self.unit,
            "measured": self.measured,
            "min": min(self.measured) if self.measured else None,
            "median": self.median,
            "max": max(self.measured) if self.measured else None,
            "error": self.error,
            "note": self.note,
            "extra": self.extra,
            "baseline": self.baseline,
        }


def describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.replace("\n", " | ")[:400]


def log(message: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _attempt(contender: Contender, row: Row, *, warm_up: bool = False) -> float | None:
    try:
        if warm_up and contender.warm_up is not None:
            return timed(contender.warm_up)
        contender.prepare()
        # Untimed: what the previous run (another tool's, or the prepare's deletions) left
        # dirty is written back now, so that no timed run pays for it (a syncfs in a pull,
        # or writeback competing with its writes).
        os.sync()
        return timed(contender.action)
    except Exception as error:  # a failing peer is a row, not a crash
        row.error = describe(error)
        log(f"  {row.workload} / {row.tool} failed: {row.error}")
        if not isinstance(error, CommandFailed):
            traceback.print_exc(file=sys.stderr)
        return None


def alternate(workload: str, contenders: Sequence[Contender], rounds: int) -> list[Row]:
    """Warm-up each contender once, then ``rounds`` alternating rounds; one row per tool."""
    rows = {
        c.tool: Row(workload, c.tool, note=c.note, baseline=c.baseline or c.tool == "hybridock")
        for c in contenders
    }
    alive = list(contenders)
    log(f"{workload}: warm-up ({', '.join(c.tool for c in contenders)})")
    alive = [c for c in alive if _attempt(c, rows[c.tool], warm_up=True) is not None]
    for round_number in range(rounds):
        for contender in list(alive):
            seconds = _attempt(contender, rows[contender.tool])
            if seconds is None:
                alive.remove(contender)
            else:
                rows[contender.tool].measured.append(seconds)
        figures = ", ".join(
            f"{c.tool} {rows[c.tool].measured[-1]:.3f}" for c in alive if rows[c.tool].measured
        )
        log(f"{workload}: round {round_number + 1}/{rounds}: {figures}")
    for row in rows.values():
        if row.error is not None:
            row.measured = []  # a contender that failed once has no trustworthy figures
    return list(rows.values())


def failed_row(workload: str, tool: str, error: BaseException | str) -> Row:
    message = error if isinstance(error, str) else describe(error)
    return Row(workload, tool, error=message)


def guarded(workload: str, tools: Sequence[str], body: Callable[[], list[Row]]) -> list[Row]:
    """Run a whole workload; if its own setup fails, every tool gets a row with the error."""
    try:
        return body()
    except Exception as error:  # the report must still be written
        traceback.print_exc(file=sys.stderr)
        return [failed_row(workload, tool, error) for tool in tools]
