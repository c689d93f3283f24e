"""``commit`` of a stopped container that wrote 100 MB of random data (issue 14): each tool
makes its container once, untimed, and commits it every round; the image of the previous
round is removed before each run (untimed), so every commit encodes, compresses and stores
its layer anew instead of finding it stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from comparison.bench import Bench
from comparison.peers import ULIMITS
from comparison.runner import CommandFailed, Contender, Row, alternate, failed_row

#: four files of 25 MB of random data (incompressible: the compressor sees its worst case)
WRITE_CHANGES = (
    "for part in 1 2 3 4; do"
    " dd if=/dev/urandom of=/changes-$part bs=1048576 count=25 2>/dev/null || exit 1; done"
)
CHANGED_MB = 100


def _quietly(action: Callable[[], object]) -> None:
    """An untimed removal of what may not be there."""
    with contextlib.suppress(CommandFailed):
        action()


def commit_changes(bench: Bench) -> list[Row]:
    workload = f"commit, {CHANGED_MB} MB of changes"
    reference = bench.images.reference("busybox")
    name = f"compare-commit-{time.monotonic_ns()}"
    target = f"compare/committed:{name}"
    contenders: list[Contender] = []
    missing: list[Row] = []

    hybridock = bench.hybridock
    try:
        hybridock.pull_for_setup("commit", reference)
        hybridock.run("commit", "run", "--name", name, "--network=none", reference, "sh", "-c",
                      WRITE_CHANGES)  # fmt: skip
        contenders.append(
            Contender(
                "hybridock",
                action=lambda: hybridock.run("commit", "commit", name, target),
                prepare=lambda: _quietly(lambda: hybridock.run("commit", "rmi", target)),
            )
        )
    except CommandFailed as error:
        missing.append(failed_row(workload, "hybridock", error))

    if bench.docker is not None:
        docker = bench.docker
        try:
            docker.run("pull", "-q", reference)
            docker.run("run", "--name", name, "--network=none", reference, "sh", "-c",
                       WRITE_CHANGES)  # fmt: skip
            contenders.append(
                Contender(
                    "docker",
                    action=lambda: docker.run("commit", name, target),
                    prepare=lambda: _quietly(lambda: docker.run("rmi", target)),
                )
            )
        except CommandFailed as error:
            missing.append(failed_row(workload, "docker", error))
    else:
        missing.append(bench.missing(workload, "docker"))

    if bench.podman is not None:
        podman = bench.podman
        try:
            podman.run("pull", "-q", "--tls-verify=false", reference)
            podman.run("run", "--name", name, "--network=none", *ULIMITS, reference, "sh", "-c",
                       WRITE_CHANGES)  # fmt: skip
            contenders.append(
                Contender(
                    "podman",
                    action=lambda: podman.run("commit", "-q", name, target),
                    prepare=lambda: _quietly(lambda: podman.run("rmi", target)),
                    note="podman commit -q (no progress output)",
                )
            )
        except CommandFailed as error:
            missing.append(failed_row(workload, "podman", error))
    else:
        missing.append(bench.missing(workload, "podman"))

    try:
        return alternate(workload, contenders, bench.rounds) + missing
    finally:
        _quietly(lambda: hybridock.run("commit", "rm", "-f", name))
        _quietly(lambda: hybridock.run("commit", "rmi", target))
        if bench.docker is not None:
            _quietly(lambda: bench.docker.run("rm", "-f", name))  # type: ignore[union-attr]
            _quietly(lambda: bench.docker.run("rmi", target))  # type: ignore[union-attr]
        if bench.podman is not None:
            _quietly(lambda: bench.podman.run("rm", "-f", name))  # type: ignore[union-attr]
            _quietly(lambda: bench.podman.run("rmi", target))  # type: ignore[union-attr]
