"""Type stubs of the native extension (kept honest by mypy.stubtest)."""

from collections.abc import Callable, Sequence
from typing import Any, Self, final

__version__: str
__all__ = [
    "CAPABILITY_NAMES",
    "DOCKER_CAPABILITIES",
    "EncodedLayer",
    "JsonLog",
    "LayerResult",
    "LayerSink",
    "SpawnSpec",
    "Spawned",
    "__version__",
    "attach_device_filter",
    "attach_veth",
    "compile_seccomp",
    "compress_file",
    "copy_context_tree",
    "delete_link",
    "encode_layer",
    "ensure_bridge",
    "exec_in",
    "extract_blob",
    "init_executable",
    "link_exists",
    "monitor_executable",
    "new_network_namespace",
    "scan_context",
    "sha256",
    "sha256_file",
    "spawn",
    "spread_subdirectories",
    "syncfs",
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
    def unpacked_size(self) -> int:
        """docker's directory.Size of the extracted tree: the apparent sizes of
        non-directories (a symlink's target length), each inode once; counted by the
        extraction itself, with what ``link_lower`` adds."""
    @property
    def entries(self) -> int: ...
    @property
    def pending_links(self) -> int:
        """Distinct lower-layer targets of hardlinks still to be linked: 0 unless the layer was
        extracted with ``defer_lower_links``, and 0 again once ``link_lower`` ran."""
    def link_lower(self, lower_dirs: list[str], *, sync: bool = True) -> int:
        """Make this layer's pending hardlinks into its lower layers, now that they exist.

        ``lower_dirs`` are the extracted parent layers, nearest first (as ``lower_dirs`` of the
        sequential path). Each target is looked up there as overlayfs would (whiteouts and
        opaque directories honoured, every step confined to the lower root) and copied into
        this layer, exactly as the sequential path copies it; a link whose name a later entry
        of the layer replaced is not made. A target missing or whited out below raises
        ``LayerFormatError``: the layer is then unusable (remove it). ``sync`` flushes the tree
        afterwards (``finish`` leaves that to this call when links are pending). Returns the
        number of targets copied; free when nothing is pending (also on a second call).
        """

@final
class LayerSink:
    """A streaming layer pipeline: bytes written in, an extracted tree out.

    A Rust thread reads what ``write`` hands over (a bounded queue), hashes the compressed
    stream, optionally tees it to ``blob_path``, decompresses (``compression``: "gzip", "zstd"
    or "none"), hashes the tar stream (diff_id) and extracts it under ``dest`` (a fresh
    directory) with OCI whiteouts written in overlayfs format. ``lower_dirs`` (nearest parent
    first) are the extracted parent layers, for hardlinks to files of lower layers; with
    ``defer_lower_links`` instead, the layer is extracted without its parents (they may still be
    in flight): such links are left as placeholders, counted by ``LayerResult.pending_links``,
    and ``LayerResult.link_lower(lower_dirs)`` makes them once the parents are in place. The
    tree must not be used (renamed into place) before that. Each pending target holds one open
    file descriptor until then (links into lower layers are rare: a handful per image).
    ``finish`` verifies both digests and returns the result; on any error nothing under
    ``dest`` or ``blob_path`` may be used (the caller removes them; the pipeline already
    deletes the blob copy and empties ``dest``). ``sync`` (default True) flushes the tree with
    one ``syncfs`` and fsyncs the blob before ``finish`` returns, so that the caller's rename of
    ``dest`` is durable; pass False only for throwaway trees (tests, benchmarks).
    Without root, device nodes are skipped and whiteouts use overlayfs' ``userxattr`` format.
    A write after the worker failed raises the worker's error; Ctrl-C in ``finish`` aborts.
    ``consumed`` is the progress: compressed bytes the extraction has consumed (written out);
    it reaches the stream's size only once the layer is extracted and verified. ``close`` ends
    the stream without waiting, and ``wait`` polls for the end (e.g. to report ``consumed``
    meanwhile) before ``finish`` collects the result.
    """

    def __new__(
        cls,
        dest: str,
        compression: str,
        expected_digest: str,
        expected_diff_id: str | None = None,
        *,
        lower_dirs: list[str] | None = None,
        defer_lower_links: bool = False,
        blob_path: str | None = None,
        max_bytes: int | None = None,
        max_entries: int | None = None,
        sync: bool = True,
    ) -> Self: ...
    def write(self, data: bytes) -> None: ...
    @property
    def consumed(self) -> int:
        """Compressed bytes the extraction has consumed so far (a lock-free read)."""
    def close(self) -> None:
        """End the stream; the worker finishes in the background. Idempotent."""
    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the worker to end; whether it has."""
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
    defer_lower_links: bool = False,
    max_bytes: int | None = None,
    max_entries: int | None = None,
    sync: bool = True,
) -> LayerResult:
    """The same pipeline fed from a stored blob file."""

@final
class EncodedLayer:
    """What ``encode_layer`` or ``compress_file`` wrote."""

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the written (compressed) file."""
    @property
    def diff_id(self) -> str:
        """``sha256:<hex>`` of the uncompressed tar stream."""
    @property
    def size(self) -> int:
        """Bytes written (compressed)."""
    @property
    def uncompressed_size(self) -> int:
        """Bytes of the tar stream."""
    @property
    def entries(self) -> int:
        """Tar entries written (0 for ``compress_file``)."""

def encode_layer(
    source: str,
    out_path: str,
    compression: str = "gzip",
    level: int | None = None,
    *,
    overlay: bool = False,
    epoch: int | None = None,
    threads: int | None = None,
    exclude: Sequence[str] = ...,
) -> EncodedLayer:
    """A layer tar of the directory tree ``source`` (entries sorted by name, paths relative,
    directories first, hardlinks as tar links, xattrs as PAX, no socket files), compressed
    ("gzip" | "zstd" | "none") into the new file ``out_path`` (created O_EXCL, fsynced).
    overlay=True: ``source`` is an overlay upper dir: a char device 0/0 (or the userxattr /
    trusted.overlay.whiteout form) becomes ``.wh.<name>``, a directory with
    trusted.overlay.opaque=y (or user.overlay.opaque) gets a ``.wh..wh..opq`` entry first, and
    the overlay xattrs themselves are not written. epoch: mtimes above it are clamped to it
    (SOURCE_DATE_EPOCH). threads: compression threads (default: the CPUs available). Levels:
    gzip 1-9 (default 6), zstd 1-19 (default 3). exclude: paths relative to ``source``
    ("etc/hosts") left out with what they hold. GIL released; on error ``out_path`` is
    removed."""

def compress_file(
    source: str,
    out_path: str,
    compression: str = "gzip",
    level: int | None = None,
    *,
    threads: int | None = None,
    source_compression: str = "none",
) -> EncodedLayer:
    """A layer tar file ``source`` (compressed with ``source_compression``: "none", "gzip" or
    "zstd") compressed into ``out_path`` (O_EXCL, fsynced): a layer recompressed for a push;
    diff_id is the sha256 of the tar; ``entries`` is 0. GIL released; on error ``out_path``
    is removed."""

def scan_context(
    root: str,
    filter: Callable[[str, list[tuple[str, bool]]], list[int]] | None = None,
    *,
    threads: int | None = None,
) -> list[tuple[str, str, int, int, int, int, str, str | None]]:
    """The build context below ``root``, read once, confined: one tuple per entry kept, in
    walk order (names sorted, a directory before what it holds): (path relative to root,
    kind "d" "f" "l" "c" "b" "p" "s", permission bits, uid, gid, size, symlink target, sha256
    hex of a regular file's content). No symlink is followed: the walk opens each directory
    O_NOFOLLOW from its parent's fd and the files are hashed on ``threads`` workers (default:
    the CPUs available) reopened with openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS.
    ``filter(directory, [(name, is_dir), ...])`` (``.dockerignore``) answers per name 0
    (left out with all below it), 1 (kept) or 2 (a directory walked but kept only if something
    below it is); called once per directory with the GIL held, the rest runs without it. An
    exception it raises propagates."""

def copy_context_tree(
    source_root: str,
    source: str,
    destination_root: str,
    destination: str,
    *,
    keep: Sequence[str] | None = None,
    owner: tuple[int, int] = ...,
    mode: int | None = None,
) -> int:
    """COPY's fast path: the contents of the context directory ``source`` (relative to
    ``source_root``) copied into the directory ``destination`` (relative to
    ``destination_root``, a step's upper dir) whose names must all be new; returns the
    entries made. Both sides reached with openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS and
    walked O_NOFOLLOW from their parents' fds; entries made with O_EXCL, symlinks copied as
    symlinks, hardlinks kept, times kept, owners ``owner``, modes ``mode`` when given.
    ``keep``: the context paths (relative to ``source_root``) to copy; None: all. GIL
    released."""

def sha256_file(path: str) -> str:
    """``sha256:<hex>`` of a file's bytes."""

def sha256(data: bytes) -> str:
    """``sha256:<hex>`` of ``data`` (small values: the GIL is held)."""

def syncfs(path: str) -> None:
    """Flush the whole filesystem holding ``path`` (one ``syncfs``): after several layers
    extracted with ``sync=False`` (at once), one call makes them all durable before their
    renames; cheaper than a syncfs per layer, each of which also waits for the others' data."""

def spread_subdirectories(path: str) -> bool:
    """Mark ``path`` so that ext4 places each directory made in it in a lightly used block
    group (``chattr +T``); False where the filesystem has no such flag. The store's tmp/ gets
    it: a layer extracted where a store was just removed would otherwise crawl (ext4 without a
    journal scans past recently deleted inodes on every create)."""

def monitor_executable() -> bytes:
    """The per-container monitor program, to be installed once into the store."""

@final
class JsonLog:
    """A container's ``container.log`` in docker's json-file format: the monitor's writer (for
    detached containers), for attached runs. Lines are kept whole per stream; a line without
    a newline is written at 64 KiB or at ``close``."""

    def __new__(cls, path: str) -> Self: ...
    def write(self, stream: str, data: bytes) -> None:
        """A chunk of "stdout" or "stderr"."""
    def close(self) -> None: ...

def init_executable() -> bytes:
    """The static ``--init`` program (empty when this build has no static libc)."""

# --- spawner ---------------------------------------------------------------------------------

DOCKER_CAPABILITIES: int
CAPABILITY_NAMES: list[str]

@final
class SpawnSpec:
    """Everything the container's first process needs, validated at construction.

    ``rootfs`` is the container's root: a prepared directory (bind-mounted onto itself), or,
    with ``lower_dirs`` (nearest layer first), ``upper_dir`` and ``work_dir``, the mount point
    of an overlay that the child mounts inside its own mount namespace (it vanishes with the
    container; nothing stays mounted on the host); ``volatile`` mounts it with overlayfs'
    ``volatile`` (no sync of the upper layer, not even at exit: for ``--rm``). ``mounts`` are
    ``(host path, container path, readonly)`` binds. ``argv[0]`` without a slash is searched in
    ``env``'s PATH inside the rootfs. ``rlimits`` are ``(name, soft, hard)`` with docker's names
    ("nofile", ...). ``cgroup_join`` lists the files to write "0" to, to join the cgroups (v1
    ``tasks``, one per controller, or the one v2 ``cgroup.procs``). ``etc_*`` are host files
    bound on /etc/hostname, /etc/hosts, /etc/resolv.conf. ``masked_paths`` and
    ``readonly_paths`` default to docker's lists. ``capabilities`` is a bit mask (bit N =
    capability N) kept in the bounding set, and the effective set of a root process; it defaults
    to docker's set (``DOCKER_CAPABILITIES``); ``None`` leaves capabilities as they are
    (``--privileged``). ``network`` False shares the host's network namespace;
    ``network_namespace`` (an open netns fd from ``new_network_namespace``, the caller's) is
    joined instead of a new one: the calling thread enters it right before ``clone`` and
    returns right after, and its maker has brought ``lo`` up. ``stdio`` are the
    fds for the child's 0, 1, 2 (``None`` inherits); the container always gets its own session.
    With ``tty`` the child opens a pty on the container's own devpts (so ``tty`` and
    ``ttyname()`` work inside), makes its slave 0, 1, 2 and the controlling terminal (``stdio``
    is then not used), and the caller gets the master as ``Spawned.terminal``; ``console_size``
    (rows, columns) is its size from the start (docker's ConsoleSize: the first program must not
    see 0x0). ``init`` is a static init binary on the host, bound on /dev/init and run as pid 1
    with ``-- argv...`` (docker's ``--init``). ``seccomp_filter`` is a program from
    ``compile_seccomp``, installed right before exec (``None``: unconfined). ``sysctls`` are
    ``(key, value)`` pairs (``net.core.somaxconn``) written through the container's own
    /proc/sys right after it is mounted (which keys are allowed is the caller's policy). A new
    network namespace gets its ``lo`` up. ``cgroup_namespace`` unshares a cgroup namespace once
    the cgroups are joined (the container's cgroup is its root). ``cgroup_view`` is what
    /sys/fs/cgroup shows: ``None`` (sysfs's empty directory), ``"v2"`` (a cgroup2 mount) or
    ``"v1"``: a tmpfs with ``cgroup_hierarchies`` ``(name, host directory to bind or None,
    mount options)`` (None mounts the hierarchy anew with the options, in the cgroup
    namespace) and the ``cgroup_links`` ``(link, target)``; read-only unless
    ``cgroup_writable``. /sys is read-only unless ``writable_sysfs`` (docker's
    ``--privileged`` without ``--read-only``). An unusable spec raises ``ConfigError``.
    """

    def __new__(
        cls,
        argv: list[str],
        rootfs: str,
        *,
        env: list[str] | None = None,
        cwd: str = ...,
        uid: int = 0,
        gid: int = 0,
        groups: list[int] = ...,
        hostname: str | None = None,
        lower_dirs: list[str] | None = None,
        upper_dir: str | None = None,
        work_dir: str | None = None,
        volatile: bool = False,
        mounts: list[tuple[str, str, bool]] = ...,
        tmpfs: list[tuple[str, int, str]] = ...,
        network: bool = True,
        pid_namespace: bool = True,
        uts_namespace: bool = True,
        ipc_namespace: bool = True,
        stdio: list[int | None] | None = None,
        tty: bool = False,
        console_size: tuple[int, int] | None = None,
        rlimits: list[tuple[str, int, int]] = ...,
        no_new_privs: bool = True,
        cgroup_join: list[str] = ...,
        etc_hostname: str | None = None,
        etc_hosts: str | None = None,
        etc_resolv_conf: str | None = None,
        readonly_rootfs: bool = False,
        masked_paths: list[str] | None = None,
        readonly_paths: list[str] | None = None,
        capabilities: int | None = ...,
        init: str | None = None,
        seccomp_filter: bytes | None = None,
        sysctls: list[tuple[str, str]] = ...,
        cgroup_namespace: bool = False,
        cgroup_view: str | None = None,
        cgroup_hierarchies: list[tuple[str, str | None, str]] = ...,
        cgroup_links: list[tuple[str, str]] = ...,
        cgroup_writable: bool = False,
        writable_sysfs: bool = False,
        network_namespace: int | None = None,
    ) -> SpawnSpec: ...
    @property
    def argv(self) -> list[str]: ...
    @property
    def rootfs(self) -> str: ...

@final
class Spawned:
    """A started process: ``pid`` (a direct child of the caller, who reaps it with
    ``os.waitpid``) and ``terminal``, the pty master fd when a console was asked for (else
    None). The fd is close-on-exec and belongs to the caller, who closes it."""

    @property
    def pid(self) -> int: ...
    @property
    def terminal(self) -> int | None: ...

def spawn(spec: SpawnSpec | None = None, **fields: Any) -> Spawned:
    """Start the container process; return it once it has exec'd its command.

    Takes a ``SpawnSpec``, or the keyword arguments of ``SpawnSpec`` (which it builds).

    The process is a direct child of the caller (reap it with ``os.waitpid``) and pid 1 of its
    pid namespace. Raises ``SpawnError`` with docker's ``exit_code``: 127 command not found,
    126 not executable, 125 any setup failure (``stage`` names the step).
    """

def exec_in(
    pid: int,
    argv: list[str],
    *,
    env: list[str] | None = None,
    cwd: str = ...,
    uid: int = 0,
    gid: int = 0,
    groups: list[int] = ...,
    stdio: tuple[int | None, int | None, int | None] | list[int | None] | None = None,
    tty: bool = False,
    console_size: tuple[int, int] | None = None,
    rlimits: list[tuple[str, int, int]] = ...,
    no_new_privs: bool = True,
    cgroup_join: list[str] = ...,
    capabilities: int | None = ...,
    seccomp_filter: bytes | None = None,
) -> Spawned:
    """Start a process inside the running container whose first process has host pid ``pid``
    (docker's ``exec``); return it once it has exec'd its command.

    The namespaces of ``pid`` (cgroup, ipc, uts, net, mnt, pid) are opened first and joined,
    the mount namespace last, so the process sees the container's root, processes and
    hostname; it is the caller's direct child (reap it) inside the container's pid namespace,
    and ends with the container. ``cgroup_join`` (host paths) are joined before that;
    ``cwd`` is resolved inside the container's root (nothing leads out of it). Capabilities,
    ``rlimits``, ``no_new_privs``, ``stdio``, ``tty``, ``console_size`` and ``seccomp_filter``
    mean what they mean for ``SpawnSpec``; pass the container's own values (the filter
    compiled for the capabilities given here). Raises ``ContainerStateError`` when
    the process is gone, ``SpawnError`` (125/126/127) as ``spawn`` does.
    """

# --- seccomp ---------------------------------------------------------------------------------

def attach_device_filter(directory: str, rules: list[tuple[str, bool]]) -> None:
    """Confine the cgroup2 ``directory`` to the devices ``rules`` allow.

    ``rules`` are ``(rule, allow)`` pairs in the v1 devices files' syntax (``"c 1:3 rwm"``,
    ``"a"``), applied in order from deny all with v1's semantics, compiled into a
    BPF_PROG_TYPE_CGROUP_DEVICE program (runc's devicefilter) and attached with
    BPF_F_ALLOW_MULTI; it goes when the directory is removed. Raises ``ConfigError`` for a rule
    that cannot be used, ``OSError`` (with the errno) when the kernel refuses the program.
    """

def compile_seccomp(profile: str, capabilities: int) -> bytes:
    """Compile docker's seccomp profile JSON into a BPF program for ``SpawnSpec.seccomp_filter``.

    Resolved for this host's architecture and kernel and a container whose capability mask is
    ``capabilities`` (rules' ``includes.caps``). Raises ``ConfigError`` for an unusable profile.
    """

# --- bridge networks ---------------------------------------------------------------------------

def new_network_namespace() -> int:
    """A new network namespace with ``lo`` up, as an O_CLOEXEC fd that the caller owns (and
    closes: the namespace lives while the fd or a process in it does). Made by the calling
    thread, which is back in its own namespace when this returns, also on error."""

def ensure_bridge(name: str, address: str, prefix: int, mtu: int = 1500) -> bool:
    """Create the Linux bridge ``name`` unless it exists (True when this call made it), give it
    ``address/prefix`` unless it has it, and set it up. Idempotent and safe under concurrent
    callers. Raises ``NetworkError`` (with the errno) for a refused step, also when ``name`` is
    taken by a link that is not a bridge; ``ConfigError`` for a bad name or address."""

def attach_veth(
    netns: int,
    bridge: str,
    host_name: str,
    address: str,
    prefix: int,
    gateway: str | None,
    mac: str,
    mtu: int = 1500,
    interface: str = "eth0",
) -> None:
    """A veth pair from ``bridge`` into the network namespace ``netns`` (an open netns fd).

    The host end ``host_name`` is up and enslaved to ``bridge``; its peer is born in ``netns``
    as ``interface`` with ``mac`` and ``mtu``, up, with ``address/prefix`` and a default route
    via ``gateway`` (none when None). On any failure after the pair exists its host end is
    deleted (which deletes the pair) before ``NetworkError`` is raised; a ``host_name`` already
    taken raises ``NetworkError`` with errno EEXIST and leaves that link alone."""

def delete_link(name: str) -> bool:
    """Delete the link ``name`` of the caller's network namespace; False when there is none."""

def link_exists(name: str) -> bool:
    """Whether the caller's network namespace has a link named ``name``."""
