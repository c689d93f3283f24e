"""hybridock-runtime under its real callers with images of Debian's own packages (a web server,
a database server, an interpreter; tests/support/debimages.py), run as a podman or containerd
user runs them: detached servers reached with ``exec``, stopped with their own stop signals.

The servers listen on 127.0.0.1 in the container's own network namespace (``--network none``
keeps its loopback). podman and containerd run on private roots and sockets; every container,
image and directory is removed at the end of the module, also when a test fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.containerd import Containerd, DaemonStartError, containerd_probe
from tests.support.debimages import DebianImageBuilder, nginx_image, postgres_image, python_image
from tests.support.images import PushedImage
from tests.support.ociruntime import runtime_binary
from tests.support.podman import Podman, PodmanStartError, podman_probe
from tests.support.processes import processes_mentioning
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry, pytest.mark.slow]

WAIT_TIMEOUT = 60.0
HTTP_GET = """\
import socket
connection = socket.create_connection(("127.0.0.1", 80), timeout=30)
connection.sendall(b"GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
print(connection.makefile("rb").read().decode())
"""


@pytest.fixture(scope="module")
def runtime() -> Path:
    path = runtime_binary()
    if not path.exists():
        pytest.skip(f"no hybridock-runtime at {path}")
    return path


@pytest.fixture(scope="module")
def pushed(
    session_registry: Registry, debian_image_builder: DebianImageBuilder
) -> dict[str, PushedImage]:
    """The three images in the session registry, by recipe name."""
    images = {}
    for recipe in (nginx_image(), postgres_image(), python_image()):
        built = debian_image_builder.image(recipe).build()
        images[recipe.name] = session_registry.push(built, f"debian/{recipe.name}", "latest")
    return images


@pytest.fixture(scope="module")
def podman(
    runtime: Path,
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    pushed: dict[str, PushedImage],
) -> Iterator[tuple[Podman, dict[str, str]]]:
    if reason := podman_probe():
        pytest.skip(reason)
    podman = Podman(tmp_path_factory.mktemp("podman"), runtime)
    try:
        podman.start()
    except PodmanStartError as error:
        pytest.skip(f"podman does not run here: {error}")
    try:
        references = {
            name: podman.pull(image, session_registry.backend_address)
            for name, image in pushed.items()
        }
        yield podman, references
    finally:
        podman.stop()
    assert not processes_mentioning(podman.workdir)


def until(probe: object, what: str) -> str:
    """Calls ``probe`` until it returns output (not None); that output."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        output = probe()  # type: ignore[operator]
        if output is not None:
            return str(output)
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {WAIT_TIMEOUT:.0f}s")
        time.sleep(0.2)


def exit_code(podman: Podman, name: str) -> int:
    return int(podman.podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout)


def test_web_server_serves_and_stops_gracefully(podman: tuple[Podman, dict[str, str]]) -> None:
    engine, images = podman
    name = f"oci-nginx-{time.monotonic_ns()}"
    try:
        engine.podman("run", "-d", "--name", name, *engine.run_flags(), images["nginx"])

        def page() -> str | None:
            result = engine.podman("exec", name, "python3", "-c", HTTP_GET, check=False)
            return result.stdout if result.returncode == 0 else None

        answer = until(page, "nginx answering")
        assert answer.startswith("HTTP/1.1 200 OK"), answer
        # workers run as www-data, the master as root: the image's own users
        users = engine.podman("top", name, "user", "args").stdout
        assert "www-data" in users, users
        engine.podman("stop", "-t", "30", name)  # SIGQUIT, the image's StopSignal
        assert exit_code(engine, name) == 0
    finally:
        engine.podman("rm", "-f", name, check=False)


def test_database_server_answers_queries(podman: tuple[Podman, dict[str, str]]) -> None:
    engine, images = podman
    name = f"oci-postgres-{time.monotonic_ns()}"
    sql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc"]
    try:
        engine.podman(
            "run", "-d", "--name", name, "--memory", "256m", *engine.run_flags(),
            images["postgres"],
        )  # fmt: skip

        def ready() -> str | None:
            result = engine.podman("exec", name, *sql, "select 1", check=False)
            return result.stdout if result.returncode == 0 else None

        until(ready, "postgres accepting connections")
        engine.podman("exec", name, *sql, "create table t (n int); insert into t values (20), (22)")
        assert engine.podman("exec", name, *sql, "select sum(n) from t").stdout == "42\n"
        engine.podman("stop", "-t", "30", name)  # SIGINT: a fast shutdown
        assert exit_code(engine, name) == 0
    finally:
        engine.podman("rm", "-f", name, check=False)


def test_interpreter_runs_and_exits_with_its_code(podman: tuple[Podman, dict[str, str]]) -> None:
    engine, images = podman
    result = engine.podman(
        "run", "--rm", *engine.run_flags(), images["python"],
        "python3", "-c", "import sys; print(sys.version_info[0]); sys.exit(7)",
        check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (7, "3\n"), result.stderr


def test_containerd_runs_the_interpreter(
    runtime: Path,
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    pushed: dict[str, PushedImage],
) -> None:
    if reason := containerd_probe():
        pytest.skip(reason)
    daemon = Containerd(tmp_path_factory.mktemp("containerd"))
    try:
        daemon.start()
    except DaemonStartError as error:
        pytest.skip(f"containerd does not run here: {error}")
    try:
        image = daemon.pull(pushed["python"], session_registry.backend_address)
        task = f"oci-python-{time.monotonic_ns()}"
        result = daemon.ctr(
            "run", "--runc-binary", str(runtime), "--rm", image, task,
            "python3", "-c", "print(sum(range(10)))",
        )  # fmt: skip
        assert result.stdout == "45\n"
    finally:
        daemon.stop()
    assert not processes_mentioning(daemon.socket)
