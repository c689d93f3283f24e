"""``hybridock system service``: the Docker Engine API on a unix socket (and, when asked, on a
loopback TCP port), as ``podman system service`` serves it.

One thread per connection, each with its own ``Client`` over the service's store: a compose
project starting five containers at once is five threads, and a long request (a pull, ``wait``,
``logs -f``, an attached run) holds only its own. Containers run under their monitors, not
under the service: stopping the service leaves them running, as stopping dockerd with
live-restore does.

The socket is the service's whole authority (whoever can write to it runs containers as
root): it is created 0660 (umask set before bind, never a moment wider) and owned by root and
``group`` when one is given; TCP is refused on any address but loopback.
"""

from __future__ import annotations

import contextlib
import grp
import ipaddress
import os
import socket
import socketserver
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridock.api import routes
from hybridock.api.http import Connection
from hybridock.errors import ConfigError, HybridockError
from hybridock.unixsocket import bind_socket_at

if TYPE_CHECKING:
    from hybridock.client import Client

DEFAULT_SOCKET = Path("/run/hybridock/docker.sock")


class ServiceError(HybridockError):
    """The service cannot listen where it was asked to."""


class _Listener:
    """What both servers share: the client factory, the route table, the idle clock."""

    #: connections waiting for accept (socketserver's default, 5, refuses a burst of clients)
    request_queue_size = 128
    new_client: Callable[[], Client]
    verbose: bool
    last_activity: float
    active: int
    _lock: threading.Lock

    def dispatch(self, connection: Connection) -> None:
        with self._lock:
            self.active += 1
        try:
            routes.dispatch(connection)
        finally:
            with self._lock:
                self.active -= 1
                self.last_activity = time.monotonic()

    def log(self, message: str) -> None:
        print(f"hybridock service: {message}", file=sys.stderr, flush=True)

    def log_request(self, connection: Connection, code: int | str) -> None:
        if self.verbose:
            self.log(f'"{connection.requestline}" {code}')


class _UnixServer(_Listener, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False


class _TcpServer(_Listener, socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Tcp6Server(_TcpServer):
    address_family = socket.AF_INET6


def _common_headers() -> dict[str, str]:
    from hybridock import __version__  # noqa: PLC0415

    return {
        "Api-Version": routes.version_text(routes.API_VERSION),
        "Docker-Experimental": "false",
        "Ostype": "linux",
        "Server": f"Hybridock/{__version__} (linux)",
    }


class Service:
    """The Engine API over one store: ``serve_forever`` in the calling thread, ``shutdown``
    from another (or a signal)."""

    def __init__(
        self,
        client_factory: Callable[[], Client],
        socket_path: str | Path | None = DEFAULT_SOCKET,
        *,
        group: str | None = None,
        tcp: str | None = None,
        verbose: bool = False,
    ) -> None:
        routes.load_routes()
        Connection.common_headers = _common_headers()
        self.socket_path = Path(socket_path) if socket_path is not None else None
        self._servers: list[_Listener] = []
        self._threads: list[threading.Thread] = []
        self._bound = False  # the socket file is ours to remove
        try:
            if self.socket_path is not None:
                self._servers.append(self._unix_server(self.socket_path, group))
            if tcp is not None:
                address = _loopback(tcp)
                kind = _Tcp6Server if ":" in address[0] else _TcpServer
                self._servers.append(kind(address, Connection))
        except BaseException:
            self.close()
            raise
        for server in self._servers:
            server.new_client = client_factory
            server.verbose = verbose
            server.last_activity = time.monotonic()
            server.active = 0
            server._lock = threading.Lock()

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        for server in self._servers:
            if isinstance(server, _TcpServer):
                host, port = server.server_address[:2]
                return str(host), int(port)
        return None

    def _unix_server(self, path: Path, group: str | None) -> _UnixServer:
        gid = -1
        if group is not None:
            try:
                gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
            except KeyError:
                raise ConfigError(f"no such group: {group}") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        _clear_stale(path)
        server = _UnixServer(str(path), Connection, bind_and_activate=False)
        directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            # 0660 (and its group) from the start: no moment when others may connect
            bind_socket_at(server.socket, directory, path.name, 0o660, gid)
            server.server_activate()
        except OSError as error:
            server.server_close()
            raise ServiceError(f"cannot listen on {path}: {error.strerror}") from None
        finally:
            os.close(directory)
        self._bound = True
        return server

    def serve_forever(self, idle_time: float = 0) -> None:
        """Serves until ``shutdown``, or until no request has come for ``idle_time`` seconds
        (0: forever)."""
        for server in self._servers[1:]:
            thread = threading.Thread(target=server.serve_forever, daemon=True)  # type: ignore[attr-defined]
            thread.start()
            self._threads.append(thread)
        if idle_time > 0:
            watcher = threading.Thread(target=self._expire, args=(idle_time,), daemon=True)
            watcher.start()
        self._servers[0].serve_forever(poll_interval=0.2)  # type: ignore[attr-defined]

    def _expire(self, idle_time: float) -> None:
        while True:
            time.sleep(min(idle_time, 1.0))
            quiet = all(
                server.active == 0 and time.monotonic() - server.last_activity >= idle_time
                for server in self._servers
            )
            if quiet:
                self.shutdown()
                return

    def shutdown(self) -> None:
        for server in self._servers:
            server.shutdown()  # type: ignore[attr-defined]

    def close(self) -> None:
        for server in self._servers:
            server.server_close()  # type: ignore[attr-defined]
        if self.socket_path is not None and self._bound:
            self._bound = False
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(self.socket_path.lstat().st_mode):
                    self.socket_path.unlink()

    @contextlib.contextmanager
    def running(self) -> Iterator[Service]:
        """Serves in a thread of this process for the duration of a ``with`` (tests, tools)."""
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            thread.join()
            self.close()


def _clear_stale(path: Path) -> None:
    """A socket left by a service that is gone is removed; a live one, or anything but a
    socket, is the caller's error."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ServiceError(f"cannot listen on {path}: it exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise ServiceError(f"cannot listen on {path}: another service is listening there")


def _loopback(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``tcp://`` allowed) on a loopback address: the API has no
    authentication, so it is never offered to another host."""
    text = address.removeprefix("tcp://")
    host, colon, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        loopback = bool(colon) and ipaddress.ip_address(host).is_loopback
        number = int(port)
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"--tcp {address}: give a loopback HOST:PORT such as 127.0.0.1:2375 (the API has no"
            " authentication: it is not served to other hosts)"
        )
    return host, number


def serve(
    client_factory: Callable[[], Client],
    socket_path: str | Path | None,
    *,
    idle_time: float = 0,
    **options: Any,
) -> None:
    """Serves until SIGTERM or SIGINT (or ``idle_time`` of quiet), then removes its socket."""
    import signal  # noqa: PLC0415

    service = Service(client_factory, socket_path, **options)

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=service.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        service.serve_forever(idle_time)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        service.close()
