"""events, history, system df, system prune, info and version next to a private dockerd 20.10
(tests/support/dockerd.py): the same actions, the same shapes and words."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import pytest
from tests.conftest import ImageBuilder, private_dockerd
from tests.integration.sidebyside import DAEMON_PREFIX, both, our_box, tag_busybox
from tests.integration.test_containers import Box
from tests.support.dockerd import Dockerd
from tests.support.images import ImageSpec
from tests.support.layers import File, Layer
from tests.support.registry import Registry
from tests.support.testimages import busybox_entries, host_platform

from hybridock import __version__

__all__ = ["both"]  # a fixture shared by the side-by-side tests
pytestmark = [pytest.mark.root, pytest.mark.registry]

HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


box = our_box("system-docker")


@pytest.fixture(scope="module")
def docker(
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    image_builder: ImageBuilder,
) -> Iterator[Dockerd]:
    """A dockerd of this module's own: df, prune, info and events count all a daemon holds,
    and the session's dockerd holds what other modules pulled."""
    with private_dockerd(tmp_path_factory, session_registry, image_builder) as daemon:
        tag_busybox(daemon, session_registry)
        yield daemon


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
        "--network",
        "none",
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
    ("run", "--rm", "--network", "host", "--name", "evrm", "busybox", "true"),
    ("create", "--network", "none", "--name", "ev3", "busybox", "sh", "-c", "exit 3"),
    ("start", "-a", "ev3"),
    ("rm", "ev3"),
    ("volume", "rm", "evdata"),
]
EVENT_FORMAT = "{{.Type}} {{.Action}} {{json .Actor.Attributes}}"


def live(run: Callable[..., Any]) -> tuple[str, str]:
    """Runs LIFE; the --since and --until that bound its events."""
    since = f"{time.time() - 0.001:.9f}"
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
    assert len(normal(ours)) == 51


