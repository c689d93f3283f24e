"""Where everything lives under the store root, and the atomic-write helpers.

Invariant: nothing becomes visible half-written. Files are written to a temp name in the same
directory, fsynced and renamed; directories are built under ``tmp/`` and renamed into place
when whole; the database row comes last.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from hybridock.errors import StoreError

DEFAULT_ROOT = Path("/var/lib/hybridock")


def default_root() -> Path:
    """The store root: $HYBRIDOCK_ROOT, else /var/lib/hybridock for root, else XDG data."""
    if env := os.environ.get("HYBRIDOCK_ROOT"):
        return Path(env)
    if os.geteuid() == 0:
        return DEFAULT_ROOT
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "hybridock"


def hex_of(digest: str) -> str:
    """The hex part of a validated ``sha256:<hex>`` digest (validation is the caller's)."""
    algorithm, _, hex_part = digest.partition(":")
    if algorithm != "sha256" or len(hex_part) != 64:
        raise StoreError(f"invalid digest {digest!r}")
    return hex_part


class Layout(NamedTuple):
    root: Path

    @property
    def blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def volumes(self) -> Path:
        """docker's layout: ``volumes/<name>/_data`` is what containers mount."""
        return self.root / "volumes"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def trash(self) -> Path:
        """Trees taken out of the store, being deleted in the background (see ``programs``)."""
        return self.root / "trash"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def seccomp_cache(self) -> Path:
        """Compiled seccomp programs, by a hash of their inputs (derived data: safe to drop)."""
        return self.root / "cache" / "seccomp"

    @property
    def database(self) -> Path:
        return self.root / "metadata.db"

    def blob(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def layer(self, chain_id: str) -> Path:
        return self.layers / hex_of(chain_id)

    def container(self, container_id: str) -> Path:
        return self.containers / container_id

    def ensure(self) -> None:
        try:
            for directory in (self.blobs, self.layers, self.containers, self.tmp, self.locks):
                directory.mkdir(parents=True, exist_ok=True)
            self.root.chmod(0o711)
        except OSError as error:
            raise StoreError(f"cannot create the store at {self.root}: {error.strerror}") from error

    @contextlib.contextmanager
    def temp_dir(self, prefix: str) -> Iterator[Path]:
        """A directory under tmp/ that is removed unless the body renamed it away."""
        import tempfile  # noqa: PLC0415 (only pulls need it; keep `run` start-up lean)

        path = Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-", dir=self.tmp))
        try:
            yield path
        finally:
            remove_tree(path)


def write_atomic(path: Path, data: bytes, mode: int = 0o644, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    ``durable=False`` skips the fsync, for files rewritten on every start (a container's /etc
    files, its exit record) where surviving a power loss does not matter.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(path)
    except OSError as error:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise StoreError(f"cannot write {path}: {error.strerror}") from error


def link_blob(source: Path, blob: Path) -> None:
    """Make ``source`` (a verified file under tmp/) the blob file ``blob``: a hard link, so
    the file appears whole; a blob already there is the same bytes (content-addressed)."""
    try:
        os.link(source, blob)
    except FileExistsError:
        pass
    except OSError as error:
        raise StoreError(f"cannot store blob {blob.name}: {error.strerror}") from error


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_tree(path: Path) -> None:
    """Remove a tree we created; missing is fine. Read-only dirs inside are made writable."""

    def make_writable_and_retry(
        function: Callable[[str], object], failed: str, _info: object
    ) -> None:
        with contextlib.suppress(OSError):
            Path(failed).parent.chmod(0o700)
        with contextlib.suppress(FileNotFoundError):
            function(failed)

    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        import shutil  # noqa: PLC0415 (imports bz2 and lzma: not on every command's path)

        shutil.rmtree(path, onerror=make_writable_and_retry)


def tree_size(root: str | Path) -> int:
    """docker's directory.Size: the apparent sizes of what is not a directory (a symlink's
    own length, also one to a directory), each inode once (a container's upper dir, a
    volume's data, a layer recorded before its size was)."""
    total, seen = 0, set()
    for directory, subdirectories, files in os.walk(root):
        # os.walk lists a symlink to a directory with the directories (and never enters it)
        for name in [*files, *subdirectories]:
            try:
                status = os.lstat(Path(directory) / name)
            except OSError:
                continue  # gone meanwhile
            if stat.S_ISDIR(status.st_mode):
                continue
            if (status.st_dev, status.st_ino) not in seen:
                seen.add((status.st_dev, status.st_ino))
                total += status.st_size
    return total
