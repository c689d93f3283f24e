"""The view from inside a container, read from docker itself (issue 17 acceptance).

One probe script runs in busybox under hybridock and under a private docker 20.10 (the
``dockerd`` fixture: Debian's docker.io on its own sockets and roots), ``--network none``, as
root and as a numbered user (``-u 1000:1000``). Each aspect of what it sees is one case: the
mount table, ``id``, the cgroup view and device rules, the namespaced sysctls, /etc/hosts,
/etc/resolv.conf, the rlimits, /dev, the environment, the capability and security lines of
/proc/self/status, the loopback interface and IPv6's switches. A case compares docker's answer
with hybridock's after both are normalised for what legitimately differs (container ids,
hostnames, mount ids and sources, the cgroup parent, dates) and shows both sides as a unified
diff when they differ.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.conftest import ImageBuilder
from tests.integration.test_containers import make_box
from tests.integration.test_probe import CHECKS, answer_for
from tests.integration.test_probe import probe_image as checklist_image
from tests.support.dockerd import Dockerd
from tests.support.images import ImageSpec, PushedImage
from tests.support.layers import File, Layer
from tests.support.registry import Registry
from tests.support.testimages import busybox_entries, host_platform

pytestmark = [pytest.mark.root, pytest.mark.registry, pytest.mark.slow]

# One "=== aspect" header, then what the commands print (stderr too: an error is an answer).
PROBE = r"""#!/bin/sh
section() { echo "=== $1"; }
section mounts; cat /proc/self/mountinfo 2>&1
section sys_fs_cgroup; ls -l /sys/fs/cgroup 2>&1
section cgroup; cat /proc/self/cgroup 2>&1
section devices_list; cat /sys/fs/cgroup/devices/devices.list 2>&1
section id; id 2>&1
section ip_unprivileged_port_start; cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>&1
section hosts; cat /etc/hosts 2>&1
section resolv_conf; cat /etc/resolv.conf 2>&1
section hostname; hostname 2>&1; cat /etc/hostname 2>&1
section ulimit; ulimit -a 2>&1
section limits; cat /proc/self/limits 2>&1
section dev; ls -l /dev 2>&1
section env; env 2>&1 | sort
section capabilities; grep '^Cap' /proc/self/status 2>&1
section security; grep -E '^(NoNewPrivs|Seccomp)' /proc/self/status 2>&1
section loopback; ip addr show lo 2>&1
section disable_ipv6; cd /proc/sys/net/ipv6/conf && cat all/disable_ipv6 default/disable_ipv6 \
    lo/disable_ipv6 2>&1; cd /
"""
# test_probe.py's checklist (pid 1 of its own container), compared line by line as one aspect.
CHECKLIST = "checklist"
ASPECTS = [*re.findall(r"section (\w+);", PROBE), CHECKLIST]
USERS = {"root": (), "user-1000": ("-u", "1000:1000")}


def probe_image() -> ImageSpec:
    return ImageSpec(
        layers=[Layer(busybox_entries()), Layer([File("probe.sh", PROBE, mode=0o755)])],
        cmd=["/probe.sh"],
        platform=host_platform(),
    )


# --- normalisation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One probe run: its output by aspect, and the names that differ between any two runs."""

    sections: dict[str, str]
    container_id: str
    hostname: str

    def normalised(self, aspect: str) -> str:
        text = self.sections[aspect]
        for name, placeholder in (
            (self.container_id, "<id>"),
            (self.container_id[:12], "<id>"),
            (self.hostname, "<hostname>"),
        ):
            text = text.replace(name, placeholder)
        reduce = NORMALISE.get(aspect)
        return reduce(text) if reduce is not None else text


