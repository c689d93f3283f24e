"""Fixtures of the registry client's unit tests: in-process stub registries on 127.0.0.1.

Here ``registry`` is a ``StubRegistry`` (replies scripted per test), not the real registry of
the top-level conftest: the unit tests cover what a real registry cannot be made to do.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.registry_harness import Harness
from tests.unit.registry_stub_server import StubRegistry, other_host, stub

__all__ = ["other_host", "stub"]  # beside StubRegistry: the hostile registry tests use them too


@pytest.fixture
def registry(stub: StubRegistry) -> StubRegistry:
    return stub


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


@pytest.fixture
def silent_server() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(ours, theirs): a connection whose server side writes only what a test sends; ours
    reads with a 0.2 s timeout."""
    ours, theirs = socket.socketpair()
    ours.settimeout(0.2)
    try:
        yield ours, theirs
    finally:
        ours.close()
        theirs.close()
