"""The Engine API's image routes and ``/system/df`` through the docker CLI 28: pull (dockerd's
JSON progress), images, image inspect, rmi, image prune, history, system df; their JSON next
to a private dockerd's; a pull from a registry that lies."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TLS_USER, ImageBuilder
from tests.integration.apisupport import ApiService, api_service, service_fixture
from tests.integration.sidebyside import docker, engine, our_box
from tests.integration.test_containers import Box
from tests.support.dockerd import Dockerd
from tests.support.images import ImageSpec
from tests.support.layers import File, Layer
from tests.support.registry import Registry
from tests.unit.registry_stub_server import OCI_MANIFEST, Reply, Seen, StubRegistry, stub

__all__ = ["docker", "stub"]  # fixtures
pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("api-images")
service = service_fixture()


def messages(body: bytes) -> list[dict[str, Any]]:
    """A JSON progress stream's messages (dockerd ends each with CRLF)."""
    lines = body.decode().split("\r\n")
    assert lines[-1] == "", body
    return [json.loads(line) for line in lines[:-1]]


@pytest.fixture
def hello(service: ApiService) -> Iterator[str]:
    """hello-world is not in the store at the start (busybox is), nor at the end."""
    service.docker("rmi", "-f", "hello-world")
    yield "hello-world"
    service.docker("rmi", "-f", "hello-world")


@pytest.fixture
def stopped(box: Box) -> Iterator[str]:
    """A created busybox container: busybox is in use."""
    container = box.ok("create", "busybox", "true").strip()
    yield container
    box("rm", "-f", container)


# --- pull ---------------------------------------------------------------------------------------


def test_docker_pull_prints_dockers_lines(service: ApiService, hello: str) -> None:
    shown = service.docker_ok("pull", hello).splitlines()
    layer = shown[2].split(":")[0]
    assert shown[:3] == [
        "Using default tag: latest",
        "latest: Pulling from library/hello-world",
        f"{layer}: Pulling fs layer",
    ]
    assert f"{layer}: Pull complete" in shown
    assert shown[-3].startswith("Digest: sha256:")
    assert shown[-2:] == [
        "Status: Downloaded newer image for hello-world:latest",
        "docker.io/library/hello-world:latest",
    ]
    again = service.docker_ok("pull", "hello-world:latest").splitlines()
    assert again == [
        "latest: Pulling from library/hello-world",
        shown[-3],
        "Status: Image is up to date for hello-world:latest",
        "docker.io/library/hello-world:latest",
    ]


def test_pull_streams_dockerds_messages(service: ApiService, hello: str) -> None:
    status, headers, body = service.request(
        "POST", "/v1.43/images/create?fromImage=docker.io%2Flibrary%2Fhello-world&tag=latest"
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Transfer-Encoding"] == "chunked"
    stream = messages(body)
    assert stream[0] == {"status": "Pulling from library/hello-world", "id": "latest"}
    layer = stream[1]["id"]
    assert stream[1] == {"status": "Pulling fs layer", "progressDetail": {}, "id": layer}
    downloading = [m for m in stream if m["status"] == "Downloading"]
    assert downloading, stream
    last = downloading[-1]
    assert set(last) == {"status", "progressDetail", "progress", "id"}
    total = last["progressDetail"]["total"]
    assert last["progressDetail"] == {"current": total, "total": total}
    assert last["progress"].startswith("[" + "=" * 50 + ">] ")
    assert {"status": "Pull complete", "progressDetail": {}, "id": layer} in stream
    assert stream[-2]["status"].startswith("Digest: sha256:")
    assert stream[-1] == {"status": "Status: Downloaded newer image for hello-world:latest"}


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        pytest.param("fromImage=busybox&tag=nope", 404, "nope", id="unknown-tag"),
        pytest.param("fromImage=Busy%20Box", 400, "invalid reference format", id="bad-reference"),
        pytest.param("fromSrc=ftp://x", 400, "fromSrc", id="import-from-ftp"),
        pytest.param("", 400, "fromImage", id="nothing"),
    ],
)
def test_a_pull_that_cannot_begin_is_an_error_status(
    service: ApiService, query: str, status: int, words: str
) -> None:
    got, headers, body = service.request("POST", f"/images/create?{query}")
    assert got == status, body
    assert headers["Content-Type"] == "application/json"
    assert words in json.loads(body)["message"]


