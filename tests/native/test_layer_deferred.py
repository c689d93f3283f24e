"""Layers extracted before their parents (``defer_lower_links``), finished by
``LayerResult.link_lower`` once the parents are in place: what the store's parallel pull
relies on. The Rust tests compare every tricky case with the sequential path; these check the
Python surface: counting, resolution, errors, concurrency with the parent's extraction.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybridock import _native
from hybridock.errors import LayerFormatError


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Member:
    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    link: str = ""
    mode: int = 0o644


def build_tar(members: list[Member]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type, info.size, info.linkname = member.kind, len(member.data), member.link
            info.mode, info.mtime = member.mode, 1_600_000_000
            archive.addfile(info, io.BytesIO(member.data) if member.data else None)
    return buffer.getvalue()


def extract(
    tmp_path: Path, name: str, members: list[Member], **options: object
) -> _native.LayerResult:
    tar = build_tar(members)
    blob = tmp_path / f"{name}.tar"
    blob.write_bytes(tar)
    return _native.extract_blob(
        str(blob),
        str(tmp_path / name),
        "none",
        sha(tar),
        sync=False,
        **options,  # type: ignore[arg-type]
    )


BASE = [
    Member("bin/busybox", data=b"ELF", mode=0o755),
    Member("etc/issue", data=b"base\n"),
    Member("doomed", data=b"x"),
]
MIDDLE = [Member("etc/issue", data=b"middle\n"), Member(".wh.doomed")]
TOP = [
    Member("bin/sh", tarfile.LNKTYPE, link="bin/busybox"),
    Member("bin/ash", tarfile.LNKTYPE, link="bin/busybox"),
    Member("issue", tarfile.LNKTYPE, link="etc/issue"),
    Member("own", data=b"own"),
    Member("own-link", tarfile.LNKTYPE, link="own"),
    Member("replaced", tarfile.LNKTYPE, link="bin/busybox"),
    Member("replaced", data=b"mine"),
]


def test_pending_links_are_counted_then_made(tmp_path: Path) -> None:
    result = extract(tmp_path, "top", TOP, defer_lower_links=True)
    assert result.pending_links == 2  # bin/busybox and etc/issue; "own" is in the layer
    extract(tmp_path, "base", BASE)
    extract(tmp_path, "middle", MIDDLE, lower_dirs=[str(tmp_path / "base")])
    lowers = [str(tmp_path / "middle"), str(tmp_path / "base")]
    assert result.link_lower(lowers, sync=False) == 2
    assert result.pending_links == 0
    assert result.link_lower(lowers) == 0  # once only; free afterwards
    top = tmp_path / "top"
    assert (top / "bin/sh").read_bytes() == b"ELF"
    assert (top / "bin/sh").stat().st_mode & 0o777 == 0o755
    assert (top / "bin/sh").stat().st_ino == (top / "bin/ash").stat().st_ino
    assert (top / "bin/sh").stat().st_ino != (tmp_path / "base/bin/busybox").stat().st_ino
    assert (top / "issue").read_bytes() == b"middle\n"
    assert (top / "replaced").read_bytes() == b"mine"
    assert (top / "own-link").read_bytes() == b"own"
    assert "pending_links=0" in repr(result)


def test_nothing_pending_without_links_to_lower_layers(tmp_path: Path) -> None:
    result = extract(tmp_path, "plain", BASE, defer_lower_links=True)
    assert result.pending_links == 0
    assert result.link_lower([str(tmp_path / "does-not-exist")]) == 0


@pytest.mark.parametrize(
    ("name", "target"),
    [("whited out by the middle layer", "doomed"), ("missing everywhere", "nowhere")],
)
def test_unresolvable_target_fails_at_link_lower(tmp_path: Path, name: str, target: str) -> None:
    extract(tmp_path, "base", BASE)
    extract(tmp_path, "middle", MIDDLE, lower_dirs=[str(tmp_path / "base")])
    result = extract(
        tmp_path, "top", [Member("x", tarfile.LNKTYPE, link=target)], defer_lower_links=True
    )
    with pytest.raises(LayerFormatError, match="neither this layer nor a lower one"):
        result.link_lower([str(tmp_path / "middle"), str(tmp_path / "base")])


def test_lower_dirs_and_deferral_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exclude each other"):
        extract(tmp_path, "x", BASE, lower_dirs=[str(tmp_path)], defer_lower_links=True)


def test_child_extracts_while_parent_does(tmp_path: Path) -> None:
    """Both layers stream through LayerSinks on their own threads at once; the child's links
    are made after both finished."""
    layers = {"base": build_tar(BASE), "top": build_tar(TOP)}
    results: dict[str, _native.LayerResult] = {}
    start = threading.Barrier(2)

    def run(name: str) -> None:
        sink = _native.LayerSink(
            str(tmp_path / name), "none", sha(layers[name]), defer_lower_links=True, sync=False
        )
        start.wait()
        data = layers[name]
        for offset in range(0, len(data), 512):
            sink.write(data[offset : offset + 512])
        results[name] = sink.finish()

    threads = [threading.Thread(target=run, args=(name,)) for name in layers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["base"].pending_links == 0
    assert results["top"].link_lower([str(tmp_path / "base")]) == 2
    assert (tmp_path / "top/issue").read_bytes() == b"base\n"
