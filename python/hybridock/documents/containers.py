"""A container's documents: docker 20.10's ``inspect`` and the Engine API's list entry
(``GET /containers/json``, moby's ContainerSummary), and the STATUS text both show."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hybridock.documents.networks import network_settings, networks_of
from hybridock.documents.times import ago, human_duration, iso_time

if TYPE_CHECKING:
    from hybridock.client import Client
    from hybridock.runtime.config import Mount
    from hybridock.runtime.containers import Container
    from hybridock.runtime.network import Network


def status_text(container: Container, *, paused: bool = False, health: str = "") -> str:
    """docker's Status ("Up 2 minutes (healthy)", "Exited (0) 3 seconds ago"), as ``ps``
    shows it; ``health``: the health check's word for ps ("" for none)."""
    if container.state == "running":
        up = f"Up {human_duration(time.time() - (container.started_at or time.time()))}"
        if paused:
            return f"{up} (Paused)"
        return f"{up} ({health})" if health else up
    if container.state == "restarting":
        return f"Restarting ({container.exit_code}) {ago(container.finished_at)}"
    if container.state == "exited":
        return f"Exited ({container.exit_code}) {ago(container.finished_at)}"
    return "Created"


def command_text(container: Container) -> str:
    """docker's Command of a list entry: the path, then the arguments, one with a space in
    single quotes (the daemon's list.go)."""
    path, *arguments = container.argv or ("",)
    return " ".join([path, *(f"'{a}'" if " " in a else a for a in arguments)])


def container_summary(
    client: Client,
    container: Container,
    *,
    size: bool = False,
    known_networks: Mapping[str, Network] | None = None,
) -> dict[str, Any]:
    """The Engine API's ``GET /containers/json`` entry (``size``: SizeRw and SizeRootFs;
    ``known_networks``: the store's networks by name, for a listing of many)."""
    from hybridock.runtime.ports import listed_ports  # noqa: PLC0415

    config = container.config
    paused = client.paused(container)
    health = client.health(container) if container.running else None
    summary: dict[str, Any] = {
        "Id": container.id,
        "Names": [f"/{container.name}"],
        "Image": container.image,
        "ImageID": container.image_id,
        "Command": command_text(container),
        "Created": int(container.created),
        "Ports": listed_ports(client.port_map(container)),
        "Labels": dict(config.labels),
        "State": "paused" if paused else container.state,
        "Status": status_text(container, paused=paused, health=health.shown if health else ""),
        "HostConfig": {"NetworkMode": _network_mode(container)},
        "NetworkSettings": {"Networks": networks_of(client, container, known_networks)[0]},
        "Mounts": [mount_point(m) for m in config.mounts],
    }
    if size:
        from hybridock.store.layout import tree_size  # noqa: PLC0415 (only when asked)

        written = tree_size(client.layout.container(container.id) / "upper")
        summary["SizeRw"] = written
        summary["SizeRootFs"] = written + client.image(container.image_id).size
    return summary


def _network_mode(container: Container) -> str:
    network = container.config.network
    return "default" if network == "bridge" else network


