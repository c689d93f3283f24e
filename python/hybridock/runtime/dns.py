"""Name resolution for containers on user-defined networks, and their resolv.conf.

``Resolver`` feeds aardvark-dns (podman's resolver, Debian package ``aardvark-dns``): one
server process for all networks, listening on port 53 of each network's gateway address(es),
answering containers' names, short ids and aliases (A, and PTR for queries from a container of
that network) and forwarding other names with a dot in them to the nameservers of the host's
/etc/resolv.conf (loopback ones work: the server lives in the host's network namespace).

Layout of the resolver's directory (the caller's, e.g. ``<store root>/network/dns``)::

    dns.lock              flock: every change and every start or stop holds it
    .<network>.<...>.tmp  a network file being written (never inside config/, see below)
    config/<network>      aardvark's config of one network
    config/aardvark.pid   written by aardvark itself; removed when it ends for lack of networks

Facts of aardvark-dns 1.4 this relies on (measured, and read in its source):
- ``aardvark-dns --config DIR -p PORT run`` forks; the parent exits 0 once the child has
  written ``DIR/aardvark.pid`` and parsed the configs (non-zero when that failed). The child
  is its own session, stdio on /dev/null, logs to syslog only. A second ``run`` does not
  notice the first: only one is started, under the lock, after checking the pid file.
- SIGHUP re-reads every file of DIR (but the pid file) and restarts all listeners (so a gateway
  address added after the start is served after the next reload). One unparsable file makes
  the reload fail and the process exit, leaving its pid file: hence temp files outside DIR,
  and a pid file only trusted when its process is alive and runs on DIR.
- A reload that finds no network removes the pid file and exits.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from hybridock.errors import ResolverError
from hybridock.store import locks

AARDVARK_LOCATIONS = ("/usr/lib/podman/aardvark-dns",)
PID_FILE = "aardvark.pid"
#: how long aardvark may take to start (parse its configs), to serve a change, or to end
SERVER_TIMEOUT = 10.0
#: the container id of each network file's sync entry (see ``Resolver.publish``)
SYNC_ID = "hybridock-resolver-sync"
#: docker's fallback nameservers when the host has none but loopback ones (libnetwork resolvconf)
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


class DnsEntry(NamedTuple):
    """One container's membership of a network, as the resolver answers it."""

    container_id: str
    name: str
    aliases: Sequence[str]
    ipv4: str


