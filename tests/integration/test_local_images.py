"""Images made here (images/local.py): a local layer file becomes a verified layer and its
blob, an image made of such layers runs, and a file that lies leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.cli import CliResult
from tests.support.layers import File, Whiteout, build_tar, compress
from tests.support.testimages import busybox_entries

from hybridock import Client
from hybridock.errors import HybridockError
from hybridock.images import local
from hybridock.reference import Reference

pytestmark = pytest.mark.usefixtures("hybridock_root")


def _layer_file(client: Client, name: str, data: bytes) -> Path:
    client.layout.ensure()
    path = client.layout.tmp / name
    path.write_bytes(data)
    return path


def _config() -> dict[str, object]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sh", "-c", "cat /greeting; ls /etc/group || echo gone"]},
    }


def test_a_local_image_runs_and_names_its_blobs(
    hybridock_root: Path, run_cli: Callable[..., CliResult]
) -> None:
    with Client(hybridock_root) as client:
        base_tar = build_tar(busybox_entries())
        base = _layer_file(client, "base", compress(base_tar, "gzip"))
        top = _layer_file(
            client, "top", build_tar([File("greeting", "hello\n"), Whiteout("etc/group")])
        )
        images = client.image_store
        with local.building(images):
            first = local.install_layer(images, base, [])
            second = local.install_layer(images, top, [first.chain_id])
            made = local.record_image(
                images, _config(), [first, second], Reference.parse("local/made:1")
            )
        assert first.media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"
        assert second.media_type == "application/vnd.docker.image.rootfs.diff.tar"
        assert second.digest == second.diff_id  # a plain tar is its own diff
        manifest = json.loads(client.layout.blob(made.manifest_digest).read_bytes())
        assert [layer["digest"] for layer in manifest["layers"]] == [first.digest, second.digest]
        assert manifest["config"]["digest"] == made.id
        for layer in (first, second):
            assert layer.digest is not None
            assert client.layout.blob(layer.digest).is_file()
        record = client.image("local/made:1")
        assert record.repo_digests == ()  # in no registry yet
        assert record.config["rootfs"]["diff_ids"] == [first.diff_id, second.diff_id]

        # the same layer again: the store's record and blob, no second tree
        again = _layer_file(client, "again", compress(base_tar, "gzip"))
        with local.building(images):
            assert local.install_layer(images, again, []) == first

    result = run_cli("run", "--rm", "--network", "none", "local/made:1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["hello", "gone"]


def test_a_layer_file_that_lies_leaves_nothing(hybridock_root: Path) -> None:
    with Client(hybridock_root) as client:
        tar = build_tar([File("a", "a\n")])
        path = _layer_file(client, "liar", tar)
        images = client.image_store
        with pytest.raises(HybridockError), local.building(images):
            local.install_layer(images, path, [], diff_id="sha256:" + "0" * 64)
        assert list(client.layout.layers.iterdir()) == []
        assert list(client.layout.blobs.iterdir()) == []
        assert [p.name for p in client.layout.tmp.iterdir()] == ["liar"]
