"""``POST /containers/create``'s body (moby's ContainerCreateRequest: the container ``Config``
with ``HostConfig`` and ``NetworkingConfig`` beside it) as the ``RunOptions`` the CLI's flags
would make.

Each field becomes the flag text the docker CLI would have read it from (``-p``, ``--mount``,
``--tmpfs``, ``--ulimit``, ...), so the runtime's parsers and checks decide, the same as for
``hybridock create``. A field hybridock cannot honour is a 400 naming it when it is set to
anything but its zero value (or the default docker's clients send); unknown fields are refused
on the same terms. Nothing here lets a client reach what the CLI would not: a bind's source
must be an absolute path (the CLI resolves a relative one against the user's directory, which
the server does not share), a seccomp profile comes as its JSON (never a path read on the
server), ``Env`` names without a value are left out (the docker CLI resolves them from its own
environment; ours is the server's), and no ``--env-file`` is read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from hybridock.api.http import ApiError
from hybridock.client import Healthcheck, RestartPolicy, RunOptions

NANO = 1_000_000_000
#: docker's clients send these for "not set", beside the zero values
DEFAULTS: dict[str, tuple[object, ...]] = {
    "HostConfig.MemorySwappiness": (-1,),
    "HostConfig.Isolation": ("default",),
    "HostConfig.IpcMode": ("private",),
    "HostConfig.VolumeDriver": ("local",),
    "HostConfig.LogConfig.Type": ("json-file",),
}
#: read, and of no consequence to the container's record: the client's own plans (the
#: container id file), macOS's mount consistency, and the read-only fields a client
#: echoes from an inspect
INFORMATIVE = (
    "HostConfig.ContainerIDFile", "Mount.Consistency",
    "Endpoint.NetworkID", "Endpoint.EndpointID", "Endpoint.Gateway", "Endpoint.IPAddress",
    "Endpoint.IPPrefixLen", "Endpoint.IPv6Gateway", "Endpoint.GlobalIPv6Address",
    "Endpoint.GlobalIPv6PrefixLen", "Endpoint.DNSNames",
)  # fmt: skip


class ContainerCreate(NamedTuple):
    """What ``POST /containers/create`` asks for: ``Client.create_container``'s arguments."""

    image: str
    name: str | None
    options: RunOptions


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def _is_zero(value: object) -> bool:
    if isinstance(value, Mapping):
        return all(_is_zero(item) for item in value.values())
    if isinstance(value, list):
        return all(_is_zero(item) for item in value)
    return value is None or value in (0, "")  # False == 0


def _console_size(host: _Section) -> tuple[int, int] | None:
    """ConsoleSize, ``[rows, columns]``: a tty's first size (the docker CLI sends its
    terminal's, so the first prompt already has it); ``[0, 0]`` is none."""
    value = host.field("ConsoleSize")
    if value is None:
        return None
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(type(n) is int and 0 <= n < 1 << 16 for n in value)
    ):
        raise bad_request("HostConfig.ConsoleSize: expected [height, width]")
    return (value[0], value[1]) if value[0] and value[1] else None