class Resolver:
    """The aardvark-dns server of this store: publish and forget networks' names."""

    def __init__(self, directory: Path, binary: str | None = None, *, port: int = 53) -> None:
        self.directory = directory.absolute()
        self.config_directory = self.directory / "config"
        self.pid_file = self.config_directory / PID_FILE
        self.port = port
        self._binary = binary

    def publish(self, network: str, gateways: Sequence[str], entries: Sequence[DnsEntry]) -> None:
        """Make ``network``'s names exactly ``entries``, served on ``gateways`` when it returns.

        aardvark serves a change some milliseconds after its start or reload, with no sign of
        it but the answers: each write carries a sync name never used before (on the address
        0.0.0.0), and this returns once every gateway answers it. The gateways must be
        addresses of this host (the bridge set up) before the call.
        """
        if not gateways:
            raise ResolverError(f"network {network} has no gateway to serve names on")
        sync_name = f"{SYNC_ID}-{os.urandom(6).hex()}"
        lines = [
            f"{','.join(gateways)}\n",
            *(_entry_line(entry) for entry in entries),
            f"{SYNC_ID} 0.0.0.0  {sync_name}\n",
        ]
        path = self._network_path(network)
        with self._locked():
            self._write(path, "".join(lines))
            server = self._open_server()
            if server is None:
                self._start()
            else:
                try:
                    signal.pidfd_send_signal(server, signal.SIGHUP)
                finally:
                    os.close(server)
            for gateway in gateways:
                self._wait_until_served(gateway, sync_name)

    def forget(self, network: str) -> None:
        """Stop answering for ``network``; the server ends with the last network."""
        path = self._network_path(network)
        with self._locked():
            try:
                path.unlink()
            except FileNotFoundError:
                return
            server = self._open_server()
            if server is None:
                return
            try:
                if self.networks():
                    signal.pidfd_send_signal(server, signal.SIGHUP)
                else:
                    self._end(server, signal.SIGHUP)
            finally:
                os.close(server)

    def stop(self) -> None:
        """End the server (its networks stay published: the next ``publish`` restarts it)."""
        with self._locked():
            server = self._open_server()
            if server is not None:
                try:
                    self._end(server, signal.SIGTERM)
                finally:
                    os.close(server)

    def networks(self) -> list[str]:
        """The networks published, by name."""
        try:
            names = [path.name for path in self.config_directory.iterdir()]
        except FileNotFoundError:
            return []
        return sorted(name for name in names if name != PID_FILE and not name.startswith("."))

    def server_pid(self) -> int | None:
        """The pid of the running server, None when none runs."""
        server = self._open_server()
        if server is None:
            return None
        os.close(server)
        return self._recorded_pid()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.config_directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ResolverError(
                f"cannot create {self.config_directory}: {error.strerror}"
            ) from error
        with locks.exclusive(self.directory, "dns"):
            yield

    def _network_path(self, network: str) -> Path:
        plain = network.isascii() and all(c.isalnum() or c in "_.-" for c in network)
        if not (plain and network[:1].isalnum()) or network == PID_FILE:
            raise ResolverError(f"invalid network name for the resolver: {network!r}")
        return self.config_directory / network

    def _write(self, path: Path, text: str) -> None:
        """``text`` into ``path`` whole; the temp file lives beside config/, not in it."""
        temp = self.directory / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            temp.write_text(text)
            temp.replace(path)
        except OSError as error:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise ResolverError(f"cannot write {path}: {error.strerror}") from error

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _open_server(self) -> int | None:
        """A pidfd of the live aardvark-dns serving config/, None when there is none.

        The pidfd is opened before the process is checked, so the check and every later
        signal concern the same process even if its pid is reused meanwhile.
        """
        pid = self._recorded_pid()
        if pid is None:
            return None
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            return None
        if _serves(pid, self.config_directory):
            return pidfd
        os.close(pidfd)
        return None

    def _start(self) -> None:
        import subprocess  # noqa: PLC0415 - only the first container of a user network needs it

        self.pid_file.unlink(missing_ok=True)
        command = [
            self.binary(),
            "--config",
            str(self.config_directory),
            "-p",
            str(self.port),
            "run",
        ]
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                start_new_session=True,
                check=False,
                timeout=SERVER_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ResolverError(f"cannot start aardvark-dns: {error}") from error
        if result.returncode != 0:
            lines = [
                line
                for line in result.stderr.decode(errors="replace").splitlines()
                if line.strip() and "syslog" not in line
            ]
            detail = lines[-1].strip() if lines else f"exit status {result.returncode}"
            raise ResolverError(f"cannot start aardvark-dns: {detail}")

    def _wait_until_served(self, gateway: str, name: str) -> None:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while not _answers(gateway, self.port, name):
            if time.monotonic() > deadline:
                message = f"aardvark-dns does not answer on {gateway} port {self.port}"
                raise ResolverError(message)

    def _end(self, server: int, signal_number: int) -> None:
        """Send ``signal_number`` and wait for the process to end (SIGKILL after a while)."""
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(server, signal_number)
        if not select.select([server], [], [], SERVER_TIMEOUT)[0]:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(server, signal.SIGKILL)
            select.select([server], [], [], SERVER_TIMEOUT)
        self.pid_file.unlink(missing_ok=True)

    def binary(self) -> str:
        """The aardvark-dns executable: the one given, else podman's place, else on PATH."""
        if self._binary is not None:
            return self._binary
        import shutil  # noqa: PLC0415 - only a start looks on PATH

        for candidate in AARDVARK_LOCATIONS:
            if os.access(candidate, os.X_OK):
                return candidate
        found = shutil.which("aardvark-dns")
        if found is None:
            raise ResolverError(
                "aardvark-dns not found (install the aardvark-dns package): "
                "it resolves container names on user-defined networks"
            )
        return found


def _entry_line(entry: DnsEntry) -> str:
    """``ID IPV4 IPV6 NAMES``: the name, the short id (as docker answers it), the aliases."""
    names = [entry.name.lstrip("/"), entry.container_id[:12], *entry.aliases]
    unique = list(dict.fromkeys(name.lower() for name in names))
    for name in [entry.container_id, entry.ipv4, *unique]:
        if not name or any(character.isspace() or character == "," for character in name):
            raise ResolverError(f"invalid name or address for the resolver: {name!r}")
    return f"{entry.container_id} {entry.ipv4}  {','.join(unique)}\n"


