"""The private dockerd of tests/support/dockerd.py: it runs containers, and leaves the host's
network, firewall, cgroups and mounts as they were, also when it fails to start."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.integration.test_containers import wait_for
from tests.support.cleanup import mounts_under
from tests.support.containerd import cgroup_hierarchies
from tests.support.dockerd import Dockerd, DockerdStartError, dockerd_probe
from tests.support.processes import processes_mentioning
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _needs_dockerd() -> None:
    if reason := dockerd_probe():
        pytest.skip(reason)


def host_network() -> dict[str, str]:
    """What a daemon could change on the host's network: links, addresses, routes, firewall
    rules and forwarding (rule counters and the save tools' timestamps left out)."""
    commands = {
        "links": ["ip", "-o", "link", "show"],
        "addresses": ["ip", "-o", "address", "show"],
        "routes": ["ip", "route", "show", "table", "all"],
        "iptables": ["iptables-save"],
        "ip6tables": ["ip6tables-save"],
    }
    state = {}
    for name, command in commands.items():
        if shutil.which(command[0]) is None:
            continue
        output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        state[name] = "\n".join(
            _configured(line.split(" [", 1)[0])
            for line in output.splitlines()
            if not line.startswith("#") and " RX: " not in line
        )
    for key in ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"):
        path = Path("/proc/sys") / key
        if path.exists():
            state[key] = path.read_text().strip()
    return state


def _configured(line: str) -> str:
    """A line of ip's output without the link's carrier, which the kernel changes on its own
    (a bridge loses it a little after its last port is gone, with the veths of containers that
    earlier tests removed): what a daemon could configure is what is compared."""
    return re.sub(r"NO-CARRIER,|,LOWER_UP| state (UP|DOWN|UNKNOWN)| linkdown", "", line)


def veths() -> str:
    return subprocess.run(
        ["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True
    ).stdout


def test_runs_containers_and_leaves_the_host_as_it_was(
    tmp_path: Path, registry: Registry, image_builder: ImageBuilder
) -> None:
    # the veths of containers earlier tests removed go with their network namespaces, which the
    # kernel tears down a little later: wait for that, or their bridges' state changes under us
    wait_for(lambda: not veths(), 30)
    network = host_network()
    workdir = tmp_path / "dockerd"
    daemon = Dockerd(workdir, insecure_registries=[registry.backend_address])
    try:
        daemon.start()
        busybox = image_builder.push(image_builder.busybox(), registry, "library/busybox")
        reference = daemon.load(busybox, registry.backend_address)
        run = daemon.cli("run", "--rm", "--network", "none", reference, "echo", "inside")
        assert run.stdout == "inside\n"
        daemon.cli("run", "--detach", "--network", "none", reference, "sleep", "600")
        cgroup_parents = [
            hierarchy / daemon.cgroup_parent
            for hierarchy in cgroup_hierarchies()
            if (hierarchy / daemon.cgroup_parent).is_dir()
        ]
        assert cgroup_parents, "the running container has no cgroup under the daemon's parent"
        assert host_network() == network
    finally:
        daemon.stop()  # with the sleeping container still running
    assert processes_mentioning(workdir) == []
    assert mounts_under(tmp_path) == []
    assert not workdir.exists()
    assert [parent for parent in cgroup_parents if parent.exists()] == []
    assert host_network() == network


def test_a_daemon_that_cannot_start_is_stopped_and_removed(tmp_path: Path) -> None:
    workdir = tmp_path / "dockerd"
    daemon = Dockerd(workdir, insecure_registries=["not a registry/with/a path"])
    with pytest.raises(DockerdStartError, match=r"dockerd exited: .*insecure registry"):
        daemon.start()
    assert processes_mentioning(workdir) == []
    assert mounts_under(tmp_path) == []
    assert not workdir.exists()
