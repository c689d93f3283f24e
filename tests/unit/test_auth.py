"""WWW-Authenticate parsing and docker credential lookup (config.json, credential helpers)."""

from __future__ import annotations

import base64
import email.utils
import json
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hybridock.config import Config
from hybridock.errors import AuthenticationError, ConfigError
from hybridock.registry.auth import (
    Authenticator,
    Challenge,
    parse_www_authenticate,
    registry_error_text,
)
from hybridock.registry.credentials import (
    Credentials,
    erase_credentials,
    lookup_credentials,
    server_key,
    store_credentials,
)
from hybridock.registry.transport import RetryPolicy, Transport, parse_retry_after


@pytest.mark.parametrize(
    ("name", "header", "expected"),
    [
        (
            "docker hub",
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/busybox:pull"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.docker.io/token",
                        "service": "registry.docker.io",
                        "scope": "repository:library/busybox:pull",
                    },
                )
            ],
        ),
        (
            "basic",
            'Basic realm="Registry Realm"',
            [Challenge("basic", {"realm": "Registry Realm"})],
        ),
        ("bare scheme", "Basic", [Challenge("basic", {})]),
        (
            "spaces and unquoted values",
            'bearer  realm = "https://a/t" , service=reg',
            [Challenge("bearer", {"realm": "https://a/t", "service": "reg"})],
        ),
        (
            "escaped quote and comma in a value",
            r'Bearer realm="https://a/t",error="say \"hi\", ok"',
            [Challenge("bearer", {"realm": "https://a/t", "error": 'say "hi", ok'})],
        ),
        (
            "scope with several actions",
            'Bearer realm="r",scope="repository:a/b:pull,push"',
            [Challenge("bearer", {"realm": "r", "scope": "repository:a/b:pull,push"})],
        ),
        (
            "two challenges in one header",
            'Basic realm="x", Bearer realm="https://t",service="s"',
            [
                Challenge("basic", {"realm": "x"}),
                Challenge("bearer", {"realm": "https://t", "service": "s"}),
            ],
        ),
        ("empty", "", []),
    ],
)
def test_parse_www_authenticate(name: str, header: str, expected: list[Challenge]) -> None:
    assert parse_www_authenticate(header) == expected, name


def test_parse_several_header_values() -> None:
    parsed = parse_www_authenticate(['Basic realm="a"', 'Bearer realm="b"'])
    assert [c.scheme for c in parsed] == ["basic", "bearer"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
            "unauthorized: authentication required",
        ),
        (
            b'{"details":"incorrect username or password"}',
            "unauthorized: incorrect username or password",
        ),
        (b"<html>nope</html>", "fallback"),
        (b'{"errors":[{"code":"DENIED","message":"a\\nb"}]}', "denied: a"),
    ],
)
def test_registry_error_text(body: bytes, expected: str) -> None:
    assert registry_error_text(body, "fallback") == expected


# --- credentials ---------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("name", "registry", "expected_key"),
    [
        ("docker.io", "docker.io", "https://index.docker.io/v1/"),
        ("legacy index", "index.docker.io", "https://index.docker.io/v1/"),
        ("registry-1", "registry-1.docker.io", "https://index.docker.io/v1/"),
        ("host and port", "localhost:5000", "localhost:5000"),
        ("url", "https://quay.io/", "quay.io"),
    ],
)
def test_server_key(name: str, registry: str, expected_key: str) -> None:
    assert server_key(registry) == expected_key, name


@pytest.mark.parametrize(
    ("name", "auths", "registry", "expected"),
    [
        ("hub by index key", {"https://index.docker.io/v1/": {"auth": b64("u:p")}}, "docker.io",
         Credentials("u", "p")),
        ("hub from registry-1 host", {"https://index.docker.io/v1/": {"auth": b64("u:p")}},
         "registry-1.docker.io", Credentials("u", "p")),
        ("podman-style hub key", {"docker.io": {"auth": b64("u:p")}}, "docker.io",
         Credentials("u", "p")),
        ("host:port", {"localhost:5000": {"auth": b64("a:b:c")}}, "localhost:5000",
         Credentials("a", "b:c")),
        ("url-shaped key", {"https://myreg.example:5000/v1/": {"auth": b64("x:y")}},
         "myreg.example:5000", Credentials("x", "y")),
        ("username and password fields", {"r.example": {"username": "n", "password": "s"}},
         "r.example", Credentials("n", "s")),
        ("identity token", {"r.example": {"auth": b64("n:"), "identitytoken": "refresh"}},
         "r.example", Credentials("n", "", "refresh")),
        ("other registry only", {"other.example": {"auth": b64("u:p")}}, "r.example", None),
        ("port must match", {"r.example:5000": {"auth": b64("u:p")}}, "r.example", None),
        ("empty entry", {"r.example": {}}, "r.example", None),
    ],
)  # fmt: skip
def test_lookup_from_auths(
    tmp_path: Path, name: str, auths: dict[str, Any], registry: str, expected: Credentials | None
) -> None:
    path = write_config(tmp_path / "config.json", {"auths": auths})
    assert lookup_credentials(path, registry) == expected, name


