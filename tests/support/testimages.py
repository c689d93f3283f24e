"""The common test images, made from this machine's parts: ``hello`` and ``busybox``.

``hello`` is demo/hello.c compiled static with gcc (a few KB, no libc on x86_64/aarch64);
``busybox`` is Debian's static /bin/busybox (busybox-static) with its applets as hard links in
/bin and symlinks elsewhere, /etc/passwd and /etc/group with root and nobody, and /tmp 1777.
scripts/demo-registry publishes both as library/hello-world and library/busybox.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

from tests.support.images import ImageSpec, Platform
from tests.support.layers import Dir, Entry, File, Hardlink, Layer, Symlink

REPO_ROOT = Path(__file__).resolve().parents[2]
HELLO_SOURCE = REPO_ROOT / "demo" / "hello.c"
BUSYBOX = Path("/bin/busybox")

_RAW_SYSCALL_MACHINES = {"x86_64", "aarch64"}


def host_platform() -> Platform:
    """This machine's platform in OCI terms (amd64, arm64/v8, ...)."""
    machine = platform.machine()
    if machine == "x86_64":
        return Platform(architecture="amd64")
    if machine == "aarch64":
        return Platform(architecture="arm64", variant="v8")
    return Platform(architecture=machine)


def build_hello(output: Path, source: Path = HELLO_SOURCE) -> Path:
    """Compile demo/hello.c into a static ``output`` (rebuilt only when the source is newer)."""
    if output.exists() and output.stat().st_mtime >= source.stat().st_mtime:
        return output
    output.parent.mkdir(parents=True, exist_ok=True)
    flags = ["-static", "-Os", "-s", "-Wall", "-Wextra", "-Wl,--build-id=none"]
    if platform.machine() in _RAW_SYSCALL_MACHINES:
        flags += [
            "-nostdlib",
            "-fno-pie",
            "-no-pie",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-Wl,-z,noseparate-code",
        ]
    else:
        flags.append("-DHELLO_LIBC")
    temporary = output.with_name(output.name + ".tmp")
    subprocess.run(["gcc", *flags, "-o", str(temporary), str(source)], check=True)
    temporary.replace(output)
    return output


def hello_image(binary: Path) -> ImageSpec:
    """hello-world: one layer holding /hello, run as ``/hello``."""
    layer = Layer([File("hello", binary.read_bytes(), mode=0o755)])
    return ImageSpec(layers=[layer], cmd=["/hello"], platform=host_platform())


PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"


def busybox_applets(busybox: Path = BUSYBOX) -> list[str]:
    """Applet paths as busybox lists them (``bin/sh``, ``usr/bin/env``, ...)."""
    listing = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout
    return sorted(line.strip() for line in listing.splitlines() if line.strip())


def busybox_entries(busybox: Path = BUSYBOX) -> list[Entry]:
    entries: list[Entry] = [
        Dir(name) for name in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "home", "var")
    ]
    entries += [
        Dir("root", mode=0o700),
        Dir("tmp", mode=0o1777),
        Dir("var/tmp", mode=0o1777),
        Dir("proc", mode=0o555),
        Dir("sys", mode=0o555),
        Dir("dev"),
        File("bin/busybox", busybox.read_bytes(), mode=0o755),
        File("etc/passwd", PASSWD),
        File("etc/group", GROUP),
        File("etc/hostname", "busybox\n"),
    ]
    for applet in busybox_applets(busybox):
        if applet == "bin/busybox" or "/" not in applet:
            continue  # the binary itself, and top-level oddities such as linuxrc
        if applet.startswith("bin/"):
            entries.append(Hardlink(applet, "bin/busybox", mode=0o755))
        else:
            entries.append(Symlink(applet, "/bin/busybox"))
    return entries


def busybox_image(busybox: Path = BUSYBOX) -> ImageSpec:
    """busybox: one gzip layer, ``sh`` as the command, like Docker Hub's busybox."""
    return ImageSpec(layers=[Layer(busybox_entries(busybox))], cmd=["sh"], platform=host_platform())
