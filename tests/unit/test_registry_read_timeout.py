"""The registry read timeout (issue 10): how long a registry may send nothing before a read
gives up. Configured by ``registry-read-timeout`` or ``HYBRIDOCK_REGISTRY_READ_TIMEOUT``; a
silent answer becomes ``ReadTimeout`` naming the bound, whether the silence comes before the
headers or in the middle of the body. (End to end: tests/integration/test_hostile_registry.py.)
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from hybridock.config import DEFAULT_REGISTRY_READ_TIMEOUT, Config, load_config
from hybridock.errors import ConfigError
from hybridock.registry.connection import Connection, Pool, ReadTimeout, Response
from hybridock.registry.transport import RetryPolicy, Transport


def config_from(tmp_path: Path, data: object, env: dict[str, str] | None = None) -> Config:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return load_config({"HOME": str(tmp_path), **(env or {})}, euid=0, path=path)


@pytest.mark.parametrize(
    ("name", "data", "env", "seconds"),
    [
        ("default", {}, {}, DEFAULT_REGISTRY_READ_TIMEOUT),
        ("file, whole seconds", {"registry-read-timeout": 5}, {}, 5.0),
        ("file, fraction", {"registry-read-timeout": 0.25}, {}, 0.25),
        (
            "environment wins",
            {"registry-read-timeout": 5},
            {"HYBRIDOCK_REGISTRY_READ_TIMEOUT": " 1.5 "},
            1.5,
        ),
        ("empty environment", {}, {"HYBRIDOCK_REGISTRY_READ_TIMEOUT": ""}, 30.0),
    ],
)
def test_the_read_timeout_comes_from_the_file_or_the_environment(
    name: str, data: object, env: dict[str, str], seconds: float, tmp_path: Path
) -> None:
    assert config_from(tmp_path, data, env).registry_read_timeout == seconds, name


@pytest.mark.parametrize(
    ("name", "data", "env", "message"),
    [
        ("zero", {"registry-read-timeout": 0}, {}, "'registry-read-timeout' must be a positive"),
        ("text", {"registry-read-timeout": "30s"}, {}, "'registry-read-timeout' must be a"),
        ("boolean", {"registry-read-timeout": True}, {}, "'registry-read-timeout' must be a"),
        (
            "environment not a number",
            {},
            {"HYBRIDOCK_REGISTRY_READ_TIMEOUT": "30s"},
            "HYBRIDOCK_REGISTRY_READ_TIMEOUT: '30s' is not a number of seconds",
        ),
        (
            "environment infinite",
            {},
            {"HYBRIDOCK_REGISTRY_READ_TIMEOUT": "inf"},
            "HYBRIDOCK_REGISTRY_READ_TIMEOUT: must be a positive number of seconds",
        ),
        (
            "environment not a number at all",
            {},
            {"HYBRIDOCK_REGISTRY_READ_TIMEOUT": "nan"},
            "HYBRIDOCK_REGISTRY_READ_TIMEOUT: must be a positive number of seconds",
        ),
    ],
)
def test_a_read_timeout_that_is_not_a_positive_number_is_refused(
    name: str, data: object, env: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from(tmp_path, data, env)


def test_the_transport_reads_with_the_configured_timeout(tmp_path: Path) -> None:
    config = Config(auth_file=tmp_path / "auth.json", registry_read_timeout=2.5)
    assert Transport(config).retry.read_timeout == 2.5
    assert Transport(config, retry=RetryPolicy(read_timeout=9)).retry.read_timeout == 9


def test_silence_before_the_headers_is_a_read_timeout(
    silent_server: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = silent_server
    theirs.sendall(b"HTTP/1.1 200 OK\r\n")

    with pytest.raises(ReadTimeout, match=r"^read timed out \(no data for 0.2 s\)$"):
        Response(Connection(ours), Pool(per_key=1), "key", "GET")


def test_silence_in_the_body_is_a_read_timeout_and_the_connection_is_not_reused(
    silent_server: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = silent_server
    theirs.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
    pool = Pool(per_key=1)
    response = Response(Connection(ours), pool, "key", "GET")

    with pytest.raises(ReadTimeout, match=r"^read timed out \(no data for 0.2 s\)$"):
        response.read()
    response.release_conn()

    assert pool.take("key") is None
