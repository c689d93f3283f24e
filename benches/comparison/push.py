"""The push workload: the large gzip image pushed to an empty registry by each tool.

Each tool pulls the image once (untimed) and tags it for a second registry that only this
workload uses; before every timed push that registry is stopped, its storage wiped and started
again on the same port, so nothing can be skipped ("Layer already exists") or mounted: every
layer is uploaded. hybridock pushes the registry's own compressed blobs; docker and podman, as
they store layers uncompressed, compress them again on the way. A second hybridock row forces
the same work on it (``--compression-format gzip --compression-level 6``: every layer
decompressed and compressed again, gzip's default level, on both cores).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from tests.support.registry import Registry

from comparison.bench import Bench
from comparison.runner import CommandFailed, Contender, Row, alternate, failed_row
from comparison.tools import remove

TARGET = "bench/pushed:latest"


def _emptied(registry: Registry) -> Callable[[], None]:
    def empty() -> None:
        registry.stop()
        remove(registry.storage_dir)
        registry.start()

    return empty


def push_large(bench: Bench) -> list[Row]:
    workload = "push, large gzip image to an empty registry"
    source = bench.images.reference("large-gzip")
    registry = Registry(bench.work / "push-registry", proxy=False)
    registry.start()
    try:
        target = f"{registry.address}/{TARGET}"
        contenders, missing = [], []
        hybridock = bench.hybridock
        try:
            hybridock.empty("push")
            hybridock.pull_for_setup("push", source)
            hybridock.run("push", "tag", source, target)
            contenders.append(
                Contender(
                    "hybridock",
                    prepare=_emptied(registry),
                    action=lambda: hybridock.run("push", "push", "-q", target),
                    baseline=True,
                )
            )
            recompress = ("--compression-format", "gzip", "--compression-level", "6")
            contenders.append(
                Contender(
                    "hybridock, recompressing",
                    prepare=_emptied(registry),
                    action=lambda: hybridock.run("push", "push", "-q", *recompress, target),
                    note="push --compression-format gzip --compression-level 6",
                )
            )
        except CommandFailed as error:
            missing.append(failed_row(workload, "hybridock", error))
        for tool, peer, flags in (
            ("docker", bench.docker, ()),
            ("podman", bench.podman, ("--tls-verify=false",)),
        ):
            if peer is None:
                missing.append(bench.missing(workload, tool))
                continue
            try:
                peer.run("pull", "-q", *flags, source)
                peer.run("tag", source, target)
            except CommandFailed as error:
                missing.append(failed_row(workload, tool, error))
                continue
            contenders.append(
                Contender(
                    tool,
                    prepare=_emptied(registry),
                    action=lambda peer=peer, flags=flags: peer.run("push", "-q", *flags, target),  # type: ignore[misc]
                )
            )
        rows = alternate(workload, contenders, bench.rounds)
        for peer in (bench.docker, bench.podman):
            if peer is not None:
                for reference in (target, source):
                    with contextlib.suppress(CommandFailed):
                        peer.run("rmi", "-f", reference)
        hybridock.empty("push")
        return rows + missing
    finally:
        registry.stop()
        remove(registry.workdir)
