"""Top-level fixtures: real registries, images built in code, a throw-away hybridock store.

Registries are shared (a session-scoped plain one; TLS+htpasswd and token ones per module)
and their request records and faults are reset around each test that asks for them by their
short names (``registry``, ``tls_registry``, ``token_registry``). A test that must stop a
registry or needs a fixed port takes ``registry_factory`` and gets its own.

Markers: ``registry`` and ``root`` tests are skipped, with the probe's reason, where the
parts are missing; the registry fixtures skip the same way for tests that forget the marker.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.cleanup import remove_tree
from tests.support.cli import (
    CliResult,
    base_environment,
    hybridock_config,
    run_hybridock,
    write_hybridock_config,
)
from tests.support.debimages import DebianImageBuilder
from tests.support.dockerd import Dockerd, DockerdStartError, dockerd_probe
from tests.support.images import Built, ImageSpec, PushedImage
from tests.support.netns import foreign_interfaces
from tests.support.probes import registry_probe, root_probe
from tests.support.registry import Registry
from tests.support.testimages import build_hello, busybox_image, hello_image
from tests.support.tls import TLSFiles, make_tls_files
from tests.support.tokenserver import TokenRegistry

TLS_USER = ("testuser", "testpassword")
TOKEN_USER = ("alice", "wonderland")
TOKEN_ANONYMOUS_PULL = ("public/*", "library/*")


def pytest_sessionstart(session: pytest.Session) -> None:
    """The suite makes bridges, veths, NAT rules and published ports (the default network is
    docker's bridge): it runs only in a network namespace of its own, never on the machine's."""
    del session
    if foreign := foreign_interfaces():
        pytest.exit(
            f"this network namespace has the machine's interfaces ({', '.join(foreign)}): run"
            " the suite in one of its own: scripts/netns-run .venv/bin/python -m pytest ...",
            returncode=4,
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("registry") is not None and (reason := registry_probe()):
            item.add_marker(pytest.mark.skip(reason=reason))
        if item.get_closest_marker("root") is not None and (reason := root_probe()):
            item.add_marker(pytest.mark.skip(reason=reason))


def _require_registry() -> None:
    if reason := registry_probe():
        pytest.skip(reason)


# --- registries -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A plain-http registry without auth, for the whole session (its records are shared)."""
    _require_registry()
    registry = Registry(tmp_path_factory.mktemp("registry"))
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def registry(session_registry: Registry) -> Iterator[Registry]:
    """The session's plain registry, with request records and faults reset for this test."""
    if not session_registry.running:
        session_registry.start()  # a test stopped the shared one by mistake: recover
    session_registry.reset_requests()
    yield session_registry
    session_registry.reset_requests()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A test CA and a server certificate for 127.0.0.1/localhost."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_registry_module(
    tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles
) -> Iterator[Registry]:
    _require_registry()
    registry = Registry(
        tmp_path_factory.mktemp("tls-registry"), tls=tls_files, users=dict([TLS_USER])
    )
    registry.start()
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def tls_registry(tls_registry_module: Registry) -> Iterator[Registry]:
    """https with the test CA (``.tls.ca_cert``, ``.tls.cert_dir``) and htpasswd ``TLS_USER``."""
    tls_registry_module.reset_requests()
    yield tls_registry_module
    tls_registry_module.reset_requests()


@pytest.fixture(scope="module")
def token_registry_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    _require_registry()
    bundle = TokenRegistry.create(
        tmp_path_factory.mktemp("token-registry"),
        users=dict([TOKEN_USER]),
        anonymous_pull=TOKEN_ANONYMOUS_PULL,
    )
    try:
        yield bundle
    finally:
        bundle.stop()


@pytest.fixture
def token_registry(token_registry_module: TokenRegistry) -> Iterator[TokenRegistry]:
    """Token auth: ``.registry`` and ``.tokens``; anonymous pull on public/* and library/*,
    ``TOKEN_USER`` may do anything anywhere."""
    token_registry_module.reset()
    yield token_registry_module
    token_registry_module.reset()


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[Callable[..., Registry]]:
    """Start registries of one's own (``registry_factory(tls=..., users=...)``); all of
    them are stopped after the test, so a test may stop or restart them at will."""
    _require_registry()
    started: list[Registry] = []

    def start(**options: Any) -> Registry:
        registry = Registry(tmp_path / f"registry-{len(started)}", **options)
        started.append(registry)
        return registry.start()

    try:
        yield start
    finally:
        for registry in started:
            registry.stop()


# --- images -----------------------------------------------------------------------------------


