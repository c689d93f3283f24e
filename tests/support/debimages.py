"""Realistic test images made of the Debian packages installed on this machine.

An image is a stack of layers, as a Dockerfile of ``apt-get install`` lines would give:

- the base layer: base-files, libc6 and dash (so ``/bin/sh``), the merged-/usr symlinks
  (``bin`` -> ``usr/bin`` ...), ``/etc/passwd``, ``group``, ``shadow`` and ``gshadow`` from
  base-passwd's masters (Debian's own first accounts), ``nsswitch.conf`` and ``ld.so.conf``;
- one layer per package: what ``dpkg -L`` lists (regular files, symlinks and directories with
  the host's owners, modes and mtimes; documentation, manuals and locales left out, as Debian's
  slim images do), plus the shared libraries its ELF files need (``ldd``, with each symlink
  chain kept) that the base layer does not hold;
- the image's own layer: the accounts the packages' maintainer scripts made on this host
  (``postgres``, ``www-data``: the host's uid, gid, supplementary groups and shadow entries),
  an ``ld.so.cache`` that ``ldconfig -r`` built for the image's libraries, and the recipe's own
  files (configuration, an entrypoint).

Package layers are built once per package version and kept under the builder's directory
(a session temp dir), so images that share a package share its layer byte for byte.
Paths are written canonical (``/bin/dash`` is ``usr/bin/dash``): the symlinks of the base
layer lead there, as on the host.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.images import ImageSpec
from tests.support.layers import Dir, Entry, File, LayerBlob, Symlink, build_tar, sha256_digest
from tests.support.testimages import host_platform

# Left out of every package, as Debian's slim images' dpkg path-excludes do.
EXCLUDED_PREFIXES = (
    "usr/share/doc/",
    "usr/share/man/",
    "usr/share/info/",
    "usr/share/locale/",
    "usr/share/lintian/",
    "usr/share/linda/",
)
BASE_PACKAGES = ("base-files", "libc6", "dash")
BASE_SYMLINKS = {
    "bin": "usr/bin",
    "sbin": "usr/sbin",
    "lib": "usr/lib",
    "lib64": "usr/lib64",
    "var/run": "/run",
    "var/lock": "/run/lock",
}
BASE_DIRECTORIES = {"tmp": 0o1777, "var/tmp": 0o1777, "root": 0o700, "run/lock": 0o1777}
BASE_PASSWD = Path("/usr/share/base-passwd/passwd.master")
BASE_GROUP = Path("/usr/share/base-passwd/group.master")
NSSWITCH = """\
passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
"""
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LD_SO_CONF = "include /etc/ld.so.conf.d/*.conf\n"
ELF_MAGIC = b"\x7fELF"
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def package_version(package: str) -> str:
    """The installed version of ``package`` (``dpkg-query``); raises if it is not installed."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}\t${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    status, _, version = result.stdout.partition("\t")
    if result.returncode != 0 or status != "install ok installed":
        raise LookupError(f"Debian package {package} is not installed (scripts/test installs it)")
    return version


def package_paths(package: str) -> list[str]:
    """The absolute paths ``dpkg -L`` lists for ``package`` (diversion notes dropped)."""
    listing = subprocess.run(
        ["dpkg", "-L", package], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in listing.splitlines() if line.startswith("/") and line != "/."]


def canonical(path: str) -> str:
    """``path`` relative to the root with every directory on the way resolved (the last
    component is kept as it is: a symlink stays a symlink)."""
    head, _, name = path.rstrip("/").rpartition("/")
    parent = os.path.realpath(head or "/")
    return f"{parent}/{name}".lstrip("/")


def _excluded(relative: str, excluded: Sequence[str]) -> bool:
    return any(relative == prefix.rstrip("/") or relative.startswith(prefix) for prefix in excluded)


