"""Images made on this machine (commit, load, import): their layers and records.

A layer enters the store from a local blob file exactly as a pulled one does: the native
pipeline reads the file, checks its digest and, when known, its diff_id, and extracts it into a
fresh tree that is renamed into ``layers/`` only when whole; the file becomes the layer's blob.
So the store keeps its invariant for every image, whatever its origin: each layer has a blob
whose decompressed bytes hash to its diff_id (push sends it, save writes it), and each image has
a manifest blob naming its config and those layer blobs.

A local image is recorded with a docker schema2 manifest (an OCI one when a layer is zstd or
carries an OCI media type), and no repository digest: it has been in no registry yet.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from hybridock import _native
from hybridock.errors import HybridockError, StoreError
from hybridock.reference import Reference
from hybridock.registry.manifest import DOCKER_MANIFEST, OCI_MANIFEST, layer_compression
from hybridock.store import locks
from hybridock.store.images import ImageStore, LayerRecord, NewImage, chain_ids
from hybridock.store.layout import fsync_dir, link_blob, remove_tree, write_atomic

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

#: the layer media type of a docker schema2 manifest, by compression
DOCKER_LAYER = {
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "none": "application/vnd.docker.image.rootfs.diff.tar",
}
#: the OCI one (zstd has no docker schema2 type that registries and docker know)
OCI_LAYER = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"))


def sniff_compression(path: Path) -> str:
    """``"gzip"``, ``"zstd"`` or ``"none"`` from a layer file's first bytes (docker's
    DecompressStream also sniffs: an archive's file names say nothing reliable)."""
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except OSError as error:
        raise StoreError(f"cannot read {path.name}: {error.strerror}") from error
    return next((name for magic, name in _MAGIC if head.startswith(magic)), "none")


def docker_media_type(compression: str) -> str:
    """The media type a local layer of this compression is recorded with."""
    return DOCKER_LAYER.get(compression) or OCI_LAYER[compression]


@contextlib.contextmanager
def building(images: ImageStore) -> Iterator[None]:
    """Hold off garbage collection while layers are installed but no image names them yet (as
    a pull does); on failure, take out again the layers this run recorded, unless another
    writer is running."""
    try:
        with locks.shared(images.layout.locks, locks.GC):
            yield
    except BaseException:
        with contextlib.suppress(HybridockError):
            images.collect_garbage_if_idle()
        raise


def install_layer(
    images: ImageStore,
    blob: Path,
    parents: Sequence[str],
    *,
    compression: str | None = None,
    digest: str | None = None,
    diff_id: str | None = None,
    max_bytes: int | None = None,
    max_entries: int | None = None,
    parents_ready: Callable[[], None] | None = None,
) -> LayerRecord:
    """Install the layer file ``blob`` above the chain ``parents`` (chain ids, base first).

    ``digest`` and ``diff_id`` are checked when given (a manifest or config said what the file
    must be), computed otherwise (an imported tarball). ``blob`` must be on the store's file
    system (under ``tmp/``): it is linked into ``blobs/`` once the layer is whole, and left for
    the caller to remove. When the store already has the layer, its record is returned and the
    new file is not kept: a manifest then names the blob the store has.

    ``parents_ready``: the layers ``parents`` are being installed meanwhile by other threads
    (a load extracts an image's layers in parallel, as a pull does): the extraction starts at
    once, and the hardlinks into the parents and the record wait for this call. Whether the
    store has the layer already is then the caller's check (``stored_layer``).
    """
    layout = images.layout
    compression = compression or sniff_compression(blob)
    digest = digest or _native.sha256_file(str(blob))
    with layout.temp_dir("layer") as temp:
        tree = temp / "tree"
        tree.mkdir()
        parent = parents[-1] if parents else None
        lower_dirs = [str(layout.layer(chain)) for chain in reversed(parents)]
        if diff_id is not None and parents_ready is None:
            chain_id = chain_ids([*_diff_ids(images, parents), diff_id])[-1]
            existing = stored_layer(images, chain_id)
            if existing is not None:
                return existing
        result = _native.extract_blob(
            str(blob),
            str(tree),
            compression,
            digest,
            diff_id,
            lower_dirs=None if parents_ready else lower_dirs,
            defer_lower_links=parents_ready is not None,
            max_bytes=max_bytes,
            max_entries=max_entries,
        )
        if parents_ready is not None:
            parents_ready()
            result.link_lower(lower_dirs)
        chain_id = chain_ids([*_diff_ids(images, parents), result.diff_id])[-1]
        with locks.exclusive(layout.locks, chain_id.removeprefix("sha256:")):
            existing = stored_layer(images, chain_id)
            if existing is not None:
                return existing
            link_blob(blob, layout.blob(digest))
            target = layout.layer(chain_id)
            if target.exists():  # a record-less leftover of a crash: replace it
                remove_tree(target)
            try:
                tree.rename(target)
                fsync_dir(layout.layers)
            except OSError as error:
                raise StoreError(f"cannot install layer {chain_id}: {error.strerror}") from error
            record = LayerRecord(
                chain_id=chain_id,
                diff_id=result.diff_id,
                parent=parent,
                digest=digest,
                media_type=docker_media_type(compression),
                compressed_size=result.compressed_size,
                size=result.uncompressed_size,
                unpacked_size=result.unpacked_size,
            )
            images.record_layer(record)
            return record


