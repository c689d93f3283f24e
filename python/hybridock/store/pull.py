"""One pull: resolve a reference, fetch what the store lacks, record the image.

Flow: a tag already in the store costs one HEAD request (the tag's current digest); a digest
already in the store costs none. Otherwise the manifest is resolved (index -> platform
manifest), the config verified, and every layer whose chain id is not in the store is streamed
from the registry into the native pipeline (download, verify, decompress, extract in one pass on
Rust threads), up to ``concurrency`` layers at once. Each layer is built under tmp/ and renamed
into layers/ under its lock, then recorded; the image row comes last, in one transaction.
Ctrl-C or any failure aborts every layer in flight and removes what it had written.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from hybridock import _native
from hybridock.errors import (
    HybridockError,
    ManifestInvalid,
    StoreError,
)
from hybridock.reference import Reference, validate_digest
from hybridock.registry import BlobStream, Descriptor, Platform, RegistryClient, ResolvedImage
from hybridock.store import locks
from hybridock.store.images import ImageStore, LayerRecord, NewImage, chain_ids
from hybridock.store.layout import Layout, fsync_dir, link_blob, remove_tree, write_atomic

if TYPE_CHECKING:
    from concurrent.futures import Future

# How often a layer whose download is complete reports how far its extraction got.
EXTRACTION_POLL_SECONDS = 0.1


class PullProgress(Protocol):
    """What a pull reports as it goes; the CLI renders it, the API may ignore it."""

    def resolving(self, reference: Reference) -> None: ...
    def layer(self, layer_id: str, status: str, current: int = 0, total: int = 0) -> None: ...


class SilentProgress:
    def resolving(self, reference: Reference) -> None:
        pass

    def layer(self, layer_id: str, status: str, current: int = 0, total: int = 0) -> None:
        pass


class PullResult(NamedTuple):
    reference: Reference
    image_id: str
    digest: str  # what the reference resolved to: an index or a manifest digest
    downloaded: bool  # False: the store already had it ("Image is up to date")


def short_id(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


class Puller:
    def __init__(
        self,
        layout: Layout,
        images: ImageStore,
        registry: RegistryClient,
        *,
        concurrency: int = 3,
        progress: PullProgress | None = None,
        max_layer_size: int | None = None,
        max_layer_entries: int | None = None,
    ) -> None:
        self.layout = layout
        self.images = images
        self.registry = registry
        self.concurrency = max(1, concurrency)
        # the budget of one layer (uncompressed bytes, tar entries): bounds a decompression bomb
        self.max_layer_size = max_layer_size
        self.max_layer_entries = max_layer_entries
        self._progress: PullProgress = progress or SilentProgress()
        self._cancelled = threading.Event()
        self._streams_lock = threading.Lock()
        self._streams: set[BlobStream] = set()
        self._sinks: set[_native.LayerSink] = set()

    def pull(self, reference: Reference, platform: Platform | None = None) -> PullResult:
        try:
            with locks.shared(self.layout.locks, locks.GC):
                return self._pull(reference, platform)
        except BaseException:
            # Layers this pull finished are recorded but no image uses them: unless another
            # pull is running (it may be about to use them), take them out again.
            with contextlib.suppress(HybridockError):
                self.images.collect_garbage_if_idle()
            raise

    def _pull(self, reference: Reference, platform: Platform | None) -> PullResult:
        self._progress.resolving(reference)
        known = self.images.tag_digest(reference)
        if known is not None and platform is not None and not self._is_for(known[0], platform):
            known = None  # the store holds another platform of this index: fetch the one asked
        if known is not None:
            image_id, digest = known
            if reference.digest is not None:
                return PullResult(reference, image_id, digest, downloaded=False)
            current = self.registry.head_digest(reference)
            if current == digest:
                return PullResult(reference, image_id, digest, downloaded=False)
        resolved = self.registry.resolve(reference, platform)
        image_id = self._store_image(reference, resolved)
        return PullResult(reference, image_id, resolved.digest, downloaded=True)

    def _is_for(self, image_id: str, platform: Platform) -> bool:
        record = self.images.get(image_id)
        stored = Platform(record.os or "", record.architecture or "", record.variant)
        return platform.matches(stored)

    def _store_image(self, reference: Reference, resolved: ResolvedImage) -> str:
        rootfs = resolved.config.get("rootfs")
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            raise ManifestInvalid(f"{reference}: the image config has no rootfs.diff_ids")
        for diff_id in diff_ids:
            validate_digest(diff_id)
        layers = resolved.manifest.layers
        if len(diff_ids) != len(layers):
            raise ManifestInvalid(
                f"{reference}: the manifest has {len(layers)} layers but the config lists"
                f" {len(diff_ids)} diff_ids"
            )
        chain = chain_ids(diff_ids)
        self._fetch_layers(reference, layers, diff_ids, chain)
        config_digest = resolved.manifest.config.digest
        blobs = [
            (config_digest, resolved.config_bytes),
            (resolved.manifest_digest, resolved.manifest_bytes),
        ]
        if resolved.index_bytes is not None:
            blobs.append((resolved.digest, resolved.index_bytes))
        for digest, data in blobs:
            path = self.layout.blob(digest)
            if not path.exists():
                write_atomic(path, data)
        size = sum(self.images.unpacked_sizes(chain).values())
        self.images.record_image(
            NewImage(
                id=config_digest,
                config_json=resolved.config_bytes.decode(),
                manifest_digest=resolved.manifest_digest,
                top_digest=resolved.digest,
                reference=reference,
                chain_ids=chain,
                size=size,
                blobs=[(digest, len(data)) for digest, data in blobs],
            )
        )
        return config_digest

    # --- layers ----------------------------------------------------------------------------

    def _fetch_layers(
        self,
        reference: Reference,
        layers: Sequence[Descriptor],
        diff_ids: Sequence[str],
        chain: Sequence[str],
    ) -> None:
        done = [threading.Event() for _ in layers]
        jobs: list[tuple[int, Callable[[], None]]] = []
        for index, descriptor in enumerate(layers):
            if self.images.has_layer(chain[index]):
                self._report(short_id(descriptor.digest), "Already exists")
                done[index].set()
                continue
            self._report(short_id(descriptor.digest), "Pulling fs layer")
            jobs.append(
                (index, self._layer_job(reference, layers, diff_ids, chain, index=index, done=done))
            )
        if not jobs:
            return
        # Each layer's temp dir (a random name) then starts in a fresh block group of its own
        # (see _native.spread_subdirectories): cheap, best effort, idempotent.
        with contextlib.suppress(HybridockError, OSError):
            _native.spread_subdirectories(str(self.layout.tmp))
        # imported here: a pull of a cached image (one HEAD) does not pay ~15 ms for it
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait  # noqa: PLC0415

        self._cancelled.clear()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="layer") as pool:
            futures: list[Future[None]] = [pool.submit(job) for _, job in jobs]
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
                with self._streams_lock:
                    streams = list(self._streams)
                    sinks = list(self._sinks)
                for stream in streams:  # wake downloads blocked on a stalled connection
                    stream.abort()
                for sink in sinks:  # stop extractions that are still writing files
                    sink.abort()
                raise

    def _layer_job(
        self,
        reference: Reference,
        layers: Sequence[Descriptor],
        diff_ids: Sequence[str],
        chain: Sequence[str],
        *,
        index: int,
        done: Sequence[threading.Event],
    ) -> Callable[[], None]:
        def job() -> None:
            try:
                self._fetch_layer(
                    reference, layers[index], diff_ids[index], chain, index=index, done=done
                )
            finally:
                done[index].set()

        return job

    def _fetch_layer(
        self,
        reference: Reference,
        descriptor: Descriptor,
        diff_id: str,
        chain: Sequence[str],
        *,
        index: int,
        done: Sequence[threading.Event],
    ) -> None:
        chain_id = chain[index]
        layer_id = short_id(descriptor.digest)
        with locks.exclusive(self.layout.locks, chain_id.removeprefix("sha256:")):
            if self.images.has_layer(chain_id):  # another process finished it meanwhile
                self._report(layer_id, "Already exists")
                return
            lower_dirs = [str(self.layout.layer(c)) for c in reversed(chain[:index])]
            blob = self.layout.blob(descriptor.digest)
            with self.layout.temp_dir("layer") as temp:
                tree = temp / "tree"
                tree.mkdir()
                # Every layer extracts as soon as its bytes arrive, in parallel with its
                # parents; a hardlink into a lower layer is left pending and made once the
                # parents are in place (the only wait between layers).
                if blob.is_file():
                    self._report(layer_id, "Extracting", 0, descriptor.size)
                    result = _native.extract_blob(
                        str(blob),
                        str(tree),
                        descriptor.compression,
                        descriptor.digest,
                        diff_id,
                        defer_lower_links=True,
                        max_bytes=self.max_layer_size,
                        max_entries=self.max_layer_entries,
                    )
                else:
                    result = self._stream_layer(
                        reference, descriptor, diff_id, tree=tree, blob_temp=temp / "blob"
                    )
                if result.pending_links:
                    self._wait_for_parents(index, done)
                    result.link_lower(lower_dirs)
                if not blob.is_file():
                    self._install_blob(temp / "blob", blob)
                target = self.layout.layer(chain_id)
                if target.exists():  # a record-less leftover of a crash: replace it
                    remove_tree(target)
                try:
                    tree.rename(target)
                    fsync_dir(self.layout.layers)
                except OSError as error:
                    raise StoreError(
                        f"cannot install layer {chain_id}: {error.strerror}"
                    ) from error
            self.images.record_layer(
                LayerRecord(
                    chain_id=chain_id,
                    diff_id=diff_id,
                    parent=chain[index - 1] if index else None,
                    digest=descriptor.digest,
                    media_type=descriptor.media_type,
                    compressed_size=result.compressed_size,
                    size=result.uncompressed_size,
                    unpacked_size=result.unpacked_size,
                )
            )
        self._report(layer_id, "Pull complete")

    def _stream_layer(
        self,
        reference: Reference,
        descriptor: Descriptor,
        diff_id: str,
        *,
        tree: Path,
        blob_temp: Path,
    ) -> _native.LayerResult:
        layer_id = short_id(descriptor.digest)
        sink = _native.LayerSink(
            str(tree),
            descriptor.compression,
            descriptor.digest,
            diff_id,
            defer_lower_links=True,
            blob_path=str(blob_temp),
            max_bytes=self.max_layer_size,
            max_entries=self.max_layer_entries,
        )
        with self._streams_lock:
            self._sinks.add(sink)
        try:
            received = 0
            # BlobStream resumes a broken transfer itself with a Range request
            with self._open_blob(reference, descriptor) as stream:
                for chunk in stream:
                    self._check_cancelled()
                    sink.write(chunk)
                    received += len(chunk)
                    self._report(layer_id, "Downloading", received, descriptor.size)
            self._report(layer_id, "Download complete")
            sink.close()
            self._follow_extraction(layer_id, sink, descriptor.size)
            return sink.finish()
        except BaseException:
            sink.abort()
            raise
        finally:
            with self._streams_lock:
                self._sinks.discard(sink)

    def _follow_extraction(self, layer_id: str, sink: _native.LayerSink, size: int) -> None:
        """Docker's Extracting bar until the layer's worker ends: the compressed bytes its
        extraction consumed, which reach ``size`` only once the layer is extracted and both
        digests verified. Returns as soon as the worker ends; a cancelled pull stops it."""
        ended = False
        reported = -1
        while True:
            consumed = min(sink.consumed, size)
            if consumed != reported:
                self._report(layer_id, "Extracting", consumed, size)
                reported = consumed
            if ended:
                return
            ended = sink.wait(EXTRACTION_POLL_SECONDS)
            self._check_cancelled()

    @contextlib.contextmanager
    def _open_blob(self, reference: Reference, descriptor: Descriptor) -> Iterator[BlobStream]:
        """A blob stream that a cancelled pull aborts from the main thread."""
        with self.registry.open_blob(reference, descriptor) as stream:
            with self._streams_lock:
                self._streams.add(stream)
            try:
                if self._cancelled.is_set():
                    stream.abort()
                yield stream
            finally:
                with self._streams_lock:
                    self._streams.discard(stream)

    def _report(self, layer_id: str, status: str, current: int = 0, total: int = 0) -> None:
        """A layer's progress, until the pull is cancelled: then, as docker, every layer stays
        drawn as it was (one still finishing must not show as Pull complete)."""
        if not self._cancelled.is_set():
            self._progress.layer(layer_id, status, current, total)

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise HybridockError("pull cancelled")

    def _wait_for_parents(self, index: int, done: Sequence[threading.Event]) -> None:
        """Pending hardlinks into lower layers need the parents in place."""
        for event in done[:index]:
            while not event.wait(0.2):
                self._check_cancelled()

    def _install_blob(self, temp: Path, blob: Path) -> None:
        if temp.is_file():  # not when the pipeline kept no copy
            link_blob(temp, blob)
