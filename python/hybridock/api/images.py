"""The image routes: pull and import (``POST /images/create``, docker's JSON progress as it
goes), list, inspect, delete, prune, history, tag, push (its progress streamed as the pull's),
save (``GET /images/get``, a tar stream), load (``POST /images/load``) and commit
(``POST /commit``).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hybridock.api.http import ApiError, Request, Stream
from hybridock.api.routes import route
from hybridock.errors import HybridockError
from hybridock.reference import Reference

if TYPE_CHECKING:
    from hybridock.client import Credentials, PullResult, RemovalReport

#: the statuses whose messages carry a progress bar (docker's progressDetail current/total)
_MEASURED = ("Downloading", "Extracting", "Pushing")
_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def _human_size(size: float) -> str:
    """docker's units.HumanSize: decimal units, four significant digits ("32.77kB")."""
    unit = 0
    while size >= 1000 and unit < len(_DECIMAL_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.4g}{_DECIMAL_UNITS[unit]}"


def progress_text(current: int, total: int) -> str:
    """The ``progress`` of docker's JSONProgress as its daemon writes it (no terminal: a
    200-column bar): ``[==>   ]  1.2MB/2.59MB``."""
    if total <= 0:
        return f"{_human_size(current):>8}" if current > 0 else ""
    filled = min(50, int(current / total * 100) // 2)
    bar = f"[{'=' * filled}>{' ' * (50 - filled)}] "
    if current > total:
        return f"{bar}{_human_size(current):>8}"
    return f"{bar}{_human_size(current):>8}/{_human_size(total)}"


class PullStream:
    """A pull's progress as docker's JSON messages on the request's stream.

    The stream begins with the first layer (as dockerd's "Pulling from" follows the manifest):
    a pull that fails before it, a reference the registry does not know, is answered with
    an error status instead. Layers report from the pull's threads, hence the lock.
    """

    def __init__(self, request: Request) -> None:
        self._request = request
        self._lock = threading.Lock()
        self._stream: Stream | None = None
        self._pulling: dict[str, Any] | None = None
        self._shown: dict[str, tuple[str, int]] = {}

    @property
    def begun(self) -> bool:
        return self._stream is not None

    def resolving(self, reference: Reference) -> None:
        self._pulling = {
            "status": f"Pulling from {reference.repository}",
            "id": reference.identifier,
        }

    def layer(self, layer_id: str, status: str, current: int = 0, total: int = 0) -> None:
        message: dict[str, Any] = {"status": status, "progressDetail": {}}
        if status in _MEASURED and total:
            shown = (status, current * 100 // total)
            with self._lock:
                if self._shown.get(layer_id) == shown:
                    return  # as dockerd, not every read: each percent
                self._shown[layer_id] = shown
            message["progressDetail"] = {"current": current, "total": total}
            message["progress"] = progress_text(current, total)
        message["id"] = layer_id  # dockerd's JSONMessage order: status, progress..., id
        self.send(message)

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            stream = self._stream
            if stream is None:
                stream = self._stream = self._request.start_stream(200, "application/json")
                if self._pulling is not None:
                    _write(stream, self._pulling)
            _write(stream, message)

    def finish(self, result: PullResult) -> None:
        status = "Downloaded newer image" if result.downloaded else "Image is up to date"
        self.send({"status": f"Digest: {result.digest}"})
        self.send({"status": f"Status: {status} for {result.reference.familiar}"})
        self.close()

    def fail(self, error: Exception) -> None:
        """An error after the stream began: dockerd's last message, then the end."""
        self.send({"errorDetail": {"message": str(error)}, "error": str(error)})
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()


def _write(stream: Stream, message: dict[str, Any]) -> None:
    """One message as dockerd's streamformatter writes it: JSON and CRLF."""
    stream.write(json.dumps(message, separators=(",", ":")).encode() + b"\r\n")


def _pulled_reference(image: str, tag: str | None) -> Reference:
    """moby's ``fromImage`` and ``tag``: the tag may be a digest; neither given is latest
    (dockerd would pull every tag, which hybridock does not)."""
    if tag:
        separator = "@" if tag.startswith("sha256:") else ":"
        return Reference.parse(f"{image}{separator}{tag}")
    return Reference.parse(image)


def _registry_auth(request: Request) -> Credentials | None:
    """X-Registry-Auth: moby's AuthConfig as base64url JSON (username and password, or
    ``auth``: base64 "user:password", or an identity token); none in it, the saved ones."""
    header = request.headers.get("X-Registry-Auth")
    if not header:
        return None
    try:
        document = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        document = None
    if not isinstance(document, dict):
        raise ApiError(400, "invalid X-Registry-Auth header")
    username, password = str(document.get("username") or ""), str(document.get("password") or "")
    if not username and document.get("auth"):
        try:
            decoded = base64.b64decode(str(document["auth"])).decode()
        except (binascii.Error, ValueError):
            raise ApiError(400, "invalid X-Registry-Auth header") from None
        username, _, password = decoded.partition(":")
    identity_token = str(document.get("identitytoken") or "")
    if document.get("registrytoken"):
        raise ApiError(501, "a registrytoken in X-Registry-Auth is not supported")
    if not (username or identity_token):
        return None
    from hybridock.client import Credentials  # noqa: PLC0415

    return Credentials(username, password, identity_token)


@route("POST", "/images/create")
def create_image(request: Request) -> None:
    """``docker pull``: the pull's progress streamed as dockerd's messages; ``docker import``
    (``fromSrc``: ``-`` for the body, or a URL)."""
    if request.arg("fromSrc"):
        _import_image(request)
        return
    image = request.arg("fromImage")
    if not image:
        raise ApiError(400, "fromImage or fromSrc is required")
    reference = _pulled_reference(image, request.arg("tag"))
    credentials = _registry_auth(request)
    stream = PullStream(request)
    try:
        result = request.client.pull(
            reference,
            platform=request.arg("platform") or None,
            progress=stream,
            credentials=credentials,
        )
    except (BrokenPipeError, ConnectionResetError):
        raise  # the client went: the pull was cancelled with it
    except Exception as error:
        if not stream.begun:
            raise
        stream.fail(error)
        if not isinstance(error, HybridockError):
            raise  # a bug, not a failed pull: the service's log shows it too
        return
    stream.finish(result)


@route("GET", "/images/json")
def list_images(request: Request) -> None:
    """moby's ImageSummary list (``all`` changes nothing: hybridock keeps no intermediate
    images; ``digests`` neither: the entries always have RepoDigests)."""
    request.flag("all")
    request.flag("digests")
    filters = request.filters()
    if request.arg("filter"):  # API < 1.41: the reference as its own parameter
        filters.setdefault("reference", []).append(request.arg("filter") or "")
    request.send_json(200, request.client.image_summaries(filters, api_version=request.version))


@route("GET", "/images/{name:path}/json")
def inspect_image(request: Request) -> None:
    request.send_json(200, request.client.inspect_image(request.params["name"]))


def _removal_document(report: RemovalReport) -> list[dict[str, str]]:
    return [
        *({"Untagged": name} for name in report.untagged),
        *({"Deleted": name} for name in report.deleted),
    ]


@route("DELETE", "/images/{name:path}")
def remove_image(request: Request) -> None:
    """``docker rmi`` (``noprune`` changes nothing: hybridock keeps no parent images)."""
    request.flag("noprune")
    report = request.client.remove_image(request.params["name"], force=request.flag("force"))
    request.send_json(200, _removal_document(report))


def _prune_until(text: str) -> str:
    """docker's ``until`` (a duration before now, an RFC 3339 time, Unix seconds) as
    PruneFilter takes it: Unix nanoseconds as text."""
    from hybridock.client import log_timestamp  # noqa: PLC0415

    try:
        return str(log_timestamp(text, time.time()))
    except ValueError as error:
        raise ApiError(400, str(error)) from None


@route("POST", "/images/prune")
def prune_images(request: Request) -> None:
    """``image prune``: dangling images, or with ``dangling=false`` every unused one."""
    filters = request.filters()
    dangling = [value.lower() for value in filters.pop("dangling", ["true"])]
    if any(value not in ("true", "false", "1", "0") for value in dangling):
        raise ApiError(400, f"Invalid filter 'dangling=[{' '.join(dangling)}]'")
    if "until" in filters:
        filters["until"] = [_prune_until(value) for value in filters["until"]]
    report = request.client.prune_images(all_unused=dangling[-1] in ("false", "0"), filters=filters)
    deleted = _removal_document(report)
    request.send_json(200, {"ImagesDeleted": deleted or None, "SpaceReclaimed": report.reclaimed})


def _unix_seconds(text: str) -> int:
    """An image config's RFC 3339 moment (nanoseconds allowed) as whole Unix seconds."""
    head = text.split(".", maxsplit=1)[0].removesuffix("Z")
    zone = "+00:00" if text.endswith("Z") else text[len(head) :].lstrip("0123456789.")
    try:
        return int(datetime.fromisoformat(head + zone).timestamp())
    except ValueError:
        return 0


@route("GET", "/images/{name:path}/history")
def image_history(request: Request) -> None:
    """moby's HistoryResponseItem list, newest first."""
    steps = request.client.image_history(request.params["name"])
    request.send_json(
        200,
        [
            {
                "Comment": step.comment,
                "Created": _unix_seconds(step.created) if step.created else 0,
                "CreatedBy": step.created_by,
                "Id": step.id,
                "Size": step.size,
                "Tags": [Reference.parse(tag).familiar for tag in step.tags] or None,
            }
            for step in steps
        ],
    )


@route("POST", "/images/{name:path}/tag")
def tag_image(request: Request) -> None:
    """``docker tag``: ``repo`` and ``tag`` name the new tag (latest when none is given)."""
    repository = request.arg("repo")
    if not repository:
        raise ApiError(400, "repository name (repo) is required")
    tag = request.arg("tag")
    target = f"{repository}:{tag}" if tag else repository
    request.client.tag(request.params["name"], target)
    request.send_empty(201)


class PushStream(PullStream):
    """A push's progress as dockerd's messages: the repository once, the layers, then each
    tag's digest line and its ``aux`` record."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self._announced = False

    def repository(self, reference: Reference) -> None:
        with self._lock:
            if self._announced:
                return
            self._announced = True
        self.send({"status": f"The push refers to repository [{reference.name}]"})

    def pushed(self, reference: Reference, digest: str, size: int) -> None:
        tag = reference.identifier
        self.send({"status": f"{tag}: digest: {digest} size: {size}"})
        self.send({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}})


@route("POST", "/images/{name:path}/push")
def push_image(request: Request) -> None:
    """``docker push``: a tag, or with no tag every tag of the repository (dockerd's way);
    errors, a missing image too, come in the stream after the repository line."""
    name, tag = request.params["name"], request.arg("tag")
    all_tags = not tag and ":" not in name.rsplit("/", 1)[-1]
    reference = _pulled_reference(name, tag)
    credentials = _registry_auth(request)
    stream = PushStream(request)
    stream.repository(reference)
    try:
        request.client.push(reference, all_tags=all_tags, progress=stream, credentials=credentials)
    except (BrokenPipeError, ConnectionResetError):
        raise  # the client went: the push was cancelled with it
    except Exception as error:
        stream.fail(error)
        if not isinstance(error, HybridockError):
            raise
        return
    stream.close()


@route("POST", "/commit")
def commit(request: Request) -> None:
    """``docker commit``: ``container``, ``repo``, ``tag``, ``comment``, ``author``,
    ``pause`` (true unless said otherwise, as since API 1.13), ``changes`` (each a Dockerfile
    instruction); a JSON body is a container config committed in place of the container's,
    merged with it as docker's daemon does."""
    container = request.arg("container") or ""
    repository, tag = request.arg("repo") or "", request.arg("tag") or ""
    if tag and not repository:
        raise ApiError(400, "invalid reference format: a tag needs a repository")
    config = request.json_body()
    if config is not None and not isinstance(config, dict):
        raise ApiError(400, "invalid JSON: the body is not a container config")
    image_id = request.client.commit(
        container,
        f"{repository}:{tag}" if tag else repository or None,
        author=request.arg("author"),
        message=request.arg("comment"),
        changes=request.query.get("changes", []),
        pause=request.flag("pause", default=True),
        config=config,
    )
    request.send_json(201, {"Id": image_id})


# --- save, load, import ------------------------------------------------------------------------


class _LazyTarStream:
    """The save's tar as a chunked answer that begins with its first bytes: an image that is
    not there is still answered with dockerd's 404 document."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._stream: Stream | None = None

    def write(self, data: bytes) -> int:
        if self._stream is None:
            self._stream = self._request.start_stream(200, "application/x-tar")
        self._stream.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


def _save(request: Request, names: list[str]) -> None:
    if not names:
        raise ApiError(400, "no image names given")
    out = _LazyTarStream(request)
    request.client.save(names, out)  # type: ignore[arg-type]
    out.close()


@route("GET", "/images/get")
def save_images(request: Request) -> None:
    """``docker save A B``: one archive of every ``names``."""
    _save(request, list(request.query.get("names") or []))


@route("GET", "/images/{name:path}/get")
def save_image(request: Request) -> None:
    _save(request, [request.params["name"]])


@route("POST", "/images/load")
def load_images(request: Request) -> None:
    """``docker load``: the body is the archive; dockerd's JSON stream of ``Loaded image``
    lines (``quiet`` changes nothing: hybridock shows no progress bar)."""
    request.flag("quiet")
    loaded = request.client.load(request.body_stream())  # type: ignore[arg-type]
    lines = [line for image in loaded for line in image.messages()]
    request.stream_json(200, [{"stream": f"{line}\n"} for line in lines])


def _import_image(request: Request) -> None:
    source = request.arg("fromSrc") or "-"
    if source != "-" and not source.startswith(("http://", "https://")):
        raise ApiError(400, f"invalid fromSrc {source!r}: want - or an http(s) URL")
    repository, tag = request.arg("repo") or "", request.arg("tag") or ""
    reference = None
    if repository:
        reference = _pulled_reference(repository, tag or None)
    image_id = request.client.import_image(
        request.body_stream() if source == "-" else source,  # type: ignore[arg-type]
        reference,
        changes=list(request.query.get("changes") or []),
        message=request.arg("message") or None,
        platform=request.arg("platform") or None,
    )
    request.stream_json(200, [{"status": image_id}])
