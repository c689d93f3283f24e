"""events, info and system df with real containers, where docker cannot be asked the same
(issue 12): the stream of new events and its Ctrl-C, one die however many processes fold an
exit in, image and network events, paused counts."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
from tests.integration.test_containers import Box, box, name, wait_for
from tests.support.cli import running_hybridock

__all__ = ["box", "name"]  # fixtures shared with the container tests
pytestmark = [pytest.mark.root, pytest.mark.registry]

LINE = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"


def since_now() -> str:
    return f"{time.time() - 0.01:.9f}"


def until_now() -> str:
    return f"{time.time() + 0.01:.9f}"


def events(box: Box, since: str, *args: str) -> list[str]:
    return box.ok(
        "events", "--since", since, "--until", until_now(), "--format", LINE, *args
    ).splitlines()


def test_events_streams_new_events_until_ctrl_c(box: Box, name: str) -> None:
    box.ok("create", "--name", f"{name}-before", "busybox", "true")  # made before: not shown
    marks: list[str] = []

    def mark_seen(lines: list[str]) -> bool:
        """The stream begins once the command has opened the log: a new volume each time
        until one is seen."""
        marks.append(f"{name}-mark{len(marks)}")
        box.ok("volume", "create", marks[-1])
        return any(line.startswith("volume create") for line in lines)

    lines: list[str] = []
    try:
        with running_hybridock(["events", "--format", LINE], env=box.env) as stream:
            reader = threading.Thread(target=lambda: lines.extend(stream.stdout or ()))
            reader.start()
            wait_for(lambda: mark_seen(lines), 30)
            box.ok("run", "--name", name, "busybox", "true")
            wait_for(lambda: f"container die {name}\n" in lines, 30)
            stream.send_signal(signal.SIGINT)
            assert stream.wait(30) == 0
            reader.join(30)
            assert stream.stdout is not None
            assert stream.stderr is not None
            with stream.stdout, stream.stderr:
                assert stream.stderr.read() == ""
    finally:
        box("rm", f"{name}-before")
        for mark in marks:
            box("volume", "rm", mark)
    shown = [line.strip() for line in lines if not line.startswith("volume")]
    assert shown == [
        f"container create {name}",
        f"container attach {name}",
        "network connect bridge",
        f"container start {name}",
        f"container die {name}",
        "network disconnect bridge",
    ]


def test_a_detached_exit_dies_once_whoever_folds_it_in(box: Box, name: str) -> None:
    since = since_now()
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 0.5; exit 7")
    # ps, inspect and wait race to fold the exit in
    results: list[int] = []

    def fold(args: tuple[str, ...]) -> None:
        for _ in range(20):
            results.append(box(*args).returncode)

    threads = [
        threading.Thread(target=fold, args=(args,))
        for args in (("ps", "-a"), ("inspect", name), ("wait", name), ("ps", "-a"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    dies = [line for line in events(box, since, "--filter", "event=die") if name in line]
    assert dies == [f"container die {name}"]
    exit_codes = box.ok(
        "events", "--since", since, "--until", until_now(), "--filter", "event=die",
        "--format", "{{.Actor.Attributes.exitCode}}",
    )  # fmt: skip
    assert exit_codes == "7\n"


def test_image_events(box: Box) -> None:
    since = since_now()
    box.ok("pull", "hello-world")
    box.ok("rmi", "hello-world")
    lines = events(box, since, "--filter", "type=image")
    assert lines[0] == "image pull hello-world"
    # as docker: an untag for each name that went (the tag and its repository digest)
    assert [line.split()[1] for line in lines] == ["pull", "untag", "untag", "delete"]
    documents = box.ok(
        "events", "--since", since, "--until", until_now(), "--filter", "event=pull",
        "--format", "{{json .}}",
    )  # fmt: skip
    pulled = json.loads(documents)
    assert (pulled["id"], pulled["Actor"]["ID"]) == ("hello-world:latest", "hello-world:latest")


def test_network_events(box: Box, name: str) -> None:
    since = since_now()
    network = f"{name}-net"
    box.ok("network", "create", network)
    try:
        box.ok("create", "--name", name, "busybox", "true")
        box.ok("network", "connect", network, name)
        box.ok("network", "disconnect", network, name)
    finally:
        box("network", "rm", network)
    lines = events(box, since, "--filter", "type=network", "--filter", f"network={network}")
    assert lines == [
        f"network {action} {network}" for action in ("create", "connect", "disconnect", "destroy")
    ]
    connected = box.ok(
        "events", "--since", since, "--until", until_now(), "--filter", "event=connect",
        "--format", "{{.Actor.Attributes.container}} {{.Actor.Attributes.type}}",
    )  # fmt: skip
    assert connected == f"{box.inspect(name)['Id']} bridge\n"


def test_info_counts_paused_containers(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    before = json.loads(box.ok("info", "--format", "{{json .}}"))
    box.ok("pause", name)
    try:
        after = json.loads(box.ok("info", "--format", "{{json .}}"))
    finally:
        box.ok("unpause", name)
    assert after["ContainersPaused"] == before["ContainersPaused"] + 1
    assert after["ContainersRunning"] == before["ContainersRunning"] - 1


def test_system_df_counts_what_a_container_wrote(box: Box, name: str) -> None:
    box.ok("run", "--name", name, "busybox", "sh", "-c", "head -c 12345 /dev/zero > /blob")
    rows = {
        row["Type"]: row
        for row in map(json.loads, box.ok("system", "df", "--format", "{{json .}}").splitlines())
    }
    assert rows["Containers"]["Size"].endswith("kB")
    verbose = box.ok("system", "df", "-v")
    mine = next(line for line in verbose.splitlines() if line.endswith(f" {name}"))
    assert " 12.3kB " in mine  # docker: three digits here, four in the summary
