"""The store's event log (store/events.py) and the events command's rendering: docker's
document, appends from many processes, rotation, following, docker's filter rules."""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridock.cli import events as command
from hybridock.cli.templates import TemplateError
from hybridock.runtime.config import RunOptions, merge
from hybridock.runtime.containers import ContainerStore
from hybridock.store import events
from hybridock.store.db import Database
from hybridock.store.layout import Layout

START = events.event(
    "container",
    "start",
    "a" * 64,
    {"image": "busybox", "name": "web", "tier": "front"},
    now=1_796_566_820_406_770_792,
)
MOUNT = events.event("volume", "mount", "data", {"container": "a" * 64, "driver": "local"}, now=1)
PULL = events.event("image", "pull", "busybox:latest", {"name": "busybox"}, now=2)
CONNECT = events.event("network", "connect", "f" * 64, {"name": "backend", "type": "bridge"}, now=3)


def test_documents_are_dockers() -> None:
    assert list(START) == [
        "status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"
    ]  # fmt: skip
    assert (START["status"], START["id"], START["from"]) == ("start", "a" * 64, "busybox")
    assert (START["time"], START["scope"]) == (1_796_566_820, "local")
    assert list(MOUNT) == ["Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert "from" not in PULL
    assert PULL["id"] == "busybox:latest"


def test_record_then_read(tmp_path: Path) -> None:
    events.record(tmp_path, [START, MOUNT])
    events.record(tmp_path, [PULL])
    assert list(events.read(tmp_path)) == [START, MOUNT, PULL]
    assert list(events.read(tmp_path, past=False)) == []


def test_one_write_per_record(tmp_path: Path) -> None:
    """A batch is one write: a reader never sees half of it."""
    written = []
    real_write = os.write

    def counting(fd: int, data: bytes) -> int:
        written.append(data)
        return real_write(fd, data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "write", counting)
        events.record(tmp_path, [START, MOUNT, PULL])
    assert len(written) == 1
    assert written[0].count(b"\n") == 3


def test_an_unwritable_log_never_fails_the_action(tmp_path: Path) -> None:
    (tmp_path / events.FILE).mkdir()  # not a file: open fails
    events.record(tmp_path, [START])


def _writer(root: str, index: int, count: int) -> None:
    for number in range(count):
        document = events.event("container", "start", f"{index}-{number}", {}, now=number)
        events.record(Path(root), [document])


def _spawn_writers(root: Path, writers: int, count: int) -> None:
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_writer, args=(str(root), index, count)) for index in range(writers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        assert process.exitcode == 0


def test_concurrent_writers_lose_and_mix_nothing(tmp_path: Path) -> None:
    _spawn_writers(tmp_path, writers=6, count=200)
    lines = (tmp_path / events.FILE).read_bytes().splitlines()
    assert len(lines) == 1200
    seen = {json.loads(line)["id"] for line in lines}  # each line whole
    assert seen == {f"{index}-{number}" for index in range(6) for number in range(200)}
    for index in range(6):  # one writer's events in its order
        mine = [json.loads(line)["id"] for line in lines if line.startswith(b'{"status"')]
        ordered = [item for item in mine if item.startswith(f"{index}-")]
        assert ordered == [f"{index}-{number}" for number in range(200)]


def test_rotation_keeps_the_log_bounded_under_concurrent_writers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "LIMIT", 8 * 1024)
    _spawn_writers(tmp_path, writers=4, count=300)
    # the last write may have rotated the log: then the newest are all in the rotated file
    current = (tmp_path / events.FILE).read_bytes() if (tmp_path / events.FILE).exists() else b""
    rotated = (tmp_path / events.ROTATED).read_bytes()
    line = len(json.dumps(events.event("container", "start", "0-000", {}, now=0))) + 1
    for data in (current, rotated):
        assert len(data) <= events.LIMIT + 4 * line  # what writers appended before rotating
        for text in data.splitlines():
            json.loads(text)  # whole lines only
    last = {json.loads(text)["id"] for text in (rotated + current).splitlines()}
    assert any(item.endswith("-299") for item in last)  # the newest are kept


