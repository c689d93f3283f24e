"""``hybridock system service``: the socket, version negotiation, the system routes, errors,
and many clients at once, through the docker CLI 28 and raw HTTP."""

from __future__ import annotations

import concurrent.futures
import grp
import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
from tests.integration.apisupport import ApiService, UnixConnection, api_service, service_fixture
from tests.integration.sidebyside import our_box
from tests.integration.test_containers import Box
from tests.support.cli import hybridock_command

pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("api-service")
service = service_fixture()


def test_docker_version_negotiates_the_service_api(service: ApiService) -> None:
    shown = service.docker_ok(
        "version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}"
    )
    assert shown.split() == ["1.43", "1.43"]
    engine = json.loads(service.docker_ok("version", "--format", "{{json .Server}}"))
    assert engine["MinAPIVersion"] == "1.24"
    assert engine["Os"] == "linux"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("prefix", ["", "/v1.41", "/v1.43"])
def test_ping_says_the_api_version(service: ApiService, method: str, prefix: str) -> None:
    status, headers, body = service.request(method, f"{prefix}/_ping")
    assert status == 200
    assert headers["Api-Version"] == "1.43"
    assert headers["Ostype"] == "linux"
    assert body == (b"OK" if method == "GET" else b"")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        pytest.param(
            "/v1.12/version",
            400,
            "client version 1.12 is too old. Minimum supported API version is 1.24, please"
            " upgrade your client to a newer version",
            id="too-old",
        ),
        pytest.param(
            "/v1.99/version",
            400,
            "client version 1.99 is too new. Maximum supported API version is 1.43",
            id="too-new",
        ),
        pytest.param("/v1.43/no/such/route", 404, "page not found", id="no-route"),
        pytest.param("/events?filters=%7Bnot-json", 400, None, id="bad-filters"),
    ],
)
def test_errors_are_docker_messages(
    service: ApiService, path: str, status: int, message: str | None
) -> None:
    got, headers, body = service.request("GET", path)
    assert got == status
    assert headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert set(document) == {"message"}
    if message is not None:
        assert document["message"] == message


def test_docker_info_shows_the_store(service: ApiService, box: Box) -> None:
    info = json.loads(service.docker_ok("info", "--format", "{{json .}}"))
    assert info["DockerRootDir"] == str(box.root)
    assert info["Images"] >= 1
    assert info["OSType"] == "linux"


def test_events_stream_the_store_log(service: ApiService) -> None:
    now = str(int(time.time()) + 1)
    shown = service.docker_ok("events", "--since", "0", "--until", now, "--format", "{{json .}}")
    pulls = [json.loads(line) for line in shown.splitlines()]
    assert any(e["Type"] == "image" and e["Action"] == "pull" for e in pulls), shown


def test_the_socket_is_root_and_group_only(service: ApiService) -> None:
    mode = service.socket.stat()
    assert stat.S_ISSOCK(mode.st_mode)
    assert stat.S_IMODE(mode.st_mode) == 0o660
    assert mode.st_uid == 0


def test_group_option_owns_the_socket(box: Box, tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid() if os.getgid() else 1)  # a group that exists
    with api_service(box, tmp_path, "--group", group.gr_name) as started:
        assert started.socket.stat().st_gid == group.gr_gid


def test_a_live_socket_is_not_taken_over(service: ApiService, box: Box) -> None:
    result = box("system", "service", "--socket", str(service.socket), timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("another service is listening there")
    assert service.docker("version").returncode == 0


def test_a_stale_socket_is_replaced(box: Box, tmp_path: Path) -> None:
    stale = tmp_path / "api" / "docker.sock"
    stale.parent.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(stale))
    listener.close()  # a socket file nobody listens on: a service that died
    with api_service(box, tmp_path) as started:
        assert started.docker("version").returncode == 0


@pytest.mark.parametrize(
    "address", ["0.0.0.0:2375", "10.1.2.3:2375", "localhost", "127.0.0.1:port"]
)
def test_tcp_is_loopback_only(box: Box, tmp_path: Path, address: str) -> None:
    result = box("system", "service", "--socket", str(tmp_path / "s"), "--tcp", address, timeout=60)
    assert result.returncode == 1
    assert "loopback" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_tcp_on_loopback_serves_the_api(box: Box, tmp_path: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with api_service(box, tmp_path, "--tcp", f"127.0.0.1:{port}") as started:
        env = {**started.docker_env, "DOCKER_HOST": f"tcp://127.0.0.1:{port}"}
        result = subprocess.run(
            ["/usr/local/bin/docker", "version", "--format", "{{.Server.APIVersion}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.stdout.strip() == "1.43", result


def test_the_service_exits_after_its_idle_time(box: Box, tmp_path: Path) -> None:
    path = tmp_path / "idle.sock"
    started = time.monotonic()
    result = box("system", "service", "--socket", str(path), "--time", "1", timeout=60)
    assert result.returncode == 0, str(result)
    assert time.monotonic() - started < 50
    assert not path.exists()


def test_a_slow_client_holds_up_no_one(service: ApiService) -> None:
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.connect(str(service.socket))
    try:
        slow.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\n")  # and never the end of its headers
        assert service.request("GET", "/_ping")[0] == 200
    finally:
        slow.close()


def test_keep_alive_serves_requests_in_turn(service: ApiService) -> None:
    connection = UnixConnection(service.socket)
    try:
        for _ in range(5):
            connection.request("GET", "/v1.43/_ping")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b"OK")
    finally:
        connection.close()


def test_a_hundred_clients_at_once(service: ApiService) -> None:
    def ping(_: int) -> int:
        return service.request("GET", "/v1.43/version")[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        assert set(pool.map(ping, range(100))) == {200}


def test_a_follower_that_leaves_ends_its_stream(box: Box, tmp_path: Path) -> None:
    """An ``events`` follower whose client went away is not served on: the service, idle
    then, exits at its --time."""
    path = tmp_path / "follow.sock"
    process = subprocess.Popen(
        [*hybridock_command(), "system", "service", "--socket", str(path), "--time", "1"],
        env=box.env,
    )
    try:
        deadline = time.monotonic() + 30
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        follower = UnixConnection(path)
        follower.request("GET", "/v1.43/events")
        assert follower.getresponse().status == 200
        time.sleep(2)  # past --time: the open stream keeps the service
        assert process.poll() is None
        follower.close()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        pytest.param(b"{not json", 400, "invalid JSON", id="bad-json"),
        pytest.param(b"[1, 2]", 400, "", id="not-an-object"),
        pytest.param(b"{" + b" " * (2 << 20) + b"}", 413, "too large", id="huge"),
    ],
)
def test_a_bad_body_is_a_docker_error(
    service: ApiService, body: bytes, status: int, words: str
) -> None:
    got, headers, answer = service.request(
        "POST", "/v1.43/containers/create", body, {"Content-Type": "application/json"}
    )
    assert got == status, answer
    assert headers["Content-Type"] == "application/json"
    assert words in json.loads(answer)["message"]
    assert service.request("GET", "/_ping")[0] == 200  # and the service serves on
