"""The Engine API's streams (attach, start, logs, exec, resize) through the docker CLI 28 and
raw hijacked connections, over containers of a store of the test's own.

The raw tests speak the wire as docker's clients do (``Connection: Upgrade``, then docker's
8-byte frames without a tty); the CLI tests run ``docker`` on pipes, or on a pty the test
opens for ``-it``. Every wait is for a condition (a line seen, a state reached), never for a
time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.apisupport import DOCKER_CLI, ApiService, api_service, service_fixture
from tests.integration.sidebyside import our_box
from tests.integration.test_containers import Box, name, wait_for
from tests.support.terminal import Terminal
from tests.support.terminal import terminal as shared_terminal

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


def test_a_start_right_after_the_attach_answer_finds_the_attach_waiting(
    service: ApiService, box: Box
) -> None:
    """The docker CLI starts once it has the attach's 101: the attach is waiting by then."""
    for attempt in range(10):
        body = {"Image": "busybox", "Cmd": ["echo", f"attempt-{attempt}"]}
        status, created = service.json("POST", "/containers/create", body)
        assert status == 201, created
        path = f"/containers/{created['Id']}/attach?stream=1&stdout=1"
        try:
            with hijacked(service, "POST", path) as attach:
                assert service.request("POST", f"/containers/{created['Id']}/start")[0] == 204
                assert demultiplex(attach.read_all()) == [(1, f"attempt-{attempt}\n".encode())]
        finally:
            box("rm", "-f", created["Id"])


@pytest.mark.parametrize("stdin_once", [True, False], ids=["stdin-once", "stdin-stays"])
def test_attach_stdin_half_close_ends_the_input_only_when_stdin_once(
    service: ApiService, box: Box, name: str, stdin_once: bool
) -> None:
    body = {
        "Image": "busybox",
        "Cmd": ["sh", "-c", "cat; echo done"],
        "OpenStdin": True,
        "StdinOnce": stdin_once,
        "AttachStdin": True,
    }
    status, _ = service.json("POST", f"/containers/create?name={name}", body)
    assert status == 201
    query = "stream=1&stdin=1&stdout=1&stderr=1"
    with hijacked(service, "POST", f"/containers/{name}/attach?{query}") as attach:
        attach.send(b"before the start\n")  # waits in the connection until the start
        assert service.request("POST", f"/containers/{name}/start")[0] == 204
        attach.send(b"after\n")
        attach.close_input()
        if stdin_once:
            frames = demultiplex(attach.read_all())
            assert joined(frames, 1) == b"before the start\nafter\ndone\n"
            return
        attach.read_until(b"after\n")
    # docker's detached container is not StdinOnce: one client's end is not the container's
    assert box.inspect(name)["State"]["Status"] == "running"  # type: ignore[index]
    with hijacked(service, "POST", f"/containers/{name}/attach?{query}") as again:
        again.send(b"still open\n")
        again.read_until(b"still open\n")


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


def test_the_service_detaches_a_tty_attach_at_its_keys(
    service: ApiService, box: Box, name: str
) -> None:
    box.ok("run", "-dit", "--name", name, "busybox", "sh")
    query = "stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x"
    with hijacked(service, "POST", f"/containers/{name}/attach?{query}") as attach:
        assert attach.headers["content-type"] == "application/vnd.docker.raw-stream"
        attach.send(b"echo a$((1+1))\r")
        attach.read_until(b"a2\r\n")
        attach.send(b"\x01x")
        attach.read_all()  # the service ends the stream
    assert box.inspect(name)["State"]["Status"] == "running"  # type: ignore[index]