class ImageBuilder:
    """Builds images in code and pushes them into a test registry."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._built: dict[str, Built] = {}

    def hello_binary(self) -> Path:
        return build_hello(self.workdir / "hello")

    def hello(self) -> Built:
        if "hello" not in self._built:
            self._built["hello"] = hello_image(self.hello_binary()).build()
        return self._built["hello"]

    def busybox(self) -> Built:
        if "busybox" not in self._built:
            self._built["busybox"] = busybox_image().build()
        return self._built["busybox"]

    def publish_library(self, registry: Registry | TokenRegistry) -> dict[str, PushedImage]:
        """hello-world and busybox as ``library/<name>:latest``, as the demo registry has them."""
        return {
            "hello-world": self.push(self.hello(), registry, "library/hello-world"),
            "busybox": self.push(self.busybox(), registry, "library/busybox"),
        }

    def push(
        self,
        image: ImageSpec | Built,
        registry: Registry | TokenRegistry,
        repository: str,
        tag: str | None = "latest",
    ) -> PushedImage:
        built = image.build() if isinstance(image, ImageSpec) else image
        target = registry.registry if isinstance(registry, TokenRegistry) else registry
        return target.push(built, repository, tag)


@pytest.fixture(scope="session")
def image_builder(tmp_path_factory: pytest.TempPathFactory) -> ImageBuilder:
    return ImageBuilder(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="session")
def debian_image_builder(tmp_path_factory: pytest.TempPathFactory) -> DebianImageBuilder:
    """Images of this machine's Debian packages; each package's layer is built once a session."""
    return DebianImageBuilder(tmp_path_factory.mktemp("debian-layers"))


# --- docker itself, for the tests that read their expectation from it --------------------------


@pytest.fixture(scope="session")
def dockerd(
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    image_builder: ImageBuilder,
) -> Iterator[Dockerd]:
    """A private docker (tests/support/dockerd.py) with library/busybox pulled from the session
    registry; ``dockerd.load(pushed, session_registry.backend_address)`` pulls more. Skipped
    with the probe's reason, or dockerd's own words, where it cannot run."""
    with private_dockerd(tmp_path_factory, session_registry, image_builder) as daemon:
        yield daemon


@contextlib.contextmanager
def private_dockerd(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, image_builder: ImageBuilder
) -> Iterator[Dockerd]:
    """What the ``dockerd`` fixture is made of, for a module that needs a daemon of its own
    (one whose store holds only what the module put there)."""
    if reason := dockerd_probe():
        pytest.skip(reason)
    daemon = Dockerd(
        tmp_path_factory.mktemp("dockerd"),
        insecure_registries=[registry.address, registry.backend_address],
    )
    try:
        daemon.start()
    except DockerdStartError as error:
        pytest.skip(f"dockerd does not run here: {error}")
    try:
        busybox = image_builder.push(image_builder.busybox(), registry, "library/busybox")
        daemon.load(busybox, registry.backend_address)
        yield daemon
    finally:
        daemon.stop()


# --- hybridock as a user runs it ----------------------------------------------------------------


@pytest.fixture
def hybridock_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty store; afterwards whatever is mounted under it is unmounted and it is removed."""
    root = tmp_path_factory.mktemp("hybridock-root")
    try:
        yield root
    finally:
        remove_tree(root)


def config_for(registries: Sequence[Registry], mirror_for: str = "docker.io") -> dict[str, object]:
    """A hybridock config naming the first registry as ``mirror_for``'s mirror, every http
    registry as insecure and every https one with its CA."""
    return hybridock_config(
        mirrors={mirror_for: [registries[0].url]} if registries else {},
        insecure=[r.address for r in registries if r.tls is None],
        ca={r.address: r.tls.ca_cert for r in registries if r.tls is not None},
    )


@pytest.fixture
def make_hybridock_env(hybridock_root: Path, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``make_hybridock_env(registry, ...)``: the environment for a CLI run against these
    registries (the first one mirrors docker.io) and the test's store."""

    def make(*registries: Registry, mirror_for: str = "docker.io") -> dict[str, str]:
        config = write_hybridock_config(
            tmp_path / "hybridock-config.json", config_for(registries, mirror_for)
        )
        docker_config = tmp_path / "docker-config"
        docker_config.mkdir(exist_ok=True)
        return {
            **base_environment(),
            "HYBRIDOCK_ROOT": str(hybridock_root),
            "HYBRIDOCK_CONFIG": str(config),
            "DOCKER_CONFIG": str(docker_config),
            "NO_COLOR": "1",
        }

    return make


@pytest.fixture
def hybridock_env(
    request: pytest.FixtureRequest, make_hybridock_env: Callable[..., dict[str, str]]
) -> dict[str, str]:
    """The CLI environment against the plain session registry (or none where it cannot run)."""
    if registry_probe() is None:
        return make_hybridock_env(request.getfixturevalue("registry"))
    return make_hybridock_env()


@pytest.fixture
def run_cli(hybridock_env: dict[str, str]) -> Callable[..., CliResult]:
    """``run_cli("pull", "hello-world")``: the hybridock console script as a subprocess."""

    def run(
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 300,
        cwd: Path | None = None,
    ) -> CliResult:
        environment = {**hybridock_env, **(env or {})}
        return run_hybridock(args, env=environment, input=input, timeout=timeout, cwd=cwd)

    return run


@pytest.fixture(autouse=True)
def _no_stray_hybridock_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Code under test in this process must not see the developer's own store or config."""
    for key in list(os.environ):
        if key.startswith("HYBRIDOCK_"):
            monkeypatch.delenv(key)