class Tree:
    """Entries of one layer by path, filled from the host's files."""

    def __init__(self, excluded: Sequence[str] = EXCLUDED_PREFIXES) -> None:
        self.entries: dict[str, Entry] = {}
        self.excluded = excluded

    def add_host_path(self, path: str) -> None:
        """Adds ``path`` as the host has it, its parent directories, and for a symlink the
        chain of what it points to."""
        relative = canonical(path)
        if not relative or relative in self.entries or _excluded(relative, self.excluded):
            return
        self._add_parents(relative)
        host = "/" + relative
        info = os.lstat(host)
        if stat.S_ISLNK(info.st_mode):
            target = str(Path(host).readlink())
            self.entries[relative] = Symlink(
                relative, target, info.st_uid, info.st_gid, _mtime(info)
            )
            self.add_host_path(str(Path(host).parent / target))
        elif stat.S_ISDIR(info.st_mode):
            self.entries[relative] = _host_dir(relative, info)
        elif stat.S_ISREG(info.st_mode):
            self.entries[relative] = File(
                relative,
                Path(host).read_bytes(),
                mode=stat.S_IMODE(info.st_mode),
                uid=info.st_uid,
                gid=info.st_gid,
                mtime=_mtime(info),
            )

    def add(self, entry: Entry) -> None:
        relative = entry.path.strip("/")  # type: ignore[union-attr]
        self._add_parents(relative)
        self.entries[relative] = entry

    def _add_parents(self, relative: str) -> None:
        parts = relative.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            parent = "/".join(parts[:depth])
            if parent not in self.entries:
                self.entries[parent] = _host_dir(parent, os.lstat("/" + parent))

    def elf_files(self) -> list[str]:
        found = []
        for relative, entry in self.entries.items():
            if isinstance(entry, File) and entry.data[:4] == ELF_MAGIC:
                found.append("/" + relative)
        return found

    def layer(self) -> LayerBlob:
        """The entries, parents first, as a gzip layer (level 1: a database server's layer is
        100 MB of tar, which level 9 takes ten times as long to compress for 5% less)."""
        ordered = sorted(self.entries.values(), key=lambda entry: entry.path.split("/"))  # type: ignore[union-attr]
        tar = build_tar(ordered)
        data = gzip.compress(tar, compresslevel=1, mtime=0)
        return LayerBlob(data, sha256_digest(data), sha256_digest(tar), "gzip")


def _mtime(info: os.stat_result) -> int:
    return int(info.st_mtime)


def _host_dir(relative: str, info: os.stat_result) -> Dir:
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"/{relative} is not a directory on this host")
    return Dir(relative, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, _mtime(info))


def needed_libraries(elf_files: Iterable[str]) -> set[str]:
    """The shared objects ``ldd`` resolves for ``elf_files`` (the loader included); raises
    for a library that is not found."""
    files = sorted(elf_files)
    if not files:
        return set()
    # one ldd per call keeps a static file's "not a dynamic executable" from failing the rest
    result = subprocess.run(["ldd", *files], capture_output=True, text=True, check=False)
    if "not found" in result.stdout:
        missing = [line.strip() for line in result.stdout.splitlines() if "not found" in line]
        raise LookupError(f"ldd cannot resolve: {missing}")
    return {match.group(1) for match in _LDD_PATH.finditer(result.stdout)}


def _host_lines(path: str) -> dict[str, list[str]]:
    lines = Path(path).read_text().splitlines()
    return {line.split(":", 1)[0]: line.split(":") for line in lines if line and ":" in line}


def _master(path: Path) -> dict[str, list[str]]:
    """base-passwd's master file with shadowed passwords (``x``), as an installed system has."""
    entries = {}
    for line in path.read_text().splitlines():
        fields = line.split(":")
        fields[1] = "x"
        entries[fields[0]] = fields
    return entries


