"""``commit`` (issue 14): a container's changes become a layer that the committed image runs
with (whiteouts and opaque directories read back from the layer's tar), its config takes the
``-c`` changes, a running container is paused meanwhile; the Engine API's ``POST /commit``
through the docker CLI; and docker's own commit beside ours (tests/support/dockerd.py)."""

from __future__ import annotations

import json
import re
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.apisupport import ApiService, service_fixture
from tests.integration.sidebyside import both, docker, our_box
from tests.integration.test_containers import Box, wait_for
from tests.support.dockerd import Dockerd

from hybridock import Client

__all__ = ["both", "docker"]  # fixtures shared by the side-by-side tests
pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("commit")
service = service_fixture()

#: writes a file, deletes one of the image's, and makes /usr an opaque directory
CHANGES = "echo hi > /new; rm /bin/ls; rm -rf /usr && mkdir /usr && touch /usr/fresh"
IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}\n")


@pytest.fixture
def name(request: pytest.FixtureRequest, box: Box) -> Iterator[str]:
    """A container name unique to the test; its containers and the images it tagged
    ``committed/<name>`` are removed afterwards."""
    chosen = request.node.name.replace("[", "-").replace("]", "").lower()[:50]
    yield chosen
    box.remove_containers()
    for tagged in box.ok("images", "-q", "--no-trunc", f"committed/{chosen}").split():
        box("rmi", "-f", tagged)


def inspect_image(box: Box, reference: str) -> dict[str, Any]:
    document = json.loads(box.ok("image", "inspect", reference))[0]
    assert isinstance(document, dict)
    return document


def top_layer_names(box: Box, reference: str) -> list[str]:
    """The entry names of the image's top layer blob, read with tarfile."""
    manifest_digest = inspect_image(box, reference)["Metadata"]["ManifestDigest"]
    manifest = json.loads(blob_path(box.root, manifest_digest).read_bytes())
    with tarfile.open(blob_path(box.root, manifest["layers"][-1]["digest"]), "r:*") as layer:
        return layer.getnames()


def blob_path(root: Path, digest: str) -> Path:
    return root / "blobs" / "sha256" / digest.removeprefix("sha256:")


def test_a_committed_container_runs_with_its_changes(box: Box, name: str) -> None:
    box.ok("run", "--name", name, "busybox", "sh", "-c", CHANGES)
    shown = box.ok("commit", name, f"committed/{name}")
    assert IMAGE_ID.fullmatch(shown)
    image = inspect_image(box, f"committed/{name}")
    assert image["Id"] == shown.strip()
    assert image["RepoTags"] == [f"committed/{name}:latest"]
    assert (
        len(image["RootFS"]["Layers"]) == len(inspect_image(box, "busybox")["RootFS"]["Layers"]) + 1
    )

    names = top_layer_names(box, f"committed/{name}")
    assert {"new", "bin/.wh.ls", "usr/.wh..wh..opq", "usr/fresh"} <= set(names)
    assert names.index("usr/.wh..wh..opq") < names.index("usr/fresh")  # the marker first
    assert not [n for n in names if n.startswith("etc/")]  # the runtime's mount points are not

    check = "cat /new; test -e /bin/ls || echo no-ls; echo /usr/*; test -e /bin/sh && echo sh"
    ran = box.ok("run", "--rm", "--network", "none", f"committed/{name}", "sh", "-c", check)
    assert ran.splitlines() == ["hi", "no-ls", "/usr/fresh", "sh"]


def test_changes_author_and_message_are_in_the_config(box: Box, name: str) -> None:
    made = "echo one > /one; mkdir /work"  # docker's WORKDIR change makes no directory either
    box.ok("run", "--name", name, "-e", "FROM_RUN=1", "busybox", "sh", "-c", made)
    changes = (
        'CMD ["sh", "-c", "echo changed; pwd; id -u"]',
        "ENV A=b",
        "EXPOSE 8080",
        "LABEL stage=committed",
        "USER 1000",
        "WORKDIR /work",
        "VOLUME /vol",
    )
    flags = [argument for change in changes for argument in ("-c", change)]
    reference = f"committed/{name}:v1"
    box.ok("commit", "-a", "Ada <ada@example.org>", "-m", "first cut", *flags, name, reference)
    image = inspect_image(box, reference)
    config = image["Config"]
    assert config["Cmd"] == ["sh", "-c", "echo changed; pwd; id -u"]
    assert "A=b" in config["Env"] and "FROM_RUN=1" in config["Env"]
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert config["Labels"] == {"stage": "committed"}
    assert (config["User"], config["WorkingDir"]) == ("1000", "/work")
    assert config["Volumes"] == {"/vol": {}}
    assert image["ContainerConfig"]["Cmd"] == ["sh", "-c", made]
    assert (image["Author"], image["Comment"]) == ("Ada <ada@example.org>", "first cut")
    assert image["Container"] == box.inspect(name)["Id"]
    newest = box.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", reference)
    assert newest.splitlines()[0] == f"sh -c {made}|first cut"
    ran = box.ok("run", "--rm", "--network", "none", reference)
    assert ran.splitlines() == ["changed", "/work", "1000"]


