"""Where hybridock met docker 20.10 and differed (issue 10's leftovers), each as docker does it:
the bytes of a tty's output, the wording for a missing image, what ``rmi`` removes, how
``inspect`` shows ``-v`` and ``--mount``, and /sys under ``--privileged``.

What docker does was read off a private dockerd (tests/support/dockerd.py) and moby's source;
the tests hold hybridock to it. Uses the container tests' store (busybox from the session
registry).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.integration.test_containers import Box, box, make_box, name
from tests.integration.test_exec import on_terminal
from tests.integration.test_rmi import chain_ids
from tests.support.cli import hybridock_command
from tests.support.registry import Registry

__all__ = ["box", "name"]  # fixtures shared with the container tests

pytestmark = [pytest.mark.root, pytest.mark.registry]


# --- -t: the container's terminal keeps onlcr ---------------------------------------------------


def test_tty_output_keeps_the_containers_crlf_on_a_pipe(box: Box) -> None:
    # captured as bytes: text mode's universal newlines would turn \r\n back into \n
    shown = subprocess.run(
        [*hybridock_command(), "run", "--rm", "-t", "busybox", "echo", "ok"],
        env=box.env,
        input=b"\n",  # stdin a pipe, not a terminal (fine without -i)
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert (shown.returncode, shown.stdout) == (0, b"ok\r\n")


@pytest.mark.parametrize(
    ("flags", "shown"),
    [
        # -it: our terminal in raw mode shows the container's \r\n as it is
        pytest.param(("-it",), b"ok\r\n", id="interactive"),
        # -t alone: docker's client leaves our terminal alone, whose onlcr adds a \r
        pytest.param(("-t",), b"ok\r\r\n", id="tty-only"),
    ],
)
def test_tty_output_on_a_terminal(box: Box, flags: tuple[str, ...], shown: bytes) -> None:
    result = on_terminal(box, ["run", "--rm", *flags, "busybox", "echo", "ok"])
    assert (result.code, result.raw) == (0, shown)


# --- a missing image, in docker's words ----------------------------------------------------------

ID = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("args", "code", "stdout", "stderr"),
    [
        # docker names the reference as it read it: familiar, with the default tag
        (
            ("run", "--pull", "never", "no-such-image"),
            125,
            "",
            "No such image: no-such-image:latest",
        ),
        (("run", "--pull", "never", "library/nosuch:1"), 125, "", "No such image: nosuch:1"),
        # create's client exits 1 on what the daemon refuses (run's is 125)
        (
            ("create", "--pull", "never", "no-such-image"),
            1,
            "",
            "No such image: no-such-image:latest",
        ),
        (("rmi", "no-such-image"), 1, "", "No such image: no-such-image:latest"),
        (("rmi", "docker.io/library/nosuch"), 1, "", "No such image: nosuch:latest"),
        (("rmi", "localhost/foo"), 1, "", "No such image: localhost/foo:latest"),
        (("rmi", "abcdef012345"), 1, "", "No such image: abcdef012345:latest"),
        (("rmi", ID), 1, "", f"No such image: sha256:{ID}"),
        # with -f a missing image is reported but is no failure
        (
            ("rmi", "-f", "nosuch", "nosuch2"),
            0,
            "",
            "No such image: nosuch:latest\nError: No such image: nosuch2:latest",
        ),
        (
            ("image", "inspect", "no-such-image"),
            1,
            "[]\n",
            "no such image: no-such-image: No such image: no-such-image:latest",
        ),
        (
            ("inspect", "--type", "image", "no-such-image:v3"),
            1,
            "[]\n",
            "no such image: no-such-image:v3: No such image: no-such-image:v3",
        ),
        (("inspect", "no-such-image"), 1, "[]\n", "No such object: no-such-image"),
    ],
    ids=lambda value: value if isinstance(value, int) else None,
)
def test_a_missing_image_in_dockers_words(
    box: Box, args: tuple[str, ...], code: int, stdout: str, stderr: str
) -> None:
    result = box(*args)
    assert (result.returncode, result.stdout, result.stderr) == (code, stdout, f"Error: {stderr}\n")


# --- /sys under --privileged -------------------------------------------------------------------


def sys_mount_options(box: Box, *flags: str) -> list[str]:
    """The per-mount options of /sys as the container's own mountinfo shows them."""
    table = box.ok("run", "--rm", *flags, "busybox", "cat", "/proc/self/mountinfo")
    for line in table.splitlines():
        fields = line.split()
        if fields[4] == "/sys":
            return fields[5].split(",")
    raise AssertionError(f"no /sys in {table}")


