"""save, load and import through the Engine API service with the docker CLI 28:
``GET /images/get``, ``GET /images/{name}/get``, ``POST /images/load``,
``POST /images/create?fromSrc=``."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from tests.integration.apisupport import DOCKER_CLI, ApiService, service_fixture
from tests.integration.sidebyside import our_box
from tests.integration.test_containers import Box
from tests.support.layers import File, build_tar

pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("api-archive")
service = service_fixture()


def _image_id(service: ApiService, name: str) -> str:
    return service.docker_ok("image", "inspect", "-f", "{{.Id}}", name).strip()


def test_docker_save_and_load_through_the_service(
    service: ApiService, box: Box, tmp_path: Path
) -> None:
    image_id = _image_id(service, "busybox")
    archive = tmp_path / "busybox.tar"
    service.docker_ok("save", "-o", str(archive), "busybox")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    service.docker_ok("rmi", "busybox")
    try:
        assert service.docker_ok("load", "-i", str(archive)) == "Loaded image: busybox:latest\n"
        assert _image_id(service, "busybox") == image_id
        # a pipe: docker save | docker load
        env = service.docker_env
        with subprocess.Popen(
            [DOCKER_CLI, "save", "busybox"], env=env, stdout=subprocess.PIPE
        ) as saving:
            loading = subprocess.run(
                [DOCKER_CLI, "load"],
                env=env,
                stdin=saving.stdout,
                capture_output=True,
                text=True,
                check=False,
            )
        assert (saving.returncode, loading.returncode) == (0, 0), loading.stderr
        assert loading.stdout == "Loaded image: busybox:latest\n"
    finally:
        box("pull", "-q", "busybox")


def test_the_routes_answer_as_dockerd(service: ApiService) -> None:
    status, headers, body = service.request("GET", "/images/busybox/get")
    assert status == 200
    assert headers["Content-Type"] == "application/x-tar"
    assert body[257:262] == b"ustar"
    status, _, body = service.request("GET", "/images/get?names=no-such-image")
    assert status == 404
    assert json.loads(body) == {"message": "No such image: no-such-image:latest"}
    status, headers, body = service.request("POST", "/images/load?quiet=1", b"garbage" * 200)
    assert status == 500
    assert "invalid tar header" in json.loads(body)["message"]


def test_docker_import_through_the_service(service: ApiService, tmp_path: Path) -> None:
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(build_tar([File("greeting", "imported\n")]))
    output = service.docker_ok(
        "import",
        "-c",
        "ENV A=1",
        "-c",
        "CMD cat /greeting",
        "-m",
        "hi",
        str(tarball),
        "local/imp:1",
    )
    try:
        image_id = output.strip()
        assert image_id == _image_id(service, "local/imp:1")
        inspected = json.loads(service.docker_ok("image", "inspect", "local/imp:1"))[0]
        assert inspected["Config"]["Env"] == ["A=1"]
        assert inspected["Config"]["Cmd"] == ["/bin/sh", "-c", "cat /greeting"]
        assert inspected["Comment"] == "hi"
    finally:
        service.docker("rmi", "local/imp:1")
