"""Credentials from docker's ``config.json``: ``auths``, ``credHelpers`` and ``credsStore``.

Keys are matched the way docker does: docker.io is stored under
``https://index.docker.io/v1/``, any other registry under ``host[:port]``; an ``auths`` key
written as a URL (``https://host/v1/``) matches its host. A registry listed in
``credHelpers`` (or every registry, with ``credsStore``) asks
``docker-credential-<name> get`` with the server URL on stdin; "not found" answers fall back to
``auths``. Saving writes the file atomically with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from hybridock.config import normalize_registry
from hybridock.errors import AuthenticationError, ConfigError

if TYPE_CHECKING:
    import subprocess

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HELPER_TIMEOUT = 60.0


class Credentials(NamedTuple):
    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:  # never print secrets
        return f"Credentials(username={self.username!r}, password=***, identity_token=***)"


def server_key(registry: str) -> str:
    """docker's config.json key for a registry (docker.io -> https://index.docker.io/v1/)."""
    key = normalize_registry(registry)
    return DOCKER_HUB_KEY if key == "docker.io" else key


def _hostname(key: str) -> str:
    """docker's ConvertToHostname: strip scheme and path."""
    if "://" in key:
        key = urlsplit(key).netloc
    return normalize_registry(key.split("/", 1)[0])


def read_docker_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: invalid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a JSON object")
    return data


def _decode_entry(entry: Any, path: Path, key: str) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(f"{path}: invalid base64 'auth' for {key}") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise ConfigError(f"{path}: 'auth' for {key} is not user:password")
    token = entry.get("identitytoken") or ""
    if not (isinstance(username, str) and isinstance(password, str) and isinstance(token, str)):
        raise ConfigError(f"{path}: credentials for {key} must be strings")
    if not username and not password and not token:
        return None
    return Credentials(username, password, token)


def _helper_name(data: dict[str, Any], key: str) -> str | None:
    helpers = data.get("credHelpers")
    if isinstance(helpers, dict):
        for name in (key, _hostname(key)):
            helper = helpers.get(name)
            if isinstance(helper, str) and helper:
                return helper
    store = data.get("credsStore")
    return store if isinstance(store, str) and store else None


def _run_helper(helper: str, action: str, payload: str) -> subprocess.CompletedProcess[str]:
    import subprocess  # noqa: PLC0415 - only credential helpers need it (a pull rarely does)

    program = f"docker-credential-{helper}"
    try:
        return subprocess.run(
            [program, action],
            input=payload,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise AuthenticationError(f"credential helper {program} not found in PATH") from None
    except subprocess.TimeoutExpired:
        raise AuthenticationError(f"credential helper {program} timed out") from None


def _helper_get(helper: str, key: str) -> Credentials | None:
    result = _run_helper(helper, "get", key)
    if result.returncode != 0:
        message = (result.stdout.strip() or result.stderr.strip()).splitlines()
        text = message[0] if message else f"exit status {result.returncode}"
        if "credentials not found" in text.lower():
            return None
        raise AuthenticationError(f"docker-credential-{helper} get: {text}")
    try:
        answer = json.loads(result.stdout)
        username, secret = str(answer.get("Username", "")), str(answer.get("Secret", ""))
    except (ValueError, AttributeError):
        raise AuthenticationError(f"docker-credential-{helper} get: malformed answer") from None
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username, secret) if username or secret else None


def lookup_credentials(auth_file: Path, registry: str) -> Credentials | None:
    """Credentials for ``registry`` (host[:port] or docker.io), or None for anonymous."""
    data = read_docker_config(auth_file)
    key = server_key(registry)
    helper = _helper_name(data, key)
    if helper is not None:
        found = _helper_get(helper, key)
        if found is not None:
            return found
    auths = data.get("auths")
    if not isinstance(auths, dict):
        return None
    if key in auths:
        return _decode_entry(auths[key], auth_file, key)
    wanted = _hostname(key)
    for stored_key, entry in auths.items():
        if isinstance(stored_key, str) and _hostname(stored_key) == wanted:
            return _decode_entry(entry, auth_file, stored_key)
    return None


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    import tempfile  # noqa: PLC0415 - only login and logout write the file

    text = json.dumps(data, indent="\t") + "\n"
    fd, temp_name = tempfile.mkstemp(prefix=".config.json.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp_name).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(temp_name).unlink()
        raise


def store_credentials(auth_file: Path, registry: str, username: str, password: str) -> None:
    """Save credentials where docker would: the registry's helper, else ``auths``."""
    data = read_docker_config(auth_file)
    key = server_key(registry)
    helper = _helper_name(data, key)
    if helper is not None:
        payload = json.dumps({"ServerURL": key, "Username": username, "Secret": password})
        result = _run_helper(helper, "store", payload)
        if result.returncode != 0:
            text = (result.stdout.strip() or result.stderr.strip() or "failed").splitlines()[0]
            raise AuthenticationError(f"docker-credential-{helper} store: {text}")
        auths = data.setdefault("auths", {})
        if isinstance(auths, dict):
            auths.setdefault(key, {})
        _write_atomically(auth_file, data)
        return
    auths = data.get("auths")
    if not isinstance(auths, dict):
        auths = data["auths"] = {}
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    auths[key] = {"auth": encoded}
    _write_atomically(auth_file, data)


def erase_credentials(auth_file: Path, registry: str) -> bool:
    """Forget the registry's credentials; True when something was removed."""
    data = read_docker_config(auth_file)
    key = server_key(registry)
    removed = False
    helper = _helper_name(data, key)
    if helper is not None:
        result = _run_helper(helper, "erase", key)
        removed = result.returncode == 0
    auths = data.get("auths")
    if isinstance(auths, dict):
        for stored_key in [
            k for k in auths if isinstance(k, str) and _hostname(k) == _hostname(key)
        ]:
            del auths[stored_key]
            removed = True
        _write_atomically(auth_file, data)
    return removed
