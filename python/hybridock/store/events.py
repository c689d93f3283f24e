"""The store's event log: docker's ``events`` without a daemon.

Every process that changes something (a container started, an image pulled, a volume made)
appends docker's event documents to ``<root>/events.log``, one JSON line each, in one
``O_APPEND`` write: concurrent writers never interleave and no lock is held across the action.
The log is bounded: a writer that finds it past ``LIMIT`` bytes renames it to ``events.log.1``
(replacing the previous one) under the ``events`` lock, checking again under the lock, so two
writers never rotate twice. A reader reads ``events.log.1`` then ``events.log`` and follows
the latter across rotations by its inode (a follower more than one generation behind, 2 MiB of
events in one poll, loses the generations between, as docker's bounded buffer would).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from hybridock.store.layout import Layout

FILE = "events.log"
ROTATED = "events.log.1"
#: bytes after which the log is rotated: two files of about this size are kept (~8,000 events)
LIMIT = 2 * 1024 * 1024
#: seconds between looks at the log when following it
POLL = 0.1

Event = dict[str, Any]


def event(
    kind: str, action: str, actor: str, attributes: Mapping[str, str], *, now: int | None = None
) -> Event:
    """docker 20.10's events.Message, with the legacy status/id/from of container and image
    events."""
    nanoseconds = now if now is not None else time.time_ns()
    document: Event = {}
    if kind in ("container", "image"):
        document["status"] = action
        document["id"] = actor
        if kind == "container" and "image" in attributes:
            document["from"] = attributes["image"]
    document.update(
        {
            "Type": kind,
            "Action": action,
            "Actor": {"ID": actor, "Attributes": dict(attributes)},
            "scope": "local",
            "time": nanoseconds // 10**9,
            "timeNano": nanoseconds,
        }
    )
    return document


def record(layout: Layout | Path, documents: Sequence[Event]) -> None:
    """Appends the events in one write; best effort (an event log that cannot be written never
    fails the action it tells of)."""
    if not documents:
        return
    root = layout.root if isinstance(layout, Layout) else layout
    data = "".join(json.dumps(d, separators=(",", ":")) + "\n" for d in documents).encode()
    try:
        fd = os.open(root / FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, data)
        size = os.fstat(fd).st_size
    except OSError:
        return
    finally:
        os.close(fd)
    if size > LIMIT:
        _rotate(root)


def _rotate(root: Path) -> None:
    locks = root / "locks"
    with contextlib.suppress(OSError):
        locks.mkdir(exist_ok=True)
        fd = os.open(locks / "events", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if (root / FILE).stat().st_size > LIMIT:  # not rotated by another writer meanwhile
                (root / FILE).replace(root / ROTATED)
        finally:
            os.close(fd)


def _documents(lines: bytes) -> Iterator[Event]:
    for line in lines.splitlines():
        with contextlib.suppress(ValueError):
            document = json.loads(line)
            if isinstance(document, dict):
                yield document


def _open(path: Path) -> BinaryIO | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None


def read(
    root: Path,
    *,
    past: bool = True,
    follow: bool = False,
    until: int | None = None,
    stop: threading.Event | None = None,
) -> Iterator[Event]:
    """The log's events, oldest first (``past``: those already written; else only those
    written after this call); ``follow``: then each new one as it is appended, until the
    caller stops, the clock passes ``until`` (Unix nanoseconds) or ``stop`` is set."""
    handle = _open(root / FILE)
    if handle is not None and not past:
        handle.seek(0, os.SEEK_END)  # now, not when the caller first asks
    return _events(root, handle, past=past, follow=follow, until=until, stop=stop)


def _events(
    root: Path,
    handle: BinaryIO | None,
    *,
    past: bool,
    follow: bool,
    until: int | None,
    stop: threading.Event | None,
) -> Iterator[Event]:
    if past:
        with contextlib.suppress(FileNotFoundError):
            yield from _documents((root / ROTATED).read_bytes())
    partial = b""
    try:
        while True:
            chunk = handle.read() if handle is not None else b""
            if chunk:
                whole, newline, partial = (partial + chunk).rpartition(b"\n")
                yield from _documents(whole + newline)
                continue
            if not follow:
                return
            if handle is not None and _rotated(root, handle):
                yield from _documents(partial + handle.read())  # its last lines
                partial = b""
                yield from _skipped_generation(root, os.fstat(handle.fileno()).st_ino)
                handle.close()
                handle = None
            if handle is None and (handle := _open(root / FILE)) is not None:
                continue
            if until is not None and time.time_ns() > until:
                return  # only once what was written before it is read
            if stop is None:
                time.sleep(POLL)
            elif stop.wait(POLL):
                return
    finally:
        if handle is not None:
            handle.close()


def _skipped_generation(root: Path, followed: int) -> Iterator[Event]:
    """A follower that finds its file rotated twice since it last looked: the file between
    (``events.log.1`` now, not the one it followed) is read whole."""
    rotated = _open(root / ROTATED)
    if rotated is None:
        return
    with rotated:
        if os.fstat(rotated.fileno()).st_ino != followed:
            yield from _documents(rotated.read())


def _rotated(root: Path, handle: BinaryIO) -> bool:
    try:
        return (root / FILE).stat().st_ino != os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return True


#: the keys docker 20.10's daemon accepts in ``events --filter``
FILTERS = (
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
)
#: actions docker matches by prefix: their events carry the command ("exec_start: sh -c ...")
_PREFIXED = ("health_status", "exec_create", "exec_start")


def _exact(filters: Mapping[str, Sequence[str]], key: str, *values: str) -> bool:
    wanted = filters.get(key)
    return not wanted or any(value in wanted for value in values)


def _fuzzy(filters: Mapping[str, Sequence[str]], key: str, *values: str) -> bool:
    wanted = filters.get(key)
    return not wanted or any(
        value == item or value.startswith(item) for value in values for item in wanted
    )


def _strip_tag(image: str) -> str:
    name, _, _ = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def matches(document: Event, filters: Mapping[str, Sequence[str]]) -> bool:
    """docker's events filter (daemon/events/filter.go): a key's values OR, keys AND;
    ``container``, ``volume`` and ``network`` by id or name prefix, ``image`` by the image's
    reference with or without its tag, every ``label`` (KEY or KEY=VALUE) required."""
    kind, action = document.get("Type", ""), document.get("Action", "")
    actor = document.get("Actor") or {}
    identifier, attributes = actor.get("ID", ""), actor.get("Attributes") or {}
    name = attributes.get("name", "")
    events = filters.get("event") or ()
    if any(event in _PREFIXED for event in events):
        if not _fuzzy(filters, "event", action):
            return False
    elif not _exact(filters, "event", action):
        return False
    if not _exact(filters, "type", kind) or not _exact(filters, "scope", "local"):
        return False
    for key in ("container", "volume", "network", "plugin", "node", "service", "secret", "config"):
        if not _fuzzy(filters, key, identifier, name):
            return False
    if "image" in filters:
        image = attributes.get("name" if kind == "image" else "image", "")
        candidates = (identifier, image, _strip_tag(identifier), _strip_tag(image))
        if not _exact(filters, "image", *candidates):
            return False
    if "daemon" in filters:
        return False
    for label in filters.get("label", ()):
        key, equals, value = label.partition("=")
        if key not in attributes or (equals and attributes[key] != value):
            return False
    return True
