"""The container routes next to dockerd's (tests/support/dockerd.py): the same raw requests,
in the same order, to the private dockerd and to ``hybridock system service``; statuses,
bodies and the words of errors compared where a client reads them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.integration.apisupport import ApiService, UnixConnection, service_fixture
from tests.integration.sidebyside import both, docker, our_box  # noqa: F401 (fixtures)
from tests.integration.test_containers import Box
from tests.support.dockerd import Dockerd

pytestmark = [pytest.mark.root, pytest.mark.registry]

box = our_box("api-containers-docker")
service = service_fixture()

Ask = Callable[[str, str, Any], tuple[int, Any]]


def asker(socket: Path) -> Ask:
    def ask(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        connection = UnixConnection(socket)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        return response.status, json.loads(raw) if raw.strip() else None

    return ask


@pytest.fixture
def sides(
    both: tuple[Dockerd, Box],  # noqa: F811 (the fixture)
    service: ApiService,
) -> dict[str, Ask]:
    dockerd, _ = both
    return {"docker": asker(dockerd.socket), "hybridock": asker(service.socket)}


def alike(text: str, ids: dict[str, str]) -> str:
    """A message with each side's container ids as the names the test gave them."""
    for name, container_id in ids.items():
        text = text.replace(container_id, f"<{name}>")
    return re.sub(r"\b[0-9a-f]{64}\b", "<id>", text)


#: refusals whose words changed after docker 20.10 (the private dockerd here): hybridock has
#: the later ones (moby 25's), so their statuses alone are compared
WORDS_OF_THE_DAEMONS_VERSION = ("remove it running", "kill it stopped")


def run_script(ask: Ask) -> list[tuple[str, int, Any]]:
    """One side's answers to the script, each with the step's name."""
    answers: list[tuple[str, int, Any]] = []
    ids: dict[str, str] = {}

    def step(name: str, method: str, path: str, body: Any = None) -> Any:
        status, document = ask(method, path, body)
        if name in WORDS_OF_THE_DAEMONS_VERSION:
            document = None
        elif isinstance(document, dict) and "message" in document:
            document = {"message": alike(document["message"], ids)}
        answers.append((name, status, document))
        return document

    made = step(
        "create",
        "POST",
        "/containers/create?name=job",
        {"Image": "busybox", "Cmd": ["sh", "-c", "exit 3"]},
    )
    ids["job"] = made["Id"]
    answers[-1] = ("create", answers[-1][1], sorted(made))
    step("create a taken name", "POST", "/containers/create?name=job", {"Image": "busybox"})
    step("create of a missing image", "POST", "/containers/create", {"Image": "nosuch"})
    step("inspect of nothing", "GET", "/containers/nosuch/json")
    step("stop of a created one", "POST", "/containers/job/stop")
    step("start", "POST", "/containers/job/start")
    step("wait", "POST", "/containers/job/wait")
    step("stop of an exited one", "POST", "/containers/job/stop")
    step("top of an exited one", "GET", "/containers/job/top")
    step("archive of a missing path", "HEAD", "/containers/job/archive?path=/nowhere")
    sleeper = step(
        "create a sleeper",
        "POST",
        "/containers/create?name=sleeper",
        {"Image": "busybox", "Cmd": ["sleep", "600"]},
    )
    ids["sleeper"] = sleeper["Id"]
    answers[-1] = ("create a sleeper", answers[-1][1], sorted(sleeper))
    step("start the sleeper", "POST", "/containers/sleeper/start")
    step("start it again", "POST", "/containers/sleeper/start")
    step("remove it running", "DELETE", "/containers/sleeper")
    step("kill it", "POST", "/containers/sleeper/kill")
    step("wait for it", "POST", "/containers/sleeper/wait")
    step("kill it stopped", "POST", "/containers/sleeper/kill")
    step("an unknown wait condition", "POST", "/containers/sleeper/wait?condition=soon")
    pruned = step("prune", "POST", "/containers/prune")
    deleted = sorted(pruned["ContainersDeleted"])
    answers[-1] = ("prune", answers[-1][1], deleted == sorted(ids.values()))
    step("inspect of a pruned one", "GET", "/containers/job/json")
    return answers


def test_a_containers_life_answers_as_dockerd(sides: dict[str, Ask]) -> None:
    theirs = run_script(sides["docker"])
    ours = run_script(sides["hybridock"])
    differ = [
        (name, expected, got)
        for (name, *expected), (_, *got) in zip(theirs, ours, strict=True)
        if got != expected
    ]
    assert differ == []


def test_wait_answers_as_dockerd(sides: dict[str, Ask]) -> None:
    for ask in sides.values():
        status, made = ask(
            "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sh", "-c", "exit 4"]}
        )
        assert status == 201
        assert ask("POST", f"/containers/{made['Id']}/start", None)[0] == 204
    documents = [
        ask("POST", f"/containers/{container}/wait?condition=not-running", None)
        for ask, container in (
            (sides["docker"], _last(sides["docker"])),
            (sides["hybridock"], _last(sides["hybridock"])),
        )
    ]
    assert documents[0] == documents[1] == (200, {"StatusCode": 4, "Error": None})


def _last(ask: Ask) -> str:
    status, entries = ask("GET", "/containers/json?all=1&limit=1", None)
    assert status == 200
    return str(entries[0]["Id"])