def _diff_ids(images: ImageStore, chain: Sequence[str]) -> list[str]:
    found = images.layer_records(chain)
    return [found[c].diff_id for c in chain]


def stored_layer(images: ImageStore, chain_id: str) -> LayerRecord | None:
    """The store's record of the layer ``chain_id`` when it has the layer and its blob."""
    if not images.has_layer(chain_id):
        return None
    record = images.layer_records([chain_id]).get(chain_id)
    if record is None or record.digest is None or not images.layout.blob(record.digest).is_file():
        return None  # a layer without its blob (an older store): take the new one
    return record


class LocalImage(NamedTuple):
    id: str
    manifest_digest: str
    previous: str | None  # the image the tag pointed at before, if another


def config_bytes(config: Mapping[str, Any]) -> bytes:
    """The config as docker writes it (Go's json.Marshal: compact, keys as given)."""
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()


class LayerBlob(NamedTuple):
    """A layer as a manifest names it."""

    digest: str
    size: int
    compression: str  # "gzip", "zstd" or "none"


def manifest_for(
    config: bytes, layers: Sequence[LayerBlob], *, oci: bool = False
) -> tuple[str, bytes]:
    """(media type, bytes) of the manifest of ``config`` and ``layers``: docker's schema 2
    (as docker pushes it: three-space indents), OCI's when ``oci`` or a layer needs it (zstd)."""
    oci = oci or any(layer.compression not in DOCKER_LAYER for layer in layers)
    media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    layer_types = OCI_LAYER if oci else DOCKER_LAYER
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
            "size": len(config),
            "digest": _native.sha256(config),
        },
        "layers": [
            {
                "mediaType": layer_types[layer.compression],
                "size": layer.size,
                "digest": layer.digest,
            }
            for layer in layers
        ],
    }
    return media_type, json.dumps(document, indent=3).encode()


def layer_blob(layer: LayerRecord) -> LayerBlob:
    """The blob the store keeps for ``layer`` (every installed layer has one)."""
    if layer.digest is None:
        raise StoreError(f"layer {layer.diff_id} has no blob in the store: pull its image again")
    media_type = layer.media_type or DOCKER_LAYER["gzip"]
    return LayerBlob(layer.digest, layer.compressed_size, layer_compression(media_type))


def record_image(
    images: ImageStore,
    config: Mapping[str, Any],
    layers: Sequence[LayerRecord],
    reference: Reference | None = None,
) -> LocalImage:
    """Record an image made here: its config (``rootfs`` set from ``layers``), a manifest, and
    the tag ``reference`` if given. The layers must be installed (``install_layer``)."""
    document = dict(config)
    document["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    return record_config(images, config_bytes(document), layers, reference)


def record_config(
    images: ImageStore,
    config_data: bytes,
    layers: Sequence[LayerRecord],
    reference: Reference | None = None,
) -> LocalImage:
    """``record_image`` of a config kept byte for byte (a loaded image keeps its id); its
    ``rootfs.diff_ids`` must be the layers' (the caller checked them)."""
    _, manifest = manifest_for(config_data, [layer_blob(layer) for layer in layers])
    image_id = _native.sha256(config_data)
    manifest_digest = _native.sha256(manifest)
    for digest, data in ((image_id, config_data), (manifest_digest, manifest)):
        path = images.layout.blob(digest)
        if not path.exists():
            write_atomic(path, data)
    size = sum(images.unpacked_sizes(layer.chain_id for layer in layers).values())
    previous = images.record_image(
        NewImage(
            id=image_id,
            config_json=config_data.decode(),
            manifest_digest=manifest_digest,
            top_digest=None,
            reference=reference,
            chain_ids=[layer.chain_id for layer in layers],
            size=size,
            blobs=[(image_id, len(config_data)), (manifest_digest, len(manifest))],
        )
    )
    return LocalImage(image_id, manifest_digest, previous)
