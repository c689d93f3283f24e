"""``--user`` and ``--group-add`` resolution from the image's own /etc/passwd and /etc/group,
read as text.

The supplementary groups are docker's (moby's ``getUser``, 20.10.18 and later): the primary
group, the groups /etc/group lists the user in (only when no group was given with
``--user``, runc's rule), then ``--group-add`` by name or gid; the kernel keeps them sorted,
each once.

Never through the host's libc (NSS would consult the host's users). The files are read from
the image's layer directories without following symlinks, honouring overlayfs whiteouts and
opaque directories, exactly as the container will see them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from hybridock.errors import ContainerStateError

MAX_FILE = 4 * 1024 * 1024
MAX_ID = 2**31 - 1


class ResolvedUser(NamedTuple):
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def read_image_file(layer_dirs: Sequence[str], path: str) -> bytes | None:
    """A regular file's bytes as the merged image shows it; ``layer_dirs`` top-most first."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    for layer in layer_dirs:
        current = Path(layer)
        for index, part in enumerate(parts):
            candidate = current / part
            try:
                info = candidate.lstat()
            except FileNotFoundError:
                if _is_opaque(current):
                    return None
                break
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                return None  # a whiteout hides it and everything below
            last = index == len(parts) - 1
            if last and stat.S_ISREG(info.st_mode):
                if info.st_size > MAX_FILE:
                    return None
                return candidate.read_bytes()
            if last or not stat.S_ISDIR(info.st_mode):
                return None  # a symlink, device or a file where a dir was expected
            current = candidate
    return None


def _is_opaque(directory: Path) -> bool:
    try:
        return os.getxattr(directory, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def _entries(text: bytes | None, fields: int) -> list[list[str]]:
    if text is None:
        return []
    rows = []
    for line in text.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        row = line.split(":")
        if len(row) >= fields:
            rows.append(row)
    return rows


def resolve_user(
    spec: str, layer_dirs: Sequence[str], group_add: Sequence[str] = ()
) -> ResolvedUser:
    """docker's rules: name or uid, optional :group or :gid; numeric ids need no entry."""
    user_part, _, group_part = (spec or "0").partition(":")
    passwd = _entries(read_image_file(layer_dirs, "/etc/passwd"), 7)
    groups = _entries(read_image_file(layer_dirs, "/etc/group"), 4)

    entry = next((row for row in passwd if row[0] == user_part), None)
    if entry is None and user_part.isdigit():
        entry = next((row for row in passwd if row[2] == user_part), None)
    if entry is not None:
        uid, gid, home, name = int(entry[2]), int(entry[3]), entry[5] or "/", entry[0]
    elif user_part.isdigit():
        uid, gid, home, name = int(user_part), 0, "/", ""
    else:
        raise ContainerStateError(
            f"unable to find user {user_part}: no matching entries in passwd file"
        )

    if group_part:
        group = next((row for row in groups if row[0] == group_part), None)
        if group is None and group_part.isdigit():
            gid = int(group_part)
        elif group is None:
            raise ContainerStateError(
                f"unable to find group {group_part}: no matching entries in group file"
            )
        else:
            gid = int(group[2])
    members: set[int] = set()
    if not group_part:
        members = {int(row[2]) for row in groups if name and name in row[3].split(",")}
    added = {_group_id(text, groups) for text in group_add}
    supplementary = tuple(sorted({gid} | members | added))
    return ResolvedUser(uid=uid, gid=gid, groups=supplementary, home=home)


def _group_id(text: str, groups: list[list[str]]) -> int:
    """A ``--group-add`` value: a group's name or gid in the image's /etc/group, else a gid."""
    row = next((row for row in groups if text in (row[0], row[2])), None)
    if row is not None:
        return int(row[2])
    if not text.isdigit():
        raise ContainerStateError(f"Unable to find group {text}")
    if int(text) > MAX_ID:
        raise ContainerStateError("user: cannot be less than 0 or more than 2^31-1")
    return int(text)
