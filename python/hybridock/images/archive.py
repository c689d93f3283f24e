"""``save``: images out as a tar archive that ``docker load``, podman and skopeo read.

One archive is both formats docker 25 writes: docker's ``manifest.json`` (and the legacy
``repositories``) naming files under ``blobs/sha256/``, and an OCI image layout (``oci-layout``,
``index.json``, a manifest per image) over the same blobs. Layer blobs go out as the store keeps
them (compressed when pulled or committed: docker's load decompresses what it reads), each once
however many images share it. The archive is streamed: headers are built here, blob bytes are
copied by the kernel (``os.sendfile``) when the output is a file or a pipe.

``oci-archive`` leaves out docker's two files; ``oci-dir`` writes the layout as a directory.
A file or directory is written next to its destination and renamed into place when whole.
Reading archives back is ``images/load.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol

from hybridock import _native
from hybridock.errors import ConfigError, ImageNotFound, InvalidReference, StoreError
from hybridock.images import local
from hybridock.reference import Reference, tag_given
from hybridock.registry import OCI_MANIFEST
from hybridock.store.images import ImageRecord, ImageStore

FORMATS = ("docker-archive", "oci-archive", "oci-dir")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
#: the annotations docker 25 and containerd name an image by in an index
IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
_BLOCK = 512
_COPY_CHUNK = 1 << 20


class SavedImage(NamedTuple):
    """An image to write, with the tags it is written under (none: named by id)."""

    image: ImageRecord
    tags: tuple[Reference, ...]


def images_to_save(images: ImageStore, names: Sequence[str]) -> list[SavedImage]:
    """docker's ``save`` names: ``NAME:TAG`` that tag, a bare ``NAME`` every tag of the
    repository, an id (or a digest reference) the image without tags."""
    chosen: dict[str, list[Reference]] = {}
    everything: list[ImageRecord] | None = None
    for name in names:
        try:
            parsed: Reference | None = Reference.parse(name)
        except InvalidReference:
            parsed = None
        if parsed is not None and not tag_given(name):
            everything = everything if everything is not None else images.all()
            tagged = [
                (image.id, reference)
                for image in everything
                for reference in map(Reference.parse, image.tags)
                if reference.name == parsed.name
            ]
            if tagged:
                for image_id, reference in tagged:
                    _add(chosen, image_id, reference)
                continue
        image_id = images.resolve(name)
        shown = parsed if parsed is not None and parsed.digest is None else None
        record = images.get(image_id)
        _add(chosen, image_id, shown if shown is not None and str(shown) in record.tags else None)
    return [SavedImage(images.get(image_id), tuple(tags)) for image_id, tags in chosen.items()]


def _add(chosen: dict[str, list[Reference]], image_id: str, reference: Reference | None) -> None:
    tags = chosen.setdefault(image_id, [])
    if reference is not None and reference not in tags:
        tags.append(reference)


class _Sink(Protocol):
    def add_bytes(self, name: str, data: bytes) -> None: ...
    def add_file(self, name: str, path: Path) -> None: ...


class TarSink:
    """Members appended to a tar stream: a PAX header built here, the bytes copied after it."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        try:
            self._fd: int | None = out.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None
        self._directories: set[str] = set()

    def _header(self, name: str, size: int, kind: bytes = tarfile.REGTYPE) -> None:
        parent = name.rstrip("/").rpartition("/")[0]
        if parent and parent not in self._directories:
            self._directories.add(parent)
            self._header(parent + "/", 0, tarfile.DIRTYPE)
        info = tarfile.TarInfo(name)
        info.size = size
        info.type = kind
        info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        info.mtime = 0
        self._out.write(info.tobuf(tarfile.PAX_FORMAT))

    def _pad(self, size: int) -> None:
        if size % _BLOCK:
            self._out.write(bytes(_BLOCK - size % _BLOCK))

    def add_bytes(self, name: str, data: bytes) -> None:
        self._header(name, len(data))
        self._out.write(data)
        self._pad(len(data))

    def add_file(self, name: str, path: Path) -> None:
        with _open_blob(path) as source:
            size = os.fstat(source.fileno()).st_size
            self._header(name, size)
            self._copy(source, size)
        self._pad(size)

    def _copy(self, source: BinaryIO, size: int) -> None:
        left = size
        if self._fd is not None:
            self._out.flush()
            with contextlib.suppress(OSError):
                while left:
                    sent = os.sendfile(self._fd, source.fileno(), size - left, left)
                    if not sent:
                        break
                    left -= sent
        source.seek(size - left)
        while left:
            chunk = source.read(min(left, _COPY_CHUNK))
            if not chunk:
                raise StoreError(f"blob {source.name} shrank while it was saved")
            self._out.write(chunk)
            left -= len(chunk)

    def close(self) -> None:
        self._out.write(bytes(2 * _BLOCK))
        self._out.flush()


