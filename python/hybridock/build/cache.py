"""The build cache, content-addressed as BuildKit's: a step's key is the sha256 of its
parent's key, the instruction's canonical text after expansion, and the digests of what it
reads (COPY sources' content, the build-arg values in use, mounted sources, ``--from``
image ids), never a time. The ``build_cache`` table maps a key to the state after the step:
its top layer (the chain below is the layers' parents) and the image config; a hit runs
nothing. The layers an entry names stay through GC (store/images.py) until ``prune``.

``--cache-from``: an image built here with ``--build-arg BUILDKIT_INLINE_CACHE=1`` (BuildKit's
switch for its inline cache, which it keeps in the config's ``moby.buildkit.cache.v0``) keeps
its steps' keys in its image config under ``INLINE_KEY`` (beside the config section, so no
label shows it): ``[key, layers]`` pairs, ``layers`` the length of the chain after the step;
seeding records them against that image's layers (pulled or pushed with it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from hybridock import _native
from hybridock.store.images import ImageStore
from hybridock.store.layout import remove_tree

#: the image config's key that carries its step keys (our inline cache)
INLINE_KEY = "io.hybridock.build.cache.v0"
#: the directory under the store's root that holds RUN --mount=type=cache directories
CACHE_MOUNTS = "build-cache-mounts"


def step_key(parent: str, instruction: str, inputs: Iterable[str] = ()) -> str:
    """The key of a step over the state keyed ``parent``."""
    document = json.dumps([parent, instruction, sorted(inputs)], separators=(",", ":"))
    return _native.sha256(document.encode())


class CachedState(NamedTuple):
    chain_id: str | None  # the top layer, None for no layer
    document: dict[str, Any]  # the image config (config, history, ...) after the step


class BuildCache:
    def __init__(self, images: ImageStore, *, use: bool = True) -> None:
        self.images = images
        self.use = use  # False (--no-cache): nothing is found, results are still recorded

    def lookup(self, key: str) -> CachedState | None:
        """The state cached for ``key`` when its layers are all still in the store."""
        if not self.use:
            return None
        rows = self.images.db.query(
            "SELECT chain_id, config FROM build_cache WHERE key = ?", (key,)
        )
        if not rows:
            return None
        chain_id, config = rows[0]
        if chain_id is not None and not self.images.has_layer(chain_id):
            return None
        with self.images.db.write() as connection:
            connection.execute(
                "UPDATE build_cache SET last_used = ? WHERE key = ?", (time.time(), key)
            )
        return CachedState(chain_id, json.loads(config))

    def record(self, key: str, state: CachedState) -> None:
        now = time.time()
        with self.images.db.write() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO build_cache (key, chain_id, config, created_at,"
                " last_used) VALUES (?, ?, ?, ?, ?)",
                (key, state.chain_id, json.dumps(state.document), now, now),
            )

    def chain(self, chain_id: str | None) -> list[str]:
        """The chain ids from the base up to ``chain_id``."""
        chain: list[str] = []
        current = chain_id
        while current is not None:
            chain.append(current)
            rows = self.images.db.query("SELECT parent FROM layers WHERE chain_id = ?", (current,))
            current = rows[0][0] if rows else None
        return chain[::-1]

    def seed(self, image_id: str) -> int:
        """Record the step keys ``image_id`` carries (``--cache-from``); how many."""
        record = self.images.get(image_id)
        document = record.config
        steps = document.get(INLINE_KEY)
        if not isinstance(steps, list):
            return 0
        chain = list(record.chain_ids)
        seeded = 0
        for step in steps:
            if not (isinstance(step, list) and len(step) == 2):
                continue
            key, layers = step
            if not isinstance(key, str) or not isinstance(layers, int):
                continue
            if not 0 < layers <= len(chain):
                continue
            if not self.images.db.query("SELECT 1 FROM build_cache WHERE key = ?", (key,)):
                self.record(key, CachedState(chain[layers - 1], _partial(document, layers)))
                seeded += 1
        return seeded


def _partial(document: dict[str, Any], layers_kept: int) -> dict[str, Any]:
    """The image's config cut down to the history of its first ``layers_kept`` layers (its
    config section stays the final one, as BuildKit's inline cache has it)."""
    history: list[dict[str, Any]] = []
    for entry in document.get("history") or []:
        if not entry.get("empty_layer"):
            if layers_kept == 0:
                break
            layers_kept -= 1
        history.append(entry)
    cut = {k: v for k, v in document.items() if k not in ("rootfs", "history", INLINE_KEY)}
    cut["history"] = history
    return cut


def prune(images: ImageStore, *, everything: bool = False) -> int:
    """Drop cache entries (``everything``: all; else those no image's layers include), then
    the layers nothing else uses and the cache mounts; the bytes reclaimed."""
    layout = images.layout
    before = _stored_bytes(images)
    with images.db.write() as connection:
        if everything:
            connection.execute("DELETE FROM build_cache")
        else:
            connection.execute(
                "DELETE FROM build_cache WHERE chain_id IS NULL"
                " OR chain_id NOT IN (SELECT chain_id FROM image_layers)"
            )
    images.collect_garbage()
    reclaimed = before - _stored_bytes(images)
    mounts = layout.root / CACHE_MOUNTS
    if mounts.is_dir():
        reclaimed += _tree_bytes(mounts)
        remove_tree(mounts)
    return max(reclaimed, 0)


class CacheUsage(NamedTuple):
    """``system df``'s Build Cache row: the entries, those whose layer an image uses, and the
    bytes only the cache keeps (its layers no image has, its cache mounts)."""

    entries: int
    active: int
    size: int


def usage(images: ImageStore) -> CacheUsage:
    entries, active = images.db.query(
        "SELECT count(*), count(CASE WHEN chain_id IN (SELECT chain_id FROM image_layers)"
        " THEN 1 END) FROM build_cache"
    )[0]
    kept = images.db.query(
        "SELECT COALESCE(SUM(COALESCE(unpacked_size, size)), 0) FROM layers WHERE chain_id IN"
        " (SELECT chain_id FROM build_cache) AND chain_id NOT IN"
        " (SELECT chain_id FROM image_layers)"
    )[0][0]
    mounts = images.layout.root / CACHE_MOUNTS
    return CacheUsage(
        int(entries), int(active), int(kept) + (_tree_bytes(mounts) if mounts.is_dir() else 0)
    )


def _stored_bytes(images: ImageStore) -> int:
    rows = images.db.query("SELECT COALESCE(SUM(COALESCE(unpacked_size, size)), 0) FROM layers")
    return int(rows[0][0])


def _tree_bytes(root: Any) -> int:
    from hybridock.store.layout import tree_size  # noqa: PLC0415

    return tree_size(root)
