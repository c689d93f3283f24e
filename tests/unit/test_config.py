"""hybridock's configuration file and environment overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hybridock.config import Config, default_config_path, load_config
from hybridock.errors import ConfigError


def write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("name", "env", "euid", "expected"),
    [
        ("explicit", {"HYBRIDOCK_CONFIG": "/x/c.json"}, 0, "/x/c.json"),
        ("root", {}, 0, "/etc/hybridock/config.json"),
        ("user xdg", {"XDG_CONFIG_HOME": "/xdg"}, 1000, "/xdg/hybridock/config.json"),
        ("user home", {"HOME": "/home/u"}, 1000, "/home/u/.config/hybridock/config.json"),
    ],
)
def test_config_path(name: str, env: dict[str, str], euid: int, expected: str) -> None:
    assert default_config_path(env, euid) == Path(expected), name


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = load_config({"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}, euid=1000)
    assert config == Config(auth_file=tmp_path / ".docker" / "config.json")
    assert config.max_concurrent_downloads == 3
    assert config.mirrors_for("docker.io") == ()


def test_a_full_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.json",
        {
            "registry-mirrors": {"docker.io": ["http://127.0.0.1:5000/"], "quay.io": []},
            "insecure-registries": ["lab.example:5000"],
            "registry-ca-files": {"secure.example": "/ca.pem"},
            "auth-file": "/auth.json",
            "max-concurrent-downloads": 5,
        },
    )
    config = load_config({"HYBRIDOCK_CONFIG": str(path)}, euid=0)
    assert config.source == path
    assert config.mirrors_for("index.docker.io") == ("http://127.0.0.1:5000",)
    assert config.is_insecure("lab.example:5000")
    assert config.allows_plain_http("lab.example:5000")
    assert config.allows_plain_http("localhost:1234")
    assert config.allows_plain_http("[::1]:5000")
    assert not config.allows_plain_http("secure.example")
    assert config.ca_file_for("secure.example") == "/ca.pem"
    assert config.auth_file == Path("/auth.json")
    assert config.max_concurrent_downloads == 5


def test_docker_style_mirror_list_means_docker_hub(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", {"registry-mirrors": ["https://mirror.example"]})
    config = load_config({"HYBRIDOCK_CONFIG": str(path)}, euid=0)
    assert config.mirrors_for("docker.io") == ("https://mirror.example",)


@pytest.mark.parametrize(
    ("name", "env", "registry", "mirrors"),
    [
        ("bare url", "http://127.0.0.1:5000", "docker.io", ("http://127.0.0.1:5000",)),
        (
            "several",
            "docker.io=http://127.0.0.1:1,quay.io=https://m.example, http://127.0.0.1:2",
            "docker.io",
            ("http://127.0.0.1:1", "http://127.0.0.1:2"),
        ),
        ("other registry", "quay.io=https://m.example", "quay.io", ("https://m.example",)),
    ],
)
def test_mirror_environment(name: str, env: str, registry: str, mirrors: tuple[str, ...]) -> None:
    config = load_config({"HYBRIDOCK_REGISTRY_MIRRORS": env, "HOME": "/nonexistent"}, euid=1000)
    assert config.mirrors_for(registry) == mirrors, name


def test_insecure_environment() -> None:
    config = load_config(
        {"HYBRIDOCK_INSECURE_REGISTRIES": "a.example:5000, b.example", "HOME": "/none"}, euid=1000
    )
    assert config.is_insecure("a.example:5000")
    assert config.is_insecure("b.example:443"), "a host without port covers every port"
    assert not config.is_insecure("c.example")


@pytest.mark.parametrize(
    ("name", "env", "expected"),
    [
        ("registry auth file wins", {"REGISTRY_AUTH_FILE": "/r.json", "DOCKER_CONFIG": "/d"},
         "/r.json"),
        ("docker config dir", {"DOCKER_CONFIG": "/d"}, "/d/config.json"),
        ("home", {"HOME": "/h"}, "/h/.docker/config.json"),
    ],
)  # fmt: skip
def test_auth_file(name: str, env: dict[str, str], expected: str) -> None:
    assert load_config({**env, "XDG_CONFIG_HOME": "/none"}, euid=1000).auth_file == Path(expected)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("invalid json", "{", "invalid JSON"),
        ("not an object", "[]", "must be a JSON object"),
        ("unknown key", {"registry-mirror": []}, "unknown key 'registry-mirror'"),
        ("mirror not a url", {"registry-mirrors": ["mirror.example"]}, "http:// or https://"),
        ("mirror with a path", {"registry-mirrors": ["https://m.example/v2"]}, "not have a path"),
        ("plain http to a remote mirror", {"registry-mirrors": ["http://10.1.2.3:5000"]},
         "plain http"),
        ("insecure not a list", {"insecure-registries": "x"}, "insecure-registries"),
        ("downloads zero", {"max-concurrent-downloads": 0}, "max-concurrent-downloads"),
        ("downloads bool", {"max-concurrent-downloads": True}, "max-concurrent-downloads"),
        ("ca files", {"registry-ca-files": ["x"]}, "registry-ca-files"),
    ],
)  # fmt: skip
def test_malformed_file_names_it(tmp_path: Path, name: str, content: Any, message: str) -> None:
    path = write(tmp_path / "c.json", content)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config({"HYBRIDOCK_CONFIG": str(path)}, euid=0)
    assert str(raised.value).startswith(str(path)), name


def test_insecure_remote_mirror_is_allowed_when_marked(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.json",
        {"registry-mirrors": ["http://10.1.2.3:5000"], "insecure-registries": ["10.1.2.3:5000"]},
    )
    config = load_config({"HYBRIDOCK_CONFIG": str(path)}, euid=0)
    assert config.mirrors_for("docker.io") == ("http://10.1.2.3:5000",)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config({"HYBRIDOCK_CONFIG": str(tmp_path / "absent.json")}, euid=0)


def test_a_bad_environment_override_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", {})
    env = {"HYBRIDOCK_CONFIG": str(path), "HYBRIDOCK_REGISTRY_MIRRORS": "docker.io=ftp://x"}
    with pytest.raises(ConfigError, match=r"^HYBRIDOCK_REGISTRY_MIRRORS: mirror 'ftp://x'"):
        load_config(env, euid=0)


@pytest.mark.parametrize(
    ("name", "file", "env", "size", "entries"),
    [
        ("defaults", {}, {}, 32 * 1024**3, 5_000_000),
        ("file", {"max-layer-size": 1024, "max-layer-entries": 7}, {}, 1024, 7),
        (
            "environment over the file",
            {"max-layer-size": 1024, "max-layer-entries": 7},
            {"HYBRIDOCK_MAX_LAYER_SIZE": "2048", "HYBRIDOCK_MAX_LAYER_ENTRIES": " 9 "},
            2048,
            9,
        ),
        (
            "empty variable means unset",
            {},
            {"HYBRIDOCK_MAX_LAYER_SIZE": ""},
            32 * 1024**3,
            5_000_000,
        ),
    ],
)
def test_layer_budget(
    tmp_path: Path, name: str, file: dict[str, int], env: dict[str, str], size: int, entries: int
) -> None:
    path = write(tmp_path / "c.json", file)
    config = load_config({"HYBRIDOCK_CONFIG": str(path), **env}, euid=0)
    assert (config.max_layer_size, config.max_layer_entries) == (size, entries), name


@pytest.mark.parametrize(
    ("name", "file", "env", "message"),
    [
        ("zero in the file", {"max-layer-size": 0}, {}, "'max-layer-size' must be a positive"),
        ("a string", {"max-layer-entries": "many"}, {}, "'max-layer-entries' must be a positive"),
        ("a boolean", {"max-layer-size": True}, {}, "'max-layer-size' must be a positive"),
        ("not a number", {}, {"HYBRIDOCK_MAX_LAYER_SIZE": "1G"}, "HYBRIDOCK_MAX_LAYER_SIZE: '1G'"),
        ("negative", {}, {"HYBRIDOCK_MAX_LAYER_ENTRIES": "-1"}, "HYBRIDOCK_MAX_LAYER_ENTRIES"),
    ],
)
def test_a_bad_layer_budget_is_refused(
    tmp_path: Path, name: str, file: dict[str, Any], env: dict[str, str], message: str
) -> None:
    path = write(tmp_path / "c.json", file)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config({"HYBRIDOCK_CONFIG": str(path), **env}, euid=0)
