"""hybridock's networking next to docker's own, in the suite's network namespace: a private
dockerd 20.10 with its bridge (docker0 on 10.222.0.0/24, user networks from 10.223.0.0/16, so
its routes and ours never overlap), asked the same things as hybridock. What is compared is the
shape (columns, keys, wording), not ids, addresses or times.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.conftest import ImageBuilder
from tests.integration.sidebyside import keys
from tests.integration.test_containers import Box, library_box
from tests.support.dockerd import Dockerd, DockerdStartError, dockerd_probe
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

SERVE = ("sh", "-c", "mkdir -p /www && echo ok > /www/i && exec httpd -f -p 80 -h /www")


@pytest.fixture(scope="module")
def docker(
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    image_builder: ImageBuilder,
) -> Iterator[Dockerd]:
    if reason := dockerd_probe():
        pytest.skip(reason)
    daemon = Dockerd(
        tmp_path_factory.mktemp("dockerd-bridge"),
        insecure_registries=[session_registry.address, session_registry.backend_address],
        bridge=True,
        daemon_args=["--bip=10.222.0.1/24", "--default-address-pool=base=10.223.0.0/16,size=24"],
    )
    try:
        daemon.start()
    except DockerdStartError as error:
        pytest.skip(f"dockerd does not run here: {error}")
    try:
        busybox = image_builder.push(image_builder.busybox(), session_registry, "library/busybox")
        daemon.load(busybox, session_registry.backend_address)
        daemon.cli("tag", f"{session_registry.backend_address}/library/busybox:latest", "busybox")
        yield daemon
    finally:
        for container in daemon.cli("ps", "-aq").stdout.split():
            daemon.cli("rm", "-f", container, check=False)
        for network in daemon.cli("network", "ls", "-q", "--filter", "type=custom").stdout.split():
            daemon.cli("network", "rm", network, check=False)
        daemon.stop()


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    with library_box(tmp_path_factory, session_registry, image_builder, "network-docker") as made:
        yield made


def both(docker: Dockerd, box: Box, *args: str) -> tuple[Any, Any]:
    """(docker's, hybridock's) (exit code, stdout, stderr) for the same command."""
    theirs = docker.cli(*args, check=False)
    ours = box(*args)
    return (theirs.returncode, theirs.stdout, theirs.stderr), (
        ours.returncode,
        ours.stdout,
        ours.stderr,
    )


def test_network_ls_columns_and_predefined_networks(docker: Dockerd, box: Box) -> None:
    theirs, ours = both(docker, box, "network", "ls")
    header = ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert theirs[1].splitlines()[0].split() == ours[1].splitlines()[0].split() == header

    def rows(text: str) -> list[list[str]]:
        return [line.split()[1:] for line in text.splitlines()[1:]]

    assert rows(theirs[1]) == rows(ours[1])  # bridge/host/none: names, drivers, scope


@pytest.mark.parametrize("name", ["bridge", "custom"])
def test_network_inspect_has_dockers_keys(docker: Dockerd, box: Box, name: str) -> None:
    if name == "custom":
        name = "shape-net"
        docker.cli("network", "create", name)
        box.ok("network", "create", name)
    try:
        theirs = json.loads(docker.cli("network", "inspect", name).stdout)[0]
        ours = json.loads(box.ok("network", "inspect", name))[0]
        assert keys(ours) == keys(theirs)
        assert ours["Options"].keys() == theirs["Options"].keys()
        assert (ours["Driver"], ours["Scope"], ours["Internal"]) == (
            theirs["Driver"], theirs["Scope"], theirs["Internal"],
        )  # fmt: skip
    finally:
        if name != "bridge":
            docker.cli("network", "rm", name)
            box.ok("network", "rm", name)


def test_published_port_shown_as_docker_shows_it(docker: Dockerd, box: Box) -> None:
    docker.cli(
        "run", "-d", "--name", "pub", "-p", "18080:80", "-p", "127.0.0.1::81", "busybox", *SERVE
    )
    box.ok("run", "-d", "--name", "pub", "-p", "28080:80", "-p", "127.0.0.1::81", "busybox", *SERVE)
    try:
        # docker 20.10 adds an IPv6 twin (":::P") where the host has IPv6; hybridock's
        # containers have none, and it shows the IPv4 binding only (runtime/ports.py)
        theirs = "".join(
            line
            for line in docker.cli("port", "pub", "80").stdout.splitlines(True)
            if not line.startswith(":::")
        )
        ours = box.ok("port", "pub", "80")
        assert theirs.replace("18080", "P") == ours.replace("28080", "P")
        missing = both(docker, box, "port", "pub", "82")
        assert missing[0][0] == missing[1][0] == 1
        assert missing[0][2] == missing[1][2]
        ps_theirs = docker.cli("ps", "--format", "{{.Ports}}").stdout.strip()
        ps_ours = box.ok("ps", "--format", "{{.Ports}}").strip()
        shown_theirs = [part for part in ps_theirs.split(", ") if not part.startswith(":::")]
        assert sorted(part.split(":")[0] for part in shown_theirs) == sorted(
            part.split(":")[0] for part in ps_ours.split(", ")
        )
        inspect_theirs = json.loads(docker.cli("inspect", "pub").stdout)[0]
        inspect_ours = json.loads(box.ok("inspect", "pub"))[0]
        for section in ("NetworkSettings",):
            theirs_keys = set(inspect_theirs[section])
            assert theirs_keys == set(inspect_ours[section])
        network_theirs = inspect_theirs["NetworkSettings"]["Networks"]["bridge"]
        network_ours = inspect_ours["NetworkSettings"]["Networks"]["bridge"]
        assert set(network_theirs) == set(network_ours)
        assert inspect_theirs["HostConfig"]["PortBindings"] == {
            key: [dict(b, HostPort=b["HostPort"].replace("18080", "28080")) for b in value]
            for key, value in inspect_ours["HostConfig"]["PortBindings"].items()
        } or inspect_theirs["HostConfig"]["PortBindings"].keys() == (
            inspect_ours["HostConfig"]["PortBindings"].keys()
        )
    finally:
        docker.cli("rm", "-f", "pub")
        box("rm", "-f", "pub")


def test_errors_as_docker_words_them(docker: Dockerd, box: Box) -> None:
    cases = [
        ("run", "--rm", "--network", "nope", "busybox", "true"),
        ("run", "--rm", "--ip", "10.1.2.3", "busybox", "true"),  # ignored on the default bridge
        ("run", "--rm", "--network", "none", "--ip", "10.1.2.3", "busybox", "true"),
        ("run", "--rm", "--network", "host", "--network-alias", "x", "busybox", "true"),
        ("network", "rm", "nope"),
        ("network", "rm", "bridge"),
        ("network", "inspect", "nope"),
    ]
    for args in cases:
        theirs, ours = both(docker, box, *args)
        assert theirs[0] == ours[0], (args, theirs, ours)
        if theirs[0] == 0:
            continue
        their_line = theirs[2].strip().splitlines()[-1 if args[0] == "network" else 0]
        their_line = their_line.replace("docker: ", "").replace("Error response from daemon: ", "")
        their_line = their_line.removeprefix("Error: ").rstrip(".")
        assert ours[2].strip().splitlines()[-1].removeprefix("Error: ") == their_line, args


def tools(docker: Dockerd, box: Box) -> list[Callable[..., Any]]:
    """Both CLIs as callables of the same arguments (failures returned, not raised)."""
    return [lambda *args: docker.cli(*args, check=False), box]


def test_a_taken_port_fails_as_docker_fails(docker: Dockerd, box: Box) -> None:
    docker.cli("run", "-d", "--name", "holder", "-p", "18081:80", "busybox", *SERVE)
    box.ok("run", "-d", "--name", "holder", "-p", "28081:80", "busybox", *SERVE)
    try:
        theirs = docker.cli("run", "-d", "-p", "18081:80", "busybox", *SERVE, check=False)
        ours = box("run", "-d", "-p", "28081:80", "busybox", *SERVE)
        assert theirs.returncode == ours.returncode == 125
        assert "Bind for 0.0.0.0:18081 failed: port is already allocated" in theirs.stderr
        assert "Bind for 0.0.0.0:28081 failed: port is already allocated" in ours.stderr
    finally:
        for tool in tools(docker, box):
            for container in tool("ps", "-aq").stdout.split():
                tool("rm", "-f", container)


def test_user_network_names_resolve_in_both(docker: Dockerd, box: Box) -> None:
    for tool in tools(docker, box):
        tool("network", "create", "names")
        tool(
            "run", "-d", "--network", "names", "--name", "svc", "--network-alias", "api",
            "busybox", *SERVE,
        )  # fmt: skip
    try:
        for alias in ("svc", "api"):
            fetch = ("run", "--rm", "--network", "names", "busybox", "wget", "-qO-")
            theirs = docker.cli(*fetch, f"http://{alias}/i").stdout
            assert theirs == box.ok(*fetch, f"http://{alias}/i") == "ok\n"
    finally:
        for tool in tools(docker, box):
            tool("rm", "-f", "svc")
            tool("network", "rm", "names")
