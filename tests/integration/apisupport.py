"""The Engine API service under test: ``hybridock system service`` started as a user starts
it, over a module's store (a ``Box``), and the real clients pointed at its socket: the docker
CLI 28 (/usr/local/bin/docker), raw HTTP requests, docker-py."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_containers import Box
from tests.support.cli import hybridock_command

DOCKER_CLI = "/usr/local/bin/docker"


class UnixConnection(http.client.HTTPConnection):
    """http.client over a unix socket (the service's)."""

    def __init__(self, path: Path, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.socket_path))


@dataclass
class ApiService:
    socket: Path
    box: Box
    process: subprocess.Popen[bytes]
    docker_config: Path

    @property
    def docker_env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in self.box.env.items() if not k.startswith("DOCKER_")},
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(self.docker_config),
        }

    def docker(
        self, *args: str, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """The docker CLI against the service (its result, unchecked)."""
        return subprocess.run(
            [DOCKER_CLI, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.docker_env,
            timeout=timeout,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def docker_ok(self, *args: str, input: str | None = None) -> str:
        result = self.docker(*args, input=input)
        assert result.returncode == 0, f"docker {' '.join(args)}: {result}"
        return result.stdout

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = UnixConnection(self.socket)
        try:
            data = json.dumps(body).encode() if isinstance(body, Mapping) else body
            extra = {"Content-Type": "application/json"} if isinstance(body, Mapping) else {}
            connection.request(method, path, body=data, headers={**extra, **(headers or {})})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def json(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, Any]:
        status, _, data = self.request(method, path, body)
        return status, json.loads(data) if data.strip() else None


def _listening(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


@contextlib.contextmanager
def api_service(box: Box, directory: Path, *extra: str) -> Iterator[ApiService]:
    """``hybridock system service`` on a socket in ``directory`` over ``box``'s store, until
    the block ends (then SIGTERM, and the socket must be gone)."""
    path = directory / "api" / "docker.sock"
    docker_config = directory / "docker-config"
    docker_config.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [*hybridock_command(), "system", "service", "--socket", str(path), *extra],
        env=box.env,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _listening(path):
            assert process.poll() is None, f"the service exited with {process.returncode}"
            assert time.monotonic() < deadline, "the service did not listen in 30 s"
            time.sleep(0.02)
        yield ApiService(path, box, process, docker_config)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert not path.exists(), "the service left its socket"


def service_fixture(box_fixture: str = "box") -> Callable[..., Iterator[ApiService]]:
    """A module's ``service`` fixture over its ``box`` fixture."""

    @pytest.fixture(scope="module")
    def service(
        request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[ApiService]:
        box: Box = request.getfixturevalue(box_fixture)
        with api_service(box, tmp_path_factory.mktemp("service")) as started:
            yield started

    return service
