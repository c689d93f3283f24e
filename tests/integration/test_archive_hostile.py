"""Hostile archives for ``load``, as hostile registries are for ``pull``: names that climb out,
links, a manifest naming what is not there, configs and layers that are not what they are
named, a cut or garbage file. Each is refused with one line and exit 1, and the store has
nothing new: no image, no layer tree, no blob, an empty tmp/."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from tests.support.cli import CliResult
from tests.support.layers import File, build_tar, compress, sha256_digest

from hybridock import Client

pytestmark = pytest.mark.usefixtures("hybridock_root")

LAYER = build_tar([File("greeting", "hello\n")])
OTHER_LAYER = build_tar([File("greeting", "other\n")])


class Member(NamedTuple):
    name: str
    data: bytes = b""
    link: str | None = None  # a symlink to this target
    hard: bool = False  # a hardlink instead


def _tar(members: list[Member]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            if member.link is not None:
                info.type = tarfile.LNKTYPE if member.hard else tarfile.SYMTYPE
                info.linkname = member.link
                tar.addfile(info)
            else:
                info.size = len(member.data)
                tar.addfile(info, io.BytesIO(member.data))
    return out.getvalue()


def _config(diff_ids: list[str]) -> bytes:
    document = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["cat", "/greeting"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return json.dumps(document).encode()


def docker_archive(
    *,
    layer: bytes = LAYER,
    diff_id: str | None = None,
    config_name: str | None = None,
    layer_names: list[str] | None = None,
    extra: list[Member] | None = None,
    layer_member: Member | None = None,
) -> bytes:
    config = _config([diff_id or sha256_digest(LAYER)])
    hexname = sha256_digest(config).removeprefix("sha256:")
    manifest = [
        {
            "Config": config_name or f"{hexname}.json",
            "RepoTags": ["local/hostile:1"],
            "Layers": layer_names or ["abc/layer.tar"],
        }
    ]
    return _tar(
        [
            layer_member or Member("abc/layer.tar", layer),
            Member(f"{hexname}.json", config),
            *(extra or []),
            Member("manifest.json", json.dumps(manifest).encode()),
        ]
    )


def oci_archive(*, layer_blob: bytes | None = None, config_size: int | None = None) -> bytes:
    compressed = compress(LAYER, "gzip")
    config = _config([sha256_digest(LAYER)])
    layer_digest = sha256_digest(compressed)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_digest(config),
                "size": config_size if config_size is not None else len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": len(compressed),
                }
            ],
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha256_digest(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "local/hostile:2"},
            }
        ],
    }
    blob = layer_blob if layer_blob is not None else compressed
    return _tar(
        [
            Member("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            Member("blobs/sha256/" + layer_digest.removeprefix("sha256:"), blob),
            Member("blobs/sha256/" + sha256_digest(config).removeprefix("sha256:"), config),
            Member("blobs/sha256/" + sha256_digest(manifest).removeprefix("sha256:"), manifest),
            Member("index.json", json.dumps(index).encode()),
        ]
    )


def two_layers_the_lower_lies() -> bytes:
    """The lower of two layers is not its diff_id; the upper one is, and extracts beside it."""
    upper = build_tar([File("upper", "fine\n")])
    config = _config([sha256_digest(OTHER_LAYER), sha256_digest(upper)])
    hexname = sha256_digest(config).removeprefix("sha256:")
    manifest = [{"Config": f"{hexname}.json", "RepoTags": None, "Layers": ["l0", "l1"]}]
    return _tar(
        [
            Member("l0", LAYER),
            Member("l1", upper),
            Member(f"{hexname}.json", config),
            Member("manifest.json", json.dumps(manifest).encode()),
        ]
    )


def _restamped_gzip() -> bytes:
    """The same layer, the same size, another gzip header time: not the digest it is named by."""
    data = bytearray(compress(LAYER, "gzip"))
    data[4:8] = (int.from_bytes(data[4:8], "little") + 1).to_bytes(4, "little")
    return bytes(data)


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "traversal member": (
        lambda: docker_archive(extra=[Member("../escape", b"x")]),
        "invalid archive: unsafe member '../escape'",
    ),
    "absolute member": (
        lambda: docker_archive(extra=[Member("/etc/escape", b"x")]),
        "invalid archive: unsafe member '/etc/escape'",
    ),
    "symlink out of the archive": (
        lambda: docker_archive(layer_member=Member("abc/layer.tar", link="../../etc/passwd")),
        "invalid archive: link abc/layer.tar points outside the archive",
    ),
    "absolute symlink": (
        lambda: docker_archive(layer_member=Member("abc/layer.tar", link="/etc/passwd")),
        "invalid archive: link abc/layer.tar points outside the archive",
    ),
    "hardlink to nothing": (
        lambda: docker_archive(layer_member=Member("abc/layer.tar", link="zzz", hard=True)),
        "invalid archive: abc/layer.tar is not in the archive",
    ),
    "manifest names a missing file": (
        lambda: docker_archive(layer_names=["nope/layer.tar"]),
        "invalid archive: nope/layer.tar is not in the archive",
    ),
    "manifest names a file outside": (
        lambda: docker_archive(layer_names=["../abc/layer.tar"]),
        "invalid archive: unsafe member '../abc/layer.tar'",
    ),
    "config digest mismatch": (
        lambda: docker_archive(
            config_name="0" * 64 + ".json",
            extra=[Member("0" * 64 + ".json", _config([sha256_digest(LAYER)]))],
        ),
        "invalid archive: config " + "0" * 64 + ".json has digest sha256:",
    ),
    "layer diff_id mismatch": (
        lambda: docker_archive(layer=OTHER_LAYER),
        "digest mismatch",
    ),
    "lower layer diff_id mismatch": (
        two_layers_the_lower_lies,
        "digest mismatch: expected " + sha256_digest(OTHER_LAYER),
    ),
    "layers length mismatch": (
        lambda: docker_archive(layer_names=["abc/layer.tar", "abc/layer.tar"]),
        "invalid manifest, layers length mismatch: expected 1, got 2",
    ),
    "truncated": (
        lambda: docker_archive()[:700],
        "unexpected EOF",
    ),
    "garbage": (
        lambda: b"this is not an archive\n" * 100,
        "archive/tar: invalid tar header",
    ),
    "oci layer digest mismatch": (
        lambda: oci_archive(layer_blob=_restamped_gzip()),
        "digest mismatch",
    ),
    "oci layer size mismatch": (
        lambda: oci_archive(layer_blob=compress(LAYER, "gzip") + b"trailing"),
        "is not",
    ),
    "oci config size mismatch": (
        lambda: oci_archive(config_size=3),
        "does not match its digest",
    ),
}


def test_the_builders_make_archives_that_load(
    hybridock_root: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    for name, data, tag in (
        ("docker.tar", docker_archive(), "local/hostile:1"),
        ("oci.tar", oci_archive(), "local/hostile:2"),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        result = run_cli("load", "-i", str(path))
        assert result.stdout == f"Loaded image: {tag}\n", str(result)
        inspected = json.loads(run_cli("image", "inspect", tag).stdout)[0]
        assert inspected["RootFS"]["Layers"] == [sha256_digest(LAYER)]


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_archive_is_refused_and_leaves_nothing(
    case: str, hybridock_root: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    make, message = HOSTILE[case]
    path = tmp_path / "hostile.tar"
    path.write_bytes(make())
    result = run_cli("load", "-i", str(path))
    assert result.returncode == 1, str(result)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: "), str(result)
    assert result.stderr.count("\n") == 1, str(result)
    assert message in result.stderr, str(result)
    assert run_cli("images", "-aq").stdout == ""
    for directory in ("layers", "blobs/sha256", "tmp"):
        assert list((hybridock_root / directory).iterdir()) == [], directory


def test_links_inside_the_archive_are_aliases(
    hybridock_root: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    """dockerd 20.10's save links a layer it wrote already (``<id>/layer.tar ->
    ../<other>/layer.tar``): a link that stays inside the archive names that member."""
    path = tmp_path / "linked.tar"
    path.write_bytes(
        docker_archive(
            layer_member=Member("abc/layer.tar", link="../first/layer.tar"),
            extra=[Member("first/layer.tar", LAYER)],
        )
    )
    result = run_cli("load", "-i", str(path))
    assert result.stdout == "Loaded image: local/hostile:1\n", str(result)


def test_a_gzipped_archive_loads(
    hybridock_root: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    path = tmp_path / "archive.tar.gz"
    path.write_bytes(compress(docker_archive(), "gzip"))
    result = run_cli("load", "-i", str(path))
    assert result.stdout == "Loaded image: local/hostile:1\n", str(result)
    assert list((hybridock_root / "tmp").iterdir()) == []


def test_a_tag_that_moves_says_so_as_docker(
    hybridock_root: Path, tmp_path: Path, run_cli: Callable[..., CliResult]
) -> None:
    first, second = tmp_path / "first.tar", tmp_path / "second.tar"
    first.write_bytes(docker_archive())
    second.write_bytes(docker_archive(layer=OTHER_LAYER, diff_id=sha256_digest(OTHER_LAYER)))
    assert run_cli("load", "-i", str(first)).stdout == "Loaded image: local/hostile:1\n"
    old = json.loads(run_cli("image", "inspect", "local/hostile:1").stdout)[0]["Id"]
    assert run_cli("load", "-i", str(second)).stdout.splitlines() == [
        f"The image local/hostile:1 already exists, renaming the old one with ID {old}"
        " to empty string",
        "Loaded image: local/hostile:1",
    ]
    assert run_cli("load", "-i", str(second)).stdout == "Loaded image: local/hostile:1\n"


def test_the_client_saves_to_and_loads_from_streams(hybridock_root: Path) -> None:
    """Client.save to a file object without a descriptor (the API's answer is one) and
    Client.load of a stream: the same image back."""
    with Client(hybridock_root) as client:
        [loaded] = client.load(io.BytesIO(docker_archive()))
        assert loaded.tags == ("local/hostile:1",)
        out = io.BytesIO()
        client.save(["local/hostile:1"], out)
        client.remove_image("local/hostile:1")
        assert client.load(io.BytesIO(out.getvalue())) == [loaded]
        with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
            assert tar.getnames()[:2] == ["blobs", "blobs/sha256"]  # directories first
        image_id = client.import_image(io.BytesIO(OTHER_LAYER), "local/imported:1", message="m")
        assert client.image("local/imported:1").id == image_id
        assert client.image(image_id).config["comment"] == "m"
