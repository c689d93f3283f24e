"""Images in the local store: records, lookups by name / id / digest, removal and pruning.

An image is identified by its config digest (docker's image ID). Tags and repository digests
point at images; image_layers lists each image's full layer chain, so a layer is in use exactly
while some image_layers row names it. Removal deletes rows first (one transaction) and files
after, so a crash in between leaves only unreferenced files, which ``prune`` reclaims.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from hybridock.errors import ImageInUse, ImageNotFound, InvalidReference
from hybridock.reference import Reference
from hybridock.store import locks
from hybridock.store.db import Database
from hybridock.store.layout import Layout, tree_size
from hybridock.store.programs import discard


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """OCI chain ids: ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n))."""
    import hashlib  # noqa: PLC0415 - a pull of a cached image computes no chain id

    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            joined = f"{chain[-1]} {diff_id}".encode()
            chain.append("sha256:" + hashlib.sha256(joined).hexdigest())
    return chain


class LayerRecord(NamedTuple):
    chain_id: str
    diff_id: str
    parent: str | None
    digest: str | None
    media_type: str | None
    compressed_size: int
    size: int  # uncompressed tar bytes
    unpacked_size: int  # docker's directory.Size of the extracted tree: what docker shows


#: a layers row as LayerRecord's fields, in order
_LAYER_COLUMNS = (
    "chain_id, diff_id, parent, digest, media_type, compressed_size, size,"
    " COALESCE(unpacked_size, 0)"
)


class ImageRecord(NamedTuple):
    id: str
    config: dict[str, Any]
    manifest_digest: str
    created: str | None
    os: str | None
    architecture: str | None
    variant: str | None
    size: int  # its layers' unpacked sizes: docker's image Size
    pulled: float
    tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    chain_ids: tuple[str, ...] = ()


class NewImage(NamedTuple):
    """Everything a finished pull (or a local commit, load, import) records for one image, in
    one transaction. ``top_digest`` is what the reference resolved to in its registry: None for
    an image made here, which has no repository digest until it is pushed."""

    id: str
    config_json: str
    manifest_digest: str
    top_digest: str | None
    reference: Reference | None
    chain_ids: Sequence[str]
    size: int
    blobs: Sequence[tuple[str, int]] = ()


class PushRecord(NamedTuple):
    """What a finished push records: the repository digest, the tag's digest, and what the push
    made of the image locally (a manifest naming the blobs the store has, compressed layers)."""

    image_id: str
    reference: Reference  # the repository and tag pushed
    manifest_digest: str
    manifest_size: int
    new_manifest: bool  # the image's manifest is now this one
    layer_blobs: Sequence[tuple[str, str, str, int]] = ()  # chain id, digest, media type, size


class RemovalReport(NamedTuple):
    """What an rmi or prune did, filled in as it goes (``RemovalReport([], [])``)."""

    untagged: list[str]
    deleted: list[str]
    reclaimed: int = 0  # the bytes of the layers that went (a prune's)


class ImageStore:
    def __init__(self, layout: Layout, database: Database) -> None:
        self.layout = layout
        self.db = database

    # --- layers -----------------------------------------------------------------------------

    def has_layer(self, chain_id: str) -> bool:
        rows = self.db.query("SELECT 1 FROM layers WHERE chain_id = ?", (chain_id,))
        return bool(rows) and self.layout.layer(chain_id).is_dir()

    def record_layer(self, layer: LayerRecord) -> None:
        with self.db.write() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO layers (chain_id, diff_id, parent, digest, media_type,"
                " compressed_size, size, created, unpacked_size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    layer.chain_id,
                    layer.diff_id,
                    layer.parent,
                    layer.digest,
                    layer.media_type,
                    layer.compressed_size,
                    layer.size,
                    time.time(),
                    layer.unpacked_size,
                ),
            )

    def layer_records(self, chain_ids: Iterable[str]) -> dict[str, LayerRecord]:
        """The recorded layers among ``chain_ids``, by chain id."""
        chains = tuple(set(chain_ids))
        if not chains:
            return {}
        marks = ",".join("?" * len(chains))
        query = f"SELECT {_LAYER_COLUMNS} FROM layers WHERE chain_id IN ({marks})"  # noqa: S608
        rows = self.db.query(query, chains)
        return {row[0]: LayerRecord(*row) for row in rows}

    def unpacked_sizes(self, chain_ids: Iterable[str]) -> dict[str, int]:
        """Each layer's recorded unpacked size (docker's directory.Size of its tree), by chain
        id; a layer without a row counts 0."""
        chains = tuple(set(chain_ids))
        if not chains:
            return {}
        self._measure_older_layers()
        marks = ",".join("?" * len(chains))
        rows = self.db.query(
            f"SELECT chain_id, unpacked_size FROM layers WHERE chain_id IN ({marks})",  # noqa: S608
            chains,
        )
        found = {row[0]: int(row[1] or 0) for row in rows}
        return {chain: found.get(chain, 0) for chain in chains}

    def _measure_older_layers(self) -> None:
        """Layers recorded before schema 5 have no unpacked size: measure each tree once and
        record it, and the sizes of the images made of them (one cheap query when none is
        left)."""
        rows = self.db.query("SELECT chain_id FROM layers WHERE unpacked_size IS NULL")
        if not rows:
            return
        measured = [(tree_size(self.layout.layer(row[0])), row[0]) for row in rows]
        with self.db.write() as connection:
            connection.executemany(
                "UPDATE layers SET unpacked_size = ? WHERE chain_id = ? AND unpacked_size IS NULL",
                measured,
            )
            connection.execute(
                "UPDATE images SET size = (SELECT COALESCE(SUM(layers.unpacked_size), 0)"
                " FROM image_layers JOIN layers USING (chain_id)"
                " WHERE image_layers.image_id = images.id)"
            )

    # --- images -----------------------------------------------------------------------------

    def record_image(self, image: NewImage) -> str | None:
        """Record a pulled image and point its tag at it; returns the image the tag left."""
        config = json.loads(image.config_json)
        reference = image.reference
        now = time.time()
        with self.db.write() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO images (id, config, manifest_digest, created, os,"
                " architecture, variant, size, pulled) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    image.id,
                    image.config_json,
                    image.manifest_digest,
                    config.get("created"),
                    config.get("os"),
                    config.get("architecture"),
                    config.get("variant"),
                    image.size,
                    now,
                ),
            )
            # pulled again after an rmi -f that a container outlived: it is back
            connection.execute("DELETE FROM removed_images WHERE image_id = ?", (image.id,))
            connection.executemany(
                "INSERT OR IGNORE INTO image_layers (image_id, position, chain_id)"
                " VALUES (?, ?, ?)",
                [(image.id, position, chain) for position, chain in enumerate(image.chain_ids)],
            )
            connection.executemany(
                "INSERT OR IGNORE INTO blobs (digest, image_id, size) VALUES (?, ?, ?)",
                [(digest, image.id, size) for digest, size in image.blobs],
            )
            if reference is not None and image.top_digest is not None:
                connection.execute(
                    "INSERT OR REPLACE INTO repo_digests (repository, digest, image_id)"
                    " VALUES (?, ?, ?)",
                    (reference.name, image.top_digest, image.id),
                )
            previous = None
            if reference is not None and reference.tag is not None and reference.digest is None:
                row = connection.execute(
                    "SELECT image_id FROM tags WHERE name = ?", (str(reference),)
                ).fetchone()
                previous = row[0] if row and row[0] != image.id else None
                connection.execute(
                    "INSERT OR REPLACE INTO tags (name, image_id, digest) VALUES (?, ?, ?)",
                    (str(reference), image.id, image.top_digest or image.manifest_digest),
                )
        return previous

    def tag(self, image_id: str, reference: Reference) -> str | None:
        """Point the tag ``reference`` at the image (docker tag); returns the image it left.
        A local tag records the image's manifest digest as what it resolves to."""
        if reference.digest is not None or reference.tag is None:
            raise InvalidReference("refusing to create a tag with a digest reference")
        with self.db.write() as connection:
            row = connection.execute(
                "SELECT manifest_digest FROM images WHERE id = ?", (image_id,)
            ).fetchone()
            if row is None:
                raise ImageNotFound(f"No such image: {image_id}")
            previous = connection.execute(
                "SELECT image_id FROM tags WHERE name = ?", (str(reference),)
            ).fetchone()
            connection.execute(
                "INSERT OR REPLACE INTO tags (name, image_id, digest) VALUES (?, ?, ?)",
                (str(reference), image_id, row[0]),
            )
        return previous[0] if previous and previous[0] != image_id else None

    def tags(self) -> list[tuple[str, str]]:
        """Every tag (full name) and the image it names, by name."""
        rows = self.db.query("SELECT name, image_id FROM tags ORDER BY name")
        return [(row[0], row[1]) for row in rows]

    def repositories_sharing_layers(self, image_id: str) -> list[str]:
        """The repositories (``registry/name``) the image was pulled from or pushed to, then
        those of the images with a layer in common with it, each once."""
        rows = self.db.query(
            "SELECT repository, MIN(image_id != ?) AS other FROM repo_digests"
            " WHERE image_id IN (SELECT DISTINCT image_id FROM image_layers WHERE chain_id IN"
            " (SELECT chain_id FROM image_layers WHERE image_id = ?)) OR image_id = ?"
            " GROUP BY repository ORDER BY other, repository",
            (image_id, image_id, image_id),
        )
        return [row[0] for row in rows]

    def layers_of(self, image_id: str) -> list[LayerRecord]:
        """The image's layers, base first, as recorded."""
        rows = self.db.query(
            f"SELECT {_LAYER_COLUMNS} FROM image_layers JOIN layers USING (chain_id)"  # noqa: S608
            " WHERE image_layers.image_id = ? ORDER BY image_layers.position",
            (image_id,),
        )
        return [LayerRecord(*row) for row in rows]

    def record_push(self, pushed: PushRecord) -> None:
        """Record a finished push: ``images --digests`` shows the repository digest."""
        reference = pushed.reference
        with self.db.write() as connection:
            for chain_id, digest, media_type, size in pushed.layer_blobs:
                connection.execute(
                    "UPDATE layers SET digest = ?, media_type = ?, compressed_size = ?"
                    " WHERE chain_id = ?",
                    (digest, media_type, size, chain_id),
                )
            if pushed.new_manifest:
                connection.execute(
                    "INSERT OR IGNORE INTO blobs (digest, image_id, size) VALUES (?, ?, ?)",
                    (pushed.manifest_digest, pushed.image_id, pushed.manifest_size),
                )
                connection.execute(
                    "UPDATE images SET manifest_digest = ? WHERE id = ?",
                    (pushed.manifest_digest, pushed.image_id),
                )
            connection.execute(
                "INSERT OR REPLACE INTO repo_digests (repository, digest, image_id)"
                " VALUES (?, ?, ?)",
                (reference.name, pushed.manifest_digest, pushed.image_id),
            )
            connection.execute(
                "UPDATE tags SET digest = ? WHERE name = ? AND image_id = ?",
                (pushed.manifest_digest, str(reference), pushed.image_id),
            )

    def tag_digest(self, reference: Reference) -> tuple[str, str] | None:
        """(image id, digest the tag resolved to) of a locally known tag or digest."""
        if reference.digest is not None:
            rows = self.db.query(
                "SELECT image_id, digest FROM repo_digests WHERE repository = ? AND digest = ?",
                (reference.name, reference.digest),
            )
        else:
            rows = self.db.query(
                "SELECT image_id, digest FROM tags WHERE name = ?", (str(reference),)
            )
        return (rows[0][0], rows[0][1]) if rows else None

    def resolve(self, text: str) -> str:
        """The image id that ``text`` names: a reference, a full id or a unique id prefix."""
        candidate = text.removeprefix("sha256:")
        if 1 <= len(candidate) <= 64 and all(c in "0123456789abcdef" for c in candidate):
            rows = self.db.query(
                "SELECT id FROM images WHERE id LIKE ? AND id NOT IN"
                " (SELECT image_id FROM removed_images)",
                (f"sha256:{candidate}%",),
            )
            if len(rows) == 1:
                return str(rows[0][0])
            if len(rows) > 1 and len(candidate) < 64:
                raise ImageNotFound(f"multiple images match the id prefix {text}")
        try:
            reference = Reference.parse(text)
        except InvalidReference:
            raise ImageNotFound(f"No such image: {_as_docker_reads(text)}") from None
        found = self.tag_digest(reference)
        if found is None:
            raise ImageNotFound(f"No such image: {_as_docker_reads(text)}")
        return found[0]

    def get(self, image_id: str) -> ImageRecord:
        self._measure_older_layers()
        rows = self.db.query("SELECT * FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise ImageNotFound(f"No such image: {image_id}")
        return self._record(rows[0])

    def all(self) -> list[ImageRecord]:
        self._measure_older_layers()
        rows = self.db.query(
            "SELECT * FROM images WHERE id NOT IN (SELECT image_id FROM removed_images)"
            " ORDER BY pulled DESC"
        )
        return [self._record(row) for row in rows]

    def _record(self, row: sqlite3.Row) -> ImageRecord:
        image_id = row["id"]
        tags = self.db.query("SELECT name FROM tags WHERE image_id = ? ORDER BY name", (image_id,))
        digests = self.db.query(
            "SELECT repository, digest FROM repo_digests WHERE image_id = ? ORDER BY repository",
            (image_id,),
        )
        chain = self.db.query(
            "SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position", (image_id,)
        )
        return ImageRecord(
            id=image_id,
            config=json.loads(row["config"]),
            manifest_digest=row["manifest_digest"],
            created=row["created"],
            os=row["os"],
            architecture=row["architecture"],
            variant=row["variant"],
            size=row["size"],
            pulled=row["pulled"],
            tags=tuple(r[0] for r in tags),
            repo_digests=tuple(f"{r[0]}@{r[1]}" for r in digests),
            chain_ids=tuple(r[0] for r in chain),
        )

    def layer_dirs(self, image_id: str) -> list[str]:
        """The image's extracted layer dirs, top-most first (overlayfs lowerdir order)."""
        record = self.get(image_id)
        return [str(self.layout.layer(chain)) for chain in reversed(record.chain_ids)]

    # --- removal ----------------------------------------------------------------------------

    def remove(self, text: str, *, force: bool = False) -> RemovalReport:
        """docker rmi (moby's ImageDelete): a name is untagged, and the image deleted when it
        was the last name; an id deletes the image. Conflicts as docker's: hard (a running
        container) stop even -f, soft (a stopped container, other names) need it."""
        report = RemovalReport([], [])
        image_id = self.resolve(text)
        with self.db.write() as connection:
            references = _references(connection, image_id)
            users = connection.execute(
                "SELECT id, state = 'running' FROM containers WHERE image_id = ? ORDER BY created",
                (image_id,),
            ).fetchall()
            quiet = False
            if not _looks_like_id(text, image_id):
                if users and not force and _single_reference(references):
                    # untagged, the image would dangle under its container: docker asks for -f
                    raise ImageInUse(
                        f'conflict: unable to remove repository reference "{text}" (must force)'
                        f" - container {users[0][0][:12]} is using its referenced image"
                        f" {_short(image_id)}"
                    )
                named = Reference.parse(text)
                _untag(connection, named, report)
                references = [r for r in references if r != named]
                if named.digest is None and not any(
                    r.digest is None and r.name == named.name for r in references
                ):
                    # the repository's last tag went: its digests go with it
                    for reference in [r for r in references if r.name == named.name]:
                        _untag(connection, reference, report)
                        references.remove(reference)
                if references:
                    return report
                quiet = True  # the name was the last: the image goes too, unless it is used
            elif _single_reference(references):
                conflict = _conflict(image_id, users, references, force=force, names=False)
                if conflict is not None:
                    raise ImageInUse(conflict)
                for reference in references:
                    _untag(connection, reference, report)
                references = []
            conflict = _conflict(image_id, users, references, force=force, names=not force)
            if conflict is not None:
                if quiet:
                    return report  # left dangling for the container that uses it
                raise ImageInUse(conflict)
            for reference in references:
                _untag(connection, reference, report)
            report.deleted.append(image_id)
            if users:
                # docker deletes the image; its stopped containers keep their layers: the rows
                # stay, hidden, until the last of them is removed (``release``)
                connection.execute(
                    "INSERT OR IGNORE INTO removed_images (image_id) VALUES (?)", (image_id,)
                )
                return report
            report.deleted.extend(self._delete_image_rows(connection, image_id))
        self.collect_garbage()
        return report

    def release(self, image_id: str) -> None:
        """A container of ``image_id`` was removed: an image ``rmi`` deleted under it goes now
        if no other container uses it."""
        with self.db.write() as connection:
            gone = connection.execute(
                "SELECT 1 FROM removed_images WHERE image_id = ? AND NOT EXISTS"
                " (SELECT 1 FROM containers WHERE image_id = ?)",
                (image_id, image_id),
            ).fetchone()
            if gone is None:
                return
            self._delete_image_rows(connection, image_id)
        self.collect_garbage()

    def _delete_image_rows(self, connection: sqlite3.Connection, image_id: str) -> list[str]:
        chain = [
            r[0]
            for r in connection.execute(
                "SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position DESC",
                (image_id,),
            )
        ]
        connection.execute("DELETE FROM tags WHERE image_id = ?", (image_id,))
        connection.execute("DELETE FROM images WHERE id = ?", (image_id,))  # cascades
        freed = []
        cached = {row[0] for row in connection.execute(_CACHED_LAYERS)}
        for chain_id in chain:
            used = connection.execute(
                "SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1", (chain_id,)
            ).fetchone()
            if used is None and chain_id not in cached:
                connection.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))
                freed.append(chain_id)
        return freed

    def prune(self, *, dangling_only: bool = True) -> RemovalReport:
        """docker image prune: images with no tag (or, with -a, every unused image)."""
        report = RemovalReport([], [])
        sql = "SELECT id FROM images WHERE id NOT IN (SELECT image_id FROM containers)"
        if dangling_only:
            sql += " AND id NOT IN (SELECT image_id FROM tags)"
        with self.db.write() as connection:
            for (image_id,) in connection.execute(sql).fetchall():
                for tag in connection.execute(
                    "SELECT name FROM tags WHERE image_id = ?", (image_id,)
                ).fetchall():
                    report.untagged.append(Reference.parse(tag[0]).familiar)
                report.deleted.append(image_id)
                report.deleted.extend(self._delete_image_rows(connection, image_id))
        self.collect_garbage()
        return report

    def collect_garbage(self) -> int:
        """Remove layers no image uses, and layer dirs and blobs no row references; returns
        how many files or trees went."""
        with locks.exclusive(self.layout.locks, locks.GC):
            return self._collect_garbage()

    def collect_garbage_if_idle(self) -> int:
        """``collect_garbage`` when no pull is running (one that is would wait on it)."""
        with locks.try_exclusive(self.layout.locks, locks.GC) as idle:
            return self._collect_garbage() if idle else 0

    def _collect_garbage(self) -> int:
        # Only under the exclusive gc lock: no pull or build is between recording a layer and
        # the image or cache entry that uses it, so a layer row neither names is garbage.
        with self.db.write() as connection:
            connection.execute(_DELETE_UNUSED_LAYERS)
        known_layers = {r[0].split(":", 1)[1] for r in self.db.query("SELECT chain_id FROM layers")}
        layer_blobs = {
            r[0].split(":", 1)[1]
            for r in self.db.query("SELECT digest FROM layers WHERE digest IS NOT NULL")
        }
        other_blobs = {
            r[0].split(":", 1)[1]
            for r in self.db.query("SELECT digest FROM blobs WHERE image_id IS NOT NULL")
        }
        garbage = [path for path in self.layout.layers.iterdir() if path.name not in known_layers]
        removed = len(garbage)
        self.db.query("DELETE FROM blobs WHERE image_id IS NULL")
        for path in self.layout.blobs.iterdir():
            if path.name not in layer_blobs and path.name not in other_blobs:
                path.unlink(missing_ok=True)
                removed += 1
        # Work trees of pulls that were killed: a pull holds the gc lock shared while its
        # tree exists, so under the exclusive lock every one of them is abandoned.
        abandoned = list(self.layout.tmp.glob("layer-*"))
        discard(self.layout, *garbage, *abandoned)
        return removed + len(abandoned)


