"""stats: docker's live resource usage table, read from the containers' cgroups.

CPU % is the CPU time a container used between two samples over the wall time between them
(100% = one core busy), as docker computes it. MEM USAGE leaves out inactive page cache
(docker's rule); the LIMIT of an unlimited container is the host's memory.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

import click

from hybridock.cli.context import ContainerCommandError, State, pass_state
from hybridock.cli.output import bytes_size, human_size, render_template
from hybridock.client import Container, Stats
from hybridock.errors import HybridockError

SAMPLE_INTERVAL = 0.5
COLUMNS = ("ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")
HEADERS = {
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


@dataclass(frozen=True)
class Sample:
    moment: float
    stats: Stats


def _sample(state: State, container: Container) -> Sample:
    return Sample(time.monotonic(), state.client.stats(container))


def row(container: Container, first: Sample, second: Sample, memory_total: int) -> dict[str, str]:
    stats = second.stats
    elapsed_ns = (second.moment - first.moment) * 1e9
    cpu_ns = stats.cpu_usage_ns - first.stats.cpu_usage_ns
    cpu = 100.0 * cpu_ns / elapsed_ns if elapsed_ns > 0 and cpu_ns > 0 else 0.0
    if container.running:
        limit = min(stats.memory_limit, memory_total) if stats.memory_limit else memory_total
    else:
        limit = 0
    memory_percent = 100.0 * stats.memory_usage / limit if limit else 0.0
    received, sent = stats.network_received, stats.network_sent
    return {
        "ID": container.id[:12],
        "Container": container.id[:12],
        "Name": container.name,
        "CPUPerc": f"{cpu:.2f}%",
        "MemUsage": f"{bytes_size(stats.memory_usage)} / {bytes_size(limit)}",
        "MemPerc": f"{memory_percent:.2f}%",
        "NetIO": f"{human_size(received)} / {human_size(sent)}",
        "BlockIO": f"{human_size(stats.block_read)} / {human_size(stats.block_write)}",
        "PIDs": str(stats.pids),
    }


def _collect(state: State, containers: list[Container]) -> list[dict[str, str]]:
    first = [_sample(state, c) for c in containers]
    if any(c.running for c in containers):
        time.sleep(SAMPLE_INTERVAL)
    second = [_sample(state, c) for c in containers]
    total = state.client.host_counters().memory
    return [row(c, a, b, total) for c, a, b in zip(containers, first, second, strict=True)]


def _render(rows: list[dict[str, str]], output_format: str | None) -> list[str]:
    if output_format == "json":
        return [json.dumps(r, sort_keys=True) for r in rows]
    if output_format and output_format != "table":
        template = output_format.removeprefix("table ")
        lines = [render_template(template, r) for r in rows]
        if output_format.startswith("table "):
            lines.insert(0, render_template(template, {**HEADERS, "Container": "CONTAINER"}))
        return lines
    table = [[HEADERS[c] for c in COLUMNS], *[[r[c] for c in COLUMNS] for r in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return [
        "   ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]


@click.command()
@click.option("-a", "--all", "all_states", is_flag=True, help="Show all containers.")
@click.option("--no-stream", is_flag=True, help="Print the first result and exit.")
@click.option("--no-trunc", is_flag=True, help="Accepted for docker compatibility.")
@click.option("--format", "output_format", help="table, json, or a {{.Field}} template.")
@click.argument("names", nargs=-1, metavar="[CONTAINER...]")
@pass_state
def stats(
    state: State,
    all_states: bool,
    no_stream: bool,
    no_trunc: bool,
    output_format: str | None,
    names: tuple[str, ...],
) -> None:
    """Display a live stream of container(s) resource usage statistics."""
    client = state.client

    def targets() -> list[Container]:
        if names:
            try:
                return [client.container(name) for name in names]
            except HybridockError as error:
                raise ContainerCommandError(str(error)) from error
        return [c for c in client.list_containers(all_states=True) if all_states or c.running]

    while True:
        lines = _render(_collect(state, targets()), output_format)
        if not no_stream:
            sys.stdout.write("\033[2J\033[H")
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()
        if no_stream:
            return
        time.sleep(SAMPLE_INTERVAL)