def test_missing_file_is_anonymous(tmp_path: Path) -> None:
    assert lookup_credentials(tmp_path / "none.json", "docker.io") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [("{nope", "invalid JSON"), ('{"auths": {"r": {"auth": "!!!"}}}', "invalid base64")],
)
def test_malformed_config_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=f"{path}.*{message}"):
        lookup_credentials(path, "r")


@pytest.fixture
def helper_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake docker-credential-fake in a temporary PATH; it logs its calls to calls.log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-fake"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            input=$(cat)
            echo "$1 $input" >> {tmp_path}/calls.log
            case "$1" in
              get)
                case "$input" in
                  secure.example)
                    echo '{{"ServerURL":"secure.example","Username":"hu","Secret":"hs"}}' ;;
                  token.example)
                    echo '{{"ServerURL":"token.example","Username":"<token>","Secret":"rt"}}' ;;
                  *) echo "credentials not found in native keychain"; exit 1 ;;
                esac ;;
              store|erase) exit 0 ;;
            esac
            """
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return tmp_path / "calls.log"


@pytest.mark.parametrize(
    ("name", "config", "registry", "expected"),
    [
        ("credHelpers entry", {"credHelpers": {"secure.example": "fake"}}, "secure.example",
         Credentials("hu", "hs")),
        ("credsStore for all", {"credsStore": "fake"}, "secure.example", Credentials("hu", "hs")),
        ("identity token from helper", {"credsStore": "fake"}, "token.example",
         Credentials("", "", "rt")),
        ("not found falls back to auths",
         {"credsStore": "fake", "auths": {"plain.example": {"auth": b64("f:g")}}},
         "plain.example", Credentials("f", "g")),
        ("not found anywhere", {"credsStore": "fake"}, "nowhere.example", None),
    ],
)  # fmt: skip
def test_lookup_with_helpers(
    tmp_path: Path,
    helper_path: Path,
    *,
    name: str,
    config: dict[str, Any],
    registry: str,
    expected: Credentials | None,
) -> None:
    path = write_config(tmp_path / "config.json", config)
    assert lookup_credentials(path, registry) == expected, name
    assert helper_path.read_text().startswith(f"get {registry}")


def test_missing_helper_is_an_authentication_error(tmp_path: Path, helper_path: Path) -> None:
    path = write_config(tmp_path / "config.json", {"credsStore": "absent"})
    with pytest.raises(AuthenticationError, match="docker-credential-absent not found"):
        lookup_credentials(path, "r.example")


def test_store_and_erase_in_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.json", {"auths": {}, "psFormat": "keep me"})
    store_credentials(path, "docker.io", "me", "pw")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["psFormat"] == "keep me"
    assert data["auths"]["https://index.docker.io/v1/"] == {"auth": b64("me:pw")}
    assert lookup_credentials(path, "docker.io") == Credentials("me", "pw")
    assert erase_credentials(path, "docker.io") is True
    assert lookup_credentials(path, "docker.io") is None
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"], "no temp files left"


def test_store_through_a_helper(tmp_path: Path, helper_path: Path) -> None:
    path = write_config(tmp_path / "config.json", {"credHelpers": {"secure.example": "fake"}})
    store_credentials(path, "secure.example", "me", "pw")
    assert "me" not in path.read_text(), "secrets stay in the helper"
    logged = helper_path.read_text()
    assert logged.startswith("store ")
    assert json.loads(logged.removeprefix("store ")) == {
        "ServerURL": "secure.example",
        "Username": "me",
        "Secret": "pw",
    }


def test_credentials_repr_hides_secrets() -> None:
    assert "pw" not in repr(Credentials("me", "pw", "tok"))


def test_credentials_never_go_to_a_plain_http_realm_elsewhere(tmp_path: Path) -> None:
    config = Config(auth_file=tmp_path / "auth.json")
    authenticator = Authenticator(Transport(config), config, lambda registry: None)
    challenge = Challenge("bearer", {"realm": "http://auth.example/token", "service": "s"})
    with pytest.raises(AuthenticationError, match=r"plain http to token server auth\.example"):
        authenticator.fetch_token(challenge, "repository:x:pull", Credentials("u", "p"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:27:30 GMT").timestamp()
    assert parse_retry_after(value, now) == expected


def test_backoff_is_bounded_and_grows() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    assert all(0.25 <= policy.backoff(0) <= 0.5 for _ in range(50))
    assert all(2.0 <= policy.backoff(10) <= 4.0 for _ in range(50))
