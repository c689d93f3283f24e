"""Probes that decide which marked tests can run here, each answered once per process.

``registry`` tests need Debian's docker-registry and skopeo; ``root`` tests need to unshare
a mount namespace and mount overlayfs in it, which is tried for real (being uid 0 is not
enough: a container or a seccomp profile may still refuse it).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.registry import registry_available


@functools.cache
def registry_probe() -> str | None:
    """None when registry tests can run, else the reason they cannot."""
    missing = [name for name in ("docker-registry", "skopeo") if shutil.which(name) is None]
    if missing:
        return f"needs {' and '.join(missing)} (apt-get install docker-registry skopeo)"
    if not registry_available():
        return "docker-registry or skopeo is installed but does not run"
    return None


@functools.cache
def root_probe() -> str | None:
    """None when this process can unshare a mount namespace and mount overlayfs in it."""
    if shutil.which("unshare") is None:
        return "needs util-linux's unshare to probe for namespaces"
    with tempfile.TemporaryDirectory(prefix="hybridock-probe-") as scratch:
        base = Path(scratch)
        for name in ("lower", "upper", "work", "merged"):
            (base / name).mkdir()
        (base / "lower" / "file").write_text("probe")
        options = f"lowerdir={base}/lower,upperdir={base}/upper,workdir={base}/work"
        script = (
            f'mount -t overlay overlay -o "{options}" "{base}/merged" '
            f'&& test -f "{base}/merged/file" && umount "{base}/merged"'
        )
        try:
            result = subprocess.run(
                ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"cannot probe for namespaces: {error}"
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["no message"]
        return f"cannot unshare a mount namespace and mount overlayfs: {detail[0]}"
    return None
