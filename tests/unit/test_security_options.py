"""``--security-opt`` parsing and the default seccomp profile, without containers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybridock import _native
from hybridock.errors import ConfigError
from hybridock.runtime.config import ContainerConfig
from hybridock.runtime.seccomp import (
    DEFAULT,
    UNCONFINED,
    default_profile,
    parse_security_options,
    seccomp_filter,
)

DENY_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
}


@pytest.mark.parametrize(
    ("name", "options", "seccomp", "no_new_privileges", "shown"),
    [
        ("nothing", [], DEFAULT, False, ()),
        ("unconfined", ["seccomp=unconfined"], UNCONFINED, False, ("seccomp=unconfined",)),
        ("colon form", ["seccomp:unconfined"], UNCONFINED, False, ("seccomp=unconfined",)),
        ("nnp bare", ["no-new-privileges"], DEFAULT, True, ("no-new-privileges=true",)),
        ("nnp true", ["no-new-privileges=true"], DEFAULT, True, ("no-new-privileges=true",)),
        ("nnp colon", ["no-new-privileges:true"], DEFAULT, True, ("no-new-privileges=true",)),
        ("nnp false", ["no-new-privileges=false"], DEFAULT, False, ("no-new-privileges=false",)),
        (
            "both",
            ["seccomp=unconfined", "no-new-privileges"],
            UNCONFINED,
            True,
            ("seccomp=unconfined", "no-new-privileges=true"),
        ),
    ],
)
def test_parse(
    name: str,
    options: list[str],
    seccomp: str,
    no_new_privileges: bool,
    shown: tuple[str, ...],
) -> None:
    parsed = parse_security_options(options)
    assert (parsed.seccomp, parsed.no_new_privileges, parsed.security_opt) == (
        seccomp,
        no_new_privileges,
        shown,
    ), name


def test_profile_file_is_kept_as_compact_json(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(DENY_MKDIR, indent=4))
    parsed = parse_security_options([f"seccomp={path}"])
    assert json.loads(parsed.seccomp) == DENY_MKDIR
    assert "\n" not in parsed.seccomp
    assert parsed.security_opt == (f"seccomp={parsed.seccomp}",)


def test_profile_given_inline_as_dockers_client_sends_it() -> None:
    """The docker CLI reads the file and sends its JSON (the Engine API's SecurityOpt)."""
    parsed = parse_security_options([f"seccomp={json.dumps(DENY_MKDIR, indent=2)}"])
    assert json.loads(parsed.seccomp) == DENY_MKDIR
    assert parsed.security_opt == (f"seccomp={parsed.seccomp}",)


@pytest.mark.parametrize(
    ("name", "option", "message"),
    [
        ("empty seccomp", "seccomp=", "give a profile file"),
        ("missing file", "seccomp=/nonexistent/profile.json", "opening seccomp profile"),
        ("apparmor", "apparmor=unconfined", "not supported"),
        ("label", "label=disable", "not supported"),
        ("nnp maybe", "no-new-privileges=maybe", "expected true or false"),
    ],
)
def test_refused(name: str, option: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_security_options([option])


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("not json", "{", "decoding seccomp profile"),
        ("not an object", "[]", "not a JSON object"),
        ("unknown action", '{"defaultAction": "SCMP_ACT_MAYBE"}', "unknown action"),
        ("no default", '{"syscalls": []}', "defaultAction"),
    ],
)
def test_invalid_profile_file(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / "profile.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        parse_security_options([f"seccomp={path}"])


def test_default_profile_compiles_and_unconfined_has_no_filter() -> None:
    assert json.loads(default_profile())["defaultAction"] == "SCMP_ACT_ERRNO"
    program = seccomp_filter(DEFAULT, _native.DOCKER_CAPABILITIES)
    assert program is not None and len(program) % 8 == 0
    assert seccomp_filter(UNCONFINED, _native.DOCKER_CAPABILITIES) is None
    custom = seccomp_filter(json.dumps(DENY_MKDIR), 0)
    assert custom is not None and len(custom) < len(program)


def test_config_round_trip_keeps_security_options() -> None:
    config = ContainerConfig(
        image="busybox",
        image_id="sha256:" + "0" * 64,
        entrypoint=(),
        cmd=("true",),
        env=(),
        working_dir="/",
        user="",
        hostname="box",
        seccomp=UNCONFINED,
        no_new_privileges=True,
        security_opt=("seccomp=unconfined", "no-new-privileges=true"),
    )
    assert ContainerConfig.from_json(config.to_json()) == config
    older = json.loads(config.to_json())
    for key in ("seccomp", "no_new_privileges", "security_opt"):
        del older[key]
    assert ContainerConfig.from_json(json.dumps(older)).seccomp == DEFAULT
