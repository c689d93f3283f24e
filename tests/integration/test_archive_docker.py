"""Archives between hybridock and its peers: the private dockerd 20.10 loads our ``save``
and runs it; our ``load`` takes ``docker save`` (dockerd 20.10's ``<id>/layer.tar`` form) and
``skopeo copy ... oci-archive:``, and runs them."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from tests.integration.sidebyside import both, docker, our_box, tag_busybox
from tests.integration.test_containers import Box
from tests.support.dockerd import Dockerd
from tests.support.registry import Registry

__all__ = ["both", "docker"]  # fixtures shared by the side-by-side tests
pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("archive-docker")


def _image_id(box: Box, name: str) -> str:
    return str(json.loads(box.ok("image", "inspect", name))[0]["Id"])


def test_docker_loads_and_runs_our_save(
    both: tuple[Dockerd, Box], session_registry: Registry, tmp_path: Path
) -> None:
    docker, box = both
    archive = tmp_path / "ours.tar"
    box.ok("save", "-o", str(archive), "busybox")
    ours = _image_id(box, "busybox")
    docker.cli("rmi", "busybox")  # the tag docker has from the registry goes; ours comes
    try:
        loaded = docker.cli("load", "-i", str(archive))
        assert loaded.stdout.strip().splitlines()[-1] == "Loaded image: busybox:latest"
        assert docker.cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip() == ours
        ran = docker.cli("run", "--rm", "--network", "none", "busybox", "echo", "from ours")
        assert ran.stdout == "from ours\n"
    finally:
        docker.cli("rmi", "busybox", check=False)
        tag_busybox(docker, session_registry)


def test_we_load_and_run_dockers_save(
    both: tuple[Dockerd, Box], session_registry: Registry, tmp_path: Path
) -> None:
    docker, box = both
    docker.cli("tag", "busybox", "local/from-docker:2")
    docker.cli("tag", "busybox", "local/also:3")
    archive = tmp_path / "docker.tar"
    try:
        docker.cli("save", "-o", str(archive), "local/from-docker:2", "local/also:3")
    finally:
        docker.cli("rmi", "local/from-docker:2", "local/also:3")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert any(name.endswith("/layer.tar") for name in names)  # dockerd 20.10's own form
    theirs = docker.cli("image", "inspect", "-f", "{{.Id}}", "busybox").stdout.strip()
    box.ok("rmi", "busybox")  # no layer of it left: each comes from docker's archive
    try:
        assert box.ok("load", "-i", str(archive)).splitlines() == [
            "Loaded image: local/from-docker:2",
            "Loaded image: local/also:3",
        ]
        assert _image_id(box, "local/also:3") == theirs
        assert _image_id(box, "local/from-docker:2") == theirs
        result = box("run", "--rm", "--network", "none", "local/from-docker:2", "echo", "hi")
        assert result.stdout == "hi\n", str(result)
        # its layers are plain tars: kept as they came, digest == diff_id
        layers = json.loads(box.ok("image", "inspect", "local/from-docker:2"))[0]["RootFS"]
        for diff_id in layers["Layers"]:
            assert (box.root / "blobs" / "sha256" / diff_id.removeprefix("sha256:")).is_file()
        # and docker takes it back from us
        again = tmp_path / "again.tar"
        box.ok("save", "-o", str(again), "local/from-docker:2")
        loaded = docker.cli("load", "-i", str(again))
        assert "Loaded image: local/from-docker:2" in loaded.stdout
        docker.cli("rmi", "local/from-docker:2")
    finally:
        box("rmi", "local/from-docker:2", "local/also:3")
        box.ok("pull", "-q", "busybox")


def test_we_load_skopeos_oci_archive(box: Box, session_registry: Registry, tmp_path: Path) -> None:
    archive = tmp_path / "skopeo.tar"
    source = f"docker://{session_registry.backend_address}/library/busybox:latest"
    copied = subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            source,
            f"oci-archive:{archive}:local/from-skopeo:3",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert copied.returncode == 0, copied.stderr
    with tarfile.open(archive) as tar:
        assert "manifest.json" not in tar.getnames()
    busybox = _image_id(box, "busybox")
    box.ok("rmi", "busybox")  # no layer of it left: each comes from skopeo's archive
    try:
        assert box.ok("load", "-i", str(archive)) == "Loaded image: local/from-skopeo:3\n"
        assert _image_id(box, "local/from-skopeo:3") == busybox
        result = box("run", "--rm", "--network", "none", "local/from-skopeo:3", "echo", "oci")
        assert result.stdout == "oci\n", str(result)
    finally:
        box("rmi", "local/from-skopeo:3")
        box.ok("pull", "-q", "busybox")


@pytest.mark.parametrize("archive_format", ["oci-dir", "oci-archive", "docker-archive"])
def test_skopeo_reads_our_save(box: Box, tmp_path: Path, archive_format: str) -> None:
    target = tmp_path / "saved"
    box.ok("save", "--format", archive_format, "-o", str(target), "busybox")
    transport = {"oci-dir": "oci", "oci-archive": "oci-archive", "docker-archive": "docker-archive"}
    inspected = subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "inspect",
            "--raw",
            f"{transport[archive_format]}:{target}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert inspected.returncode == 0, inspected.stderr
    manifest = json.loads(inspected.stdout)
    assert manifest["config"]["digest"] == _image_id(box, "busybox")
    layers = json.loads(box.ok("image", "inspect", "busybox"))[0]["RootFS"]["Layers"]
    assert len(manifest["layers"]) == len(layers)
