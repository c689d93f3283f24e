"""Issue 5's workloads, one small function each; every one returns rows and never raises.

A ``Bench`` holds what they share: the images, hybridock and the peers that are up (``None``
for a peer that is missing or failed to start: its rows say so), the plain-tool baselines, the
work directory, the number of rounds.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from comparison.images import BenchImages
from comparison.peers import ULIMITS, Docker, Podman, available
from comparison.runner import (
    CommandFailed,
    Contender,
    Row,
    alternate,
    failed_row,
    guarded,
    log,
    run_command,
    timed,
)
from comparison.tools import (
    AccessLog,
    Hybridock,
    fetch_and_untar,
    make_crun_bundle,
    parent_pid,
    process_name,
    pss_kib,
    remove,
    skopeo_umoci_pull,
)


@dataclass
class Bench:
    work: Path
    images: BenchImages
    hybridock: Hybridock
    docker: Docker | None
    podman: Podman | None
    access_log: AccessLog
    rounds: int
    quick: bool
    ps_containers: int
    concurrent: int
    sequential_variant: bool = False
    peer_errors: dict[str, str] = field(default_factory=dict)

    @property
    def fast_rounds(self) -> int:
        """Rounds for sub-second workloads: more of them, the spread is larger."""
        return self.rounds if self.quick else max(10, self.rounds * 3)

    def missing(self, workload: str, tool: str) -> Row:
        return failed_row(workload, tool, self.peer_errors.get(tool, f"{tool} is not available"))


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
    both = [bench.images.reference("large-gzip"), bench.images.reference("large-zstd")]
    contenders, missing = [], []
    if bench.docker is not None:
        docker = bench.docker
        contenders.append(
            Contender(
                "docker",
                prepare=_remover(docker, both),
                action=lambda: docker.run("pull", "-q", reference),
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
            )
        )
    else:
        missing.append(bench.missing(workload, "podman"))
    scratch = bench.work / "plain"
    if available("skopeo", "umoci"):
        contenders.append(
            Contender(
                "skopeo+umoci",
                prepare=lambda: remove(scratch),
                action=lambda: skopeo_umoci_pull(reference, scratch),
            )
        )
    decompressor = ["pigz", "-dc"] if name.endswith("gzip") else ["zstd", "-dcq"]
    if available(decompressor[0], "tar"):
        built = bench.images.large_gzip if name.endswith("gzip") else bench.images.large_zstd
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
            )
        )
    return contenders, missing


def _hybridock_cold_pull(
    bench: Bench, name: str, tool: str = "hybridock", *, sequential: bool = False
) -> Contender:
    reference = bench.images.reference(name)
    return Contender(
        tool,
        prepare=lambda: bench.hybridock.empty("cold"),
        action=lambda: bench.hybridock.run("cold", "pull", "-q", reference, sequential=sequential),
        note="max-concurrent-downloads 1" if sequential else "",
        baseline=tool.startswith("hybridock") and "gzip image" not in tool,
    )


def _hybridock_pulls(bench: Bench, name: str) -> list[Contender]:
    """hybridock's default pull and, if asked for, the one-download-at-a-time variant (a
    fallback baseline while the concurrent pull of a multi-layer image fails)."""
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
    own_gzip = _hybridock_cold_pull(
        bench, "large-gzip", "hybridock (gzip image)", sequential=bench.sequential_variant
    )
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
    notes = {"hybridock": bench.hybridock.pull_for_setup("warm", reference)}
    for tool, pull in list(pulls.items()):
        try:
            pull()  # the first pull fills the store (or finds it full); untimed
            bench.access_log.mark()
            pull()
            requests[tool] = bench.access_log.since_mark()
        except CommandFailed as error:
            missing.append(failed_row(workload, tool, error))
            del pulls[tool]
    rows = alternate(
        workload, [Contender(tool, action=pull) for tool, pull in pulls.items()], bench.fast_rounds
    )
    for row in rows:
        row.extra["registry_requests"] = requests.get(row.tool, {})
        counts = ", ".join(f"{n} {k}" for k, n in requests.get(row.tool, {}).items())
        row.note = "; ".join(filter(None, [counts, notes.get(row.tool, "")]))
    return rows + missing


def _floor_contenders(bench: Bench) -> list[Contender]:
    """crun on a ready bundle and unshare + chroot: what starting /hello costs at least."""
    floors = [
        Contender(
            "python -c 'import click'",
            action=lambda: run_command([sys.executable, "-c", "import click"]),
            note="the interpreter's own start",
        )
    ]
    layer = bench.work / "floors" / "hello.tar.gz"
    layer.parent.mkdir(parents=True, exist_ok=True)
    layer.write_bytes(bench.images.hello.layers[0].data)
    bundle = make_crun_bundle(bench.work / "floors" / "bundle", layer, ["/hello"])
    if available("crun"):
        prefix = bench.podman.namespace_prefix() if bench.podman is not None else []
        name = f"compare-floor-{time.monotonic_ns()}"
        floors.append(
            Contender(
                "crun run (ready bundle)",
                action=lambda: run_command([*prefix, "crun", "run", "--bundle", str(bundle), name]),
                note="in podman's mount namespace (nsenter)" if prefix else "",
            )
        )
    floors.append(
        Contender(
            "unshare + chroot",
            action=lambda: run_command(
                [
                    "unshare",
                    "--mount",
                    "--uts",
                    "--ipc",
                    "--net",
                    "--pid",
                    "--fork",
                    "chroot",
                    str(bundle / "rootfs"),
                    "/hello",
                ]
            ),
        )
    )
    return floors


def warm_run_hello(bench: Bench) -> list[Row]:
    workload = "warm run --rm hello"
    reference = bench.images.reference("hello")
    bench.hybridock.pull_for_setup("warm", reference)
    contenders = [
        Contender("hybridock", action=lambda: bench.hybridock.run("warm", "run", "--rm", reference))
    ]
    missing = []
    if bench.podman is not None:
        podman = bench.podman
        podman.run("pull", "-q", "--tls-verify=false", reference)
        contenders.append(
            Contender(
                "podman",
                action=lambda: podman.run("run", "--rm", "--network=none", *ULIMITS, reference),
            )
        )
    else:
        missing.append(bench.missing(workload, "podman"))
    if bench.docker is not None:
        docker = bench.docker
        docker.run("pull", "-q", reference)
        contenders.append(
            Contender(
                "docker", action=lambda: docker.run("run", "--rm", "--network=none", reference)
            )
        )
    else:
        missing.append(bench.missing(workload, "docker"))
    try:
        contenders += _floor_contenders(bench)
    except Exception as error:  # the floors are extras
        missing.append(failed_row(workload, "floors", error))
    return alternate(workload, contenders, bench.fast_rounds) + missing


def _create_many(create: Callable[[], object], count: int) -> float:
    """Create ``count`` containers, four at a time; seconds per container."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(create) for _ in range(count)]:
            future.result()
    return (time.perf_counter() - started) / count