def events_of(box: Box, name: str) -> list[str]:
    until = str(int(time.time()) + 1)  # a whole second past now: the commit's events are in
    shown = box.ok(
        "events", "--since", "0", "--until", until, "--filter", f"container={name}",
        "--format", "{{.Action}}",
    )  # fmt: skip
    return shown.splitlines()


@pytest.mark.parametrize(
    ("flags", "pause"),
    [((), True), (("-p",), True), (("--pause=false",), False), (("-p=0",), False)],
    ids=["default", "p-before-the-name", "pause-false", "p-0"],
)
def test_a_running_container_is_committed(
    box: Box, name: str, flags: tuple[str, ...], pause: bool
) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", "echo up > /up; exec sleep 300")
    wait_for(lambda: box("exec", name, "cat", "/up").returncode == 0)
    box.ok("commit", *flags, name, f"committed/{name}")
    state = box.inspect(name)["State"]
    assert (state["Running"], state["Paused"]) == (True, False)  # type: ignore[index]
    actions = events_of(box, name)
    if pause:
        assert actions[-3:] == ["pause", "unpause", "commit"]
    else:
        assert "pause" not in actions and actions[-1] == "commit"
    ran = box.ok("run", "--rm", "--network", "none", f"committed/{name}", "cat", "/up")
    assert ran == "up\n"


def test_a_container_that_changed_nothing_adds_no_layer(box: Box, name: str) -> None:
    box.ok("run", "--name", name, "busybox", "true")
    image = inspect_image(box, box.ok("commit", name, f"committed/{name}").strip())
    assert image["RootFS"] == inspect_image(box, "busybox")["RootFS"]  # docker's empty layer
    rows = box.ok("history", "--format", "{{.Size}}|{{.CreatedBy}}", f"committed/{name}")
    assert rows.splitlines()[0] == "0B|true"
    history = json.loads(blob_path(box.root, image["Id"]).read_bytes())["history"]
    assert history[-1]["empty_layer"] is True


def test_the_same_changes_make_the_same_layer(box: Box, name: str) -> None:
    box.ok("run", "--name", name, "busybox", "sh", "-c", CHANGES)
    first = inspect_image(box, box.ok("commit", name).strip())
    second = inspect_image(box, box.ok("commit", name).strip())
    assert first["RootFS"] == second["RootFS"]
    layers = [
        json.loads(blob_path(box.root, image["Metadata"]["ManifestDigest"]).read_bytes())["layers"]
        for image in (first, second)
    ]
    assert layers[0] == layers[1]  # the same gzip blob: the encoder is reproducible
    for image in (first, second):
        box.ok("rmi", image["Id"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("no-such-container",), "Error: No such container: no-such-container"),
        (
            ("{name}", "Bad:Ref"),
            "Error: invalid reference format: repository name (library/Bad)",
        ),
        (("-c", "FROM busybox", "{name}"), "Error: from is not a valid change command"),
        (("-c", "ENV", "{name}"), "Error: ENV requires at least one argument"),
    ],
    ids=["no-container", "reference", "change", "change-argument"],
)
def test_refusals_leave_nothing(
    box: Box, name: str, arguments: tuple[str, ...], message: str
) -> None:
    box.ok("create", "--name", name, "busybox", "true")
    images_before = box.ok("images", "-aq")
    result = box("commit", *(argument.format(name=name) for argument in arguments))
    assert (result.returncode, result.stderr.strip()[: len(message)]) == (1, message)
    assert result.stderr.count("\n") == 1
    assert box.ok("images", "-aq") == images_before
    assert list((box.root / "tmp").iterdir()) == []


def test_a_pause_flag_that_is_no_bool(box: Box, name: str) -> None:
    box.ok("create", "--name", name, "busybox", "true")
    result = box("commit", "--pause=maybe", name)
    assert (result.returncode, result.stderr.strip()) == (
        125,
        'Error: invalid argument "maybe" for "-p, --pause" flag: strconv.ParseBool:'
        ' parsing "maybe": invalid syntax',
    )


