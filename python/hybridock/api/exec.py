"""The Engine API's exec: create, start (detached, or the connection hijacked and relayed to
the process's pipes or pty), inspect, resize.

An exec is a record in this service's memory (``_EXECS``), as podman's service keeps its exec
sessions, not in the store: it lives from its create to the service's end (the oldest
finished ones go past ``KEPT_EXECS``). Its id is the ``execID`` of its events. A detached
exec's process is reaped by a thread of its own, which records its exit code.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hybridock.api.http import ApiError, Request
from hybridock.api.routes import route
from hybridock.api.streams import Relay, content_type, frame
from hybridock.client import DetachKeys, ExecOptions, detach_key_bytes
from hybridock.errors import HybridockError

if TYPE_CHECKING:
    from hybridock.client import ExecProcess

#: finished execs kept for ``GET /exec/{id}/json`` before the oldest are forgotten
KEPT_EXECS = 1024


@dataclass
class _Exec:
    id: str
    container_id: str
    options: ExecOptions
    stdout: bool
    stderr: bool
    detach_keys: str
    console_size: tuple[int, int] | None
    started: bool = False
    running: bool = False
    pid: int = 0
    exit_code: int | None = None
    process: ExecProcess | None = field(default=None, repr=False)

    def document(self) -> dict[str, Any]:
        """moby's ExecInspect."""
        command = self.options.command
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.options.tty,
                "entrypoint": command[0],
                "arguments": list(command[1:]),
                "privileged": self.options.privileged,
                "user": self.options.user or "",
            },
            "OpenStdin": self.options.interactive,
            "OpenStderr": self.stderr,
            "OpenStdout": self.stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "Pid": self.pid,
        }


_EXECS: dict[str, _Exec] = {}
_LOCK = threading.Lock()


def _find(exec_id: str) -> _Exec:
    with _LOCK:
        found = _EXECS.get(exec_id)
    if found is None:
        raise ApiError(404, f"No such exec instance: {exec_id}")
    return found


def _keep(record: _Exec) -> None:
    with _LOCK:
        _EXECS[record.id] = record
        finished = [e.id for e in _EXECS.values() if e.exit_code is not None]
        for exec_id in finished[: max(0, len(_EXECS) - KEPT_EXECS)]:
            del _EXECS[exec_id]


