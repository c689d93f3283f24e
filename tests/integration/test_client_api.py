"""``hybridock.Client`` as a library user has it: a Python program of their own, real containers.

Each program runs in its own interpreter (as a user's script would, and so that the forks of a
detached start never copy pytest's threads), against the test's store and registry through
``HYBRIDOCK_ROOT`` and ``HYBRIDOCK_CONFIG``. The README's own example is run as it is written.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.cli import run_hybridock
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

README = Path(__file__).parents[2] / "README.md"


def python_example(section: str) -> str:
    """The first ```python block of the README section headed ``section``."""
    text = README.read_text()
    start = text.index(f"\n## {section}\n")
    found = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL)
    assert found is not None, f"README.md has no python example under '## {section}'"
    return found.group(1)


@pytest.fixture
def user_program(
    make_hybridock_env: Callable[..., dict[str, str]],
    registry: Registry,
    image_builder: object,
    tmp_path: Path,
) -> Iterator[Callable[[str], subprocess.CompletedProcess[str]]]:
    """``user_program(source)``: runs ``source`` as a user's script; afterwards no container
    of the test's store is left (the store itself is the ``hybridock_root`` fixture's)."""
    image_builder.publish_library(registry)  # type: ignore[attr-defined]
    env = make_hybridock_env(registry)

    def run(source: str) -> subprocess.CompletedProcess[str]:
        script = tmp_path / "program.py"
        script.write_text(textwrap.dedent(source))
        return subprocess.run(
            [sys.executable, str(script)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    yield run
    left = run_hybridock(["ps", "-aq", "--no-trunc"], env=env).stdout.split()
    for container_id in left:
        run_hybridock(["rm", "-f", container_id], env=env)


def test_readme_python_example_runs(
    user_program: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    example = python_example("Python API")
    result = user_program(example)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # what the example's comments say a print shows, it shows
    promised = re.findall(r"^\s*print\(.*\)\s+# (.+)$", example, re.MULTILINE)
    printed = result.stdout.splitlines()
    assert [line for line in promised if line not in printed] == [], result.stdout


def test_run_returns_exit_code_and_captured_streams(
    user_program: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    result = user_program(
        """
        import json
        import hybridock

        with hybridock.Client() as client:
            result = client.run("busybox", ["sh", "-c", "echo out; echo err >&2; exit 3"])
            kept = client.container(result.container_id)
            removed = client.run("busybox", ["echo", "hi"], remove=True)
            print(json.dumps({
                "code": result.exit_code,
                "stdout": result.stdout.decode(),
                "stderr": result.stderr.decode(),
                "kept": [kept.state, kept.exit_code],
                "removed": [removed.exit_code, removed.stdout.decode()],
                "left": [c.id for c in client.list_containers(all_states=True)],
            }))
        """
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert (seen["code"], seen["stdout"], seen["stderr"]) == (3, "out\n", "err\n")
    assert seen["kept"] == ["exited", 3]
    assert seen["removed"] == [0, "hi\n"]
    assert len(seen["left"]) == 1  # the first one; remove=True took the second away


def test_detached_run_wait_logs_remove(
    user_program: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    result = user_program(
        """
        import json
        import hybridock

        with hybridock.Client() as client:
            container = client.run_detached(
                "busybox", ["sh", "-c", "echo started; exec sleep 300"], name="api-detached"
            )
            running = container.state
            first = next(client.logs(container, follow=True))  # once it has said something
            client.kill(container)
            code = client.wait("api-detached")
            lines = [(stream, text) for stream, _, text in client.logs(container)]
            client.remove_container(container)
            print(json.dumps({
                "running": running,
                "first": first[2],
                "code": code,
                "lines": lines,
                "left": [c.name for c in client.list_containers(all_states=True)],
            }))
        """
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert (seen["running"], seen["first"]) == ("running", "started\n")
    assert seen["code"] == 137  # 128 + SIGKILL
    assert seen["lines"] == [["stdout", "started\n"]]
    assert seen["left"] == []


def test_errors_are_hybridock_errors_not_crashes(
    user_program: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    result = user_program(
        """
        import hybridock

        client = hybridock.Client()
        for attempt in (
            lambda: client.run("busybox", ["/no/such/program"], remove=True),
            lambda: client.run("busybox", "echo hi"),
            lambda: client.wait("no-such-container"),
        ):
            try:
                print("returned", attempt())
            except hybridock.HybridockError as error:
                print(type(error).__name__, error)
        print("left", len(client.list_containers(all_states=True)))
        """
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("SpawnError") and "/no/such/program" in lines[0], lines
    assert lines[1].startswith("ConfigError the command is a list of arguments"), lines
    assert lines[2] == "ContainerNotFound No such container: no-such-container", lines
    assert lines[3] == "left 0", lines


def test_logs_follow_right_after_a_detached_start_waits_for_output(
    user_program: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    """The start returns before the monitor has exec'd: a follow that begins then must not
    find "no log" and end at once (it did, under load)."""
    result = user_program(
        """
        import hybridock

        with hybridock.Client() as client:
            for _ in range(20):
                container = client.run_detached(
                    "busybox", ["sh", "-c", "sleep 0.2; echo late; exec sleep 300"]
                )
                lines = client.logs(container, follow=True)
                print(next(lines, ("", "", "nothing\\n"))[2], end="")
                client.remove_container(container, force=True)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["late"] * 20


def test_collections_and_handles_as_docker_py(
    user_program: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    result = user_program(
        """
        import json
        import hybridock

        with hybridock.Client() as client:
            seen = {}
            image = client.images.pull("busybox")
            listed = client.images.list()
            seen["image"] = [image.tags, image.attrs["Id"] == image.id, image in listed]
            web = client.containers.run(
                "busybox", "sh -c 'echo up; exec sleep 300'", detach=True, name="handles-web",
                environment={"GREETING": "hi there"}, labels={"tier": "web"},
            )
            seen["web"] = [web.status, web.name, web.labels, web.attrs["Config"]["Labels"]]
            seen["first"] = next(web.logs(stream=True)).decode()
            done = web.exec_run("sh -c 'echo $GREETING; echo oops >&2; exit 4'")
            fed = web.exec_run(["cat"], stdin=b"fed in")
            seen["exec"] = [done.exit_code, done.stdout.decode(), done.stderr.decode()]
            seen["exec"].append(fed.stdout.decode())
            seen["listed"] = [c.name for c in client.containers.list()]
            web.stop(timeout=1)
            seen["stopped"] = [web.status, web.wait(), web.attrs["State"]["ExitCode"]]
            seen["running_after_stop"] = [c.name for c in client.containers.list()]
            seen["all"] = [c.name for c in client.containers.list(all=True)]
            attached = client.containers.run(
                "busybox", ["sh", "-c", "echo out; exit 3"], remove=True
            )
            seen["attached"] = [attached.exit_code, attached.stdout.decode()]
            later = client.containers.create("busybox", "echo later", name="handles-later")
            seen["created"] = later.status
            later.start()
            seen["later"] = [later.wait(), later.logs().decode()]
            volume = client.volumes.create("handles-data", labels={"a": "b"})
            seen["volume"] = [volume.attrs["Labels"], [v.name for v in client.volumes.list()]]
            network = client.networks.get("none")
            seen["network"] = [network.name, network.attrs["Driver"]]
            for container in client.containers.list(all=True):
                container.remove(force=True)
            volume.remove()
            seen["left"] = [len(client.containers.list(all=True)), len(client.volumes.list())]
            print(json.dumps(seen, default=repr))
        """
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["image"] == [["busybox:latest"], True, True]
    assert seen["web"] == ["running", "handles-web", {"tier": "web"}, {"tier": "web"}]
    assert seen["first"] == "up\n"
    assert seen["exec"] == [4, "hi there\n", "oops\n", "fed in"]
    assert seen["listed"] == ["handles-web"]
    assert seen["stopped"] == ["exited", 137, 137]  # pid 1 ignores SIGTERM: killed
    assert seen["running_after_stop"] == []
    assert seen["all"] == ["handles-web"]
    assert seen["attached"] == [3, "out\n"]
    assert seen["created"] == "created"
    assert seen["later"] == [0, "later\n"]
    assert seen["volume"] == [{"a": "b"}, ["handles-data"]]
    assert seen["network"] == ["none", "null"]
    assert seen["left"] == [0, 0]


def test_attached_runs_in_many_threads_at_once(
    user_program: Callable[[str], subprocess.CompletedProcess[str]],
) -> None:
    """Four threads of one process each run an attached container on BytesIO streams, all
    four running at once (each waits in its container until the four have started): each gets
    its own output and exit code. No signal handler is involved, so none is needed; one asked
    for off the main thread is a ConfigError."""
    result = user_program(
        """
        import io
        import json
        import tempfile
        import threading
        import hybridock
        from hybridock.client import RunOptions

        hybridock.Client().pull("busybox")
        meeting = tempfile.mkdtemp()
        results = {}

        def one(number):
            script = (
                f"touch /meet/{number}; until [ $(ls /meet | wc -l) -ge 4 ]; do sleep 0.05; done;"
                f" cat; echo err{number} >&2; exit {number}"
            )
            options = RunOptions(
                command=("sh", "-c", script), interactive=True, volumes=(f"{meeting}:/meet",)
            )
            with hybridock.Client() as client:  # a client per thread: its database is its own
                container = client.create_container("busybox", options=options)
                try:
                    client.start_attached(
                        container, stdout=io.BytesIO(), stderr=io.BytesIO(), handle_signals=True
                    )
                except hybridock.HybridockError as error:
                    refused = f"{type(error).__name__}: {error}"
                out, err = io.BytesIO(), io.BytesIO()
                fed = io.BytesIO(f"in{number}\\n".encode() * 20000)
                code = client.start_attached(container, stdin=fed, stdout=out, stderr=err)
                client.remove_container(container)
                lines = out.getvalue().decode().splitlines()
                shown = [code, sorted(set(lines)), len(lines), err.getvalue().decode()]
                results[number] = [*shown, refused]

        threads = [threading.Thread(target=one, args=(n,)) for n in range(1, 5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(json.dumps(results))
        """
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    refusal = (
        "ConfigError: signal forwarding and window size changes need the main thread:"
        " pass handle_signals=False from other threads"
    )
    assert seen == {str(n): [n, [f"in{n}"], 20000, f"err{n}\n", refusal] for n in range(1, 5)}, (
        result.stderr
    )
