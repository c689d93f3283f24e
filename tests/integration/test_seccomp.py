"""Seccomp and no-new-privileges in real containers, as root, checked from inside.

The default profile's refusals are told apart from missing capabilities by a tiny static C
program (built here with gcc) that makes one raw system call and prints its errno: a call the
container's capabilities would allow (keyctl, unshare(CLONE_NEWUSER), personality) fails with
EPERM only because of the filter, and works with ``seccomp=unconfined``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_containers import Box, make_box
from tests.support.cleanup import mounts_under, remove_tree
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

PROBE_SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One raw system call named by argv[1]; prints "<name> <errno>" (0 on success). */
int main(int argc, char **argv) {
    long result = -1;
    const char *name = argc > 1 ? argv[1] : "";
    errno = 0;
    if (!strcmp(name, "keyctl")) /* KEYCTL_GET_KEYRING_ID of the session keyring */
        result = syscall(SYS_keyctl, 0, -3, 0);
    else if (!strcmp(name, "unshare-user"))
        result = syscall(SYS_unshare, CLONE_NEWUSER);
    else if (!strcmp(name, "personality-exec")) /* READ_IMPLIES_EXEC */
        result = syscall(SYS_personality, 0x0400000);
    else if (!strcmp(name, "personality-query"))
        result = syscall(SYS_personality, 0xffffffff);
    else if (!strcmp(name, "clone3"))
        result = syscall(SYS_clone3, NULL, 0);
    else if (!strcmp(name, "mount"))
        result = syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL);
    else if (!strcmp(name, "unknown"))
        result = syscall(1000);
    else if (!strcmp(name, "getpid"))
        result = syscall(SYS_getpid);
    printf("%s %d\n", name, result < 0 ? errno : 0);
    return 0;
}
"""

EPERM, EINVAL, EFAULT, ENOSYS = 1, 22, 14, 38


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    image_builder.publish_library(session_registry)  # type: ignore[attr-defined]
    made = make_box(tmp_path_factory.mktemp("seccomp"), session_registry)
    made.ok("pull", "busybox")
    try:
        yield made
    finally:
        made.remove_containers()
        assert mounts_under(made.root) == []
        remove_tree(made.root)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the static probe program, to bind into containers."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    directory = tmp_path_factory.mktemp("probe")
    directory.chmod(0o755)
    source = directory / "probe.c"
    source.write_text(PROBE_SOURCE)
    built = subprocess.run(
        ["gcc", "-static", "-O1", "-o", str(directory / "probe"), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build a static program: {built.stderr.strip()}")
    return directory


def status_field(box: Box, field: str, *options: str) -> str:
    out = box.ok("run", "--rm", *options, "busybox", "grep", f"^{field}:", "/proc/self/status")
    return out.split(":", 1)[1].strip()


def errnos(box: Box, probe: Path, calls: list[str], *options: str) -> dict[str, int]:
    script = "; ".join(f"/probe/probe {call}" for call in calls)
    out = box.ok("run", "--rm", "-v", f"{probe}:/probe:ro", *options, "busybox", "sh", "-c", script)
    return {name: int(code) for name, code in (line.split() for line in out.splitlines())}


def write_profile(path: Path, profile: dict[str, object]) -> str:
    path.write_text(json.dumps(profile))
    return str(path)


# --- filter mode ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param((), "2", id="default-profile"),
        pytest.param(("--security-opt", "seccomp=unconfined"), "0", id="unconfined"),
        pytest.param(("--security-opt", "seccomp:unconfined"), "0", id="unconfined-colon-form"),
        pytest.param(("-u", "65534"), "2", id="non-root-user"),
        pytest.param(("--security-opt", "no-new-privileges"), "2", id="with-no-new-privileges"),
        pytest.param(("--cap-add", "SYS_ADMIN"), "2", id="cap-add"),
        pytest.param(("--privileged",), "0", id="privileged-is-unconfined"),
    ],
)
def test_seccomp_mode(box: Box, options: tuple[str, ...], expected: str) -> None:
    assert status_field(box, "Seccomp", *options) == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param((), "0", id="off-by-default"),
        pytest.param(("--security-opt", "no-new-privileges"), "1", id="bare"),
        pytest.param(("--security-opt", "no-new-privileges=true"), "1", id="true"),
        pytest.param(("--security-opt", "no-new-privileges:true"), "1", id="colon-form"),
        pytest.param(("--security-opt", "no-new-privileges=false"), "0", id="false"),
    ],
)
def test_no_new_privileges(box: Box, options: tuple[str, ...], expected: str) -> None:
    assert status_field(box, "NoNewPrivs", *options) == expected


