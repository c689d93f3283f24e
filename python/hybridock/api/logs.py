"""``GET /containers/{id}/logs``: the container's log as docker's stream (framed without a tty,
the bytes as logged with one), chunked; ``follow`` until the container exits or the client
goes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from hybridock.api.http import ApiError, Request
from hybridock.api.routes import route
from hybridock.api.streams import content_type, frame
from hybridock.api.system import timestamp_arg
from hybridock.client import log_timestamp

if TYPE_CHECKING:
    from hybridock.client import Client, Container

_STREAMS = {"stdout": 1, "stderr": 2}


def log_chunks(
    client: Client,
    container: Container,
    *,
    follow: bool = False,
    tail: int | None = None,
    since: int | None = None,
    until: int | None = None,
    timestamps: bool = False,
    request: Request | None = None,
) -> Iterator[tuple[int, bytes]]:
    """``(stream, bytes)`` of the log's lines (1 stdout, 2 stderr) within ``since`` and
    ``until`` (Unix nanoseconds; the log is in time order: ``until`` ends it)."""
    stop = request.gone().is_set if request is not None and follow else None
    for stream, moment, text in client.logs(container, follow=follow, tail=tail, stop=stop):
        if since is not None or until is not None:
            logged = log_timestamp(moment, 0)  # RFC 3339 in UTC: no 'now' needed
            if since is not None and logged < since:
                continue
            if until is not None and logged >= until:
                return
        line = f"{moment} {text}" if timestamps else text
        yield _STREAMS.get(stream, 1), line.encode()


def _tail(text: str | None) -> int | None:
    """docker's ``tail``: a count, else ("all", a negative or bad number) every line."""
    try:
        count = int(text or "all")
    except ValueError:
        return None
    return count if count >= 0 else None


@route("GET", "/containers/{id}/logs")
def logs(request: Request) -> None:
    client = request.client
    record = client.container(request.params["id"])
    streams = {1} if request.flag("stdout") else set()
    streams |= {2} if request.flag("stderr") else set()
    if not streams:
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    since = timestamp_arg(request, "since") or None
    until = timestamp_arg(request, "until") or None
    follow = request.flag("follow") and (until is None or until > time.time_ns())
    tty = record.config.tty
    chunks = log_chunks(
        client,
        record,
        follow=follow,
        tail=_tail(request.arg("tail")),
        since=since,
        until=until,
        timestamps=request.flag("timestamps"),
        request=request,
    )
    request.stream_bytes(
        200,
        content_type(request.version, tty=tty),
        (data if tty else frame(kind, data) for kind, data in chunks if kind in streams),
    )
