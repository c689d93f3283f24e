"""What each config instruction does to an image config's ``config`` section (docker's
semantics, the one implementation ``build`` and ``commit -c`` share)."""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

import pytest

from hybridock.build.dockerfile import instructions as ins
from hybridock.build.dockerfile.config import CONFIG_INSTRUCTIONS, apply
from hybridock.build.dockerfile.parser import parse
from hybridock.build.dockerfile.shell import Lexer
from hybridock.errors import DockerfileError

BASE: dict[str, Any] = {
    "Env": ["PATH=/usr/bin", "HOME=/root"],
    "Cmd": ["sh"],
    "WorkingDir": "/srv",
    "Labels": {"old": "1"},
}
ARGS = {"APP": "web", "PORT": "8080 9090"}


def applied(text: str, section: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    """``section`` (default BASE) after the instructions of ``text`` (after FROM scratch), each
    expanded with the ARGs above and the ENV so far."""
    result = copy.deepcopy(BASE if section is None else section)
    lexer = Lexer()
    for instruction in parse(f"FROM scratch\n{text}\n").stages[0].instructions:
        env = {**ARGS, **dict(e.partition("=")[::2] for e in result.get("Env") or [])}
        apply(result, instruction, partial(lexer.process_word, env=env), **options)
    return result


EFFECTS = [
    (
        "env-in-place-and-appended",
        "ENV PATH=/bin:$PATH NEW=$APP",
        "Env",
        ["PATH=/bin:/usr/bin", "HOME=/root", "NEW=web"],
    ),
    (
        "env-sees-the-env-before-it",
        "ENV A=1 B=$A",
        "Env",
        ["PATH=/usr/bin", "HOME=/root", "A=1", "B="],
    ),
    (
        "env-legacy-quoted",
        'ENV GREETING "hello world"',
        "Env",
        ["PATH=/usr/bin", "HOME=/root", "GREETING=hello world"],
    ),
    (
        "label-expanded-and-merged",
        'LABEL "app name"=$APP',
        "Labels",
        {"old": "1", "app name": "web"},
    ),
    ("label-single-quotes", "LABEL a='$APP'", "Labels", {"old": "1", "a": "$APP"}),
    (
        "expose",
        "EXPOSE 80 53/UDP 7000-7001/tcp",
        "ExposedPorts",
        {"80/tcp": {}, "53/udp": {}, "7000/tcp": {}, "7001/tcp": {}},
    ),
    ("expose-expansion-splits", "EXPOSE $PORT", "ExposedPorts", {"8080/tcp": {}, "9090/tcp": {}}),
    ("user", "USER ${APP}:${APP}", "User", "web:web"),
    ("workdir-relative", "WORKDIR $APP/../data", "WorkingDir", "/srv/data"),
    ("workdir-absolute", "WORKDIR /opt/", "WorkingDir", "/opt"),
    ("workdir-twice", "WORKDIR a\nWORKDIR b", "WorkingDir", "/srv/a/b"),
    ("volume-words", "VOLUME /data/$APP /logs", "Volumes", {"/data/web": {}, "/logs": {}}),
    ("volume-json", 'VOLUME ["/a b"]', "Volumes", {"/a b": {}}),
    ("stopsignal", "STOPSIGNAL $SIG", "StopSignal", ""),
    ("cmd-shell", "CMD echo $HOME", "Cmd", ["/bin/sh", "-c", "echo $HOME"]),
    ("cmd-exec", 'CMD ["a", "$HOME"]', "Cmd", ["a", "$HOME"]),
    ("cmd-after-shell", 'SHELL ["/bin/bash", "-xc"]\nCMD ls', "Cmd", ["/bin/bash", "-xc", "ls"]),
    ("entrypoint-shell", "ENTRYPOINT exec top", "Entrypoint", ["/bin/sh", "-c", "exec top"]),
    ("entrypoint-empty", "ENTRYPOINT []", "Entrypoint", None),
    ("shell", 'SHELL ["pwsh", "-c"]', "Shell", ["pwsh", "-c"]),
    (
        "onbuild-as-written",
        "ONBUILD copy . /app\nONBUILD RUN make",
        "OnBuild",
        ["copy . /app", "RUN make"],
    ),
    (
        "healthcheck",
        "HEALTHCHECK --interval=5s --retries=2 CMD true",
        "Healthcheck",
        {"Test": ["CMD-SHELL", "true"], "Interval": 5 * 10**9, "Retries": 2},
    ),
    ("healthcheck-none", "HEALTHCHECK NONE", "Healthcheck", {"Test": ["NONE"]}),
]


@pytest.mark.parametrize(
    ("text", "key", "value"), [c[1:] for c in EFFECTS], ids=[c[0] for c in EFFECTS]
)
def test_effect(text: str, key: str, value: object) -> None:
    assert applied(text)[key] == value


def test_entrypoint_resets_an_inherited_cmd_unless_one_was_set() -> None:
    assert applied('ENTRYPOINT ["/init"]')["Cmd"] is None
    kept = applied('ENTRYPOINT ["/init"]', cmd_set=True)
    assert (kept["Entrypoint"], kept["Cmd"]) == (["/init"], ["sh"])


def test_maintainer_sets_the_image_author() -> None:
    image: dict[str, Any] = {}
    section = applied("MAINTAINER Jane <j@x>", image=image)
    assert image == {"author": "Jane <j@x>"}
    assert section == BASE


def test_an_empty_section_grows_its_keys() -> None:
    section = applied("ENV A=1\nLABEL b=2\nEXPOSE 3\nVOLUME /v", section={})
    assert section == {
        "Env": ["A=1"],
        "Labels": {"b": "2"},
        "ExposedPorts": {"3/tcp": {}},
        "Volumes": {"/v": {}},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("EXPOSE http", "invalid containerPort: http"),
        ("EXPOSE 80/xtp", "invalid proto: xtp"),
        ("EXPOSE 90-80", "invalid containerPort: 90-80"),
        ("EXPOSE 70000", "invalid containerPort: 70000"),
        ("VOLUME $NOTHING", "VOLUME specified can not be an empty string"),
    ],
    ids=["name", "protocol", "backwards-range", "too-high", "empty-after-expansion"],
)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=f"^{message}$"):
        applied(text)


@pytest.mark.parametrize(
    "text", ["RUN true", "COPY a b", "ARG A", "ADD a b"], ids=["run", "copy", "arg", "add"]
)
def test_build_instructions_are_not_config_ones(text: str) -> None:
    (instruction,) = parse(f"FROM scratch\n{text}\n").stages[0].instructions
    assert type(instruction) not in CONFIG_INSTRUCTIONS
    with pytest.raises(TypeError):
        apply({}, instruction, str)


def test_every_config_instruction_is_known() -> None:
    assert {
        ins.Env, ins.Label, ins.Expose, ins.User, ins.Workdir, ins.Volume, ins.StopSignal,
        ins.Cmd, ins.Entrypoint, ins.Healthcheck, ins.Shell, ins.Onbuild, ins.Maintainer,
    } == CONFIG_INSTRUCTIONS  # fmt: skip
