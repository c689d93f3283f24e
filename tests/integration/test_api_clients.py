"""The real clients of the Engine API against ``hybridock system service``: docker-py 7,
docker-compose 1.29 (Debian's), testcontainers-python; and many clients at once."""

from __future__ import annotations

import concurrent.futures
import gc
import shutil
import subprocess
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from docker.models.containers import Container as DockerContainerModel
from tests.integration.apisupport import ApiService, service_fixture
from tests.integration.sidebyside import our_box
from tests.integration.test_containers import Box
from tests.support.debimages import NGINX_CONF, DebianImageBuilder, nginx_image
from tests.support.registry import Registry

import hybridock
from hybridock.config import load_config

pytestmark = [
    pytest.mark.root,
    pytest.mark.registry,
    # docker-py's own unclosed sockets (see _docker_py_sockets_collected)
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

box = our_box("api-clients")
service = service_fixture()
COMPOSE = "/usr/bin/docker-compose"


@pytest.fixture(scope="module")
def engine(service: ApiService, box: Box) -> Iterator[docker.DockerClient]:
    """docker-py's client on the service's socket (the API version from ``GET /version``)."""
    box.ok("pull", "hello-world")
    client = docker.DockerClient(base_url=f"unix://{service.socket}", timeout=120)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _docker_py_sockets_collected() -> Iterator[None]:
    """docker-py leaves the sockets of hijacked answers (exec_run, attach) in reference cycles
    for the garbage collector: collected after each test, with the module's filter (their
    ResourceWarning is docker-py's, not ours), they are no later test's error."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture
def clean(box: Box) -> Iterator[Box]:
    """The store; afterwards its containers are gone."""
    yield box
    box.remove_containers()


# --- docker-py ---------------------------------------------------------------------------------


def test_docker_py_images(engine: docker.DockerClient, clean: Box) -> None:
    pulled = engine.images.pull("hello-world", tag="latest")
    assert "hello-world:latest" in pulled.tags
    listed = {tag for image in engine.images.list() for tag in image.tags}
    assert {"busybox:latest", "hello-world:latest"} <= listed
    assert engine.images.get("busybox").id == clean.inspect("busybox")["Id"]
    engine.images.remove("hello-world")
    with pytest.raises(docker.errors.ImageNotFound):
        engine.images.get("hello-world")
    engine.images.pull("hello-world", tag="latest")  # the others' hello again


def test_docker_py_run_attached_returns_the_output(engine: docker.DockerClient, clean: Box) -> None:
    output = engine.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True)
    assert output == b"out\n"
    with pytest.raises(docker.errors.ContainerError) as failed:
        engine.containers.run("busybox", ["sh", "-c", "exit 3"], remove=True)
    assert failed.value.exit_status == 3


def test_docker_py_detached_container_lifecycle(engine: docker.DockerClient, clean: Box) -> None:
    container = engine.containers.run(
        "busybox",
        ["sh", "-c", "for i in 1 2 3; do echo line $i; done; exec sleep 300"],
        detach=True,
        name="pydetached",
    )
    assert isinstance(container, DockerContainerModel)
    lines = []
    stream = container.logs(stream=True, follow=True)
    for chunk in stream:
        lines += chunk.decode().splitlines()
        if len(lines) >= 3:
            break
    stream.close()
    assert lines[:3] == ["line 1", "line 2", "line 3"]
    code, output = container.exec_run(["sh", "-c", "echo from exec; exit 4"])
    assert (code, output) == (4, b"from exec\n")
    container.reload()
    assert container.status == "running"
    container.stop(timeout=1)
    assert container.wait()["StatusCode"] == 137
    container.reload()
    assert container.status == "exited"
    container.remove()
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get("pydetached")


def test_docker_py_exec_run_right_after_the_start_gets_the_output(
    engine: docker.DockerClient, clean: Box
) -> None:
    """docker-py reads an exec's 101 answer through a buffer and then the raw socket: output
    that came with the headers was lost (the process ran before the answer was sent)."""
    for _ in range(10):
        container = engine.containers.run("busybox", ["sleep", "300"], detach=True)
        try:
            assert container.exec_run(["echo", "hi"]) == (0, b"hi\n")
        finally:
            container.remove(force=True)


def test_docker_py_wait_returns_the_exit_code(engine: docker.DockerClient, clean: Box) -> None:
    container = engine.containers.run("busybox", ["sh", "-c", "exit 7"], detach=True)
    assert container.wait(timeout=60) == {"StatusCode": 7, "Error": None}
    container.remove()


# --- docker-compose 1.29 -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def web_image(
    box: Box, session_registry: Registry, debian_image_builder: DebianImageBuilder
) -> str:
    """Debian's nginx (tests/support/debimages.py) in the module's store."""
    built = debian_image_builder.image(nginx_image()).build()
    pushed = session_registry.push(built, "debian/nginx", "latest")
    box.ok("pull", "-q", pushed.reference)
    return pushed.reference


def compose(service: ApiService, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMPOSE, "-H", f"unix://{service.socket}", "-p", "apitest", "-f", "compose.yaml", *args],
        cwd=project,
        env={**service.docker_env, "COMPOSE_INTERACTIVE_NO_CLI": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def project(tmp_path: Path, service: ApiService, web_image: str) -> Iterator[Path]:
    """A web server on the project's network, and a client that reaches it by its service
    name; ``down`` afterwards, whatever happened."""
    if shutil.which(COMPOSE) is None:
        pytest.skip("needs Debian's docker-compose (scripts/test installs it)")
    (tmp_path / "nginx.conf").write_text(NGINX_CONF.replace("listen 127.0.0.1:80", "listen 80"))
    fetch = "for i in $$(seq 1 100); do wget -qO- http://web/ && exit 0; sleep 0.2; done; exit 1"
    (tmp_path / "compose.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: "3.8"
            services:
              web:
                image: {web_image}
                volumes:
                  - ./nginx.conf:/etc/nginx/nginx.conf:ro
              client:
                image: busybox
                depends_on: [web]
                command: ["sh", "-c", "{fetch}"]
            """
        )
    )
    try:
        yield tmp_path
    finally:
        compose(service, tmp_path, "down", "--timeout", "2")


