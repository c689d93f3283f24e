"""The container routes of ``hybridock system service`` (api/containers.py) driven by the
docker CLI 28 and raw requests, over real containers; the docker CLI's own create body becomes
the container ``hybridock create`` makes from the same flags."""

from __future__ import annotations

import base64
import concurrent.futures
import io
import json
import socket
import tarfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.apisupport import ApiService, service_fixture
from tests.integration.sidebyside import our_box
from tests.integration.test_containers import Box

pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("api-containers")
service = service_fixture()


@pytest.fixture
def api(service: ApiService, box: Box) -> Iterator[ApiService]:
    """The service; afterwards no container or volume of the test is left."""
    yield service
    box.remove_containers()
    if names := box("volume", "ls", "-q").stdout.split():
        box("volume", "rm", "-f", *names)


def query(**values: Any) -> str:
    return urllib.parse.urlencode(
        {
            key: json.dumps(value) if isinstance(value, dict) else value
            for key, value in values.items()
        }
    )


def test_create_start_wait_and_remove_through_the_docker_cli(api: ApiService) -> None:
    created = api.docker_ok("create", "--name", "job", "busybox", "sh", "-c", "exit 3").strip()
    assert len(created) == 64
    assert api.docker_ok("start", "job").strip() == "job"
    assert api.docker_ok("wait", "job").strip() == "3"
    state = json.loads(api.docker_ok("inspect", "job"))[0]["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 3)
    listed = api.docker_ok("ps", "-a", "--format", "{{.Names}} {{.Status}}")
    assert listed.startswith("job Exited (3)")
    assert api.docker_ok("rm", "job").strip() == "job"
    assert api.docker("inspect", "job").returncode == 1


def test_a_detached_run_stops_starts_restarts_and_is_killed(api: ApiService, box: Box) -> None:
    container_id = api.docker_ok("run", "-d", "--name", "web", "busybox", "sleep", "600").strip()
    assert api.docker_ok("ps", "--format", "{{.ID}} {{.Names}}").split() == [
        container_id[:12],
        "web",
    ]
    assert api.docker_ok("stop", "-t", "1", "web").strip() == "web"
    assert box.inspect("web")["State"]["Status"] == "exited"  # type: ignore[index]
    # docker's 304s: the CLI says nothing of them
    assert api.request("POST", "/containers/web/stop")[0] == 304
    api.docker_ok("start", "web")
    assert api.request("POST", "/containers/web/start")[0] == 304
    first = box.pid("web")
    api.docker_ok("restart", "-t", "1", "web")
    assert box.pid("web") not in (0, first)
    api.docker_ok("pause", "web")
    assert box.inspect("web")["State"]["Status"] == "paused"  # type: ignore[index]
    api.docker_ok("unpause", "web")
    api.docker_ok("rename", "web", "site")
    assert api.docker_ok("kill", "site").strip() == "site"
    assert api.docker_ok("wait", "site").strip() == "137"
    kill = api.request("POST", "/containers/site/kill")
    assert kill[0] == 409, kill
    removed = api.request("DELETE", "/containers/site")
    assert removed[0] == 204


def test_a_running_container_is_removed_only_by_force(api: ApiService) -> None:
    api.docker_ok("run", "-d", "--name", "busy", "busybox", "sleep", "600")
    refused = api.docker("rm", "busy")
    assert refused.returncode == 1
    assert "stop the container before removing or force remove" in refused.stderr
    api.docker_ok("rm", "-f", "busy")


def test_create_answers_as_dockers_daemon(api: ApiService) -> None:
    missing = api.json("POST", "/containers/create", {"Image": "nosuch"})
    assert missing == (404, {"message": "No such image: nosuch:latest"})
    refused = api.json(
        "POST", "/containers/create", {"Image": "busybox", "HostConfig": {"IpcMode": "host"}}
    )
    assert refused == (400, {"message": "HostConfig.IpcMode: not supported by hybridock"})
    status, made = api.json("POST", "/containers/create?name=taken", {"Image": "busybox"})
    assert (status, made["Warnings"]) == (201, [])
    again = api.json("POST", "/containers/create?name=taken", {"Image": "busybox"})
    assert again[0] == 409
    assert again[1]["message"] == (
        f'Conflict. The container name "/taken" is already in use by container "{made["Id"]}".'
        " You have to remove (or rename) that container to be able to reuse that name."
    )
    relative = api.json(
        "POST", "/containers/create", {"Image": "busybox", "HostConfig": {"Binds": ["./x:/x"]}}
    )
    assert relative[0] == 400


def _config_of(document: dict[str, Any]) -> dict[str, Any]:
    """What a create decided: Config and HostConfig, without what names the container."""
    config = dict(document["Config"])
    config.pop("Hostname")
    config["Env"] = sorted(e for e in config["Env"] if not e.startswith("HOSTNAME="))
    host = dict(document["HostConfig"])
    host["Binds"] = sorted(host["Binds"] or [])  # the docker CLI sends a Go map's order
    mounts = [
        # an anonymous volume is each container's own
        {**mount, "Name": "", "Source": ""} if len(mount.get("Name", "")) == 64 else mount
        for mount in sorted(document["Mounts"], key=lambda mount: mount["Destination"])
    ]
    return {"Config": config, "HostConfig": host, "Mounts": mounts}


def test_the_docker_clis_create_body_makes_hybridock_creates_container(
    api: ApiService, box: Box, tmp_path: Path
) -> None:
    bound = tmp_path / "bound"
    bound.mkdir()
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW"}))
    flags = [
        *("-e", "A=1", "-w", "/srv", "-u", "1000:1000", "-h", "host1"),
        *("--entrypoint", "/bin/sh", "-l", "tier=web", "--stop-signal", "SIGINT"),
        *("--stop-timeout", "7", "-i", "-t", "--init", "--read-only"),
        *("-v", f"{bound}:/b:ro", "-v", "named:/n", "-v", "/anon"),
        *("--mount", "type=tmpfs,target=/t,tmpfs-size=1m"),
        *("--mount", f"type=bind,src={bound},dst=/b2,readonly"),
        *("--tmpfs", "/run:size=1m", "-p", "8080:80", "-p", "127.0.0.1::53/udp"),
        *("--expose", "7000", "--dns", "192.0.2.53", "--dns-search", "example.com"),
        *("--dns-option", "ndots:2", "--restart", "on-failure:3"),
        *("--health-cmd", "true", "--health-interval", "5s", "--health-retries", "2"),
        *("-m", "64m", "--memory-swap", "128m", "--cpus", "0.5", "-c", "512"),
        *("--pids-limit", "50", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN"),
        *("--ulimit", "nofile=100:200", "--sysctl", "net.ipv4.ip_forward=1"),
        *("--group-add", "10", "--security-opt", f"seccomp={profile}"),
        *("--security-opt", "no-new-privileges"),
    ]
    api.docker_ok("create", "--name", "through-api", *flags, "busybox", "-c", "echo hi")
    box.ok("create", "--name", "through-cli", *flags, "busybox", "-c", "echo hi")
    assert _config_of(box.inspect("through-api")) == _config_of(box.inspect("through-cli"))


def test_list_filters_limit_and_entries(api: ApiService) -> None:
    api.docker_ok("create", "--name", "first", "-l", "tier=db", "busybox", "true")
    api.docker_ok("run", "-d", "--name", "second", "-l", "tier=web", "busybox", "sleep", "600")
    api.docker_ok("create", "--name", "third", "-l", "tier=web", "busybox", "true")

    def names(**parameters: Any) -> list[str]:
        status, entries = api.json("GET", f"/containers/json?{query(**parameters)}")
        assert status == 200, entries
        return [entry["Names"][0] for entry in entries]

    assert names() == ["/second"]
    assert names(all=1) == ["/third", "/second", "/first"]
    assert names(all=1, filters={"label": ["tier=web"]}) == ["/third", "/second"]
    assert names(filters={"status": ["created"]}) == ["/third", "/first"]
    assert names(all=1, filters={"name": ["^fir"]}) == ["/first"]
    assert names(limit=2) == ["/third", "/second"]
    # as docker's daemon: since and before do not list stopped ones by themselves
    assert names(filters={"since": ["first"]}) == ["/second"]
    assert names(all=1, filters={"since": ["first"]}) == ["/third", "/second"]
    assert names(all=1, filters={"before": ["third"], "label": ["tier=web"]}) == ["/second"]
    assert names(all=1, filters={"exited": ["0"]}) == []  # never started
    assert names(filters={"network": ["bridge"]}) == ["/second"]
    bad = api.json("GET", f"/containers/json?{query(filters={'volume': ['x']})}")
    assert bad == (400, {"message": "invalid filter 'volume'"})
    (entry,) = api.json("GET", "/containers/json")[1]
    assert entry["HostConfig"] == {
        "NetworkMode": api.json("GET", "/containers/second/json")[1]["HostConfig"]["NetworkMode"]
    }
    assert set(entry["NetworkSettings"]["Networks"]) == {"bridge"}
    assert entry["State"] == "running"
    assert entry["Labels"] == {"tier": "web"}


def _post_wait(api: ApiService, name: str, condition: str) -> tuple[int, Any]:
    return api.json("POST", f"/containers/{name}/wait?condition={condition}")


def test_wait_conditions(api: ApiService) -> None:
    api.docker_ok("create", "--name", "later", "busybox", "sh", "-c", "exit 5")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        next_exit = pool.submit(_post_wait, api, "later", "next-exit")
        api.docker_ok("start", "later")
        assert next_exit.result(timeout=60) == (200, {"StatusCode": 5, "Error": None})
    assert _post_wait(api, "later", "not-running") == (200, {"StatusCode": 5, "Error": None})
    # run --rm's wait: the exit code survives the removal the container's monitor makes
    status, made = api.json(
        "POST",
        "/containers/create?name=gone",
        {"Image": "busybox", "Cmd": ["sh", "-c", "exit 7"], "HostConfig": {"AutoRemove": True}},
    )
    assert status == 201
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        removed = pool.submit(_post_wait, api, made["Id"], "removed")
        assert api.request("POST", "/containers/gone/start")[0] == 204
        assert removed.result(timeout=60) == (200, {"StatusCode": 7, "Error": None})
    assert api.request("GET", "/containers/gone/json")[0] == 404
    # docker's daemon waits for not-running on a condition it does not know
    assert _post_wait(api, "later", "whenever") == (200, {"StatusCode": 5, "Error": None})


def test_cp_both_ways_export_diff_and_top(api: ApiService, tmp_path: Path) -> None:
    api.docker_ok("run", "-d", "--name", "files", "busybox", "sleep", "600")
    source = tmp_path / "note.txt"
    source.write_text("hello\n")
    api.docker_ok("cp", str(source), "files:/tmp/")
    copied = tmp_path / "back.txt"
    api.docker_ok("cp", "files:/tmp/note.txt", str(copied))
    assert copied.read_text() == "hello\n"
    status, headers, _ = api.request("HEAD", "/containers/files/archive?path=/tmp/note.txt")
    assert status == 200
    stat = json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))
    assert (stat["name"], stat["size"], stat["mode"] & 0o777, stat["linkTarget"]) == (
        "note.txt",
        6,
        0o644,
        "",
    )
    status, _, data = api.request("GET", "/containers/files/archive?path=/tmp/note.txt")
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.extractfile("note.txt")
        assert member is not None
        assert member.read() == b"hello\n"
    missing = api.request("HEAD", "/containers/files/archive?path=/nowhere")
    assert missing[0] == 404
    changed = api.docker_ok("diff", "files").split("\n")
    assert "A /tmp/note.txt" in changed
    exported = tmp_path / "files.tar"
    api.docker_ok("export", "-o", str(exported), "files")
    with tarfile.open(exported) as archive:
        assert "tmp/note.txt" in archive.getnames()
    top = api.docker_ok("top", "files")
    assert "sleep 600" in top
    stats = json.loads(api.docker_ok("stats", "--no-stream", "--format", "json", "files"))
    assert stats["Name"] == "files"
    assert stats["PIDs"] == "1"