@pytest.mark.parametrize("state", ["created", "running"])
def test_an_attach_ends_when_its_client_goes(
    service: ApiService, box: Box, name: str, tmp_path: Path, state: str
) -> None:
    if state == "created":
        box.ok("create", "-i", "--name", name, "busybox", "sleep", "600")
    else:
        box.ok("run", "-di", "--name", name, "busybox", "sleep", "600")
    # a service that exits once idle for a second, which it is not while a request is served
    with api_service(box, tmp_path, "--time", "1") as idle:
        query = "stream=1&stdin=1&stdout=1&stderr=1"
        with hijacked(idle, "POST", f"/containers/{name}/attach?{query}") as attach:
            assert attach.status == 101
        assert idle.process.wait(timeout=60) == 0  # the attach ended with its client
    assert box.inspect(name)["State"]["Status"] == state  # type: ignore[index]


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
    frames = demultiplex(body)  # the order across the two streams is the pipes' to decide
    assert (joined(frames, 1), joined(frames, 2)) == (b"one\nthree\n", b"two\n")
    _, _, body = service.request(
        "GET", f"/containers/{name}/logs?stdout=1&stderr=1&tail=1&timestamps=1"
    )
    [(_, line)] = demultiplex(body)
    ours = box("logs", "--tail", "1", "--timestamps", name)
    assert line.decode() == ours.stdout + ours.stderr
    assert line.partition(b" ")[0].endswith(b"Z")
    _, _, body = service.request("GET", f"/containers/{name}/logs?stderr=1")
    assert demultiplex(body) == [(2, b"two\n")]
    status, _, body = service.request("GET", f"/containers/{name}/logs")
    assert status == 400


# --- the docker CLI -------------------------------------------------------------------------


def test_docker_run_hello_world_prints_what_hybridock_run_prints(
    service: ApiService, box: Box
) -> None:
    box.ok("pull", "hello-world")
    ours = box("run", "--rm", "hello-world")
    theirs = service.docker("run", "--rm", "hello-world")
    assert (theirs.returncode, theirs.stdout, theirs.stderr) == (0, ours.stdout, "")
    assert "Hello from" in theirs.stdout


def test_docker_run_separates_the_streams_and_returns_the_exit_code(service: ApiService) -> None:
    script = "echo out; echo err >&2; exit 3"
    for extra in ([], ["--rm"]):
        result = service.docker("run", *extra, "busybox", "sh", "-c", script)
        assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n"), extra


def test_concurrent_runs_each_get_their_own_output_and_code(service: ApiService) -> None:
    def run(number: int) -> subprocess.CompletedProcess[str]:
        script = f"echo run-{number}; exit {number}"
        return service.docker("run", "--rm", "busybox", "sh", "-c", script)

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(run, range(1, 6)))
    assert [(r.returncode, r.stdout) for r in results] == [(n, f"run-{n}\n") for n in range(1, 6)]


def test_docker_start_a_relays_a_created_container_from_its_start(
    service: ApiService, name: str
) -> None:
    service.docker_ok("create", "--name", name, "busybox", "sh", "-c", "echo first; exit 8")
    started = service.docker("start", "-a", name)
    assert (started.returncode, started.stdout) == (8, "first\n")
    again = service.docker("start", "-a", name)  # an exited container, attached again
    assert (again.returncode, again.stdout) == (8, "first\n")


def test_docker_run_i_pipes_stdin_through_and_ends_with_it(service: ApiService) -> None:
    result = service.docker("run", "-i", "--rm", "busybox", "cat", input="hi\nthere\n")
    assert (result.returncode, result.stdout) == (0, "hi\nthere\n")