def test_compose_project_up_ps_logs_down(service: ApiService, project: Path, clean: Box) -> None:
    up = compose(service, project, "up", "-d")
    assert up.returncode == 0, up.stderr
    waited = service.docker("wait", "apitest_client_1", timeout=120)
    assert waited.stdout.strip() == "0", (waited, compose(service, project, "logs").stdout)
    shown = compose(service, project, "ps")
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines()[2:]}
    assert sorted(rows) == ["apitest_client_1", "apitest_web_1"]
    assert "Up" in rows["apitest_web_1"]
    assert "Exit 0" in rows["apitest_client_1"]
    logs = compose(service, project, "logs", "--no-color", "client")
    assert "Welcome to nginx!" in logs.stdout, logs
    networks = service.docker_ok("network", "ls", "--format", "{{.Name}}").split()
    assert "apitest_default" in networks
    down = compose(service, project, "down", "--timeout", "2")
    assert down.returncode == 0, down.stderr
    assert service.docker_ok("ps", "-aq") == ""
    assert "apitest_default" not in service.docker_ok("network", "ls", "--format", "{{.Name}}")


# --- testcontainers-python ---------------------------------------------------------------------


def test_testcontainers_starts_a_container_and_reads_its_logs(
    service: ApiService, clean: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """testcontainers' reaper ("ryuk", an image of its own that needs the docker socket
    mounted) is turned off: the test removes what it made."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{service.socket}")
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.config import testcontainers_config  # noqa: PLC0415
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy  # noqa: PLC0415

    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    started = (
        DockerContainer("busybox")
        .with_command(["sh", "-c", "echo started from testcontainers; exec sleep 300"])
        .waiting_for(LogMessageWaitStrategy("started from testcontainers"))
    )
    with started as container:
        stdout, _ = container.get_logs()
        assert stdout == b"started from testcontainers\n"
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        assert wrapped.status == "running"


# --- many clients at once ----------------------------------------------------------------------


def test_a_hundred_container_lists_at_once(service: ApiService, clean: Box) -> None:
    clean.ok("create", "--name", "listed", "busybox")

    def listing(_: int) -> Any:
        status, document = service.json("GET", "/v1.43/containers/json?all=1")
        assert status == 200, document
        return [entry["Names"] for entry in document]

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        answers = list(pool.map(listing, range(100)))
    assert answers == [[["/listed"]]] * 100


def test_twenty_hello_runs_at_once(service: ApiService, clean: Box) -> None:
    clean.ok("pull", "hello-world")

    def run_hello(index: int) -> int:
        del index
        status, created = service.json("POST", "/v1.43/containers/create", {"Image": "hello-world"})
        assert status == 201, created
        identifier = created["Id"]
        started, _, body = service.request("POST", f"/v1.43/containers/{identifier}/start")
        assert started == 204, body
        status, waited = service.json("POST", f"/v1.43/containers/{identifier}/wait")
        assert status == 200, waited
        code: int = waited["StatusCode"]
        return code

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(run_hello, range(20)))
    assert codes == [0] * 20
    assert len(clean.ok("ps", "-aq").split()) == 20


def test_threads_of_one_process_start_containers_at_once(clean: Box) -> None:
    """A detached start forks: the child must take no lock another thread held at the fork
    (SQLite's allocator mutex: such a child waited forever, and so did its start)."""
    clean.ok("pull", "hello-world")
    names = [f"threaded{index}" for index in range(12)]
    for name in names:
        clean.ok("create", "--name", name, "hello-world")

    def start_and_wait(name: str) -> int:
        with hybridock.Client(clean.root, load_config(clean.env)) as client:
            client.start(name)
            return client.wait(name)

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(names))
    futures = [pool.submit(start_and_wait, name) for name in names]
    _, stuck = concurrent.futures.wait(futures, timeout=120)
    pool.shutdown(wait=not stuck)  # a stuck start is left to the process's end
    assert not stuck, f"{len(stuck)} of {len(names)} starts never returned"
    assert [future.result() for future in futures] == [0] * len(names)
