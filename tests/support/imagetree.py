"""The file tree of an image as a container would see it, read from a ``save``d archive.

``archive_tree(path)`` reads a docker-archive (``manifest.json`` naming each image's layer
tars, as ``docker save`` and ``hybridock save`` write them), applies the layers in order with
their whiteouts (``.wh.NAME`` removes a path and what is under it, ``.wh..wh..opq`` what the
lower layers have under a directory) and gives every path's ``Node``: its kind, permission
bits, owner, link target and content digest. Times are not kept: two builds of the same
Dockerfile differ in them and nowhere else. A hard link is its target's content (one tool may
write a file twice where the other links it; what a container reads is the same).
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import IO, Literal

Kind = Literal["file", "dir", "symlink", "fifo", "char", "block"]
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class Node:
    kind: Kind
    mode: int  # permission bits with setuid, setgid and sticky; no type bits
    uid: int = 0
    gid: int = 0
    target: str = ""  # a symlink's
    digest: str = ""  # a regular file's content, sha256
    size: int = 0

    def __str__(self) -> str:
        extra = f" -> {self.target}" if self.kind == "symlink" else ""
        if self.kind == "file":
            extra = f" {self.size} bytes {self.digest[:12]}"
        return f"{self.kind} {self.mode:04o} {self.uid}:{self.gid}{extra}"


Tree = dict[str, Node]


def _clean(name: str) -> str:
    """A member name as a path relative to the root (``./a/b/`` -> ``a/b``)."""
    parts = [part for part in PurePosixPath("/" + name).parts[1:] if part not in {"", "."}]
    return "/".join(parts)


def _kind(member: tarfile.TarInfo) -> Kind:
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.isfifo():
        return "fifo"
    if member.ischr():
        return "char"
    if member.isblk():
        return "block"
    return "file"


def _remove(tree: Tree, path: str, *, keep_self: bool = False) -> None:
    prefix = path + "/" if path else ""
    for name in [name for name in tree if name.startswith(prefix)]:
        del tree[name]
    if not keep_self:
        tree.pop(path, None)


def _open_layer(data: bytes) -> tarfile.TarFile:
    if data.startswith(ZSTD_MAGIC):
        import zstandard  # noqa: PLC0415 - only zstd layers need it

        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:*")


def apply_layer(tree: Tree, layer: IO[bytes] | bytes) -> None:
    """One layer's changes onto ``tree``, as overlayfs shows them."""
    data = layer if isinstance(layer, bytes) else layer.read()
    with _open_layer(data) as archive:
        members = archive.getmembers()
        for member in members:  # opaque directories hide the lower layers first
            path = _clean(member.name)
            if PurePosixPath(path).name == OPAQUE:
                _remove(tree, str(PurePosixPath(path).parent).lstrip("."), keep_self=True)
        for member in members:
            path = _clean(member.name)
            parent, name = str(PurePosixPath(path).parent).lstrip("."), PurePosixPath(path).name
            if name == OPAQUE:
                continue
            if name.startswith(WHITEOUT):
                _remove(tree, f"{parent}/{name[len(WHITEOUT) :]}".lstrip("/"))
                continue
            if not path:
                continue  # the root itself: its entry in a layer is not what a container sees
            if member.islnk():
                tree[path] = tree[_clean(member.linkname)]
                continue
            node = Node(_kind(member), stat.S_IMODE(member.mode), member.uid, member.gid)
            if member.issym():
                node = replace(node, target=member.linkname)
            elif member.isfile():
                content = archive.extractfile(member)
                assert content is not None
                blob = content.read()
                node = replace(node, digest=hashlib.sha256(blob).hexdigest(), size=len(blob))
            if node.kind != "dir" or tree.get(path, node).kind != "dir":
                _remove(tree, path)  # a non-directory replaces a whole subtree
            tree[path] = node


def archive_tree(archive_path: str, image_index: int = 0) -> Tree:
    """The tree of the ``image_index``-th image of a docker-archive."""
    tree: Tree = {}
    with tarfile.open(archive_path) as archive:
        manifest = json.loads(_read(archive, "manifest.json"))
        for layer_name in manifest[image_index]["Layers"]:
            apply_layer(tree, _read(archive, layer_name))
    return tree


def _read(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.getmember(name)
    while member.issym() or member.islnk():  # docker's save links shared layer tars
        base = PurePosixPath(name).parent if member.issym() else PurePosixPath()
        name = _clean(str(base / member.linkname))
        member = archive.getmember(name)
    content = archive.extractfile(member)
    assert content is not None, name
    return content.read()


def differences(theirs: Mapping[str, Node], ours: Mapping[str, Node]) -> list[str]:
    """Lines naming each path whose node differs (``docker: ... | hybridock: ...``)."""
    lines = []
    for path in sorted(set(theirs) | set(ours)):
        mine, other = ours.get(path), theirs.get(path)
        if mine != other:
            lines.append(f"/{path}: docker: {other or 'absent'} | hybridock: {mine or 'absent'}")
    return lines


def walk(tree: Mapping[str, Node], under: str) -> Iterator[tuple[str, Node]]:
    """The paths at and below ``under`` (relative to the root), sorted."""
    prefix = under.strip("/")
    for path in sorted(tree):
        if not prefix or path == prefix or path.startswith(prefix + "/"):
            yield path, tree[path]