def test_docker_pull_of_an_unknown_tag_fails(service: ApiService) -> None:
    result = service.docker("pull", "busybox:nope")
    assert result.returncode == 1, result
    assert "nope" in result.stderr
    assert "Digest" not in result.stdout


def test_x_registry_auth_is_the_pulls_credentials(
    tls_registry: Registry,
    image_builder: ImageBuilder,
    make_hybridock_env: Callable[..., dict[str, str]],
    hybridock_root: Path,
    tmp_path: Path,
) -> None:
    """The docker CLI sends its own saved credentials for the pull (X-Registry-Auth); the
    service uses them for that pull only, and saves them nowhere."""
    spec = ImageSpec(layers=[Layer([File("who", "api")])])
    pushed = image_builder.push(spec, tls_registry, "secure/api-auth")
    env = make_hybridock_env(tls_registry)
    with api_service(Box(hybridock_root, env), tmp_path) as started:
        refused = started.docker("pull", pushed.reference)
        assert refused.returncode == 1, refused
        token = base64.b64encode(":".join(TLS_USER).encode()).decode()
        auths = {"auths": {pushed.address: {"auth": token}}}
        (started.docker_config / "config.json").write_text(json.dumps(auths))
        started.docker_ok("pull", pushed.reference)
        shown = started.docker_ok("images", "-q", "--no-trunc", pushed.reference)
        assert shown == f"{pushed.image.config_digest}\n"
        (started.docker_config / "config.json").unlink()
        started.docker_ok("rmi", pushed.reference)
        again = started.docker("pull", pushed.reference)
        assert again.returncode == 1, again  # the credentials were that pull's only
    assert not (Path(env["DOCKER_CONFIG"]) / "config.json").exists()


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("not base64!", id="not-base64"),
        pytest.param(base64.urlsafe_b64encode(b"[1]").decode(), id="not-an-object"),
    ],
)
def test_a_bad_x_registry_auth_is_a_bad_request(service: ApiService, header: str) -> None:
    status, _, body = service.request(
        "POST", "/images/create?fromImage=busybox&tag=latest", headers={"X-Registry-Auth": header}
    )
    assert status == 400, body
    assert json.loads(body) == {"message": "invalid X-Registry-Auth header"}


# --- a registry that lies -----------------------------------------------------------------------

