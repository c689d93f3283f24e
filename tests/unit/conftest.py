"""Fixtures of the registry client's unit tests: in-process stub registries on 127.0.0.1.

Here ``registry`` is a ``StubRegistry`` (replies scripted per test), not the real registry of
the top-level conftest: the unit tests cover what a real registry cannot be made to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.registry_harness import Harness
from tests.unit.registry_stub_server import StubRegistry


@pytest.fixture
def registry() -> Iterator[StubRegistry]:
    with StubRegistry() as server:
        yield server


@pytest.fixture
def other_host() -> Iterator[StubRegistry]:
    """A second server, addressed as localhost:PORT so it is a different host."""
    with StubRegistry() as server:
        yield server


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)
