"""The network and volume routes, through the docker CLI 28 and raw requests; the documents'
keys next to a private dockerd 20.10's answers on its own socket."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.apisupport import ApiService, service_fixture
from tests.integration.sidebyside import docker, keys, our_box
from tests.support.dockerd import Dockerd

__all__ = ["docker"]  # the side-by-side fixture
pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("api-networks-volumes")
service = service_fixture()


def engine(daemon: Dockerd, method: str, path: str, body: Any = None) -> Any:
    """dockerd's answer to ``METHOD /v1.41{path}`` on its own socket."""
    command = ["curl", "-sSg", "--unix-socket", str(daemon.socket), "-X", method]
    if body is not None:
        command += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    answer = subprocess.run(
        [*command, f"http://docker/v1.41{path}"], capture_output=True, check=True, timeout=60
    )
    return json.loads(answer.stdout) if answer.stdout.strip() else None


def ours(service: ApiService, method: str, path: str, body: Any = None) -> Any:
    status, document = service.json(method, f"/v1.41{path}", body)
    assert status < 300, (status, document)
    return document


@pytest.fixture
def clean(service: ApiService) -> Iterator[ApiService]:
    """The service; afterwards its user networks and volumes are gone."""
    yield service
    for name in service.docker("network", "ls", "-q", "--filter", "type=custom").stdout.split():
        service.docker("network", "rm", name)
    for name in service.docker("volume", "ls", "-q").stdout.split():
        service.docker("volume", "rm", "-f", name)


def test_docker_network_commands(clean: ApiService) -> None:
    service = clean
    network_id = service.docker_ok(
        "network", "create", "--subnet", "10.231.0.0/24", "--label", "tier=web", "front"
    ).strip()
    assert len(network_id) == 64
    shown = service.docker_ok("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    assert shown.splitlines() == [
        "bridge bridge local",
        "front bridge local",
        "host host local",
        "none null local",
    ]
    custom = service.docker_ok("network", "ls", "-q", "--no-trunc", "--filter", "type=custom")
    assert custom.split() == [network_id]
    assert service.docker_ok("network", "ls", "-q", "--filter", "label=tier=db") == ""
    (document,) = json.loads(service.docker_ok("network", "inspect", "front"))
    assert document["Id"] == network_id
    assert document["IPAM"]["Config"] == [{"Subnet": "10.231.0.0/24", "Gateway": "10.231.0.1"}]
    assert document["Labels"] == {"tier": "web"}
    taken = service.docker("network", "create", "front")
    assert taken.returncode == 1
    assert "network with name front already exists" in taken.stderr
    assert service.docker_ok("network", "rm", "front").strip() == "front"
    missing = service.docker("network", "inspect", "front")
    assert missing.returncode == 1
    assert "network front not found" in missing.stderr


def test_a_predefined_network_is_not_removed(service: ApiService) -> None:
    status, document = service.json("DELETE", "/v1.43/networks/bridge")
    assert (status, document) == (
        403,
        {"message": "bridge is a pre-defined network and cannot be removed"},
    )


def test_network_prune_removes_unused_networks(clean: ApiService) -> None:
    service = clean
    service.docker_ok("network", "create", "spare")
    shown = service.docker_ok("network", "prune", "-f")
    assert shown.split("\n") == ["Deleted Networks:", "spare", "", ""]
    assert "spare" not in service.docker_ok("network", "ls")


def test_network_create_refuses_what_it_cannot_honour(service: ApiService) -> None:
    for body in (
        {"Name": "six", "EnableIPv6": True},
        {"Name": "two", "IPAM": {"Config": [{"Subnet": "10.1.0.0/24"}, {"Subnet": "10.2.0.0/24"}]}},
        {
            "Name": "ranged",
            "IPAM": {"Config": [{"Subnet": "10.3.0.0/24", "IPRange": "10.3.0.0/25"}]},
        },
        {"Name": "plugin", "IPAM": {"Driver": "dhcp"}},
        {"EnableIPv6": False},
    ):
        status, document = service.json("POST", "/v1.43/networks/create", body)
        assert status == 400, (body, document)
    assert service.docker_ok("network", "ls", "-q", "--filter", "type=custom") == ""


def test_network_filters_as_dockers(service: ApiService) -> None:
    status, document = service.json("GET", '/v1.43/networks?filters={"bogus":["1"]}')
    assert (status, document) == (400, {"message": "Invalid filter 'bogus'"})
    names = [n["Name"] for n in ours(service, "GET", '/networks?filters={"type":["builtin"]}')]
    assert names == ["bridge", "host", "none"]
    names = [n["Name"] for n in ours(service, "GET", '/networks?filters={"name":{"os":true}}')]
    assert names == ["host"]


