"""Type stubs of the native extension (kept honest by mypy.stubtest)."""

from typing import Self, final

__version__: str
__all__ = [
    "LayerResult",
    "LayerSink",
    "__version__",
    "extract_blob",
    "init_executable",
    "monitor_executable",
    "sha256_file",
]

@final
class LayerResult:
    """What one pass of the layer pipeline saw; both digests are already verified."""

    @property
    def digest(self) -> str: ...
    @property
    def diff_id(self) -> str: ...
    @property
    def compressed_size(self) -> int: ...
    @property
    def uncompressed_size(self) -> int: ...
    @property
    def entries(self) -> int: ...

@final
class LayerSink:
    """A streaming layer pipeline: bytes written in, an extracted tree out.

    A Rust thread reads what ``write`` hands over (a bounded queue), hashes the compressed
    stream, optionally tees it to ``blob_path``, decompresses (``compression``: "gzip", "zstd"
    or "none"), hashes the tar stream (diff_id) and extracts it under ``dest`` (a fresh
    directory) with OCI whiteouts written in overlayfs format. ``lower_dirs`` (nearest parent
    first) are the extracted parent layers, for hardlinks to files of lower layers.
    ``finish`` verifies both digests and returns the result; on any error nothing under
    ``dest`` or ``blob_path`` may be used (the caller removes them; the pipeline already
    deletes the blob copy and empties ``dest``). ``sync`` (default True) flushes the tree with
    one ``syncfs`` and fsyncs the blob before ``finish`` returns, so that the caller's rename of
    ``dest`` is durable; pass False only for throwaway trees (tests, benchmarks).
    Without root, device nodes are skipped and whiteouts use overlayfs' ``userxattr`` format.
    A write after the worker failed raises the worker's error; Ctrl-C in ``finish`` aborts.
    """

    def __new__(
        cls,
        dest: str,
        compression: str,
        expected_digest: str,
        expected_diff_id: str | None = None,
        *,
        lower_dirs: list[str] | None = None,
        blob_path: str | None = None,
        max_bytes: int | None = None,
        max_entries: int | None = None,
        sync: bool = True,
    ) -> Self: ...
    def write(self, data: bytes) -> None: ...
    def finish(self) -> LayerResult: ...
    def abort(self) -> None: ...

def extract_blob(
    blob_path: str,
    dest: str,
    compression: str,
    expected_digest: str,
    expected_diff_id: str | None = None,
    *,
    lower_dirs: list[str] | None = None,
    max_bytes: int | None = None,
    max_entries: int | None = None,
    sync: bool = True,
) -> LayerResult:
    """The same pipeline fed from a stored blob file."""

def sha256_file(path: str) -> str:
    """``sha256:<hex>`` of a file's bytes."""

def monitor_executable() -> bytes:
    """The per-container monitor program, to be installed once into the store."""

def init_executable() -> bytes:
    """The static ``--init`` program (empty when this build has no static libc)."""
