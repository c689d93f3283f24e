"""OCI runtimes side by side (issue 16): hybridock-runtime, runc and crun.

- ``bundle_lifecycle``: ``create`` + ``start`` + ``delete --force`` of a ready bundle (the
  busybox image's rootfs, ``crun spec``'s config running ``true``), the three commands in one
  ``sh -c`` per run, every runtime in the same mount namespace: on a hybrid cgroup host one
  where the cgroup2 mount is hidden (crun refuses hybrid cgroups), entered with ``nsenter``.
- ``ctr_run``: ``ctr run --rm`` of busybox ``true`` through a private containerd
  (tests/support/containerd.py) and its runc shim, ``--runc-binary`` each runtime; on a hybrid
  host each behind the same wrapper that hides cgroup2 for the one call (tests/support/
  ociruntime.py), so that every runtime pays that cost.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from tests.support.cleanup import remove_tree
from tests.support.containerd import Containerd
from tests.support.ociruntime import OciRuntime, all_runtimes, hybrid_cgroup2_mounts, wrapper

from comparison.bench import Bench
from comparison.peers import Processes, hidden_cgroup2_namespace, namespace_prefix
from comparison.runner import Contender, Row, alternate, failed_row, run_command
from comparison.tools import make_crun_bundle

BASELINE = "hybridock-runtime"


def _present(workload: str) -> tuple[list[OciRuntime], list[Row]]:
    present, missing = [], []
    for runtime in all_runtimes():
        if runtime.present:
            present.append(runtime)
        else:
            missing.append(
                failed_row(workload, runtime.name, f"no {runtime.name} at {runtime.path}")
            )
    return present, missing


def _busybox_bundle(work: Path, bench: Bench) -> Path:
    layer = work / "busybox.tar.gz"
    layer.parent.mkdir(parents=True, exist_ok=True)
    layer.write_bytes(bench.images.busybox.layers[0].data)
    return make_crun_bundle(work / "bundle", layer, ["true"])


def bundle_lifecycle(bench: Bench) -> list[Row]:
    workload = "OCI runtime: create + start + delete, ready bundle"
    work = bench.work / "ociruntime"
    present, missing = _present(workload)
    processes = Processes()
    try:
        bundle = _busybox_bundle(work, bench)
        work.mkdir(parents=True, exist_ok=True)
        prefix = namespace_prefix(hidden_cgroup2_namespace(processes, work / "holder.log"))

        def lifecycle(runtime: OciRuntime) -> None:
            name = f"bench-{time.monotonic_ns()}"
            runtime_command = shlex.join([str(runtime.path), "--root", str(work / runtime.name)])
            script = (
                f"{runtime_command} create --bundle {shlex.quote(str(bundle))} {name}"
                f" && {runtime_command} start {name}"
                f" && {runtime_command} delete --force {name}"
            )
            run_command([*prefix, "sh", "-c", script])

        note = "nsenter into a namespace without cgroup2 (all runtimes)" if prefix else ""
        contenders = [
            Contender(
                runtime.name,
                action=lambda runtime=runtime: lifecycle(runtime),  # type: ignore[misc]
                note=note,
                baseline=runtime.name == BASELINE,
            )
            for runtime in present
        ]
        return alternate(workload, contenders, bench.fast_rounds) + missing
    finally:
        processes.stop_all()
        remove_tree(work)


def ctr_run(bench: Bench) -> list[Row]:
    workload = "OCI runtime: ctr run --rm busybox true (containerd 1.6)"
    work = bench.work / "ociruntime-containerd"
    present, missing = _present(workload)
    containerd = Containerd(work / "containerd")
    try:
        containerd.start()
        reference = containerd.pull_reference(bench.images.reference("busybox"))
        wrappers = {
            runtime.name: wrapper(work / "bin" / runtime.name, runtime, hide_cgroup2=True)
            for runtime in present
        }

        def run(runtime: OciRuntime) -> None:
            name = f"bench-{time.monotonic_ns()}"
            binary = str(wrappers[runtime.name])
            run_command(
                containerd.command("run", "--rm", "--runc-binary", binary, reference, name, "true")
            )

        contenders = [
            Contender(
                runtime.name,
                action=lambda runtime=runtime: run(runtime),  # type: ignore[misc]
                note=(
                    "behind a wrapper hiding cgroup2 (unshare + umount, all runtimes)"
                    if hybrid_cgroup2_mounts()
                    else ""
                ),
                baseline=runtime.name == BASELINE,
            )
            for runtime in present
        ]
        return alternate(workload, contenders, bench.fast_rounds) + missing
    finally:
        containerd.stop()
        remove_tree(work)