@pytest.mark.parametrize(
    ("flags", "access"),
    [
        pytest.param((), "ro", id="default"),
        # moby's WithMounts clears "ro" on /sys for a privileged container...
        pytest.param(("--privileged",), "rw", id="privileged"),
        # ...unless its root filesystem is read-only
        pytest.param(("--privileged", "--read-only"), "ro", id="privileged-read-only"),
    ],
)
def test_sys_is_writable_only_when_privileged(
    box: Box, flags: tuple[str, ...], access: str
) -> None:
    assert sys_mount_options(box, *flags)[0] == access


# --- rmi: what docker 20.10 untags and deletes -------------------------------------------------


@dataclass(frozen=True)
class RmiCase:
    """One rmi, and what docker 20.10 did (read off a private dockerd, moby's ImageDelete).

    The image is pulled as ``REG/library/busybox`` (R1, the one rmi names) and with
    ``tags == 2`` also as ``busybox`` (R2: another repository); a container made from R1 is
    ``use``: none, stopped or running. ``said``: U1/U2 (R1's/R2's tag and digest untagged),
    DELETED (the image and its layers), IMAGE (the image only: a container keeps its layers),
    or one of ``CONFLICTS``. ``left``: what ``images -a`` lists afterwards.
    """

    tags: int
    use: str
    force: bool
    by: str  # name | id
    said: tuple[str, ...]
    left: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.tags}tag-{self.use}-{'force' if self.force else 'plain'}-by-{self.by}"


CONFLICTS = {
    "in-use": 'conflict: unable to remove repository reference "{target}" (must force) -'
    " container {container} is using its referenced image {short}",
    "stopped": "conflict: unable to delete {short} (must be forced) - image is being used by"
    " stopped container {container}",
    "running": "conflict: unable to delete {short} (cannot be forced) - image is being used by"
    " running container {container}",
    "repositories": "conflict: unable to delete {short} (must be forced) - image is referenced"
    " in multiple repositories",
}
NONE, R1, R2 = "<none>:<none>", "R1:latest", "busybox:latest"
RMI_CASES = [
    RmiCase(1, "none", False, "name", ("U1", "DELETED"), ()),
    RmiCase(1, "none", False, "id", ("U1", "DELETED"), ()),
    RmiCase(1, "none", True, "name", ("U1", "DELETED"), ()),
    RmiCase(1, "none", True, "id", ("U1", "DELETED"), ()),
    RmiCase(1, "stopped", False, "name", ("in-use",), (R1,)),
    RmiCase(1, "stopped", False, "id", ("stopped",), (R1,)),
    RmiCase(1, "stopped", True, "name", ("U1", "IMAGE"), ()),
    RmiCase(1, "stopped", True, "id", ("U1", "IMAGE"), ()),
    RmiCase(1, "running", False, "name", ("in-use",), (R1,)),
    RmiCase(1, "running", False, "id", ("running",), (R1,)),
    RmiCase(1, "running", True, "name", ("U1",), (NONE,)),
    RmiCase(1, "running", True, "id", ("running",), (R1,)),
    RmiCase(2, "none", False, "name", ("U1",), (R2,)),
    RmiCase(2, "none", False, "id", ("repositories",), (R1, R2)),
    RmiCase(2, "none", True, "name", ("U1",), (R2,)),
    RmiCase(2, "none", True, "id", ("U1", "U2", "DELETED"), ()),
    RmiCase(2, "stopped", False, "name", ("U1",), (R2,)),
    RmiCase(2, "stopped", False, "id", ("repositories",), (R1, R2)),
    RmiCase(2, "stopped", True, "name", ("U1",), (R2,)),
    RmiCase(2, "stopped", True, "id", ("U1", "U2", "IMAGE"), ()),
    RmiCase(2, "running", False, "name", ("U1",), (R2,)),
    RmiCase(2, "running", False, "id", ("running",), (R1, R2)),
    RmiCase(2, "running", True, "name", ("U1",), (R2,)),
    RmiCase(2, "running", True, "id", ("running",), (R1, R2)),
]


@pytest.fixture
def own_store(tmp_path: Path, session_registry: Registry, box: Box) -> Iterator[Box]:
    """A store of the test's own (busybox is in the session registry: ``box`` put it there)."""
    made = make_box(tmp_path, session_registry)
    try:
        yield made
    finally:
        made.discard()


