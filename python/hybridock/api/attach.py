"""The Engine API's container streams: ``attach`` (the connection hijacked, then relayed to the
container's monitor), ``start``, ``resize``.

The docker CLI's ``run`` and ``start -a`` attach before they start: an attach to a container
that is not running waits for its start, and ``start`` makes the waiting attaches'
connections to the monitor before the container's process is spawned, so none misses its
first output. The waiting attaches are in this process's memory (``_WAITING``), keyed by
container id: the attach and the start are two connections, served by two threads. A
container started by another way meanwhile (the CLI, its restart policy) is attached to once
seen running, from then on.
"""

from __future__ import annotations

import socket
import threading
from itertools import zip_longest
from typing import TYPE_CHECKING

from hybridock.api.http import Request
from hybridock.api.logs import log_chunks
from hybridock.api.routes import route
from hybridock.api.streams import Relay, content_type, hung_up
from hybridock.client import DetachKeys, detach_key_bytes
from hybridock.errors import ContainerNotFound

if TYPE_CHECKING:
    from hybridock.client import AttachLink, Client

#: seconds between two looks at a container an attach waits to see started
_WAIT_STEP = 0.5


class _Waiting:
    """An attach waiting for its container's start, which hands it its link (None: the start
    failed, or left the container waiting to restart)."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.link: AttachLink | None = None


_WAITING: dict[str, list[_Waiting]] = {}
_LOCK = threading.Lock()


def _withdraw(container_id: str, waiting: _Waiting) -> bool:
    """Takes ``waiting`` out of the registry: False when a start has taken it already."""
    with _LOCK:
        waiters = _WAITING.get(container_id, [])
        if waiting not in waiters:
            return False
        waiters.remove(waiting)
        if not waiters:
            del _WAITING[container_id]
        return True


def _take_waiting(container_id: str) -> list[_Waiting]:
    with _LOCK:
        return _WAITING.pop(container_id, [])


def _enlist(container_id: str) -> _Waiting:
    """A waiting attach, in the registry before its client learns it is attached (the docker
    CLI sends its start once it has the attach's answer)."""
    waiting = _Waiting()
    with _LOCK:
        _WAITING.setdefault(container_id, []).append(waiting)
    return waiting


def _wait_for_start(
    client: Client, container_id: str, waiting: _Waiting, connection: socket.socket
) -> AttachLink | None:
    """The link a start hands over; None when the container went, its start failed, or the
    client hung up meanwhile."""
    try:
        while not waiting.ready.wait(_WAIT_STEP):
            if hung_up(connection) and _withdraw(container_id, waiting):
                return None
            try:
                current = client.container(container_id)
            except ContainerNotFound:
                return None
            if current.running and _withdraw(container_id, waiting):
                return client.link(current)  # started another way: from now on
        return waiting.link
    finally:
        _withdraw(container_id, waiting)


@route("POST", "/containers/{id}/attach")
def attach(request: Request) -> None:
    client = request.client
    record = client.container(request.params["id"])
    config = record.config
    stdin = request.flag("stdin") and config.open_stdin
    streams = {1} if request.flag("stdout") else set()
    streams |= {2} if request.flag("stderr") else set()
    keys = detach_key_bytes(request.arg("detachKeys") or "")
    stream = request.flag("stream")
    link = client.link(record) if stream and record.running else None  # refusals are answers
    waiting = _enlist(record.id) if stream and link is None else None
    try:
        connection = request.hijack(content_type(request.version, tty=config.tty))
        relay = Relay(
            connection,
            framed=not config.tty,
            stdin=stdin,
            streams=streams,
            detach_keys=DetachKeys(keys) if config.tty and stdin else None,
        )
        pending = request.buffered()
        if request.flag("logs"):
            for kind, data in log_chunks(client, record):
                relay.add_output(kind, data)
    except BaseException:
        if waiting is not None:
            _withdraw(record.id, waiting)
        raise
    if waiting is not None:
        link = _wait_for_start(client, record.id, waiting, connection)
    if link is None:
        relay.finish()
        return
    try:
        if relay.run(link, pending):
            relay.finish()
    finally:
        link.close()


@route("POST", "/containers/{id}/start")
def start(request: Request) -> None:
    """204 once started (with the waiting attaches handed their links), 304 when running."""
    client = request.client
    record = client.container(request.params["id"])
    if record.running:
        request.send_empty(304)
        return
    waiters = _take_waiting(record.id)
    links: list[AttachLink] = []
    try:
        links = client.start_linked(record, len(waiters))
    finally:
        for waiting, link in zip_longest(waiters, links):
            if waiting is None:
                link.close()
                continue
            waiting.link = link
            waiting.ready.set()
    request.send_empty(204)


@route("POST", "/containers/{id}/resize")
def resize(request: Request) -> None:
    rows, columns = request.integer("h", 0) or 0, request.integer("w", 0) or 0
    request.client.resize(request.params["id"], rows, columns)
    request.send_empty(200)
