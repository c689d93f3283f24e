"""The container workloads: warm ``run --rm`` with its floors, the detached supervisor's memory,
many concurrent ``run --rm``, and ``ps -a`` over a store of many containers.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.support.netns import foreign_interfaces

from comparison.bench import Bench
from comparison.peers import ULIMITS, available
from comparison.runner import (
    CommandFailed,
    Contender,
    Row,
    alternate,
    failed_row,
    log,
    run_command,
)
from comparison.tools import interpreter_floors, make_crun_bundle, parent_pid, process_name, pss_kib


def _floor_contenders(bench: Bench) -> list[Contender]:
    """crun on a ready bundle and unshare + chroot: what starting /hello costs at least."""
    floors = interpreter_floors()
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


def _peer_runs(
    bench: Bench, workload: str, reference: str, network: str
) -> tuple[list[Contender], list[Row]]:
    """podman's and docker's warm ``run --rm`` of ``reference`` on ``network`` ("none", or
    "bridge": each one's default bridge; docker's only where its daemon has one), and the rows
    of those that are missing."""
    contenders, missing = [], []
    if bench.podman is not None:
        podman = bench.podman
        podman.run("pull", "-q", "--tls-verify=false", reference)
        flags = ("run", "--rm", f"--network={network}", *ULIMITS, reference)
        contenders.append(Contender("podman", action=lambda: podman.run(*flags)))
    else:
        missing.append(bench.missing(workload, "podman"))
    if bench.docker is not None and (network == "none" or bench.docker.bridge):
        docker = bench.docker
        docker.run("pull", "-q", reference)
        contenders.append(
            Contender(
                "docker",
                action=lambda: docker.run("run", "--rm", f"--network={network}", reference),
            )
        )
    else:
        missing.append(bench.missing(workload, "docker"))
    return contenders, missing


def warm_run_hello(bench: Bench) -> list[Row]:
    workload = "warm run --rm hello"
    reference = bench.images.reference("hello")
    bench.hybridock.pull_for_setup("warm", reference)
    contenders = [
        Contender(
            "hybridock",
            action=lambda: bench.hybridock.run("warm", "run", "--rm", "--network=none", reference),
        )
    ]
    peers, missing = _peer_runs(bench, workload, reference, "none")
    contenders += peers
    try:
        contenders += _floor_contenders(bench)
    except Exception as error:  # the floors are extras
        missing.append(failed_row(workload, "floors", error))
    return alternate(workload, contenders, bench.fast_rounds) + missing


def warm_run_bridge(bench: Bench) -> list[Row]:
    """A warm ``run --rm`` on each tool's default bridge network (a veth, an address, routes,
    and each one's teardown), beside hybridock's ``--network none`` run: networking's cost.
    Only in a network namespace of the comparison's own (scripts/netns-run), where the bridges
    and NAT rules made stay."""
    workload = "warm run --rm hello, bridge network"
    if foreign := foreign_interfaces():
        return [bench.missing(workload, f"all (run in a namespace of its own; found {foreign})")]
    reference = bench.images.reference("hello")
    bench.hybridock.pull_for_setup("warm", reference)
    contenders = [
        Contender(
            "hybridock", action=lambda: bench.hybridock.run("warm", "run", "--rm", reference)
        ),
        Contender(
            "hybridock --network none",
            action=lambda: bench.hybridock.run("warm", "run", "--rm", "--network=none", reference),
        ),
    ]
    peers, missing = _peer_runs(bench, workload, reference, "bridge")
    return alternate(workload, contenders + peers, bench.fast_rounds) + missing


CREATE_WORKERS = 4


def _create_many(create: Callable[[], object], count: int) -> float:
    """Create ``count`` containers, CREATE_WORKERS at a time; seconds per container."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CREATE_WORKERS) as pool:
        for future in [pool.submit(create) for _ in range(count)]:
            future.result()
    return (time.perf_counter() - started) / count


def ps_many(bench: Bench) -> list[Row]:
    workload = f"ps -a, {bench.ps_containers} containers"
    reference = bench.images.reference("hello")
    tools: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {}
    bench.hybridock.pull_for_setup("ps", reference)
    contenders, missing = [], []
    try:
        log(f"{workload}: creating {bench.ps_containers} hybridock containers")
        started = time.perf_counter()
        bench.hybridock.create_containers("ps", bench.ps_containers, CREATE_WORKERS, reference)
        seconds = time.perf_counter() - started
        contenders.append(
            Contender(
                "hybridock",
                action=lambda: bench.hybridock.run("ps", "ps", "-a"),
                note=(
                    f"created in {seconds:.0f} s by {CREATE_WORKERS} interpreters running the"
                    " create command in a loop"
                ),
            )
        )
    except CommandFailed as error:
        missing.append(failed_row(workload, "hybridock", error))
    if bench.docker is not None:
        docker = bench.docker
        tools["docker"] = (
            lambda: docker.run("create", "--network=none", reference),
            lambda: docker.run("ps", "-a"),
        )
    if bench.podman is not None:
        podman = bench.podman
        try:
            log(f"{workload}: creating {bench.ps_containers} podman containers")
            started = time.perf_counter()
            podman.run("pull", "-q", "--tls-verify=false", reference)
            podman.create_many(reference, bench.ps_containers, CREATE_WORKERS)
            seconds = time.perf_counter() - started
            contenders.append(
                Contender(
                    "podman",
                    action=lambda: podman.run("ps", "-a"),
                    note=f"created in {seconds:.0f} s through podman's API service, 4 at a time",
                )
            )
        except (CommandFailed, RuntimeError) as error:
            missing.append(failed_row(workload, "podman", error))
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
    prune_peer_containers(bench)
    return rows + missing


def prune_peer_containers(bench: Bench) -> None:
    """docker's and podman's containers of a listing workload, removed (logged on failure)."""
    for peer in (bench.docker, bench.podman):
        if peer is not None:
            try:
                peer.run("container", "prune", "-f", timeout=1800)
            except CommandFailed as error:
                log(f"container prune: {error}")


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
        cid = hybridock.run(
            "warm", "run", "-d", "--network=none", reference, "sleep", "600", capture=True
        ).strip()
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
                hybridock.command("run", "--rm", "--network=none", reference, "true"),
                hybridock.env("warm"),
                bench.concurrent,
            ),
            warm_up=lambda: hybridock.run(
                "warm", "run", "--rm", "--network=none", reference, "true"
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
                warm_up=lambda: podman.run(
                    "run", "--rm", "--network=none", *ULIMITS, reference, "true"
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
                warm_up=lambda: docker.run("run", "--rm", "--network=none", reference, "true"),
            )
        )
    else:
        missing.append(bench.missing(workload, "docker"))
    return alternate(workload, contenders, bench.rounds) + missing
