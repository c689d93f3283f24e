"""Docker's port grammar (-p, --expose, -P) and its displays (ps, port, inspect).

The messages of BAD_PUBLISH and BAD_EXPOSE are the docker 20.10 CLI's, as it printed them here
(``docker create -p SPEC busybox``: the client parses -p before it asks the daemon anything);
tests/integration/test_ports_docker.py holds the tables to the real CLI. The display tables
were checked the same way, with the real CLI reading canned API answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from hybridock.errors import ConfigError, PortNotPublished
from hybridock.runtime.ports import (
    Port,
    PortBinding,
    displayable_ports,
    exposed_ports,
    exposed_ports_json,
    listed_ports,
    network_ports,
    parse_expose,
    parse_publish,
    port_bindings_json,
    port_lines,
    publish_all,
)

B = PortBinding

#: -p spec -> bindings
GOOD_PUBLISH = {
    "container-port": ("80", [B("tcp", 80)]),
    "host-port": ("8080:80", [B("tcp", 80, "", 8080)]),
    "ip-host-port": ("127.0.0.1:8080:80", [B("tcp", 80, "127.0.0.1", 8080)]),
    "ip-ephemeral": ("127.0.0.1::80", [B("tcp", 80, "127.0.0.1")]),
    "udp": ("53:53/udp", [B("udp", 53, "", 53)]),
    "sctp": ("9/sctp", [B("sctp", 9)]),
    "protocol-any-case": ("80/TCP", [B("tcp", 80)]),
    "empty-protocol-is-tcp": ("80/", [B("tcp", 80)]),
    "past-second-slash-ignored": ("80/udp/x", [B("udp", 80)]),
    "empty-host-port": (":80", [B("tcp", 80)]),
    "host-port-zero-is-ephemeral": ("0:80", [B("tcp", 80)]),
    "leading-zeros": ("0080:080", [B("tcp", 80, "", 80)]),
    "container-port-zero": ("0", [B("tcp", 0)]),
    "largest-port": ("65535:65535", [B("tcp", 65535, "", 65535)]),
    "container-range": ("80-82", [B("tcp", 80), B("tcp", 81), B("tcp", 82)]),
    "third-range-part-ignored": ("80-81-99", [B("tcp", 80), B("tcp", 81)]),
    "equal-ranges": (
        "8000-8001:80-81/udp",
        [B("udp", 80, "", 8000), B("udp", 81, "", 8001)],
    ),
    "ip-and-ranges": (
        "10.0.0.1:8000-8001:80-81",
        [B("tcp", 80, "10.0.0.1", 8000), B("tcp", 81, "10.0.0.1", 8001)],
    ),
    "ip-ephemeral-range": (
        "127.0.0.1::80-81",
        [B("tcp", 80, "127.0.0.1"), B("tcp", 81, "127.0.0.1")],
    ),
    "host-range-one-container-port": ("8000-8005:80", [B("tcp", 80, "", None, (8000, 8005))]),
    "host-range-of-one": ("8000-8000:80", [B("tcp", 80, "", 8000)]),
    "ipv6-in-brackets": ("[::1]:8080:80", [B("tcp", 80, "::1", 8080)]),
    "ipv6-any-ephemeral": ("[::]::80", [B("tcp", 80, "::")]),
    "ipv4-mapped-ipv6": ("[::ffff:1.2.3.4]:1:1", [B("tcp", 1, "::ffff:1.2.3.4", 1)]),
    "ipv4-in-brackets": ("[1.2.3.4]:80:80", [B("tcp", 80, "1.2.3.4", 80)]),
}

#: -p spec -> the docker CLI's message (it prints "docker: MESSAGE." and exits 125)
BAD_PUBLISH = {
    "word": ("BAD", "Invalid containerPort: BAD"),
    "empty": ("", "No port specified: <empty>"),
    "no-container-port": ("8080:", "No port specified: 8080:<empty>"),
    "only-protocol": ("/tcp", "No port specified: /tcp<empty>"),
    "container-port-too-big": ("70000", "Invalid containerPort: 70000"),
    "signed": ("+80", "Invalid containerPort: +80"),
    "non-ascii-digit": ("\uff1080", "Invalid containerPort: \uff1080"),
    "reversed-range": ("81-80", "Invalid containerPort: 81-80"),
    "open-range": ("80-", "Invalid containerPort: 80-"),
    "host-port-word": ("abc:80", "Invalid hostPort: abc"),
    "host-port-before-protocol": ("abc:80/xyz", "Invalid hostPort: abc"),
    "protocol": ("80/xyz", "Invalid proto: xyz"),
    "protocol-as-typed": ("80/XYZ", "Invalid proto: XYZ"),
    "ranges-differ": (
        "8000-8005:80-81",
        "Invalid ranges specified for container and host Ports: 80-81 and 8000-8005",
    ),
    "ranges-before-protocol": (
        "8000-8001:80-82/xyz",
        "Invalid ranges specified for container and host Ports: 80-82 and 8000-8001",
    ),
    "single-host-port-container-range": (
        "8080:80-81",
        "Invalid ranges specified for container and host Ports: 80-81 and 8080",
    ),
    "ip-out-of-range": ("300.0.0.1:80:80", "Invalid ip address: 300.0.0.1"),
    "ip-leading-zero": ("01.2.3.4:80:80", "Invalid ip address: 01.2.3.4"),
    "ip-not-an-address": ("localhost:80:80", "Invalid ip address: localhost"),
    "four-fields": (
        "0.0.0.0:80:80:90",
        "Invalid ip address 0.0.0.0:80: address 0.0.0.0:80:: too many colons in address",
    ),
    "ipv6-without-brackets": (
        "::1:80:80",
        "Invalid ip address ::1: address ::1:: too many colons in address",
    ),
    "three-colons": (":::80", "Invalid ip address :: address ::: too many colons in address"),
    "ipv6-unclosed-bracket": (
        "[::1:80:80",
        "Invalid ip address [::1: address [::1:: missing ']' in address",
    ),
    "after-bracket": (
        "[::1]x:80:80",
        "Invalid ip address [::1]x: address [::1]x:: missing port in address",
    ),
    "ipv6-zone": ("[fe80::1%eth0]:80:80", "Invalid ip address: fe80::1%eth0"),
    "zone-without-brackets": ("fe80::1%eth0", "Invalid ip address: fe80"),
    "only-colons": (
        "1.2.3.4:::",
        "Invalid ip address 1.2.3.4:: address 1.2.3.4::: too many colons in address",
    ),
}

#: --expose value -> ports
GOOD_EXPOSE = {
    "port": ("80", [Port(80)]),
    "udp": ("53/udp", [Port(53, "udp")]),
    "range": ("8000-8002", [Port(8000), Port(8001), Port(8002)]),
    "protocol-unchecked": ("80/xyz", [Port(80, "xyz")]),
}

#: --expose value -> the docker CLI's message
BAD_EXPOSE = {
    "colon": ("80:80", "invalid port format for --expose: 80:80"),
    "word": (
        "abc",
        'invalid range format for --expose: abc, error: strconv.ParseUint: parsing "abc": '
        "invalid syntax",
    ),
    "too-big": (
        "70000",
        'invalid range format for --expose: 70000, error: strconv.ParseUint: parsing "70000": '
        "value out of range",
    ),
    "reversed-range": (
        "81-80",
        "invalid range format for --expose: 81-80, error: Invalid range specified for the Port: "
        "81-80",
    ),
    "empty": ("", "invalid range format for --expose: , error: Empty string specified for ports."),
}


def table(cases: Mapping[str, tuple[object, object]]) -> list[Any]:
    return [pytest.param(*case, id=name) for name, case in cases.items()]


# --- grammar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "bindings"), table(GOOD_PUBLISH))
def test_publish_spec(spec: str, bindings: list[PortBinding]) -> None:
    assert parse_publish([spec]) == bindings


@pytest.mark.parametrize(("spec", "message"), table(BAD_PUBLISH))
def test_bad_publish_spec_in_dockers_words(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_publish(["80", spec])
    assert str(raised.value) == message


def test_publish_keeps_the_order_given() -> None:
    assert parse_publish(["9090:80", "8080:80", "53/udp"]) == [
        B("tcp", 80, "", 9090),
        B("tcp", 80, "", 8080),
        B("udp", 53),
    ]


@pytest.mark.parametrize(("spec", "ports"), table(GOOD_EXPOSE))
def test_expose(spec: str, ports: list[Port]) -> None:
    assert parse_expose([spec]) == ports


@pytest.mark.parametrize(("spec", "message"), table(BAD_EXPOSE))
def test_bad_expose_in_dockers_words(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_expose([spec])
    assert str(raised.value) == message


def test_exposed_ports_merge_image_expose_and_published() -> None:
    image: dict[str, object] = {"80/tcp": {}, "53/udp": {}, "9000": {}, "7000-7001/tcp": {}}
    merged = exposed_ports(image, parse_expose(["80", "443"]), parse_publish(["8080:8080"]))
    assert [str(port) for port in merged] == [
        "53/udp",
        "80/tcp",
        "443/tcp",
        "7000/tcp",
        "7001/tcp",
        "8080/tcp",
        "9000/tcp",
    ]
    assert exposed_ports(None) == []


def test_bad_image_exposed_port() -> None:
    with pytest.raises(ConfigError, match="invalid exposed port 'x/tcp'"):
        exposed_ports({"x/tcp": {}})


def test_publish_all_binds_what_no_publish_binds() -> None:
    published = parse_publish(["8080:80"])
    exposed = exposed_ports({"80/tcp": {}, "443/tcp": {}}, parse_expose(["53/udp"]), published)
    assert publish_all(exposed, published) == [B("udp", 53), B("tcp", 443)]


def test_binding_survives_a_json_round_trip() -> None:
    bindings = parse_publish(["127.0.0.1:8000-8005:80/udp", "9090:90"])
    as_dicts = json.loads(json.dumps([binding._asdict() for binding in bindings]))
    as_lists = json.loads(json.dumps(bindings))
    for stored in (as_dicts, as_lists):
        assert [PortBinding.from_record(record) for record in stored] == bindings


# --- inspect -----------------------------------------------------------------------------------


def test_config_exposed_ports_json() -> None:
    shown = exposed_ports_json([Port(80), Port(443), Port(53, "udp")])
    # Go writes map keys in byte order
    assert json.dumps(shown) == '{"443/tcp": {}, "53/udp": {}, "80/tcp": {}}'
    assert exposed_ports_json([]) is None


def test_host_config_port_bindings_json() -> None:
    bindings = parse_publish(["8080:80", "127.0.0.1::80", "8000-8005:443", "53:53/udp"])
    assert port_bindings_json(bindings) == {
        "443/tcp": [{"HostIp": "", "HostPort": "8000-8005"}],
        "53/udp": [{"HostIp": "", "HostPort": "53"}],
        "80/tcp": [
            {"HostIp": "", "HostPort": "8080"},
            {"HostIp": "127.0.0.1", "HostPort": ""},
        ],
    }
    assert list(port_bindings_json(bindings)) == ["443/tcp", "53/udp", "80/tcp"]
    assert port_bindings_json([]) == {}


def test_created_container_as_docker_shows_it() -> None:
    # a private dockerd 20.10's inspect of `create -p 8080:80 -p 127.0.0.1::80 -p 8000-8005:443
    # --expose 53/udp` of an image with EXPOSE 9000/udp (NetworkSettings.Ports is {} until start)
    published = parse_publish(["8080:80", "127.0.0.1::80", "8000-8005:443"])
    exposed = exposed_ports({"9000/udp": {}}, parse_expose(["53/udp"]), published)
    assert json.dumps(exposed_ports_json(exposed)) == (
        '{"443/tcp": {}, "53/udp": {}, "80/tcp": {}, "9000/udp": {}}'
    )
    assert json.dumps(port_bindings_json(published)) == (
        '{"443/tcp": [{"HostIp": "", "HostPort": "8000-8005"}], "80/tcp": [{"HostIp": "", '
        '"HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": ""}]}'
    )


RUNNING_PORTS = {
    "443/tcp": None,
    "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}],
    "80/tcp": [
        {"HostIp": "0.0.0.0", "HostPort": "8080"},  # noqa: S104 - docker's wording
        {"HostIp": "127.0.0.1", "HostPort": "32768"},
    ],
}


def test_network_settings_ports() -> None:
    published = [
        B("tcp", 80, "", 8080),
        B("tcp", 80, "127.0.0.1", None).resolved(32768),
        B("udp", 53, "127.0.0.1", 53),
    ]
    exposed = exposed_ports({"443/tcp": {}}, (), published)
    shown = network_ports(exposed, published)
    assert shown == RUNNING_PORTS
    assert list(shown) == ["443/tcp", "53/udp", "80/tcp"]
    assert network_ports([], []) == {}


def test_network_settings_ports_need_picked_host_ports() -> None:
    with pytest.raises(ValueError, match="80/tcp has no host port"):
        network_ports([], parse_publish(["80"]))


# --- ps ----------------------------------------------------------------------------------------


def bound(host_port: int, ip: str = "0.0.0.0") -> dict[str, str]:  # noqa: S104
    return {"HostIp": ip, "HostPort": str(host_port)}


#: NetworkSettings.Ports -> ps's PORTS (docker 20.10's DisplayablePorts)
PS_PORTS = {
    "nothing": ({}, ""),
    "exposed-only": ({"80/tcp": None}, "80/tcp"),
    "mapped": ({"80/tcp": [bound(8080)]}, "0.0.0.0:8080->80/tcp"),
    "same-number": ({"80/tcp": [bound(80)]}, "0.0.0.0:80->80/tcp"),
    "exposed-before-mapped": (
        {"80/tcp": [bound(8080)], "443/tcp": None},
        "443/tcp, 0.0.0.0:8080->80/tcp",
    ),
    "consecutive-exposed-grouped": (
        {"80/tcp": None, "81/tcp": None, "82/tcp": None, "90/tcp": None},
        "80-82/tcp, 90/tcp",
    ),
    "consecutive-same-number-grouped": (
        {"9000/tcp": [bound(9000)], "9001/tcp": [bound(9001)]},
        "0.0.0.0:9000-9001->9000-9001/tcp",
    ),
    "protocols-apart": ({"53/tcp": None, "53/udp": None}, "53/tcp, 53/udp"),
    "mixed": (
        {
            "53/udp": [bound(53, "127.0.0.1")],
            "80/tcp": [bound(8080), bound(8080, "::")],
            "443/tcp": None,
            "444/tcp": None,
            "446/tcp": None,
            "9000/tcp": [bound(9000)],
            "9001/tcp": [bound(9001)],
        },
        "443-444/tcp, 127.0.0.1:53->53/udp, 446/tcp, 0.0.0.0:9000-9001->9000-9001/tcp, "
        "0.0.0.0:8080->80/tcp, :::8080->80/tcp",
    ),
    "mappings-by-port-then-address": (
        {"80/tcp": [bound(9999, "127.0.0.1"), bound(8080)], "70/tcp": [bound(1)]},
        "0.0.0.0:1->70/tcp, 0.0.0.0:8080->80/tcp, 127.0.0.1:9999->80/tcp",
    ),
}


@pytest.mark.parametrize(("ports", "shown"), table(PS_PORTS))
def test_ps_ports(ports: dict[str, list[dict[str, str]] | None], shown: str) -> None:
    assert displayable_ports(ports) == shown


def test_listed_ports_as_the_engine_api_lists_them() -> None:
    assert listed_ports(RUNNING_PORTS) == [
        {"IP": "127.0.0.1", "PrivatePort": 53, "PublicPort": 53, "Type": "udp"},
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},  # noqa: S104
        {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
        {"PrivatePort": 443, "Type": "tcp"},
    ]


# --- port --------------------------------------------------------------------------------------

#: asked port -> lines of `port web PORT` for RUNNING_PORTS
PORT_ASKED = {
    "all": (
        None,
        ["53/udp -> 127.0.0.1:53", "80/tcp -> 0.0.0.0:8080", "80/tcp -> 127.0.0.1:32768"],
    ),
    "number-is-tcp": ("80", ["0.0.0.0:8080", "127.0.0.1:32768"]),
    "with-protocol": ("53/udp", ["127.0.0.1:53"]),
    "leading-zero": ("080", ["0.0.0.0:8080", "127.0.0.1:32768"]),
}


@pytest.mark.parametrize(("asked", "lines"), table(PORT_ASKED))
def test_port_lines(asked: str | None, lines: list[str]) -> None:
    assert port_lines(RUNNING_PORTS, "web", asked) == lines


def test_port_lines_ipv6_without_brackets() -> None:
    assert port_lines({"80/tcp": [bound(8080, "::")]}, "web") == ["80/tcp -> :::8080"]


#: asked port -> docker's message (printed as "Error: MESSAGE", exit 1)
PORT_NOT_PUBLISHED = {
    "exposed-only": ("443", "No public port '443/tcp' published for web"),
    "other-protocol": ("53", "No public port '53/tcp' published for web"),
    "unknown": ("9/sctp", "No public port '9/sctp' published for web"),
    "range": ("80-81", "No public port '80-81/tcp' published for web"),
    "only-protocol": ("/tcp", "No public port '/tcp' published for web"),
}


@pytest.mark.parametrize(("asked", "message"), table(PORT_NOT_PUBLISHED))
def test_port_not_published(asked: str, message: str) -> None:
    with pytest.raises(PortNotPublished) as raised:
        port_lines(RUNNING_PORTS, "web", asked)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        pytest.param("abc", 'strconv.ParseUint: parsing "abc": invalid syntax', id="word"),
        pytest.param("80/", 'strconv.ParseUint: parsing "80/": invalid syntax', id="empty-proto"),
    ],
)
def test_port_asked_is_no_port(asked: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        port_lines(RUNNING_PORTS, "web", asked)
    assert str(raised.value) == message
