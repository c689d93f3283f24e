"""How the image config and the command line merge into a container config (docker's rules)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hybridock.errors import ConfigError, InvalidVolumeSpec
from hybridock.runtime.config import (
    ContainerConfig,
    Mount,
    RunOptions,
    image_volumes,
    merge,
    parse_mount,
    parse_tmpfs,
    parse_volume,
    parse_volumes_from,
)
from hybridock.runtime.supervision import Healthcheck, RestartPolicy
from hybridock.runtime.volumes import check_name

IMAGE: dict[str, Any] = {
    "config": {
        "Entrypoint": ["/entry"],
        "Cmd": ["default", "args"],
        "Env": ["PATH=/image/bin", "A=1"],
        "WorkingDir": "/srv",
        "User": "nobody",
        "StopSignal": "SIGQUIT",
        "Labels": {"from": "image"},
    }
}
CONTAINER_ID = "0123456789ab" + "c" * 52


def merged(options: RunOptions, image: dict[str, Any] | None = None) -> ContainerConfig:
    return merge(
        "img", "sha256:" + "1" * 64, IMAGE if image is None else image, CONTAINER_ID, options
    )


@pytest.mark.parametrize(
    ("options", "argv"),
    [
        pytest.param(RunOptions(), ["/entry", "default", "args"], id="image-defaults"),
        pytest.param(RunOptions(command=("x", "y")), ["/entry", "x", "y"], id="args-replace-cmd"),
        pytest.param(RunOptions(entrypoint="/other"), ["/other"], id="entrypoint-clears-cmd"),
        pytest.param(
            RunOptions(entrypoint="/other", command=("z",)),
            ["/other", "z"],
            id="entrypoint-and-args",
        ),
        pytest.param(RunOptions(entrypoint="", command=("sh",)), ["sh"], id="empty-entrypoint"),
        pytest.param(
            RunOptions(entrypoint=("/bin/sh", "-c"), command=("echo hi",)),
            ["/bin/sh", "-c", "echo hi"],
            id="entrypoint-as-a-list",  # the Engine API's Config.Entrypoint
        ),
        pytest.param(
            RunOptions(entrypoint=(), command=("sh",)), ["sh"], id="empty-list-entrypoint"
        ),
    ],
)
def test_argv(options: RunOptions, argv: list[str]) -> None:
    assert merged(options).argv == argv


def test_no_command_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no command specified"):
        merged(RunOptions(), image={"config": {}})


def test_env_order_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("FROM_HOST", "host-value")
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nB=from-file\nA=file-wins-over-image\n")
    config = merged(
        RunOptions(env=("C=3", "FROM_HOST", "UNSET_ON_HOST"), env_files=(str(env_file),))
    )
    assert config.env == (
        "PATH=/image/bin",
        f"HOSTNAME={CONTAINER_ID[:12]}",
        "A=file-wins-over-image",
        "B=from-file",
        "C=3",
        "FROM_HOST=host-value",
    )


def test_defaults_from_image_and_overrides() -> None:
    config = merged(RunOptions(working_dir="/w", user="0:0", hostname="box", labels=("x=y",)))
    assert (config.working_dir, config.user, config.hostname) == ("/w", "0:0", "box")
    assert config.stop_signal == "SIGQUIT"
    assert config.labels == {"from": "image", "x": "y"}
    plain = merged(RunOptions())
    assert (plain.working_dir, plain.user, plain.hostname) == ("/srv", "nobody", CONTAINER_ID[:12])


def test_round_trip_json() -> None:
    config = merged(RunOptions(volumes=("/tmp:/data:ro",), init=True, tty=True))
    assert ContainerConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("/a:/b", Mount("/a", "/b", False), id="rw-default"),
        pytest.param("/a:/b:ro", Mount("/a", "/b", True, mode="ro"), id="readonly"),
        pytest.param("/a/../c:/b:rw", Mount("/c", "/b", mode="rw"), id="host-path-cleaned"),
        pytest.param("./a:/b", Mount("/work/a", "/b", False), id="relative-to-cwd"),
        pytest.param("..:/b", Mount("/", "/b", False), id="parent-of-cwd"),
        pytest.param(".a/x:/b", Mount("/work/.a/x", "/b", False), id="dot-name-is-a-path"),
    ],
)
def test_parse_volume(text: str, expected: Mount, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/work")
    assert parse_volume(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("docs:/d", Mount("", "/d", volume="docs"), id="named"),
        pytest.param(
            "docs:/d:ro,nocopy",
            Mount("", "/d", True, mode="ro,nocopy", volume="docs", nocopy=True),
            id="named-ro-nocopy",
        ),
        pytest.param("/d", Mount("", "/d", anonymous=True), id="anonymous"),
        pytest.param("docs:/d:z", Mount("", "/d", mode="z", volume="docs"), id="selinux-label"),
    ],
)
def test_parse_volume_of_a_volume(text: str, expected: Mount) -> None:
    assert parse_volume(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("/h:/d:nocopy", "invalid mode: nocopy", id="nocopy-bind"),
        pytest.param("docs:/d:ro,rw", "invalid mode: ro,rw", id="ro-and-rw"),
        pytest.param("docs:/d:q", "invalid mode: q", id="unknown-mode"),
        pytest.param("docs:/d:ro,ro", "invalid mode: ro,ro", id="twice"),
    ],
)
def test_parse_volume_refuses_modes_as_dockers_daemon(text: str, message: str) -> None:
    with pytest.raises(InvalidVolumeSpec, match=re.escape(message)):
        parse_volume(text)


def test_parse_volume_refuses_what_hybridock_cannot_do_yet() -> None:
    with pytest.raises(ConfigError, match="rshared propagation is not supported yet"):
        parse_volume("/h:/d:rshared")
    with pytest.raises(ConfigError, match="mount path must be absolute"):
        parse_volume("d")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("bad/name", '"bad/name" includes invalid characters', id="bad-name"),
        pytest.param("a", "volume name is too short", id="short-name"),
        pytest.param("-dash", "includes invalid characters", id="leading-dash"),
    ],
)
def test_volume_names_as_dockers(name: str, message: str) -> None:
    assert check_name("ab") == "ab"
    with pytest.raises(InvalidVolumeSpec, match=re.escape(message)):
        check_name(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("web", ("web", None), id="as-it-is"),
        pytest.param("web:ro", ("web", True), id="ro"),
        pytest.param("web:rw,z", ("web", False), id="rw-z"),
    ],
)
def test_parse_volumes_from(text: str, expected: tuple[str, bool | None]) -> None:
    assert parse_volumes_from(text) == expected


def test_image_volumes_are_anonymous_unless_a_mount_covers_them() -> None:
    mounts = [Mount("/h", "/data/")]
    assert image_volumes({"/data": {}, "/logs": {}}, mounts) == [Mount("", "/logs", anonymous=True)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("type=bind,source=/,target=/d", Mount("/", "/d", False, False), id="bind"),
        pytest.param(
            "type=bind,src=/,dst=/d,ro,bind-propagation=rprivate",
            Mount("/", "/d", True, False, propagation="rprivate"),
            id="short-keys-ro",
        ),
        pytest.param(
            "Type=Bind,Source=/,Destination=/d,readonly=false",
            Mount("/", "/d", False, False),
            id="keys-any-case",
        ),
        pytest.param("type=bind,source=.,target=/d", Mount("/work", "/d", False, False), id="cwd"),
        pytest.param("type=tmpfs,target=/t", ("/t", 2 | 4 | 8, ""), id="tmpfs-defaults"),
        pytest.param(
            "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777,ro",
            ("/t", 1 | 2 | 4 | 8, "size=1048576,mode=1777"),
            id="tmpfs-options",
        ),
        pytest.param(
            "source=data,target=/d,volume-nocopy",
            Mount("", "/d", False, False, volume="data", nocopy=True),
            id="volume-nocopy",
        ),
        pytest.param(
            "type=volume,target=/d,ro",
            Mount("", "/d", True, False, anonymous=True),
            id="volume-anonymous",
        ),
    ],
)
def test_parse_mount(
    text: str, expected: Mount | tuple[str, int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/work")
    assert parse_mount(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("type=bind,source=/", "target is required", id="no-target"),
        pytest.param("type=,target=/d", "type is required", id="empty-type"),
        pytest.param("type=bind,src=/,dst=/d,ro=maybe", "invalid value for ro: maybe", id="bool"),
        pytest.param("type=bind,src=/,dst=/d,x", "'x' must be a key=value pair", id="bare-key"),
        pytest.param("type=bind,src=/,dst=/d,y=1", "unexpected key 'y' in 'y=1'", id="unknown"),
        pytest.param(
            "type=bind,src=/,dst=/d,tmpfs-size=1m",
            "cannot mix 'tmpfs-*' options with mount type 'bind'",
            id="mixed",
        ),
        pytest.param("type=tmpfs,dst=/t,tmpfs-mode=9", "invalid value for tmpfs-mode", id="mode"),
        pytest.param("type=bind,target=/d", "field Source must not be empty", id="no-source"),
        pytest.param("type=tmpfs,src=/,dst=/t", "field Source must not be specified", id="src"),
        pytest.param("type=bind,src=/,dst=d", "'d' mount path must be absolute", id="relative"),
        pytest.param("type=nfs,dst=/d", 'type "nfs": mount type unknown', id="unknown-type"),
        pytest.param(
            "target=/d,volume-driver=nfs", "volume drivers other than local", id="volume-driver"
        ),
        pytest.param(
            "type=bind,src=/,dst=/d,bind-propagation=x", "invalid propagation mode: x", id="mode-x"
        ),
        pytest.param(
            "type=bind,src=/,dst=/d,bind-propagation=rshared",
            "bind-propagation=rshared is not supported yet",
            id="shared",
        ),
        pytest.param(
            "type=bind,src=/no/such/dir,dst=/d",
            "bind source path does not exist: /no/such/dir",
            id="missing-source",
        ),
    ],
)
def test_parse_mount_rejects(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_mount(text)


@pytest.mark.parametrize("text", ["/a:relative", "/a:/b:xx", ":/b"])
def test_parse_volume_rejects(text: str) -> None:
    with pytest.raises((ConfigError, InvalidVolumeSpec)):
        parse_volume(text)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (RunOptions(network="none", ip="10.0.0.2"), "user specified IP address is supported on"),
        (
            RunOptions(network="host", network_aliases=("a",)),
            "network-scoped aliases are only supported for user-defined networks",
        ),
        (RunOptions(ip="10.0.0.300"), "invalid IPv4 address: 10.0.0.300"),
        (RunOptions(dns=("nameserver",)), "nameserver is not an ip address"),
        (RunOptions(network="container:"), "invalid container format container:<name|id>"),
        (
            RunOptions(network="container:web", publish=("80",)),
            "conflicting options: port publishing and the container type network mode",
        ),
    ],
)
def test_network_flags_checked_as_docker(options: RunOptions, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        merged(options)


def test_default_network_is_the_bridge_and_ports_are_kept() -> None:
    config = merged(RunOptions(publish=("127.0.0.1:8080:80/tcp",), expose=("53/udp",)))
    assert config.network == "bridge"
    assert config.bridged
    assert config.exposed == ("53/udp", "80/tcp")
    assert type(config).from_json(config.to_json()) == config
    assert not merged(RunOptions(network="host", publish=("80",))).publish  # discarded, as docker


def test_tty_sets_term_unless_the_image_or_flags_do() -> None:
    assert "TERM=xterm" in merged(RunOptions(tty=True)).env
    assert "TERM=xterm" not in merged(RunOptions()).env
    assert "TERM=vt100" in merged(RunOptions(tty=True, env=("TERM=vt100",))).env


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("/run", ("/run", 2 | 4 | 8, ""), id="docker-defaults"),
        pytest.param(
            "/run:size=64m,mode=1777", ("/run", 2 | 4 | 8, "size=64m,mode=1777"), id="data-options"
        ),
        pytest.param("/run:exec,ro", ("/run", 1 | 2 | 4, ""), id="flags"),
    ],
)
def test_parse_tmpfs(text: str, expected: tuple[str, int, str]) -> None:
    assert parse_tmpfs(text) == expected


@pytest.mark.parametrize("text", ["run", "/run:bogus", "/run:size"])
def test_parse_tmpfs_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_tmpfs(text)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            RunOptions(auto_remove=True, restart_policy=RestartPolicy("always")),
            "can't create 'AutoRemove' container with restart policy",
            id="auto-remove-with-a-policy",
        ),
        pytest.param(
            RunOptions(restart_policy=RestartPolicy("sometimes")),
            "invalid restart policy 'sometimes'",
            id="unknown-policy",
        ),
        pytest.param(
            RunOptions(restart_policy=RestartPolicy("always", 2)),
            "maximum retry count cannot be used with restart policy 'always'",
            id="count-without-on-failure",
        ),
        pytest.param(
            RunOptions(healthcheck=Healthcheck(("CMD", "true"), interval=5)),
            "Interval in Healthcheck cannot be less than 1ms",
            id="health-interval-below-1ms",
        ),
        pytest.param(
            RunOptions(healthcheck=Healthcheck(("CMD", "true"), retries=-1)),
            "Retries in Healthcheck cannot be negative",
            id="health-retries-negative",
        ),
    ],
)
def test_supervision_checked_as_dockers_daemon(options: RunOptions, message: str) -> None:
    """RunOptions built by any front end (the Engine API's, a library user's), not only by the
    CLI's flags, get the daemon's checks."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        merged(options)
