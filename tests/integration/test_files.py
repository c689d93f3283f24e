"""cp, diff and export on real containers: exact round trips, docker's rules and words, and a
container racing symlinks against ``cp`` that must never lead it to a host file."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_containers import Box, library_box, name, wait_for
from tests.support.cli import hybridock_command
from tests.support.registry import Registry

pytestmark = [pytest.mark.root, pytest.mark.registry]

__all__ = ["name"]

LONG = "l" * 200
#: vfs_cap_data revision 2, effective, permitted CAP_NET_RAW (as `setcap cap_net_raw+ep`)
NET_RAW_CAPABILITY = struct.pack("<5I", 0x02000001, 1 << 13, 0, 0, 0)


@pytest.fixture(scope="module")
def box(
    tmp_path_factory: pytest.TempPathFactory, session_registry: Registry, image_builder: object
) -> Iterator[Box]:
    with library_box(tmp_path_factory, session_registry, image_builder, "files") as made:
        yield made


def binary(box: Box, *args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*hybridock_command(), *args],
        input=data,
        capture_output=True,
        env=box.env,
        timeout=120,
        check=False,
    )


def make_tree(top: Path) -> None:
    """Every kind of entry cp must carry exactly."""
    (top / "dir" / "empty").mkdir(parents=True)
    (top / "dir" / "file").write_bytes(b"content\n")
    (top / "dir" / "file").chmod(0o640)
    os.chown(top / "dir" / "file", 1234, 5678)
    (top / "setuid").write_bytes(b"#!/bin/sh\n")
    os.chown(top / "setuid", 0, 0)
    (top / "setuid").chmod(0o4755)
    (top / "private").mkdir(mode=0o700)
    os.chown(top / "private", 42, 43)
    os.link(top / "dir" / "file", top / "hardlink")
    (top / "relative").symlink_to("dir/file")
    (top / "absolute").symlink_to("/etc/passwd")
    (top / "dangling").symlink_to("/nowhere/at/all")
    deep = top / ("d" * 90) / ("e" * 90)
    deep.mkdir(parents=True)
    (deep / LONG).write_bytes(os.urandom(70_000))
    (deep / "to-long").symlink_to(LONG)
    os.utime(top / "dir" / "file", (1_000_000_000, 1_000_000_000), follow_symlinks=False)
    (top / "ping").write_bytes(b"")
    os.setxattr(top / "ping", "security.capability", NET_RAW_CAPABILITY)


def listing(top: Path) -> dict[str, tuple[object, ...]]:
    """What a ``tar -tv`` shows, and contents and hardlink groups."""
    found: dict[str, tuple[object, ...]] = {}
    inodes: dict[int, str] = {}
    for path in sorted(top.rglob("*")):
        status = path.lstat()
        relative = str(path.relative_to(top))
        detail: object = None
        if path.is_symlink():
            detail = str(path.readlink())
        elif path.is_file():
            detail = hashlib.sha256(path.read_bytes()).hexdigest()
            detail = (detail, inodes.setdefault(status.st_ino, relative), int(status.st_mtime))
        capability = None
        if not path.is_symlink():
            with contextlib.suppress(OSError):
                capability = os.getxattr(path, "security.capability")
        found[relative] = (status.st_mode, status.st_uid, status.st_gid, detail, capability)
    return found


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_cp_round_trips_a_tree_exactly(box: Box, name: str, tmp_path: Path, state: str) -> None:
    make_tree(tmp_path / "tree")
    if state == "running":
        box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    else:
        box.ok("create", "--name", name, "busybox", "true")
    box.ok("cp", "-a", str(tmp_path / "tree"), f"{name}:/copied")
    box.ok("cp", "-a", f"{name}:/copied", str(tmp_path / "back"))
    assert listing(tmp_path / "back") == listing(tmp_path / "tree")
    if state == "running":
        inside = box.ok("exec", name, "stat", "-c", "%u:%g %a %h", "/copied/dir/file")
        assert inside.split() == ["1234:5678", "640", "2"]


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_cp_without_archive_gives_root_inside_and_the_caller_outside(
    box: Box, name: str, tmp_path: Path, state: str
) -> None:
    make_tree(tmp_path / "tree")
    if state == "running":
        box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    else:
        box.ok("create", "--name", name, "busybox", "true")
    box.ok("cp", str(tmp_path / "tree"), f"{name}:/copied")
    box.ok("cp", "-a", f"{name}:/copied", str(tmp_path / "back"))
    owners = {(uid, gid) for _, uid, gid, _, _ in listing(tmp_path / "back").values()}
    assert owners == {(0, 0)}
    os.chown(tmp_path / "tree" / "dir" / "file", 1234, 5678)
    box.ok("cp", "-a", str(tmp_path / "tree" / "dir" / "file"), f"{name}:/file")
    box.ok("cp", f"{name}:/file", str(tmp_path / "plain"))
    status = (tmp_path / "plain").lstat()
    assert (status.st_uid, status.st_gid) == (os.getuid(), os.getgid())


def test_docker_rules_for_destinations(box: Box, name: str, tmp_path: Path) -> None:
    box.ok("create", "--name", name, "busybox", "true")
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "f").write_text("f")
    (tmp_path / "one").write_text("one")
    box.ok("cp", str(tmp_path / "src"), f"{name}:/new")  # missing: created with the content
    box.ok("cp", str(tmp_path / "src"), f"{name}:/new")  # a directory: copied into it
    box.ok("cp", str(tmp_path / "src") + "/.", f"{name}:/tmp")  # /. : the content only
    box.ok("cp", str(tmp_path / "one"), f"{name}:/tmp")  # a file into a directory
    box.ok("cp", str(tmp_path / "one"), f"{name}:/tmp/renamed")
    box.ok("cp", f"{name}:/", str(tmp_path / "all"))
    assert (tmp_path / "all" / "new" / "sub" / "f").read_text() == "f"
    assert (tmp_path / "all" / "new" / "src" / "sub" / "f").read_text() == "f"
    assert (tmp_path / "all" / "tmp" / "sub" / "f").read_text() == "f"
    assert (tmp_path / "all" / "tmp" / "one").read_text() == "one"
    assert (tmp_path / "all" / "tmp" / "renamed").read_text() == "one"
    assert (tmp_path / "all" / "bin" / "busybox").is_file()
    failing = [
        (("cp", str(tmp_path / "src"), f"{name}:/tmp/renamed"), "Error: cannot copy directory"),
        (("cp", str(tmp_path / "one"), f"{name}:/nodir/"), "Error: no such directory"),
        (("cp", f"{name}:/nope", str(tmp_path)), f"Error: No such container:path: {name}:/nope"),
        (("cp", "nosuch:/etc", str(tmp_path)), "Error: No such container:path: nosuch:/etc"),
        (("cp", f"{name}:/a", f"{name}:/b"), "Error: copying between containers is not supported"),
        (("cp", "a", "b"), "Error: must specify at least one container source"),
        (
            ("cp", "-", f"{name}:/tmp/renamed"),
            f'Error: destination "{name}:/tmp/renamed" must be a directory',
        ),
    ]
    for args, message in failing:
        result = box(*args)
        assert (result.returncode, result.stderr.strip()) == (1, message), str(result)


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_cp_streams_tar_on_stdin_and_stdout(
    box: Box, name: str, tmp_path: Path, state: str
) -> None:
    if state == "running":
        box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    else:
        box.ok("create", "--name", name, "busybox", "true")
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry_name, data in (("x/" + LONG, b"long"), ("y", b"why")):
            info = tarfile.TarInfo(entry_name)
            info.size, info.uid, info.mode = len(data), 7, 0o600
            archive.addfile(info, io.BytesIO(data))
    result = binary(box, "cp", "-a", "-", f"{name}:/tmp", data=stream.getvalue())
    assert result.returncode == 0, result.stderr
    out = binary(box, "cp", f"{name}:/tmp", "-")
    assert out.returncode == 0, out.stderr
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as archive:
        members = {member.name: member for member in archive.getmembers()}
        assert sorted(members) == ["tmp", "tmp/x", f"tmp/x/{LONG}", "tmp/y"]
        assert (members["tmp/y"].uid, members["tmp/y"].mode) == (7, 0o600)
        extracted = archive.extractfile(members[f"tmp/x/{LONG}"])
        assert extracted is not None and extracted.read() == b"long"


def test_writes_to_a_stopped_container_honour_its_layers(
    box: Box, name: str, tmp_path: Path
) -> None:
    """The upper dir gets the copy; a whiteout the container made is replaced, a directory
    made over one hides what the image has there."""
    script = "ls /usr; cat /etc/group; rm -rf /usr /etc/group"
    assert box.ok("run", "--name", name, "busybox", "sh", "-c", script).startswith("bin\nsbin\n")
    (tmp_path / "usr").mkdir()
    (tmp_path / "usr" / "fresh").write_text("fresh")
    (tmp_path / "group").write_text("copied:x:7:\n")
    box.ok("cp", str(tmp_path / "usr"), f"{name}:/")
    box.ok("cp", str(tmp_path / "group"), f"{name}:/etc/")
    box.ok("cp", f"{name}:/usr", str(tmp_path / "back"))
    assert [path.name for path in (tmp_path / "back").iterdir()] == ["fresh"]
    assert box.ok("start", "-a", name) == "fresh\ncopied:x:7:\n"


def test_diff_shows_dockers_changes(box: Box, name: str) -> None:
    script = (
        "mkdir -p /new/deeper && echo x > /new/deeper/f && echo y >> /etc/passwd"
        " && rm /bin/true && rm -rf /home && mkdir /home && touch /home/fresh"
    )
    box.ok("run", "--name", name, "busybox", "sh", "-c", script)
    lines = box.ok("diff", name).splitlines()
    assert "A /new" in lines and "A /new/deeper/f" in lines
    assert lines.index("A /new") < lines.index("A /new/deeper") < lines.index("A /new/deeper/f")
    assert "C /etc/passwd" in lines
    assert "D /bin/true" in lines and "C /bin" in lines
    assert lines.index("C /bin") < lines.index("D /bin/true")
    assert "C /home" in lines and "A /home/fresh" in lines


def test_export_writes_the_merged_filesystem(box: Box, name: str, tmp_path: Path) -> None:
    box.ok("run", "--name", name, "busybox", "sh", "-c", "echo hi > /hello && rm /bin/true")
    box.ok("export", "-o", str(tmp_path / "out.tar"), name)
    with tarfile.open(tmp_path / "out.tar") as archive:
        names = set(archive.getnames())
        member = archive.extractfile("hello")
        assert member is not None and member.read() == b"hi\n"
    assert "bin/busybox" in names and "bin/true" not in names and "bin/sh" in names
    streamed = binary(box, "export", name)
    assert streamed.returncode == 0
    with tarfile.open(fileobj=io.BytesIO(streamed.stdout)) as archive:
        assert set(archive.getnames()) == names


def host_snapshot(top: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(path): (path.lstat().st_mtime_ns, path.read_bytes() if path.is_file() else b"")
        for path in sorted(top.rglob("*"))
    }


def test_a_container_racing_symlinks_never_leads_cp_to_the_host(
    box: Box, name: str, tmp_path: Path
) -> None:
    """The CVE-2018-15664 race: the container keeps swapping /race between a directory and
    symlinks to / and to a host path; copies in and out must stay inside its root."""
    sentinel = tmp_path / "sentinel"
    (sentinel / "race").mkdir(parents=True)
    secret = "host-secret-" + os.urandom(8).hex()
    (sentinel / "secret").write_text(secret)
    (sentinel / "race" / "secret").write_text(secret)
    before = host_snapshot(sentinel)
    swap = (
        f"mkdir -p /race.d {sentinel}; echo inside > /race.d/secret; while true; do"
        " rm -rf /race; ln -s / /race; rm -f /race; mkdir -p /race; echo inside > /race/secret;"
        f" rm -rf /race; ln -s {sentinel} /race; rm -f /race; ln -s {sentinel}/race /race;"
        " rm -f /race; done"
    )
    box.ok("run", "-d", "--name", name, "busybox", "sh", "-c", swap)
    (tmp_path / "payload").write_text("payload")
    outputs: list[bytes] = []
    for _ in range(60):
        binary(box, "cp", str(tmp_path / "payload"), f"{name}:/race/secret")
        binary(box, "cp", str(tmp_path / "payload"), f"{name}:/race/")
        outputs.append(binary(box, "cp", f"{name}:/race/secret", "-").stdout)
        outputs.append(binary(box, "cp", f"{name}:/race/.", "-").stdout)
        binary(box, "cp", f"{name}:/race/secret", str(tmp_path / "out"))
        if (tmp_path / "out").is_file():
            outputs.append((tmp_path / "out").read_bytes())
    assert host_snapshot(sentinel) == before
    assert not [output for output in outputs if secret.encode() in output]
    assert any(b"inside" in output or b"payload" in output for output in outputs)


def test_cp_reaches_a_running_containers_binds(box: Box, name: str, tmp_path: Path) -> None:
    """A running container is copied through its own root: a bind mount shows its source."""
    (tmp_path / "bound").mkdir()
    (tmp_path / "bound" / "there").write_text("from the host")
    box.ok(
        "run", "-d", "--name", name, "-v", f"{tmp_path / 'bound'}:/data", "busybox", "sleep", "300"
    )
    (tmp_path / "in").write_text("copied in")
    box.ok("cp", str(tmp_path / "in"), f"{name}:/data/in")
    assert (tmp_path / "bound" / "in").read_text() == "copied in"
    box.ok("cp", f"{name}:/data/there", str(tmp_path / "out"))
    assert (tmp_path / "out").read_text() == "from the host"


def test_follow_link_copies_the_target(box: Box, name: str, tmp_path: Path) -> None:
    box.ok("run", "--name", name, "busybox", "ln", "-s", "/etc/passwd", "/link")
    box.ok("cp", f"{name}:/link", str(tmp_path / "kept"))
    assert (tmp_path / "kept").readlink() == Path("/etc/passwd")
    box.ok("cp", "-L", f"{name}:/link", str(tmp_path / "followed"))
    assert (tmp_path / "followed").read_text().startswith("root:")


def test_a_running_containers_proc_and_sys_are_empty_to_cp(
    box: Box, name: str, tmp_path: Path
) -> None:
    """docker's cp sees the container's files, not the kernel's: /proc and /sys are empty."""
    box.ok("run", "-d", "--name", name, "busybox", "sleep", "300")
    result = box("cp", f"{name}:/proc/self/status", str(tmp_path))
    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"Error: No such container:path: {name}:/proc/self/status",
    )
    out = binary(box, "cp", f"{name}:/", "-")
    assert out.returncode == 0, out.stderr
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as archive:
        names = archive.getnames()
    assert "./proc" in names or "proc" in names or any(n.endswith("/proc") for n in names)
    assert not [n for n in names if "/proc/" in f"/{n}" or "/sys/" in f"/{n}"]
    assert any(n.endswith("bin/busybox") for n in names)