# --- what the default profile refuses ----------------------------------------------------------

DEFAULT_CASES = [
    # (call, errno under the default profile, errno unconfined or None when it varies)
    ("keyctl", EPERM, None),  # the kernel's own answer depends on its keyring setup
    ("unshare-user", EPERM, 0),
    ("personality-exec", EPERM, 0),
    ("personality-query", 0, 0),
    ("clone3", ENOSYS, EINVAL),  # ENOSYS so that libc falls back to clone
    ("mount", EPERM, None),  # unconfined, the kernel answers (no CAP_SYS_ADMIN, or no /mnt)
    ("unknown", ENOSYS, ENOSYS),
    ("getpid", 0, 0),
]


def test_default_profile_refuses_what_docker_refuses(box: Box, probe: Path) -> None:
    calls = [call for call, _, _ in DEFAULT_CASES]
    confined = errnos(box, probe, calls)
    unconfined = errnos(box, probe, calls, "--security-opt", "seccomp=unconfined")
    for call, expected, without in DEFAULT_CASES:
        assert confined[call] == expected, f"{call}: {confined}"
        if without is not None:
            assert unconfined[call] == without, f"{call} unconfined: {unconfined}"
    assert unconfined["keyctl"] != EPERM


@pytest.mark.parametrize(
    ("command", "message"),
    [
        # busybox's mount words EPERM its own way
        pytest.param(["mount", "-t", "tmpfs", "x", "/mnt"], "permission denied", id="mount"),
        pytest.param(["unshare", "-U", "true"], "Operation not permitted", id="unshare-user"),
        pytest.param(["reboot", "-f"], "Operation not permitted", id="reboot"),
        pytest.param(["swapon", "/dev/null"], "Operation not permitted", id="swapon"),
    ],
)
def test_busybox_applets_get_eperm(box: Box, command: list[str], message: str) -> None:
    result = box("run", "--rm", "busybox", *command)
    assert result.returncode != 0, str(result)
    assert message in result.stderr, str(result)


@pytest.mark.parametrize(
    ("options", "mounts"),
    [
        pytest.param((), False, id="default-capabilities"),
        # the profile's includes.caps rules follow the capabilities the container keeps
        pytest.param(("--cap-add", "SYS_ADMIN"), True, id="cap-add-sys-admin"),
        pytest.param(("--privileged",), True, id="privileged"),
    ],
)
def test_the_profile_is_compiled_for_the_containers_capabilities(
    box: Box, options: tuple[str, ...], mounts: bool
) -> None:
    script = "mkdir -p /mnt && mount -t tmpfs x /mnt && grep -c ' /mnt tmpfs ' /proc/mounts"
    result = box("run", "--rm", *options, "busybox", "sh", "-c", script)
    if mounts:
        assert (result.returncode, result.stdout.strip()) == (0, "1"), str(result)
    else:
        assert result.returncode != 0, str(result)
        assert "permission denied" in result.stderr, str(result)


def test_unshare_user_works_unconfined(box: Box) -> None:
    result = box(
        "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true"
    )
    assert result.returncode == 0, str(result)


# --- custom profiles ---------------------------------------------------------------------------


def test_custom_profile_denies_mkdir(box: Box, tmp_path: Path) -> None:
    profile = write_profile(
        tmp_path / "no-mkdir.json",
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
        },
    )
    denied = box("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "mkdir", "/d")
    assert denied.returncode == 1, str(denied)
    assert "Operation not permitted" in denied.stderr
    # Everything else is allowed by this profile, mount included (well, as far as caps go).
    allowed = box.ok("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "ls", "/")
    assert "bin" in allowed.split()


def test_custom_profile_errno_and_argument_condition(box: Box, probe: Path, tmp_path: Path) -> None:
    # personality refused with EACCES only for READ_IMPLIES_EXEC; the query passes.
    rule = {
        "names": ["personality"],
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": 13,
        "args": [{"index": 0, "value": 0x0400000, "op": "SCMP_CMP_EQ"}],
    }
    profile = write_profile(
        tmp_path / "personality.json", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]}
    )
    calls = ["personality-exec", "personality-query", "unshare-user"]
    found = errnos(box, probe, calls, "--security-opt", f"seccomp={profile}")
    assert found == {"personality-exec": 13, "personality-query": 0, "unshare-user": 0}