class _Section:
    """One JSON object of the body: its fields read by type, each once; ``finish`` refuses
    what no reader took and is not zero."""

    def __init__(self, where: str, document: object) -> None:
        if document is None:
            document = {}
        if not isinstance(document, Mapping):
            raise bad_request(f"{where}: expected a JSON object")
        self.where = where
        self.document: Mapping[str, Any] = document
        self.read: set[str] = set()

    def field(self, key: str) -> Any:
        self.read.add(key)
        return self.document.get(key)

    def _typed(self, key: str, kind: type, shown: str) -> Any:
        value = self.field(key)
        if value is None:
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise bad_request(f"{self.where}.{key}: expected {shown}")
        return value

    def string(self, key: str) -> str:
        return str(self._typed(key, str, "a string") or "")

    def boolean(self, key: str) -> bool:
        return bool(self._typed(key, bool, "true or false"))

    def integer(self, key: str) -> int:
        return int(self._typed(key, int, "an integer") or 0)

    def optional_integer(self, key: str) -> int | None:
        value = self._typed(key, int, "an integer")
        return None if value is None else int(value)

    def strings(self, key: str, *, one_word: bool = False) -> list[str] | None:
        """A list of strings (None when absent or null); ``one_word``: a lone string is a
        one-element list, as docker's StrSlice reads it."""
        value = self.field(key)
        if value is None:
            return None
        if one_word and isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise bad_request(f"{self.where}.{key}: expected a list of strings")
        return value

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.field(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise bad_request(f"{self.where}.{key}: expected a JSON object")
        return value

    def section(self, key: str) -> _Section:
        return _Section(f"{self.where}.{key}", self.field(key))

    def finish(self, kind: str | None = None) -> None:
        """``kind``: the name the INFORMATIVE and DEFAULTS tables know this section by."""
        kind = kind or self.where
        for key, value in self.document.items():
            name = f"{kind}.{key}"
            if key in self.read or name in INFORMATIVE:
                continue
            if not _is_zero(value) and value not in DEFAULTS.get(name, ()):
                raise bad_request(f"{self.where}.{key}: not supported by hybridock")


def container_create(body: object, name: str | None = None) -> ContainerCreate:
    """The create body and the ``name`` query parameter as ``Client.create_container``'s
    arguments; ``ApiError`` 400 for what hybridock cannot honour or a malformed body.

    >>> container_create({"Image": "busybox", "Cmd": ["echo", "hi"]}).options.command
    ('echo', 'hi')
    """
    config = _Section("Config", body)
    image = config.string("Image")
    if not image:
        raise bad_request("Config.Image: an image is required")
    host = _Section("HostConfig", config.field("HostConfig"))
    networking = _Section("NetworkingConfig", config.field("NetworkingConfig"))
    options: dict[str, Any] = {}
    options.update(_config(config))
    options.update(_host(host))
    options.update(_networking(networking, options["network"]))
    binds = options.pop("binds")
    # docker's: a Config.Volumes path that a bind or a mount covers gets no anonymous volume
    # of its own (docker-compose names every volume's path there, its binds' too)
    covered = {_bind_target(text) for text in binds}
    covered |= {_mount_target(text) for text in options["mounts"]}
    anonymous = [path for path in options["volumes"] if path.rstrip("/") not in covered]
    options["volumes"] = (*binds, *anonymous)
    options["expose"] = tuple(_exposed(config))
    config.finish()
    host.finish()
    networking.finish()
    return ContainerCreate(image, name or None, RunOptions(**options))


def _config(config: _Section) -> dict[str, Any]:
    attach = tuple(
        stream
        for stream in ("stdin", "stdout", "stderr")
        if config.boolean(f"Attach{stream.capitalize()}")
    )
    entrypoint = config.strings("Entrypoint", one_word=True)
    labels = config.mapping("Labels")
    volumes = config.mapping("Volumes")
    return {
        "hostname": config.string("Hostname") or None,
        "user": config.string("User") or None,
        "tty": config.boolean("Tty"),
        "interactive": config.boolean("OpenStdin"),
        # the docker CLI's attached run -i: the attached client's end of input is the
        # container's (api/attach.py)
        "stdin_once": config.boolean("StdinOnce"),
        "attach": attach,
        # a name without a value is the client's to look up (docker's CLI sends it when its
        # own environment lacks it too); ours is the server's, never a client's to read
        "env": tuple(entry for entry in config.strings("Env") or () if "=" in entry),
        "command": tuple(config.strings("Cmd", one_word=True) or ()),
        "entrypoint": _entrypoint(entrypoint),
        "working_dir": config.string("WorkingDir") or None,
        "labels": tuple(f"{key}={_text(value)}" for key, value in labels.items()),
        "volumes": tuple(volumes),
        "stop_signal": config.string("StopSignal") or None,
        "stop_timeout": config.optional_integer("StopTimeout"),
        "healthcheck": _healthcheck(config.section("Healthcheck")),
    }


def _entrypoint(given: Sequence[str] | None) -> str | tuple[str, ...] | None:
    """As ``--entrypoint`` says it where it can (one word; "" for none), else the whole list."""
    if given is None:
        return None
    if len(given) <= 1:
        return given[0] if given else ""
    return tuple(given)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise bad_request(f"expected a string, not {value!r}")
    return value


def _exposed(config: _Section) -> list[str]:
    return list(config.mapping("ExposedPorts"))


def _healthcheck(section: _Section) -> Healthcheck | None:
    test = section.strings("Test")
    healthcheck = Healthcheck(
        test=tuple(test or ()),
        interval=section.integer("Interval"),
        timeout=section.integer("Timeout"),
        start_period=section.integer("StartPeriod"),
        retries=section.integer("Retries"),
    )
    section.finish("Healthcheck")  # StartInterval: not yet
    return None if healthcheck == Healthcheck() else healthcheck


def _host(host: _Section) -> dict[str, Any]:
    policy = host.section("RestartPolicy")
    restart = RestartPolicy(policy.string("Name"), policy.integer("MaximumRetryCount"))
    policy.finish()
    if not restart.name and not restart.maximum_retry_count:
        restart = RestartPolicy()
    log = host.section("LogConfig")
    if log.string("Type") not in ("", "json-file") or log.mapping("Config"):
        raise bad_request("HostConfig.LogConfig: only the json-file log driver, without options")
    log.finish()
    memory, memory_swap = host.integer("Memory"), host.integer("MemorySwap")
    nano_cpus, cpu_shares = host.integer("NanoCpus"), host.integer("CpuShares")
    pids_limit = host.optional_integer("PidsLimit")
    return {
        "binds": tuple(_bind(text) for text in host.strings("Binds") or ()),
        "mounts": tuple(_mount(item) for item in _objects(host, "Mounts")),
        "tmpfs": tuple(
            f"{path}:{_text(flags)}" if flags else path
            for path, flags in host.mapping("Tmpfs").items()
        ),
        "publish": tuple(_publish(host.mapping("PortBindings"))),
        "publish_all": host.boolean("PublishAllPorts"),
        "network": _network_mode(host.string("NetworkMode")),
        "restart_policy": restart,
        "auto_remove": host.boolean("AutoRemove"),
        "console_size": _console_size(host),
        "volumes_from": tuple(host.strings("VolumesFrom") or ()),
        "init": host.boolean("Init"),
        "privileged": host.boolean("Privileged"),
        "cap_add": tuple(host.strings("CapAdd") or ()),
        "cap_drop": tuple(host.strings("CapDrop") or ()),
        "read_only": host.boolean("ReadonlyRootfs"),
        "ulimits": tuple(_ulimit(item) for item in _objects(host, "Ulimits")),
        "memory": str(memory) if memory else None,
        "memory_swap": str(memory_swap) if memory_swap else None,
        "cpus": repr(nano_cpus / NANO) if nano_cpus else None,
        "cpu_shares": cpu_shares or None,
        "cpuset_cpus": host.string("CpusetCpus") or None,
        "pids_limit": pids_limit or None,
        "security_opt": tuple(_security_option(o) for o in host.strings("SecurityOpt") or ()),
        "sysctls": tuple(f"{k}={_text(v)}" for k, v in host.mapping("Sysctls").items()),
        "group_add": tuple(host.strings("GroupAdd") or ()),
        "cgroupns": host.string("CgroupnsMode"),
        "dns": tuple(host.strings("Dns") or ()),
        "dns_options": tuple(host.strings("DnsOptions") or ()),
        "dns_search": tuple(host.strings("DnsSearch") or ()),
    }


def _objects(section: _Section, key: str) -> list[Mapping[str, Any]]:
    value = section.field(key) or []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise bad_request(f"{section.where}.{key}: expected a list of JSON objects")
    return value


def _network_mode(mode: str) -> str:
    return "bridge" if mode in ("", "default") else mode


def _relative_source(source: str) -> ApiError:
    return bad_request(
        f'create {source}: "{source}" includes invalid characters for a local volume name, only'
        ' "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory,'
        " use absolute path"
    )


def _bind(text: str) -> str:
    """One of ``HostConfig.Binds``: ``-v``'s text; a source the CLI would take relative to
    its user's directory is refused, as docker's daemon refuses it."""
    source = text.partition(":")[0]
    if ":" in text and source.startswith("."):
        raise _relative_source(source)
    return text


def _bind_target(text: str) -> str:
    """Where a ``Binds`` entry (``SOURCE:TARGET[:OPTIONS]``, or a bare anonymous path) mounts."""
    parts = text.split(":")
    return (parts[1] if len(parts) > 1 else parts[0]).rstrip("/")


def _mount_target(csv: str) -> str:
    """Where ``_mount``'s CSV mounts."""
    fields = dict(item.partition("=")[::2] for item in csv.split(","))
    return fields.get("target", "").rstrip("/")


def _mount(document: Mapping[str, Any]) -> str:
    """One of ``HostConfig.Mounts`` as ``--mount``'s CSV."""
    mount = _Section("HostConfig.Mounts[]", document)
    kind, source, target = mount.string("Type"), mount.string("Source"), mount.string("Target")
    fields = {"type": kind, "source": source, "target": target}
    if mount.boolean("ReadOnly"):
        fields["readonly"] = "true"
    mount.string("Consistency")
    if kind == "bind" and source and not source.startswith("/"):
        raise bad_request(
            f"invalid mount config for type \"bind\": invalid mount path: '{source}'"
            " mount path must be absolute"
        )
    bind = mount.section("BindOptions")
    fields["bind-propagation"] = bind.string("Propagation")
    bind.finish()
    volume = mount.section("VolumeOptions")
    if volume.boolean("NoCopy"):
        fields["volume-nocopy"] = "true"
    driver = volume.section("DriverConfig")
    fields["volume-driver"] = driver.string("Name")
    driver.finish()
    volume.finish()
    tmpfs = mount.section("TmpfsOptions")
    size, mode = tmpfs.integer("SizeBytes"), tmpfs.integer("Mode")
    fields["tmpfs-size"] = str(size) if size else ""
    fields["tmpfs-mode"] = f"{mode:o}" if mode else ""
    tmpfs.finish()
    mount.finish("Mount")
    row = [f"{key}={value}" for key, value in fields.items() if value]
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


def _publish(bindings: Mapping[str, Any]) -> list[str]:
    """``HostConfig.PortBindings`` as ``-p`` values, one per host binding."""
    specs = []
    for port, hosts in bindings.items():
        if not isinstance(hosts, list | None):
            raise bad_request(f"HostConfig.PortBindings.{port}: expected a list")
        for document in hosts or ():
            binding = _Section(f"HostConfig.PortBindings.{port}[]", document)
            address, host_port = binding.string("HostIp"), binding.string("HostPort")
            binding.finish()
            shown = f"[{address}]" if ":" in address else address
            specs.append(
                f"{shown}:{host_port}:{port}"
                if shown
                else f"{host_port}:{port}"
                if host_port
                else port
            )
    return specs


def _ulimit(document: Mapping[str, Any]) -> str:
    ulimit = _Section("HostConfig.Ulimits[]", document)
    text = f"{ulimit.string('Name')}={ulimit.integer('Soft')}:{ulimit.integer('Hard')}"
    ulimit.finish()
    return text


def _security_option(option: str) -> str:
    """A seccomp profile comes as its JSON, as docker's client sends it: a path here would
    name a file of the server's."""
    key, separator, value = option.partition("=") if "=" in option else option.partition(":")
    inline = value.lstrip().startswith("{")
    if key.strip() == "seccomp" and separator and value != "unconfined" and not inline:
        raise bad_request(
            f'invalid --security-opt: "seccomp={value}": give the profile\'s JSON, not a path'
        )
    return option


def _networking(networking: _Section, network: str) -> dict[str, Any]:
    """``NetworkingConfig.EndpointsConfig``: the one network the container joins at create,
    its aliases and address."""
    endpoints = networking.mapping("EndpointsConfig")
    if len(endpoints) > 1:
        raise bad_request(
            "NetworkingConfig.EndpointsConfig: hybridock connects a container to one network"
            " at create (connect it to more afterwards)"
        )
    if not endpoints:
        return {"network_aliases": (), "ip": ""}
    ((key, document),) = endpoints.items()
    named = _network_mode(key)
    if named != network:
        raise bad_request(
            f"NetworkingConfig.EndpointsConfig.{key}: not the network of HostConfig.NetworkMode"
            f" ({network})"
        )
    endpoint = _Section(f"NetworkingConfig.EndpointsConfig.{key}", document)
    aliases = tuple(endpoint.strings("Aliases") or ())
    addresses = endpoint.section("IPAMConfig")
    ip = addresses.string("IPv4Address")
    addresses.finish()
    endpoint.finish("Endpoint")
    return {"network_aliases": aliases, "ip": ip}
