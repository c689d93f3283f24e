"""hybridock side by side with docker, podman, buildah, skopeo + umoci and plain decompress | tar.

    make bench-compare                      # the whole comparison (under 20 minutes), as root
    .venv/bin/python benches/compare.py --quick  # smoke: small image, one round, installed peers
    .venv/bin/python benches/compare.py --only build_cold --only build_rebuild  # issue 15's rows
    .venv/bin/python benches/compare.py --conformance  # + runc's and crun's suites per runtime

Installs the peers from Debian when missing (not in --quick), starts a docker-registry on
127.0.0.1 and, on private sockets and roots under the work directory, containerd + dockerd and
podman (never the host's docker socket or /var/lib/docker); builds the benchmark images
(cached in the work directory), pushes them, times every workload of issue 5 with alternating
runs, and writes benches/results/compare-<date>.json and .md (the table is also printed).
Everything started is stopped by pid at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path
from types import FrameType

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
for entry in (str(REPO), str(BENCHES)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from comparison import conformance, report  # noqa: E402
from comparison.images import build_and_push  # noqa: E402
from comparison.peers import Docker, Podman, Processes, available, install_peers  # noqa: E402
from comparison.runner import describe, log  # noqa: E402
from comparison.tools import AccessLog, Hybridock, remove  # noqa: E402
from comparison.workloads import WORKLOADS, Bench, run_all  # noqa: E402
from tests.support.registry import Registry  # noqa: E402

DEFAULT_WORK = Path("/var/tmp/hybridock-compare")  # noqa: S108 - root-only scratch, reused as a cache
NOTES = (
    "Every tool runs on this machine at once with the others idle between runs; docker and "
    "podman on private roots (overlay2 / overlay), podman with crun in a mount namespace where "
    "the cgroup2 mount is hidden (nsenter adds about 1 ms), --network none everywhere but the "
    "bridge-network row (each tool's default bridge: hybridock's hybridock0, podman's netavark, "
    "docker's docker0 with its userland proxy), all in the comparison's own network namespace.",
    "hybridock runs from the venv's console script with its bytecode precompiled "
    "(PYTHONDONTWRITEBYTECODE unset), as an installed wheel would.",
    "A cold pull is an empty store every run: hybridock a fresh root, docker and podman rmi of "
    "both large images (they share uncompressed layers), skopeo+umoci and the tar floors a "
    "fresh directory. Before every timed run (untimed) a sync writes back what the previous "
    "run left dirty, so no tool pays for another's writes.",
    "Warm-up: one untimed run per tool; for the cold pulls a pull of the busybox image and for "
    "the concurrent runs one run --rm (binaries, daemons, the registry connection warmed; the "
    "large blobs are in the page cache for every tool since they were pushed).",
    "ps -a: the containers are made 4 at a time, docker's with docker create, podman's "
    "through its API service (podman system service), hybridock's by its create command run "
    "in a loop in 4 interpreters: the same records without a process start per container.",
    "docker ps -a through an API service: the docker CLI 28 (/usr/local/bin/docker) against "
    "hybridock system service, the private dockerd 20.10 and podman system service --time 0 "
    "(podman as set up above: a listing runs no runtime), each over the same number of created "
    "containers, checked by an untimed ps -aq first; hybridock's own ps -a beside them.",
)
SCRATCH = (
    "docker", "podman", "hybridock", "registry", "plain", "floors", "buildah", "build-context",
    "conformance",
)  # fmt: skip


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed rounds of the multi-second workloads: cold pulls, concurrent runs (3)",
    )
    parser.add_argument(
        "--fast-rounds",
        type=int,
        default=15,
        help="timed rounds of the sub-second workloads (15)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small image, 1 round, installed peers only"
    )
    parser.add_argument(
        "--work", type=Path, default=DEFAULT_WORK, help=f"scratch and cache ({DEFAULT_WORK})"
    )
    parser.add_argument(
        "--output", type=Path, default=BENCHES / "results", help="where the results go"
    )
    parser.add_argument(
        "--ps-containers", type=int, default=None, help="containers for ps -a (1000)"
    )
    parser.add_argument("--concurrent", type=int, default=None, help="concurrent run --rm (50)")
    parser.add_argument(
        "--no-install", action="store_true", help="do not apt-get install missing peers"
    )
    parser.add_argument(
        "--sequential-variant",
        action="store_true",
        help="add hybridock's one-download-at-a-time cold pulls",
    )
    # the default before --sequential-variant; accepted so the recorded commands still run
    parser.add_argument("--no-sequential-variant", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--install-only",
        action="store_true",
        help="install the missing peers and stop (then run in a network namespace of its own)",
    )
    parser.add_argument(
        "--conformance",
        action="store_true",
        help="also run the OCI runtimes' conformance suites (scripts/oci-suites; ~10 min)",
    )
    parser.add_argument("--no-docker", action="store_true", help="leave docker out")
    parser.add_argument("--no-podman", action="store_true", help="leave podman out")
    parser.add_argument(
        "--only",
        action="append",
        choices=[function.__name__ for _, function in WORKLOADS],
        help="run only these workloads (repeatable)",
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.rounds = options.fast_rounds = 1
    options.ps_containers = options.ps_containers or (10 if options.quick else 1000)
    options.concurrent = options.concurrent or (5 if options.quick else 50)
    return options


def interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def start_peer(name: str, start: object, errors: dict[str, str]) -> object:
    try:
        return start() if callable(start) else None
    except Exception as error:  # a peer that cannot start is a row, not a crash
        errors[name] = f"could not start {name}: {describe(error)}"
        log(errors[name])
        return None


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    signal.signal(signal.SIGTERM, interrupt)
    work: Path = options.work
    work.mkdir(parents=True, exist_ok=True)
    for name in SCRATCH:
        remove(work / name)
    errors: dict[str, str] = {}
    if not options.quick and not options.no_install:
        install_peers()
    if options.install_only:
        return 0
    processes = Processes()
    registry = Registry(work / "registry", proxy=False)
    docker: Docker | None = None
    podman: Podman | None = None
    try:
        registry.start()
        log(f"registry on {registry.address}")
        hybridock = Hybridock(work / "hybridock", registry.address)
        images = build_and_push(registry.address, work / "cache", quick=options.quick)
        if options.no_docker or not available("dockerd", "containerd", "/usr/bin/docker"):
            errors["docker"] = "left out" if options.no_docker else "docker.io is not installed"
        else:
            docker = start_peer("docker", Docker(work / "docker", registry.address).start, errors)  # type: ignore[assignment]
        if options.no_podman or not available("podman", "crun", "conmon"):
            errors["podman"] = "left out" if options.no_podman else "podman is not installed"
        else:
            podman = start_peer(
                "podman", Podman(work / "podman", registry.address, processes).start, errors
            )  # type: ignore[assignment]
        bench = Bench(
            work=work,
            images=images,
            hybridock=hybridock,
            docker=docker,
            podman=podman,
            access_log=AccessLog(registry.log_path),
            rounds=options.rounds,
            fast_rounds=options.fast_rounds,
            quick=options.quick,
            ps_containers=options.ps_containers,
            concurrent=options.concurrent,
            peer_errors=errors,
            sequential_variant=options.sequential_variant,
        )
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        rows = run_all(bench, set(options.only) if options.only else None)
        suites = conformance.conformance(work / "conformance") if options.conformance else []
        rows += conformance.rows(suites)
        info = {
            "date": started,
            "command": shlex.join(
                [Path(sys.executable).name, "benches/compare.py", *(argv or sys.argv[1:])]
            ),
            "rounds": options.rounds,
            "fast_rounds": bench.fast_rounds,
            "quick": options.quick,
            "machine": report.machine(work),
            "images": images.describe(),
            "peer_errors": errors,
            "notes": NOTES,
            "conformance": conformance.markdown(suites) if suites else None,
        }
        stem = f"compare-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}" + (
            "-quick" if options.quick else ""
        )
        table = report.write(rows, info, options.output, stem)
        print(table.read_text())
        log(f"wrote {table} and {table.with_suffix('.json')}")
        return 0
    finally:
        for peer in (docker, podman):
            if peer is not None:
                try:
                    peer.stop()
                except Exception as error:  # go on stopping the rest
                    log(f"stopping {type(peer).__name__}: {describe(error)}")
        processes.stop_all()
        registry.stop()
        for name in SCRATCH:
            remove(work / name)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; everything started was stopped")
        sys.exit(130)
