"""The Engine API's tag and push through the docker CLI 28 (``docker tag``, ``docker push`` to
the session registry), dockerd's JSON progress and aux record on the wire, and the lines of
docker's own push of the same image beside ours."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from tests.integration.apisupport import ApiService, service_fixture
from tests.integration.sidebyside import docker, our_box
from tests.support.dockerd import Dockerd
from tests.support.images import skopeo_digest
from tests.support.registry import Registry

__all__ = ["docker"]  # fixtures
pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("api-push")
service = service_fixture()
LAYER_LINE = re.compile(r"^[0-9a-f]{12}: (.*)$")


def messages(body: bytes) -> list[dict[str, Any]]:
    lines = body.decode().split("\r\n")
    assert lines[-1] == "", body
    return [json.loads(line) for line in lines[:-1]]


def shape(output: str) -> list[str]:
    """A push's lines with layer ids, digests and sizes left out, repeats folded."""
    shown: list[str] = []
    for printed in output.splitlines():
        match = LAYER_LINE.match(printed)
        line = f"<layer>: {match.group(1)}" if match else printed
        line = re.sub(r"sha256:[0-9a-f]{64} size: \d+", "<digest>", line)
        line = re.sub(r"\[[0-9.:]+/", "[<registry>/", line)
        line = re.sub(r"Mounted from \S+", "Mounted from <repository>", line)
        if not shown or shown[-1] != line:
            shown.append(line)
    return shown


def test_docker_tag_and_push_through_the_service(
    service: ApiService, session_registry: Registry
) -> None:
    target = f"{session_registry.address}/api-push/busybox:v1"
    service.docker_ok("tag", "busybox", target)
    output = service.docker_ok("push", target)
    lines = output.splitlines()
    assert (
        lines[0] == f"The push refers to repository [{session_registry.address}/api-push/busybox]"
    )
    final = re.fullmatch(r"v1: digest: (sha256:[0-9a-f]{64}) size: \d+", lines[-1])
    assert final is not None, output
    assert skopeo_digest(target) == final.group(1)
    listed = service.docker_ok("images", "--digests", "--format", "{{.Repository}} {{.Digest}}")
    assert f"{session_registry.address}/api-push/busybox {final.group(1)}" in listed.splitlines()


def test_push_streams_dockerds_messages_and_aux(
    service: ApiService, session_registry: Registry
) -> None:
    repository = f"{session_registry.address}/api-push/wire"
    service.docker_ok("tag", "busybox", f"{repository}:w1")
    auth = base64.urlsafe_b64encode(json.dumps({}).encode()).decode()
    status, _, body = service.request(
        "POST", f"/v1.43/images/{repository}/push?tag=w1", headers={"X-Registry-Auth": auth}
    )
    assert status == 200
    sent = messages(body)
    assert sent[0] == {"status": f"The push refers to repository [{repository}]"}
    aux = sent[-1]
    assert set(aux) == {"progressDetail", "aux"}
    assert aux["aux"]["Tag"] == "w1"
    assert sent[-2] == {"status": f"w1: digest: {aux['aux']['Digest']} size: {aux['aux']['Size']}"}
    assert all("id" in message for message in sent[1:-2])


def test_push_of_a_missing_image_is_an_error_in_the_stream(
    service: ApiService, session_registry: Registry
) -> None:
    repository = f"{session_registry.address}/api-push/none"
    status, _, body = service.request("POST", f"/v1.43/images/{repository}/push?tag=x")
    assert status == 200
    message = f"An image does not exist locally with the tag: {repository}"
    assert messages(body) == [
        {"status": f"The push refers to repository [{repository}]"},
        {"errorDetail": {"message": message}, "error": message},
    ]
    result = service.docker("push", f"{repository}:x")
    assert result.returncode == 1
    assert message in result.stderr


def test_tag_route_answers_201_and_404(service: ApiService) -> None:
    status, _, body = service.request("POST", "/v1.43/images/busybox/tag?repo=tagged/one&tag=t")
    assert (status, body) == (201, b"")
    assert "tagged/one:t" in service.docker_ok("images", "--format", "{{.Repository}}:{{.Tag}}")
    status, document = service.json("POST", "/v1.43/images/no-such/tag?repo=x&tag=y")
    assert status == 404
    assert document == {"message": "No such image: no-such:latest"}
    service.docker_ok("rmi", "tagged/one:t")


def test_our_push_prints_the_lines_dockers_does(
    service: ApiService, docker: Dockerd, session_registry: Registry
) -> None:
    """Both mount busybox's layers from library/busybox of the registry they pulled it from
    (dockerd pulled from the registry itself, hybridock through its counting proxy)."""
    ours = f"{session_registry.address}/api-push/ours:v1"
    theirs = f"{session_registry.backend_address}/api-push/theirs:v1"
    service.docker_ok("tag", "busybox", ours)
    docker.cli("tag", "busybox", theirs)
    try:
        our_lines = shape(service.docker_ok("push", ours))
        their_lines = shape(docker.cli("push", theirs).stdout)
    finally:
        # the session's dockerd is shared: its busybox must not keep this push's tag nor the
        # repository digest docker's push gave it (test_documents_docker compares them)
        pushed = docker.cli("image", "inspect", "-f", "{{json .RepoDigests}}", "busybox").stdout
        for digest in json.loads(pushed):
            if digest.startswith(theirs.rpartition(":")[0] + "@"):
                docker.cli("rmi", digest, check=False)
        docker.cli("rmi", theirs, check=False)
    assert [line.replace("ours", "<name>") for line in our_lines] == [
        line.replace("theirs", "<name>") for line in their_lines
    ]
