"""The Engine API's streams (attach, start, logs, exec, resize) through the docker CLI 28 and
raw hijacked connections, over containers of a store of the test's own.

The raw tests speak the wire as docker's clients do (``Connection: Upgrade``, then docker's
8-byte frames without a tty); the CLI tests run ``docker`` on pipes, or on a pty the test
opens for ``-it``. Every wait is for a condition (a line seen, a state reached), never for a
time.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import Iterator

import pytest
from tests.integration.apisupport import ApiService, service_fixture
from tests.integration.sidebyside import our_box
from tests.integration.test_containers import Box, name, wait_for

__all__ = ["name"]

pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("api-streams")
service = service_fixture()


# --- raw hijacked connections ---------------------------------------------------------------


class Hijacked:
    """A hijacked connection to the service: the answer's status line and headers, then the
    stream (docker's frames unless ``raw``)."""

    def __init__(self, service: ApiService, method: str, path: str, body: bytes = b"") -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.settimeout(60)
        self.socket.connect(str(service.socket))
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.socket.sendall(head.encode() + body)
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.socket.recv(65536)
            assert chunk, f"the service closed before answering: {self.buffer!r}"
            self.buffer += chunk
        header, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = header.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}

    def send(self, data: bytes) -> None:
        self.socket.sendall(data)

    def close_input(self) -> None:
        self.socket.shutdown(socket.SHUT_WR)

    def read_all(self) -> bytes:
        """Everything, to the end of the stream."""
        data = self.buffer
        while chunk := self.socket.recv(65536):
            data += chunk
        self.buffer = b""
        return data

    def read_until(self, text: bytes) -> bytes:
        while text not in self.buffer:
            chunk = self.socket.recv(65536)
            assert chunk, f"no {text!r} in {self.buffer!r}"
            self.buffer += chunk
        return self.buffer

    def close(self) -> None:
        self.socket.close()


@contextlib.contextmanager
def hijacked(service: ApiService, method: str, path: str, body: bytes = b"") -> Iterator[Hijacked]:
    made = Hijacked(service, method, path, body)
    try:
        yield made
    finally:
        made.close()


def demultiplex(data: bytes) -> list[tuple[int, bytes]]:
    """docker's frames, whole (a cut one is an error)."""
    frames = []
    while data:
        stream, length = struct.unpack(">B3xI", data[:8])
        assert len(data) >= 8 + length, f"a cut frame: {data!r}"
        frames.append((stream, data[8 : 8 + length]))
        data = data[8 + length :]
    return frames


def joined(frames: list[tuple[int, bytes]], stream: int) -> bytes:
    return b"".join(payload for kind, payload in frames if kind == stream)


def test_attach_before_start_misses_no_output_and_separates_the_streams(
    service: ApiService, box: Box, name: str
) -> None:
    box.ok("create", "--name", name, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    query = "stream=1&stdout=1&stderr=1"
    with hijacked(service, "POST", f"/v1.43/containers/{name}/attach?{query}") as attach:
        assert attach.status == 101
        assert attach.headers["content-type"] == "application/vnd.docker.multiplexed-stream"
        assert attach.headers["upgrade"] == "tcp"
        status, _, _ = service.request("POST", f"/v1.43/containers/{name}/start")
        assert status == 204
        frames = demultiplex(attach.read_all())
    assert joined(frames, 1) == b"out\n"
    assert joined(frames, 2) == b"err\n"
    wait_for(lambda: box.inspect(name)["State"]["Status"] == "exited", timeout=60)  # type: ignore[index]
    assert box.inspect(name)["State"]["ExitCode"] == 3  # type: ignore[index]
    status, _, _ = service.request("POST", f"/containers/{name}/start")
    assert status == 204  # an exited container starts again


def test_attach_stdin_half_close_ends_the_input_and_the_output_flows_on(
    service: ApiService, box: Box, name: str
) -> None:
    box.ok("create", "-i", "--name", name, "busybox", "sh", "-c", "cat; echo done")
    query = "stream=1&stdin=1&stdout=1&stderr=1"
    with hijacked(service, "POST", f"/containers/{name}/attach?{query}") as attach:
        attach.send(b"before the start\n")  # waits in the connection until the start
        assert service.request("POST", f"/containers/{name}/start")[0] == 204
        attach.send(b"after\n")
        attach.close_input()
        frames = demultiplex(attach.read_all())
    assert joined(frames, 1) == b"before the start\nafter\ndone\n"


def test_start_of_a_running_container_is_304_and_of_none_404(
    service: ApiService, box: Box, name: str
) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "60")
    assert service.request("POST", f"/containers/{name}/start")[0] == 304
    status, _, body = service.request("POST", "/containers/no-such-one/start")
    assert (status, json.loads(body)) == (404, {"message": "No such container: no-such-one"})


