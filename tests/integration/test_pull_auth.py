"""Acceptance tests of pulling from registries that want credentials (issue 2).

A TLS registry with htpasswd users (its test CA trusted through hybridock's
``registry-ca-files``) and a token-auth registry (anonymous pull of public/*, ``alice`` may
pull anything). Credentials live in docker's config.json under a ``DOCKER_CONFIG`` and a
``HOME`` of the test's own, written by ``hybridock login`` or by the test itself.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import TLS_USER, TOKEN_USER, ImageBuilder
from tests.support.cli import CliResult, failed, ok, run_hybridock
from tests.support.images import ImageSpec, PushedImage
from tests.support.layers import File, Layer
from tests.support.registry import Registry
from tests.support.tokenserver import TokenRegistry

pytestmark = pytest.mark.registry

Run = Callable[..., CliResult]


def image(name: str) -> ImageSpec:
    return ImageSpec(layers=[Layer([File("who", name)]), Layer([File("layer2", name)], "zstd")])


def assert_nothing_stored(root: Path, run: Run) -> None:
    assert list((root / "layers").iterdir()) == []
    assert list((root / "blobs" / "sha256").iterdir()) == []
    assert list((root / "tmp").iterdir()) == []
    assert ok(run("images", "-q")).stdout == ""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    directory.mkdir()
    return directory


def runner(env: dict[str, str], home: Path) -> Run:
    environment = {**env, "HOME": str(home)}

    def run(*args: str, input: str | None = None) -> CliResult:
        return run_hybridock(args, env=environment, input=input, timeout=300)

    return run


def docker_config(env: dict[str, str]) -> Path:
    return Path(env["DOCKER_CONFIG"]) / "config.json"


def write_credentials(env: dict[str, str], address: str, user: str, password: str) -> None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    docker_config(env).write_text(json.dumps({"auths": {address: {"auth": token}}}))


# --- TLS + htpasswd -------------------------------------------------------------------------------


@pytest.fixture
def tls_setup(
    tls_registry: Registry,
    image_builder: ImageBuilder,
    make_hybridock_env: Callable[..., dict[str, str]],
    home: Path,
    request: pytest.FixtureRequest,
) -> tuple[PushedImage, dict[str, str], Run]:
    repository = "secure/" + request.node.name.lower().replace("_", "-")[:60]
    pushed = image_builder.push(image("tls"), tls_registry, repository)
    env = make_hybridock_env(tls_registry)
    return pushed, env, runner(env, home)


def test_tls_registry_refuses_an_anonymous_pull(
    tls_setup: tuple[PushedImage, dict[str, str], Run], hybridock_root: Path
) -> None:
    pushed, _, run = tls_setup

    message = failed(run("pull", pushed.reference))

    assert any(word in message.lower() for word in ("auth", "denied", "credentials")), message
    assert_nothing_stored(hybridock_root, run)


def test_tls_registry_pull_works_after_login(
    tls_setup: tuple[PushedImage, dict[str, str], Run], home: Path, hybridock_root: Path
) -> None:
    pushed, env, run = tls_setup

    login = ok(
        run(
            "login", "-u", TLS_USER[0], "--password-stdin", pushed.address, input=TLS_USER[1] + "\n"
        )
    )

    assert "Login Succeeded" in login.stdout
    saved = json.loads(docker_config(env).read_text())
    assert pushed.address in saved["auths"]
    assert not (home / ".docker").exists()  # DOCKER_CONFIG wins over HOME
    ok(run("pull", pushed.reference))
    assert ok(run("images", "-q", "--no-trunc")).stdout == f"{pushed.image.config_digest}\n"

    logout = ok(run("logout", pushed.address))
    assert pushed.address in logout.stdout
    ok(run("rmi", pushed.reference))
    failed(run("pull", pushed.reference))


def test_tls_registry_login_with_a_wrong_password_fails(
    tls_setup: tuple[PushedImage, dict[str, str], Run], hybridock_root: Path
) -> None:
    pushed, env, run = tls_setup

    failed(run("login", "-u", TLS_USER[0], "--password-stdin", pushed.address, input="wrong\n"))

    config = docker_config(env)
    assert not config.exists() or pushed.address not in config.read_text()


def test_tls_registry_pull_works_with_credentials_in_config_json(
    tls_setup: tuple[PushedImage, dict[str, str], Run], hybridock_root: Path
) -> None:
    pushed, env, run = tls_setup
    write_credentials(env, pushed.address, *TLS_USER)

    ok(run("pull", pushed.reference))

    assert ok(run("images", "-q", "--no-trunc")).stdout == f"{pushed.image.config_digest}\n"


def test_tls_registry_wrong_credentials_in_config_json_fail_clearly(
    tls_setup: tuple[PushedImage, dict[str, str], Run], hybridock_root: Path
) -> None:
    pushed, env, run = tls_setup
    write_credentials(env, pushed.address, TLS_USER[0], "not-the-password")

    message = failed(run("pull", pushed.reference))

    assert any(word in message.lower() for word in ("auth", "denied", "credentials")), message
    assert_nothing_stored(hybridock_root, run)


def test_tls_registry_without_its_ca_is_refused(
    tls_registry: Registry,
    image_builder: ImageBuilder,
    make_hybridock_env: Callable[..., dict[str, str]],
    home: Path,
    hybridock_root: Path,
) -> None:
    pushed = image_builder.push(image("no-ca"), tls_registry, "secure/no-ca")
    env = make_hybridock_env()  # no registry named: its CA is not trusted
    run = runner(env, home)
    write_credentials(env, pushed.address, *TLS_USER)

    message = failed(run("pull", pushed.reference))

    assert any(word in message.lower() for word in ("certificate", "tls", "ssl")), message
    assert_nothing_stored(hybridock_root, run)


# --- token auth ---------------------------------------------------------------------------------


@pytest.fixture
def token_setup(
    token_registry: TokenRegistry,
    image_builder: ImageBuilder,
    make_hybridock_env: Callable[..., dict[str, str]],
    home: Path,
) -> tuple[dict[str, PushedImage], dict[str, str], Run]:
    pushed = {
        "public": image_builder.push(image("public"), token_registry, "public/app"),
        "private": image_builder.push(image("private"), token_registry, "private/app"),
    }
    token_registry.reset()
    env = make_hybridock_env(token_registry.registry)
    return pushed, env, runner(env, home)


def test_token_registry_gives_anonymous_pull_of_public_repositories(
    token_setup: tuple[dict[str, PushedImage], dict[str, str], Run],
    token_registry: TokenRegistry,
) -> None:
    pushed, _, run = token_setup

    ok(run("pull", pushed["public"].reference))

    assert ok(run("images", "-q", "--no-trunc")).stdout == (
        f"{pushed['public'].image.config_digest}\n"
    )
    assert token_registry.tokens.requests
    assert all(r.username is None for r in token_registry.tokens.requests)


def test_token_registry_refuses_anonymous_pull_of_private_repositories(
    token_setup: tuple[dict[str, PushedImage], dict[str, str], Run], hybridock_root: Path
) -> None:
    pushed, _, run = token_setup

    message = failed(run("pull", pushed["private"].reference))

    assert any(
        word in message.lower() for word in ("auth", "denied", "not found", "credentials")
    ), message
    assert_nothing_stored(hybridock_root, run)


@pytest.mark.parametrize("how", ["login", "config-json"])
def test_token_registry_user_pull_with_credentials(
    how: str,
    token_setup: tuple[dict[str, PushedImage], dict[str, str], Run],
    token_registry: TokenRegistry,
) -> None:
    pushed, env, run = token_setup
    address = pushed["private"].address
    if how == "login":
        ok(
            run(
                "login",
                "-u",
                TOKEN_USER[0],
                "--password-stdin",
                address,
                input=TOKEN_USER[1] + "\n",
            )
        )
    else:
        write_credentials(env, address, *TOKEN_USER)

    ok(run("pull", pushed["private"].reference))
    ok(run("pull", pushed["public"].reference))

    assert len(ok(run("images", "-q")).stdout.split()) == 2
    assert any(r.username == TOKEN_USER[0] for r in token_registry.tokens.requests)


@pytest.mark.parametrize("repository", ["public", "private"])
def test_token_registry_wrong_credentials_fail_clearly(
    repository: str,
    token_setup: tuple[dict[str, PushedImage], dict[str, str], Run],
    hybridock_root: Path,
) -> None:
    pushed, env, run = token_setup
    write_credentials(env, pushed[repository].address, TOKEN_USER[0], "not-wonderland")

    message = failed(run("pull", pushed[repository].reference))

    assert any(word in message.lower() for word in ("auth", "denied", "credentials")), message
    assert_nothing_stored(hybridock_root, run)


def test_token_registry_login_with_wrong_credentials_fails(
    token_setup: tuple[dict[str, PushedImage], dict[str, str], Run],
) -> None:
    pushed, env, run = token_setup
    address = pushed["private"].address

    failed(run("login", "-u", TOKEN_USER[0], "--password-stdin", address, input="nope\n"))

    config = docker_config(env)
    assert not config.exists() or address not in config.read_text()
