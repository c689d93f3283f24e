"""OCI runtimes for the tests of their callers: hybridock-runtime, runc and crun side by side.

- ``runtime_binary``: where hybridock-runtime is: the venv's ``bin/hybridock-runtime`` next to
  the interpreter (the wheel installs it there), else ``$HYBRIDOCK_RUNTIME``.
- ``OciRuntime``/``runtimes``/``runtime_params``: the runtimes present, for parametrizing a test
  (a missing one is a skipped parameter saying what to build or install).
- ``wrapper``: a shell script standing in for a runtime: it appends each command line it is
  called with to a log (one line, arguments separated by US, 0x1f), then execs the runtime. On a
  host with hybrid cgroups (v1 controllers and a cgroup2 mount beside them) crun refuses to run;
  its wrapper execs it in a mount namespace of its own where the cgroup2 mounts are unmounted
  (the namespace lives as long as that one runtime command; the container gets its own).
- ``read_calls``: the logged command lines, as argument lists.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

RUNTIME_ENV = "HYBRIDOCK_RUNTIME"
ARGUMENT_SEPARATOR = "\x1f"


def runtime_binary() -> Path:
    """hybridock-runtime: the venv's ``bin/hybridock-runtime`` beside ``sys.executable`` when it
    is there, else ``$HYBRIDOCK_RUNTIME``; the venv's path (missing) when neither is set."""
    installed = Path(sys.executable).parent / "hybridock-runtime"
    if installed.is_file():
        return installed
    if configured := os.environ.get(RUNTIME_ENV):
        return Path(configured)
    return installed


def hybrid_cgroup2_mounts() -> list[Path]:
    """The cgroup2 mounts of a hybrid host (cgroup v1 controllers mounted too); else none."""
    text = Path("/proc/self/mountinfo").read_text()
    v1, v2 = [], []
    for line in text.splitlines():
        fields, _, after = line.partition(" - ")
        fstype = after.split(" ", 1)[0]
        if fstype == "cgroup":
            v1.append(Path(fields.split()[4]))
        elif fstype == "cgroup2":
            v2.append(Path(fields.split()[4]))
    return sorted(v2) if v1 else []


@dataclass(frozen=True)
class OciRuntime:
    """One runtime: its name as its callers know it (the file name) and its path."""

    name: str
    path: Path

    @property
    def present(self) -> bool:
        return self.path.is_file() and os.access(self.path, os.X_OK)

    @property
    def refuses_hybrid_cgroups(self) -> bool:
        return self.name == "crun" and bool(hybrid_cgroup2_mounts())

    def __str__(self) -> str:
        return self.name


def _which(name: str) -> Path:
    found = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    return Path(found) if found else Path("/usr/bin") / name


def all_runtimes() -> list[OciRuntime]:
    """hybridock-runtime, runc and crun, present or not."""
    return [
        OciRuntime("hybridock-runtime", runtime_binary()),
        OciRuntime("runc", _which("runc")),
        OciRuntime("crun", _which("crun")),
    ]


def runtimes() -> list[OciRuntime]:
    """The runtimes present here: hybridock-runtime (when built), runc, crun."""
    return [runtime for runtime in all_runtimes() if runtime.present]


def runtime_params() -> list[object]:
    """``pytest.param`` per runtime (id: its name), skipped where it is missing."""
    params: list[object] = []
    for runtime in all_runtimes():
        marks = []
        if not runtime.present:
            hint = (
                f"cargo build --release -p hybridock-runtime, then {RUNTIME_ENV}=PATH"
                if runtime.name == "hybridock-runtime"
                else f"apt-get install {runtime.name}"
            )
            marks.append(pytest.mark.skip(reason=f"no {runtime.name} at {runtime.path} ({hint})"))
        params.append(pytest.param(runtime, id=runtime.name, marks=marks))
    return params


def wrapper(
    directory: Path,
    runtime: OciRuntime,
    log: Path | None = None,
    *,
    hide_cgroup2: bool | None = None,
) -> Path:
    """``directory/<runtime's name>``: a script that logs its command line to ``log`` (when
    given) and execs the runtime, in a mount namespace without cgroup2 for crun on a hybrid
    host (``hide_cgroup2``: for any runtime, to compare them at the same cost, where the host
    is hybrid). Callers see the runtime's own name (podman keys features on it)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["#!/bin/sh"]
    if log is not None:
        lines += [
            "line=''",
            f'for argument in "$0" "$@"; do line="$line$argument{ARGUMENT_SEPARATOR}"; done',
            f"printf '%s\\n' \"$line\" >> {shlex.quote(str(log))}",
        ]
    real = shlex.quote(str(runtime.path))
    hide = runtime.refuses_hybrid_cgroups if hide_cgroup2 is None else hide_cgroup2
    if hide and hybrid_cgroup2_mounts():
        unmounts = " && ".join(f"umount {shlex.quote(str(p))}" for p in hybrid_cgroup2_mounts())
        inner = f'{unmounts} && exec {real} "$@"'
        lines.append(
            "exec unshare --mount --propagation slave -- sh -c "
            f'{shlex.quote(inner)} {shlex.quote(runtime.name)} "$@"'
        )
    else:
        lines.append(f'exec {real} "$@"')
    script = directory / runtime.name
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return script


def read_calls(log: Path) -> list[list[str]]:
    """The command lines a wrapper logged, arguments after the program's own path."""
    if not log.exists():
        return []
    calls = []
    for line in log.read_text().splitlines():
        arguments = line.split(ARGUMENT_SEPARATOR)
        if arguments and arguments[-1] == "":
            arguments.pop()
        calls.append(arguments[1:])
    return calls


__all__ = [
    "OciRuntime",
    "all_runtimes",
    "hybrid_cgroup2_mounts",
    "read_calls",
    "runtime_binary",
    "runtime_params",
    "runtimes",
    "wrapper",
]