def _answers(server: str, port: int, name: str) -> bool:
    """Whether ``server`` answers an A question for ``name`` with an address (within 50 ms)."""
    import socket  # noqa: PLC0415 - only a publish asks, and the CLI's other paths need no socket

    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    identifier = int.from_bytes(os.urandom(2), "big")
    labels = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    question = struct.pack("!HHHHHH", identifier, 0x0100, 1, 0, 0, 0) + labels + b"\0\0\1\0\1"
    with socket.socket(family, socket.SOCK_DGRAM) as client:
        client.settimeout(0.05)
        try:
            client.connect((server, port))
            client.send(question)
            while True:
                answer = client.recv(512)
                if len(answer) >= 12 and struct.unpack_from("!H", answer)[0] == identifier:
                    break
        except ConnectionRefusedError:
            time.sleep(0.01)  # nothing listens yet: the ICMP answer comes at once
            return False
        except TimeoutError:
            return False
        except OSError as error:
            raise ResolverError(f"cannot ask aardvark-dns on {server}: {error.strerror}") from error
    _, flags, _, answers = struct.unpack_from("!HHHH", answer)
    return bool(flags & 0xF == 0 and answers > 0)


def _serves(pid: int, config_directory: Path) -> bool:
    """Whether ``pid`` is a live aardvark-dns run on ``config_directory``."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return (
        state not in ("Z", "X")
        and arguments[0].rpartition(b"/")[2] == b"aardvark-dns"
        and os.fsencode(config_directory) in arguments
    )


class HostResolvConf(NamedTuple):
    nameservers: list[str]
    search: list[str]
    options: list[str]


def parse_resolv_conf(text: str) -> HostResolvConf:
    """All nameservers, the last search and options lines' words, as docker reads them."""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.partition("#")[0].partition(";")[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            nameservers.append(words[1])
        elif words[0] == "search":
            search = words[1:]
        elif words[0] == "options":
            options = words[1:]
    return HostResolvConf(nameservers, search, options)


def resolv_conf(
    host_text: str,
    *,
    resolver: str | None,
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
    options: Sequence[str] = (),
) -> str:
    """A container's /etc/resolv.conf, from the host's and the ``--dns*`` flags.

    On a user-defined network (``resolver``: the address its resolver listens on) the only
    nameserver is the resolver, which forwards what it does not know to the host's
    nameservers; search and options are the host's or the flags', with docker's ``ndots:0``
    added unless an ndots is set. Elsewhere (the default bridge) it is docker's rule: the host's
    file without loopback and IPv6 nameservers (containers have neither a host loopback nor
    IPv6), 8.8.8.8 and 8.8.4.4 when none is left; each of ``--dns``, ``--dns-search``,
    ``--dns-option`` replaces its part, and the file is then rebuilt from the parts.
    """
    if resolver is None and not (dns or search or options):
        return _without_unreachable_nameservers(host_text)
    host = parse_resolv_conf(host_text)
    if resolver is not None:
        nameservers = [resolver]
    else:
        nameservers = list(dns) or [n for n in host.nameservers if _reachable(n)]
        nameservers = nameservers or list(DEFAULT_NAMESERVERS)
    search_domains = list(search) or host.search
    option_list = list(options) or host.options
    if resolver is not None and not any(option.startswith("ndots:") for option in option_list):
        option_list.append("ndots:0")
    lines = []
    if search_domains and " ".join(search_domains).strip() != ".":
        lines.append(f"search {' '.join(search_domains)}\n")
    lines.extend(f"nameserver {nameserver}\n" for nameserver in nameservers)
    if option_list:
        lines.append(f"options {' '.join(option_list)}\n")
    return "".join(lines)


def _reachable(nameserver: str) -> bool:
    """Whether a host's nameserver can be reached from a container on a bridge."""
    return not nameserver.startswith("127.") and ":" not in nameserver


def _without_unreachable_nameservers(host_text: str) -> str:
    kept = []
    for line in host_text.splitlines(keepends=True):
        words = line.split()
        if line.startswith("nameserver") and len(words) > 1 and not _reachable(words[1]):
            continue
        kept.append(line)
    text = "".join(kept)
    if not parse_resolv_conf(text).nameservers:
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(f"nameserver {nameserver}\n" for nameserver in DEFAULT_NAMESERVERS)
    return text