def _size(value: object) -> tuple[int, int] | None:
    """docker's ConsoleSize, ``[rows, columns]``; None when absent or zero."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(n, int) and n >= 0 for n in value)
    ):
        raise ApiError(400, "invalid ConsoleSize: give [height, width]")
    return (value[0], value[1]) if value[0] and value[1] else None


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(400, f"invalid {name}: a list of strings")
    return value


@route("POST", "/containers/{id}/exec")
def create_exec(request: Request) -> None:
    body = request.json_body() or {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid exec config: not a JSON object")
    command = _strings(body, "Cmd")
    if not command:
        raise ApiError(400, "No exec command specified")
    keys = str(body.get("DetachKeys") or "")
    detach_key_bytes(keys)  # docker refuses bad keys at create
    record = request.client.running_container(request.params["id"])
    options = ExecOptions(
        tuple(command),
        # a name without a value is the docker CLI's to resolve; ours is the server's
        env=tuple(entry for entry in _strings(body, "Env") if "=" in entry),
        user=str(body.get("User") or "") or None,
        workdir=str(body.get("WorkingDir") or "") or None,
        privileged=bool(body.get("Privileged")),
        interactive=bool(body.get("AttachStdin")),
        tty=bool(body.get("Tty")),
    )
    exec_record = _Exec(
        id=os.urandom(32).hex(),
        container_id=record.id,
        options=options,
        stdout=bool(body.get("AttachStdout")),
        stderr=bool(body.get("AttachStderr")),
        detach_keys=keys,
        console_size=_size(body.get("ConsoleSize")),
    )
    _keep(exec_record)
    request.send_json(201, {"Id": exec_record.id})


def _claim(exec_record: _Exec) -> None:
    with _LOCK:
        if exec_record.started:
            raise ApiError(409, f"Error: Exec command {exec_record.id} is already running")
        exec_record.started = True


def _started(exec_record: _Exec, process: ExecProcess) -> None:
    exec_record.process = process
    exec_record.pid = process.pid
    exec_record.running = True
    size = exec_record.console_size
    if size is not None:
        process.resize(*size)  # a resize that came before the start


def _ended(exec_record: _Exec, code: int) -> None:
    exec_record.exit_code = code
    exec_record.running = False
    exec_record.process = None


@route("POST", "/exec/{id}/start")
def start_exec(request: Request) -> None:
    """Detached: 200 once started. Else the connection is hijacked first and then the process
    started (dockerd's order: a client that reads the answer's headers through a buffer,
    docker-py's, would lose output that came with them), and its streams relayed until it
    exits, its exit code recorded before the connection ends (the docker CLI reads it from
    ``GET /exec/{id}/json`` then)."""
    exec_record = _find(request.params["id"])
    body = request.json_body() or {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid exec start config: not a JSON object")
    exec_record.console_size = _size(body.get("ConsoleSize")) or exec_record.console_size
    _claim(exec_record)
    try:
        if body.get("Detach"):
            _start_detached(request, exec_record)
            return
        request.client.running_container(exec_record.container_id)  # 409 while we may answer
    except BaseException:
        exec_record.started = exec_record.running
        raise
    _relay(request, exec_record)


def _start_detached(request: Request, exec_record: _Exec) -> None:
    """The process on /dev/null, reaped by a thread that records its exit code."""
    pid = request.client.exec_detached(
        exec_record.container_id, exec_record.options, exec_id=exec_record.id
    )
    exec_record.pid, exec_record.running = pid, True
    threading.Thread(target=_reap, args=(exec_record, pid), daemon=True).start()
    request.send_empty(200)


def _relay(request: Request, exec_record: _Exec) -> None:
    options = exec_record.options
    connection = request.hijack(content_type(request.version, tty=options.tty))
    try:
        process = request.client.start_exec(
            exec_record.container_id,
            options,
            console_size=exec_record.console_size,
            exec_id=exec_record.id,
        )
    except HybridockError as error:
        # after the upgrade, docker's failed exec says why in the stream; its code is 126
        # (127 for a command not found), read from GET /exec/{id}/json
        _ended(exec_record, getattr(error, "exit_code", 126) or 126)
        message = f"{error}\r\n".encode()
        with contextlib.suppress(OSError):
            connection.sendall(message if options.tty else frame(1, message))
        return
    _started(exec_record, process)
    try:
        _relay_process(request, connection, exec_record, process)
    finally:
        process.close()


def _relay_process(
    request: Request, connection: socket.socket, exec_record: _Exec, process: ExecProcess
) -> None:
    options = exec_record.options
    keys = detach_key_bytes(exec_record.detach_keys)
    relay = Relay(
        connection,
        framed=not options.tty,
        stdin=options.interactive,
        streams=[n for n, wanted in ((1, exec_record.stdout), (2, exec_record.stderr)) if wanted],
        detach_keys=DetachKeys(keys) if options.tty and options.interactive else None,
    )
    if not relay.run(process, request.buffered()):
        # detached, or the client went: the process goes on, reaped in the background
        threading.Thread(target=_reap, args=(exec_record, process.pid), daemon=True).start()
        return
    code = process.wait()
    _ended(exec_record, code)
    request.client.exec_ended(exec_record.container_id, exec_record.id, code)
    relay.finish()


def _reap(exec_record: _Exec, pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    _ended(exec_record, 128 - code if code < 0 else code)


@route("GET", "/exec/{id}/json")
def inspect_exec(request: Request) -> None:
    request.send_json(200, _find(request.params["id"]).document())


@route("POST", "/exec/{id}/resize")
def resize_exec(request: Request) -> None:
    exec_record = _find(request.params["id"])
    rows, columns = request.integer("h", 0) or 0, request.integer("w", 0) or 0
    process = exec_record.process
    if process is not None:
        process.resize(rows, columns)
    else:
        exec_record.console_size = (rows, columns) if rows and columns else None
    request.send_empty(200)
