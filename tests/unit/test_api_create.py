"""The Engine API's create body as RunOptions (api/create.py): what each field becomes, what
is refused and why, without containers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from hybridock.api.create import container_create
from hybridock.api.http import ApiError
from hybridock.client import Healthcheck, RestartPolicy, RunOptions

#: what `docker create busybox echo hi` sends (docker CLI 28.2.2, API 1.47): every zero value
#: the CLI fills in, which must all be accepted
DOCKER_CLI_BODY: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": True,
    "AttachStderr": True,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": ["echo", "hi"],
    "Image": "busybox",
    "Volumes": {},
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": {},
    "HostConfig": {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": -1,
        "OomKillDisable": False,
        "PidsLimit": 0,
        "Ulimits": [],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    },
    "NetworkingConfig": {
        "EndpointsConfig": {
            "default": {
                "IPAMConfig": None,
                "Links": None,
                "Aliases": None,
                "MacAddress": "",
                "DriverOpts": None,
                "GwPriority": 0,
                "NetworkID": "",
                "EndpointID": "",
                "Gateway": "",
                "IPAddress": "",
                "IPPrefixLen": 0,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": None,
            }
        }
    },
}
PROFILE = {"defaultAction": "SCMP_ACT_ALLOW"}


def options(body: dict[str, Any]) -> RunOptions:
    return container_create({"Image": "busybox", **body}).options


def host(**fields: Any) -> dict[str, Any]:
    return {"HostConfig": fields}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({}, RunOptions(), id="image-only"),
        pytest.param(
            DOCKER_CLI_BODY,
            RunOptions(command=("echo", "hi"), attach=("stdout", "stderr")),
            id="docker-cli-zeros",
        ),
        pytest.param({"Cmd": "echo hi"}, RunOptions(command=("echo hi",)), id="cmd-as-a-string"),
        pytest.param(
            {"Entrypoint": ["/bin/sh"]}, RunOptions(entrypoint="/bin/sh"), id="entrypoint-one-word"
        ),
        pytest.param(
            {"Entrypoint": "/bin/sh"}, RunOptions(entrypoint="/bin/sh"), id="entrypoint-a-string"
        ),
        pytest.param(
            {"Entrypoint": ["/bin/sh", "-c"]},
            RunOptions(entrypoint=("/bin/sh", "-c")),
            id="entrypoint-a-list",
        ),
        pytest.param({"Entrypoint": []}, RunOptions(entrypoint=""), id="entrypoint-cleared"),
        pytest.param(
            {"Env": ["A=1", "UNSET", "B="]},
            RunOptions(env=("A=1", "B=")),
            id="env-bare-names-are-the-clients",
        ),
        pytest.param(
            {"Hostname": "h", "User": "1:2", "WorkingDir": "/srv", "Tty": True, "OpenStdin": True},
            RunOptions(hostname="h", user="1:2", working_dir="/srv", tty=True, interactive=True),
            id="process",
        ),
        pytest.param(
            {"Labels": {"a": "1", "b": ""}, "StopSignal": "SIGINT", "StopTimeout": 3},
            RunOptions(labels=("a=1", "b="), stop_signal="SIGINT", stop_timeout=3),
            id="labels-and-stop",
        ),
        pytest.param(
            {"Volumes": {"/anon": {}}, **host(Binds=["/srv:/b:ro", "named:/n"])},
            RunOptions(volumes=("/srv:/b:ro", "named:/n", "/anon")),
            id="binds-then-anonymous-volumes",
        ),
        pytest.param(  # docker-compose 1.29 names every volume's path in Config.Volumes
            {
                "Volumes": {"/etc/app.conf": {}, "/m": {}, "/anon": {}},
                **host(
                    Binds=["/srv/app.conf:/etc/app.conf:ro"],
                    Mounts=[{"Type": "bind", "Source": "/srv", "Target": "/m"}],
                ),
            },
            RunOptions(
                volumes=("/srv/app.conf:/etc/app.conf:ro", "/anon"),
                mounts=("type=bind,source=/srv,target=/m",),
            ),
            id="a-bound-path-gets-no-anonymous-volume",
        ),
        pytest.param(
            host(
                Mounts=[
                    {"Type": "bind", "Source": "/srv", "Target": "/b", "ReadOnly": True},
                    {
                        "Type": "volume",
                        "Target": "/v",
                        "VolumeOptions": {"NoCopy": True, "DriverConfig": {}},
                    },
                    {"Type": "volume", "Source": "data", "Target": "/d", "Consistency": "cached"},
                    {
                        "Type": "tmpfs",
                        "Target": "/t",
                        "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1777},
                    },
                    {
                        "Type": "bind",
                        "Source": "/a,b",
                        "Target": "/c",
                        "BindOptions": {"Propagation": "rprivate"},
                    },
                ]
            ),
            RunOptions(
                mounts=(
                    "type=bind,source=/srv,target=/b,readonly=true",
                    "type=volume,target=/v,volume-nocopy=true",
                    "type=volume,source=data,target=/d",
                    "type=tmpfs,target=/t,tmpfs-size=1048576,tmpfs-mode=1777",
                    'type=bind,"source=/a,b",target=/c,bind-propagation=rprivate',
                )
            ),
            id="mounts-as-mount-flags",
        ),
        pytest.param(
            host(Tmpfs={"/run": "size=1m", "/tmp": ""}),
            RunOptions(tmpfs=("/run:size=1m", "/tmp")),
            id="tmpfs",
        ),
        pytest.param(
            {
                "ExposedPorts": {"7000/tcp": {}, "53/udp": {}},
                **host(
                    PortBindings={
                        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
                        "443/tcp": [
                            {"HostIp": "::1", "HostPort": "8443"},
                            {"HostIp": "", "HostPort": ""},
                        ],
                        "9/tcp": [],
                    },
                    PublishAllPorts=True,
                ),
            },
            RunOptions(
                publish=("8080:80/tcp", "127.0.0.1::53/udp", "[::1]:8443:443/tcp", "443/tcp"),
                publish_all=True,
                expose=("7000/tcp", "53/udp"),
            ),
            id="ports",
        ),
        pytest.param(
            host(RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 3}, AutoRemove=False),
            RunOptions(restart_policy=RestartPolicy("on-failure", 3)),
            id="restart-policy",
        ),
        pytest.param(
            host(RestartPolicy={"Name": "", "MaximumRetryCount": 0}, AutoRemove=True),
            RunOptions(auto_remove=True),
            id="auto-remove-with-docker-py-s-empty-policy",
        ),
        pytest.param(
            {"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5000000000, "Retries": 2}},
            RunOptions(
                healthcheck=Healthcheck(("CMD-SHELL", "true"), interval=5 * 10**9, retries=2)
            ),
            id="healthcheck",
        ),
        pytest.param(
            {"Healthcheck": {"Test": ["NONE"]}},
            RunOptions(healthcheck=Healthcheck(("NONE",))),
            id="no-healthcheck",
        ),
        pytest.param(
            host(
                Memory=67108864,
                MemorySwap=-1,
                NanoCpus=500000000,
                CpuShares=512,
                CpusetCpus="0",
                PidsLimit=-1,
                MemorySwappiness=-1,
            ),
            RunOptions(
                memory="67108864",
                memory_swap="-1",
                cpus="0.5",
                cpu_shares=512,
                cpuset_cpus="0",
                pids_limit=-1,
            ),
            id="resources",
        ),
        pytest.param(
            host(
                Init=True,
                Privileged=True,
                ReadonlyRootfs=True,
                CapAdd=["CAP_NET_ADMIN"],
                CapDrop=["CHOWN"],
                Ulimits=[{"Name": "nofile", "Soft": 100, "Hard": 200}],
                SecurityOpt=[
                    f"seccomp={json.dumps(PROFILE)}",
                    "no-new-privileges",
                    "seccomp:unconfined",
                ],
                Sysctls={"net.ipv4.ip_forward": "1"},
                GroupAdd=["10"],
                CgroupnsMode="private",
            ),
            RunOptions(
                init=True,
                privileged=True,
                read_only=True,
                cap_add=("CAP_NET_ADMIN",),
                cap_drop=("CHOWN",),
                ulimits=("nofile=100:200",),
                security_opt=(
                    f"seccomp={json.dumps(PROFILE)}",
                    "no-new-privileges",
                    "seccomp:unconfined",
                ),
                sysctls=("net.ipv4.ip_forward=1",),
                group_add=("10",),
                cgroupns="private",
            ),
            id="security",
        ),
        pytest.param(
            host(
                Dns=["1.1.1.1"],
                DnsOptions=["ndots:2"],
                DnsSearch=["example.com"],
                VolumesFrom=["other:ro"],
            ),
            RunOptions(
                dns=("1.1.1.1",),
                dns_options=("ndots:2",),
                dns_search=("example.com",),
                volumes_from=("other:ro",),
            ),
            id="dns-and-volumes-from",
        ),
        pytest.param(
            {
                **host(NetworkMode="mynet"),
                "NetworkingConfig": {
                    "EndpointsConfig": {
                        "mynet": {
                            "Aliases": ["web"],
                            "IPAMConfig": {"IPv4Address": "10.1.2.3"},
                            "NetworkID": "",
                            "DNSNames": None,
                        }
                    }
                },
            },
            RunOptions(network="mynet", network_aliases=("web",), ip="10.1.2.3"),
            id="user-network-endpoint",
        ),
        pytest.param(
            {"NetworkingConfig": {"EndpointsConfig": {"bridge": {}}}},
            RunOptions(network="bridge"),
            id="default-is-the-bridge",
        ),
        pytest.param(
            host(NetworkMode="container:web"),
            RunOptions(network="container:web"),
            id="container-network",
        ),
        pytest.param(
            host(
                LogConfig={"Type": "json-file", "Config": {}},
                Isolation="default",
                IpcMode="private",
            ),
            RunOptions(),
            id="docker-s-defaults-named",
        ),
        pytest.param(
            {"Tty": True, "OpenStdin": True, "StdinOnce": True, **host(ConsoleSize=[40, 120])},
            RunOptions(tty=True, interactive=True, stdin_once=True, console_size=(40, 120)),
            id="attached-run-it",
        ),
    ],
)
def test_fields(body: dict[str, Any], expected: RunOptions) -> None:
    assert options(body) == expected


def test_name_and_image() -> None:
    assert container_create({"Image": "busybox:1"}, "web")[:2] == ("busybox:1", "web")
    assert container_create({"Image": "busybox:1"}, "").name is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"Image": ""}, "Config.Image: an image is required", id="no-image"),
        pytest.param([], "Config: expected a JSON object", id="not-an-object"),
        pytest.param(
            {"Domainname": "example.com"}, "Config.Domainname: not supported", id="domainname"
        ),
        pytest.param({"Cmd": [1]}, "Config.Cmd: expected a list of strings", id="cmd-of-numbers"),
        pytest.param({"Tty": 1}, "Config.Tty: expected true or false", id="tty-not-a-boolean"),
        pytest.param({"Surprise": 1}, "Config.Surprise: not supported", id="unknown-field"),
        pytest.param(
            {"MacAddress": "02:42:ac:11:00:02"},
            "Config.MacAddress: not supported",
            id="mac-address",
        ),
        pytest.param(
            {"Healthcheck": {"Test": ["CMD", "x"], "StartInterval": 10**9}},
            "Config.Healthcheck.StartInterval: not supported",
            id="health-start-interval",
        ),
        pytest.param(host(IpcMode="host"), "HostConfig.IpcMode: not supported", id="ipc-host"),
        pytest.param(host(PidMode="host"), "HostConfig.PidMode: not supported", id="pid-host"),
        pytest.param(
            host(ExtraHosts=["a:1.2.3.4"]), "HostConfig.ExtraHosts: not supported", id="extra-hosts"
        ),
        pytest.param(
            host(Devices=[{"PathOnHost": "/dev/sda"}]),
            "HostConfig.Devices: not supported",
            id="devices",
        ),
        pytest.param(
            host(Memory="64m"), "HostConfig.Memory: expected an integer", id="memory-as-text"
        ),
        pytest.param(
            host(Memory=True), "HostConfig.Memory: expected an integer", id="memory-as-boolean"
        ),
        pytest.param(host(CpuQuota=50000), "HostConfig.CpuQuota: not supported", id="cpu-quota"),
        pytest.param(
            host(LogConfig={"Type": "syslog", "Config": {}}),
            "HostConfig.LogConfig: only the json-file log driver",
            id="log-driver",
        ),
        pytest.param(
            host(LogConfig={"Type": "json-file", "Config": {"max-size": "1m"}}),
            "HostConfig.LogConfig: only the json-file log driver",
            id="log-options",
        ),
        pytest.param(
            host(Binds=["./here:/b"]),
            'create ./here: "./here" includes invalid characters for a local volume name',
            id="relative-bind-source",
        ),
        pytest.param(
            host(Mounts=[{"Type": "bind", "Source": "here", "Target": "/b"}]),
            "invalid mount path: 'here' mount path must be absolute",
            id="relative-mount-source",
        ),
        pytest.param(
            host(SecurityOpt=["seccomp=/etc/hostname"]),
            "give the profile's JSON, not a path",
            id="seccomp-profile-path",
        ),
        pytest.param(
            host(SecurityOpt=["seccomp:/etc/hostname"]),
            "give the profile's JSON, not a path",
            id="seccomp-profile-path-colon-form",
        ),
        pytest.param(
            host(
                Mounts=[{"Type": "volume", "Target": "/v", "VolumeOptions": {"Labels": {"a": "b"}}}]
            ),
            "HostConfig.Mounts[].VolumeOptions.Labels: not supported",
            id="mount-volume-labels",
        ),
        pytest.param(
            host(
                Mounts=[
                    {
                        "Type": "volume",
                        "Target": "/v",
                        "VolumeOptions": {"DriverConfig": {"Options": {"o": "x"}}},
                    }
                ]
            ),
            "DriverConfig.Options: not supported",
            id="mount-volume-driver-options",
        ),
        pytest.param(
            host(
                Mounts=[
                    {
                        "Type": "bind",
                        "Source": "/srv",
                        "Target": "/b",
                        "BindOptions": {"NonRecursive": True},
                    }
                ]
            ),
            "HostConfig.Mounts[].BindOptions.NonRecursive: not supported",
            id="bind-non-recursive",
        ),
        pytest.param(
            {"NetworkingConfig": {"EndpointsConfig": {"a": {}, "b": {}}}},
            "hybridock connects a container to one network at create",
            id="two-networks",
        ),
        pytest.param(
            {**host(NetworkMode="a"), "NetworkingConfig": {"EndpointsConfig": {"b": {}}}},
            "NetworkingConfig.EndpointsConfig.b: not the network of HostConfig.NetworkMode (a)",
            id="endpoint-of-another-network",
        ),
        pytest.param(
            {
                **host(NetworkMode="a"),
                "NetworkingConfig": {"EndpointsConfig": {"a": {"Links": ["x:y"]}}},
            },
            "NetworkingConfig.EndpointsConfig.a.Links: not supported",
            id="endpoint-links",
        ),
        pytest.param(
            {
                **host(NetworkMode="a"),
                "NetworkingConfig": {
                    "EndpointsConfig": {"a": {"IPAMConfig": {"IPv6Address": "fd00::2"}}}
                },
            },
            "NetworkingConfig.EndpointsConfig.a.IPAMConfig.IPv6Address: not supported",
            id="endpoint-ipv6",
        ),
        pytest.param(
            host(ConsoleSize=[24]),
            "HostConfig.ConsoleSize: expected [height, width]",
            id="console-size",
        ),
    ],
)
def test_refused(body: Any, message: str) -> None:
    document = (
        {"Image": "busybox", **body} if isinstance(body, dict) and "Image" not in body else body
    )
    with pytest.raises(ApiError, match=re.escape(message)) as raised:
        container_create(document)
    assert raised.value.status == 400