def test_docker_commit_through_the_service(service: ApiService, box: Box, name: str) -> None:
    box.ok("run", "--name", name, "busybox", "sh", "-c", "echo via-api > /api")
    reference = f"committed/{name}:api"
    shown = service.docker_ok("commit", "-m", "from docker", "-c", "ENV A=b", name, reference)
    assert IMAGE_ID.fullmatch(shown)
    image = json.loads(service.docker_ok("image", "inspect", reference))[0]
    assert (image["Id"], image["Comment"]) == (shown.strip(), "from docker")
    assert "A=b" in image["Config"]["Env"]
    ran = box.ok("run", "--rm", "--network", "none", reference, "cat", "/api")
    assert ran == "via-api\n"

    # the API's body: a container config of the caller's, merged with the container's
    status, answer = service.json(
        "POST", f"/v1.43/commit?container={name}&repo=committed/{name}&tag=body",
        {"Cmd": ["cat", "/api"], "Labels": {"from": "body"}},
    )  # fmt: skip
    assert status == 201, answer
    config = inspect_image(box, answer["Id"])["Config"]
    assert (config["Cmd"], config["Labels"]) == (["cat", "/api"], {"from": "body"})
    assert config["Env"] == inspect_image(box, "busybox")["Config"]["Env"]  # the container's
    status, answer = service.json("POST", "/v1.43/commit?container=nope")
    assert (status, answer) == (404, {"message": "No such container: nope"})


# --- beside docker ----------------------------------------------------------------------------


def _history_rows(lines: str) -> list[list[str]]:
    return [line.split("|") for line in lines.splitlines()]


def test_commit_beside_dockers(both: tuple[Dockerd, Box], name: str) -> None:
    """The same container committed by docker and by hybridock: the same config fields, the
    same layer entries (but our time stamps), the same history rows."""
    docker, box = both
    flags = ("--name", name, "--network", "none", "-e", "X=1", "-v", "/data")
    run = ("run", *flags, "busybox", "sh", "-c", CHANGES)
    commit = ("commit", "-a", "Ada", "-m", "msg", "-c", "EXPOSE 80", "-c", "LABEL a=b", name)
    docker.cli(*run)
    box.ok(*run)
    theirs_id = docker.cli(*commit, f"committed/{name}").stdout
    ours_id = box.ok(*commit, f"committed/{name}")
    assert IMAGE_ID.fullmatch(theirs_id) and IMAGE_ID.fullmatch(ours_id)
    try:
        theirs = json.loads(docker.cli("image", "inspect", f"committed/{name}").stdout)[0]
        ours = inspect_image(box, f"committed/{name}")
        for key in ("Comment", "Author", "Architecture", "Os"):
            assert ours[key] == theirs[key], key
        for section in ("Config", "ContainerConfig"):
            assert list(ours[section]) == list(theirs[section]), section
            for key in ("Cmd", "Entrypoint", "Volumes", "ExposedPorts", "Labels", "User"):
                assert ours[section].get(key) == theirs[section].get(key), (section, key)
            assert sorted(ours[section]["Env"]) == sorted(theirs[section]["Env"])
        history = ("history", "--format", "{{.CreatedBy}}|{{.Comment}}", f"committed/{name}")
        assert box.ok(*history).splitlines()[0] == docker.cli(*history).stdout.splitlines()[0]

        saved = box.root.parent / f"{name}-docker.tar"
        docker.cli("save", "-o", str(saved), f"committed/{name}")
        with tarfile.open(saved) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
            layer = archive.extractfile(manifest[0]["Layers"][-1])
            assert layer is not None
            with tarfile.open(fileobj=layer) as entries:
                docker_names = sorted(n.rstrip("/") for n in entries.getnames())
        saved.unlink()
        assert sorted(top_layer_names(box, f"committed/{name}")) == docker_names
    finally:
        docker.cli("rmi", f"committed/{name}", check=False)


def test_docker_pys_commit_on_a_handle(box: Box, name: str) -> None:
    box.ok("run", "--name", name, "busybox", "sh", "-c", "echo handle > /handle")
    with Client(box.root) as client:
        image = client.containers.get(name).commit(
            f"committed/{name}", "py", message="from a handle", changes="ENV FROM=py"
        )
        assert image.tags == [f"committed/{name}:py"]
        assert "FROM=py" in image.attrs["Config"]["Env"]
        assert image.attrs["Comment"] == "from a handle"
    ran = box.ok("run", "--rm", "--network", "none", f"committed/{name}:py", "cat", "/handle")
    assert ran == "handle\n"


def test_go_bool_flags_never_take_the_next_word(box: Box) -> None:
    """``history -H busybox`` and ``attach --sig-proxy NAME``: as commit's ``-p``, a Go bool
    flag takes a value only after ``=``."""
    bare = box.ok("history", "-H", "busybox")
    assert bare.splitlines()[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert box.ok("history", "-H=false", "busybox") != bare  # sizes and dates in full
    result = box("attach", "--sig-proxy", "attach-nosuch")
    assert (result.returncode, result.stderr) == (1, "Error: No such container: attach-nosuch\n")