def test_cp_of_more_directories_than_open_files(box: Box, name: str, tmp_path: Path) -> None:
    """Nothing is held open per directory copied: a tree wider than the fd limit copies."""
    for index in range(400):
        (tmp_path / "wide" / f"d{index}").mkdir(parents=True)
    os.utime(tmp_path / "wide" / "d7", (1_000_000_000, 1_000_000_000))
    box.ok("create", "--name", name, "busybox", "true")
    for args in (
        ("cp", str(tmp_path / "wide"), f"{name}:/wide"),
        ("cp", f"{name}:/wide", str(tmp_path / "back")),
    ):
        limited = subprocess.run(
            ["prlimit", "--nofile=256:256", *hybridock_command(), *args],
            capture_output=True,
            text=True,
            env=box.env,
            timeout=120,
            check=False,
        )
        assert limited.returncode == 0, limited.stderr
    assert len(list((tmp_path / "back").iterdir())) == 400
    assert (tmp_path / "back" / "d7").stat().st_mtime == 1_000_000_000


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_a_read_only_rootfs_refuses_copies_in(
    box: Box, name: str, tmp_path: Path, state: str
) -> None:
    if state == "running":
        box.ok("run", "-d", "--read-only", "--name", name, "busybox", "sleep", "300")
    else:
        box.ok("create", "--read-only", "--name", name, "busybox", "true")
    (tmp_path / "f").write_text("f")
    result = box("cp", str(tmp_path / "f"), f"{name}:/tmp/f")
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "Error: container rootfs is marked read-only",
    )
    box.ok("cp", f"{name}:/etc/passwd", str(tmp_path / "passwd"))  # reading is fine


