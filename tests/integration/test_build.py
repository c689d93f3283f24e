"""``hybridock build`` (issue 15): real builds on busybox with the CLI, asserting what ran
(BuildKit's plain progress: ``CACHED`` lines), the image's layers and config, failures that
tag nothing and leave nothing under the store's tmp/, secrets kept out of layers, cache
mounts, networks, parallel stages and ``builder prune``."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.sidebyside import our_box
from tests.integration.test_containers import Box
from tests.support.cli import hybridock_command, running_hybridock
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("build")


@pytest.fixture
def context(tmp_path: Path, box: Box) -> Iterator[Path]:
    """A build context; the images tagged ``built/*`` are removed afterwards."""
    directory = tmp_path / "context"
    directory.mkdir()
    yield directory
    for tagged in box.ok("images", "-q", "--no-trunc", "built/*").split():
        box("rmi", "-f", tagged)
    box("builder", "prune", "-a", "-f")


def build(box: Box, context: Path, dockerfile: str, *args: str) -> tuple[int, str]:
    (context / "Dockerfile").write_text(dockerfile)
    result = box("build", "--progress=plain", *args, str(context), timeout=300)
    return result.returncode, result.stderr


def ran(progress: str) -> list[str]:
    """The steps that ran (not CACHED), by their names."""
    names = dict(re.findall(r"^#(\d+) (\[.*)$", progress, re.M))
    cached = set(re.findall(r"^#(\d+) CACHED$", progress, re.M))
    return [
        name for number, name in names.items() if number not in cached and "[internal]" not in name
    ]


def inspect(box: Box, reference: str) -> dict[str, Any]:
    document = json.loads(box.ok("image", "inspect", reference))[0]
    assert isinstance(document, dict)
    return document


def _seen_blobs(box: Box) -> set[str]:
    """The blobs of layers holding /seen (the copy the step made on purpose)."""
    found = set()
    for blob in (box.root / "blobs").rglob("*"):
        if not blob.is_file():
            continue
        try:
            with tarfile.open(blob) as layer:
                if "seen" in layer.getnames():
                    found.add(blob.name)
        except tarfile.TarError:
            continue
    return found


SIMPLE = """\
FROM busybox
ARG GREETING=hi
ENV WHO=world
RUN echo "$GREETING $WHO" && echo made > /made
COPY a.txt /a.txt
RUN cat /a.txt > /copied
CMD ["cat", "/made"]
"""


def test_build_runs_steps_records_config_and_runs(box: Box, context: Path) -> None:
    (context / "a.txt").write_text("hello\n")
    code, progress = build(box, context, SIMPLE, "-t", "built/simple")
    assert code == 0, progress
    assert re.search(r"^#\d+ \d+\.\d+ hi world$", progress, re.M), progress
    assert "[stage-0 4/6] RUN echo" in progress or "RUN echo" in progress
    document = inspect(box, "built/simple")
    config = document["Config"]
    assert config["Cmd"] == ["cat", "/made"]
    assert "WHO=world" in config["Env"]
    assert not any(entry.startswith("GREETING=") for entry in config["Env"])
    base_layers = len(inspect(box, "busybox")["RootFS"]["Layers"])
    assert len(document["RootFS"]["Layers"]) == base_layers + 3
    assert box.ok("run", "--rm", "built/simple").strip() == "made"
    assert box.ok("run", "--rm", "built/simple", "cat", "/copied") == "hello\n"


def test_rebuild_is_all_cached_and_a_touched_file_reruns_from_its_copy(
    box: Box, context: Path
) -> None:
    (context / "a.txt").write_text("hello\n")
    code, first = build(box, context, SIMPLE, "-t", "built/cache")
    assert code == 0, first
    code, again = build(box, context, SIMPLE, "-t", "built/cache")
    assert code == 0, again
    assert ran(again) == [], again  # the base too: BuildKit shows a stored base CACHED
    first_id = inspect(box, "built/cache")["Id"]
    (context / "a.txt").write_text("changed\n")
    code, changed = build(box, context, SIMPLE, "-t", "built/cache")
    assert code == 0, changed
    steps = [name.split("] ", 1)[1] for name in ran(changed) if "] " in name]
    assert steps == [
        "COPY a.txt /a.txt",
        "RUN cat /a.txt > /copied",
    ], changed  # config-only steps (CMD) show no vertex, as BuildKit's
    assert inspect(box, "built/cache")["Id"] != first_id
    code, uncached = build(box, context, SIMPLE, "--no-cache")
    assert code == 0 and "CACHED" not in uncached, uncached


def test_failing_run_names_step_and_code_tags_nothing_leaves_nothing(
    box: Box, context: Path
) -> None:
    code, progress = build(
        box, context, "FROM busybox\nRUN echo x > /x && exit 3\n", "-t", "built/fail"
    )
    assert code == 1
    failed = 'process "/bin/sh -c echo x > /x && exit 3" did not complete successfully'
    assert f"ERROR: failed to solve: {failed}: exit code: 3" in progress
    assert box.ok("images", "-q", "built/fail") == ""
    assert list((box.root / "tmp").iterdir()) == []
    assert str(box.root) not in Path("/proc/self/mountinfo").read_text()


def test_target_and_parallel_stages(box: Box, context: Path) -> None:
    dockerfile = """\
FROM busybox AS one
RUN echo one > /one
FROM busybox AS two
RUN echo two > /two
FROM busybox AS unused
RUN exit 9
FROM busybox
COPY --from=one /one /one
COPY --from=two /two /two
"""
    code, progress = build(box, context, dockerfile, "-t", "built/stages")
    assert code == 0, progress
    assert "exit 9" not in progress
    assert box.ok("run", "--rm", "built/stages", "cat", "/one", "/two") == "one\ntwo\n"
    code, progress = build(box, context, dockerfile, "--target", "two", "-t", "built/two")
    assert code == 0, progress
    assert "[one" not in progress


def test_secret_is_readable_and_in_no_layer(box: Box, context: Path, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-value")
    dockerfile = (
        "FROM busybox\n"
        "RUN --mount=type=secret,id=token cat /run/secrets/token > /seen && ls -l /run/secrets\n"
    )
    code, progress = build(
        box, context, dockerfile, "--secret", f"id=token,src={secret}", "-t", "built/secret"
    )
    assert code == 0, progress
    assert box.ok("run", "--rm", "built/secret", "cat", "/seen") == "s3cret-value"
    # the mount point's directory stays, as docker's BuildKit leaves it; the file does not
    assert box.ok("run", "--rm", "built/secret", "ls", "-A", "/run/secrets") == ""
    for blob in (box.root / "blobs").rglob("*"):
        if not blob.is_file():
            continue
        assert b"s3cret-value" not in blob.read_bytes() or blob.name in _seen_blobs(box)


def test_cache_mount_persists_and_network_none(box: Box, context: Path) -> None:
    first = "FROM busybox\nRUN --mount=type=cache,target=/cache echo 1 >> /cache/count\n"
    second = "FROM busybox\nRUN --mount=type=cache,target=/cache cat /cache/count > /seen\n"
    assert build(box, context, first)[0] == 0
    code, progress = build(box, context, second, "-t", "built/cachemount")
    assert code == 0, progress
    assert box.ok("run", "--rm", "built/cachemount", "cat", "/seen") == "1\n"
    code, progress = build(box, context, "FROM busybox\nRUN --network=none ip -o link | wc -l\n")
    assert code == 0, progress
    assert re.search(r"^#\d+ \d+\.\d+ 1$", progress, re.M), progress


def test_builder_prune_drops_cache_layers(box: Box, context: Path) -> None:
    code, progress = build(box, context, "FROM busybox\nRUN echo pruned > /p\n", "-t", "built/p")
    assert code == 0, progress
    box.ok("rmi", "built/p")
    out = box.ok("builder", "prune", "-a", "-f")
    assert out.startswith("Total:") and out != "Total:\t0B\n", out
    code, progress = build(box, context, "FROM busybox\nRUN echo pruned > /p\n")
    assert "CACHED" not in progress.split("RUN echo pruned", 1)[1]


def test_default_network_is_the_bridge_and_its_lease_goes(box: Box, context: Path) -> None:
    """As docker's builder: a RUN step on the default bridge reaches a container there (no
    traffic leaves the suite's own network namespace); the step's lease is no container's
    and is gone after the build."""
    web = "build-web"
    box.ok(
        "run", "-d", "--name", web, "busybox", "sh", "-c",
        "mkdir /www && echo from-web > /www/index.html && exec httpd -f -p 80 -h /www",
    )  # fmt: skip
    try:
        address = box.ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", web).strip()
        dockerfile = (
            "FROM busybox\n"
            "RUN ip -o -4 addr show eth0 | grep -o 'inet [0-9.]*'\n"
            f"RUN for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O /fetched http://{address}/ && break;"
            " sleep 0.5; done; cat /fetched\n"
        )
        code, progress = build(box, context, dockerfile, "--no-cache")
        assert code == 0, progress
        assert re.search(r"^#\d+ \d+\.\d+ inet 172\.17\.", progress, re.M), progress
        assert re.search(r"^#\d+ \d+\.\d+ from-web$", progress, re.M), progress
    finally:
        box("rm", "-f", web)
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(box.root / "metadata.db") as connection:
        assert connection.execute("SELECT count(*) FROM build_endpoints").fetchone()[0] == 0
    assert web not in box.ok("ps", "-a", "--format", "{{.Names}}")


def test_cache_from_a_pushed_image_runs_no_step(
    box: Box, context: Path, session_registry: Registry
) -> None:
    """``--cache-from`` (BuildKit's inline cache): an image built with
    ``BUILDKIT_INLINE_CACHE=1`` and pushed seeds another store's cache; the keys ride in its
    config, not in its labels."""
    remote = f"{session_registry.address}/built/cachefrom:1"
    (context / "a.txt").write_text("cached\n")
    dockerfile = "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n"
    args = ("-t", remote, "--build-arg", "BUILDKIT_INLINE_CACHE=1")
    code, progress = build(box, context, dockerfile, *args)
    assert code == 0, progress
    assert not (inspect(box, remote)["Config"]["Labels"] or {})
    box.ok("push", remote)
    box.ok("rmi", remote)
    box.ok("builder", "prune", "-a", "-f")
    code, progress = build(box, context, dockerfile, "--cache-from", remote, "-t", "built/cf")
    assert code == 0, progress
    assert ran(progress) == [], progress
    assert box.ok("run", "--rm", "built/cf", "cat", "/b.txt") == "cached\n"
    box("rmi", remote)


def test_cli_forms_of_docker_build(box: Box, context: Path, tmp_path: Path) -> None:
    """``build -`` with a Dockerfile or with a context archive on stdin, ``-f -``, ``-q``,
    ``--iidfile``; a context path that is not there and a Dockerfile with a bad line fail as
    docker's do, the line named once."""
    dockerfile = 'FROM busybox\nCOPY a.txt /a.txt\nCMD ["cat", "/a.txt"]\n'
    (context / "a.txt").write_text("from the archive\n")
    (context / "Dockerfile").write_text(dockerfile)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as packed:
        packed.add(context, arcname=".")
    iidfile = tmp_path / "iid"
    piped = subprocess.run(
        [*hybridock_command(), "build", "-q", "--iidfile", str(iidfile), "-t", "built/stdin", "-"],
        input=archive.getvalue(),
        capture_output=True,
        env=dict(box.env),
        timeout=300,
        check=False,
    )
    assert piped.returncode == 0, piped
    image_id = piped.stdout.decode().strip()
    assert image_id.startswith("sha256:") and iidfile.read_text() == image_id
    assert box.ok("run", "--rm", "built/stdin") == "from the archive\n"

    result = box("build", "-q", "-t", "built/stdin-text", "-", input="FROM busybox\nENV X=1\n")
    assert result.returncode == 0, result
    assert "X=1" in inspect(box, "built/stdin-text")["Config"]["Env"]
    result = box("build", "-q", "-f", "-", "-t", "built/f-dash", str(context), input=dockerfile)
    assert result.returncode == 0, result
    assert box.ok("run", "--rm", "built/f-dash") == "from the archive\n"

    missing = box("build", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert missing.stderr == (
        f'ERROR: unable to prepare context: path "{tmp_path / "nowhere"}" not found\n'
    )
    bad = box("build", "-q", "-f", "-", str(context), input="FROM busybox\nFOO bar\n")
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[-1] == (
        "ERROR: failed to solve: dockerfile parse error on line 2: unknown instruction: FOO"
    )


def test_ctrl_c_stops_the_step_and_leaves_nothing(box: Box, context: Path) -> None:
    """Ctrl-C during a RUN: the step's processes are killed, the build exits 130 saying it was
    canceled, nothing is tagged, nothing is left under tmp/ or mounted."""
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo started && sleep 300\n")
    args = ("build", "--no-cache", "--progress=plain", "-t", "built/interrupted", str(context))
    with running_hybridock(args, env=box.env, stderr=subprocess.STDOUT) as process:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.rstrip().endswith(" started"):
                break
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 130, "".join(seen) + rest
    assert "ERROR: canceled" in rest, rest
    assert box("image", "inspect", "built/interrupted").returncode != 0
    assert not list((box.root / "tmp").iterdir())
    assert str(box.root) not in Path("/proc/self/mountinfo").read_text()


def test_platform_arguments_and_a_foreign_platform(box: Box, context: Path) -> None:
    """BuildKit's predefined platform ARGs (in FROM as they are, in a stage once declared);
    ``FROM --platform`` of the host builds, of another platform fails in one line."""
    dockerfile = (
        "FROM --platform=$BUILDPLATFORM busybox AS build\n"
        "ARG TARGETARCH\n"
        "ARG TARGETPLATFORM\n"
        'RUN echo "$TARGETPLATFORM $TARGETARCH" > /platform\n'
    )
    code, progress = build(box, context, dockerfile, "-t", "built/platform")
    assert code == 0, progress
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    shown = box.ok("run", "--rm", "built/platform", "cat", "/platform")
    assert shown == f"linux/{machine} {machine}\n"
    code, progress = build(box, context, "FROM --platform=linux/s390x busybox\nRUN true\n")
    assert code == 1
    assert progress.splitlines()[-1] == (
        f"ERROR: failed to solve: failed to solve for platform linux/s390x: hybridock builds"
        f" for linux/{machine} only (no emulation of other platforms)"
    ), progress


def test_system_df_counts_the_cache_and_system_prune_drops_it(box: Box, context: Path) -> None:
    """As docker's: ``system df`` has a Build Cache row, ``system prune`` removes the cache
    no image uses."""
    dockerfile = "FROM busybox\nRUN head -c 300000 /dev/zero > /z\n"
    code, progress = build(box, context, dockerfile, "--no-cache", "-t", "built/df")
    assert code == 0, progress
    box.ok("rmi", "built/df")  # now only the cache keeps its layer
    rows = [line.split() for line in box.ok("system", "df").splitlines()]
    cache = next(row for row in rows if row[:2] == ["Build", "Cache"])
    assert int(cache[2]) >= 1 and cache[4].endswith("kB"), rows
    pruned = box.ok("system", "prune", "-f")
    assert "Total reclaimed space:" in pruned and "0B" not in pruned.splitlines()[-1], pruned
    rows = [line.split() for line in box.ok("system", "df").splitlines()]
    assert next(row for row in rows if row[:2] == ["Build", "Cache"])[2:5] == ["0", "0", "0B"]


def test_an_unknown_network_mode_is_refused(box: Box, context: Path) -> None:
    code, progress = build(box, context, "FROM busybox\nRUN true\n", "--network", "mynet")
    assert code == 1
    assert progress.splitlines()[-1] == (
        'ERROR: failed to solve: network mode "mynet" not supported by buildkit'
    )


def test_pull_resolves_the_base_again(box: Box, context: Path) -> None:
    """``--pull``: the base is asked of its registry even when stored (no CACHED base)."""
    dockerfile = "FROM busybox\nRUN echo pulled > /p\n"
    code, progress = build(box, context, dockerfile)
    assert code == 0, progress
    assert re.search(r"^#2 CACHED$", progress, re.M), progress
    code, progress = build(box, context, dockerfile, "--pull")
    assert code == 0, progress
    assert not re.search(r"^#2 CACHED$", progress, re.M), progress
    assert re.search(r"^#3 CACHED$", progress, re.M), progress  # same base: the step is kept
