"""``POST /build`` and ``POST /build/prune``: what the docker CLI's classic build path,
docker-py's ``images.build`` and docker-compose's ``build:`` send.

The body is the context as a tar (plain or compressed); the query carries the flags (``t``,
``dockerfile``, ``buildargs``, ``labels``, ``target``, ``nocache``, ``pull``, ``q``,
``networkmode``, ``cachefrom``). The answer is dockerd's JSON message stream, in the classic
builder's words (``Step 2/3 : RUN make``, the step's output, `` ---> Using cache``, the image
id in an ``aux`` message, ``Successfully built`` and ``Successfully tagged``), over the same
build as the CLI's (BuildKit's semantics and cache). A failed build ends the stream with an
``errorDetail`` message, as dockerd's does. BuildKit's own session protocol (``version=2``,
what ``DOCKER_BUILDKIT=1`` asks for) is not served: the CLI is told so and may fall back.
"""

from __future__ import annotations

import json
import re
import threading
from typing import TYPE_CHECKING, Any

from hybridock.api.http import ApiError, Request, Stream
from hybridock.api.routes import route
from hybridock.errors import HybridockError
from hybridock.reference import Reference

if TYPE_CHECKING:
    from hybridock.client import BuildEvent

_STEP = re.compile(r"^\[(?:\S+ )?(\d+)/(\d+)\] (.*)$", re.S)
#: query parameters dockerd takes that change nothing here (resource limits of the classic
#: builder's intermediate containers, its cleanup choices)
_IGNORED = ("rm", "forcerm", "memory", "memswap", "cpushares", "cpusetcpus", "cpuperiod",
            "cpuquota", "shmsize", "squash", "isolation", "extrahosts", "ulimits")  # fmt: skip


class _Messages:
    """The build's events as dockerd's messages, the stream begun at the first one (events
    come from the stages' threads)."""

    def __init__(self, request: Request, *, quiet: bool) -> None:
        self._request = request
        self._quiet = quiet
        self._lock = threading.Lock()
        self._stream: Stream | None = None
        self._output: set[int] = set()  # the vertices whose log is a step's output

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            if self._stream is None:
                self._stream = self._request.start_stream(200, "application/json")
            self._stream.write(json.dumps(message, separators=(",", ":")).encode() + b"\r\n")

    def __call__(self, event: BuildEvent) -> None:
        if self._quiet:
            return
        step = _STEP.match(event.name)
        if event.status == "started" and step is not None:
            self.send({"stream": f"Step {step[1]}/{step[2]} : {step[3]}\n"})
            if not step[3].upper().startswith("FROM"):
                self._output.add(event.vertex)
        elif event.status == "log" and event.vertex in self._output:
            self.send({"stream": f"{event.text}\n"})
        elif event.status == "cached" and step is not None:
            self.send({"stream": " ---> Using cache\n"})

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()


def _json_arg(request: Request, name: str, kind: type) -> Any:
    text = request.arg(name)
    if not text:
        return kind()
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ApiError(400, f"invalid {name}: {error}") from None
    if not isinstance(value, kind):
        raise ApiError(400, f"invalid {name}: not a JSON {kind.__name__}")
    return value


def _options(request: Request) -> Any:
    from hybridock.client import BuildOptions  # noqa: PLC0415

    if request.arg("remote"):
        raise ApiError(400, "building from a remote context (remote=) is not supported")
    if request.arg("version") == "2":
        raise ApiError(400, "BuildKit's session protocol (version=2) is not supported")
    for name in _IGNORED:
        request.arg(name)
    build_args = _json_arg(request, "buildargs", dict)
    labels = _json_arg(request, "labels", dict)
    cache_from = _json_arg(request, "cachefrom", list)
    network = request.arg("networkmode") or "default"
    return BuildOptions(
        tags=tuple(request.query.get("t") or ()),
        dockerfile=request.arg("dockerfile") or None,
        build_args={str(k): None if v is None else str(v) for k, v in build_args.items()},
        labels={str(k): str(v) for k, v in labels.items()},
        target=request.arg("target") or None,
        no_cache=request.flag("nocache"),
        pull=request.flag("pull"),
        cache_from=tuple(str(item) for item in cache_from),
        network="default" if network == "bridge" else network,
    )


@route("POST", "/build")
def build(request: Request) -> None:
    options = _options(request)
    quiet = request.flag("q")
    messages = _Messages(request, quiet=quiet)
    try:
        made = request.client.build(
            request.body_stream(),  # type: ignore[arg-type]
            options,
            progress=messages,
        )
    except HybridockError as error:
        text = f"failed to solve: {error}" if type(error).__name__ == "BuildError" else str(error)
        messages.send({"errorDetail": {"code": 1, "message": text}, "error": text})
        messages.close()
        return
    messages.send({"aux": {"ID": made.image_id}})
    if quiet:  # dockerd's quiet build says only the id, which the CLI prints
        messages.send({"stream": f"{made.image_id}\n"})
    else:
        messages.send({"stream": f"Successfully built {made.image_id.split(':')[-1][:12]}\n"})
        for tag in options.tags:
            shown = Reference.parse(tag).familiar
            messages.send({"stream": f"Successfully tagged {shown}\n"})
    messages.close()


@route("POST", "/build/prune")
def prune(request: Request) -> None:
    """``docker builder prune``: ``all`` drops every entry, else those no image uses."""
    request.filters()
    reclaimed = request.client.prune_build_cache(all=request.flag("all"))
    request.send_json(200, {"CachesDeleted": [], "SpaceReclaimed": reclaimed})
