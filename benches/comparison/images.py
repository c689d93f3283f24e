"""The benchmark images, built reproducibly without internet, and pushed to a local registry.

The large image is five layers, each the files of a fixed group of Debian packages
(``apt-get download`` from this machine's mirror into a cache, ``dpkg-deb -x``), packed with
GNU tar in name order with one mtime and numeric root ownership, compressed with ``pigz -n``
(gzip) and ``zstd -3`` (zstd): the same packages give the same digests. The quick mode makes
five small layers of generated files instead, so it needs no mirror. ``busybox`` and ``hello``
come from tests/support/testimages.py.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.images import BuiltImage, ImageSpec, push
from tests.support.layers import Compression, Entry, Hardlink, Layer, LayerBlob, Symlink
from tests.support.testimages import build_hello, busybox_entries, hello_image, host_platform

from comparison.runner import log, run_command

# About 380 MB and 14,000 files unpacked (Debian 12 versions), like issue 5's 364 MB image.
LARGE_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("go-src", ("golang-1.19-src",)),
    ("llvm", ("libllvm14",)),
    ("gcc", ("gcc-12",)),
    ("scripting", ("perl-modules-5.36", "libpython3.11-stdlib", "linux-libc-dev")),
    ("data", ("libicu72", "tzdata", "locales")),
)
FIXED_MTIME = "@1700000000"
QUICK_LAYER_FILES = 400
TEXT = b"the quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet. " * 64


@dataclass(frozen=True)
class LayerTar:
    name: str
    tar: Path
    files: int
    size: int


@dataclass(frozen=True)
class BenchImages:
    """Where each image is, as ``registry/repository:tag``, and what it holds."""

    registry: str
    large_gzip: BuiltImage
    large_zstd: BuiltImage
    busybox: BuiltImage
    hello: BuiltImage
    layers: tuple[LayerTar, ...]
    packages: dict[str, str]

    def reference(self, name: str) -> str:
        return f"{self.registry}/bench/{name}:latest"

    def describe(self) -> dict[str, object]:
        return {
            "large": {
                "layers": len(self.layers),
                "files": sum(layer.files for layer in self.layers),
                "uncompressed_bytes": sum(layer.size for layer in self.layers),
                "gzip_bytes": sum(layer.size for layer in self.large_gzip.layers),
                "zstd_bytes": sum(layer.size for layer in self.large_zstd.layers),
                "packages": self.packages,
            },
            "digests": {
                "large-gzip": self.large_gzip.digest,
                "large-zstd": self.large_zstd.digest,
                "busybox": self.busybox.digest,
                "hello": self.hello.digest,
            },
        }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def download_packages(names: Sequence[str], cache: Path) -> list[Path]:
    """The .deb files of ``names`` (this mirror's candidate versions), downloaded once."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if not list(cache.glob(f"{name}_*.deb"))]
    if missing:
        log(f"apt-get download {' '.join(missing)}")
        run_command(["apt-get", "download", *missing], timeout=1800, cwd=cache)
    return [sorted(cache.glob(f"{name}_*.deb"))[-1] for name in names]


def pack_tree(tree: Path, tar: Path) -> int:
    """Tar ``tree`` reproducibly; the number of regular files in it."""
    top = sorted(entry.name for entry in tree.iterdir())
    temporary = tar.with_suffix(".tmp")
    run_command(
        [
            "tar",
            "--sort=name",
            f"--mtime={FIXED_MTIME}",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--format=posix",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
            "-C",
            str(tree),
            "-cf",
            str(temporary),
            *top,
        ]
    )
    temporary.replace(tar)
    return sum(1 for path in tree.rglob("*") if path.is_file() and not path.is_symlink())


def deb_layer(name: str, debs: Sequence[Path], work: Path) -> LayerTar:
    tar = work / f"{name}.tar"
    count_file = work / f"{name}.files"
    if not (tar.exists() and count_file.exists()):
        tree = work / f"{name}.tree"
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        for deb in debs:
            run_command(["dpkg-deb", "-x", str(deb), str(tree)])
        count_file.write_text(str(pack_tree(tree, tar)))
        shutil.rmtree(tree)
    return LayerTar(name, tar, int(count_file.read_text()), tar.stat().st_size)


def generated_layer(index: int, work: Path) -> LayerTar:
    """A small layer of generated files (quick mode): a third random, two thirds text."""
    name = f"generated-{index}"
    tar = work / f"{name}.tar"
    tree = work / f"{name}.tree"
    shutil.rmtree(tree, ignore_errors=True)
    rng = random.Random(index)  # noqa: S311 - reproducible test data
    for number in range(QUICK_LAYER_FILES):
        path = tree / f"layer{index}" / f"dir{number // 50}" / f"file{number}"
        path.parent.mkdir(parents=True, exist_ok=True)
        size = rng.randrange(64, 16_000)
        data = rng.randbytes(size) if number % 3 == 0 else (TEXT * (size // len(TEXT) + 1))[:size]
        path.write_bytes(data)
    files = pack_tree(tree, tar)
    shutil.rmtree(tree)
    return LayerTar(name, tar, files, tar.stat().st_size)


def compressed(layer: LayerTar, compression: Compression) -> LayerBlob:
    suffix = {"gzip": ".gz", "zstd": ".zst", "none": ""}[compression]
    target = layer.tar.with_name(layer.tar.name + suffix)
    if not target.exists():
        command = (
            ["pigz", "-n", "-6", "-c", str(layer.tar)]
            if compression == "gzip"
            else ["zstd", "-3", "-q", "-c", "--no-progress", str(layer.tar)]
        )
        with target.with_suffix(".tmp").open("wb") as output:
            subprocess.run(command, stdout=output, check=True)
        target.with_suffix(".tmp").replace(target)
    data = target.read_bytes()
    return LayerBlob(
        data, "sha256:" + hashlib.sha256(data).hexdigest(), sha256_file(layer.tar), compression
    )


def busybox_image() -> ImageSpec:
    """tests/support's busybox with its applet hardlinks made symlinks: the hardlink headers
    there carry mode 0644, and docker, podman and GNU tar apply a hardlink's mode to the shared
    inode, which leaves /bin/busybox not executable for them."""
    entries: list[Entry] = [
        Symlink(entry.path, "/bin/busybox") if isinstance(entry, Hardlink) else entry
        for entry in busybox_entries()
    ]
    return ImageSpec(layers=[Layer(entries)], cmd=["sh"], platform=host_platform())


def large_layers(cache: Path, *, quick: bool) -> tuple[list[LayerTar], dict[str, str]]:
    work = cache / ("quick-layers" if quick else "large-layers")
    work.mkdir(parents=True, exist_ok=True)
    if quick:
        return [generated_layer(index, work) for index in range(5)], {}
    names = [name for _, group in LARGE_LAYERS for name in group]
    debs = dict(zip(names, download_packages(names, cache / "debs"), strict=True))
    layers = [deb_layer(name, [debs[p] for p in group], work) for name, group in LARGE_LAYERS]
    return layers, {name: deb.name for name, deb in debs.items()}


def large_image(layers: Sequence[LayerTar], compression: Compression) -> BuiltImage:
    blobs = [compressed(layer, compression) for layer in layers]
    spec = ImageSpec(layers=blobs, cmd=["/usr/bin/true"], platform=host_platform())
    return spec.build("oci")


def build_and_push(registry: str, cache: Path, *, quick: bool) -> BenchImages:
    """Build the four images (cached under ``cache``) and push them to ``registry``."""
    layers, packages = large_layers(cache, quick=quick)
    files, size = sum(x.files for x in layers), sum(x.size for x in layers)
    log(f"large image: {files} files, {size >> 20} MiB")
    images = BenchImages(
        registry=registry,
        large_gzip=large_image(layers, "gzip"),
        large_zstd=large_image(layers, "zstd"),
        busybox=busybox_image().build("oci"),
        hello=hello_image(build_hello(cache / "hello")).build("oci"),
        layers=tuple(layers),
        packages=packages,
    )
    for name, built in (
        ("large-gzip", images.large_gzip),
        ("large-zstd", images.large_zstd),
        ("busybox", images.busybox),
        ("hello", images.hello),
    ):
        push(built, registry, f"bench/{name}", "latest")
    return images