def account_files(users: Sequence[str]) -> dict[str, str]:
    """passwd, group, shadow, gshadow: base-passwd's masters plus ``users`` as this host has
    them (uid, gid, primary group, supplementary groups listing them, shadow entries)."""
    passwd, group = _master(BASE_PASSWD), _master(BASE_GROUP)
    host_passwd, host_group = _host_lines("/etc/passwd"), _host_lines("/etc/group")
    host_shadow, host_gshadow = _host_lines("/etc/shadow"), _host_lines("/etc/gshadow")
    for user in users:
        fields = passwd[user] = host_passwd[user]
        for name, entry in host_group.items():
            if entry[2] == fields[3] or user in entry[3].split(","):
                group.setdefault(name, [*entry[:3], ""])
    known = set(passwd)
    for name, entry in group.items():
        members = host_group.get(name, entry)[3].split(",")
        entry[3] = ",".join(member for member in members if member in known)

    def shadow_line(name: str) -> str:
        return ":".join(host_shadow.get(name, [name, "*", "19000", "0", "99999", "7", "", "", ""]))

    def gshadow_line(name: str) -> str:
        members = group[name][3]
        return ":".join([*host_gshadow.get(name, [name, "*", "", members])[:3], members])

    def text(lines: Iterable[str]) -> str:
        return "".join(line + "\n" for line in lines)

    return {
        "etc/passwd": text(":".join(entry) for entry in passwd.values()),
        "etc/group": text(":".join(entry) for entry in group.values()),
        "etc/shadow": text(shadow_line(name) for name in passwd),
        "etc/gshadow": text(gshadow_line(name) for name in group),
    }


@dataclass(frozen=True)
class DebianImage:
    """What an image holds: packages (one layer each), accounts copied from the host, and
    files of its own (paths relative to the root) with the image config around them."""

    name: str
    packages: Sequence[str]
    users: Sequence[str] = ()
    files: Sequence[Entry] = ()
    # per package, path prefixes left out beyond the documentation
    excluded: Mapping[str, Sequence[str]] = field(default_factory=dict)
    entrypoint: Sequence[str] | None = None
    cmd: Sequence[str] | None = None
    env: Sequence[str] = (f"PATH={DEFAULT_PATH}",)
    user: str = ""
    working_dir: str = ""
    extra_config: Mapping[str, Any] = field(default_factory=dict)


class DebianImageBuilder:
    """Builds ``DebianImage``s into ``ImageSpec``s; package layers are cached in ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._base: tuple[LayerBlob, frozenset[str]] | None = None

    def image(self, recipe: DebianImage) -> ImageSpec:
        base, base_paths = self.base()
        layers = [base]
        library_paths: set[str] = {p for p in base_paths if _is_library_path(p)}
        for package in recipe.packages:
            blob, paths = self.package_layer(package, recipe.excluded.get(package, ()), base_paths)
            layers.append(blob)
            library_paths |= {p for p in paths if _is_library_path(p)}
        own = Tree(excluded=())
        for name, content in account_files(recipe.users).items():
            mode = 0o640 if "shadow" in name else 0o644
            shadow_gid = 42 if "shadow" in name else 0  # Debian's "shadow" group
            own.add(File(name, content, mode=mode, gid=shadow_gid))
        own.add(File("etc/ld.so.cache", _ld_so_cache(sorted(library_paths)), mode=0o644))
        for entry in recipe.files:
            own.add(entry)
        layers.append(own.layer())
        return ImageSpec(
            layers=layers,
            entrypoint=recipe.entrypoint,
            cmd=recipe.cmd,
            env=recipe.env,
            user=recipe.user,
            working_dir=recipe.working_dir,
            platform=host_platform(),
            extra_config=recipe.extra_config,
        )

    def base(self) -> tuple[LayerBlob, frozenset[str]]:
        if self._base is None:
            versions = "_".join(package_version(package) for package in BASE_PACKAGES)

            def make() -> Tree:
                tree = Tree()
                for package in BASE_PACKAGES:
                    for path in package_paths(package):
                        tree.add_host_path(path)
                for link, target in BASE_SYMLINKS.items():
                    tree.add(Symlink(link, target))
                for directory, mode in BASE_DIRECTORIES.items():
                    tree.add(Dir(directory, mode))
                tree.add(File("etc/nsswitch.conf", NSSWITCH))
                tree.add(File("etc/ld.so.conf", LD_SO_CONF))
                tree.add(Symlink("etc/os-release", "../usr/lib/os-release"))
                return tree

            self._base = self._cached(f"base_{versions}", make)
        return self._base

    def package_layer(
        self, package: str, excluded: Sequence[str], provided: frozenset[str]
    ) -> tuple[LayerBlob, frozenset[str]]:
        """``package``'s files and the libraries they need that ``provided`` lacks."""
        exclusion_key = sha256_digest("\n".join(excluded).encode())[7:19]
        key = f"{package}_{package_version(package)}_{exclusion_key}"

        def make() -> Tree:
            tree = Tree((*EXCLUDED_PREFIXES, *(prefix.lstrip("/") for prefix in excluded)))
            for path in package_paths(package):
                tree.add_host_path(path)
            libraries = Tree(excluded=())
            for library in needed_libraries(tree.elf_files()):
                libraries.add_host_path(library)
            for relative in libraries.entries:
                if relative not in provided and relative not in tree.entries:
                    tree.add_host_path("/" + relative)
            return tree

        return self._cached(key, make)

    def _cached(self, key: str, make: Any) -> tuple[LayerBlob, frozenset[str]]:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", key)
        data_file, index_file = self.workdir / f"{safe}.layer", self.workdir / f"{safe}.json"
        if index_file.exists():
            index = json.loads(index_file.read_text())
            blob = LayerBlob(data_file.read_bytes(), index["digest"], index["diff_id"], "gzip")
            return blob, frozenset(index["paths"])
        tree: Tree = make()
        blob = tree.layer()
        data_file.write_bytes(blob.data)
        index = {"digest": blob.digest, "diff_id": blob.diff_id, "paths": sorted(tree.entries)}
        index_file.write_text(json.dumps(index))
        return blob, frozenset(tree.entries)


