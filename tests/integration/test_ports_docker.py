"""tests/unit/test_ports.py's tables held to the docker 20.10 CLI itself (Debian's docker.io).

The CLI parses ``-p`` and ``--expose`` before it asks its daemon anything: pointed at a socket
that nobody serves, a bad spec fails with its message (exit 125) and a good one reaches the
connection (exit 1, "Cannot connect"). ``ps`` and ``port`` format what the daemon answers: here
a few canned Engine API answers on a unix socket (a daemon that publishes ports would need a
bridge and NAT on this machine's network, which the tests must not touch) feed the real CLI,
and its output is compared with ours.
"""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from tests.support.dockerd import DOCKER_CLI
from tests.unit.test_ports import (
    BAD_EXPOSE,
    BAD_PUBLISH,
    GOOD_EXPOSE,
    GOOD_PUBLISH,
    PORT_ASKED,
    PORT_NOT_PUBLISHED,
    PS_PORTS,
    RUNNING_PORTS,
    table,
)

from hybridock.runtime.ports import displayable_ports, listed_ports, port_lines

pytestmark = pytest.mark.skipif(
    not os.access(DOCKER_CLI, os.X_OK), reason=f"needs {DOCKER_CLI} (apt-get install docker.io)"
)
CANNOT_CONNECT = "Cannot connect to the Docker daemon"
Ports = Mapping[str, Sequence[Mapping[str, str]] | None]


class CannedDaemon:
    """Answers the docker CLI's ``_ping``, ``containers/json`` and ``containers/ID/json`` on a
    unix socket with one container, ``web``, whose ports are ``self.ports``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "api.sock"
        self.ports: Ports = {}
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                self.answer(daemon.answer(self.path))

            def answer(self, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Api-Version", "1.41")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(str(self.socket), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path: str) -> object:
        path = path.split("?", maxsplit=1)[0]
        container = {"Id": "a" * 64, "Names": ["/web"], "Image": "busybox", "State": "running"}
        if path.endswith("/_ping"):
            return "OK"
        if path.endswith("/containers/json"):
            return [{**container, "Ports": listed_ports(self.ports), "Labels": {}}]
        if path.endswith("/containers/web/json"):
            return {"Id": container["Id"], "Name": "/web", "NetworkSettings": {"Ports": self.ports}}
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    # a unix socket's path must stay short: not under pytest's long tmp_path
    directory = Path(tempfile.mkdtemp(prefix="hybridock-ports-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@pytest.fixture(scope="module")
def canned(workdir: Path) -> Iterator[CannedDaemon]:
    daemon = CannedDaemon(workdir)
    try:
        yield daemon
    finally:
        daemon.close()


def docker(workdir: Path, socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS", "DOCKER_CERT"))
    }
    env["DOCKER_CONFIG"] = str(workdir / "cli")
    return subprocess.run(
        [DOCKER_CLI, "--host", f"unix://{socket}", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def as_the_cli_prints(message: str) -> str:
    """The CLI's ``reportError``: one final full stop, after ``docker:``."""
    return f"docker: {message.removesuffix('.')}."


def create(workdir: Path, flag: str, value: str) -> subprocess.CompletedProcess[str]:
    """``docker create FLAG VALUE busybox`` against a socket nobody serves."""
    return docker(workdir, workdir / "nobody.sock", "create", flag, value, "busybox")


# --- the grammar ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "message"), table(BAD_PUBLISH))
def test_bad_publish_message_is_the_docker_clis(workdir: Path, spec: str, message: str) -> None:
    refused = create(workdir, "-p", spec)
    assert (refused.returncode, refused.stderr.splitlines()[0]) == (125, as_the_cli_prints(message))


@pytest.mark.parametrize(("spec", "bindings"), table(GOOD_PUBLISH))
def test_good_publish_passes_the_docker_cli(workdir: Path, spec: str, bindings: object) -> None:
    assert CANNOT_CONNECT in create(workdir, "-p", spec).stderr


@pytest.mark.parametrize(("spec", "message"), table(BAD_EXPOSE))
def test_bad_expose_message_is_the_docker_clis(workdir: Path, spec: str, message: str) -> None:
    refused = create(workdir, "--expose", spec)
    assert (refused.returncode, refused.stderr.splitlines()[0]) == (125, as_the_cli_prints(message))


@pytest.mark.parametrize(("spec", "ports"), table(GOOD_EXPOSE))
def test_good_expose_passes_the_docker_cli(workdir: Path, spec: str, ports: object) -> None:
    assert CANNOT_CONNECT in create(workdir, "--expose", spec).stderr


# --- what the CLI shows ------------------------------------------------------------------------


@pytest.mark.parametrize(("ports", "shown"), table(PS_PORTS))
def test_ps_ports_are_the_docker_clis(canned: CannedDaemon, ports: Ports, shown: str) -> None:
    canned.ports = ports
    listed = docker(canned.directory, canned.socket, "ps", "--format", "{{.Ports}}")
    assert (listed.returncode, listed.stdout) == (0, f"{shown}\n")
    assert displayable_ports(ports) == shown


@pytest.mark.parametrize(("asked", "lines"), table(PORT_ASKED))
def test_port_lines_are_the_docker_clis(
    canned: CannedDaemon, asked: str | None, lines: list[str]
) -> None:
    canned.ports = RUNNING_PORTS
    shown = docker(canned.directory, canned.socket, "port", "web", *filter(None, [asked]))
    assert shown.returncode == 0, shown.stderr
    # docker 20.10 walks a Go map: its lines come in any order, ours sorted
    assert sorted(shown.stdout.splitlines()) == sorted(lines)
    assert port_lines(RUNNING_PORTS, "web", asked) == lines


@pytest.mark.parametrize(("asked", "message"), table(PORT_NOT_PUBLISHED))
def test_port_not_published_is_the_docker_clis(
    canned: CannedDaemon, asked: str, message: str
) -> None:
    canned.ports = RUNNING_PORTS
    refused = docker(canned.directory, canned.socket, "port", "web", asked)
    assert (refused.returncode, refused.stderr) == (1, f"Error: {message}\n")