def test_follow_reads_across_rotations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every event, in order, while the writer rotates the log under the follower (one
    generation or two between its looks)."""
    monkeypatch.setattr(events, "LIMIT", 2 * 1024)
    monkeypatch.setattr(events, "POLL", 0.01)
    events.record(tmp_path, [START])
    reader = events.read(tmp_path, past=False, follow=True)
    seen: list[str] = []
    progress = threading.Condition()

    def consume(stream: Iterator[events.Event]) -> None:
        for document in stream:
            with progress:
                seen.append(document["Actor"]["ID"])
                progress.notify_all()
            if len(seen) == 200:
                return

    thread = threading.Thread(target=consume, args=(reader,), daemon=True)
    thread.start()
    for number in range(200):
        events.record(tmp_path, [events.event("volume", "create", f"v{number}", {}, now=number)])
        if number % 20 == 19:  # a pause per ~1.5 generations: the follower catches up
            with progress:
                progress.wait_for(functools.partial(caught_up, seen, number), timeout=60)
    thread.join(60)
    assert seen == [f"v{number}" for number in range(200)]
    assert (tmp_path / events.ROTATED).exists()


def caught_up(seen: list[str], number: int) -> bool:
    return len(seen) > number


def test_a_follower_two_generations_behind_reads_the_one_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "LIMIT", 1024)
    monkeypatch.setattr(events, "POLL", 0.01)
    events.record(tmp_path, [events.event("volume", "create", "first", {}, now=0)])
    follower = events.read(tmp_path, follow=True, until=time.time_ns())  # ends once read
    assert next(follower)["Actor"]["ID"] == "first"  # suspended: it looks no further
    rotations, rotated, written = 0, None, list[str]()
    while rotations < 2 or not (tmp_path / events.FILE).exists():
        name = f"v{len(written)}"
        events.record(tmp_path, [events.event("volume", "create", name, {}, now=0)])
        written.append(name)
        with contextlib.suppress(FileNotFoundError):
            current = (tmp_path / events.ROTATED).stat().st_ino
            rotations, rotated = rotations + (current != rotated), current
    assert [document["Actor"]["ID"] for document in follower] == written


def test_follow_stops_at_until(tmp_path: Path) -> None:
    assert list(events.read(tmp_path, past=False, follow=True, until=0)) == []


CONTAINER_DIE = events.event(
    "container",
    "die",
    "3f2a" + "0" * 60,
    {"exitCode": "0", "image": "busybox:1.36", "name": "web", "tier": "front"},
    now=1,
)
EXEC_START = events.event(
    "container", "exec_start: sh -c true", "3f2a" + "0" * 60, {"name": "web"}, now=1
)


@pytest.mark.parametrize(
    ("document", "filters", "expected"),
    [
        pytest.param(CONTAINER_DIE, {}, True, id="no-filter"),
        pytest.param(CONTAINER_DIE, {"type": ["container"]}, True, id="type"),
        pytest.param(CONTAINER_DIE, {"type": ["volume", "container"]}, True, id="type-or"),
        pytest.param(CONTAINER_DIE, {"type": ["volume"]}, False, id="type-other"),
        pytest.param(CONTAINER_DIE, {"event": ["die"]}, True, id="event"),
        pytest.param(CONTAINER_DIE, {"event": ["di"]}, False, id="event-exact"),
        pytest.param(EXEC_START, {"event": ["exec_start"]}, True, id="exec-prefix"),
        pytest.param(CONTAINER_DIE, {"container": ["web"]}, True, id="container-name"),
        pytest.param(CONTAINER_DIE, {"container": ["3f2a"]}, True, id="container-id-prefix"),
        pytest.param(CONTAINER_DIE, {"container": ["we"]}, True, id="container-name-prefix"),
        pytest.param(CONTAINER_DIE, {"container": ["db"]}, False, id="container-other"),
        pytest.param(CONTAINER_DIE, {"image": ["busybox"]}, True, id="image-untagged"),
        pytest.param(CONTAINER_DIE, {"image": ["busybox:1.36"]}, True, id="image-tagged"),
        pytest.param(CONTAINER_DIE, {"image": ["busy"]}, False, id="image-exact"),
        pytest.param(PULL, {"image": ["busybox"]}, True, id="image-event-by-name"),
        pytest.param(CONTAINER_DIE, {"label": ["tier"]}, True, id="label-key"),
        pytest.param(CONTAINER_DIE, {"label": ["tier=front"]}, True, id="label-value"),
        pytest.param(CONTAINER_DIE, {"label": ["tier=back"]}, False, id="label-other"),
        pytest.param(
            CONTAINER_DIE, {"label": ["tier=front", "nope"]}, False, id="labels-all-needed"
        ),
        pytest.param(
            CONTAINER_DIE, {"type": ["container"], "event": ["start"]}, False, id="keys-and"
        ),
        pytest.param(MOUNT, {"volume": ["data"]}, True, id="volume"),
        pytest.param(MOUNT, {"container": ["web"]}, False, id="volume-not-a-container"),
        pytest.param(CONNECT, {"network": ["backend"]}, True, id="network-name"),
        pytest.param(CONTAINER_DIE, {"daemon": ["x"]}, False, id="no-daemon-events"),
        pytest.param(CONTAINER_DIE, {"scope": ["local"]}, True, id="scope"),
        pytest.param(CONTAINER_DIE, {"nonsense": ["x"]}, True, id="unknown-key-ignored"),
    ],
)
def test_filters_follow_dockers_rules(
    document: events.Event, filters: dict[str, list[str]], expected: bool
) -> None:
    assert events.matches(document, filters) is expected


def test_default_line_is_dockers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    assert command.default_line(START) == (
        "2026-12-06T14:20:20.406770792Z container start " + "a" * 64
        + " (image=busybox, name=web, tier=front)"
    )  # fmt: skip
    bare = events.event("network", "destroy", "n1", {}, now=0)
    assert command.default_line(bare) == "1970-01-01T00:00:00.000000000Z network destroy n1"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.Type}} {{.Action}} {{.Actor.ID}}", "container start " + "a" * 64),
        ("{{.Status}}|{{.ID}}|{{.From}}", "start|" + "a" * 64 + "|busybox"),
        ("{{.Actor.Attributes.name}}/{{.Actor.Attributes.nope}}", "web/<no value>"),
        ("{{.Actor.Attributes}}", "map[image:busybox name:web tier:front]"),
        ("{{.Time}} {{.TimeNano}} {{.Scope}}", "1796566820 1796566820406770792 local"),
        ("{{json .Actor.Attributes}}", '{"image":"busybox","name":"web","tier":"front"}'),
        ("a\\tb", "a\tb"),
    ],
)
def test_templates(template: str, expected: str) -> None:
    assert command.render(template, START) == expected


def test_json_of_the_whole_document_keeps_gos_field_order() -> None:
    assert list(json.loads(command.render("{{json .}}", START))) == list(START)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Type", "template: :1: unclosed action"),
        (
            "{{.Nope}}",
            'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type'
            " *events.Message",
        ),
        (
            "x {{.Actor.Nope}}",
            'template: :1:10: executing "" at <.Actor.Nope>: can\'t evaluate field Nope in'
            " type events.Actor",
        ),
    ],
)
def test_template_errors_are_dockers(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        command.render(template, {})
    assert str(raised.value) == message


def test_an_exit_folded_in_twice_dies_once(tmp_path: Path) -> None:
    """Two processes that both saw the container running (ps and wait, say) record its
    exit: docker's die is told once, with the exit code, then the volume's unmount."""
    layout = Layout(tmp_path)
    layout.ensure()
    database = Database(layout.database)
    store = ContainerStore(layout, database)
    with database.write() as connection:  # the image the container's record refers to
        connection.execute(
            "INSERT INTO images (id, config, manifest_digest, size, pulled)"
            " VALUES (?, '{}', ?, 0, 0)",
            ("sha256:" + "1" * 64, "sha256:" + "2" * 64),
        )
    container_id = "c" * 64
    options = RunOptions(labels=("tier=db",), volumes=("data:/data",))
    config = merge(
        "busybox", "sha256:" + "1" * 64, {"config": {"Cmd": ["sh"]}}, container_id, options
    )
    store.create(config, "db", container_id)
    store.mark_running(container_id, os.getpid(), None)
    store.mark_exited(container_id, 3)
    store.mark_exited(container_id, 3)
    shown = [
        (document["Type"], document["Action"], document["Actor"]["Attributes"].get("exitCode"))
        for document in events.read(tmp_path)
    ]
    assert shown == [
        ("container", "create", None),
        ("volume", "mount", None),
        ("container", "start", None),
        ("container", "die", "3"),
        ("volume", "unmount", None),
    ]
    labels = next(events.read(tmp_path))["Actor"]["Attributes"]
    assert labels == {"image": "busybox", "name": "db", "tier": "db"}


def test_an_observer_that_read_a_run_late_does_not_fold_its_exit_over_a_restart(
    tmp_path: Path,
) -> None:
    """ps or inspect read the record while the run was running and find its exit.json; the
    monitor's judge has meanwhile folded that exit in and marked the container restarting
    (or started it again): the late fold must change nothing, or the restart is lost."""
    layout = Layout(tmp_path)
    layout.ensure()
    database = Database(layout.database)
    store = ContainerStore(layout, database)
    with database.write() as connection:
        connection.execute(
            "INSERT INTO images (id, config, manifest_digest, size, pulled)"
            " VALUES (?, '{}', ?, 0, 0)",
            ("sha256:" + "1" * 64, "sha256:" + "2" * 64),
        )
    container_id = "d" * 64
    config = merge(
        "busybox", "sha256:" + "1" * 64, {"config": {"Cmd": ["sh"]}}, container_id, RunOptions()
    )
    store.create(config, "late", container_id)
    store.mark_running(container_id, os.getpid(), os.getpid())
    seen = store.get(container_id)  # the observer's read, while it runs
    store.write_exit(container_id, 2)
    store.mark_exited(container_id, 2)  # the monitor's judge folds the exit in ...
    store.mark_restarting(container_id, os.getpid())  # ... and waits to restart it
    after = store.reconcile(seen)  # the late observer, with what it read before
    assert (after.state, after.monitor_pid) == ("restarting", os.getpid())
    store.mark_running(container_id, os.getppid(), os.getpid())  # the restart, a new run
    after = store.reconcile(seen)
    assert (after.state, after.pid) == ("running", os.getppid())
