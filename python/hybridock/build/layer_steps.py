"""The two steps that write files: RUN (a process, with its ``--mount``s) and COPY/ADD (the
context side's ``copy_into``), each into ``directory/upper``.

RUN's mounts: ``cache`` a directory kept under the store (``build-cache-mounts/``, by id) and
bound read-write; ``bind`` a context path resolved inside the context, read-only unless
``rw`` (then a copy, whose writes are dropped, as BuildKit); ``tmpfs``; ``secret`` the
``--secret`` file copied out of the context into the step's directory (mode 0400, never in
the upper dir) and bound read-only at ``/run/secrets/<id>``. The empty files made as mount
points of file mounts are taken out of the upper dir again; directories made for mounts stay
(docker's BuildKit leaves them in the layer).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from hybridock import _native
from hybridock.build import sources
from hybridock.build.cache import CACHE_MOUNTS
from hybridock.build.dockerfile import heredocs
from hybridock.build.dockerfile import instructions as ins
from hybridock.build.run_step import Process, run_process
from hybridock.build.steps import DEFAULT_SHELL, StageState
from hybridock.errors import BuildError
from hybridock.runtime.config import MS_NODEV, MS_NOSUID

if TYPE_CHECKING:
    from hybridock.build.executor import Build
    from hybridock.build.progress import Vertex
    from hybridock.build.steps import StageRunner


def run(
    build: Build,
    runner: StageRunner,
    state: StageState,
    instruction: ins.Run,
    directory: Path,
    vertex: Vertex,
) -> dict[str, str]:
    """Run the step; the ARG values it saw (for its history entry)."""
    config = state.config
    command = instruction.command
    shell = list(config.get("Shell") or DEFAULT_SHELL)
    script = heredocs.run_script(instruction)
    argv = [*shell, script.text] if command.shell_form else list(command.words)
    env = list(config.get("Env") or [])
    declared = {entry.partition("=")[0] for entry in env}
    env += [f"{k}={v}" for k, v in sorted(state.args.items()) if k not in declared]
    binds, tmpfs = _mounts(build, runner, state, instruction, directory)
    if script.executable is not None:
        binds.append(_script_file(script.executable, directory))
    process = Process(
        argv=argv,
        env=env,
        working_dir=config.get("WorkingDir") or "/",
        user=config.get("User") or "",
        network=instruction.network or build.settings.network,
        binds=binds,
        tmpfs=tmpfs,
    )
    layer_dirs = [str(build.layout.layer(c)) for c in reversed(state.chain)]
    code = run_process(
        build.layout,
        directory,
        layer_dirs,
        process,
        vertex.log,
        build.cancel,
        build.settings.networks,
    )
    _remove_mount_points(
        directory / "upper", layer_dirs, [*(d for _, d, _ in binds), *(t for t, _, _ in tmpfs)]
    )
    build.cancel.check()  # killed by Ctrl-C or a failed sibling stage: say so, not 137
    if code != 0:
        shown = " ".join(argv)
        raise BuildError(
            f'process "{shown}" did not complete successfully: exit code: {code}',
            step=vertex.name,
            exit_code=code,
        )
    return dict(state.args)


def _script_file(heredoc: ins.Heredoc, directory: Path) -> tuple[str, str, bool]:
    """A ``#!`` heredoc as BuildKit runs it: a file of mode 0755 bound read-only at
    ``/dev/pipes/<name>``."""
    scripts = directory / "scripts"
    scripts.mkdir(mode=0o700, exist_ok=True)
    path = scripts / _native.sha256(heredoc.name.encode()).split(":", 1)[1]
    path.write_text(heredoc.content)
    path.chmod(0o755)
    return str(path), f"{heredocs.SCRIPT_DIRECTORY}/{heredoc.name}", True


def _mounts(
    build: Build, runner: StageRunner, state: StageState, instruction: ins.Run, directory: Path
) -> tuple[list[tuple[str, str, bool]], list[tuple[str, int, str]]]:
    binds: list[tuple[str, str, bool]] = []
    tmpfs: list[tuple[str, int, str]] = []
    expand = runner.expand(state)
    for mount in instruction.mounts:
        target = expand(mount.target) if mount.target else ""
        if mount.type == "cache":
            binds.append((str(_cache_dir(build, mount, expand(mount.id or target))), target, False))
        elif mount.type == "tmpfs":
            size = f"size={mount.size}" if mount.size else ""
            tmpfs.append((target, MS_NOSUID | MS_NODEV, size))
        elif mount.type == "secret":
            secret = _secret(build, mount, directory)
            if secret is not None:
                binds.append((str(secret), target or f"/run/secrets/{mount.id}", True))
        elif mount.type == "bind":
            source = _bind_source(build, expand(mount.source or "."), mount, directory)
            binds.append((str(source), target, mount.readonly is not False))
        else:
            raise BuildError(f"unsupported mount type: {mount.type}", step=instruction.original)
    return binds, tmpfs


def _cache_dir(build: Build, mount: ins.Mount, cache_id: str) -> Path:
    name = _native.sha256(cache_id.encode()).split(":", 1)[1]
    path = build.layout.root / CACHE_MOUNTS / name
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mount.mode if mount.mode is not None else 0o755)
        os.chown(path, mount.uid or 0, mount.gid or 0)
    return path


def _secret(build: Build, mount: ins.Mount, directory: Path) -> Path | None:
    secret_id = mount.id or PurePosixPath(mount.target or "").name
    source = build.settings.secrets.get(secret_id)
    if source is None:
        if mount.required:
            raise BuildError(f"secret {secret_id}: not found")
        return None
    secrets = directory / "secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    copied = secrets / _native.sha256(secret_id.encode()).split(":", 1)[1]
    try:
        shutil.copyfile(source, copied)
    except OSError as error:
        raise BuildError(f"failed to read secret {secret_id}: {error.strerror}") from error
    copied.chmod(mount.mode if mount.mode is not None else 0o400)
    os.chown(copied, mount.uid or 0, mount.gid or 0)
    return copied


def _bind_source(build: Build, source: str, mount: ins.Mount, directory: Path) -> Path:
    """A host path for the bind: resolved inside the context or the ``from=`` stage's tree
    (``sources.materialize``: nothing outside it), copied when ``rw`` (writes are dropped)."""
    tree = build.bind_tree(mount)
    scratch = directory / f"bind-{len(list(directory.glob('bind-*')))}"
    scratch.mkdir()
    resolved = sources.materialize(tree, source, scratch)
    if mount.readonly is False and scratch not in resolved.parents:
        copied = scratch / "rw"
        if resolved.is_dir():
            shutil.copytree(resolved, copied, symlinks=True)
        else:
            shutil.copy2(resolved, copied)
        return copied
    return resolved


def _remove_mount_points(upper: Path, layer_dirs: list[str], targets: list[str]) -> None:
    """Take out of ``upper`` the empty files made only as mount points for file mounts (a
    bind of a file, a secret). Directories made for mounts stay, with their parents, as
    docker's BuildKit leaves them in the layer."""
    for target in targets:
        relative = target.strip("/")
        if not relative or any(os.path.lexists(Path(d) / relative) for d in layer_dirs):
            continue
        path = upper / relative
        with contextlib.suppress(OSError):
            if not path.is_symlink() and path.is_file() and path.stat().st_size == 0:
                path.unlink()


def copy(
    build: Build, runner: StageRunner, state: StageState, instruction: ins.Copy, directory: Path
) -> None:
    upper = directory / "upper"
    upper.mkdir()
    source = build.copy_source(runner, state, instruction)
    expand = runner.expand(state)
    destination = expand(instruction.destination)
    working_dir = state.config.get("WorkingDir") or "/"
    patterns = [expand(pattern) for pattern in instruction.sources]
    lower = [str(build.layout.layer(c)) for c in reversed(state.chain)]
    chown = expand(instruction.chown) if instruction.chown else None
    sources.copy_into(
        source,
        patterns,
        destination,
        upper,
        [] if instruction.link else lower,
        chown=sources.resolve_chown(chown, lower) if chown else None,
        chmod=sources.parse_chmod(expand(instruction.chmod)) if instruction.chmod else None,
        link=instruction.link,
        add=instruction.add,
        working_dir=working_dir,
    )
