"""``POST /build`` through the real clients: the docker CLI's classic build path, docker-py's
``images.build`` and docker-compose's ``build:``; a hostile context archive; a failed build
ends the stream with dockerd's error message and tags nothing."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from tests.integration.apisupport import ApiService, service_fixture
from tests.integration.sidebyside import our_box
from tests.integration.test_containers import Box

pytestmark = [
    pytest.mark.root,
    pytest.mark.registry,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),  # docker-py's own sockets
]

box = our_box("api-build")
service = service_fixture()
COMPOSE = "/usr/bin/docker-compose"
DOCKERFILE = """\
FROM busybox
ARG WHO=nobody
COPY greeting.txt /greeting.txt
RUN echo "hello $WHO" >> /greeting.txt
CMD ["cat", "/greeting.txt"]
"""


@pytest.fixture
def context(tmp_path: Path, box: Box) -> Iterator[Path]:
    directory = tmp_path / "context"
    directory.mkdir()
    (directory / "Dockerfile").write_text(DOCKERFILE)
    (directory / "greeting.txt").write_text("from the context\n")
    yield directory
    for tagged in box.ok("images", "-q", "--no-trunc", "apibuilt/*").split():
        box("rmi", "-f", tagged)
    box.remove_containers()


@pytest.fixture(scope="module")
def engine(service: ApiService) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=f"unix://{service.socket}", timeout=120)
    try:
        yield client
    finally:
        client.close()


def _docker_build(
    service: ApiService, context: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The docker CLI's classic build path (``DOCKER_BUILDKIT=0``) against the service."""
    return subprocess.run(
        ["/usr/bin/docker", "build", *args, "."],
        cwd=context,
        env={**service.docker_env, "DOCKER_BUILDKIT": "0"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_docker_cli_classic_build(service: ApiService, context: Path, box: Box) -> None:
    result = _docker_build(service, context, "-t", "apibuilt/cli", "--build-arg", "WHO=cli")
    assert result.returncode == 0, result
    # steps numbered as BuildKit counts them (an ARG is no step of its own)
    assert "Step 4/5 : RUN echo" in result.stdout, result.stdout
    assert "resolved" not in result.stdout and "naming to" not in result.stdout
    assert "Successfully tagged apibuilt/cli:latest" in result.stdout, result.stdout
    assert box.ok("run", "--rm", "apibuilt/cli") == "from the context\nhello cli\n"
    again = _docker_build(service, context, "-q", "-t", "apibuilt/cli", "--build-arg", "WHO=cli")
    assert again.returncode == 0, again
    assert again.stdout.strip() == box.inspect("apibuilt/cli")["Id"]


def test_docker_py_build_and_failure(engine: docker.DockerClient, context: Path, box: Box) -> None:
    image, logs = engine.images.build(
        path=str(context), tag="apibuilt/py:1", buildargs={"WHO": "py"}, labels={"k": "v"}
    )
    assert "apibuilt/py:1" in image.tags
    assert image.labels == {"k": "v"}
    streams = [str(entry.get("stream", "")) for entry in logs if isinstance(entry, dict)]
    assert any("Successfully built" in text for text in streams), streams
    assert box.ok("run", "--rm", "apibuilt/py:1") == "from the context\nhello py\n"
    failing = io.BytesIO()
    with tarfile.open(fileobj=failing, mode="w") as archive:
        data = b"FROM busybox\nRUN exit 7\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    failing.seek(0)
    with pytest.raises(docker.errors.BuildError, match="exit code: 7"):
        engine.images.build(fileobj=failing, custom_context=True, tag="apibuilt/py:fail")
    assert box("image", "inspect", "apibuilt/py:fail").returncode != 0


def test_a_context_archive_that_climbs_out_is_refused(
    engine: docker.DockerClient, tmp_path: Path, box: Box
) -> None:
    canary = tmp_path / "canary"
    hostile = io.BytesIO()
    with tarfile.open(fileobj=hostile, mode="w:gz") as archive:
        for name, data in (("Dockerfile", b"FROM busybox\n"), ("../../canary", b"owned")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    hostile.seek(0)
    stream = engine.api.build(
        fileobj=hostile, custom_context=True, encoding="gzip", tag="apibuilt/hostile", decode=True
    )
    errors = [entry["error"] for entry in stream if "error" in entry]
    assert len(errors) == 1 and "leaves the destination" in errors[0], errors
    assert not canary.exists()
    assert box("image", "inspect", "apibuilt/hostile").returncode != 0
    assert not list((box.root / "tmp").iterdir())


def test_compose_builds_a_service(service: ApiService, context: Path, box: Box) -> None:
    if shutil.which(COMPOSE) is None:
        pytest.skip("needs Debian's docker-compose (scripts/test installs it)")
    project = context.parent
    (project / "compose.yaml").write_text(
        textwrap.dedent(
            """\
            version: "3.8"
            services:
              greeter:
                build:
                  context: ./context
                  args: {WHO: compose}
                image: apibuilt/compose
            """
        )
    )
    command = [COMPOSE, "-H", f"unix://{service.socket}", "-p", "apibuild", "-f", "compose.yaml"]
    built = subprocess.run(
        [*command, "build"],
        cwd=project,
        env={**service.docker_env, "COMPOSE_INTERACTIVE_NO_CLI": "1", "DOCKER_BUILDKIT": "0"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert built.returncode == 0, built
    assert box.ok("run", "--rm", "apibuilt/compose") == "from the context\nhello compose\n"