def test_profile_is_read_at_create(box: Box, name: str, tmp_path: Path) -> None:
    path = tmp_path / "no-mkdir.json"
    profile = write_profile(
        path,
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
        },
    )
    box.ok(
        "create", "--name", name, "--security-opt", f"seccomp={profile}", "busybox", "mkdir", "/d"
    )
    path.unlink()  # docker keeps the profile's JSON with the container, and so do we
    started = box("start", "-a", name)
    assert started.returncode == 1 and "Operation not permitted" in started.stderr, str(started)
    host_config = box.inspect(name)["HostConfig"]
    assert isinstance(host_config, dict)
    (option,) = host_config["SecurityOpt"]
    assert option.startswith("seccomp=")
    assert json.loads(option.removeprefix("seccomp="))["defaultAction"] == "SCMP_ACT_ALLOW"


@pytest.fixture
def name(request: pytest.FixtureRequest, box: Box) -> Iterator[str]:
    chosen = "seccomp-" + request.node.name.replace("[", "-").replace("]", "")[:50]
    yield chosen
    box("rm", "-f", chosen)


def test_inspect_shows_security_options(box: Box, name: str) -> None:
    box.ok(
        "create",
        "--name",
        name,
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "true",
    )
    host_config = box.inspect(name)["HostConfig"]
    assert isinstance(host_config, dict)
    assert host_config["SecurityOpt"] == ["seccomp=unconfined", "no-new-privileges=true"]


def test_detached_container_is_confined(box: Box, name: str) -> None:
    box.ok("run", "-d", "--name", name, "busybox", "grep", "^Seccomp:", "/proc/self/status")
    box.ok("wait", name)
    assert box.ok("logs", name).split() == ["Seccomp:", "2"]


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        pytest.param(None, "opening seccomp profile", id="missing-file"),
        pytest.param("{", "decoding seccomp profile", id="not-json"),
        pytest.param('{"defaultAction": "SCMP_ACT_MAYBE"}', "unknown action", id="bad-action"),
        pytest.param(
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],'
            ' "action": "SCMP_ACT_ALLOW",'
            ' "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}',
            "argument index",
            id="bad-argument-index",
        ),
        pytest.param("[]", "not a JSON object", id="not-an-object"),
    ],
)
def test_invalid_profile_is_a_clear_error(
    box: Box, tmp_path: Path, profile: str | None, message: str
) -> None:
    path = tmp_path / "profile.json"
    if profile is not None:
        path.write_text(profile)
    before = box.ok("ps", "-aq")
    result = box("run", "--rm", "--security-opt", f"seccomp={path}", "busybox", "true")
    assert result.returncode == 125, str(result)
    assert message in result.stderr, str(result)
    assert len(result.stderr.strip().splitlines()) == 1, str(result)
    assert box.ok("ps", "-aq") == before  # no container was created


@pytest.mark.parametrize(
    "option",
    ["apparmor=unconfined", "no-new-privileges=maybe", "seccomp=", "label=disable"],
)
def test_unsupported_security_option_is_refused(box: Box, option: str) -> None:
    result = box("run", "--rm", "--security-opt", option, "busybox", "true")
    assert result.returncode == 125, str(result)
    assert "security-opt" in result.stderr, str(result)


def test_profile_that_refuses_the_user_switch_fails_the_start(box: Box, tmp_path: Path) -> None:
    # Without no-new-privileges a non-root container's filter goes in before the user switch
    # (installing it needs CAP_SYS_ADMIN), so the profile applies to that switch, as with runc.
    profile = write_profile(
        tmp_path / "no-setresuid.json",
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["setresuid"], "action": "SCMP_ACT_ERRNO"}],
        },
    )
    option = f"seccomp={profile}"
    refused = box("run", "--rm", "-u", "65534", "--security-opt", option, "busybox", "true")
    assert refused.returncode == 125, str(refused)
    assert "user" in refused.stderr, str(refused)
    # With no-new-privileges the filter goes in last, after the switch.
    fine = box(
        "run", "--rm", "-u", "65534", "--security-opt", option,
        "--security-opt", "no-new-privileges", "busybox", "id", "-u",
    )  # fmt: skip
    assert fine.returncode == 0 and fine.stdout.strip() == "65534", str(fine)