#: the layers the build cache names, with the layers below them
_CACHED_LAYERS = """
WITH RECURSIVE kept(chain_id) AS (
    SELECT chain_id FROM build_cache WHERE chain_id IS NOT NULL
    UNION SELECT layers.parent FROM layers JOIN kept ON layers.chain_id = kept.chain_id
    WHERE layers.parent IS NOT NULL
)
SELECT chain_id FROM kept
"""
#: layers no image uses and the build cache does not keep
_DELETE_UNUSED_LAYERS = """
WITH RECURSIVE kept(chain_id) AS (
    SELECT chain_id FROM build_cache WHERE chain_id IS NOT NULL
    UNION SELECT layers.parent FROM layers JOIN kept ON layers.chain_id = kept.chain_id
    WHERE layers.parent IS NOT NULL
)
DELETE FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)
AND chain_id NOT IN (SELECT chain_id FROM kept)
"""


def _as_docker_reads(text: str) -> str:
    """How docker names a missing image (ErrImageDoesNotExist): a full id as a digest, else the
    reference, familiar and with the default tag (``no-such-image:latest``)."""
    candidate = text.removeprefix("sha256:")
    if len(candidate) == 64 and all(c in "0123456789abcdef" for c in candidate):
        return f"sha256:{candidate}"
    try:
        return Reference.parse(text).familiar
    except InvalidReference:
        return text