def ps_many(bench: Bench) -> list[Row]:
    workload = f"ps -a, {bench.ps_containers} containers"
    reference = bench.images.reference("hello")
    tools: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "hybridock": (
            lambda: bench.hybridock.run("ps", "create", reference),
            lambda: bench.hybridock.run("ps", "ps", "-a"),
        )
    }
    bench.hybridock.pull_for_setup("ps", reference)
    if bench.docker is not None:
        docker = bench.docker
        tools["docker"] = (
            lambda: docker.run("create", "--network=none", reference),
            lambda: docker.run("ps", "-a"),
        )
    if bench.podman is not None:
        podman = bench.podman
        tools["podman"] = (
            lambda: podman.run("create", *ULIMITS, reference),
            lambda: podman.run("ps", "-a"),
        )
    contenders, missing = [], []
    for tool, (create, listing) in tools.items():
        try:
            log(f"{workload}: creating {bench.ps_containers} {tool} containers")
            per_container = _create_many(create, bench.ps_containers)
        except CommandFailed as error:
            missing.append(failed_row(workload, tool, error))
            continue
        contenders.append(
            Contender(tool, action=listing, note=f"create: {per_container * 1000:.0f} ms each")
        )
    rows = alternate(workload, contenders, bench.fast_rounds)
    bench.hybridock.empty("ps")
    for peer in (bench.docker, bench.podman):
        if peer is not None:
            try:
                peer.run("container", "prune", "-f", timeout=1800)
            except CommandFailed as error:
                log(f"container prune: {error}")
    return rows + missing


def _supervisor_pss(
    start: Callable[[], tuple[int, str]],
    remove_container: Callable[[str], object],
    tool: str,
    workload: str,
) -> Row:
    """Start a detached ``sleep`` container with ``start`` (its supervisor's pid and the
    container id); the supervisor's PSS; the container removed afterwards."""
    container = ""
    try:
        pid, container = start()
        time.sleep(1)
        figures = [float(pss_kib(pid)) for _ in range(3)]
        name = process_name(pid)
    except Exception as error:  # a row with the error
        return failed_row(workload, tool, error)
    finally:
        if container:
            try:
                remove_container(container)
            except CommandFailed as error:
                log(f"rm -f {container}: {error}")
    return Row(
        workload,
        tool,
        unit="KiB",
        measured=figures,
        note=f"{name} (pid {pid})",
        baseline=tool == "hybridock",
    )


