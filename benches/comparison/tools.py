"""hybridock as a user runs it (the venv's console script, a store and a config of its own),
the plain-tool baselines (skopeo + umoci, pigz | tar, a ready crun bundle, unshare + chroot),
and the small helpers the workloads share: PSS, registry access-log counts.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tests.support.cleanup import remove_tree
from tests.support.cli import base_environment

from comparison.runner import CommandFailed, Contender, run_command

# One interpreter running ``hybridock create IMAGE`` N times through the click command itself.
_CREATE_MANY = """
import sys
from hybridock.cli.main import main
count, arguments = int(sys.argv[1]), sys.argv[2:]
for _ in range(count):
    try:
        main(["create", *arguments], prog_name="hybridock")
    except SystemExit as exit:
        if exit.code:
            raise
"""

_ACCESS = re.compile(r'^\S+ - \S+ \[[^]]+\] "(?P<method>[A-Z]+) (?P<path>\S+) HTTP')


def python_environment() -> dict[str, str]:
    """The environment hybridock and the interpreter floor run in: no HYBRIDOCK_/DOCKER_
    variables, and bytecode caching allowed (as for any installed package)."""
    environment = base_environment()
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


def interpreter_floors() -> list[Contender]:
    """What any Python command pays before its own work, in hybridock's interpreter and
    environment: the interpreter's start and exit alone, and with click (hybridock's CLI
    framework) imported."""
    return [
        Contender(
            f"python -c {code!r}",
            action=lambda code=code: run_command(  # type: ignore[misc]
                [sys.executable, "-c", code], env=python_environment()
            ),
            note=note,
        )
        for code, note in (
            ("import click", "the interpreter's start with click"),
            ("pass", "the interpreter's start"),
        )
    ]


def precompile_hybridock() -> None:
    """Compile the installed hybridock package's bytecode once, before anything is timed."""
    found = run_command(
        [sys.executable, "-c", "import hybridock, os; print(os.path.dirname(hybridock.__file__))"],
        capture=True,
    ).strip()
    run_command([sys.executable, "-m", "compileall", "-q", found], timeout=300)


class Hybridock:
    """The installed ``hybridock`` console script with a config naming the bench registry."""

    def __init__(self, workdir: Path, registry: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "config.json"
        config.write_text(json.dumps({"insecure-registries": [registry]}) + "\n")
        sequential = workdir / "config-sequential.json"
        sequential.write_text(
            json.dumps({"insecure-registries": [registry], "max-concurrent-downloads": 1}) + "\n"
        )
        # An installed wheel has its bytecode compiled; an editable install under an environment
        # with PYTHONDONTWRITEBYTECODE=1 would compile every module on every command instead.
        environment = python_environment()
        self.base_env = {**environment, "HYBRIDOCK_CONFIG": str(config), "NO_COLOR": "1"}
        self.sequential_env = {**self.base_env, "HYBRIDOCK_CONFIG": str(sequential)}
        precompile_hybridock()
        beside = Path(sys.executable).with_name("hybridock")
        found = str(beside) if beside.exists() else shutil.which("hybridock")
        if found is None:
            raise FileNotFoundError("the hybridock console script is not installed")
        self.executable = found

    def store(self, name: str) -> Path:
        return self.workdir / name

    def env(self, store: str, *, sequential: bool = False) -> dict[str, str]:
        base = self.sequential_env if sequential else self.base_env
        return {**base, "HYBRIDOCK_ROOT": str(self.store(store))}

    def command(self, *args: str) -> list[str]:
        return [self.executable, *args]

    def run(
        self,
        store: str,
        *args: str,
        capture: bool = False,
        timeout: float = 900,
        sequential: bool = False,
    ) -> str:
        return run_command(
            self.command(*args),
            env=self.env(store, sequential=sequential),
            capture=capture,
            timeout=timeout,
        )

    def pull_for_setup(self, store: str, reference: str) -> None:
        """An untimed pull that fills a store; a failure fails the workload, loudly."""
        self.run(store, "pull", "-q", reference)

    def create_containers(self, store: str, count: int, workers: int, *arguments: str) -> None:
        """``hybridock create ARGUMENTS...``, ``count`` times: the CLI's own code (click command,
        client, store), run in ``workers`` interpreters instead of one process per container,
        which only adds the interpreter's start (the ps workload times ``ps -a``, not this)."""
        per_worker = [count // workers + (index < count % workers) for index in range(workers)]
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _CREATE_MANY, str(number), *arguments],
                env=self.env(store),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for number in per_worker
            if number
        ]
        failures = []
        for process in processes:
            _, stderr = process.communicate()
            if process.returncode != 0:
                failures.append(stderr.decode(errors="replace").strip()[-300:])
        if failures:
            raise CommandFailed(f"hybridock create: {failures[0]}")

    def empty(self, store: str) -> None:
        remove_tree(self.store(store))