def _references(connection: sqlite3.Connection, image_id: str) -> list[Reference]:
    """The image's tags and digests, in docker's order (lexical, full names)."""
    names = [
        r[0] for r in connection.execute("SELECT name FROM tags WHERE image_id = ?", (image_id,))
    ]
    names += [
        f"{r[0]}@{r[1]}"
        for r in connection.execute(
            "SELECT repository, digest FROM repo_digests WHERE image_id = ?", (image_id,)
        )
    ]
    return [Reference.parse(name) for name in sorted(names)]


def _untag(connection: sqlite3.Connection, reference: Reference, report: RemovalReport) -> None:
    if reference.digest is not None:
        connection.execute(
            "DELETE FROM repo_digests WHERE repository = ? AND digest = ?",
            (reference.name, reference.digest),
        )
        report.untagged.append(f"{reference.familiar_name}@{reference.digest}")
    else:
        connection.execute("DELETE FROM tags WHERE name = ?", (str(reference),))
        report.untagged.append(reference.familiar)


def _single_reference(references: Sequence[Reference]) -> bool:
    """moby's isSingleReference: at most one tag, and every name in one repository."""
    tags = [r for r in references if r.digest is None]
    return bool(references) and len(tags) <= 1 and len({r.name for r in references}) == 1


def _conflict(
    image_id: str,
    users: Sequence[Sequence[Any]],
    references: Sequence[Reference],
    *,
    force: bool,
    names: bool,
) -> str | None:
    """moby's checkImageDeleteConflict: a running container (hard), then other names (when
    ``names``), then a stopped container (unless ``force``)."""
    short = _short(image_id)
    running = [user[0] for user in users if user[1]]
    if running:
        return (
            f"conflict: unable to delete {short} (cannot be forced) - image is being used by"
            f" running container {running[0][:12]}"
        )
    if names and references:
        return (
            f"conflict: unable to delete {short} (must be forced) - image is referenced in"
            " multiple repositories"
        )
    if users and not force:
        return (
            f"conflict: unable to delete {short} (must be forced) - image is being used by"
            f" stopped container {users[0][0][:12]}"
        )
    return None


def _looks_like_id(text: str, image_id: str) -> bool:
    candidate = text.removeprefix("sha256:")
    return image_id.removeprefix("sha256:").startswith(candidate) and all(
        c in "0123456789abcdef" for c in candidate
    )


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]