def _is_library_path(relative: str) -> bool:
    return ".so" in relative.rsplit("/", 1)[-1] or relative.startswith("etc/ld.so.conf")


def _ld_so_cache(library_paths: Sequence[str]) -> bytes:
    """``ldconfig -r`` over a scratch tree of the image's libraries and ld.so.conf files."""
    with tempfile.TemporaryDirectory(prefix="hybridock-ldconfig-") as scratch:
        root = Path(scratch)
        for relative in library_paths:
            host, copy = Path("/" + relative), root / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            if host.is_symlink():
                copy.symlink_to(host.readlink())
            elif host.is_file():
                shutil.copyfile(host, copy)
        (root / "etc").mkdir(exist_ok=True)
        (root / "etc/ld.so.conf").write_text(LD_SO_CONF)
        for link, target in BASE_SYMLINKS.items():
            if not (root / link).exists() and not (root / link).is_symlink():
                (root / link).parent.mkdir(parents=True, exist_ok=True)
                (root / link).symlink_to(target)
        subprocess.run(["ldconfig", "-X", "-r", str(root)], check=True)
        return (root / "etc/ld.so.cache").read_bytes()


# --- the images the tests run ------------------------------------------------------------------

PYTHON_PACKAGES = ("libpython3.11-minimal", "python3.11-minimal", "python3-minimal")
NGINX_CONF = """\
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr notice;

events {
    worker_connections 64;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    server {
        listen 127.0.0.1:80;
        root /usr/share/nginx/html;
        index index.html;
    }
}
"""
POSTGRES_VERSION = "15"
POSTGRES_BIN = f"/usr/lib/postgresql/{POSTGRES_VERSION}/bin"
POSTGRES_DATA = "/var/lib/postgresql/data"
# The official image's shape: initdb on the first start, then the server in the foreground,
# here on 127.0.0.1 only.
POSTGRES_ENTRYPOINT = """\
#!/bin/sh
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb --username=postgres --auth=trust --no-locale --encoding=UTF8 --no-sync -D "$PGDATA"
    if [ -n "$POSTGRES_HOST_AUTH_METHOD" ]; then
        # as the official image: clients from other hosts (a published port) with this method
        echo "host all all all $POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
    fi
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 "$@"
"""


