"""Docker's port flags and every place ports are shown: -p, -P, --expose, ps, port, inspect.

``parse_publish`` is docker 20.10's client-side grammar (go-connections' ``nat.ParsePortSpec``,
as vendored by the docker CLI): ``[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]``, ranges, IPv6 in
brackets, with its error messages word for word. The records are ``NamedTuple``s: every
container command may load them.

What is shown follows docker on a host without IPv6: a binding without a host address shows
``0.0.0.0`` only (docker 20.10 adds a ``::`` twin when the host has IPv6; hybridock's containers
have IPv6 off).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from hybridock.errors import ConfigError, PortNotPublished

PROTOCOLS = ("tcp", "udp", "sctp")
#: the address a binding without one listens on, as docker shows it
ANY_IPV4 = "0.0.0.0"  # noqa: S104 - docker's default host address for a published port


class Port(NamedTuple):
    """A container port and its protocol: docker's ``nat.Port`` (``"80/tcp"``)."""

    number: int
    protocol: str = "tcp"

    def __str__(self) -> str:
        return f"{self.number}/{self.protocol}"

    @classmethod
    def parse(cls, key: str) -> list[Port]:
        """An image config's ``ExposedPorts`` key (``"80/tcp"``, ``"53/udp"``, ``"80"``, a
        range ``"8000-8005/tcp"``) as the ports it names; ``ConfigError`` when it names none."""
        protocol, text = split_protocol(key)
        try:
            start, end = _port_range(text)
        except ValueError as error:
            raise ConfigError(f"invalid exposed port {key!r}: {error}") from error
        return [cls(number, protocol) for number in range(start, end + 1)]


class PortBinding(NamedTuple):
    """One container port published on the host (one ``-p`` names one or more).

    ``host_port`` None: an ephemeral port is to be picked (docker's ``""`` and ``"0"``);
    ``host_port_range`` set (``-p 8000-8005:80``): one free port of that range is to be picked.
    Whoever sets the binding up returns it with ``host_port`` filled (``resolved``)."""

    protocol: str
    container_port: int
    host_ip: str = ""
    host_port: int | None = None
    host_port_range: tuple[int, int] | None = None

    @property
    def port(self) -> Port:
        return Port(self.container_port, self.protocol)

    @property
    def shown_host_ip(self) -> str:
        """The address the binding listens on, as docker shows it."""
        return self.host_ip or ANY_IPV4

    def resolved(self, host_port: int) -> PortBinding:
        return self._replace(host_port=host_port, host_port_range=None)

    @classmethod
    def from_record(cls, record: Sequence[Any] | Mapping[str, Any]) -> PortBinding:
        """A binding stored as JSON: ``_asdict()`` or the tuple as a list."""
        fields = (
            dict(record)
            if isinstance(record, Mapping)
            else dict(zip(cls._fields, record, strict=False))
        )
        span = fields.get("host_port_range")
        host_port = fields.get("host_port")
        return cls(
            protocol=str(fields["protocol"]),
            container_port=int(fields["container_port"]),
            host_ip=str(fields.get("host_ip") or ""),
            host_port=None if host_port is None else int(host_port),
            host_port_range=None if span is None else (int(span[0]), int(span[1])),
        )


# --- docker's grammar (go-connections nat, the docker CLI's parse of -p and --expose) ---------


class _GoSyntaxError(ValueError):
    """A ``strconv`` or ``nat`` error, worded as Go words it."""


