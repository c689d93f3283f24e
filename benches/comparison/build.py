"""``build`` of the realistic multi-stage Dockerfile (issue 15; tests/support/buildcorpus.py's
``realistic_case``: ``make`` with gcc in a base of Debian's packages, the static binary copied
into busybox), cold and rebuilt with nothing changed, beside ``DOCKER_BUILDKIT=1 docker build``
(the private dockerd 20.10) and ``buildah bud`` (rootful, a private root, ``--isolation
chroot``, ``--layers`` so that it caches steps at all).

The gcc base image is built from this machine's packages (tests/support/debimages.py, cached
under the work directory) and pushed to the bench registry with busybox; each tool pulls both
untimed. A cold build runs with ``--no-cache`` after its tool's step cache and the previous
image were removed (untimed); a rebuild runs after one untimed build, so every step is cached.
Docker and hybridock run their RUN steps with ``--network none``; buildah's chroot isolation
allows only ``--network host`` (the comparison's own namespace: loopback alone).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from tests.support.buildcorpus import realistic_case, write_context
from tests.support.cleanup import remove_tree, unmount_under
from tests.support.debimages import DebianImageBuilder, gcc_image
from tests.support.images import push

from comparison.bench import Bench
from comparison.runner import CommandFailed, Contender, Row, alternate, failed_row, run_command

TAG = "compare/built:latest"
COLD = "build, multi-stage gcc image, no cache"
REBUILD = "build, multi-stage gcc image, nothing changed"


def _quietly(action: Callable[[], object]) -> None:
    with contextlib.suppress(CommandFailed):
        action()


class Buildah:
    """``buildah`` with a private root under the work directory (never the host's store)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        registries = workdir / "registries.conf"
        registries.write_text("unqualified-search-registries = []\n")
        self.env = {**os.environ, "CONTAINERS_REGISTRIES_CONF": str(registries)}

    def run(self, *args: str, capture: bool = False, timeout: float = 900) -> str:
        command = [
            "buildah",
            f"--root={self.workdir / 'root'}",
            f"--runroot={self.workdir / 'runroot'}",
            "--storage-driver=overlay",
            *args,
        ]
        return run_command(command, env=self.env, capture=capture, timeout=timeout)

    def bud(self, context: Path, *flags: str) -> str:
        return self.run(
            "bud", "--quiet", "--isolation=chroot", "--network=host", "--layers",
            "--tls-verify=false", *flags, "-t", TAG, str(context),
        )  # fmt: skip

    def stop(self) -> None:
        _quietly(lambda: self.run("rmi", "--all", "--force"))
        unmount_under(self.workdir)
        remove_tree(self.workdir)


def _context(bench: Bench) -> Path:
    """The realistic Dockerfile's context, its bases pushed to the bench registry (cached)."""
    registry = bench.images.registry
    builder = DebianImageBuilder(bench.work / "cache" / "debian-layers")
    push(builder.image(gcc_image()).build("oci"), registry, "bench/gcc", "latest")
    case = realistic_case(bench.images.reference("gcc"), bench.images.reference("busybox"))
    return write_context(case, bench.work / "build-context")


def _contenders(bench: Bench, context: Path, *, cold: bool) -> tuple[list[Contender], list[Row]]:
    workload = COLD if cold else REBUILD
    bases = (bench.images.reference("gcc"), bench.images.reference("busybox"))
    no_cache = ("--no-cache",) if cold else ()
    contenders: list[Contender] = []
    missing: list[Row] = []

    hybridock = bench.hybridock

    def ours_fresh() -> None:
        _quietly(lambda: hybridock.run("build", "rmi", TAG))
        _quietly(lambda: hybridock.run("build", "builder", "prune", "-a", "-f"))

    try:
        for base in bases:
            hybridock.pull_for_setup("build", base)
        contenders.append(
            Contender(
                "hybridock",
                action=lambda: hybridock.run(
                    "build", "build", "-q", "--network=none", *no_cache, "-t", TAG, str(context)
                ),
                prepare=ours_fresh if cold else (lambda: None),
            )
        )
    except CommandFailed as error:
        missing.append(failed_row(workload, "hybridock", error))

    if bench.docker is not None:
        docker = bench.docker
        environment = {**docker.env, "DOCKER_BUILDKIT": "1"}

        def docker_build() -> None:
            run_command(
                docker.command("build", "-q", "--network=none", *no_cache, "-t", TAG,
                               str(context)),
                env=environment,
            )  # fmt: skip

        def docker_fresh() -> None:
            _quietly(lambda: docker.run("rmi", TAG))
            _quietly(lambda: docker.run("builder", "prune", "-af"))

        try:
            for base in bases:
                docker.run("pull", "-q", base)
            contenders.append(
                Contender(
                    "docker",
                    action=docker_build,
                    prepare=docker_fresh if cold else (lambda: None),
                    note="DOCKER_BUILDKIT=1 (dockerd 20.10's BuildKit)",
                )
            )
        except CommandFailed as error:
            missing.append(failed_row(workload, "docker", error))
    else:
        missing.append(bench.missing(workload, "docker"))

    buildah = Buildah(bench.work / "buildah")
    try:
        for base in bases:
            buildah.run("pull", "--quiet", "--tls-verify=false", base)

        def buildah_fresh() -> None:
            _quietly(lambda: buildah.run("rmi", "--force", TAG))
            _quietly(lambda: buildah.run("rmi", "--prune"))

        contenders.append(
            Contender(
                "buildah",
                action=lambda: buildah.bud(context, *no_cache),
                prepare=buildah_fresh if cold else (lambda: None),
                note="buildah bud --isolation=chroot --layers (chroot allows only --network=host)",
            )
        )
    except (CommandFailed, FileNotFoundError) as error:
        missing.append(failed_row(workload, "buildah", error))
    return contenders, missing


def _build(bench: Bench, *, cold: bool) -> list[Row]:
    context = _context(bench)
    contenders, missing = _contenders(bench, context, cold=cold)
    try:
        return alternate(COLD if cold else REBUILD, contenders, bench.rounds) + missing
    finally:
        _quietly(lambda: bench.hybridock.run("build", "rmi", TAG))
        bench.hybridock.empty("build")
        if bench.docker is not None:
            _quietly(lambda: bench.docker.run("rmi", TAG))  # type: ignore[union-attr]
            _quietly(lambda: bench.docker.run("builder", "prune", "-af"))  # type: ignore[union-attr]
        Buildah(bench.work / "buildah").stop()


def build_cold(bench: Bench) -> list[Row]:
    return _build(bench, cold=True)


def build_rebuild(bench: Bench) -> list[Row]:
    return _build(bench, cold=False)
