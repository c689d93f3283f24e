"""The edges of ``run`` a new user meets first (issue 10): a reader that goes away, a stdin
that is not a terminal, no root, host paths for -v/--mount, and error lines without a daemon.

Uses the container tests' store (busybox pulled from the session registry).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_containers import Box, box, name
from tests.support.cli import base_environment, hybridock_command, run_hybridock
from tests.support.registry import Registry

__all__ = ["box", "name"]  # fixtures shared with the container tests

pytestmark = [pytest.mark.root, pytest.mark.registry]

#: a user without privileges (``setpriv`` switches to it; it need not exist in /etc/passwd)
UNPRIVILEGED = ("setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups")
NOT_ROOT = "Error: running containers needs root (rootless containers are not supported yet)\n"


# --- the reader of our output goes away --------------------------------------------------------


def read_then_close(box: Box, lines: int, *args: str) -> tuple[list[bytes], int, bytes]:
    """Run the CLI, read ``lines`` lines of its output and close the pipe, as ``| head``
    does; returns (the lines, the exit code, what it wrote on stderr)."""
    process = subprocess.Popen(
        [*hybridock_command(), *args],
        env=box.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        read = [process.stdout.readline() for _ in range(lines)]
        process.stdout.close()
        errors = process.stderr.read()
        return read, process.wait(timeout=120), errors
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def test_run_rm_ends_and_removes_when_the_output_pipe_closes(box: Box, name: str) -> None:
    read, code, errors = read_then_close(
        box, 1, "run", "--rm", "--init", "--name", name, "busybox", "seq", "1000000"
    )
    # seq's next write fails as in a shell pipeline: it dies of SIGPIPE, 128 + 13, which is
    # the container's code and ours (with --init: the kernel spares a namespace's pid 1)
    assert (read, code, errors) == ([b"1\n"], 141, b"")
    assert box.ok("ps", "-aq", "--filter", f"name={name}") == ""


def test_run_rm_of_a_pid_1_that_sees_the_broken_pipe(box: Box, name: str) -> None:
    read, code, _ = read_then_close(box, 2, "run", "--rm", "--name", name, "busybox", "yes")
    # pid 1 gets EPIPE instead of SIGPIPE: busybox's yes reports it and exits 1
    assert (read, code) == ([b"y\n", b"y\n"], 1)
    assert box.ok("ps", "-aq", "--filter", f"name={name}") == ""


def test_the_container_goes_on_after_its_output_pipe_closes(box: Box, name: str) -> None:
    script = 'seq 1000000; echo "seq: $?" >&2; exit 7'
    read, code, errors = read_then_close(
        box, 1, "run", "--name", name, "busybox", "sh", "-c", script
    )
    assert (read, code, errors) == ([b"1\n"], 7, b"seq: 141\n")
    state = box.inspect(name)["State"]
    assert isinstance(state, dict)
    assert (state["Status"], state["ExitCode"]) == ("exited", 7)


# --- -it without a terminal --------------------------------------------------------------------


def test_interactive_tty_needs_a_terminal_on_stdin(box: Box, name: str) -> None:
    refused = box("run", "-it", "--name", name, "busybox", "sh", input="\n")
    assert (refused.returncode, refused.stderr) == (1, "Error: the input device is not a TTY\n")
    assert box.ok("ps", "-aq", "--filter", f"name={name}") == ""  # nothing was created
    # docker asks for a terminal only for -i and -t together, and not with -d
    assert box.ok("run", "--rm", "-t", "busybox", "echo", "ok", input="\n").strip() == "ok"
    box.ok("run", "-dit", "--name", name, "busybox", "sh")
    refused = box("exec", "-it", name, "sh", input="\n")
    assert (refused.returncode, refused.stderr) == (1, "Error: the input device is not a TTY\n")
    assert box.ok("exec", "-t", name, "echo", "ok", input="\n").strip() == "ok"


# --- without root ------------------------------------------------------------------------------


@pytest.fixture
def unprivileged_store(session_registry: Registry) -> Iterator[tuple[Path, dict[str, str]]]:
    """A store and a home owned by uid 1000 (outside pytest's root-only temp directories),
    with the session registry as docker.io's mirror."""
    top = Path(tempfile.mkdtemp(prefix="hybridock-unprivileged-"))
    try:
        top.chmod(0o755)
        config = top / "config.json"
        config.write_text(
            json.dumps(
                {
                    "registry-mirrors": {"docker.io": [session_registry.url]},
                    "insecure-registries": [session_registry.address],
                }
            )
        )
        for directory in (top / "store", top / "home"):
            directory.mkdir()
            os.chown(directory, 1000, 1000)
        env = {
            **base_environment(),
            "HOME": str(top / "home"),
            "HYBRIDOCK_ROOT": str(top / "store"),
            "HYBRIDOCK_CONFIG": str(config),
            "NO_COLOR": "1",
        }
        yield top / "store", env
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("run", "busybox", "true"), id="run"),
        pytest.param(("run", "-d", "busybox", "true"), id="run-d"),
        pytest.param(("create", "busybox", "true"), id="create"),
        pytest.param(("start", "some-container"), id="start"),
        pytest.param(("exec", "some-container", "true"), id="exec"),
    ],
)
def test_without_root_nothing_is_created(
    unprivileged_store: tuple[Path, dict[str, str]], args: tuple[str, ...]
) -> None:
    store, env = unprivileged_store
    result = subprocess.run(
        [*UNPRIVILEGED, *hybridock_command(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stderr) == (125, NOT_ROOT), result
    assert not (store / "containers").exists() or not any((store / "containers").iterdir())


#: the Python API's ways to create a container, each run as a user without privileges
API_WITHOUT_ROOT = """
import sys
import hybridock
from hybridock.errors import NotPermitted

with hybridock.Client() as client:
    try:
        getattr(client, sys.argv[1])("busybox")
    except NotPermitted as error:
        print(error)
"""


@pytest.mark.parametrize("method", ["run", "run_detached", "create_container"])
def test_the_api_without_root_creates_nothing(
    box: Box, unprivileged_store: tuple[Path, dict[str, str]], method: str
) -> None:
    """As the CLI (above): refused before anything is pulled or recorded (``box`` has put
    busybox in the session registry, so a pull would succeed)."""
    store, env = unprivileged_store
    result = subprocess.run(
        [*UNPRIVILEGED, sys.executable, "-c", API_WITHOUT_ROOT, method],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, NOT_ROOT.removeprefix("Error: ")), result
    assert not (store / "containers").exists() or not any((store / "containers").iterdir())


# --- host paths: -v and --mount ----------------------------------------------------------------


def test_volume_with_a_relative_host_path(box: Box, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "f").write_text("hi\n")
    args = ["run", "--rm", "-v", "./docs:/d:ro", "busybox", "cat", "/d/f"]
    result = run_hybridock(args, env=box.env, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "hi\n"), str(result)


def test_volume_creates_a_missing_host_directory(box: Box, tmp_path: Path) -> None:
    missing = tmp_path / "made" / "here"
    out = box.ok("run", "--rm", "-v", f"{missing}:/d", "busybox", "stat", "-c", "%u %a", "/d")
    assert out == "0 755\n"
    for made in (missing, missing.parent):
        status = made.stat()
        assert (status.st_uid, stat.S_IMODE(status.st_mode)) == (0, 0o755)


def test_a_bad_volume_name_is_refused_in_dockers_words(box: Box) -> None:
    result = box("run", "--rm", "-v", "bad/name:/d", "busybox", "true")
    assert result.returncode == 125
    assert result.stderr == (
        'Error: create bad/name: "bad/name" includes invalid characters for a local volume'
        ' name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host'
        " directory, use absolute path\n"
    )


def test_mount_bind_and_tmpfs(box: Box, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("hi\n")
    script = "cat /d/f; touch /d/g || echo read-only; grep ' /t ' /proc/mounts"
    out = box.ok(
        "run",
        "--rm",
        "--mount",
        f"type=bind,src={tmp_path},dst=/d,readonly,bind-propagation=rprivate",
        "--mount",
        "type=tmpfs,destination=/t,tmpfs-size=1m",
        "busybox",
        "sh",
        "-c",
        script,
    )
    lines = out.splitlines()
    assert lines[:2] == ["hi", "read-only"]
    assert "nosuid,nodev,noexec" in lines[2] and "size=1024k" in lines[2]
    relative = ["run", "--rm", "--mount", "type=bind,source=.,target=/d", "busybox", "cat", "/d/f"]
    assert run_hybridock(relative, env=box.env, cwd=tmp_path).stdout == "hi\n"


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        pytest.param(
            "type=bind,source=/missing,target=/d",
            'invalid mount config for type "bind": bind source path does not exist: /missing',
            id="missing-source",
        ),
        pytest.param(
            "type=bind,target=/d",
            'invalid mount config for type "bind": field Source must not be empty',
            id="no-source",
        ),
        pytest.param(
            "type=bind,source=/tmp",
            'invalid argument "type=bind,source=/tmp" for "--mount" flag: target is required',
            id="no-target",
        ),
        pytest.param(
            "type=bind,source=/tmp,target=/d,bogus=1",
            'invalid argument "type=bind,source=/tmp,target=/d,bogus=1" for "--mount" flag:'
            " unexpected key 'bogus' in 'bogus=1'",
            id="unknown-key",
        ),
        pytest.param(
            "type=volume,source=data,target=/d,volume-driver=nfs",
            'invalid mount config for type "volume": volume drivers other than local are not'
            " supported",
            id="volume-driver",
        ),
    ],
)
def test_mount_refusals(box: Box, name: str, mount: str, message: str) -> None:
    result = box("run", "--rm", "--name", name, "--mount", mount, "busybox", "true")
    assert (result.returncode, result.stderr) == (125, f"Error: {message}\n"), str(result)
    assert box.ok("ps", "-aq", "--filter", f"name={name}") == ""
    assert not Path("/missing").exists()


# --- error lines ---------------------------------------------------------------------------------


def test_errors_are_docker_bodies_without_a_daemon(box: Box, name: str) -> None:
    box.ok("create", "--name", name, "busybox", "true")
    removed = box("rm", "no-such-a", name, "no-such-b")
    assert (removed.returncode, removed.stdout) == (1, f"{name}\n")
    assert (
        removed.stderr
        == "Error: No such container: no-such-a\nError: No such container: no-such-b\n"
    )
    started = box("start", "no-such-a")
    assert (started.returncode, started.stderr) == (
        1,
        "Error: No such container: no-such-a\nError: failed to start containers: no-such-a\n",
    )
    executed = box("exec", "no-such-a", "true")
    assert (executed.returncode, executed.stderr) == (1, "Error: No such container: no-such-a\n")
    missing_image = box("run", "--rm", "--pull", "never", "no-such-image", "true")
    assert (missing_image.returncode, missing_image.stderr) == (
        125,
        "Error: No such image: no-such-image:latest\n",  # as docker reads the name
    )


def test_a_missing_working_directory_is_made_at_start(box: Box, name: str) -> None:
    """docker makes a missing working directory (``-w`` or the image's WORKDIR) at start,
    owned by root, 0755, whoever the user is; a path through a file fails the start."""
    script = "pwd; stat -c '%U %a' /srv/new/deep"
    shown = box.ok("run", "--name", name, "-u", "nobody", "-w", "/srv/new/deep", "busybox",
                   "sh", "-c", script)  # fmt: skip
    assert shown == "/srv/new/deep\nroot 755\n"
    assert box.ok("start", "-a", name) == shown  # made once, there on a restart
    blocked = box("run", "--rm", "-w", "/etc/passwd/x", "busybox", "true")
    assert blocked.returncode == 125, blocked  # docker: the daemon refused the start
    assert "not a directory" in blocked.stderr, blocked
