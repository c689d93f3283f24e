"""The pull workloads: cold pulls of the large image (gzip, zstd) into an empty store for every
tool and every run, and the pull of an image already cached with its tag unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from comparison.bench import Bench
from comparison.peers import Docker, Podman, available
from comparison.runner import CommandFailed, Contender, Row, alternate, failed_row
from comparison.tools import fetch_and_untar, interpreter_floors, remove, skopeo_umoci_pull


def _remover(peer: Docker | Podman, references: list[str]) -> Callable[[], None]:
    """Remove both large images (they share their uncompressed layers) from a peer's store."""

    def remove_images() -> None:
        for reference in references:
            with contextlib.suppress(CommandFailed):
                peer.run("rmi", "-f", reference)

    return remove_images


def _pull_contenders(bench: Bench, name: str, workload: str) -> tuple[list[Contender], list[Row]]:
    """Cold pulls of ``bench/name`` by each peer; rows for the peers that are missing."""
    reference = bench.images.reference(name)
    small = bench.images.reference("busybox")
    both = [bench.images.reference("large-gzip"), bench.images.reference("large-zstd")]
    contenders, missing = [], []
    if bench.docker is not None:
        docker = bench.docker
        contenders.append(
            Contender(
                "docker",
                prepare=_remover(docker, both),
                action=lambda: docker.run("pull", "-q", reference),
                warm_up=lambda: docker.run("pull", "-q", small),
            )
        )
    else:
        missing.append(bench.missing(workload, "docker"))
    if bench.podman is not None:
        podman = bench.podman
        contenders.append(
            Contender(
                "podman",
                prepare=_remover(podman, both),
                action=lambda: podman.run("pull", "-q", "--tls-verify=false", reference),
                warm_up=lambda: podman.run("pull", "-q", "--tls-verify=false", small),
            )
        )
    else:
        missing.append(bench.missing(workload, "podman"))
    scratch = bench.work / "plain"
    if available("skopeo", "umoci"):

        def warm_up_skopeo() -> None:
            remove(scratch)
            skopeo_umoci_pull(small, scratch)

        contenders.append(
            Contender(
                "skopeo+umoci",
                prepare=lambda: remove(scratch),
                action=lambda: skopeo_umoci_pull(reference, scratch),
                warm_up=warm_up_skopeo,
            )
        )
    decompressor = ["pigz", "-dc"] if name.endswith("gzip") else ["zstd", "-dcq"]
    if available(decompressor[0], "tar"):
        built = bench.images.large_gzip if name.endswith("gzip") else bench.images.large_zstd

        def warm_up_untar() -> None:
            remove(scratch)
            fetch_and_untar(
                bench.images.registry,
                "bench/busybox",
                bench.images.busybox.layer_digests,
                ["pigz", "-dc"],
                scratch,
            )

        contenders.append(
            Contender(
                f"{decompressor[0]} | tar",
                prepare=lambda: remove(scratch),
                action=lambda: fetch_and_untar(
                    bench.images.registry,
                    f"bench/{name}",
                    built.layer_digests,
                    decompressor,
                    scratch,
                ),
                note="fetch all layers, then decompress | tar -x each in turn",
                warm_up=warm_up_untar,
            )
        )
    return contenders, missing


def _hybridock_cold_pull(
    bench: Bench, name: str, tool: str = "hybridock", *, sequential: bool = False
) -> Contender:
    reference = bench.images.reference(name)
    small = bench.images.reference("busybox")

    def warm_up() -> None:
        bench.hybridock.empty("cold")
        bench.hybridock.run("cold", "pull", "-q", small, sequential=sequential)

    return Contender(
        tool,
        prepare=lambda: bench.hybridock.empty("cold"),
        action=lambda: bench.hybridock.run("cold", "pull", "-q", reference, sequential=sequential),
        note="max-concurrent-downloads 1" if sequential else "",
        baseline=tool.startswith("hybridock") and "gzip image" not in tool,
        warm_up=warm_up,
    )


def _hybridock_pulls(bench: Bench, name: str) -> list[Contender]:
    """hybridock's default pull and, if asked for (--sequential-variant), the one download
    at a time variant."""
    pulls = [_hybridock_cold_pull(bench, name)]
    if bench.sequential_variant:
        pulls.append(
            _hybridock_cold_pull(bench, name, "hybridock, 1 download at a time", sequential=True)
        )
    return pulls


def cold_pull_gzip(bench: Bench) -> list[Row]:
    workload = "cold pull, large gzip image"
    contenders, missing = _pull_contenders(bench, "large-gzip", workload)
    rows = alternate(workload, [*_hybridock_pulls(bench, "large-gzip"), *contenders], bench.rounds)
    bench.hybridock.empty("cold")
    remove(bench.work / "plain")
    return rows + missing


def cold_pull_zstd(bench: Bench) -> list[Row]:
    workload = "cold pull, large zstd image"
    contenders, missing = _pull_contenders(bench, "large-zstd", workload)
    own_gzip = _hybridock_cold_pull(bench, "large-gzip", "hybridock (gzip image)")
    rows = alternate(
        workload,
        [*_hybridock_pulls(bench, "large-zstd"), own_gzip, *contenders],
        bench.rounds,
    )
    bench.hybridock.empty("cold")
    remove(bench.work / "plain")
    return rows + missing


def cached_pull(bench: Bench) -> list[Row]:
    """``pull`` of the large image already in the store, its tag unchanged upstream."""
    workload = "pull, image cached (tag unchanged)"
    reference = bench.images.reference("large-gzip")
    pulls: dict[str, Callable[[], object]] = {
        "hybridock": lambda: bench.hybridock.run("warm", "pull", "-q", reference)
    }
    missing = []
    for tool, peer, flags in (
        ("docker", bench.docker, ()),
        ("podman", bench.podman, ("--tls-verify=false",)),
    ):
        if peer is None:
            missing.append(bench.missing(workload, tool))
        else:
            pulls[tool] = lambda peer=peer, flags=flags: peer.run("pull", "-q", *flags, reference)  # type: ignore[misc]
    requests = {}
    for tool, pull in list(pulls.items()):
        try:
            pull()  # the first pull fills the store (or finds it full); untimed
            bench.access_log.mark()
            pull()
            requests[tool] = bench.access_log.since_mark()
        except CommandFailed as error:
            missing.append(failed_row(workload, tool, error))
            del pulls[tool]
    contenders = [Contender(tool, action=pull) for tool, pull in pulls.items()]
    rows = alternate(workload, contenders + interpreter_floors(), bench.fast_rounds)
    for row in rows:
        if row.tool in requests:
            row.extra["registry_requests"] = requests[row.tool]
            row.note = ", ".join(f"{n} {k}" for k, n in requests[row.tool].items())
    return rows + missing