def split_sections(output: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("=== "):
            current = sections.setdefault(line[4:], [])
        elif current is not None:
            current.append(line)
    return {aspect: "\n".join(lines) for aspect, lines in sections.items()}


# Masked by moby's oci/defaults.go since docker 28 (moby#49560: a thermal side channel) and by
# hybridock, not yet by the 20.10 peer: test_probe.py checks that hybridock masks it.
MASKED_SINCE_DOCKER_20 = {"/proc/interrupts"}


def mount_table(text: str) -> str:
    """mountinfo reduced to mount point, file system type and ro/rw, by mount point (stacked
    mounts keep their order): ids, major:minor, roots, sources and other options vary."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if fields[4] in MASKED_SINCE_DOCKER_20:
            continue
        separator = fields.index("-")
        access = fields[5].split(",")[0]
        rows.append((fields[4], f"{fields[4]} {fields[separator + 1]} {access}"))
    return "\n".join(row for _, row in sorted(rows, key=lambda row: row[0]))


def cgroup_paths(text: str) -> str:
    """/proc/self/cgroup with the parent of the container's own cgroup named ``<parent>``
    (docker's --cgroup-parent here, hybridock's own elsewhere)."""
    return re.sub(r":/[^\n]*?/<id>$", ":<parent>/<id>", text, flags=re.MULTILINE)


def listing(text: str) -> str:
    """``ls -l`` reduced to type and mode, owner, group, device numbers and name (-> target):
    link counts, sizes and dates vary."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8 or line.startswith("total "):
            rows.append(line)
            continue
        mode, _links, owner, group = fields[:4]
        if mode[0] in "cb":
            device = f"{fields[4]}{fields[5]}"
            name = fields[9:]
        else:
            device = ""
            name = fields[8:]
        rows.append(" ".join([mode, owner, group, *([device] if device else []), *name]))
    return "\n".join(rows)


def checklist(text: str) -> str:
    """test_probe.py's answers reduced as its checks compare them (mount lines to their
    type and docker's flags, device and mount options to the ones docker sets)."""
    answers = dict(line.partition("=")[::2] for line in text.splitlines())
    return "\n".join(f"{check.key}={answer_for(check, answers)}" for check in CHECKS)


NORMALISE: dict[str, Callable[[str], str]] = {
    CHECKLIST: checklist,
    "mounts": mount_table,
    "cgroup": cgroup_paths,
    "sys_fs_cgroup": listing,
    "dev": listing,
}


# --- running the probe -----------------------------------------------------------------------

Cli = Callable[..., str]


@dataclass(frozen=True)
class Images:
    """The references of the probe and of test_probe.py's checklist, as one runtime has them."""

    probe: str
    checklist: str


def run_detached(cli: Cli, reference: str, user: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """Run an image detached, wait for it, read its log and inspect it, remove it."""
    container_id = cli("run", "--detach", "--network", "none", *user, reference).strip()
    try:
        cli("wait", container_id)
        output = cli("logs", container_id)
        document: dict[str, Any] = json.loads(cli("inspect", container_id))[0]
    finally:
        cli("rm", "--force", container_id)
    return output, document


def probe_with(cli: Cli, images: Images, user: tuple[str, ...]) -> Answer:
    output, document = run_detached(cli, images.probe, user)
    sections = split_sections(output)
    sections[CHECKLIST], _ = run_detached(cli, images.checklist, user)
    missing = [aspect for aspect in ASPECTS if aspect not in sections]
    assert not missing, f"the probe stopped before {missing}: {output}"
    return Answer(sections, document["Id"], document["Config"]["Hostname"])


@pytest.fixture(scope="module")
def pushed(session_registry: Registry, image_builder: ImageBuilder) -> dict[str, PushedImage]:
    return {
        "probe": image_builder.push(probe_image(), session_registry, "probe/inside"),
        "checklist": image_builder.push(checklist_image(), session_registry, "probe/checklist"),
    }


@pytest.fixture(scope="module")
def docker_answers(
    dockerd: Dockerd, session_registry: Registry, pushed: dict[str, PushedImage]
) -> dict[str, Answer]:
    address = session_registry.backend_address
    images = Images(
        dockerd.load(pushed["probe"], address), dockerd.load(pushed["checklist"], address)
    )

    def cli(*args: str) -> str:
        return dockerd.cli(*args).stdout

    return {user: probe_with(cli, images, flags) for user, flags in USERS.items()}


@pytest.fixture(scope="module")
def hybridock_answers(
    tmp_path_factory: pytest.TempPathFactory,
    session_registry: Registry,
    pushed: dict[str, PushedImage],
) -> Iterator[dict[str, Answer]]:
    box = make_box(tmp_path_factory.mktemp("probe-docker"), session_registry)
    images = Images(pushed["probe"].reference, pushed["checklist"].reference)
    try:
        box.ok("pull", images.probe)
        box.ok("pull", images.checklist)
        yield {user: probe_with(box.ok, images, flags) for user, flags in USERS.items()}
    finally:
        box.discard()


CASES = [(user, aspect) for user in USERS for aspect in ASPECTS]


@pytest.mark.parametrize(("user", "aspect"), CASES, ids=[f"{u}-{a}" for u, a in CASES])
def test_inside_view_equals_dockers(
    user: str,
    aspect: str,
    docker_answers: dict[str, Answer],
    hybridock_answers: dict[str, Answer],
) -> None:
    docker = docker_answers[user].normalised(aspect)
    hybridock = hybridock_answers[user].normalised(aspect)
    if docker != hybridock:
        diff = difflib.unified_diff(
            docker.splitlines(), hybridock.splitlines(), "docker", "hybridock", lineterm=""
        )
        pytest.fail(f"{aspect} as {user} differs from docker's:\n" + "\n".join(diff))
