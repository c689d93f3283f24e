"""The config a commit writes (images/commit.py), from container records built in code:
docker's container.Config of the container, the -c changes, moby's merge of an API body, the
history entry, Go's RFC 3339 times."""

from __future__ import annotations

from typing import Any

import pytest

from hybridock.errors import ConfigError
from hybridock.images import commit
from hybridock.runtime.config import RunOptions, docker_config, merge
from hybridock.runtime.containers import Container

IMAGE: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Volumes": {"/image-volume": {}}},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
    "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "hybridock tests"}],
}
CONTAINER_ID = "c" * 64


def container(options: RunOptions) -> Container:
    config = merge("busybox", "sha256:" + "b" * 64, IMAGE, CONTAINER_ID, options)
    return Container(
        id=CONTAINER_ID,
        name="box",
        image_id=config.image_id,
        image="busybox",
        argv=tuple(config.argv),
        config_json=config.to_json(),
        created=0.0,
        state="exited",
        pid=None,
        pid_start=None,
        monitor_pid=None,
        exit_code=0,
        started_at=None,
        finished_at=None,
        oom_killed=False,
        error=None,
    )


def test_the_container_config_in_dockers_order() -> None:
    made = container(RunOptions(command=("sh", "-c", "echo hi"), env=("X=1",), expose=("80",)))
    document = docker_config(made.config, IMAGE)
    assert list(document) == [
        "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
        "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes",
        "WorkingDir", "Entrypoint", "OnBuild", "Labels",
    ]  # fmt: skip
    assert document["Hostname"] == CONTAINER_ID[:12]
    assert document["ExposedPorts"] == {"80/tcp": {}}
    assert document["Volumes"] == {"/image-volume": {}}
    assert (document["WorkingDir"], document["Entrypoint"]) == ("", None)  # as the image had
    assert "X=1" in document["Env"]


def test_the_image_config_of_a_commit() -> None:
    made = container(RunOptions(command=("sh", "-c", "echo hi")))
    config = commit.image_config(
        IMAGE, made, author="Ada", message="msg", changes=["ENV A=b"], now=1_700_000_000_5 * 10**8
    )
    assert list(config) == sorted(config)  # docker's image store writes the keys sorted
    assert config["config"]["Env"][-1] == "A=b"
    assert "A=b" not in config["container_config"]["Env"]
    assert (config["container"], config["author"]) == (CONTAINER_ID, "Ada")
    assert config["created"] == "2023-11-14T22:13:20.5Z"
    assert config["history"][-1] == {
        "created": "2023-11-14T22:13:20.5Z",
        "author": "Ada",
        "created_by": "sh -c echo hi",
        "comment": "msg",
    }
    assert config["rootfs"] == IMAGE["rootfs"]  # record_image replaces it in place
    assert "comment" not in config  # docker keeps -m in the history only


def test_an_api_body_is_merged_with_the_container_config() -> None:
    made = container(RunOptions(command=("sh",), env=("X=1",), labels=("a=1",)))
    body = {"Cmd": ["true"], "Env": ["X=2"], "Labels": {"b": "2"}}
    config = commit.image_config(IMAGE, made, config=body)["config"]
    assert config["Cmd"] == ["true"]
    assert config["Env"][0] == "X=2" and "X=1" not in config["Env"]
    assert "PATH=/bin" in config["Env"]
    assert config["Labels"] == {"a": "1", "b": "2"}
    assert config["Hostname"] == ""  # docker's empty config: merge does not fill it
    assert config["Volumes"] == {"/image-volume": {}}


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_700_000_000_000_000_001, "2023-11-14T22:13:20.000000001Z"),
        (1_700_000_000_120_000_000, "2023-11-14T22:13:20.12Z"),
    ],
)
def test_rfc3339_nano_is_gos(nanoseconds: int, text: str) -> None:
    assert commit.rfc3339_nano(nanoseconds) == text


def test_a_bad_change_is_refused_before_anything_happens() -> None:
    with pytest.raises(ConfigError, match="from is not a valid change command"):
        commit.check_changes(["FROM busybox"])