def test_attach_to_a_running_container_relays_its_output_from_now_on(
    service: ApiService, box: Box, name: str
) -> None:
    script = "echo early; read line; echo got:$line; exit 4"
    box.ok("run", "-di", "--name", name, "busybox", "sh", "-c", script)
    wait_for(lambda: "early" in box.ok("logs", name), timeout=60)
    query = "stream=1&stdin=1&stdout=1&stderr=1&logs=1"
    with hijacked(service, "POST", f"/containers/{name}/attach?{query}") as attach:
        attach.read_until(b"early\n")  # logs=1: the log first
        attach.send(b"hello\n")
        frames = demultiplex(attach.read_all())
    assert joined(frames, 1) == b"early\ngot:hello\n"


def test_exec_create_start_inspect_over_raw_http(service: ApiService, box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "60")
    config = {
        "Cmd": ["sh", "-c", "cat; echo to-err >&2; exit 5"],
        "AttachStdin": True,
        "AttachStdout": True,
        "AttachStderr": True,
    }
    status, created = service.json("POST", f"/containers/{name}/exec", config)
    assert status == 201
    exec_id = created["Id"]
    status, document = service.json("GET", f"/exec/{exec_id}/json")
    assert (status, document["Running"], document["ExitCode"]) == (200, False, None)
    body = json.dumps({"Detach": False, "Tty": False}).encode()
    with hijacked(service, "POST", f"/v1.43/exec/{exec_id}/start", body) as started:
        assert started.status == 101
        started.send(b"piped in\n")
        started.close_input()
        frames = demultiplex(started.read_all())
    assert joined(frames, 1) == b"piped in\n"
    assert joined(frames, 2) == b"to-err\n"
    status, document = service.json("GET", f"/exec/{exec_id}/json")
    assert document["ExitCode"] == 5
    assert document["Running"] is False
    assert document["ProcessConfig"]["entrypoint"] == "sh"
    assert document["ContainerID"] == box.inspect(name)["Id"]
    status, _ = service.json("GET", "/exec/no-such-exec/json")
    assert status == 404


def test_exec_in_a_stopped_container_is_a_conflict(
    service: ApiService, box: Box, name: str
) -> None:
    box.ok("create", "--name", name, "busybox", "true")
    status, document = service.json("POST", f"/containers/{name}/exec", {"Cmd": ["ls"]})
    assert status == 409, document


def test_logs_are_framed_tailed_and_timestamped(service: ApiService, box: Box, name: str) -> None:
    box.ok("run", "--name", name, "busybox", "sh", "-c", "echo one; echo two >&2; echo three")
    status, headers, body = service.request(
        "GET", f"/v1.43/containers/{name}/logs?stdout=1&stderr=1"
    )
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    frames = demultiplex(body)
    assert frames == [(1, b"one\n"), (2, b"two\n"), (1, b"three\n")]
    _, _, body = service.request("GET", f"/containers/{name}/logs?stdout=1&tail=1&timestamps=1")
    [(stream, line)] = demultiplex(body)
    moment, _, text = line.partition(b" ")
    assert (stream, text) == (1, b"three\n")
    assert moment.endswith(b"Z")
    status, _, body = service.request("GET", f"/containers/{name}/logs")
    assert status == 400
