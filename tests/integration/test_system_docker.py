"""events, history, system df, system prune, info and version next to a private dockerd 20.10
(tests/support/dockerd.py): the same actions, the same shapes and words."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from tests.integration.test_containers import Box, library_box
from tests.support.dockerd import Dockerd
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

DAEMON_PREFIX = "Error response from daemon: "
HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


@pytest.fixture(scope="module")
def docker(dockerd: Dockerd, session_registry: Registry) -> Dockerd:
    dockerd.cli("tag", f"{session_registry.backend_address}/library/busybox:latest", "busybox")
    return dockerd


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    with library_box(tmp_path_factory, session_registry, image_builder, "system-docker") as made:
        yield made


@pytest.fixture
def both(docker: Dockerd, box: Box) -> Iterator[tuple[Dockerd, Box]]:
    """Both tools; afterwards their containers and volumes are removed."""
    yield docker, box
    for container in docker.cli("ps", "-aq").stdout.split():
        docker.cli("rm", "-f", "-v", container, check=False)
    box.remove_containers()
    if names := docker.cli("volume", "ls", "-q").stdout.split():
        docker.cli("volume", "rm", "-f", *names)
    if names := box("volume", "ls", "-q").stdout.split():
        box("volume", "rm", "-f", *names)


def docker_run(docker: Dockerd) -> Callable[..., str]:
    def run(*args: str) -> str:
        return docker.cli(*args).stdout

    return run


#: one container's life, every action docker logs an event for (sleep, as pid 1, ignores
#: SIGTERM and SIGHUP: stop and restart end it with SIGKILL after their second)
LIFE: list[tuple[str, ...]] = [
    (
        "run",
        "-d",
        "--name",
        "ev1",
        "-l",
        "tier=web",
        "-v",
        "evdata:/data",
        "busybox",
        "sleep",
        "99",
    ),
    ("exec", "ev1", "true"),
    ("pause", "ev1"),
    ("unpause", "ev1"),
    ("rename", "ev1", "ev2"),
    ("stop", "-t", "1", "ev2"),
    ("start", "ev2"),
    ("kill", "-s", "HUP", "ev2"),
    ("restart", "-t", "1", "ev2"),
    ("rm", "-f", "ev2"),
    ("run", "--rm", "--name", "evrm", "busybox", "true"),
    ("create", "--name", "ev3", "busybox", "sh", "-c", "exit 3"),
    ("start", "-a", "ev3"),
    ("rm", "ev3"),
    ("volume", "rm", "evdata"),
]
EVENT_FORMAT = "{{.Type}} {{.Action}} {{json .Actor.Attributes}}"


def live(run: Callable[..., Any]) -> tuple[str, str]:
    """Runs LIFE; the --since and --until that bound its events."""
    since = f"{time.time() - 0.5:.9f}"
    for args in LIFE:
        run(*args)
    return since, f"{time.time() + 0.5:.9f}"


def normal(lines: str) -> list[str]:
    return [HEX64.sub("ID", line) for line in lines.splitlines()]


class Lived(NamedTuple):
    """LIFE done by docker and by hybridock: each one's --since and --until around it."""

    theirs: tuple[str, str]
    ours: tuple[str, str]


@pytest.fixture(scope="module")
def lived(docker: Dockerd, box: Box) -> Lived:
    theirs = live(lambda *args: docker.cli(*args, check=False))
    ours = live(box)
    time.sleep(0.6)  # both --until in the past: the commands print what was and end
    return Lived(theirs, ours)


def events_of(docker: Dockerd, box: Box, lived: Lived, *args: str) -> tuple[str, str]:
    theirs = docker.cli("events", *args, "--since", lived.theirs[0], "--until", lived.theirs[1])
    ours = box.ok("events", *args, "--since", lived.ours[0], "--until", lived.ours[1])
    return theirs.stdout, ours


def test_a_containers_life_gives_dockers_events(both: tuple[Dockerd, Box], lived: Lived) -> None:
    theirs, ours = events_of(*both, lived, "--format", EVENT_FORMAT)
    assert normal(ours) == normal(theirs)
    assert len(normal(ours)) == 41


def test_default_lines_and_json_are_dockers(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    args = ("run", "--name", "evline", "-l", "a=b", "busybox", "true")
    shown = {}
    for name, run in (("docker", docker_run(docker)), ("ours", box.ok)):
        since = f"{time.time() - 0.5:.9f}"
        run(*args)
        run("rm", "evline")
        until = f"{time.time() + 0.5:.9f}"
        time.sleep(0.6)
        lines = run("events", "--since", since, "--until", until, "--filter", "event=die")
        documents = run(
            "events",
            "--since",
            since,
            "--until",
            until,
            "--filter",
            "event=die",
            "--format",
            "{{json .}}",
        )
        shown[name] = (lines, documents)
    (their_lines, their_json), (our_lines, our_json) = shown["docker"], shown["ours"]
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) "
    assert re.fullmatch(
        stamp + r"container die \w{64} \(a=b, exitCode=0, image=busybox, name=evline\)\n", our_lines
    )
    assert re.sub(stamp, "", normal(our_lines)[0]) == re.sub(stamp, "", normal(their_lines)[0])
    theirs, ours = json.loads(their_json), json.loads(our_json)
    assert list(ours) == list(theirs)  # Go's field order
    for document in (theirs, ours):
        assert document["time"] == document["timeNano"] // 10**9
        document["id"] = document["Actor"]["ID"] = document["time"] = document["timeNano"] = 0
    assert ours == theirs


@pytest.mark.parametrize(
    "filters",
    [
        ("type=volume",),
        ("event=die", "event=destroy"),
        ("container=ev2",),
        ("container=ev2", "event=kill"),
        ("label=tier=web",),
        ("label=tier",),
        ("image=busybox", "event=start"),
        ("volume=evdata",),
        ("event=exec_start",),
        ("type=container", "type=volume", "event=mount"),
    ],
)
def test_filters_choose_as_dockers_do(
    both: tuple[Dockerd, Box], lived: Lived, filters: tuple[str, ...]
) -> None:
    chosen = [part for item in filters for part in ("--filter", item)]
    theirs, ours = events_of(*both, lived, "--format", EVENT_FORMAT, *chosen)
    assert normal(ours) == normal(theirs)
    assert theirs


@pytest.mark.parametrize(
    "args",
    [
        ("--filter", "foo"),
        ("--since", "bogus"),
        ("--until", "2020-13-01"),
        ("--since", "100", "--until", "50"),
        ("--format", "{{.Foo", "--since", "0", "--until", "1"),
        ("--format", "{{.Nope}}", "--since", "0", "--until", "1"),
        ("--format", "{{.Actor.Nope}}", "--since", "0", "--until", "1"),
    ],
)
def test_bad_events_input_is_one_line_with_dockers_code(
    both: tuple[Dockerd, Box], args: tuple[str, ...]
) -> None:
    docker, box = both
    theirs = docker.cli("events", *args, check=False)
    ours = box("events", *args)
    assert ours.returncode == theirs.returncode
    assert len(ours.stderr.splitlines()) == 1, ours.stderr
    first = theirs.stderr.splitlines()[0].replace(DAEMON_PREFIX, "")
    assert ours.stderr.strip().removeprefix("Error: ") == first.removeprefix("Error ")
