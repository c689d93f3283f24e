"""Images of Debian's own packages, run as a user runs them: a web server, a database server
and an interpreter (tests/support/debimages.py builds them from this machine's packages).

The servers listen on 127.0.0.1 only: inside their own network namespace, or on the host's
loopback for the ``--network host`` pair. Every container, the images and the store are removed
at the end of the module, also when a test fails.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_containers import Box, make_box, wait_for
from tests.support.cleanup import remove_tree
from tests.support.cli import CliResult
from tests.support.debimages import (
    DebianImageBuilder,
    nginx_image,
    postgres_image,
    python_image,
)
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry, pytest.mark.slow]

HTTP_GET = """\
import socket
connection = socket.create_connection(("127.0.0.1", 80), timeout=30)
connection.sendall(b"GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
print(connection.makefile("rb").read().decode())
"""
# A server as an unprivileged user on port 80, and its own client: docker sets
# net.ipv4.ip_unprivileged_port_start=0 in a container's network namespace.
PORT_80_AS_USER = """\
import os, socket
server = socket.create_server(("127.0.0.1", 80))
client = socket.create_connection(("127.0.0.1", 80), timeout=30)
accepted, _ = server.accept()
accepted.sendall(b"served by uid %d" % os.getuid())
print(client.recv(100).decode())
"""
ECHO_SERVER = """\
import socket, sys
server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
connection, _ = server.accept()
connection.sendall(b"echo:" + connection.recv(100))
"""
UDP_ECHO = """\
import socket
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("0.0.0.0", 53))
print("listening", flush=True)
data, peer = server.recvfrom(100)
server.sendto(b"echo:" + data, peer)
"""
ECHO_CLIENT = """\
import socket, sys
connection = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
connection.sendall(b"hello")
print(connection.recv(100).decode())
"""
LIMITS = """\
import os
from pathlib import Path
v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
limit = Path("/sys/fs/cgroup/memory.max" if v2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes")
print(limit.read_text().strip(), os.cpu_count(), sorted(os.sched_getaffinity(0)))
"""


class Images:
    def __init__(self, box: Box, references: dict[str, str]) -> None:
        self.box = box
        self.nginx = references["nginx"]
        self.postgres = references["postgres"]
        self.python = references["python"]


@pytest.fixture(scope="module")
def debian(
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    debian_image_builder: DebianImageBuilder,
) -> Iterator[Images]:
    """A store with the three images pulled from the session registry as a user would."""
    box = make_box(tmp_path_factory.mktemp("realistic"), session_registry)
    references = {}
    try:
        for recipe in (nginx_image(), postgres_image(), python_image()):
            built = debian_image_builder.image(recipe).build()
            pushed = session_registry.push(built, f"debian/{recipe.name}", "latest")
            box.ok("pull", "-q", pushed.reference)
            references[recipe.name] = pushed.reference
        yield Images(box, references)
    finally:
        box.remove_containers()
        for reference in references.values():
            box("rmi", reference)
        remove_tree(box.root)


@pytest.fixture
def name(request: pytest.FixtureRequest, debian: Images) -> Iterator[str]:
    """A container name unique to the test; the container is removed afterwards."""
    chosen = request.node.name[:60]
    yield chosen
    debian.box("rm", "-f", chosen)


def process_ids(pid: int) -> dict[str, list[int]]:
    """Uid, Gid and Groups of a process, as the host sees them."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups"):
            found[key] = [int(number) for number in value.split()]
    return found


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_web_server_answers_on_its_own_loopback(debian: Images, name: str) -> None:
    box = debian.box
    box.ok("run", "-d", "--name", name, debian.nginx)
    answers: list[CliResult] = []

    def answered() -> bool:
        answers.append(box("exec", name, "python3", "-c", HTTP_GET))
        return answers[-1].returncode == 0

    wait_for(answered, timeout=60)
    response = answers[-1].stdout
    assert response.splitlines()[0] == "HTTP/1.1 200 OK", response
    assert "<title>Welcome to nginx!</title>" in response
    master = box.pid(name)
    www_data = pwd.getpwnam("www-data")
    (worker,) = children(master)
    assert process_ids(master)["Uid"][0] == 0
    assert process_ids(worker)["Uid"] == [www_data.pw_uid] * 4
    assert process_ids(worker)["Gid"] == [www_data.pw_gid] * 4

    box.ok("stop", name)
    assert box.inspect(name)["State"]["ExitCode"] == 0  # type: ignore[index]
    logs = box("logs", name)
    assert '"GET / HTTP/1.0" 200' in logs.stdout
    assert "gracefully shutting down" in logs.stderr


def test_database_server_runs_as_its_own_user_and_keeps_its_data(debian: Images, name: str) -> None:
    box = debian.box
    ready = "database system is ready to accept connections"

    def started(times: int) -> bool:
        return box("logs", name).stderr.count(ready) == times

    def psql(sql: str) -> str:
        return box.ok("exec", name, "psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", sql)

    box.ok("run", "-d", "--name", name, debian.postgres)
    wait_for(lambda: started(1), timeout=60)
    postgres = pwd.getpwnam("postgres")
    groups = sorted(os.getgrouplist("postgres", postgres.pw_gid))
    assert grp.getgrnam("ssl-cert").gr_gid in groups  # postgresql-common's postinst
    assert process_ids(box.pid(name)) == {
        "Uid": [postgres.pw_uid] * 4,
        "Gid": [postgres.pw_gid] * 4,
        "Groups": groups,
    }
    psql("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept across a restart')")

    box.ok("stop", name)
    assert "Exited (0)" in box.ok("ps", "-a", "--filter", f"name={name}")
    assert "database system is shut down" in box("logs", name).stderr

    box.ok("start", name)
    wait_for(lambda: started(2), timeout=60)
    assert psql("SELECT body FROM notes").strip() == "kept across a restart"


