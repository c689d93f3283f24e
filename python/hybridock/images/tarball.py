"""``import``: a filesystem tarball (a file, a stream, an http(s) URL; plain, gzip or zstd)
becomes a one-layer image, its config as docker's import writes it (the host's platform or
``--platform``, ``created`` now, one history entry with the message, ``-c`` changes applied).
The tarball is verified and extracted by the same native pipeline as every layer.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from hybridock.errors import ArchiveError, LayerLimitExceeded, StoreError, os_words
from hybridock.images import local
from hybridock.images.changes import apply_changes
from hybridock.images.load import NO_LIMITS, Limits
from hybridock.reference import Reference
from hybridock.registry.platform import host_platform, parse_platform
from hybridock.store.images import ImageStore

_COPY_CHUNK = 1 << 20


def import_tarball(
    images: ImageStore,
    source: BinaryIO | str | Path,
    reference: Reference | None = None,
    *,
    changes: Sequence[str] = (),
    message: str | None = None,
    platform: str | None = None,
    origin: str = "-",
    limits: Limits = NO_LIMITS,
) -> str:
    """docker's ``import``: the filesystem tarball ``source`` (a path, a stream, an http(s)
    URL; gzip or zstd or plain) as a one-layer image; returns its id."""
    wanted = parse_platform(platform) if platform else host_platform()
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    config = apply_changes({"config": {}}, changes)
    comment = message or f"Imported from {origin}"
    with local.building(images), images.layout.temp_dir("import") as work:
        blob = work / "layer"
        _fetch(source, blob, limits.max_layer_size)
        layer = local.install_layer(
            images,
            blob,
            [],
            max_bytes=limits.max_layer_size,
            max_entries=limits.max_layer_entries,
        )
        document: dict[str, Any] = {
            "architecture": wanted.architecture,
            "comment": comment,
            "config": config.get("config") or {},
            "created": created,
            "history": [{"created": created, "comment": comment}],
            "os": wanted.os,
        }
        if wanted.variant:
            document["variant"] = wanted.variant
        return local.record_image(images, document, [layer], reference).id


def _fetch(source: BinaryIO | str | Path, target: Path, limit: int | None) -> None:
    """The tarball into ``target``: a URL fetched (at most ``limit`` bytes), a path copied, a
    stream read to its end."""
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310 - http(s) only
                _copy(response, target, limit)
        except urllib.error.HTTPError as error:
            raise ArchiveError(
                f"failed to GET {source} with status {error.code} {error.reason}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            words = os_words(reason) if isinstance(reason, OSError) else reason
            raise ArchiveError(f'Get "{source}": {words}') from None
        return
    if isinstance(source, str | Path):
        try:
            shutil.copyfile(source, target)
        except OSError as error:
            raise StoreError(f"open {source}: {os_words(error)}") from None
        return
    _copy(source, target, limit)


def _copy(source: BinaryIO, target: Path, limit: int | None) -> None:
    with target.open("xb") as out:
        while chunk := source.read(_COPY_CHUNK):
            out.write(chunk)
            if limit is not None and out.tell() > limit:
                raise LayerLimitExceeded(f"the tarball is larger than {limit} bytes")
