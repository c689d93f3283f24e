"""The set-up scripts (scripts/quickstart, scripts/test): they say why they stop, pick a python
reliably under ``pipefail``, and check for the Rust toolchain before anything else.

The scripts run for real with a PATH whose ``apt-get`` is a stub that fails (apt cannot be made
to fail on demand, and the tests must not install anything); everything else is the real one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP_SCRIPTS = ("scripts/quickstart", "scripts/test")
LIBRARY = REPO / "scripts" / "lib" / "setup.bash"
CARGO_HINT = "cargo not found: install Rust (rustup) or install a hybridock wheel"


def stub(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def search_path(*directories: Path, cargo: bool = True) -> str:
    """A PATH of ``directories`` then the system's, with or without the Rust toolchain's."""
    system = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    found = shutil.which("cargo")
    rust = [str(Path(found).parent)] if cargo and found else []
    return os.pathsep.join([*map(str, directories), *rust, *system])


def run_script(script: str, path: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / script), *args],
        env={"PATH": path, "HOME": str(home), "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def failing_apt(tmp_path: Path) -> Path:
    """A bin directory whose apt-get fails silently, as a broken mirror's apt can."""
    bin_directory = tmp_path / "bin"
    stub(bin_directory, "apt-get", f'echo "$@" >> {tmp_path / "apt-calls"}\nexit 100')
    return bin_directory


@pytest.mark.parametrize("script", SETUP_SCRIPTS)
def test_a_setup_script_names_the_command_it_stopped_at(
    script: str, failing_apt: Path, tmp_path: Path
) -> None:
    result = run_script(script, search_path(failing_apt), home=tmp_path)
    assert result.returncode == 100, result
    assert re.search(r"line \d+: apt-get update -qq \(exit 100\)", result.stderr), result.stderr


@pytest.mark.parametrize("script", SETUP_SCRIPTS)
def test_a_setup_script_checks_for_cargo_first(
    script: str, failing_apt: Path, tmp_path: Path
) -> None:
    result = run_script(script, search_path(failing_apt, cargo=False), home=tmp_path)
    assert (result.returncode, result.stderr.strip().splitlines()[-1:]) == (1, [CARGO_HINT])
    assert not (tmp_path / "apt-calls").exists(), "apt-get ran before the cargo check"


def test_quickstart_installs_a_wheel_without_cargo(failing_apt: Path, tmp_path: Path) -> None:
    wheel = tmp_path / "hybridock-0.1.0-cp311-abi3-linux_x86_64.whl"
    wheel.touch()
    result = run_script(
        "scripts/quickstart", search_path(failing_apt, cargo=False), str(wheel), home=tmp_path
    )
    assert CARGO_HINT not in result.stderr
    assert (tmp_path / "apt-calls").exists(), result.stderr


def test_the_library_reports_the_failing_line_and_command(tmp_path: Path) -> None:
    script = tmp_path / "fails.bash"
    script.write_text(f"set -Eeuo pipefail\nsource {LIBRARY}\ntrue\nfalse\necho unreachable\n")
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "fails.bash: stopped at line 4: false (exit 1)\n"


def test_pick_python_answers_every_time_under_pipefail(tmp_path: Path) -> None:
    """The quickstart line it replaces (``command -v ... | head -n 1``) died of SIGPIPE in about
    one run of twelve: with several pythons on PATH, each of 100 picks must answer."""
    pythons = tmp_path / "pythons"
    pythons.mkdir()
    for name in ("python3.13", "python3.12", "python3.11", "python3"):
        (pythons / name).symlink_to(sys.executable)
    script = tmp_path / "pick.bash"
    script.write_text(
        "set -Eeuo pipefail\n"
        f"source {LIBRARY}\n"
        'for _ in $(seq 100); do python=$(pick_python); echo "$python"; done\n'
    )
    result = subprocess.run(
        ["bash", str(script)],
        env={"PATH": search_path(pythons), "PYENV_ROOT": str(tmp_path / "no-pyenv")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.splitlines()) == {str(Path(sys.executable).resolve())}
    assert len(result.stdout.splitlines()) == 100


SHELL_FILES = sorted(
    path
    for directory in ("scripts", "benches", ".ci")
    for path in (REPO / directory).rglob("*")
    if path.is_file()
    and (
        path.suffix in (".sh", ".bash") or path.read_bytes()[:20].startswith(b"#!/usr/bin/env bash")
    )
)


@pytest.mark.parametrize("path", SHELL_FILES, ids=lambda path: str(path.relative_to(REPO)))
def test_no_pipe_into_head_under_pipefail(path: Path) -> None:
    """``head`` exits after its lines; the writer then dies of SIGPIPE and pipefail stops the
    script."""
    code = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    if any("pipefail" in line for line in code):
        piped = [line for line in code if re.search(r"\|\s*head\b", line)]
        assert not piped, f"{path}: a pipe into head under pipefail"