CONFIG = json.dumps(
    {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
)


def lying_registry(registry: StubRegistry) -> str:
    """An image whose layer blob is not what its digest says: the reference to pull."""
    import hashlib  # noqa: PLC0415
    import io  # noqa: PLC0415
    import tarfile  # noqa: PLC0415

    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        data = b"honest\n" * 4096
        member = tarfile.TarInfo("file")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    layer = archive.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.loads(CONFIG)
    config["rootfs"]["diff_ids"] = [diff_id]
    config_bytes = json.dumps(config).encode()
    registry.add_blob(config_bytes)
    layer_digest = registry.add_blob(layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest(),
                "size": len(config_bytes),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    registry.add_manifest("liar/image", "latest", manifest, OCI_MANIFEST)
    lie = layer.replace(b"honest", b"liars!")

    def lying(seen: Seen) -> Reply | None:
        return Reply(body=lie) if seen.path.endswith(layer_digest) else None

    registry.override("GET", r".*/blobs/.*", lying, first=True)
    return f"{registry.netloc}/liar/image:latest"


def store_entries(root: Path) -> dict[str, list[str]]:
    return {
        sub: sorted(p.name for p in (root / sub).iterdir()) if (root / sub).exists() else []
        for sub in ("tmp", "layers", "blobs/sha256")
    }


def test_a_lying_registry_ends_the_stream_with_an_error(
    service: ApiService, box: Box, stub: StubRegistry
) -> None:
    reference = lying_registry(stub)
    before = store_entries(box.root)
    image, _, tag = reference.rpartition(":")
    status, _, body = service.request("POST", f"/images/create?fromImage={image}&tag={tag}")
    assert status == 200
    stream = messages(body)
    assert stream[0] == {"status": "Pulling from liar/image", "id": "latest"}
    assert set(stream[-1]) == {"errorDetail", "error"}
    assert stream[-1]["errorDetail"] == {"message": stream[-1]["error"]}
    assert "digest" in stream[-1]["error"].lower()
    assert not any(m.get("status", "").startswith("Digest:") for m in stream)
    assert store_entries(box.root) == before

    result = service.docker("pull", reference)
    assert result.returncode == 1, result
    assert stream[-1]["error"] in result.stderr
    assert store_entries(box.root) == before
    assert service.docker("image", "inspect", reference).returncode == 1


# --- images, inspect ----------------------------------------------------------------------------


def test_docker_images_lists_the_store(service: ApiService, box: Box) -> None:
    table = service.docker_ok("images").splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    busybox = json.loads(service.docker_ok("images", "--format", "json", "busybox"))
    ours = json.loads(box.ok("images", "--format", "json", "busybox"))
    assert busybox["Repository"] == "busybox"
    assert busybox["Tag"] == "latest"
    assert busybox["ID"] == ours["ID"]
    assert busybox["Size"] == ours["Size"]
    assert any(line.split()[:3] == ["busybox", "latest", ours["ID"]] for line in table)


@pytest.mark.parametrize(
    ("filters", "shown"),
    [
        pytest.param(("reference=busy*",), ["busybox"], id="reference"),
        pytest.param(("reference=nothing*",), [], id="reference-none"),
        pytest.param(("dangling=true",), [], id="dangling"),
        pytest.param(("dangling=false", "reference=busybox"), ["busybox"], id="tagged"),
        pytest.param(("label=no.such.label",), [], id="label"),
    ],
)
def test_docker_images_filters(
    service: ApiService, filters: tuple[str, ...], shown: list[str]
) -> None:
    arguments = [part for item in filters for part in ("--filter", item)]
    listed = service.docker_ok("images", *arguments, "--format", "{{.Repository}}")
    assert listed.split() == shown


def test_an_unknown_filter_is_a_bad_request(service: ApiService) -> None:
    status, body = service.json("GET", '/images/json?filters={"colour":["blue"]}')
    assert (status, body) == (400, {"message": "Invalid filter 'colour'"})


def test_docker_image_inspect(service: ApiService, box: Box) -> None:
    shown = json.loads(service.docker_ok("image", "inspect", "busybox"))
    assert shown == json.loads(box.ok("image", "inspect", "busybox"))
    result = service.docker("image", "inspect", "busybox:nope")
    assert result.returncode == 1
    assert "No such image: busybox:nope" in result.stderr


def test_image_documents_have_dockerds_keys(service: ApiService, docker: Dockerd) -> None:
    status, ours = service.json("GET", "/v1.41/images/json")
    assert status == 200
    theirs = engine(docker, "/images/json")
    ours_busybox = next(e for e in ours if "busybox:latest" in e["RepoTags"])
    theirs_busybox = next(e for e in theirs if "busybox:latest" in e["RepoTags"])
    assert sorted(ours_busybox) == sorted(theirs_busybox)
    status, inspected = service.json("GET", "/v1.41/images/busybox/json")
    assert status == 200
    inspected_there = engine(docker, "/images/busybox/json")
    assert sorted(inspected) == sorted(inspected_there)
    for part in ("Config", "ContainerConfig", "RootFS"):
        assert list(inspected[part]) == list(inspected_there[part]), part
    assert inspected["Id"] == ours_busybox["Id"]


# --- rmi, prune ---------------------------------------------------------------------------------


def test_docker_rmi_untags_and_deletes(service: ApiService, hello: str) -> None:
    service.docker_ok("pull", hello)
    image_id = service.docker_ok("image", "inspect", "--format", "{{.Id}}", hello).strip()
    shown = service.docker_ok("rmi", hello).splitlines()
    assert shown[0] == "Untagged: hello-world:latest"
    assert shown[1].startswith("Untagged: hello-world@sha256:")
    assert f"Deleted: {image_id}" in shown
    assert service.docker("image", "inspect", hello).returncode == 1


def test_docker_rmi_of_nothing_is_not_found(service: ApiService) -> None:
    result = service.docker("rmi", "nope")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error response from daemon: No such image: nope:latest"
    status, body = service.json("DELETE", "/images/nope")
    assert (status, body) == (404, {"message": "No such image: nope:latest"})


def test_docker_rmi_of_a_used_image_is_a_conflict(
    service: ApiService, box: Box, stopped: str
) -> None:
    image_id = service.docker_ok("image", "inspect", "--format", "{{.Id}}", "busybox").strip()
    short = image_id.removeprefix("sha256:")[:12]
    result = service.docker("rmi", short)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error response from daemon: conflict: unable to delete {short} (must be forced)"
        f" - image is being used by stopped container {stopped[:12]}"
    )
    status, _, _ = service.request("DELETE", f"/images/{short}")
    assert status == 409
    assert box.ok("images", "-q", "busybox").strip() == short


def test_docker_image_prune(service: ApiService, hello: str, stopped: str) -> None:
    assert service.docker_ok("image", "prune", "-f") == "Total reclaimed space: 0B\n"
    service.docker_ok("pull", hello)
    image_id = service.docker_ok("image", "inspect", "--format", "{{.Id}}", hello).strip()
    shown = service.docker_ok("image", "prune", "-a", "-f").splitlines()
    assert shown[0] == "Deleted Images:"
    assert "untagged: hello-world:latest" in shown
    assert f"deleted: {image_id}" in shown
    assert shown[-1].startswith("Total reclaimed space: ")
    assert shown[-1] != "Total reclaimed space: 0B"
    assert service.docker_ok("images", "--format", "{{.Repository}}").split() == ["busybox"]


@pytest.mark.parametrize(
    ("filters", "status", "answer"),
    [
        pytest.param('{"until":["0"]}', 200, {"ImagesDeleted": None, "SpaceReclaimed": 0}, id="0"),
        pytest.param(
            '{"until":["24h"]}', 200, {"ImagesDeleted": None, "SpaceReclaimed": 0}, id="24h"
        ),
        pytest.param(
            '{"until":["2006-01-02T15:04:05Z"]}',
            200,
            {"ImagesDeleted": None, "SpaceReclaimed": 0},
            id="rfc3339",
        ),
        pytest.param(
            '{"until":["soon"]}',
            400,
            {"message": 'failed to parse value as time or duration: "soon"'},
            id="bad-until",
        ),
        pytest.param(
            '{"dangling":["maybe"]}',
            400,
            {"message": "Invalid filter 'dangling=[maybe]'"},
            id="bad-dangling",
        ),
        pytest.param(
            '{"colour":["blue"]}', 400, {"message": "Invalid filter 'colour'"}, id="unknown"
        ),
    ],
)
def test_prune_filters(
    service: ApiService, filters: str, status: int, answer: dict[str, Any]
) -> None:
    assert service.json("POST", f"/images/prune?filters={filters}") == (status, answer)


# --- history, system df -------------------------------------------------------------------------


def test_docker_history(service: ApiService, box: Box) -> None:
    template = ("--no-trunc", "--format", "{{.ID}} {{.Size}} {{.CreatedBy}}", "busybox")
    assert service.docker_ok("history", *template) == box.ok("history", *template)
    table = service.docker_ok("history", "busybox").splitlines()
    assert table[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    status, body = service.json("GET", "/images/busybox/history")
    assert status == 200
    assert body[0]["Tags"] == ["busybox:latest"]
    assert set(body[0]) == {"Comment", "Created", "CreatedBy", "Id", "Size", "Tags"}
    status, _ = service.json("GET", "/images/nope/history")
    assert status == 404


def test_docker_system_df(service: ApiService, box: Box, stopped: str) -> None:
    template = ("--format", "{{.Type}} {{.TotalCount}} {{.Active}} {{.Size}} {{.Reclaimable}}")
    assert service.docker_ok("system", "df", *template) == box.ok("system", "df", *template)
    verbose = service.docker_ok("system", "df", "-v")
    assert stopped[:12] in verbose
    status, usage = service.json("GET", "/system/df")
    assert status == 200
    assert set(usage) == {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    (image,) = usage["Images"]
    assert image["Containers"] == 1
    assert usage["LayersSize"] == image["Size"]
