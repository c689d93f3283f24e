"""Running the ``hybridock`` console script as a user would, against a test store.

Nothing here imports hybridock: the CLI is a subprocess with ``HYBRIDOCK_ROOT`` (the store)
and ``HYBRIDOCK_CONFIG`` (a JSON config naming the test registry) in its environment.
The config shape, shared with hybridock's config loader::

    {"registry-mirrors": {"docker.io": ["http://127.0.0.1:PORT"]},
     "insecure-registries": ["127.0.0.1:PORT"],
     "registry-ca-files": {"127.0.0.1:PORT": "/path/ca.pem"}}
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"hybridock {' '.join(self.args)} -> {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}--- stderr ---\n{self.stderr}"
        )


def ok(result: CliResult) -> CliResult:
    """A command that succeeded (and printed no traceback)."""
    assert result.returncode == 0, str(result)
    assert "Traceback" not in result.stderr, str(result)
    return result


def failed(result: CliResult, code: int = 1) -> str:
    """The one-line error (``Error: ...``) of a command that failed with ``code``."""
    assert result.returncode == code, str(result)
    assert "Traceback" not in result.stderr, str(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, str(result)
    assert lines[0].startswith("Error: "), str(result)
    return lines[0]


def hybridock_config(
    *,
    mirrors: Mapping[str, Sequence[str]] | None = None,
    insecure: Sequence[str] = (),
    ca: Mapping[str, Path] | None = None,
) -> dict[str, object]:
    return {
        "registry-mirrors": {name: list(urls) for name, urls in (mirrors or {}).items()},
        "insecure-registries": list(insecure),
        "registry-ca-files": {address: str(path) for address, path in (ca or {}).items()},
    }


def write_hybridock_config(path: Path, config: Mapping[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def hybridock_command() -> list[str]:
    """The console script installed beside this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).with_name("hybridock")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("hybridock")
    if found is None:
        raise FileNotFoundError("the hybridock console script is not installed")
    return [found]


def run_hybridock(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    input: str | None = None,
    timeout: float = 300,
    cwd: Path | None = None,
) -> CliResult:
    completed = subprocess.run(
        [*hybridock_command(), *args],
        input=input,
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        check=False,
        cwd=cwd,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    return CliResult(tuple(args), completed.returncode, completed.stdout, completed.stderr)


@contextlib.contextmanager
def running_hybridock(
    args: Sequence[str], *, env: Mapping[str, str], stderr: int = subprocess.PIPE
) -> Iterator[subprocess.Popen[str]]:
    """The CLI as a process to read and signal while it runs (stdout piped, text); killed
    and reaped at the end if it still runs."""
    process = subprocess.Popen(
        [*hybridock_command(), *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def base_environment() -> dict[str, str]:
    """The test process's environment minus what would point hybridock elsewhere."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HYBRIDOCK_", "DOCKER_", "REGISTRY_"))
    }


def wait_until_downloading(process: subprocess.Popen[str], layer_digest: str) -> str:
    """Read a running pull's progress until ``layer_digest`` reports Downloading; returns what
    it printed so far. Raises if the pull ends without getting there."""
    assert process.stdout is not None, "start the pull with stdout=subprocess.PIPE"
    wanted = f"{layer_digest.removeprefix('sha256:')[:12]}: Downloading"
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.strip() == wanted:
            return "".join(seen)
    raise AssertionError(f"the pull never reported {wanted!r}: {''.join(seen)}")