@pytest.mark.parametrize("kind", ["named-volume", "bind", "volumes-from"])
def test_database_rows_outlive_the_container(debian: Images, kind: str, tmp_path: Path) -> None:
    """docker's ways to keep a database: its data directory's parent in a named volume (copied
    up from the image, so owned by postgres), a host directory, or the anonymous volume of a
    data container (--volumes-from); the server's container is removed and a new one on the
    same storage finds the rows."""
    box = debian.box
    name, holder = f"keeps-rows-{kind}", f"keeps-rows-{kind}-data"
    ready = "database system is ready to accept connections"
    storage = tmp_path / "pg"
    if kind == "bind":
        storage.mkdir()
        postgres = pwd.getpwnam("postgres")
        os.chown(storage, postgres.pw_uid, postgres.pw_gid)
    flags = {
        "named-volume": ["-v", "pgstore:/var/lib/postgresql"],
        "bind": ["-v", f"{storage}:/var/lib/postgresql"],
        "volumes-from": ["--volumes-from", holder],
    }[kind]

    def psql(sql: str) -> str:
        return box.ok("exec", name, "psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", sql)

    try:
        if kind == "volumes-from":
            box.ok("create", "--name", holder, "-v", "/var/lib/postgresql", debian.postgres)
        box.ok("run", "-d", "--name", name, *flags, debian.postgres)
        wait_for(lambda: ready in box("logs", name).stderr, timeout=60)
        psql("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept in the volume')")
        box.ok("stop", name)
        box.ok("rm", "-v", name)
        box.ok("run", "-d", "--name", name, *flags, debian.postgres)
        wait_for(lambda: ready in box("logs", name).stderr, timeout=60)
        assert psql("SELECT body FROM notes").strip() == "kept in the volume"
    finally:
        box("rm", "-f", "-v", name)
        box("rm", "-v", holder)
        box("volume", "rm", "pgstore")
        assert box.ok("volume", "ls", "-q") == ""


def test_database_server_reached_through_a_published_port_with_its_own_client(
    debian: Images, name: str
) -> None:
    """docker's `run -d -p 5432:5432 postgres`, then the host's psql: stopped cleanly, started
    again (a new address, maybe), reached again through the same port, its data kept."""
    box, port = debian.box, str(free_loopback_port())
    ready = "database system is ready to accept connections"

    def psql(sql: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-tAc", sql],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    box.ok(
        "run", "-d", "-p", f"127.0.0.1:{port}:5432", "-e", "POSTGRES_HOST_AUTH_METHOD=trust",
        "--name", name, debian.postgres, "-c", "listen_addresses=*",
    )  # fmt: skip
    wait_for(lambda: box("logs", name).stderr.count(ready) == 1, timeout=60)
    assert box.ok("port", name) == f"5432/tcp -> 127.0.0.1:{port}\n"
    created = psql("CREATE TABLE visits (n int); INSERT INTO visits VALUES (1)")
    assert created.returncode == 0, created.stderr
    box.ok("stop", name)
    assert psql("SELECT 1").returncode != 0  # nothing answers on the port while stopped
    assert box.ok("port", name) == ""
    box.ok("start", name)
    wait_for(lambda: box("logs", name).stderr.count(ready) == 2, timeout=60)
    wait_for(lambda: psql("SELECT count(*) FROM visits").stdout.strip() == "1", timeout=30)


def test_udp_server_reached_through_a_published_port(debian: Images, name: str) -> None:
    box, port = debian.box, free_loopback_port()
    box.ok(
        "run", "-d", "-p", f"127.0.0.1:{port}:53/udp", "--name", name, debian.python,
        "python3", "-c", UDP_ECHO,
    )  # fmt: skip
    assert box.ok("port", name) == f"53/udp -> 127.0.0.1:{port}\n"
    wait_for(lambda: "listening" in box("logs", name).stdout, timeout=60)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(30)
        client.sendto(b"over udp", ("127.0.0.1", port))
        assert client.recvfrom(100)[0] == b"echo:over udp"


def test_interpreter_reads_its_memory_limit_and_cpus(debian: Images) -> None:
    output = debian.box.ok(
        "run", "--rm", "-m", "64m", "--cpuset-cpus", "0", debian.python, "python3", "-c", LIMITS
    )
    assert output.split() == ["67108864", str(os.cpu_count()), "[0]"]


def test_non_root_server_binds_port_80_in_its_own_network(debian: Images) -> None:
    output = debian.box.ok(
        "run", "--rm", "-u", "www-data", debian.python, "python3", "-c", PORT_80_AS_USER
    )
    assert output.strip() == f"served by uid {pwd.getpwnam('www-data').pw_uid}"


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_host_network_containers_meet_on_the_hosts_loopback(debian: Images, name: str) -> None:
    box, port = debian.box, str(free_loopback_port())
    box.ok(
        "run", "-d", "--network", "host", "--name", name, debian.python,
        "python3", "-c", ECHO_SERVER, port,
    )  # fmt: skip
    wait_for(lambda: "listening" in box("logs", name).stdout, timeout=60)
    output = box.ok(
        "run", "--rm", "--network", "host", debian.python, "python3", "-c", ECHO_CLIENT, port
    )
    assert output.strip() == "echo:hello"