def python_image() -> DebianImage:
    """Debian's python3 (the -minimal packages), ``python3`` as the command."""
    return DebianImage("python", PYTHON_PACKAGES, cmd=["python3"])


def nginx_image() -> DebianImage:
    """nginx on 127.0.0.1:80 in the foreground, workers as www-data, python3 beside it as the
    client a user would ``exec``; stopped gracefully with SIGQUIT, as the official image."""
    return DebianImage(
        "nginx",
        (*PYTHON_PACKAGES, "nginx-common", "nginx"),
        users=["www-data"],
        files=[File("etc/nginx/nginx.conf", NGINX_CONF)],
        excluded={"nginx-common": ("etc/nginx/sites-", "etc/init.d/", "lib/systemd/", "etc/ufw/")},
        cmd=["nginx", "-g", "daemon off;"],
        extra_config={"StopSignal": "SIGQUIT", "ExposedPorts": {"80/tcp": {}}},
    )


def postgres_image() -> DebianImage:
    """PostgreSQL's server and psql (without the LLVM JIT, which would add 100 MB), run as
    the postgres user; stopped with SIGINT (a fast shutdown), as the official image."""
    import pwd  # noqa: PLC0415 - only this recipe reads the host's account

    account = pwd.getpwnam("postgres")
    lib = f"usr/lib/postgresql/{POSTGRES_VERSION}/lib"
    return DebianImage(
        "postgres",
        ("tzdata", f"postgresql-client-{POSTGRES_VERSION}", f"postgresql-{POSTGRES_VERSION}"),
        users=["postgres"],
        files=[
            Dir("var/lib/postgresql", 0o755, account.pw_uid, account.pw_gid),
            Dir("run/postgresql", 0o2775, account.pw_uid, account.pw_gid),
            File("usr/local/bin/docker-entrypoint.sh", POSTGRES_ENTRYPOINT, mode=0o755),
        ],
        excluded={f"postgresql-{POSTGRES_VERSION}": (f"{lib}/llvmjit", f"{lib}/bitcode/")},
        entrypoint=["docker-entrypoint.sh"],
        env=(f"PATH={DEFAULT_PATH}:{POSTGRES_BIN}", f"PGDATA={POSTGRES_DATA}"),
        user="postgres",
        extra_config={"StopSignal": "SIGINT", "ExposedPorts": {"5432/tcp": {}}},
    )


GCC_VERSION = "12"


def gcc_image() -> DebianImage:
    """gcc, binutils, make and libc's headers and static libraries: the base of a build stage
    (as the official gcc image, without the LTO compiler and the sanitizers' libraries, which
    would double it)."""
    triplet = f"{platform.machine()}-linux-gnu"
    gcc_lib = f"usr/lib/gcc/{triplet}/{GCC_VERSION}"
    sanitizers = ("libasan", "libtsan", "liblsan", "libubsan", "libhwasan")
    return DebianImage(
        "gcc",
        (
            f"binutils-{triplet.replace('_', '-')}",
            "binutils",
            "libgcc-s1",
            f"cpp-{GCC_VERSION}",
            f"libgcc-{GCC_VERSION}-dev",
            f"gcc-{GCC_VERSION}",
            "gcc",
            "libc6-dev",
            "linux-libc-dev",
            "make",
        ),
        excluded={
            f"gcc-{GCC_VERSION}": (f"{gcc_lib}/lto1", f"usr/bin/lto-dump-{GCC_VERSION}"),
            f"libgcc-{GCC_VERSION}-dev": tuple(f"{gcc_lib}/{name}" for name in sanitizers),
        },
        # what update-alternatives makes in gcc's postinst: cc is gcc
        files=[
            Symlink("usr/bin/cc", "/etc/alternatives/cc"),
            Symlink("etc/alternatives/cc", "/usr/bin/gcc"),
        ],
        cmd=["gcc", "--version"],
    )