@pytest.mark.parametrize("case", RMI_CASES, ids=[case.id for case in RMI_CASES])
def test_rmi_as_docker(case: RmiCase, own_store: Box, session_registry: Registry) -> None:
    store = own_store
    r1 = f"{session_registry.address}/library/busybox"
    store.ok("pull", "-q", r1)
    if case.tags == 2:
        store.ok("pull", "-q", "busybox")
    image = json.loads(store.ok("image", "inspect", r1))[0]
    image_id, digest = image["Id"], image["RepoDigests"][0].partition("@")[2]
    layers = chain_ids(image["RootFS"]["Layers"])
    container = ""
    if case.use == "stopped":
        container = store.ok("create", "--name", "user", r1, "true").strip()
    elif case.use == "running":
        container = store.ok("run", "-d", "--name", "user", r1, "sleep", "600").strip()
    target = r1 if case.by == "name" else image_id.removeprefix("sha256:")[:12]
    short = image_id.removeprefix("sha256:")[:12]

    result = store("rmi", *(["-f"] if case.force else []), target)

    lines = {
        "U1": [f"Untagged: {r1}:latest", f"Untagged: {r1}@{digest}"],
        "U2": ["Untagged: busybox:latest", f"Untagged: busybox@{digest}"],
        "DELETED": [f"Deleted: {image_id}", *(f"Deleted: {layer}" for layer in reversed(layers))],
        "IMAGE": [f"Deleted: {image_id}"],
    }
    if case.said[0] in CONFLICTS:
        message = CONFLICTS[case.said[0]].format(
            target=target, container=container[:12], short=short
        )
        assert (result.returncode, result.stdout, result.stderr) == (1, "", f"Error: {message}\n")
    else:
        expected = [line for part in case.said for line in lines[part]]
        assert (result.returncode, result.stdout.splitlines(), result.stderr) == (0, expected, "")
    listed = store.ok("images", "-a", "--format", "{{.Repository}}:{{.Tag}}").splitlines()
    assert sorted(listed) == sorted(name.replace("R1", r1) for name in case.left)
    if container:
        store.ok("start", "user")  # it still runs (again) from what the store kept
        store.ok("rm", "-f", "user")
    # nothing is kept once nothing needs it
    for left in store.ok("images", "-aq").split():
        store.ok("rmi", "-f", left)
    assert list((store.root / "layers").iterdir()) == []


# --- inspect: -v under HostConfig.Binds, --mount under HostConfig.Mounts ------------------------


def test_inspect_shows_binds_and_mounts_as_docker(box: Box, name: str, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    box.ok(
        "create", "--name", name,
        "-v", f"{one}:/a",
        "-v", f"{one}:/a2:ro",
        "-v", f"{one}:/a3:rw",
        "--mount", f"type=bind,source={two},target=/b",
        "--mount", f"type=bind,src={two},dst=/c,readonly",
        "--mount", f"type=bind,source={two},target=/d,bind-propagation=rprivate",
        "busybox",
    )  # fmt: skip
    document = box.inspect(name)
    host = document["HostConfig"]
    assert isinstance(host, dict)
    assert host["Binds"] == [f"{one}:/a", f"{one}:/a2:ro", f"{one}:/a3:rw"]
    assert host["Mounts"] == [
        {"Type": "bind", "Source": str(two), "Target": "/b"},
        {"Type": "bind", "Source": str(two), "Target": "/c", "ReadOnly": True},
        {
            "Type": "bind",
            "Source": str(two),
            "Target": "/d",
            "BindOptions": {"Propagation": "rprivate"},
        },
    ]

    def shown(source: Path, destination: str, mode: str, rw: bool) -> dict[str, object]:
        return {
            "Type": "bind",
            "Source": str(source),
            "Destination": destination,
            "Mode": mode,
            "RW": rw,
            "Propagation": "rprivate",
        }

    assert document["Mounts"] == [
        shown(one, "/a", "", True),
        shown(one, "/a2", "ro", False),
        shown(one, "/a3", "rw", True),
        shown(two, "/b", "", True),
        shown(two, "/c", "", False),
        shown(two, "/d", "", True),
    ]


def test_inspect_without_binds_or_mounts(box: Box, name: str) -> None:
    box.ok("create", "--name", name, "busybox")
    document = box.inspect(name)
    host = document["HostConfig"]
    assert isinstance(host, dict)
    # docker leaves Binds null and HostConfig.Mounts out (omitempty)
    assert (host["Binds"], "Mounts" in host, document["Mounts"]) == (None, False, [])
