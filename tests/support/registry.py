"""A real registry for tests: Debian's ``docker-registry`` (CNCF distribution 2.x).

``Registry`` runs ``docker-registry serve CONFIG`` on a free 127.0.0.1 port with its storage
under a work directory, and (by default) a ``CountingProxy`` in front of it: clients talk to
``registry.address``; the test reads ``registry.requests`` / ``registry.blob_gets()`` and
injects faults. Images are pushed to ``registry.backend_address`` so that pushes do not show
in the counts. Three modes:

- plain http, no auth (``Registry(workdir)``);
- TLS with a test CA and htpasswd users (``tls=make_tls_files(...)``, ``users={...}``);
- token auth (``token=TokenAuth(...)`` pointing at tests/support/tokenserver.py).

The process is started in its own session and stopped by its pid (terminate, wait, kill);
``stop`` also closes the proxy and its open connections, so a stopped registry refuses
connections as a dead one would. ``start`` again reuses the same ports and storage.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.images import Built, Credentials, PushedImage, push
from tests.support.proxy import CountingProxy, Fault, RecordedRequest

if TYPE_CHECKING:  # tls.py needs cryptography; the plain mode (and the demo script) does not
    from tests.support.tls import TLSFiles

READY_TIMEOUT = 30.0
REGISTRY_BINARY = "docker-registry"


class RegistryStartError(RuntimeError):
    """docker-registry exited or never answered /v2/."""


@dataclass(frozen=True)
class TokenAuth:
    """The registry side of token auth: where to get tokens, and whom to trust."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spawn_registry(config: Path, log: Path, *, detach: bool) -> subprocess.Popen[bytes]:
    """``docker-registry serve config`` in a session of its own, output appended to ``log``;
    REGISTRY_* variables are dropped (they would override the config)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with log.open("ab") as output:
        return subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
            cwd="/" if detach else None,
        )


def wait_until_serving(
    url: str,
    process: subprocess.Popen[bytes],
    log: Path,
    context: ssl.SSLContext | None = None,
) -> None:
    """Poll ``url`` (the /v2/ endpoint) until it answers; 401 counts (an auth mode)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RegistryStartError(f"docker-registry exited: {tail}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            pass
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise RegistryStartError(f"docker-registry not ready at {url}: {tail}")
        time.sleep(0.05)


def htpasswd_file(path: Path, users: Mapping[str, str]) -> Path:
    """An htpasswd file with bcrypt hashes (cost 4: the minimum, fast enough for tests)."""
    import bcrypt  # noqa: PLC0415 - only the TLS mode needs it

    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def registry_config(
    *,
    port: int,
    storage: Path,
    tls: TLSFiles | None = None,
    htpasswd: Path | None = None,
    token: TokenAuth | None = None,
) -> dict[str, Any]:
    """The registry's configuration (JSON is YAML, so no YAML writer is needed)."""
    http: dict[str, Any] = {
        "addr": f"127.0.0.1:{port}",
        "secret": secrets.token_hex(16),
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if tls is not None:
        http["tls"] = {"certificate": str(tls.server_cert), "key": str(tls.server_key)}
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        # No blob descriptor cache: a blob overwritten on disk must be served as it now is.
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "hybridock-test", "path": str(htpasswd)}}
    elif token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.rootcertbundle),
            }
        }
    return config