def _go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` for the texts a flag can hold."""
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    return '"' + "".join(out) + '"'


def _parse_uint16(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 10, 16)``: ASCII digits only, no sign."""
    if not text or not text.isascii() or not text.isdigit():
        raise _GoSyntaxError(f"strconv.ParseUint: parsing {_go_quote(text)}: invalid syntax")
    value = int(text)
    if value > 0xFFFF:
        raise _GoSyntaxError(f"strconv.ParseUint: parsing {_go_quote(text)}: value out of range")
    return value


def _port_range(text: str) -> tuple[int, int]:
    """``nat.ParsePortRange``: ``80`` or ``8000-8005`` (a third ``-`` part is ignored, as Go's
    code does)."""
    if text == "":
        raise _GoSyntaxError("Empty string specified for ports.")
    if "-" not in text:
        number = _parse_uint16(text)
        return number, number
    parts = text.split("-")
    start, end = _parse_uint16(parts[0]), _parse_uint16(parts[1])
    if end < start:
        raise _GoSyntaxError(f"Invalid range specified for the Port: {text}")
    return start, end


def split_protocol(text: str) -> tuple[str, str]:
    """``nat.SplitProtoPort``: ``"80/udp"`` -> ``("udp", "80")``, no protocol is tcp, an empty
    port gives ``("", "")``, anything after a second ``/`` is ignored."""
    parts = text.split("/")
    if not text or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _split_host_port(hostport: str) -> str:
    """Go's ``net.SplitHostPort`` as the parser calls it (on ``IP + ":"``): the host without its
    brackets, or ``ValueError`` worded as Go's ``AddrError``."""

    def error(why: str) -> ValueError:
        return ValueError(f"address {hostport}: {why}")

    last_colon = hostport.rfind(":")
    if last_colon < 0:
        raise error("missing port in address")
    start, end_search = 0, 0
    if hostport.startswith("["):
        closing = hostport.find("]")
        if closing < 0:
            raise error("missing ']' in address")
        if closing + 1 == len(hostport):
            raise error("missing port in address")
        if closing + 1 != last_colon:
            if hostport[closing + 1] == ":":
                raise error("too many colons in address")
            raise error("missing port in address")
        host = hostport[1:closing]
        start, end_search = 1, closing + 1
    else:
        host = hostport[:last_colon]
        if ":" in host:
            raise error("too many colons in address")
    if "[" in hostport[start:]:
        raise error("unexpected '[' in address")
    if "]" in hostport[end_search:]:
        raise error("unexpected ']' in address")
    return host


def _is_ip(text: str) -> bool:
    """Go's ``net.ParseIP``: dotted IPv4 without leading zeros, or IPv6 without a zone."""
    import ipaddress  # noqa: PLC0415 - only a -p with an address needs it

    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _split_parts(spec: str) -> tuple[str, str, str]:
    """``[IP:][HOSTPORT:]CONTAINERPORT``: everything before the last two colons is the IP."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_port_spec(spec: str) -> list[PortBinding]:
    """One ``-p`` value as its bindings, one per container port, in ascending order;
    ``ConfigError`` with the docker CLI's message (its text before the CLI's final ``.``)."""
    raw_ip, host_text, container_text = _split_parts(spec)
    protocol, container_text = split_protocol(container_text)
    try:
        host_ip = _split_host_port(raw_ip + ":")
    except ValueError as error:
        raise ConfigError(f"Invalid ip address {raw_ip}: {error}") from None
    if host_ip and not _is_ip(host_ip):
        raise ConfigError(f"Invalid ip address: {host_ip}")
    if not container_text:
        raise ConfigError(f"No port specified: {spec}<empty>")
    try:
        start, end = _port_range(container_text)
    except ValueError:
        raise ConfigError(f"Invalid containerPort: {container_text}") from None
    host_start = host_end = 0
    if host_text:
        try:
            host_start, host_end = _port_range(host_text)
        except ValueError:
            raise ConfigError(f"Invalid hostPort: {host_text}") from None
        if end - start != host_end - host_start and end != start:
            raise ConfigError(
                "Invalid ranges specified for container and host Ports: "
                f"{container_text} and {host_text}"
            )
    if protocol.lower() not in PROTOCOLS:
        raise ConfigError(f"Invalid proto: {protocol}")
    protocol = protocol.lower()
    if host_text and start == end and host_start != host_end:
        # docker's "host range for one container port": one free port of the range
        return [PortBinding(protocol, start, host_ip, None, (host_start, host_end))]
    return [
        PortBinding(
            protocol,
            start + offset,
            host_ip,
            host_start + offset if host_text and host_start + offset else None,
        )
        for offset in range(end - start + 1)
    ]


def parse_publish(specs: Sequence[str]) -> list[PortBinding]:
    """``-p/--publish`` values as bindings, in the order given (docker keeps that order for
    each container port); the first bad spec raises ``ConfigError`` in docker's words."""
    return [binding for spec in specs for binding in parse_port_spec(spec)]


def parse_expose(specs: Sequence[str]) -> list[Port]:
    """``--expose`` values (``80``, ``80/udp``, ``8000-8005``) as ports, as the docker CLI reads
    them: the protocol is not checked, a ``:`` is refused."""
    ports: list[Port] = []
    for spec in specs:
        if ":" in spec:
            raise ConfigError(f"invalid port format for --expose: {spec}")
        protocol, text = split_protocol(spec)
        try:
            start, end = _port_range(text)
        except ValueError as error:
            raise ConfigError(
                f"invalid range format for --expose: {spec}, error: {error}"
            ) from None
        ports.extend(Port(number, protocol) for number in range(start, end + 1))
    return ports


def exposed_ports(
    image_exposed: Mapping[str, object] | None,
    expose: Iterable[Port] = (),
    bindings: Iterable[PortBinding] = (),
) -> list[Port]:
    """The container's ``Config.ExposedPorts``, sorted: the image's (its config's
    ``ExposedPorts`` keys), ``--expose``'s and every published container port, as docker's
    daemon merges them."""
    ports = {port for key in image_exposed or {} for port in Port.parse(key)}
    ports.update(expose)
    ports.update(binding.port for binding in bindings)
    return sorted(ports)


def publish_all(exposed: Iterable[Port], bindings: Iterable[PortBinding] = ()) -> list[PortBinding]:
    """``-P``: every exposed port that no ``-p`` binds, on an ephemeral port of every host
    address (docker adds these to the ``-p`` bindings; it leaves the bound ports alone)."""
    bound = {binding.port for binding in bindings}
    return [
        PortBinding(port.protocol, port.number)
        for port in sorted(set(exposed))
        if port not in bound
    ]


# --- what docker shows ------------------------------------------------------------------------


def _sorted_by_key(ports: Iterable[Port]) -> list[Port]:
    """Go's encoding/json writes a map's keys in byte order (``"443/tcp"`` < ``"80/tcp"``)."""
    return sorted(set(ports), key=str)


def exposed_ports_json(exposed: Iterable[Port]) -> dict[str, dict[str, Any]] | None:
    """``Config.ExposedPorts``: ``{"80/tcp": {}}``; None (docker omits the key) when none."""
    return {str(port): {} for port in _sorted_by_key(exposed)} or None


def port_bindings_json(bindings: Iterable[PortBinding]) -> dict[str, list[dict[str, str]]]:
    """``HostConfig.PortBindings`` as the user asked for them (``{}`` when none):
    ``HostPort`` is ``""`` for an ephemeral port, ``"8000-8005"`` for a host range."""
    grouped: dict[Port, list[dict[str, str]]] = {}
    for binding in bindings:
        if binding.host_port_range is not None:
            host_port = "{}-{}".format(*binding.host_port_range)
        else:
            host_port = "" if binding.host_port is None else str(binding.host_port)
        grouped.setdefault(binding.port, []).append(
            {"HostIp": binding.host_ip, "HostPort": host_port}
        )
    return {str(port): grouped[port] for port in _sorted_by_key(grouped)}


def network_ports(
    exposed: Iterable[Port], published: Iterable[PortBinding]
) -> dict[str, list[dict[str, str]] | None]:
    """``NetworkSettings.Ports`` of a running container: each exposed or published port with
    its host bindings (``HostPort`` the port picked), null when it is exposed only. A created or
    stopped container has ``{}`` (docker releases its ports): pass nothing."""
    shown: dict[Port, list[dict[str, str]] | None] = dict.fromkeys(exposed)
    for binding in published:
        if binding.host_port is None:
            raise ValueError(f"binding of {binding.port} has no host port yet")
        entries = shown.get(binding.port) or []
        entries.append({"HostIp": binding.shown_host_ip, "HostPort": str(binding.host_port)})
        shown[binding.port] = entries
    return {str(port): shown[port] for port in _sorted_by_key(shown)}


#: docker's ``types.Port``, one row of ``GET /containers/json``'s ``Ports``: (private port, IP,
#: public port, protocol); a plain tuple, sorted as the CLI's ``comparePorts`` sorts
_ListedPort = tuple[int, str, int, str]


def _listed_ports(ports: Mapping[str, Sequence[Mapping[str, str]] | None]) -> list[_ListedPort]:
    """The daemon's rows for ``NetworkSettings.Ports`` (one per binding, one per exposed-only
    port), sorted as the CLI's ``comparePorts``: private port, then IP, public port, protocol."""
    listed = []
    for key, bindings in ports.items():
        protocol, number = split_protocol(key)
        if not bindings:
            listed.append((int(number), "", 0, protocol))
            continue
        listed.extend(
            (int(number), b["HostIp"], int(b["HostPort"] or 0), protocol) for b in bindings
        )
    return sorted(listed)


def listed_ports(ports: Mapping[str, Sequence[Mapping[str, str]] | None]) -> list[dict[str, Any]]:
    """A container's ``Ports`` as the Engine API lists them (``types.Port``: ``IP`` and
    ``PublicPort`` left out when empty)."""
    rows = []
    for private_port, ip, public_port, protocol in _listed_ports(ports):
        row: dict[str, Any] = {"IP": ip} if ip else {}
        row["PrivatePort"] = private_port
        if public_port:
            row["PublicPort"] = public_port
        row["Type"] = protocol
        rows.append(row)
    return rows


def _port_group(key: str, first: int, last: int) -> str:
    ip, _, protocol = key.rpartition("/")
    group = str(first) if first == last else f"{first}-{last}"
    if ip:
        group = f"{ip}:{group}->{group}"
    return f"{group}/{protocol}"


def displayable_ports(ports: Mapping[str, Sequence[Mapping[str, str]] | None]) -> str:
    """``ps``'s PORTS from ``NetworkSettings.Ports`` (``network_ports``'s shape): the docker
    CLI's ``DisplayablePorts``, quirks included: runs of consecutive ports with the same
    address and protocol are one range; mappings to another port number come last
    (``"443/tcp, 0.0.0.0:8080->80/tcp"``)."""
    groups: dict[str, list[int]] = {}  # key -> [first, last], in the order keys appear
    closed: list[str] = []
    mappings: list[str] = []
    for private_port, ip, public_port, protocol in _listed_ports(ports):
        key = protocol
        if ip:
            if public_port != private_port:
                mappings.append(f"{ip}:{public_port}->{private_port}/{protocol}")
                continue
            key = f"{ip}/{protocol}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private_port, private_port]
        elif private_port == group[1] + 1:
            group[1] = private_port
        else:
            closed.append(_port_group(key, *group))
            groups[key] = [private_port, private_port]
    closed.extend(_port_group(key, first, last) for key, (first, last) in groups.items())
    return ", ".join([*closed, *mappings])


def _host_address(binding: Mapping[str, str]) -> str:
    """docker 20.10's ``IP:PORT``, an IPv6 address without brackets (``:::8080``)."""
    return f"{binding['HostIp']}:{binding['HostPort']}"


def port_lines(
    ports: Mapping[str, Sequence[Mapping[str, str]] | None],
    container: str,
    asked: str | None = None,
) -> list[str]:
    """``port CONTAINER [PRIVATE_PORT[/PROTO]]``'s lines from ``NetworkSettings.Ports``: every
    binding as ``80/tcp -> 0.0.0.0:8080`` (by port number, then protocol; docker 20.10 walks a
    Go map in no order), or only ``0.0.0.0:8080`` for the asked port. The asked port is read
    as the docker CLI reads it (``80`` is ``80/tcp``); ``ConfigError`` with Go's words when it
    is no number, ``PortNotPublished`` in docker's words when it has no binding."""
    if asked is not None:
        number, protocol = asked, "tcp"
        if "/" in asked and asked.split("/", 1)[1]:
            number, protocol = asked.split("/", 1)
        try:
            start, end = _port_range(number) if number else (0, 0)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        key = f"{start}/{protocol}" if start == end else f"{start}-{end}/{protocol}"
        if ports.get(key) is None:
            raise PortNotPublished(
                f"No public port '{number}/{protocol}' published for {container}"
            )
        return [_host_address(binding) for binding in ports[key] or ()]
    ordered = sorted(ports.items(), key=lambda item: _key_order(item[0]))
    return [f"{key} -> {_host_address(b)}" for key, bindings in ordered for b in bindings or ()]


def _key_order(key: str) -> tuple[int, str]:
    protocol, number = split_protocol(key)
    return int(number.partition("-")[0] or 0), protocol
