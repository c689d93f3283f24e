"""save, load and import on our own (docker's and skopeo's side: test_archive_docker.py): our
archive loads back as the same image, two images share their base in one archive, the OCI
forms, import of a tarball (file, stdin, URL) with -c, and an export round trip."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from tests.integration.sidebyside import our_box
from tests.integration.test_containers import Box
from tests.support.cli import hybridock_command
from tests.support.httpserver import serving
from tests.support.layers import File, build_tar, compress
from tests.support.terminal import terminal

from hybridock import Client
from hybridock.images import local

pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("archive")


def _image(box: Box, name: str) -> dict[str, object]:
    document = json.loads(box.ok("image", "inspect", name))[0]
    assert isinstance(document, dict)
    return document


def _layers(box: Box, name: str) -> list[str]:
    rootfs = _image(box, name)["RootFS"]
    assert isinstance(rootfs, dict)
    return list(rootfs["Layers"])


def _members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return [member.name for member in tar if member.isfile()]


def _nothing_left(box: Box) -> None:
    assert list((box.root / "tmp").iterdir()) == []


def test_save_then_load_after_rmi_is_the_same_image(box: Box, tmp_path: Path) -> None:
    before = _image(box, "busybox")
    archive = tmp_path / "busybox.tar"
    assert box.ok("save", "-o", str(archive), "busybox:latest") == ""
    members = _members(archive)
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= set(members)
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    assert manifest[0]["Config"] == "blobs/sha256/" + str(before["Id"]).removeprefix("sha256:")

    box.ok("rmi", "busybox")
    try:
        assert box.ok("load", "-i", str(archive)) == "Loaded image: busybox:latest\n"
        after = _image(box, "busybox")
        assert after["Id"] == before["Id"]
        assert after["RootFS"] == before["RootFS"]
        assert after["Size"] == before["Size"]
        result = box("run", "--rm", "--network", "none", "busybox", "echo", "loaded")
        assert result.stdout == "loaded\n", str(result)
        # loaded again: nothing new, the same answer
        assert box.ok("load", "-q", "-i", str(archive)) == "Loaded image: busybox:latest\n"
        _nothing_left(box)
    finally:
        box("pull", "-q", "busybox")


def test_save_to_stdout_and_load_from_stdin(box: Box, tmp_path: Path) -> None:
    image_id = _image(box, "busybox")["Id"]
    archive = tmp_path / "piped.tar"
    with archive.open("wb") as out:
        saved = subprocess.run(
            [*hybridock_command(), "save", str(image_id)],
            env=box.env,
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert saved.returncode == 0, saved.stderr
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] is None  # named by id: no tags
    with archive.open("rb") as source:
        loaded = subprocess.run(
            [*hybridock_command(), "image", "load"],
            env=box.env,
            stdin=source,
            capture_output=True,
            check=False,
        )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.decode() == f"Loaded image ID: {image_id}\n"
    _nothing_left(box)


def _derived(box: Box, tag: str) -> str:
    """An image of busybox's layers and one more: a second image that shares busybox's."""
    with Client(box.root) as client:
        base = client.image("busybox")
        images = client.image_store
        records = images.layer_records(base.chain_ids)
        path = client.layout.tmp / "top"
        path.write_bytes(compress(build_tar([File("greeting", "derived\n")]), "gzip"))
        with local.building(images):
            top = local.install_layer(images, path, list(base.chain_ids))
            layers = [records[chain] for chain in base.chain_ids] + [top]
            config = {**base.config, "config": {"Cmd": ["cat", "/greeting"]}}
            config.pop("history", None)
            from hybridock.reference import Reference  # noqa: PLC0415

            made = local.record_image(images, config, layers, Reference.parse(tag))
        path.unlink()
        return made.id


def test_two_images_share_their_base_in_one_archive(box: Box, tmp_path: Path) -> None:
    derived = _derived(box, "local/derived:1")
    base_layers = _layers(box, "busybox")
    archive = tmp_path / "two.tar"
    try:
        box.ok("save", "-o", str(archive), "busybox", "local/derived:1")
        members = _members(archive)
        blobs = [name for name in members if name.startswith("blobs/")]
        assert len(blobs) == len(set(blobs))
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        assert [entry["RepoTags"] for entry in manifest] == [
            ["busybox:latest"],
            ["local/derived:1"],
        ]
        assert manifest[1]["Layers"][:-1] == manifest[0]["Layers"]
        names = [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]]
        assert names == ["docker.io/library/busybox:latest", "docker.io/local/derived:1"]

        box.ok("rmi", "local/derived:1")
        box.ok("rmi", "busybox")
        lines = box.ok("load", "-i", str(archive)).splitlines()
        assert lines == ["Loaded image: busybox:latest", "Loaded image: local/derived:1"]
        assert _image(box, "local/derived:1")["Id"] == derived
        assert _layers(box, "local/derived:1")[:-1] == base_layers
        result = box("run", "--rm", "--network", "none", "local/derived:1")
        assert result.stdout == "derived\n", str(result)
    finally:
        box("rmi", "local/derived:1")
        box("pull", "-q", "busybox")


def test_oci_archive_and_oci_dir(box: Box, tmp_path: Path) -> None:
    image_id = _image(box, "busybox")["Id"]
    archive = tmp_path / "oci.tar"
    box.ok("save", "--format", "oci-archive", "-o", str(archive), "busybox")
    assert "manifest.json" not in _members(archive)
    layout = tmp_path / "layout"
    box.ok("save", "--format", "oci-dir", "-o", str(layout), "busybox")
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest_path = layout / "blobs" / "sha256" / manifest_digest.removeprefix("sha256:")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["config"]["digest"] == image_id
    for layer in manifest["layers"]:
        blob = layout / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
        assert blob.stat().st_size == layer["size"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    box.ok("rmi", "busybox")
    try:
        assert box.ok("load", "-i", str(archive)) == "Loaded image: busybox:latest\n"
        assert _image(box, "busybox")["Id"] == image_id
    finally:
        box("pull", "-q", "busybox")


def test_save_errors_are_one_line(box: Box, tmp_path: Path) -> None:
    result = box("save", "-o", str(tmp_path / "x.tar"), "no-such-image")
    assert (result.returncode, result.stderr) == (
        1,
        "Error: No such image: no-such-image:latest\n",
    )
    result = box("save", "-o", str(tmp_path / "missing" / "x.tar"), "busybox")
    assert result.returncode == 1
    assert result.stderr == (
        f'Error: invalid output path: directory "{tmp_path / "missing"}" does not exist\n'
    )
    assert list(tmp_path.iterdir()) == []
    result = box("load", "-i", str(tmp_path / "nothing.tar"))
    assert (result.returncode, result.stderr) == (
        1,
        f"Error: open {tmp_path / 'nothing.tar'}: no such file or directory\n",
    )


# --- import ------------------------------------------------------------------------------------


@pytest.fixture
def rootfs_tar(box: Box, tmp_path: Path) -> Path:
    """busybox's filesystem as ``export`` gives it, gzipped."""
    container = box.ok("create", "busybox").strip()
    try:
        plain = tmp_path / "rootfs.tar"
        box.ok("export", "-o", str(plain), container)
    finally:
        box("rm", container)
    path = tmp_path / "rootfs.tar.gz"
    path.write_bytes(compress(plain.read_bytes(), "gzip"))
    return path


