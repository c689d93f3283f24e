"""Restart policies and health checks side by side with a private dockerd 20.10
(tests/support/dockerd.py): the same flags give the same words, exit codes and inspect shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.integration.sidebyside import DAEMON_PREFIX, both, docker, our_box
from tests.integration.test_containers import Box, wait_for
from tests.support.dockerd import Dockerd

__all__ = ["both", "docker"]  # fixtures shared by the side-by-side tests
pytestmark = [pytest.mark.root, pytest.mark.registry]


box = our_box("supervise-docker")


def run_words(text: str) -> str:
    """docker run's "docker: [Error response from daemon: ]X.\\nSee 'docker run --help'.\\n"
    as our one line "Error: X"."""
    first = text.splitlines()[0].removeprefix("docker: ").removeprefix(DAEMON_PREFIX)
    return f"Error: {first.removesuffix('.')}\n"


@pytest.mark.parametrize(
    "flags",
    [
        ("--restart", "foo"),
        ("--restart", "on-failure:x"),
        ("--restart", "always:3"),
        ("--restart", "on-failure:-1"),
        ("--restart", "a:b:c"),
        ("--rm", "--restart", "always"),
        ("--no-healthcheck", "--health-cmd", "true"),
        ("--health-interval", "-1s"),
        ("--health-interval", "1us"),
        ("--health-timeout", "-1s"),
        ("--health-retries", "-1"),
        ("--health-start-period", "-1s"),
        ("--health-interval", "abc"),
    ],
)
def test_bad_flags_alike(both: tuple[Dockerd, Box], flags: tuple[str, ...]) -> None:
    docker, box = both
    args = ("run", "-d", "--network", "none", *flags, "busybox", "true")
    theirs = docker.cli(*args, check=False)
    ours = box(*args)
    assert theirs.returncode == ours.returncode == 125
    assert ours.stderr == run_words(theirs.stderr)


def test_ps_health_filter_refusal_alike(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    theirs = docker.cli("ps", "--filter", "health=bad", check=False)
    ours = box("ps", "--filter", "health=bad")
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr == theirs.stderr.replace(DAEMON_PREFIX, "Error: ")


def _shape(document: dict[str, Any]) -> dict[str, Any]:
    state = document["State"]
    health = state.get("Health")
    return {
        "RestartPolicy": document["HostConfig"]["RestartPolicy"],
        "RestartCount": document["RestartCount"],
        "Healthcheck": document["Config"].get("Healthcheck"),
        "Status": state["Status"],
        "HealthKeys": sorted(health) if health else None,
        "HealthStatus": health and health["Status"],
        "LogKeys": sorted(health["Log"][-1]) if health and health["Log"] else None,
    }


def test_inspect_shapes_alike(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    args = (
        "run", "-d", "--network", "none", "--name", "checked", "--restart", "on-failure:2",
        "--health-cmd", "echo ok", "--health-interval", "200ms", "--health-retries", "2",
        "busybox", "sleep", "300",
    )  # fmt: skip
    docker.cli(*args)
    box.ok(*args)

    def healthy(document: dict[str, Any]) -> bool:
        health = document["State"].get("Health") or {}
        return health.get("Status") == "healthy"

    wait_for(lambda: healthy(json.loads(docker.cli("inspect", "checked").stdout)[0]), 60)
    wait_for(lambda: healthy(box.inspect("checked")), 60)
    theirs = _shape(json.loads(docker.cli("inspect", "checked").stdout)[0])
    ours = _shape(box.inspect("checked"))
    assert ours == theirs


@pytest.mark.parametrize(
    ("run_flags", "policy"),
    [
        ((), "foo"),
        ((), "always:3"),
        ((), "on-failure:x"),
        ((), "on-failure:-1"),
        ((), "a:b:c"),
        (("--rm",), "always"),
        (("--rm",), "on-failure:2"),
        (("--rm",), "no"),
    ],
)
def test_update_restart_alike(
    both: tuple[Dockerd, Box], run_flags: tuple[str, ...], policy: str
) -> None:
    docker, box = both
    args = ("run", "-d", "--network", "none", "--name", "updated", *run_flags)
    docker.cli(*args, "busybox", "sleep", "300")
    box.ok(*args, "busybox", "sleep", "300")
    theirs = docker.cli("update", "--restart", policy, "updated", check=False)
    ours = box("update", "--restart", policy, "updated")
    assert ours.returncode == theirs.returncode
    # their daemon warns of its host's IPv4 forwarding after the name
    assert ours.stdout.splitlines()[:1] == theirs.stdout.splitlines()[:1]
    their_document = json.loads(docker.cli("inspect", "updated").stdout)[0]
    our_document = box.inspect("updated")
    # docker's client prints its own errors bare, its daemon's with a prefix; ours: "Error: "
    their_words = theirs.stderr.removeprefix(DAEMON_PREFIX)
    assert ours.stderr.removeprefix("Error: ") == their_words.replace(
        their_document["Id"], str(our_document["Id"])
    )
    their_policy = their_document["HostConfig"]["RestartPolicy"]
    assert our_document["HostConfig"]["RestartPolicy"] == their_policy  # type: ignore[index]