def flock_holders(lock: Path) -> tuple[int, int]:
    """(held, waiting) flock locks on ``lock``'s inode, from /proc/locks."""
    inode = f":{lock.stat().st_ino} "
    held = waiting = 0
    for line in Path("/proc/locks").read_text().splitlines():
        if "FLOCK" in line and inode in line:
            if "->" in line:
                waiting += 1
            else:
                held += 1
    return held, waiting


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()


def test_a_start_waits_for_a_copy_into_the_stopped_container(
    box: Box, name: str, tmp_path: Path
) -> None:
    """cp into a stopped container holds its lifecycle lock while it writes the upper dir: a
    start in the middle waits (blocked on the lock, seen in /proc/locks), then runs on the
    whole file, never an overlay mounted over a half-written one."""
    box.ok("create", "--name", name, "busybox", "sh", "-c", "md5sum < /tmp/big")
    container_id = box.inspect(name)["Id"]
    lock = box.root / "containers" / str(container_id) / "lifecycle.lock"
    content = os.urandom(4 << 20)
    header = tarfile.TarInfo("big")
    header.size = len(content)
    stream = header.tobuf(format=tarfile.PAX_FORMAT)
    with contextlib.ExitStack() as processes:
        copy = processes.enter_context(
            subprocess.Popen(
                [*hybridock_command(), "cp", "-", f"{name}:/tmp"],
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=box.env,
            )
        )
        processes.callback(stop, copy)
        assert copy.stdin is not None and copy.stderr is not None
        copy.stdin.write(stream + content[: len(content) // 2])
        copy.stdin.flush()
        wait_for(lambda: lock.exists() and flock_holders(lock)[0] == 1, timeout=60)
        start = processes.enter_context(
            subprocess.Popen(
                [*hybridock_command(), "start", "-a", name],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=box.env,
            )
        )
        processes.callback(stop, start)
        wait_for(lambda: flock_holders(lock)[1] == 1, timeout=60)
        assert start.poll() is None
        rest = content[len(content) // 2 :]
        padding = -len(content) % tarfile.BLOCKSIZE
        copy.stdin.write(rest + b"\0" * (padding + 2 * tarfile.BLOCKSIZE))
        copy.stdin.close()
        assert copy.wait(timeout=120) == 0, copy.stderr.read()
        out, err = start.communicate(timeout=120)
        assert start.returncode == 0, err
        assert out.decode().split()[0] == hashlib.md5(content).hexdigest()  # noqa: S324