def inspect_container(client: Client, container: Container) -> dict[str, Any]:
    """docker 20.10's ``inspect`` document of a container."""
    from hybridock.runtime.config import docker_config  # noqa: PLC0415

    config = container.config
    directory = client.layout.container(container.id)
    lower = client.layer_dirs(container.image_id)
    running = container.running or container.restarting  # docker: running while restarting
    paused = client.paused(container)
    health = client.health(container)
    return {
        "Id": container.id,
        "Created": iso_time(container.created),
        "Path": config.argv[0] if config.argv else "",
        "Args": config.argv[1:],
        "State": {
            "Status": "paused" if paused else container.state,
            "Running": running,
            "Paused": paused,
            "Restarting": container.restarting,
            "OOMKilled": container.oom_killed,
            "Dead": False,
            "Pid": container.pid or 0 if container.running else 0,
            "ExitCode": container.exit_code or 0,
            "Error": container.error or "",
            "StartedAt": iso_time(container.started_at),
            "FinishedAt": iso_time(container.finished_at),
            **({"Health": health.document()} if health else {}),
        },
        "Image": container.image_id,
        "ResolvConfPath": str(directory / "resolv.conf"),
        "HostnamePath": str(directory / "hostname"),
        "HostsPath": str(directory / "hosts"),
        "LogPath": str(directory / "container.log"),
        "Name": f"/{container.name}",
        "RestartCount": client.restart_count(container),
        "Driver": "overlay",
        "HostConfig": {
            **_binds_and_mounts(config.mounts),
            # the one log driver: docker-py's run reads the Type before it reads the logs
            "LogConfig": {"Type": "json-file", "Config": {}},
            "VolumesFrom": list(config.volumes_from) or None,
            "NetworkMode": _network_mode(container),
            "PortBindings": client.port_bindings(container),
            "PublishAllPorts": config.publish_all,
            "Dns": list(config.dns),
            "DnsOptions": list(config.dns_options),
            "DnsSearch": list(config.dns_search),
            "RestartPolicy": {
                "Name": config.restart_policy.name,
                "MaximumRetryCount": config.restart_policy.maximum_retry_count,
            },
            "AutoRemove": config.auto_remove,
            "Init": config.init,
            "Privileged": config.security.privileged,
            "CapAdd": list(config.security.cap_add) or None,
            "CapDrop": list(config.security.cap_drop) or None,
            "ReadonlyRootfs": config.security.read_only,
            "Tmpfs": {path: data for path, _, data in config.tmpfs} or None,
            "Ulimits": [
                {"Name": name, "Soft": soft, "Hard": hard}
                for name, soft, hard in config.security.ulimits
            ]
            or None,
            "Memory": config.resources.memory,
            "MemorySwap": config.resources.effective_memory_swap,
            "NanoCpus": config.resources.nano_cpus,
            "CpuShares": config.resources.cpu_shares,
            "CpusetCpus": config.resources.cpuset_cpus,
            "PidsLimit": config.resources.pids_limit or None,
            "SecurityOpt": list(config.security_opt) or None,
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": ":".join(lower),
                "UpperDir": str(directory / "upper"),
                "WorkDir": str(directory / "work"),
                "MergedDir": str(directory / "rootfs"),
            },
        },
        "Mounts": [mount_point(m) for m in config.mounts],
        "Config": docker_config(config, _image_config(client, container)),
        "NetworkSettings": network_settings(client, container),
    }


def _image_config(client: Client, container: Container) -> dict[str, Any]:
    """The config of the container's image ({} when the image is gone from the store)."""
    from hybridock.errors import ImageNotFound  # noqa: PLC0415

    try:
        return client.image_store.get(container.image_id).config
    except ImageNotFound:
        return {}


def mount_point(mount: Mount) -> dict[str, Any]:
    """docker 20.10's MountPoint: a volume's name and driver; its Mode is "z" unless -v said
    one, or it is -v's (or the image's) anonymous volume; --volumes-from's have none."""
    if not mount.is_volume:
        return {
            "Type": "bind",
            "Source": mount.source,
            "Destination": mount.destination,
            "Mode": _volume_mode(mount) if mount.from_volume_flag and not mount.inherited else "",
            "RW": not mount.readonly,
            "Propagation": mount.propagation or "rprivate",
        }
    return {
        "Type": "volume",
        "Name": mount.volume,
        "Source": mount.source,
        "Destination": mount.destination,
        "Driver": "local",
        "Mode": "" if mount.inherited else _volume_point_mode(mount),
        "RW": not mount.readonly,
        "Propagation": "",
    }


def _volume_point_mode(mount: Mount) -> str:
    return mount.mode or ("" if mount.from_volume_flag and mount.anonymous else "z")


def _volume_mode(mount: Mount) -> str:
    # records from before Mount.mode knew only readonly
    return mount.mode or ("ro" if mount.readonly else "")


def _binds_and_mounts(mounts: Sequence[Mount]) -> dict[str, Any]:
    """docker's HostConfig: -v as typed under Binds (null when none), --mount under Mounts
    (left out when none)."""
    mounts = [m for m in mounts if not m.inherited]  # under VolumesFrom
    binds = [m for m in mounts if m.from_volume_flag and not m.anonymous]
    shown: dict[str, Any] = {
        "Binds": [
            ":".join(filter(None, (m.volume or m.source, m.destination, _volume_mode(m))))
            for m in binds
        ]
        or None
    }
    flagged = []
    for m in mounts:
        if m.from_volume_flag:
            continue
        if m.is_volume:
            volume: dict[str, Any] = {"Type": "volume", "Target": m.destination}
            if not m.anonymous:
                volume = {"Type": "volume", "Source": m.volume, "Target": m.destination}
            if m.readonly:
                volume["ReadOnly"] = True
            if m.nocopy:
                volume["VolumeOptions"] = {"NoCopy": True}
            flagged.append(volume)
            continue
        entry: dict[str, Any] = {"Type": "bind", "Source": m.source, "Target": m.destination}
        if m.readonly:
            entry["ReadOnly"] = True
        if m.propagation:
            entry["BindOptions"] = {"Propagation": m.propagation}
        flagged.append(entry)
    if flagged:
        shown["Mounts"] = flagged
    return shown