def test_docker_logs_follow_tail_and_timestamps(service: ApiService, name: str) -> None:
    script = "echo one; echo two >&2; read line; echo three"
    service.docker_ok("run", "-di", "--name", name, "busybox", "sh", "-c", script)
    follow = subprocess.Popen(
        [DOCKER_CLI, "logs", "-f", name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=service.docker_env,
    )
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == b"one\n"
        with hijacked(service, "POST", f"/containers/{name}/attach?stream=1&stdin=1") as attach:
            attach.send(b"go\n")
            assert follow.stdout.readline() == b"three\n"  # followed until the exit
        out, err = follow.communicate(timeout=60)
    finally:
        if follow.poll() is None:
            follow.kill()
        follow.wait()
    assert (follow.returncode, out, err) == (0, b"", b"two\n")
    tail = service.docker("logs", "--tail", "1", "--timestamps", name)
    moment, _, text = tail.stdout.partition(" ")
    assert (tail.returncode, text) == (0, "three\n")
    assert moment.endswith("Z")
    stamped = [line.partition(" ")[0] for line in service.docker_ok("logs", "-t", name).split("\n")]
    assert moment in stamped


def test_a_follow_ends_when_its_reader_goes(
    service: ApiService, box: Box, name: str, tmp_path: Path
) -> None:
    service.docker_ok("run", "-d", "--name", name, "busybox", "sh", "-c", "echo up; sleep 600")
    # a service that exits once idle for a second, which it is not while a request is served
    with api_service(box, tmp_path, "--time", "1") as idle:
        path = f"/containers/{name}/logs?stdout=1&follow=1"
        with hijacked(idle, "GET", path) as follower:
            follower.read_until(b"up\n")
        assert idle.process.wait(timeout=60) == 0  # the follow ended with its reader


def test_docker_attach_relays_and_returns_the_exit_code(service: ApiService, name: str) -> None:
    script = "read line; echo got:$line; exit 6"
    service.docker_ok("run", "-di", "--name", name, "busybox", "sh", "-c", script)
    attach = subprocess.run(
        [DOCKER_CLI, "attach", name],
        input=b"hello\n",
        capture_output=True,
        env=service.docker_env,
        timeout=60,
        check=False,
    )
    assert (attach.returncode, attach.stdout) == (6, b"got:hello\n"), attach


def test_docker_exec_runs_and_pipes_stdin(service: ApiService, name: str) -> None:
    service.docker_ok("run", "-d", "--name", name, "busybox", "sleep", "600")
    listing = service.docker("exec", name, "ls", "/")
    assert listing.returncode == 0, listing
    assert {"bin", "etc", "proc"} <= set(listing.stdout.split())
    piped = service.docker("exec", "-i", name, "sh", "-c", "cat; exit 2", input="in\n")
    assert (piped.returncode, piped.stdout) == (2, "in\n")
    failed = service.docker("exec", name, "sh", "-c", "echo oops >&2; exit 9")
    assert (failed.returncode, failed.stderr) == (9, "oops\n")
    detached = service.docker("exec", "-d", name, "touch", "/tmp/made")
    assert detached.returncode == 0, detached
    service.docker_ok("exec", name, "sh", "-c", "while [ ! -e /tmp/made ]; do sleep 0.05; done")


# --- a terminal -----------------------------------------------------------------------------


@contextlib.contextmanager
def terminal(service: ApiService, *args: str) -> Iterator[Terminal]:
    with shared_terminal([DOCKER_CLI, *args], service.docker_env) as made:
        yield made


def test_docker_exec_it_through_a_pty(service: ApiService, name: str) -> None:
    service.docker_ok("run", "-d", "--name", name, "busybox", "sleep", "600")
    with terminal(service, "exec", "-it", name, "sh") as user:
        user.type(b"stty size; tty\r")
        user.read_until(b"24 80")  # the pty has the terminal's size
        user.read_until(b"/dev/pts/")
        user.type(b"exit 4\r")
        assert user.finish() == 4


def test_docker_run_it_rm_through_a_pty(service: ApiService, box: Box, name: str) -> None:
    with terminal(service, "run", "-it", "--rm", "--name", name, "busybox", "sh") as user:
        user.type(b"echo hi$((1+2)); stty size\r")
        user.read_until(b"hi3")
        user.read_until(b"24 80")
        user.type(b"exit 5\r")
        assert user.finish() == 5
    wait_for(lambda: name not in box.ok("ps", "-a", "--format", "{{.Names}}"), timeout=60)


def test_docker_attach_on_a_tty_resizes_and_detaches_with_the_keys(
    service: ApiService, box: Box, name: str
) -> None:
    service.docker_ok("run", "-dit", "--name", name, "busybox", "sh")
    with terminal(service, "attach", name) as user:
        # the attach's resize comes after the attach: wait for it in the container
        user.type(b"until stty size | grep -q '24 80'; do sleep 0.05; done; echo siz''ed\r")
        user.read_until(b"sized\r\n")
        user.type(b"\x10\x11")  # ctrl-p ctrl-q
        assert user.finish() == 1  # as docker's attach, which says why
        assert user.output.rstrip().endswith(b"read escape sequence")
    assert box.inspect(name)["State"]["Status"] == "running"  # type: ignore[index]
    with terminal(service, "attach", name) as user:
        user.type(b"exit 7\r")
        assert user.finish() == 7