def test_import_of_an_export_with_changes(box: Box, rootfs_tar: Path) -> None:
    image_id = box.ok(
        "import",
        "-c",
        "ENV GREETING=imported",
        "-c",
        'CMD ["sh", "-c", "echo $GREETING"]',
        "-m",
        "from a test",
        str(rootfs_tar),
        "local/imported:1",
    ).strip()
    try:
        assert image_id.startswith("sha256:")
        document = _image(box, "local/imported:1")
        assert document["Id"] == image_id
        assert document["Comment"] == "from a test"
        config = document["Config"]
        assert isinstance(config, dict)
        assert config["Env"] == ["GREETING=imported"]
        assert len(_layers(box, "local/imported:1")) == 1
        result = box("run", "--rm", "--network", "none", "local/imported:1")
        assert result.stdout == "imported\n", str(result)
        history = box.ok("history", "--format", "{{.Comment}}", "local/imported:1")
        assert history == "from a test\n"
        _nothing_left(box)
    finally:
        box("rmi", "local/imported:1")


def _http_server(directory: Path) -> contextlib.AbstractContextManager[str]:
    return serving(
        functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    )


def test_import_from_stdin_and_from_a_url(box: Box, rootfs_tar: Path) -> None:
    with rootfs_tar.open("rb") as source:
        imported = subprocess.run(
            [*hybridock_command(), "import", "-", "local/stdin:1"],
            env=box.env,
            stdin=source,
            capture_output=True,
            check=False,
        )
    assert imported.returncode == 0, imported.stderr
    try:
        assert _image(box, "local/stdin:1")["Comment"] == "Imported from -"
        with _http_server(rootfs_tar.parent) as url:
            address = f"{url}/{rootfs_tar.name}"
            image_id = box.ok("import", address, "local/url:1").strip()
            missing = box("import", f"{url}/missing.tar")
        refused = box("import", address)  # the server is gone: Go's words for it
        assert (refused.returncode, refused.stderr) == (
            1,
            f'Error: Get "{address}": connection refused\n',
        )
        try:
            document = _image(box, "local/url:1")
            assert document["Id"] == image_id
            assert document["Comment"] == f"Imported from {address}"
            # the same bytes: the same layer
            assert _layers(box, "local/url:1") == _layers(box, "local/stdin:1")
        finally:
            box("rmi", "local/url:1")
        assert missing.returncode == 1
        assert missing.stderr.count("\n") == 1
        assert "404" in missing.stderr
    finally:
        box("rmi", "local/stdin:1")
    _nothing_left(box)


def test_a_save_that_fails_leaves_no_file(box: Box, tmp_path: Path) -> None:
    """The second image's layer has lost its blob: the save stops after the first image's
    blobs were written, and neither the archive nor its temporary file is left."""
    _derived(box, "local/blobless:1")
    with Client(box.root) as client:
        image = client.image("local/blobless:1")
        top = client.image_store.layer_records([image.chain_ids[-1]])[image.chain_ids[-1]]
        assert top.digest is not None
        blob = client.layout.blob(top.digest)
        kept = blob.read_bytes()
        blob.unlink()
    try:
        result = box("save", "-o", str(tmp_path / "x.tar"), "busybox", "local/blobless:1")
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert "has no blob in the store" in result.stderr
        assert list(tmp_path.iterdir()) == []
    finally:
        blob.write_bytes(kept)
        box("rmi", "local/blobless:1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("save", "busybox"),
            b"cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ),
        (("load",), b"requested load from stdin, but stdin is empty"),
    ],
    ids=["save", "load"],
)
def test_a_terminal_is_refused(box: Box, args: tuple[str, ...], message: bytes) -> None:
    with terminal([*hybridock_command(), *args], box.env) as term:
        term.read_until(message)
        assert term.finish() == 1
    assert term.output.count(b"\n") == 1
