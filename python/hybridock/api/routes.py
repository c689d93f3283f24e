"""The route table: docker's paths, with and without their ``/v1.NN`` prefix, and docker's
statuses for hybridock's errors.

A route is a function of a ``Request`` registered by ``@route(method, pattern)`` in the module
of its resource (api/system.py, api/images.py, ...); ``{name}`` in a pattern matches one path
segment, ``{name:path}`` the rest (an image's name has slashes). When two patterns match, the
one with more literal characters wins (``/images/json`` over ``/images/{name:path}``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from hybridock.api.http import ApiError, Request, split_target
from hybridock.errors import (
    ConfigError,
    ContainerNotFound,
    ContainerStateError,
    HybridockError,
    ImageInUse,
    ImageNotFound,
    InvalidFilter,
    InvalidReference,
    InvalidVolumeSpec,
    ManifestUnknown,
    NotPermitted,
    PortNotPublished,
)

if TYPE_CHECKING:
    from hybridock.api.http import Connection

#: the API version this service speaks, and the oldest a client may ask for (docker's minimum)
API_VERSION = (1, 43)
MIN_API_VERSION = (1, 24)
#: the modules whose ``@route``s make the table
RESOURCES = (
    "system",
    "images",
    "build",
    "containers",
    "attach",
    "logs",
    "exec",
    "networks",
    "volumes",
)

Route = Callable[[Request], None]


class _Entry(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    literal: int
    handler: Route


_TABLE: list[_Entry] = []
_VERSION_PREFIX = re.compile(r"/v(\d+)\.(\d+)(/.*)")


def _compile(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"\{([^}]+)\}", pattern)  # literal, parameter, literal, ...
    regex = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex.append(re.escape(part))
        else:
            name, _, kind = part.partition(":")
            regex.append(f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)")
    return re.compile("".join(regex))


def route(method: str, pattern: str) -> Callable[[Route], Route]:
    """Registers a handler for ``method`` (GET also answers HEAD) on ``pattern``."""

    def register(handler: Route) -> Route:
        literal = len(re.sub(r"\{[^}]+\}", "", pattern))
        _TABLE.append(_Entry(method, _compile(pattern), literal, handler))
        return handler

    return register


def load_routes() -> None:
    for name in RESOURCES:
        try:
            importlib.import_module(f"hybridock.api.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"hybridock.api.{name}":
                raise


def version_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _status_of(error: HybridockError) -> int:
    """docker's status for one of hybridock's errors."""
    if isinstance(error, ApiError):
        return error.status
    if isinstance(error, ContainerNotFound | ImageNotFound | ManifestUnknown | PortNotPublished):
        return 404
    if isinstance(error, LookupError):  # NetworkNotFound, VolumeNotFound
        return 404
    if isinstance(error, ContainerStateError | ImageInUse):
        return 409
    if type(error).__name__ == "VolumeInUse":
        return 409
    if isinstance(error, InvalidReference | ConfigError | InvalidFilter | InvalidVolumeSpec):
        return 400
    if isinstance(error, NotPermitted):
        return 403
    return 500


def _find(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    best: tuple[int, Route, dict[str, str]] | None = None
    for entry in _TABLE:
        if entry.method != method and not (method == "HEAD" and entry.method == "GET"):
            continue
        match = entry.pattern.fullmatch(path)
        if match and (best is None or entry.literal > best[0]):
            best = (entry.literal, entry.handler, match.groupdict())
    return None if best is None else (best[1], best[2])


def _check_version(version: tuple[int, int]) -> None:
    if version < MIN_API_VERSION:
        raise ApiError(
            400,
            f"client version {version_text(version)} is too old. Minimum supported API"
            f" version is {version_text(MIN_API_VERSION)}, please upgrade your client"
            " to a newer version",
        )
    if version > API_VERSION:
        raise ApiError(
            400,
            f"client version {version_text(version)} is too new. Maximum supported API"
            f" version is {version_text(API_VERSION)}",
        )


def _serve(request: Request, method: str) -> None:
    prefixed = _VERSION_PREFIX.fullmatch(request.path)
    if prefixed:
        request.version = (int(prefixed.group(1)), int(prefixed.group(2)))
        request.path = prefixed.group(3)
        _check_version(request.version)
    found = _find(method, request.path)
    if found is None:
        raise ApiError(404, "page not found")
    handler, request.params = found
    handler(request)
    if not request.answered:
        raise RuntimeError(f"{method} {request.path} gave no answer")


def dispatch(connection: Connection) -> None:
    """Answers one request: its route's answer, or docker's ``{"message": ...}`` error."""
    path, query = split_target(connection.path)
    request = Request(connection, path, API_VERSION, {}, query)
    try:
        _serve(request, connection.command)
    except HybridockError as error:
        _answer_error(request, _status_of(error), str(error))
    except (BrokenPipeError, ConnectionResetError):
        connection.close_connection = True
    except Exception as error:  # a route's bug is the client's 500, not a dead thread
        connection.server.log(f"{connection.command} {path}: {error!r}")  # type: ignore[attr-defined]
        _answer_error(request, 500, f"internal error: {error}")


def _answer_error(request: Request, status: int, message: str) -> None:
    if not request.answered:
        request.send_json(status, {"message": message})
        return
    # the answer has begun (a stream): end it; the client reads a cut stream
    request.abandon()