def test_stats_document_one_shot_and_stream(api: ApiService) -> None:
    api.docker_ok("run", "-d", "--name", "counted", "-m", "64m", "busybox", "sleep", "600")
    status, document = api.json("GET", "/containers/counted/stats?stream=false&one-shot=true")
    assert status == 200
    assert document["name"] == "/counted"
    assert document["memory_stats"]["limit"] == 64 * 1024 * 1024
    assert document["pids_stats"]["current"] == 1
    assert document["cpu_stats"]["online_cpus"] >= 1
    assert document["cpu_stats"]["system_cpu_usage"] > 0
    assert "eth0" in document["networks"]


def test_update_and_prune(api: ApiService, box: Box) -> None:
    api.docker_ok("run", "-d", "--name", "tuned", "busybox", "sleep", "600")
    api.docker_ok("update", "--memory", "32m", "--restart", "always", "tuned")
    host = box.inspect("tuned")["HostConfig"]
    assert host["Memory"] == 32 * 1024 * 1024  # type: ignore[index]
    assert host["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}  # type: ignore[index]
    idle = api.docker_ok("create", "--name", "idle", "-l", "keep=no", "busybox", "true").strip()
    api.docker_ok("create", "--name", "kept", "busybox", "true")
    status, report = api.json("POST", f"/containers/prune?{query(filters={'label': ['keep=no']})}")
    assert status == 200
    assert report["ContainersDeleted"] == [idle]
    assert isinstance(report["SpaceReclaimed"], int)
    assert "Total reclaimed space" in api.docker_ok("container", "prune", "-f")
    assert api.docker_ok("ps", "-a", "--format", "{{.Names}}").split() == ["tuned"]


def test_a_wait_whose_client_went_ends(api: ApiService) -> None:
    """A client that gives up its wait (Ctrl-C on ``docker run``) does not leave the service
    polling the container for the rest of its life: once the client has shut its end, the
    service ends the answer and the connection (a service still waiting would answer only
    when the container exits, 600 s on)."""
    api.docker_ok("run", "-d", "--name", "long", "busybox", "sleep", "600")
    waiter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    waiter.settimeout(60)
    try:
        waiter.connect(str(api.socket))
        waiter.sendall(b"POST /containers/long/wait HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = waiter.recv(1 << 16)
        assert answer.startswith(b"HTTP/1.1 200")  # the headers come at once
        waiter.shutdown(socket.SHUT_WR)
        while chunk := waiter.recv(1 << 16):
            answer += chunk
    finally:
        waiter.close()
    assert b'"StatusCode": -1' in answer
    status, document = api.json("GET", "/containers/long/json")
    assert (status, document["State"]["Status"]) == (200, "running")