def remove(*paths: Path) -> None:
    for path in paths:
        remove_tree(path)


def skopeo_umoci_pull(reference: str, work: Path) -> None:
    """``skopeo copy docker://ref oci:DIR`` then ``umoci unpack``: a ready bundle."""
    layout, bundle = work / "layout", work / "bundle"
    work.mkdir(parents=True, exist_ok=True)
    run_command(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{reference}",
            f"oci:{layout}:latest",
        ]
    )
    run_command(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)])


def fetch_blob(registry: str, repository: str, digest: str, target: Path) -> None:
    url = f"http://{registry}/v2/{repository}/blobs/{digest}"
    with urllib.request.urlopen(url, timeout=300) as response, target.open("wb") as output:
        shutil.copyfileobj(response, output, 1 << 20)


def decompress_and_untar(decompressor: Sequence[str], blob: Path, root: Path) -> None:
    """``decompressor blob | tar -x -C root``, as two processes joined by a pipe."""
    root.mkdir(parents=True, exist_ok=True)
    with subprocess.Popen([*decompressor, str(blob)], stdout=subprocess.PIPE) as producer:
        result = subprocess.run(
            ["tar", "-x", "-C", str(root)], stdin=producer.stdout, capture_output=True, check=False
        )
        if producer.stdout is not None:
            producer.stdout.close()
    if producer.returncode != 0 or result.returncode != 0:
        raise CommandFailed(
            f"{decompressor[0]} | tar -x: {result.stderr.decode(errors='replace')[-300:]}"
        )


def fetch_and_untar(
    registry: str, repository: str, digests: Sequence[str], decompressor: Sequence[str], work: Path
) -> None:
    """The floor of a pull: every layer fetched, then decompressed and untarred in order."""
    work.mkdir(parents=True, exist_ok=True)
    blobs = []
    for index, digest in enumerate(digests):
        blob = work / f"layer{index}"
        fetch_blob(registry, repository, digest, blob)
        blobs.append(blob)
    for blob in blobs:
        decompress_and_untar(decompressor, blob, work / "rootfs")


def make_crun_bundle(bundle: Path, rootfs_tar_blob: Path, args: Sequence[str]) -> Path:
    """A ready OCI bundle: the image's rootfs and ``crun spec``'s config running ``args``."""
    remove_tree(bundle)
    decompress_and_untar(["pigz", "-dc"], rootfs_tar_blob, bundle / "rootfs")
    run_command(["crun", "spec"], cwd=bundle)
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["args"] = list(args)
    config["process"]["terminal"] = False
    config["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
    ]
    config["root"] = {"path": "rootfs", "readonly": True}
    config_path.write_text(json.dumps(config, indent=2))
    return bundle


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def parent_pid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise RuntimeError(f"no PPid in /proc/{pid}/status")


def process_name(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


class AccessLog:
    """Requests a registry served, read from its access log between two marks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def since_mark(self) -> dict[str, int]:
        with self.path.open("rb") as stream:
            stream.seek(self.offset)
            text = stream.read().decode(errors="replace")
        kinds: Counter[str] = Counter()
        for line in text.splitlines():
            if match := _ACCESS.match(line):
                path = match["path"]
                kind = (
                    "manifest"
                    if "/manifests/" in path
                    else "blob"
                    if "/blobs/" in path
                    else "other"
                )
                if path.rstrip("/") == "/v2":
                    kind = "ping"
                kinds[f"{match['method']} {kind}"] += 1
        return dict(sorted(kinds.items()))
