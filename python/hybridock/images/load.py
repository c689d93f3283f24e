"""``load``: images in from tar archives (``import`` of a filesystem tarball: tarball.py).

An archive is treated as a registry that may lie. It is never extracted by its own paths: its
members are indexed by name (a name with ``..`` or a leading ``/`` refuses the whole archive;
a link is only an alias of another member, never followed out of it), the documents are read
with size limits, and each layer member is copied into its own file under the store's ``tmp/``
and installed by the native pipeline (``install_layer``), which checks the file against the
digest the archive names it by and its content against the config's ``rootfs.diff_ids``. A
config's sha256 must be the image id its name implies (docker's ``<id>.json``, a blob's digest)
and OCI descriptors' digests and sizes are checked. On any failure nothing is recorded and the
layers installed so far go with the next collection (``building``).

Read: docker's ``save`` output (dockerd 20.10's ``<id>/layer.tar`` form and docker 25's
``blobs/sha256`` form), our own, and OCI archives (skopeo's, podman's), plain or gzipped.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import posixpath
import re
import shutil
import tarfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from hybridock import _native
from hybridock.errors import ArchiveError, HybridockError, os_words
from hybridock.images import local
from hybridock.images.archive import blob_name
from hybridock.reference import Reference, validate_digest
from hybridock.registry.manifest import MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES
from hybridock.store.images import ImageStore, LayerRecord, chain_ids

#: members an archive may have (docker's own have a few per layer)
MAX_MEMBERS = 100_000
#: the images one archive may name
MAX_IMAGES = 10_000
_LINK_DEPTH = 8
_COPY_CHUNK = 1 << 20
_HEX = re.compile(r"[0-9a-f]{64}")
_MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


class LoadedImage(NamedTuple):
    """An image ``load`` recorded: its id, the tags it was given (docker's familiar form) and,
    for a tag that named another image before, that image's id (tag, old id)."""

    id: str
    tags: tuple[str, ...]
    replaced: tuple[tuple[str, str], ...] = ()

    def messages(self) -> list[str]:
        """docker's lines for it: ``The image ... already exists, renaming the old one ...``
        for a moved tag, then ``Loaded image: TAG`` (``Loaded image ID: ID`` untagged)."""
        lines = [
            f"The image {tag} already exists, renaming the old one with ID {old} to empty string"
            for tag, old in self.replaced
        ]
        lines.extend(f"Loaded image: {tag}" for tag in self.tags)
        return lines or [f"Loaded image ID: {self.id}"]


class Limits(NamedTuple):
    max_layer_size: int | None = None
    max_layer_entries: int | None = None
    concurrency: int = 3  # layers installed at once (the config's max-concurrent-downloads)


NO_LIMITS = Limits()


class _Archive:
    """A tar file's regular members by normalised name, read by offset, never extracted."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._size = os.fstat(file.fileno()).st_size
        self._members: dict[str, tuple[int, int]] = {}
        self._links: dict[str, str] = {}
        try:
            with tarfile.open(fileobj=file, mode="r:") as tar:
                for count, member in enumerate(tar):
                    if count >= MAX_MEMBERS:
                        raise ArchiveError(f"invalid archive: more than {MAX_MEMBERS} entries")
                    self._index(member)
        except (tarfile.TarError, EOFError) as error:
            raise ArchiveError(f"archive/tar: invalid tar header ({error})") from None

    def _index(self, member: tarfile.TarInfo) -> None:
        name = _normalised(member.name)
        if member.isdir() or name == ".":
            return
        if member.issym() or member.islnk():
            base = posixpath.dirname(name) if member.issym() else ""
            target = posixpath.normpath(posixpath.join(base, member.linkname))
            if posixpath.isabs(member.linkname) or target == ".." or target.startswith("../"):
                raise ArchiveError(f"invalid archive: link {name} points outside the archive")
            self._links[name] = _normalised(target)
        elif member.isreg():
            if member.offset_data + member.size > self._size:
                raise ArchiveError("unexpected EOF: the archive is truncated")
            self._members[name] = (member.offset_data, member.size)
        # devices, fifos: not an image's file; never named, never read

    def __contains__(self, name: str) -> bool:
        return self._find(name) is not None

    def _find(self, name: str) -> tuple[int, int] | None:
        current = _normalised(name)
        for _ in range(_LINK_DEPTH):
            if current in self._members:
                return self._members[current]
            if current not in self._links:
                return None
            current = self._links[current]
        raise ArchiveError(f"invalid archive: too many levels of links at {name}")

    def member(self, name: str) -> tuple[int, int]:
        found = self._find(name)
        if found is None:
            raise ArchiveError(f"invalid archive: {name} is not in the archive")
        return found

    def read(self, name: str, limit: int) -> bytes:
        offset, size = self.member(name)
        if size > limit:
            raise ArchiveError(f"invalid archive: {name} is larger than {limit} bytes")
        return os.pread(self._file.fileno(), size, offset)

    def read_json(self, name: str, limit: int) -> Any:
        try:
            return json.loads(self.read(name, limit))
        except ValueError as error:
            raise ArchiveError(f"invalid archive: {name}: {error}") from None

    def copy(self, name: str, target: Path, limit: int | None) -> int:
        offset, size = self.member(name)
        if limit is not None and size > limit:
            raise ArchiveError(f"invalid archive: layer {name} is larger than {limit} bytes")
        source = self._file.fileno()
        with target.open("xb") as out:
            left = size
            while left:
                try:
                    copied = os.copy_file_range(source, out.fileno(), left, offset + size - left)
                except OSError:
                    copied = 0
                if not copied:
                    data = os.pread(source, min(left, _COPY_CHUNK), offset + size - left)
                    if not data:
                        raise ArchiveError("unexpected EOF: the archive is truncated")
                    copied = out.write(data)
                left -= copied
        return size


def _normalised(name: str) -> str:
    """A member's name as the manifest names it (``./a//b`` is ``a/b``); ``..`` and absolute
    names are refused: they mean the archive was made to escape where it is unpacked."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise ArchiveError(f"invalid archive: unsafe member {name!r}")
    return "/".join(parts) or "."


@contextlib.contextmanager
def _opened(source: BinaryIO | str | Path, work: Path) -> Iterator[BinaryIO]:
    """The archive as a seekable local file: a path as it is, a stream spooled under ``work``;
    a gzipped archive decompressed there first (docker's load takes those too)."""
    if isinstance(source, str | Path):
        try:
            file: BinaryIO = Path(source).open("rb")  # noqa: SIM115 - closed below
        except OSError as error:
            raise ArchiveError(f"open {source}: {os_words(error)}") from None
    else:
        spool = work / "archive"
        with spool.open("xb") as out:
            shutil.copyfileobj(source, out, _COPY_CHUNK)
        file = spool.open("rb")
    with file:
        if os.pread(file.fileno(), 2, 0) == b"\x1f\x8b":
            plain = work / "archive.tar"
            try:
                with gzip.GzipFile(fileobj=file) as inflated, plain.open("xb") as out:
                    shutil.copyfileobj(inflated, out, _COPY_CHUNK)
            except (OSError, EOFError) as error:
                raise ArchiveError(f"invalid archive: {error}") from None
            with plain.open("rb") as unpacked:
                yield unpacked
            return
        yield file


def load(
    images: ImageStore, source: BinaryIO | str | Path, limits: Limits = NO_LIMITS
) -> list[LoadedImage]:
    """Record the images of the archive ``source`` (a path, or a stream read to its end)."""
    with (
        local.building(images),
        images.layout.temp_dir("load") as work,
        _opened(source, work) as file,
    ):
        archive = _Archive(file)
        loader = _Loader(images, archive, work, limits)
        if "manifest.json" in archive:
            return loader.docker_archive()
        if "index.json" in archive:
            return loader.oci_archive()
        raise ArchiveError("invalid archive: no manifest.json or index.json in it")


class _Loader:
    def __init__(self, images: ImageStore, archive: _Archive, work: Path, limits: Limits) -> None:
        self.images = images
        self.archive = archive
        self.work = work
        self.limits = limits
        self.images_seen = 0

    def docker_archive(self) -> list[LoadedImage]:
        manifest = self.archive.read_json("manifest.json", MAX_MANIFEST_BYTES)
        if not isinstance(manifest, list) or len(manifest) > MAX_IMAGES:
            raise ArchiveError("invalid archive: manifest.json is not a list of images")
        loaded = []
        for entry in manifest:
            config_name, layer_names, repo_tags = _docker_entry(entry)
            config_data = self.archive.read(config_name, MAX_CONFIG_BYTES)
            image_id = _native.sha256(config_data)
            implied = posixpath.basename(config_name).removesuffix(".json")
            if _HEX.fullmatch(implied) and implied != image_id.removeprefix("sha256:"):
                raise ArchiveError(f"invalid archive: config {config_name} has digest {image_id}")
            named = [_digest_of_name(name) for name in layer_names]
            layers = self._layers(config_data, layer_names, named)
            loaded.append(self._record(config_data, layers, repo_tags))
        return loaded

    def oci_archive(self) -> list[LoadedImage]:
        index = self.archive.read_json("index.json", MAX_MANIFEST_BYTES)
        manifests = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(manifests, list) or len(manifests) > MAX_IMAGES:
            raise ArchiveError("invalid archive: index.json has no list of manifests")
        loaded = []
        for descriptor in manifests:
            digest, _, media_type = _descriptor(descriptor)
            if media_type not in _MANIFEST_TYPES:
                raise ArchiveError(f"invalid archive: unsupported manifest type {media_type!r}")
            manifest = json.loads(self._blob(descriptor, MAX_MANIFEST_BYTES))
            if not isinstance(manifest, dict):
                raise ArchiveError(f"invalid archive: manifest {digest} is not an object")
            config_data = self._blob(manifest.get("config"), MAX_CONFIG_BYTES)
            layer_descriptors = manifest.get("layers")
            if not isinstance(layer_descriptors, list):
                raise ArchiveError(f"invalid archive: manifest {digest} has no layers")
            names, digests = [], []
            for layer in layer_descriptors:
                layer_digest, size, _ = _descriptor(layer)
                name = blob_name(layer_digest)
                if self.archive.member(name)[1] != size:
                    raise ArchiveError(f"invalid archive: blob {layer_digest} is not {size} bytes")
                names.append(name)
                digests.append(layer_digest)
            layers = self._layers(config_data, names, digests)
            annotations = descriptor.get("annotations") or {}
            loaded.append(self._record(config_data, layers, _oci_names(annotations)))
        return loaded

    def _blob(self, descriptor: object, limit: int) -> bytes:
        digest, size, _ = _descriptor(descriptor)
        data = self.archive.read(blob_name(digest), limit)
        if len(data) != size or _native.sha256(data) != digest:
            raise ArchiveError(f"invalid archive: blob {digest} does not match its digest")
        return data

    def _layers(
        self, config_data: bytes, names: Sequence[str], digests: Sequence[str | None]
    ) -> list[LayerRecord]:
        """The image's layers, installed in parallel as a pull's are (each extracts at once;
        hardlinks into its parents and its record wait for them)."""
        diff_ids = _diff_ids(config_data)
        if len(diff_ids) != len(names):
            raise ArchiveError(
                "invalid manifest, layers length mismatch:"
                f" expected {len(diff_ids)}, got {len(names)}"
            )
        chain = chain_ids(diff_ids)
        self.images_seen += 1
        image = self.images_seen
        done = [threading.Event() for _ in names]
        failed = threading.Event()

        def parents_ready(index: int) -> None:
            for event in done[:index]:
                event.wait()
            if failed.is_set():
                raise ArchiveError("invalid archive: a lower layer could not be loaded")

        def install(index: int) -> LayerRecord:
            try:
                stored = local.stored_layer(self.images, chain[index])
                if stored is not None:
                    return stored
                path = self.work / f"layer-{image}-{index}"
                self.archive.copy(names[index], path, self.limits.max_layer_size)
                compression = local.sniff_compression(path)
                digest = digests[index]
                if digest is None and compression == "none":
                    digest = diff_ids[index]  # a plain tar is its own diff: one read, not two
                record = local.install_layer(
                    self.images,
                    path,
                    chain[:index],
                    compression=compression,
                    digest=digest,
                    diff_id=diff_ids[index],
                    max_bytes=self.limits.max_layer_size,
                    max_entries=self.limits.max_layer_entries,
                    parents_ready=lambda: parents_ready(index),
                )
                path.unlink()
            except BaseException:
                failed.set()
                raise
            else:
                return record
            finally:
                done[index].set()

        with ThreadPoolExecutor(self.limits.concurrency, thread_name_prefix="load") as pool:
            futures = [pool.submit(install, index) for index in range(len(names))]
            try:
                pending = set(futures)
                while pending:  # a timeout keeps the main thread responsive to Ctrl-C
                    _, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                    if failed.is_set():
                        break
            except BaseException:
                failed.set()
                raise
            finally:
                for future in futures:
                    future.cancel()
        # the lowest failing layer is the cause; those above it only stopped for it
        return [future.result() for future in futures]

    def _record(
        self, config_data: bytes, layers: Sequence[LayerRecord], names: Sequence[Reference]
    ) -> LoadedImage:
        image_id = _native.sha256(config_data)
        tags: Sequence[Reference | None] = names or [None]
        replaced = []
        for reference in tags:
            recorded = local.record_config(self.images, config_data, layers, reference)
            if reference is not None and recorded.previous is not None:
                replaced.append((reference.familiar, recorded.previous))
        familiar = tuple(reference.familiar for reference in names)
        return LoadedImage(image_id, familiar, tuple(replaced))


def _docker_entry(entry: object) -> tuple[str, list[str], list[Reference]]:
    if not isinstance(entry, dict):
        raise ArchiveError("invalid archive: an entry of manifest.json is not an object")
    config, layers, tags = entry.get("Config"), entry.get("Layers"), entry.get("RepoTags") or []
    if not isinstance(config, str) or not isinstance(layers, list) or not isinstance(tags, list):
        raise ArchiveError("invalid archive: an entry of manifest.json lacks Config or Layers")
    if not all(isinstance(layer, str) for layer in layers):
        raise ArchiveError("invalid archive: manifest.json names a layer by a non-string")
    try:
        references = [Reference.parse(str(tag)) for tag in tags]
    except HybridockError as error:
        raise ArchiveError(f"invalid archive: {error}") from None
    return config, layers, references


def _digest_of_name(name: str) -> str | None:
    """The digest a content-addressed member name states (``blobs/sha256/<hex>``)."""
    head, _, tail = _normalised(name).rpartition("/")
    return f"sha256:{tail}" if head.endswith("sha256") and _HEX.fullmatch(tail) else None


def _descriptor(descriptor: object) -> tuple[str, int, str]:
    if not isinstance(descriptor, dict):
        raise ArchiveError("invalid archive: a descriptor is not an object")
    digest, size = descriptor.get("digest"), descriptor.get("size")
    try:
        valid = validate_digest(str(digest)) if str(digest).startswith("sha256:") else None
    except HybridockError:
        valid = None
    if valid is None or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ArchiveError(f"invalid archive: bad descriptor {json.dumps(descriptor)[:200]}")
    return valid, size, str(descriptor.get("mediaType") or "")


def _diff_ids(config_data: bytes) -> list[str]:
    invalid = ArchiveError("invalid archive: an image config has no valid rootfs.diff_ids")
    try:
        diff_ids = json.loads(config_data)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError):
        raise invalid from None
    if not isinstance(diff_ids, list):
        raise invalid
    try:
        return [validate_digest(str(diff_id)) for diff_id in diff_ids]
    except HybridockError:
        raise invalid from None


def _oci_names(annotations: object) -> list[Reference]:
    """The image's name in an index entry: containerd's full name, or a ref.name that is a
    whole reference (podman's); a bare tag names no repository."""
    if not isinstance(annotations, dict):
        return []
    for key, whole in (
        ("io.containerd.image.name", False),
        ("org.opencontainers.image.ref.name", True),
    ):
        text = annotations.get(key)
        if not isinstance(text, str) or (whole and not ("/" in text or ":" in text)):
            continue
        with contextlib.suppress(HybridockError):
            return [Reference.parse(text)]
    return []
