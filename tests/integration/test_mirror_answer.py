"""A mirror that answers "no such tag/repository" while the registry it mirrors cannot be
reached (issue 10): the user is told what the mirror said, as docker and containerd do (the
mirror's answer wins when the fallback fails to connect), not that the upstream is unreachable.

The real registry is the mirror. The upstream must fail to resolve without any lookup leaving
the machine: in process, the resolver is the one faked part (registry-1.docker.io does not
resolve); through the CLI, the mirrored registry has a name under ``.invalid``.
"""

from __future__ import annotations

import socket
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ImageBuilder
from tests.integration.test_pull_failures import assert_store_empty
from tests.support.cli import CliResult, failed
from tests.support.registry import Registry
from tests.support.tokenserver import TokenRegistry

from hybridock.config import Config
from hybridock.errors import AuthenticationError, ManifestUnknown, RegistryError
from hybridock.registry import RegistryClient, RetryPolicy

RunCli = Callable[..., CliResult]

pytestmark = pytest.mark.registry

UPSTREAM = "registry-1.docker.io"
NOT_KNOWN = "Name or service not known"


@dataclass(frozen=True)
class MirrorAnswer:
    name: str
    reference: str  # as the user types it, for docker.io
    message: str  # what the user must be told
    error: type[RegistryError]


ANSWERS = [
    MirrorAnswer(
        "missing-tag",
        "busybox:nosuchtag",
        "manifest for busybox:nosuchtag not found: manifest unknown: manifest unknown",
        ManifestUnknown,
    ),
    MirrorAnswer(
        "missing-repository",
        "nosuchrepository",
        # Debian's registry answers MANIFEST_UNKNOWN for a repository it never had
        "manifest for nosuchrepository:latest not found: manifest unknown: manifest unknown",
        ManifestUnknown,
    ),
]


@pytest.fixture
def upstream_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """registry-1.docker.io does not resolve (as on a host without DNS); other names do.
    Returns the names looked up that way, to show the fallback was tried."""
    real = socket.getaddrinfo
    refused: list[str] = []

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name == UPSTREAM:
            refused.append(name)
            raise socket.gaierror(socket.EAI_NONAME, NOT_KNOWN)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return refused


def client_with_mirror(mirror: Registry, tmp_path: Path) -> RegistryClient:
    config = Config(
        registry_mirrors=types.MappingProxyType({"docker.io": (mirror.url,)}),
        insecure_registries=frozenset({mirror.address}),
        auth_file=tmp_path / "auth.json",
    )
    return RegistryClient(config, retry=RetryPolicy(attempts=2, backoff_base=0.01))


@pytest.fixture
def library_mirror(
    registry: Registry, image_builder: ImageBuilder, tmp_path: Path
) -> Iterator[RegistryClient]:
    """A client whose docker.io mirror is the test registry, with the library images on it."""
    image_builder.publish_library(registry)
    with client_with_mirror(registry, tmp_path) as client:
        yield client


@pytest.mark.parametrize("answer", ANSWERS, ids=[answer.name for answer in ANSWERS])
def test_the_mirrors_answer_wins_when_the_upstream_cannot_be_resolved(
    answer: MirrorAnswer,
    registry: Registry,
    library_mirror: RegistryClient,
    upstream_lookups: list[str],
) -> None:
    with pytest.raises(answer.error) as raised:
        library_mirror.resolve(answer.reference)

    assert str(raised.value) == answer.message
    assert upstream_lookups, "the upstream was tried after the mirror's answer"
    assert [r.kind for r in registry.requests] == ["manifest_get"]


def test_a_mirror_that_denies_access_is_reported_as_docker_does(
    token_registry: TokenRegistry, upstream_lookups: list[str], tmp_path: Path
) -> None:
    with (
        client_with_mirror(token_registry.registry, tmp_path) as client,
        pytest.raises(AuthenticationError) as raised,
    ):
        client.resolve("private/thing:latest")

    assert str(raised.value).startswith(
        "pull access denied for private/thing, repository does not exist or may require "
        "'hybridock login': "
    ), raised.value
    assert upstream_lookups


def test_head_of_a_tag_gone_from_the_mirror_is_unknown_not_unreachable(
    library_mirror: RegistryClient, upstream_lookups: list[str]
) -> None:
    assert library_mirror.head_digest("busybox:nosuchtag") is None


def test_a_pull_through_a_mirror_says_what_the_mirror_answered(
    registry: Registry,
    image_builder: ImageBuilder,
    make_hybridock_env: Callable[..., dict[str, str]],
    hybridock_root: Path,
    run_cli: RunCli,
) -> None:
    image_builder.push(image_builder.busybox(), registry, "library/busybox")
    env = make_hybridock_env(registry, mirror_for="mirrored.invalid")

    message = failed(run_cli("pull", "mirrored.invalid/library/busybox:nosuchtag", env=env))

    assert message == (
        "Error: manifest for mirrored.invalid/library/busybox:nosuchtag not found: "
        "manifest unknown: manifest unknown"
    )
    assert_store_empty(hybridock_root, run_cli)
