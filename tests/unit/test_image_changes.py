"""``commit -c`` / ``import -c``: Dockerfile instructions applied to an image config as
docker's builder applies them."""

from __future__ import annotations

from typing import Any

import pytest

from hybridock.errors import ConfigError
from hybridock.images.changes import apply_changes, parse_instruction, process_word

BASE: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "config": {"Env": ["PATH=/usr/bin", "HOME=/root"], "Cmd": ["sh"], "WorkingDir": "/srv"},
}


def changed(*changes: str) -> dict[str, Any]:
    section: dict[str, Any] = apply_changes(BASE, changes)["config"]
    return section


@pytest.mark.parametrize(
    ("change", "key", "value"),
    [
        ('CMD ["nginx", "-g", "daemon off;"]', "Cmd", ["nginx", "-g", "daemon off;"]),
        ("CMD echo $HOME", "Cmd", ["/bin/sh", "-c", "echo $HOME"]),
        ("cmd [not json", "Cmd", ["/bin/sh", "-c", "[not json"]),
        ("USER nobody", "User", "nobody"),
        ("USER ${HOME}", "User", "/root"),
        ("WORKDIR data", "WorkingDir", "/srv/data"),
        ("WORKDIR /opt/../var", "WorkingDir", "/var"),
        ("STOPSIGNAL SIGQUIT", "StopSignal", "SIGQUIT"),
        (
            "EXPOSE 80 53/udp 8000-8001",
            "ExposedPorts",
            {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}},
        ),
        ('VOLUME ["/data", "/logs"]', "Volumes", {"/data": {}, "/logs": {}}),
        ("VOLUME /data /logs", "Volumes", {"/data": {}, "/logs": {}}),
        ('LABEL a=1 "b c"="d e" f=\'$HOME\'', "Labels", {"a": "1", "b c": "d e", "f": "$HOME"}),
        ("ONBUILD run echo hi", "OnBuild", ["run echo hi"]),  # the trigger as written
        ("HEALTHCHECK NONE", "Healthcheck", {"Test": ["NONE"]}),
        (
            "HEALTHCHECK --interval=5s --retries=3 CMD curl -f localhost",
            "Healthcheck",
            {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5 * 10**9, "Retries": 3},
        ),
        ('HEALTHCHECK CMD ["true"]', "Healthcheck", {"Test": ["CMD", "true"]}),
    ],
)
def test_a_change_sets_its_field(change: str, key: str, value: object) -> None:
    assert changed(change)[key] == value


def test_env_replaces_in_place_appends_and_expands() -> None:
    env = changed("ENV PATH=/bin:$PATH LANG=C.UTF-8", 'ENV GREETING "hello world"')["Env"]
    assert env == ["PATH=/bin:/usr/bin", "HOME=/root", "LANG=C.UTF-8", "GREETING=hello world"]


def test_entrypoint_resets_cmd_unless_cmd_is_changed_too() -> None:
    assert changed('ENTRYPOINT ["/init"]')["Cmd"] is None
    both = changed('CMD ["-v"]', 'ENTRYPOINT ["/init"]')
    assert (both["Entrypoint"], both["Cmd"]) == (["/init"], ["-v"])


def test_the_base_config_is_not_touched() -> None:
    changed("ENV A=1", "LABEL x=y")
    assert BASE["config"]["Env"] == ["PATH=/usr/bin", "HOME=/root"]
    assert "Labels" not in BASE["config"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN echo hi", "run is not a valid change command"),  # dockerd 20.10: lower case
        ("FROM busybox", "from is not a valid change command"),
        ("EXPOSE http", "invalid containerPort: http"),
        ("ENV ONLYKEY", "ENV must have two arguments"),
        ("LABEL a=1 b", 'Syntax error - can\'t find = in "b". Must be of the form: name=value'),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("HEALTHCHECK --bogus=1 CMD x", "unknown flag: bogus"),
        (
            'LABEL a="unterminated',
            'failed to process "\\"unterminated": '
            "unexpected end of statement while looking for matching double-quote",
        ),
    ],
)
def test_docker_refuses_these_and_so_do_we(change: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        changed(change)
    assert str(caught.value) == message


def test_words_and_instructions() -> None:
    assert parse_instruction('  cmd\t["a"] ') == ("CMD", '["a"]', ["a"])
    assert process_word(r'"a b"\ c${X:-d}${X:+e}\$X', {}) == "a b cd$X"
    assert process_word("'$X'$X", {"X": "1"}) == "$X1"