def test_default_lines_and_json_are_dockers(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    args = ("run", "--name", "evline", "-l", "a=b", "busybox", "true")
    shown = {}
    for name, run in (("docker", docker_run(docker)), ("ours", box.ok)):
        since = f"{time.time() - 0.001:.9f}"
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


# --- history ------------------------------------------------------------------------------------


def test_history_is_dockers(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    for args in (
        ("history", "busybox"),
        (
            "history",
            "--no-trunc",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
            "busybox",
        ),
        ("history", "-H=false", "--format", "{{.Size}}|{{.CreatedAt}}", "busybox"),
        ("history", "--human=false", "busybox"),
        ("history", "-q", "busybox"),
    ):
        theirs, ours = docker.cli(*args).stdout, box.ok(*args)
        assert normal_ids(ours) == normal_ids(theirs), args


def normal_ids(text: str) -> str:
    """Ids differ, and docker's image is the same pull under the registry's name first."""
    text = re.sub(r"127\.0\.0\.1:\d+/library/busybox", "busybox", text)
    return re.sub(r"\b(sha256:)?[0-9a-f]{12}(?:[0-9a-f]{52})?\b", "ID", text)


def sorted_sections(text: str) -> list[list[str]]:
    """prune's report with each section's lines sorted: docker lists what it deleted in the
    order of its maps, no particular one."""
    return [sorted(section.splitlines()) for section in text.split("\n\n")]


@pytest.mark.parametrize(
    "args",
    [
        ("history", "nosuch"),
        ("history", "--format", "{{.Foo", "busybox"),
        ("history", "-H=maybe", "busybox"),
    ],
)
def test_bad_history_input_is_one_line_with_dockers_code(
    both: tuple[Dockerd, Box], args: tuple[str, ...]
) -> None:
    docker, box = both
    theirs = docker.cli(*args, check=False)
    ours = box(*args)
    assert ours.returncode == theirs.returncode
    assert len(ours.stderr.splitlines()) == 1, ours.stderr
    first = theirs.stderr.splitlines()[0].replace(DAEMON_PREFIX, "")
    assert ours.stderr.strip().removeprefix("Error: ") == first


# --- system df, system prune ----------------------------------------------------------------------


def scene(run: Callable[..., Any]) -> None:
    """A running container with a named volume, a stopped one that wrote 6 bytes and has an
    anonymous volume, an unused volume with 5 bytes, a user network nothing uses."""
    run("run", "-d", "--name", "dfrun", "-v", "dfvol:/data", "busybox", "sleep", "300")
    run("run", "--name", "dfstop", "-v", "/anon", "busybox", "sh", "-c", "echo 12345 > /y")
    run("run", "--rm", "-v", "dfspare:/s", "busybox", "sh", "-c", "echo abcd > /s/f")
    run("network", "create", "dfnet")


def test_system_df_is_dockers(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    try:
        scene(docker_run(docker))
        scene(box.ok)
        for args in (
            ("system", "df"),
            ("system", "df", "--format", "{{json .}}"),
            ("system", "df", "--format", "table {{.Type}}\t{{.Size}}"),
        ):
            assert box.ok(*args) == docker.cli(*args).stdout, args
        theirs = docker.cli("system", "df", "-v").stdout
        ours = box.ok("system", "df", "-v")
        # sizes of the image (the same layer) and ids differ only as the two stores name them
        assert normal_verbose(ours) == normal_verbose(theirs)
    finally:
        docker.cli("network", "rm", "dfnet", check=False)
        box("network", "rm", "dfnet")


def normal_verbose(text: str) -> list[str]:
    """-v's lines with ids and ages made alike, columns by two spaces; the volumes (docker
    lists them in no particular order) sorted."""
    lines = []
    for line in normal_ids(text).splitlines():
        moment = r"(?<=\s)(About a minute|Less than a second|\d+ seconds?)(?= ago)"
        timeless = re.sub(moment, "T", line)
        timeless = re.sub(r"Up (Less than a second|\d+ seconds?|About a minute)", "Up T", timeless)
        lines.append(re.sub(r" {2,}", "  ", timeless.rstrip()))
    first = lines.index("Local Volumes space usage:") + 3
    last = lines.index("Build cache usage: 0B") - 1
    return [*lines[:first], *sorted(lines[first:last]), *lines[last:]]


def test_system_prune_is_dockers(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    try:
        scene(docker_run(docker))
        scene(box.ok)
        refused = ("system", "prune", "-a", "--volumes")
        theirs = subprocess.run(
            docker.command(*refused),
            env=docker.env,
            input="n\n",
            capture_output=True,
            text=True,
            check=False,
        )
        ours = box(*refused, input="n\n")
        assert (ours.stdout, ours.returncode) == (theirs.stdout, theirs.returncode)
        assert box.ok("ps", "-aq") != ""  # nothing went
        theirs_done = docker.cli("system", "prune", "-f", "--volumes").stdout
        ours_done = box.ok("system", "prune", "-f", "--volumes")
        assert sorted_sections(normal_ids(ours_done)) == sorted_sections(normal_ids(theirs_done))
        # the stopped container's 6 bytes and the unused named volume's 5
        assert "Total reclaimed space: 11B" in ours_done
        # docker 20.10's --volumes: every unused volume, named ones too
        assert box.ok("volume", "ls", "-q").split() == ["dfvol"]
        assert box.ok("ps", "-a", "--format", "{{.Names}}") == "dfrun\n"
    finally:
        docker.cli("network", "rm", "dfnet", check=False)
        box("network", "rm", "dfnet")


@pytest.mark.parametrize(
    "args",
    [
        ("system", "prune", "-f", "--filter", "foo=bar"),
        ("system", "prune", "-f", "--filter", "until=bogus"),
        ("system", "df", "--format", "{{.Foo"),
        ("info", "--format", "{{.Foo"),
        ("info", "--format", "{{.Nope}}"),
        ("version", "--format", "{{.Foo"),
    ],
)
def test_bad_system_input_is_one_line_with_dockers_code(
    both: tuple[Dockerd, Box], args: tuple[str, ...]
) -> None:
    docker, box = both
    theirs = docker.cli(*args, check=False)
    ours = box(*args)
    assert ours.returncode == theirs.returncode
    assert len(ours.stderr.splitlines()) == 1, ours.stderr
    first = next(line for line in theirs.stderr.splitlines() if line).replace(DAEMON_PREFIX, "")
    assert ours.stderr.strip().removeprefix("Error: ") == first


# --- info, version --------------------------------------------------------------------------------


def test_info_has_dockers_layout_and_hybridocks_facts(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    box.ok("run", "-d", "--name", "inforun", "busybox", "sleep", "300")
    box.ok("run", "--name", "infostop", "busybox", "true")
    ours = box.ok("info")
    theirs = docker.cli("info").stdout
    # every line of ours is one docker prints, in docker's order
    remaining = iter(labels(theirs))
    for label in labels(ours):
        if label != " Registry Mirrors":  # docker's has none configured
            assert label in remaining, label  # consumes up to the match: order kept
    for expected in (
        " Containers: 2",
        "  Running: 1",
        "  Paused: 0",
        "  Stopped: 1",
        " Images: 1",
        " Storage Driver: overlay2",
        " Cgroup Driver: cgroupfs",
        " OSType: linux",
        f" Docker Root Dir: {box.root}",
    ):
        assert expected in ours.splitlines(), expected
    for key in ("Kernel Version", "Operating System", "Architecture", "CPUs", "Cgroup Version"):
        assert line_of(ours, key) == line_of(theirs, key), key
    document = json.loads(box.ok("info", "--format", "{{json .}}"))
    assert (document["ContainersRunning"], document["ContainersStopped"]) == (1, 1)
    assert box.ok("info", "--format", "{{.Driver}} {{.CgroupVersion}}") == (
        docker.cli("info", "--format", "{{.Driver}} {{.CgroupVersion}}").stdout
    )
    assert box.ok("info", "--format", "{{.ServerVersion}}") == f"{__version__}\n"


def labels(text: str) -> list[str]:
    """info's labels ("  Running"), not the registries and mirrors listed under them."""
    found = [line.split(":")[0] for line in text.splitlines() if ":" in line]
    return [
        label
        for label in found
        if label.strip()[0].isalpha() and not label.strip().startswith("http")
    ]


def line_of(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f" {key}:"))


def test_version_has_dockers_layout(both: tuple[Dockerd, Box]) -> None:
    docker, box = both
    ours = box.ok("version")
    theirs = docker.cli("version").stdout
    assert ours.splitlines()[0] == "Client: hybridock"
    assert " Version:           " + __version__ in ours.splitlines()
    assert "  Version:          " + __version__ in ours.splitlines()
    assert (
        "  OS/Arch:          "
        + line_of(theirs.replace("  OS/Arch", " OS/Arch"), "OS/Arch").split()[-1]
        in ours
    )
    assert box.ok("version", "--format", "{{.Server.Version}}") == f"{__version__}\n"
    assert (
        json.loads(box.ok("version", "--format", "{{json .}}"))["Client"]["Version"] == __version__
    )
    assert box.ok("--version") == f"hybridock, version {__version__}\n"


@dataclasses.dataclass(frozen=True)
class HistoriedImage(ImageSpec):
    """Two layers and the steps between them that made none (``empty_layer``), as a
    Dockerfile's ENV and CMD leave them."""

    def config_json(self, diff_ids: Sequence[str]) -> dict[str, Any]:
        config = super().config_json(diff_ids)
        config["history"] = [
            {
                "created": "2023-11-14T22:13:20Z",
                "created_by": "/bin/sh -c #(nop) ADD file:0f3 in / ",
            },
            {
                "created": "2023-11-14T22:13:21Z",
                "created_by": "/bin/sh -c #(nop)  ENV A=1",
                "empty_layer": True,
            },
            {
                "created": "2023-11-14T22:13:22Z",
                "created_by": "/bin/sh -c echo a rather long command line that docker cuts > /note",
                "comment": "buildkit.dockerfile.v0",
            },
            {
                "created": "2023-11-14T22:13:23Z",
                "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
                "empty_layer": True,
            },
        ]
        return config


def test_history_of_empty_layers_is_dockers(
    both: tuple[Dockerd, Box], session_registry: Registry, image_builder: Any
) -> None:
    docker, box = both
    spec = HistoriedImage(
        layers=[
            Layer(busybox_entries()),
            Layer([File("note", b"a note\n" * 1000, mode=0o644)]),
        ],
        cmd=["sh"],
        platform=host_platform(),
    )
    pushed = image_builder.push(spec, session_registry, "library/historied")
    reference = docker.load(pushed, session_registry.backend_address)
    box.ok("pull", "historied")
    for args in (
        (),
        ("--no-trunc",),
        ("-H=false",),
        ("--format", "{{.ID}}\t{{.Size}}\t{{.Comment}}"),
    ):
        theirs = docker.cli("history", *args, reference).stdout
        ours = box.ok("history", *args, "historied")
        assert normal_ids(ours) == normal_ids(theirs), args
    box.ok("rmi", "historied")
    docker.cli("rmi", reference)
