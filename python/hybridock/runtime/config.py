"""A container's configuration: the image config merged with the command line, as docker does.

Parsed once into immutable records and stored as JSON with the container's record, so ``start``
runs exactly what ``create`` decided. The records are ``NamedTuple``s, not frozen dataclasses:
every container command loads them, and CPython 3.11 compiles six functions per frozen
dataclass at import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from hybridock.errors import ConfigError, InvalidVolumeSpec
from hybridock.runtime import ports
from hybridock.runtime.resources import Resources, parse_bytes, parse_resources
from hybridock.runtime.seccomp import parse_security_options
from hybridock.runtime.security import Security, check_sysctls, parse_security, parse_sysctl
from hybridock.runtime.supervision import (
    Healthcheck,
    RestartPolicy,
    check_healthcheck,
    check_restart_policy,
    merge_healthcheck,
)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CGROUPNS_MODES = ("host", "private")
#: the network modes that are not a network of the store's (docker's NetworkMode)
NETWORK_MODES = ("none", "host")


class Mount(NamedTuple):
    """A bind: from -v (docker's HostConfig.Binds: ``create_source``, a missing host directory
    is made at start) or from --mount (HostConfig.Mounts: its source must exist).

    A volume's mount names it (``volume``; an anonymous one's name is chosen at create, when
    the store fills in ``source``, its ``_data``); it is bound like any other directory."""

    source: str
    destination: str
    readonly: bool = False
    create_source: bool = True
    mode: str = ""  # -v's third field as typed (docker's Mode): "", "ro", "rw", "ro,nocopy"
    propagation: str = ""  # --mount's bind-propagation as typed (docker's BindOptions)
    volume: str = ""  # the volume's name ("" for a bind, and for an anonymous one until create)
    anonymous: bool = False  # -v /path, --mount without source, the image's VOLUME
    nocopy: bool = False  # no copy-up of the image's content into a new volume
    inherited: bool = False  # from --volumes-from: shown there, not under Binds or Mounts

    @property
    def is_volume(self) -> bool:
        return bool(self.volume) or self.anonymous

    @property
    def from_volume_flag(self) -> bool:
        return self.create_source


class ContainerConfig(NamedTuple):
    image: str  # as the user typed it (docker shows that in ps)
    image_id: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    env: tuple[str, ...]
    working_dir: str
    user: str
    hostname: str
    labels: Mapping[str, str] = {}  # shared by every default: a Mapping, never mutated
    mounts: tuple[Mount, ...] = ()
    network: str = "bridge"  # none | host | container:NAME | a network's name
    init: bool = False
    tty: bool = False
    open_stdin: bool = False
    # docker's StdinOnce (its CLI's attached ``run -i``): an attached client's end of input
    # is the container's
    stdin_once: bool = False
    # docker's Config.AttachStdin/Stdout/Stderr: the streams the creating client meant to
    # attach (recorded for inspect and commit; the attach itself is the client's)
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    # docker's HostConfig.ConsoleSize: a tty's first (rows, columns), until a client resizes it
    console_size: tuple[int, int] | None = None
    auto_remove: bool = False
    stop_signal: str = "SIGTERM"
    stop_timeout: int | None = None
    resources: Resources = Resources()
    security: Security = Security()
    tmpfs: tuple[tuple[str, int, str], ...] = ()  # (path, MS_* flags, tmpfs options)
    # --security-opt: "" (the default profile), "unconfined" or a profile's JSON
    seccomp: str = ""
    no_new_privileges: bool = False
    security_opt: tuple[str, ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()  # --sysctl, checked against docker's whitelist
    group_add: tuple[str, ...] = ()  # --group-add names or gids, resolved at start
    cgroupns: str = ""  # --cgroupns host|private; "" is docker's default for the host
    network_aliases: tuple[str, ...] = ()  # --network-alias (user networks)
    ipv4: str = ""  # --ip (user networks)
    # networks joined by `network connect`: (name, aliases, requested address)
    connected: tuple[tuple[str, tuple[str, ...], str], ...] = ()
    publish: tuple[ports.PortBinding, ...] = ()  # -p, as asked
    publish_all: bool = False  # -P
    exposed: tuple[str, ...] = ()  # "80/tcp": the image's ExposedPorts and --expose
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    volumes_from: tuple[str, ...] = ()  # --volumes-from as typed (docker's HostConfig)
    restart_policy: RestartPolicy = RestartPolicy()
    healthcheck: Healthcheck | None = None  # the flags' over the image's (docker's merge)

    @property
    def bridged(self) -> bool:
        """On bridge networks of the store (not none, host or another container's)."""
        return self.network not in NETWORK_MODES and not self.network.startswith("container:")

    @property
    def argv(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]

    def to_json(self) -> str:
        record: dict[str, Any] = self._asdict()
        record["mounts"] = [mount._asdict() for mount in self.mounts]
        record["resources"] = self.resources._asdict()
        record["security"] = self.security._asdict()
        record["restart_policy"] = self.restart_policy._asdict()
        record["healthcheck"] = self.healthcheck._asdict() if self.healthcheck else None
        return json.dumps(record, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ContainerConfig:
        data = json.loads(text)
        data["mounts"] = tuple(Mount(**m) for m in data.get("mounts", ()))
        for key in ("entrypoint", "cmd", "env"):
            data[key] = tuple(data[key])
        data["resources"] = Resources(**data.get("resources", {}))
        data["security"] = Security.from_dict(data.get("security", {}))
        data["tmpfs"] = tuple(tuple(mount) for mount in data.get("tmpfs", ()))
        if "security_opt" in data:
            data["security_opt"] = tuple(data["security_opt"])
        data["sysctls"] = tuple((key, value) for key, value in data.get("sysctls", ()))
        data["group_add"] = tuple(data.get("group_add", ()))
        for key in (
            "network_aliases", "exposed", "dns", "dns_search", "dns_options", "volumes_from",
        ):  # fmt: skip
            data[key] = tuple(data.get(key, ()))
        data["connected"] = tuple(
            (name, tuple(aliases), ip) for name, aliases, ip in data.get("connected", ())
        )
        data["publish"] = tuple(
            ports.PortBinding.from_record(binding) for binding in data.get("publish", ())
        )
        data["restart_policy"] = RestartPolicy(**data.get("restart_policy", {}))
        if size := data.get("console_size"):
            data["console_size"] = (int(size[0]), int(size[1]))
        if health := data.get("healthcheck"):
            data["healthcheck"] = Healthcheck(**{**health, "test": tuple(health["test"])})
        return cls(**data)


def docker_config(config: ContainerConfig, image_config: Mapping[str, Any]) -> dict[str, Any]:
    """docker's ``container.Config`` of a container configured so (its create flags over its
    image's config ``image_config``), in docker's field order: what inspect shows as ``Config``
    and what a commit starts from."""
    image = image_config.get("config") or {}
    exposed = [port for key in config.exposed for port in ports.Port.parse(key)]
    volumes: dict[str, dict[str, Any]] = {
        **{path: {} for path in image.get("Volumes") or {}},
        **{
            mount.destination: {}
            for mount in config.mounts
            if mount.anonymous and mount.from_volume_flag and not mount.inherited
        },
    }
    document: dict[str, Any] = {
        "Hostname": config.hostname,
        "Domainname": "",
        "User": config.user,
        "AttachStdin": config.attach_stdin,
        "AttachStdout": config.attach_stdout,
        "AttachStderr": config.attach_stderr,
    }
    if shown := ports.exposed_ports_json(exposed):
        document["ExposedPorts"] = shown
    document |= {
        "Tty": config.tty,
        "OpenStdin": config.open_stdin,
        "StdinOnce": config.stdin_once,
        "Env": _own_env(config.env, image.get("Env") or [], config.hostname, tty=config.tty),
        "Cmd": list(config.cmd) or None,
    }
    if config.healthcheck is not None:
        document["Healthcheck"] = config.healthcheck.document()
    document |= {
        "Image": config.image,
        "Volumes": dict(sorted(volumes.items())) or None,
        # "/" is our default for an image without one; docker keeps the image's ""
        "WorkingDir": ""
        if config.working_dir == "/" and not image.get("WorkingDir")
        else config.working_dir,
        "Entrypoint": list(config.entrypoint) or None,
    }
    # NetworkDisabled: docker's daemon sets it only when it has no bridge; we always have one
    document |= {"OnBuild": None, "Labels": dict(sorted(config.labels.items()))}
    if config.stop_signal != "SIGTERM" or image.get("StopSignal"):
        document["StopSignal"] = config.stop_signal
    if config.stop_timeout is not None:
        document["StopTimeout"] = config.stop_timeout
    return document


def _own_env(
    env: Sequence[str], image_env: Sequence[str], hostname: str, *, tty: bool
) -> list[str]:
    """The container's Env as docker's Config has it: without what our runtime adds for the
    process (docker adds PATH, HOSTNAME and TERM only to the process's environment), and in
    docker's order: the entries the flags set, then the image's that they left alone."""
    added = {f"HOSTNAME={hostname}", f"PATH={DEFAULT_PATH}", *(["TERM=xterm"] if tty else [])}
    kept = [entry for entry in env if entry not in added or entry in image_env]
    inherited = set(image_env)
    return [e for e in kept if e not in inherited] + [e for e in kept if e in inherited]


class RunOptions(NamedTuple):
    """What the command line says; None means "as the image says"."""

    command: tuple[str, ...] = ()
    # --entrypoint's one word ("": none); a tuple is a whole argv (the Engine API's list)
    entrypoint: str | tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    working_dir: str | None = None
    user: str | None = None
    hostname: str | None = None
    labels: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    network: str = "bridge"
    network_aliases: tuple[str, ...] = ()
    ip: str = ""
    publish: tuple[str, ...] = ()  # -p
    publish_all: bool = False  # -P
    expose: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    init: bool = False
    tty: bool = False
    interactive: bool = False
    stdin_once: bool = False  # the Engine API's StdinOnce
    attach: tuple[str, ...] = ()  # "stdin", "stdout", "stderr": the Config's Attach* fields
    console_size: tuple[int, int] | None = None  # the Engine API's ConsoleSize (rows, columns)
    auto_remove: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    memory: str | None = None
    memory_swap: str | None = None
    cpus: str | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    pids_limit: int | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    read_only: bool = False
    ulimits: tuple[str, ...] = ()
    tmpfs: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    sysctls: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()
    cgroupns: str = ""
    mounts: tuple[str, ...] = ()  # --mount
    volumes_from: tuple[str, ...] = ()  # --volumes-from CONTAINER[:ro|rw]
    restart_policy: RestartPolicy = RestartPolicy()  # --restart, parsed by the CLI
    healthcheck: Healthcheck | None = None  # --health-*, --no-healthcheck (None: the image's)


def check_cgroupns(mode: str) -> str:
    """docker's ``--cgroupns host|private`` ("" for docker's default on this host)."""
    if mode not in ("", *CGROUPNS_MODES):
        raise ConfigError(f"invalid cgroup namespace mode: {mode}")
    return mode


def merge_env(base: Sequence[str], overrides: Sequence[str]) -> tuple[str, ...]:
    """Later KEY=VALUE entries replace earlier ones with the same key, keeping first order."""
    merged: dict[str, str] = {}
    for entry in [*base, *overrides]:
        key, _, value = entry.partition("=")
        merged[key] = value
    return tuple(f"{key}={value}" for key, value in merged.items())


def _cli_env(entries: Sequence[str], files: Sequence[str]) -> list[str]:
    """-e K=V, -e K (taken from our environment when set), --env-file lines."""
    lines: list[str] = []
    for name in files:
        try:
            text = Path(name).read_text()
        except OSError as error:
            raise ConfigError(f"open {name}: {error.strerror}") from error
        lines.extend(
            line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
        )
    result = []
    for entry in [*lines, *entries]:
        if "=" in entry:
            if not entry.partition("=")[0]:
                raise ConfigError(f"invalid environment variable: {entry}")
            result.append(entry)
        elif entry in os.environ:
            result.append(f"{entry}={os.environ[entry]}")
    return result


def host_path(source: str) -> str:
    """A bind's host path; one starting with "." is relative to our working directory, as
    docker's client (since 23.0) makes it."""
    return os.path.normpath(Path.cwd() / source if source.startswith(".") else source)


#: -v's and --volumes-from's modes as docker's daemon takes them on Linux (z and Z, SELinux
#: relabelling, are accepted and mean nothing here)
MOUNT_MODES = ("ro", "rw", "z", "Z", "nocopy", "private", "rprivate")
REFUSED_PROPAGATION = ("shared", "rshared", "slave", "rslave")


def _mount_mode(mode: str, *, bind: bool) -> list[str]:
    flags = mode.split(",") if mode else []
    if refused := [flag for flag in flags if flag in REFUSED_PROPAGATION]:
        raise ConfigError(f"invalid mode: {mode}: {refused[0]} propagation is not supported yet")
    if (
        any(flag not in MOUNT_MODES or flags.count(flag) > 1 for flag in flags)
        or ("ro" in flags and "rw" in flags)
        or ("z" in flags and "Z" in flags)
        or (bind and "nocopy" in flags)
    ):
        raise InvalidVolumeSpec(f"invalid mode: {mode}")
    return flags


def parse_volume(text: str) -> Mount:
    """-v /host:/container[:ro|rw] or ./relative:/container (a bind), NAME:/container[:MODE]
    (a named volume, made on first use), /container (an anonymous volume); MODE is ro or rw,
    and for a volume also nocopy, comma-separated."""
    parts = text.split(":")
    if len(parts) == 1 and parts[0]:
        parts = ["", parts[0]]
    elif len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ConfigError(f"invalid volume specification: '{text}'")
    source, destination = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else ""
    if not destination.startswith("/"):
        raise ConfigError(f"invalid volume specification: '{text}': mount path must be absolute")
    bind = source.startswith(("/", "."))
    flags = _mount_mode(mode, bind=bind)
    readonly = "ro" in flags
    if bind:
        return Mount(host_path(source), destination, readonly=readonly, mode=mode)
    return Mount(
        "",
        destination,
        readonly=readonly,
        mode=mode,
        volume=source,
        anonymous=not source,
        nocopy="nocopy" in flags,
    )


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
TMPFS_FLAGS = {
    "ro": (MS_RDONLY, True), "rw": (MS_RDONLY, False),
    "nosuid": (MS_NOSUID, True), "suid": (MS_NOSUID, False),
    "nodev": (MS_NODEV, True), "dev": (MS_NODEV, False),
    "noexec": (MS_NOEXEC, True), "exec": (MS_NOEXEC, False),
}  # fmt: skip
TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks")


def parse_tmpfs(text: str) -> tuple[str, int, str]:
    """--tmpfs PATH[:OPTIONS]: docker's defaults are nosuid, nodev and noexec."""
    path, _, options = text.partition(":")
    if not path.startswith("/"):
        raise ConfigError(f"invalid mount path for --tmpfs: '{path}': must be absolute")
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    data = []
    for option in filter(None, options.split(",")):
        key = option.partition("=")[0]
        if option in TMPFS_FLAGS:
            bit, on = TMPFS_FLAGS[option]
            flags = flags | bit if on else flags & ~bit
        elif key in TMPFS_DATA and "=" in option:
            data.append(option)
        else:
            raise ConfigError(f"invalid --tmpfs option: {option}")
    return path, flags, ",".join(data)


GO_BOOLEANS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
#: --mount's keys as typed -> as meant
MOUNT_KEYS = {
    "type": "type",
    **dict.fromkeys(("source", "src"), "source"),
    **dict.fromkeys(("target", "dst", "destination"), "target"),
    **dict.fromkeys(("readonly", "ro"), "readonly"),
    **{key: key for key in ("bind-propagation", "tmpfs-size", "tmpfs-mode")},
    **{key: key for key in ("volume-driver", "volume-label", "volume-opt", "volume-nocopy")},
}
PROPAGATION_MODES = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def _valid_mount_value(key: str, value: str) -> bool:
    try:
        if key == "tmpfs-size":
            parse_bytes(value)
        elif key == "tmpfs-mode":
            int(value, 8)
    except ValueError:
        return False
    return key != "readonly" or value in GO_BOOLEANS


def _read_mount(text: str) -> dict[str, str]:
    """--mount's CSV fields by the key they mean, checked as docker's client reads the flag."""

    def invalid(message: str) -> ConfigError:
        return ConfigError(f'invalid argument "{text}" for "--mount" flag: {message}')

    import csv  # noqa: PLC0415 (only --mount needs it)

    values = {"type": "volume"}  # docker's default type
    for entry in next(csv.reader([text]), []):
        typed, has_value, value = entry.partition("=")
        key = MOUNT_KEYS.get(typed.lower())
        if not has_value and key in ("readonly", "volume-nocopy"):
            value = "true"
        elif not has_value:
            raise invalid(f"invalid field '{entry}' must be a key=value pair")
        elif key is None:
            raise invalid(f"unexpected key '{typed.lower()}' in '{entry}'")
        elif not _valid_mount_value(key, value):
            raise invalid(f"invalid value for {typed.lower()}: {value}")
        values[key] = value
    kind = values["type"] = values["type"].lower()
    if not kind:
        raise invalid("type is required")
    if not values.get("target"):
        raise invalid("target is required")
    for family in ("volume", "bind", "tmpfs"):
        if family != kind and any(key.startswith(f"{family}-") for key in values):
            raise invalid(f"cannot mix '{family}-*' options with mount type '{kind}'")
    return values


def parse_mount(text: str) -> Mount | tuple[str, int, str]:
    """--mount type=bind|volume|tmpfs,source=,target=,readonly,...: docker's syntax and checks
    (a bind's source must exist; a volume without source is anonymous); a tmpfs comes back as
    ``parse_tmpfs`` gives it."""
    values = _read_mount(text)
    kind, source, target = values["type"], values.get("source", ""), values["target"]
    readonly = GO_BOOLEANS[values.get("readonly", "false")]
    refused = f'invalid mount config for type "{kind}"'
    if kind not in ("bind", "tmpfs", "volume"):
        raise ConfigError(f"{refused}: mount type unknown")
    if not target.startswith("/"):
        raise ConfigError(f"{refused}: invalid mount path: '{target}' mount path must be absolute")
    if kind == "volume":
        return _volume_mount(values, source, target, readonly, refused)
    if kind == "tmpfs":
        if source:
            raise ConfigError(f"{refused}: field Source must not be specified")
        data = [f"size={parse_bytes(values['tmpfs-size'])}"] if "tmpfs-size" in values else []
        data += [f"mode={int(values['tmpfs-mode'], 8):o}"] if "tmpfs-mode" in values else []
        flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (MS_RDONLY if readonly else 0)
        return target, flags, ",".join(data)
    if not source:
        raise ConfigError(f"{refused}: field Source must not be empty")
    propagation = values.get("bind-propagation", "").lower()
    if propagation and propagation not in PROPAGATION_MODES:
        raise ConfigError(f"{refused}: invalid propagation mode: {propagation}")
    if propagation not in ("", "private", "rprivate"):
        raise ConfigError(f"{refused}: bind-propagation={propagation} is not supported yet")
    path = host_path(source)
    if not Path(path).exists():
        raise ConfigError(f"{refused}: bind source path does not exist: {path}")
    return Mount(path, target, readonly, create_source=False, propagation=propagation)


def _volume_mount(
    values: Mapping[str, str], source: str, target: str, readonly: bool, refused: str
) -> Mount:
    if values.get("volume-driver", "local") != "local":
        raise ConfigError(f"{refused}: volume drivers other than local are not supported")
    if "volume-opt" in values:
        raise ConfigError(f"{refused}: volume-opt is not supported yet")
    return Mount(
        "",
        target,
        readonly,
        create_source=False,
        volume=source,
        anonymous=not source,
        nocopy=GO_BOOLEANS.get(values.get("volume-nocopy", "false"), False),
    )


def parse_volumes_from(text: str) -> tuple[str, bool | None]:
    """--volumes-from CONTAINER[:ro|rw]: the container and whether its mounts become read-only
    (None: each as it is in that container)."""
    container, _, mode = text.partition(":")
    flags = _mount_mode(mode, bind=False)
    return container, None if "ro" not in flags and "rw" not in flags else "ro" in flags


def _combined_mounts(
    own: Sequence[Mount], inherited: Sequence[Mount], image: Mapping[str, Any] | None
) -> tuple[Mount, ...]:
    """docker's precedence at one destination: -v and --mount, then --volumes-from, then the
    image's VOLUMEs."""
    taken = {os.path.normpath(mount.destination) for mount in own}
    mounts = [*own]
    for mount in inherited:
        if os.path.normpath(mount.destination) not in taken:
            taken.add(os.path.normpath(mount.destination))
            mounts.append(mount)
    return (*mounts, *image_volumes(image, mounts))


def image_volumes(image_volumes: Mapping[str, Any] | None, mounts: Sequence[Mount]) -> list[Mount]:
    """An anonymous volume for each of the image's VOLUMEs that no mount of the user covers."""
    taken = {os.path.normpath(mount.destination) for mount in mounts}
    return [
        Mount("", path, anonymous=True)  # shown as -v /path would be
        for path in sorted(image_volumes or {})
        if path.startswith("/") and os.path.normpath(path) not in taken
    ]


def _check_network(options: RunOptions) -> str:
    """docker's checks of --network and what goes with it (the network's existence is the
    store's: checked at create)."""
    import ipaddress  # noqa: PLC0415 (a run without --ip or --dns does not pay for it)

    network = options.network or "bridge"
    if network == "default":
        network = "bridge"
    if network.startswith("container:"):
        if not network.partition(":")[2]:
            raise ConfigError("invalid container format container:<name|id>")
        if options.publish or options.publish_all:
            raise ConfigError(
                "conflicting options: port publishing and the container type network mode"
            )
        if options.dns or options.dns_search or options.dns_options:
            raise ConfigError("conflicting options: dns and the network mode")
    if options.ip:
        try:
            ipaddress.IPv4Address(options.ip)
        except ValueError:
            raise ConfigError(f"invalid IPv4 address: {options.ip}") from None
    for server in options.dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ConfigError(f"{server} is not an ip address") from None
    shared = network in NETWORK_MODES or network.startswith("container:")
    if shared and options.network_aliases:  # the docker CLI's own check and words
        raise ConfigError("network-scoped aliases are only supported for user-defined networks")
    if shared and options.ip:
        raise ConfigError("user specified IP address is supported on user defined networks only")
    return network


def merge(
    image: str,
    image_id: str,
    image_config: Mapping[str, Any],
    container_id: str,
    options: RunOptions,
    inherited: Sequence[Mount] = (),
) -> ContainerConfig:
    """``inherited``: the mounts of the --volumes-from containers, each as it will be."""
    config = image_config.get("config") or {}
    if options.entrypoint is not None:
        # docker: --entrypoint clears the image's default command too
        given = options.entrypoint
        entrypoint: tuple[str, ...] = tuple(given) if not isinstance(given, str) else (given,)
        entrypoint = () if entrypoint == ("",) else entrypoint
        cmd: tuple[str, ...] = tuple(options.command)
    else:
        entrypoint = tuple(config.get("Entrypoint") or ())
        cmd = tuple(options.command) or tuple(config.get("Cmd") or ())
    if not entrypoint and not cmd:
        raise ConfigError("no command specified")
    network = _check_network(options)
    check_restart_policy(options.restart_policy, auto_remove=options.auto_remove)
    if options.healthcheck is not None:
        check_healthcheck(options.healthcheck)
    publish = tuple(ports.parse_publish(options.publish)) if network != "host" else ()
    hostname = options.hostname or container_id[:12]
    defaults = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if options.tty:
        defaults.append("TERM=xterm")  # as docker does for -t
    env = merge_env(
        defaults, [*(config.get("Env") or ()), *_cli_env(options.env, options.env_files)]
    )
    security_options = parse_security_options(options.security_opt)
    sysctls = tuple(parse_sysctl(text) for text in options.sysctls)
    check_sysctls(sysctls, private_network=network != "host")
    binds: list[Mount] = []
    tmpfs: list[tuple[str, int, str]] = []
    for text in options.mounts:
        parsed = parse_mount(text)
        if isinstance(parsed, Mount):
            binds.append(parsed)
        else:
            tmpfs.append(parsed)
    mounts = _combined_mounts(
        [*(parse_volume(v) for v in options.volumes), *binds], inherited, config.get("Volumes")
    )
    labels = dict(config.get("Labels") or {})
    for label in options.labels:
        key, _, value = label.partition("=")
        labels[key] = value
    return ContainerConfig(
        image=image,
        image_id=image_id,
        entrypoint=entrypoint,
        cmd=cmd,
        env=env,
        working_dir=options.working_dir or config.get("WorkingDir") or "/",
        user=options.user if options.user is not None else (config.get("User") or ""),
        hostname=hostname,
        labels=labels,
        mounts=mounts,
        network=network,
        network_aliases=tuple(options.network_aliases),
        ipv4=options.ip,
        publish=publish,
        publish_all=options.publish_all and network != "host",
        exposed=tuple(
            str(port)
            for port in ports.exposed_ports(
                config.get("ExposedPorts"), ports.parse_expose(options.expose), publish
            )
        ),
        dns=tuple(options.dns),
        dns_search=tuple(options.dns_search),
        dns_options=tuple(options.dns_options),
        init=options.init,
        tty=options.tty,
        open_stdin=options.interactive,
        stdin_once=options.interactive and options.stdin_once,
        attach_stdin="stdin" in options.attach,
        attach_stdout="stdout" in options.attach,
        attach_stderr="stderr" in options.attach,
        console_size=options.console_size if options.tty else None,
        auto_remove=options.auto_remove,
        stop_signal=options.stop_signal or config.get("StopSignal") or "SIGTERM",
        stop_timeout=options.stop_timeout,
        tmpfs=(*(parse_tmpfs(t) for t in options.tmpfs), *tmpfs),
        security=parse_security(
            options.cap_add,
            options.cap_drop,
            options.privileged,
            options.read_only,
            options.ulimits,
        ),
        resources=parse_resources(
            memory=options.memory,
            memory_swap=options.memory_swap,
            cpus=options.cpus,
            cpu_shares=options.cpu_shares,
            cpuset_cpus=options.cpuset_cpus,
            pids_limit=options.pids_limit,
        ),
        seccomp=security_options.seccomp,
        no_new_privileges=security_options.no_new_privileges,
        security_opt=security_options.security_opt,
        sysctls=sysctls,
        group_add=tuple(options.group_add),
        cgroupns=check_cgroupns(options.cgroupns),
        volumes_from=tuple(options.volumes_from),
        restart_policy=options.restart_policy,
        healthcheck=merge_healthcheck(options.healthcheck, config.get("Healthcheck")),
    )
