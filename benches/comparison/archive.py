"""The archive workload (issue 14): ``save -o FILE`` of the large gzip image, ``rmi`` of it,
then ``load -i FILE``, for each tool in turn. The figure is the save plus the load (the rmi
between is not timed: podman's alone takes longer than its load); ``extra`` has each half
(``save_s``, ``load_s``) and the archive's bytes.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

from comparison.bench import Bench
from comparison.runner import CommandFailed, Contender, Row, alternate

WORKLOAD = "save then load, large gzip image"


class _RoundTrip:
    """One tool's round trip, with its two halves timed."""

    def __init__(self, run: Callable[..., object], reference: str, archive: str) -> None:
        self.run = run
        self.reference = reference
        self.archive = archive
        self.saves: list[float] = []
        self.loads: list[float] = []

    def __call__(self) -> None:
        started = time.perf_counter()
        self.run("save", "-o", self.archive, self.reference)
        saved = time.perf_counter()
        self.run("rmi", self.reference)
        removed = time.perf_counter()
        self.run("load", "-q", "-i", self.archive)
        self.saves.append(saved - started)
        self.loads.append(time.perf_counter() - removed)

    def untimed(self, prepare: Callable[[], None]) -> None:
        """The warm-up: one whole round trip whose halves are not kept."""
        prepare()
        self()
        self.saves.clear()
        self.loads.clear()


def save_load_round_trip(bench: Bench) -> list[Row]:
    reference = bench.images.reference("large-gzip")
    scratch = bench.work / "archive"
    scratch.mkdir(parents=True, exist_ok=True)
    hybridock = bench.hybridock

    def run_ours(*args: str, capture: bool = False) -> object:
        return hybridock.run("archive", *args, capture=capture)

    tools: dict[str, tuple[Callable[..., object], Callable[[], object]]] = {
        "hybridock": (run_ours, lambda: hybridock.run("archive", "pull", "-q", reference))
    }
    missing = []
    if bench.docker is not None:
        docker = bench.docker
        tools["docker"] = (docker.run, lambda: docker.run("pull", "-q", reference))
    else:
        missing.append(bench.missing(WORKLOAD, "docker"))
    if bench.podman is not None:
        podman = bench.podman
        tools["podman"] = (
            podman.run,
            lambda: podman.run("pull", "-q", "--tls-verify=false", reference),
        )
    else:
        missing.append(bench.missing(WORKLOAD, "podman"))
    trips = {
        tool: _RoundTrip(run, reference, str(scratch / f"{tool}.tar"))
        for tool, (run, _) in tools.items()
    }

    def prepare(tool: str) -> Callable[[], None]:
        def ready() -> None:  # the image in the store, no archive left from the last run
            (scratch / f"{tool}.tar").unlink(missing_ok=True)
            with contextlib.suppress(CommandFailed):
                tools[tool][0]("image", "inspect", reference, capture=True)
                return
            tools[tool][1]()

        return ready

    contenders = [
        Contender(
            tool,
            action=trip,
            prepare=prepare(tool),
            baseline=tool == "hybridock",
            warm_up=lambda trip=trip, tool=tool: trip.untimed(prepare(tool)),  # type: ignore[misc]
        )
        for tool, trip in trips.items()
    ]
    rows = alternate(WORKLOAD, contenders, bench.rounds)
    for row in rows:
        trip = trips.get(row.tool)
        archive = scratch / f"{row.tool}.tar"
        if trip is None or not trip.saves:
            continue
        # the rmi between is the peers' own chore (podman's takes longer than its load): the
        # figure is the save and the load
        row.measured = [save + load for save, load in zip(trip.saves, trip.loads, strict=True)]
        row.extra["save_s"] = statistics.median(trip.saves)
        row.extra["load_s"] = statistics.median(trip.loads)
        if archive.exists():
            row.extra["archive_bytes"] = archive.stat().st_size
        row.note = (
            f"save {row.extra['save_s']:.2f} s + load {row.extra['load_s']:.2f} s"
            f" (archive {row.extra.get('archive_bytes', 0) / 1e6:.0f} MB), rmi between untimed"
        )
    for tool in trips:
        (scratch / f"{tool}.tar").unlink(missing_ok=True)
    hybridock.empty("archive")
    return rows + missing
