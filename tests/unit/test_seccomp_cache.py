"""The compiled seccomp program is cached by a hash of what it is compiled from."""

from __future__ import annotations

from pathlib import Path

from hybridock import _native
from hybridock.runtime.seccomp import UNCONFINED, seccomp_filter


def test_cached_program_is_reused_and_keyed_by_capabilities(tmp_path: Path) -> None:
    first = seccomp_filter("", _native.DOCKER_CAPABILITIES, cache=tmp_path)
    assert first is not None
    assert len(list(tmp_path.iterdir())) == 1
    assert seccomp_filter("", _native.DOCKER_CAPABILITIES, cache=tmp_path) == first
    assert seccomp_filter("", _native.DOCKER_CAPABILITIES) == first  # same as uncached
    with_admin = seccomp_filter("", _native.DOCKER_CAPABILITIES | 1 << 21, cache=tmp_path)
    assert with_admin is not None
    assert len(list(tmp_path.iterdir())) == 2


def test_unconfined_and_privileged_compile_nothing(tmp_path: Path) -> None:
    assert seccomp_filter(UNCONFINED, _native.DOCKER_CAPABILITIES, cache=tmp_path) is None
    assert seccomp_filter("", None, cache=tmp_path) is None
    assert list(tmp_path.iterdir()) == []
