"""The Engine API workload: the docker CLI 28's ``docker ps -a`` against hybridock's service
(``hybridock system service``), against the private dockerd 20.10 and against podman's service
(``podman system service --time 0``), each over a store of the same few containers; hybridock's
own ``ps -a`` beside them (no service, one process).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import stop_process

from comparison.bench import Bench
from comparison.containers import prune_peer_containers
from comparison.peers import Podman, Processes, _UnixHTTPConnection, wait_for
from comparison.runner import CommandFailed, Contender, Row, alternate, failed_row, run_command
from comparison.tools import Hybridock, python_environment

DOCKER_CLI = "/usr/local/bin/docker"  # the docker CLI 28 (Debian's 20.10 is dockerd's)
STORE = "service"
CREATE_WORKERS = 4


def service_containers(bench: Bench) -> int:
    return 5 if bench.quick else 50


def docker_cli(socket: Path) -> list[str]:
    return [DOCKER_CLI, "--host", f"unix://{socket}", "ps", "-a"]


def docker_cli_env(bench: Bench) -> dict[str, str]:
    """The CLI's environment: no DOCKER_ variables of the caller, a config of its own."""
    config = bench.work / "docker-cli"
    config.mkdir(parents=True, exist_ok=True)
    environment = {k: v for k, v in python_environment().items() if not k.startswith("DOCKER_")}
    return {**environment, "DOCKER_CONFIG": str(config)}


@contextlib.contextmanager
def hybridock_service(hybridock: Hybridock, socket: Path) -> Iterator[Path]:
    """``hybridock system service`` on ``socket`` over the workload's store, stopped by pid."""
    log_path = hybridock.store(STORE).with_suffix(".service.log")
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            hybridock.command("system", "service", "--socket", str(socket)),
            env=hybridock.env(STORE),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: _UnixHTTPConnection.ping(str(socket)), "hybridock's service", process, log_path
        )
        yield socket
    finally:
        stop_process(process, 30)


@contextlib.contextmanager
def podman_service(podman: Podman, processes: Processes) -> Iterator[Path]:
    """``podman system service --time 0`` on a private socket, stopped by pid."""
    socket = podman.workdir / "compat.sock"
    log_path = podman.workdir / "compat-service.log"
    process = processes.spawn(
        "podman-compat-service",
        podman.command("system", "service", "--time=0", f"unix://{socket}"),
        log_path,
        env=podman.env,
    )
    try:
        wait_for(
            lambda: _UnixHTTPConnection.ping(str(socket)), "podman's service", process, log_path
        )
        yield socket
    finally:
        processes.stop(process)


def check_listings(sockets: dict[str, Path], count: int, environment: dict[str, str]) -> None:
    """Untimed: each service lists the containers made, no more, no fewer."""
    for tool, socket in sockets.items():
        command = [DOCKER_CLI, "--host", f"unix://{socket}", "ps", "-aq"]
        listed = run_command(command, env=environment, capture=True).split()
        if len(listed) != count:
            raise CommandFailed(f"{tool}: docker ps -a listed {len(listed)} of {count}")


def _docker_socket(bench: Bench, reference: str, count: int, stack: contextlib.ExitStack) -> Path:
    """The private dockerd's socket, with ``count`` containers of ``reference``."""
    del stack  # dockerd is already serving
    assert bench.docker is not None
    bench.docker.run("pull", "-q", reference)
    for _ in range(count):
        bench.docker.run("create", "--network=none", reference)
    return bench.docker.socket


def _podman_socket(bench: Bench, reference: str, count: int, stack: contextlib.ExitStack) -> Path:
    """podman's compat service's socket, with ``count`` containers of ``reference``."""
    podman = bench.podman
    assert podman is not None
    podman.run("pull", "-q", "--tls-verify=false", reference)
    podman.create_many(reference, count, CREATE_WORKERS)
    return stack.enter_context(podman_service(podman, podman.processes))


PEERS = {
    "docker": ("dockerd 20.10 (the CLI 28 negotiates API 1.41)", _docker_socket),
    "podman": ("podman system service --time 0 (its compat API, 1.41)", _podman_socket),
}


def docker_ps_service(bench: Bench) -> list[Row]:
    count = service_containers(bench)
    workload = f"docker ps -a through an API service, {count} containers"
    reference = bench.images.reference("hello")
    hybridock = bench.hybridock
    environment = docker_cli_env(bench)
    rows: list[Row] = []
    hybridock.empty(STORE)
    hybridock.pull_for_setup(STORE, reference)
    hybridock.create_containers(STORE, count, CREATE_WORKERS, reference)
    with contextlib.ExitStack() as stack:
        sockets = {
            "hybridock": stack.enter_context(
                hybridock_service(hybridock, bench.work / "hybridock-api.sock")
            )
        }
        notes = {"hybridock": "hybridock system service, a thread and a Client per connection"}
        for tool, (note, make) in PEERS.items():
            if getattr(bench, tool) is None:
                rows.append(bench.missing(workload, tool))
                continue
            try:
                sockets[tool] = make(bench, reference, count, stack)
            except (CommandFailed, RuntimeError) as error:
                rows.append(failed_row(workload, tool, error))
                continue
            notes[tool] = note
        check_listings(sockets, count, environment)
        contenders = [
            Contender(
                tool,
                action=lambda socket=socket: run_command(docker_cli(socket), env=environment),  # type: ignore[misc]
                note=notes[tool],
            )
            for tool, socket in sockets.items()
        ]
        contenders.insert(
            1,
            Contender(
                "hybridock ps -a (no service)",
                action=lambda: hybridock.run(STORE, "ps", "-a"),
                note="hybridock's own CLI: one process reads the store",
            ),
        )
        rows = alternate(workload, contenders, bench.fast_rounds) + rows
    hybridock.empty(STORE)
    prune_peer_containers(bench)
    return rows