class DirectorySink:
    """Members written as files under a directory (``oci-dir``)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def add_bytes(self, name: str, data: bytes) -> None:
        path = self._root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def add_file(self, name: str, path: Path) -> None:
        target = self._root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with _open_blob(path):
            pass
        shutil.copyfile(path, target)


@contextlib.contextmanager
def _open_blob(path: Path) -> Iterator[BinaryIO]:
    try:
        file = path.open("rb")
    except OSError as error:
        raise StoreError(f"cannot read blob {path.name}: {error.strerror}") from error
    with file:
        yield file


def blob_name(digest: str) -> str:
    """Where an OCI layout (and docker 25's archive) keeps a blob."""
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def write_images(
    images: ImageStore, saved: Sequence[SavedImage], sink: _Sink, *, docker: bool
) -> None:
    """The archive's members: blobs first (each once), then the layout's documents."""
    written: set[str] = set()
    index: list[dict[str, object]] = []
    entries: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}

    def blob(digest: str, path: Path | None = None, data: bytes | None = None) -> None:
        if digest in written:
            return
        written.add(digest)
        if data is not None:
            sink.add_bytes(blob_name(digest), data)
        else:
            assert path is not None  # noqa: S101 - one of the two is given
            sink.add_file(blob_name(digest), path)

    for image, tags in saved:
        layers = images.layers_of(image.id)
        descriptors = []
        for layer in layers:
            path = images.layout.blob(layer.digest) if layer.digest else None
            if path is None or not path.is_file():
                raise StoreError(
                    f"layer {layer.diff_id} of image {image.id} has no blob in the store:"
                    " pull the image again to save it"
                )
            blob(str(layer.digest), path=path)
            descriptors.append(local.layer_blob(layer)._replace(size=path.stat().st_size))
        config_path = images.layout.blob(image.id)
        config = config_path.read_bytes() if config_path.is_file() else None
        if config is None:
            raise ImageNotFound(f"the config of image {image.id} is not in the store")
        blob(image.id, data=config)
        _, manifest = local.manifest_for(config, descriptors, oci=True)
        manifest_digest = _native.sha256(manifest)
        blob(manifest_digest, data=manifest)
        descriptor = {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest)}
        for tag in tags:
            annotations = {IMAGE_NAME_ANNOTATION: str(tag), REF_NAME_ANNOTATION: tag.tag or ""}
            index.append({**descriptor, "annotations": annotations})
            if layers and layers[-1].digest is not None:
                top = layers[-1].digest.removeprefix("sha256:")
                repositories.setdefault(tag.familiar_name, {})[tag.tag or "latest"] = top
        if not tags:
            index.append(descriptor)
        entries.append(
            {
                "Config": blob_name(image.id),
                "RepoTags": [tag.familiar for tag in tags] or None,
                "Layers": [blob_name(str(layer.digest)) for layer in layers],
            }
        )
    sink.add_bytes("oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
    sink.add_bytes(
        "index.json", _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index})
    )
    if docker:
        sink.add_bytes("manifest.json", _json(entries))
        if repositories:
            sink.add_bytes("repositories", _json(repositories))


def save(
    images: ImageStore,
    names: Sequence[str],
    out: BinaryIO | str | Path,
    *,
    format: str = "docker-archive",
) -> list[str]:
    """Write the images ``names`` to ``out``: a stream, or a path (written beside it and
    renamed when whole: an interrupted save leaves no file); returns the images' ids."""
    if format not in FORMATS:
        raise ConfigError(f"unsupported format {format!r}: want one of {', '.join(FORMATS)}")
    saved = images_to_save(images, names)
    if format == "oci-dir":
        if not isinstance(out, str | Path):
            raise StoreError("oci-dir writes a directory: give its path")
        with _replacing(Path(out), directory=True) as temp:
            write_images(images, saved, DirectorySink(temp), docker=False)
        return [image.id for image, _ in saved]
    docker = format == "docker-archive"
    if isinstance(out, str | Path):
        with _replacing(Path(out), directory=False) as temp, temp.open("wb") as file:
            sink = TarSink(file)
            write_images(images, saved, sink, docker=docker)
            sink.close()
            os.fsync(file.fileno())
        return [image.id for image, _ in saved]
    sink = TarSink(out)
    write_images(images, saved, sink, docker=docker)
    sink.close()
    return [image.id for image, _ in saved]


@contextlib.contextmanager
def _replacing(target: Path, *, directory: bool) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed over it once the body is done."""
    parent = target.absolute().parent
    if not parent.is_dir():
        raise StoreError(f'invalid output path: directory "{parent}" does not exist')
    try:
        if directory:
            temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
        else:
            descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
            os.close(descriptor)
            temp = Path(name)
    except OSError as error:
        raise StoreError(f"failed to save image: {error.strerror}: {parent}") from error
    try:
        yield temp
        if directory and target.is_dir():
            shutil.rmtree(target)
        temp.replace(target)
    except BaseException:
        if directory:
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)
        raise
