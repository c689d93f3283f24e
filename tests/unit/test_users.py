"""--user and --group-add resolution from the image's own files, honouring overlay whiteouts.

The groups follow docker 20.10.18+ (moby's ``getUser``): the primary gid always, the groups
listing the user by name unless ``--user`` names a group, then ``--group-add``; sorted, once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hybridock.errors import ContainerStateError
from hybridock.runtime.users import ResolvedUser, read_image_file, resolve_user

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "app:x:1000:1000::/home/app:/bin/sh\n"
)
GROUP = "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app,other\nwheel:x:10:app\n"


@pytest.fixture
def layers(tmp_path: Path) -> list[str]:
    lower = tmp_path / "lower" / "etc"
    lower.mkdir(parents=True)
    (lower / "passwd").write_text(PASSWD)
    (lower / "group").write_text(GROUP)
    upper = tmp_path / "upper"
    upper.mkdir()
    return [str(upper), str(tmp_path / "lower")]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("", ResolvedUser(0, 0, (0,), "/root"), id="default-root"),
        pytest.param("app", ResolvedUser(1000, 1000, (10, 50, 1000), "/home/app"), id="name"),
        pytest.param(
            "1000", ResolvedUser(1000, 1000, (10, 50, 1000), "/home/app"), id="uid-in-passwd"
        ),
        pytest.param("4242", ResolvedUser(4242, 0, (0,), "/"), id="uid-not-in-passwd"),
        pytest.param("app:staff", ResolvedUser(1000, 50, (50,), "/home/app"), id="name-group"),
        pytest.param("4242:4343", ResolvedUser(4242, 4343, (4343,), "/"), id="numeric-pair"),
        pytest.param("nobody:0", ResolvedUser(65534, 0, (0,), "/nonexistent"), id="gid-number"),
    ],
)
def test_resolve(layers: list[str], spec: str, expected: ResolvedUser) -> None:
    assert resolve_user(spec, layers) == expected


@pytest.mark.parametrize(
    ("spec", "group_add", "groups"),
    [
        pytest.param("", ("wheel", "77", "65534"), (0, 10, 77, 65534), id="name-gid-and-number"),
        pytest.param("app", ("staff", "app"), (10, 50, 1000), id="already-a-member"),
        pytest.param("app:staff", ("wheel",), (10, 50), id="explicit-group-plus-added"),
    ],
)
def test_group_add(
    layers: list[str], spec: str, group_add: tuple[str, ...], groups: tuple[int, ...]
) -> None:
    assert resolve_user(spec, layers, group_add).groups == groups


@pytest.mark.parametrize(
    ("group_add", "message"),
    [
        (("ghosts",), "Unable to find group ghosts"),
        (("-1",), "Unable to find group -1"),
        (("2147483648",), "cannot be less than 0 or more than 2^31-1"),
    ],
)
def test_group_add_unknown(layers: list[str], group_add: tuple[str, ...], message: str) -> None:
    with pytest.raises(ContainerStateError, match=message.replace("^", r"\^")):
        resolve_user("", layers, group_add)


@pytest.mark.parametrize("spec", ["ghost", "app:ghosts"])
def test_unknown_names(layers: list[str], spec: str) -> None:
    with pytest.raises(ContainerStateError, match="unable to find"):
        resolve_user(spec, layers)


def test_upper_layer_wins(layers: list[str]) -> None:
    etc = Path(layers[0]) / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("app:x:7:7::/seven:/bin/sh\n")
    assert resolve_user("app", layers).uid == 7


@pytest.mark.skipif(os.geteuid() != 0, reason="a whiteout is a 0:0 character device (root)")
def test_whiteout_hides_lower_file(layers: list[str]) -> None:
    etc = Path(layers[0]) / "etc"
    etc.mkdir()
    os.mknod(etc / "passwd", 0o600 | 0o020000, os.makedev(0, 0))
    assert read_image_file(layers, "/etc/passwd") is None
    assert resolve_user("4242", layers).uid == 4242


def test_symlinks_are_not_followed(layers: list[str], tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("root:x:0:0::/host:/bin/sh\n")
    etc = Path(layers[0]) / "etc"
    etc.mkdir()
    (etc / "passwd").symlink_to(secret)
    assert read_image_file(layers, "/etc/passwd") is None
    assert read_image_file(layers, "/etc/../../host-secret") is None