def supervisor_memory(bench: Bench) -> list[Row]:
    workload = "detached supervisor PSS"
    reference = bench.images.reference("busybox")
    hybridock = bench.hybridock

    def monitor() -> tuple[int, str]:
        hybridock.pull_for_setup("warm", reference)
        cid = hybridock.run("warm", "run", "-d", reference, "sleep", "600", capture=True).strip()
        pid = int(hybridock.run("warm", "inspect", "-f", "{{.State.Pid}}", cid, capture=True))
        return parent_pid(pid), cid

    rows = [
        _supervisor_pss(
            monitor, lambda cid: hybridock.run("warm", "rm", "-f", cid), "hybridock", workload
        )
    ]
    if bench.docker is not None:
        docker = bench.docker

        def docker_shim() -> tuple[int, str]:
            cid = docker.run(
                "run", "-d", "--network=none", reference, "sleep", "600", capture=True
            ).strip()
            return parent_pid(
                int(docker.run("inspect", "-f", "{{.State.Pid}}", cid, capture=True))
            ), cid

        rows.append(
            _supervisor_pss(
                docker_shim, lambda cid: docker.run("rm", "-f", cid), "docker", workload
            )
        )
    else:
        rows.append(bench.missing(workload, "docker"))
    if bench.podman is not None:
        podman = bench.podman

        def conmon() -> tuple[int, str]:
            cid = podman.run("run", "-d", *ULIMITS, reference, "sleep", "600", capture=True).strip()
            return int(podman.run("inspect", "-f", "{{.State.ConmonPid}}", cid, capture=True)), cid

        rows.append(
            _supervisor_pss(
                conmon, lambda cid: podman.run("rm", "-f", "-t", "0", cid), "podman", workload
            )
        )
    else:
        rows.append(bench.missing(workload, "podman"))
    return rows


def _all_at_once(command: list[str], env: dict[str, str] | None, count: int) -> None:
    processes = [
        subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    failures = []
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            failures.append(
                f"exit {process.returncode}: {stderr.decode(errors='replace').strip()[-200:]}"
            )
    if failures:
        raise CommandFailed(f"{len(failures)} of {count} failed; first: {failures[0]}")


def concurrent_runs(bench: Bench) -> list[Row]:
    workload = f"{bench.concurrent} concurrent run --rm"
    reference = bench.images.reference("busybox")
    hybridock = bench.hybridock
    hybridock.pull_for_setup("warm", reference)
    contenders = [
        Contender(
            "hybridock",
            action=lambda: _all_at_once(
                hybridock.command("run", "--rm", reference, "true"),
                hybridock.env("warm"),
                bench.concurrent,
            ),
        )
    ]
    missing = []
    if bench.podman is not None:
        podman = bench.podman
        podman.run("pull", "-q", "--tls-verify=false", reference)
        contenders.append(
            Contender(
                "podman",
                action=lambda: _all_at_once(
                    podman.command("run", "--rm", "--network=none", *ULIMITS, reference, "true"),
                    podman.env,
                    bench.concurrent,
                ),
            )
        )
    else:
        missing.append(bench.missing(workload, "podman"))
    if bench.docker is not None:
        docker = bench.docker
        docker.run("pull", "-q", reference)
        contenders.append(
            Contender(
                "docker",
                action=lambda: _all_at_once(
                    docker.command("run", "--rm", "--network=none", reference, "true"),
                    docker.env,
                    bench.concurrent,
                ),
            )
        )
    else:
        missing.append(bench.missing(workload, "docker"))
    return alternate(workload, contenders, bench.rounds) + missing


WORKLOADS: tuple[tuple[str, Callable[[Bench], list[Row]]], ...] = (
    ("cold pull, large gzip image", cold_pull_gzip),
    ("cold pull, large zstd image", cold_pull_zstd),
    ("pull, image cached (tag unchanged)", cached_pull),
    ("warm run --rm hello", warm_run_hello),
    ("detached supervisor PSS", supervisor_memory),
    ("concurrent run --rm", concurrent_runs),
    ("ps -a, many containers", ps_many),
)


def run_all(bench: Bench, only: set[str] | None = None) -> list[Row]:
    rows: list[Row] = []
    for name, workload in WORKLOADS:
        if only and workload.__name__ not in only:
            continue
        rows += guarded(name, ["hybridock"], lambda workload=workload: workload(bench))  # type: ignore[misc]
        log(f"{name}: done")
    return rows


__all__ = ["WORKLOADS", "Bench", "run_all", "timed"]