def test_docker_volume_commands(clean: ApiService) -> None:
    service = clean
    assert service.docker_ok("volume", "create", "--label", "tier=db", "pgdata").strip() == "pgdata"
    anonymous = service.docker_ok("volume", "create").strip()
    assert len(anonymous) == 64
    shown = service.docker_ok("volume", "ls", "--format", "{{.Driver}} {{.Name}}")
    assert sorted(shown.splitlines()) == sorted([f"local {anonymous}", "local pgdata"])
    assert service.docker_ok("volume", "ls", "-q", "--filter", "label=tier").split() == ["pgdata"]
    (document,) = json.loads(service.docker_ok("volume", "inspect", "pgdata"))
    assert document["Labels"] == {"tier": "db"}
    assert document["Mountpoint"].endswith("/volumes/pgdata/_data")
    missing = service.docker("volume", "inspect", "nope")
    assert missing.returncode == 1
    assert "no such volume" in missing.stderr
    assert service.docker_ok("volume", "rm", "pgdata").strip() == "pgdata"
    assert service.docker_ok("volume", "ls", "-q").split() == [anonymous]


def test_docker_volume_prune_keeps_named_volumes_from_api_1_42(clean: ApiService) -> None:
    """docker 23's rule: ``volume prune`` takes anonymous volumes, ``-a`` named ones too (the
    CLI 28 sends ``all=true``); an older client's prune takes every unused one."""
    service = clean
    service.docker_ok("volume", "create", "kept")
    status, _ = service.json("POST", "/v1.43/volumes/prune")
    assert status == 200
    assert service.docker_ok("volume", "ls", "-q").split() == ["kept"]
    assert "kept" in service.docker_ok("volume", "prune", "-a", "-f").splitlines()
    service.docker_ok("volume", "create", "older")
    pruned = ours(service, "POST", "/volumes/prune")
    assert pruned["VolumesDeleted"] == ["older"]
    assert service.docker_ok("volume", "ls", "-q") == ""


def test_volume_errors_are_dockers(service: ApiService) -> None:
    status, document = service.json("DELETE", "/v1.43/volumes/nope")
    assert (status, document) == (404, {"message": "get nope: no such volume"})
    status, document = service.json("POST", "/v1.43/volumes/create", {"Name": "bad/name"})
    assert status == 400
    assert "includes invalid characters" in document["message"]
    status, document = service.json("GET", '/v1.43/volumes?filters={"dangling":["maybe"]}')
    assert (status, document) == (400, {"message": "Invalid filter 'dangling=[maybe]'"})


def test_network_documents_have_dockers_keys(service: ApiService, docker: Dockerd) -> None:
    body = {  # as the docker CLI sends it
        "Name": "shape",
        "Labels": {"a": "b"},
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{"Subnet": "10.232.0.0/24", "Gateway": "10.232.0.1"}],
        },
    }
    theirs_created = engine(docker, "POST", "/networks/create", body)
    ours_created = ours(service, "POST", "/networks/create", body)
    try:
        assert keys(ours_created) == keys(theirs_created)
        theirs = engine(docker, "GET", "/networks/shape")
        assert keys(ours(service, "GET", "/networks/shape")) == keys(theirs)
        listed = engine(docker, "GET", '/networks?filters={"name":["shape"]}')
        assert keys(ours(service, "GET", '/networks?filters={"name":["shape"]}')) == keys(listed)
    finally:
        engine(docker, "DELETE", "/networks/shape")
        ours(service, "DELETE", "/networks/shape")
    assert keys(ours(service, "POST", "/networks/prune")) == keys(
        engine(docker, "POST", "/networks/prune")
    )


def test_volume_documents_have_dockers_keys(service: ApiService, docker: Dockerd) -> None:
    body = {"Name": "shape", "Labels": {"a": "b"}}
    try:
        created = engine(docker, "POST", "/volumes/create", body)
        assert ours(service, "POST", "/volumes/create", body) == {
            **created,
            "CreatedAt": ours(service, "GET", "/volumes/shape")["CreatedAt"],
            "Mountpoint": ours(service, "GET", "/volumes/shape")["Mountpoint"],
        }
        theirs = engine(docker, "GET", '/volumes?filters={"name":["shape"]}')
        listed = ours(service, "GET", '/volumes?filters={"name":["shape"]}')
        assert keys(listed) == {**keys(theirs), "Warnings": []}
        assert listed["Volumes"][0]["Labels"] == {"a": "b"}
    finally:
        engine(docker, "DELETE", "/volumes/shape")
        ours(service, "DELETE", "/volumes/shape")
    assert keys(ours(service, "POST", "/volumes/prune")) == keys(
        engine(docker, "POST", "/volumes/prune")
    )