class Registry:
    """One docker-registry process (and its proxy), owned by a test or fixture."""

    def __init__(
        self,
        workdir: Path,
        *,
        tls: TLSFiles | None = None,
        users: Mapping[str, str] | None = None,
        token: TokenAuth | None = None,
        port: int | None = None,
        proxy: bool = True,
        push_credentials: Credentials | None = None,
    ) -> None:
        self.workdir = workdir
        self.tls = tls
        self.users = dict(users or {})
        self.token = token
        self.storage_dir = workdir / "storage"
        self.log_path = workdir / "registry.log"
        self.config_path = workdir / "config.yml"
        self._fixed_port = port
        self._use_proxy = proxy
        self.backend_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._proxy: CountingProxy | None = None
        self._proxy_port = 0
        if push_credentials is None and self.users:
            push_credentials = Credentials(*next(iter(self.users.items())))
        self.push_credentials = push_credentials

    # --- addresses ---

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    @property
    def port(self) -> int:
        return self._proxy_port if self._use_proxy else self.backend_port

    @property
    def address(self) -> str:
        """host:port that clients under test use."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    @property
    def backend_address(self) -> str:
        """host:port of the registry itself (pushes go here, uncounted)."""
        return f"127.0.0.1:{self.backend_port}"

    @property
    def backend_url(self) -> str:
        return f"{self.scheme}://{self.backend_address}"

    def client_context(self) -> ssl.SSLContext | None:
        return self.tls.client_context() if self.tls is not None else None

    # --- lifecycle ---

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Registry:
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_dir.mkdir(exist_ok=True)
        htpasswd = htpasswd_file(self.workdir / "htpasswd", self.users) if self.users else None
        attempts = 1 if (self._fixed_port or self.backend_port) else 3
        for attempt in range(attempts):
            port = self._fixed_port or self.backend_port or free_port()
            config = registry_config(
                port=port,
                storage=self.storage_dir,
                tls=self.tls,
                htpasswd=htpasswd,
                token=self.token,
            )
            self.config_path.write_text(json.dumps(config, indent=2))
            try:
                self._spawn(port)
            except RegistryStartError:
                if attempt == attempts - 1 or "address already in use" not in self.log():
                    raise
                continue
            self.backend_port = port
            break
        if self._use_proxy:
            self._proxy = CountingProxy(
                self.backend_port,
                server_context=self.tls.server_context() if self.tls else None,
                client_context=self.client_context(),
                port=self._proxy_port,
            )
            self._proxy_port = self._proxy.port
        return self

    def _spawn(self, port: int) -> None:
        self._process = spawn_registry(self.config_path, self.log_path, detach=False)
        try:
            self._wait_ready(port)
        except BaseException:
            self._terminate()
            raise

    def _wait_ready(self, port: int) -> None:
        assert self._process is not None
        wait_until_serving(
            f"{self.scheme}://127.0.0.1:{port}/v2/",
            self._process,
            self.log_path,
            self.client_context(),
        )

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Stop the registry and its proxy: afterwards connections are refused."""
        proxy, self._proxy = self._proxy, None
        try:
            if proxy is not None:
                proxy.close()
        finally:
            self._terminate()

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def push(self, built: Built, repository: str, tag: str | None = "latest") -> PushedImage:
        """Push with skopeo straight to the registry (not counted); addressed via the proxy."""
        pushed = push(
            built,
            self.backend_address,
            repository,
            tag,
            tls_verify=self.tls is not None,
            cert_dir=self.tls.cert_dir if self.tls is not None else None,
            credentials=self.push_credentials,
        )
        return PushedImage(self.address, repository, tag, pushed.built)

    # --- what clients did ---

    def _require_proxy(self) -> CountingProxy:
        if self._proxy is None:
            raise RuntimeError("request counting needs a running registry with its proxy")
        return self._proxy

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._require_proxy().requests

    def count(
        self, kind: str, *, repository: str | None = None, reference: str | None = None
    ) -> int:
        """How many requests of ``kind`` (``blob_get``, ``manifest_head``, ``ping``, ...)."""
        return sum(
            1
            for record in self.requests
            if record.kind == kind
            and (repository is None or record.repository == repository)
            and (reference is None or record.reference == reference)
        )

    def blob_gets(self, digest: str | None = None) -> int:
        return self.count("blob_get", reference=digest)

    def reset_requests(self) -> None:
        """Forget recorded requests and pending faults (call between tests)."""
        if self._proxy is not None:
            self._proxy.reset()

    def inject(self, fault: Fault) -> Fault:
        return self._require_proxy().inject(fault)

    # --- storage tricks ---

    def blob_path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        return (
            self.storage_dir
            / "docker/registry/v2/blobs"
            / algorithm
            / hexdigest[:2]
            / hexdigest
            / "data"
        )

    def corrupt_blob(self, digest: str, replacement: bytes | None = None) -> bytes:
        """Make the registry serve other bytes for ``digest``; by default, same length.

        Returns the original content so a test can restore it with ``restore_blob``.
        """
        path = self.blob_path(digest)
        original = path.read_bytes()
        if replacement is None:
            replacement = bytes(byte ^ 0xFF for byte in original[:64]) + original[64:]
        path.write_bytes(replacement)
        return original

    def restore_blob(self, digest: str, original: bytes) -> None:
        self.blob_path(digest).write_bytes(original)


def registry_available() -> bool:
    """docker-registry and skopeo are both installed and runnable."""
    for command in ([REGISTRY_BINARY, "--version"], ["skopeo", "--version"]):
        try:
            result = subprocess.run(command, capture_output=True, check=False, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if result.returncode != 0:
            return False
    return True
