"""One push: an image's layer blobs, then its config, then its manifest, into a repository.

The manifest pushed is the one the store holds for the image (``images.manifest_digest``): a
pulled image goes back with the registry's own manifest, so its digest is the one it was pulled
by. An image pulled through an index keeps one platform, and that platform's manifest is what
goes up (as docker does for a single-platform local image); the index is not pushed. When that
manifest names a layer blob the store lacks (the same layer came first from another pull, in
another compression), or a layer's blob is a plain tar (``docker save`` output, loaded), a new
schema 2 manifest names the blob the store has (a plain tar compressed on the way, with the
native encoder, as docker compresses on push).

Layers go up concurrently (the pull's concurrency): each is checked with HEAD (present: "Layer
already exists"), mounted from a repository of the same registry the image came from or went
to (its repository digests: "Mounted from"), else uploaded ("Pushed"). The config follows, and
the manifest last, under the tag. Nothing is written locally until the registry has the
manifest: then the compressed blobs and the new manifest are stored and the repository digest
recorded; Ctrl-C or a failure before leaves the store as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from hybridock import _native
from hybridock.errors import HybridockError, StoreError
from hybridock.images import local
from hybridock.reference import Reference
from hybridock.registry import (
    OCI_MANIFEST,
    Manifest,
    RegistryClient,
    layer_compression,
    parse_document,
    sha256_digest,
)
from hybridock.registry.upload import Mount, RepositoryUpload
from hybridock.store.images import ImageRecord, ImageStore, LayerRecord, PushRecord
from hybridock.store.layout import Layout, fsync_dir, link_blob, write_atomic
from hybridock.store.pull import short_id

if TYPE_CHECKING:
    from concurrent.futures import Future


class PushProgress(Protocol):
    """What a push reports as it goes; the CLI renders it as docker does."""

    def repository(self, reference: Reference) -> None: ...
    def layer(self, layer_id: str, status: str, current: int = 0, total: int = 0) -> None: ...
    def pushed(self, reference: Reference, digest: str, size: int) -> None: ...


class SilentPushProgress:
    def repository(self, reference: Reference) -> None:
        pass

    def layer(self, layer_id: str, status: str, current: int = 0, total: int = 0) -> None:
        pass

    def pushed(self, reference: Reference, digest: str, size: int) -> None:
        pass


class PushedTag(NamedTuple):
    reference: Reference
    digest: str  # of the manifest the tag now names in the registry
    size: int  # of that manifest, in bytes


class PushResult(NamedTuple):
    repository: str  # docker.io/library/busybox
    tags: tuple[PushedTag, ...]


class _Blob(NamedTuple):
    """One layer as it goes up: the blob file and its descriptor."""

    layer: LayerRecord
    path: Path
    digest: str
    media_type: str
    size: int
    compressed_here: bool  # a plain tar compressed for this push: stored once it is done

    def named(self) -> local.LayerBlob:
        return local.LayerBlob(self.digest, self.size, layer_compression(self.media_type))


class Pusher:
    def __init__(
        self,
        layout: Layout,
        images: ImageStore,
        registry: RegistryClient,
        *,
        concurrency: int = 3,
        progress: PushProgress | None = None,
        compression: str | None = None,
        level: int | None = None,
    ) -> None:
        """``compression``: every layer goes up in this one ("gzip" or "zstd"; podman's
        ``--compression-format``), recompressed where the store keeps it otherwise; by default
        layers go as stored, a plain tar gzip-compressed. ``level``: the compression level."""
        self.compression = compression
        self.level = level
        self.layout = layout
        self.images = images
        self.registry = registry
        self.concurrency = max(1, concurrency)
        self._progress: PushProgress = progress or SilentPushProgress()
        self._cancelled = threading.Event()

    def push(self, reference: Reference, image_id: str) -> PushedTag:
        """Push the image as ``reference`` (a tag); the store learns the repository digest."""
        record = self.images.get(image_id)
        self._progress.repository(reference)
        upload = self.registry.repository_upload(reference, cancelled=self._cancelled.is_set)
        with self.layout.temp_dir("push") as work:
            manifest, blobs = self._plan(record, work)
            sources = self._mount_sources(record, reference)
            self._push_layers(upload, blobs, sources)
            self._push_config(upload, record, sources)
            media_type, data = manifest
            digest = sha256_digest(data)
            upload.put_manifest(reference.identifier, data, media_type, digest)
            new_manifest = digest != record.manifest_digest
            self._keep(blobs, data if new_manifest else None, digest)
        self.images.record_push(
            PushRecord(
                image_id=record.id,
                reference=reference,
                manifest_digest=digest,
                manifest_size=len(data),
                new_manifest=new_manifest,
                layer_blobs=[
                    (blob.layer.chain_id, blob.digest, blob.media_type, blob.size)
                    for blob in blobs
                    if blob.compressed_here
                ],
            )
        )
        self._progress.pushed(reference, digest, len(data))
        return PushedTag(reference, digest, len(data))

    # --- what goes up ------------------------------------------------------------------------

    def _stored_manifest(self, record: ImageRecord) -> Manifest | None:
        path = self.layout.blob(record.manifest_digest)
        try:
            document = parse_document(path.read_bytes())
        except (OSError, HybridockError):
            return None
        return document if isinstance(document, Manifest) else None

    def _plan(self, record: ImageRecord, work: Path) -> tuple[tuple[str, bytes], list[_Blob]]:
        """The manifest to push (media type, bytes) and each layer's blob."""
        layers = self.images.layers_of(record.id)
        manifest = self._stored_manifest(record)
        named = manifest.layers if manifest and len(manifest.layers) == len(layers) else None
        oci = manifest is not None and manifest.media_type == OCI_MANIFEST
        blobs: list[_Blob] = []
        changed = named is None
        for position, layer in enumerate(layers):
            descriptor = named[position] if named else None
            if descriptor is not None and self.layout.blob(descriptor.digest).is_file():
                blob = _Blob(
                    layer,
                    self.layout.blob(descriptor.digest),
                    descriptor.digest,
                    descriptor.media_type,
                    descriptor.size,
                    compressed_here=False,
                )
            elif layer.digest and self.layout.blob(layer.digest).is_file():
                path = self.layout.blob(layer.digest)
                blob = _Blob(
                    layer,
                    path,
                    layer.digest,
                    layer.media_type or local.DOCKER_LAYER["gzip"],
                    path.stat().st_size,
                    compressed_here=False,
                )
                changed = True
            else:
                raise StoreError(
                    f"layer {layer.diff_id} has no blob in the store to push: pull the image again"
                )
            stored = layer_compression(blob.media_type)
            wanted = self.compression or ("gzip" if stored == "none" else stored)
            if stored != wanted or (self.level is not None and self.compression is not None):
                blob = self._compressed(blob, work, stored, wanted)
                changed = True
            blobs.append(blob)
        if not changed and manifest is not None:
            data = self.layout.blob(record.manifest_digest).read_bytes()
            return (manifest.media_type, data), blobs
        return self._manifest(record, blobs, oci=oci), blobs

    def _compressed(self, blob: _Blob, work: Path, stored: str, wanted: str) -> _Blob:
        """The layer compressed ``wanted`` for the registry (docker compresses a plain tar on
        push). Only a plain tar's compressed form is kept afterwards as the layer's blob: a
        layer recompressed on request keeps the blob it had."""
        layer_id = short_id(blob.layer.diff_id)
        self._report(layer_id, "Preparing")
        out = work / f"layer-{layer_id}.{wanted}"
        encoded = _native.compress_file(
            str(blob.path), str(out), wanted, self.level, source_compression=stored
        )
        if encoded.diff_id != blob.layer.diff_id:
            raise StoreError(
                f"layer blob {blob.digest} is not the layer {blob.layer.diff_id} it is stored as"
            )
        media_type = local.DOCKER_LAYER.get(wanted) or local.OCI_LAYER[wanted]
        return _Blob(blob.layer, out, encoded.digest, media_type, encoded.size, stored == "none")

    def _manifest(
        self, record: ImageRecord, blobs: Sequence[_Blob], *, oci: bool
    ) -> tuple[str, bytes]:
        """A manifest naming the config and the blobs the store has (docker's schema 2, or
        OCI's when the image came as OCI)."""
        config = self.layout.blob(record.id).read_bytes()
        return local.manifest_for(config, [blob.named() for blob in blobs], oci=oci)

    def _mount_sources(self, record: ImageRecord, reference: Reference) -> list[str]:
        """Repositories of the target's registry that hold the image's layers: the ones it
        came from or went to (its repo digests), then those of the images it shares layers
        with (a committed image's base came from somewhere), as docker remembers where each
        layer was seen."""
        sources: list[str] = []
        for name in self.images.repositories_sharing_layers(record.id):
            try:
                known = Reference.parse(f"{name}:latest")
            except HybridockError:
                continue
            same_registry = known.domain == reference.domain
            if same_registry and known.repository not in (reference.repository, *sources):
                sources.append(known.repository)
        return sources

    # --- layers ------------------------------------------------------------------------------

    def _push_layers(
        self, upload: RepositoryUpload, blobs: Sequence[_Blob], sources: Sequence[str]
    ) -> None:
        unique: dict[str, _Blob] = {}
        for blob in blobs:
            unique.setdefault(blob.digest, blob)
        shown = list(reversed(unique.values()))  # docker lists the top layer first
        for blob in shown:
            self._report(short_id(blob.layer.diff_id), "Preparing")
        for blob in shown[self.concurrency :]:
            self._report(short_id(blob.layer.diff_id), "Waiting")
        # imported here: a push whose command fails early does not pay for it
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait  # noqa: PLC0415

        self._cancelled.clear()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="push") as pool:
            futures: list[Future[None]] = [
                pool.submit(self._push_layer, upload, blob, sources) for blob in shown
            ]
            try:
                pending = set(futures)
                while pending:
                    # a timeout keeps the main thread responsive to Ctrl-C
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                    for future in finished:
                        future.result()
            except BaseException:
                self._cancelled.set()
                for future in futures:
                    future.cancel()
                raise

    def _push_config(
        self, upload: RepositoryUpload, record: ImageRecord, sources: Sequence[str]
    ) -> None:
        """The config blob, as a layer but silently (docker shows no line for it)."""
        path = self.layout.blob(record.id)
        found = self._find(upload, record.id, sources)
        if found is None or isinstance(found, Mount):
            location = found.location if found is not None else None
            upload.upload(path, record.id, path.stat().st_size, location=location)

    @staticmethod
    def _find(upload: RepositoryUpload, digest: str, sources: Sequence[str]) -> str | Mount | None:
        """Whether the repository has the blob ("" when it had it, the repository it came
        from when mounted), else the upload a failed mount opened (or None)."""
        if upload.blob_exists(digest):
            return ""
        opened: Mount | None = None
        for source in sources:
            opened = upload.mount(digest, source)
            if opened.mounted:
                return source
        return opened

    def _push_layer(self, upload: RepositoryUpload, blob: _Blob, sources: Sequence[str]) -> None:
        layer_id = short_id(blob.layer.diff_id)
        if self._cancelled.is_set():
            return
        found = self._find(upload, blob.digest, sources)
        if found == "":
            self._report(layer_id, "Layer already exists")
            return
        if isinstance(found, str):
            self._report(layer_id, f"Mounted from {found}")
            return
        location = found.location if found is not None else None
        self._report(layer_id, "Pushing", 0, blob.size)
        upload.upload(
            blob.path,
            blob.digest,
            blob.size,
            location=location,
            sent=lambda done: self._report(layer_id, "Pushing", done, blob.size),
        )
        self._report(layer_id, "Pushed")

    def _report(self, layer_id: str, status: str, current: int = 0, total: int = 0) -> None:
        if not self._cancelled.is_set():
            self._progress.layer(layer_id, status, current, total)

    # --- the store, once the registry has it -----------------------------------------------

    def _keep(self, blobs: Sequence[_Blob], manifest: bytes | None, digest: str) -> None:
        """Store what this push made: compressed layers and a new manifest."""
        for blob in blobs:
            if blob.compressed_here:
                link_blob(blob.path, self.layout.blob(blob.digest))
        if manifest is not None:
            path = self.layout.blob(digest)
            if not path.exists():
                write_atomic(path, manifest)
        fsync_dir(self.layout.blobs)


def repository_tags(images: ImageStore, reference: Reference) -> list[tuple[Reference, str]]:
    """Every local tag of ``reference``'s repository and its image (``push --all-tags``)."""
    prefix = f"{reference.name}:"
    return [
        (Reference.parse(name), image_id)
        for name, image_id in images.tags()
        if name.startswith(prefix) and "/" not in name[len(prefix) :]
    ]
