"""Platforms (os/architecture/variant): parsing, normalisation and index selection.

Normalisation and matching follow containerd's ``platforms`` package: ``aarch64`` is ``arm64``
whose default variant is ``v8``, ``armhf`` is ``arm/v7``, ``x86_64`` is ``amd64``, and so on.
Selection walks an ordered list of platforms the host can run (``arm64`` also runs
``arm/v7``, ``arm/v6``...; ``arm/v7`` also runs ``v6`` and ``v5``) and takes the first index
entry that matches, preferring the exact platform.
"""

from __future__ import annotations

import platform as _stdlib_platform
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from hybridock.errors import ConfigError, PlatformNotFound

if TYPE_CHECKING:
    from hybridock.registry.manifest import Descriptor

_OS_ALIASES = {"macos": "darwin"}


# architecture alias -> (architecture, {given variant: normalised variant}, default variant)
_ARCHES: dict[str, tuple[str, dict[str, str | None], str | None]] = {
    "386": ("386", {}, None),
    "i386": ("386", {}, None),
    "i686": ("386", {}, None),
    "amd64": ("amd64", {"v1": None}, None),
    "x86_64": ("amd64", {"v1": None}, None),
    "x86-64": ("amd64", {"v1": None}, None),
    "arm64": ("arm64", {"8": "v8", "v8.0": "v8", "9": "v9", "9.0": "v9", "v9.0": "v9"}, "v8"),
    "aarch64": ("arm64", {"8": "v8", "v8.0": "v8", "9": "v9", "9.0": "v9", "v9.0": "v9"}, "v8"),
    "arm": ("arm", {"5": "v5", "6": "v6", "7": "v7", "8": "v8"}, "v7"),
    "armv7l": ("arm", {}, "v7"),
    "armv7": ("arm", {}, "v7"),
    "armhf": ("arm", {}, "v7"),
    "armv6l": ("arm", {}, "v6"),
    "armel": ("arm", {}, "v6"),
}
_VARIANT_FIXED = frozenset({"386", "i386", "i686", "armhf", "armel", "armv6l"})


def _normalize_arch(arch: str, variant: str | None) -> tuple[str, str | None]:
    """containerd's normalizeArch, with arm64's default variant spelled out as v8."""
    arch, given = arch.lower(), (variant or "").lower()
    if arch not in _ARCHES:
        return arch, given or None
    name, variants, default = _ARCHES[arch]
    if arch in _VARIANT_FIXED or not given:
        return name, default
    return name, variants.get(given, given)


class Platform(NamedTuple):
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    def normalized(self) -> Platform:
        arch, variant = _normalize_arch(self.architecture, self.variant)
        os_name = self.os.lower()
        return Platform(_OS_ALIASES.get(os_name, os_name), arch, variant, self.os_version)

    def matches(self, other: Platform) -> bool:
        mine, theirs = self.normalized(), other.normalized()
        return (mine.os, mine.architecture, mine.variant) == (
            theirs.os,
            theirs.architecture,
            theirs.variant,
        )

    def compatible(self) -> list[Platform]:
        """The platforms this one can run, best first (containerd's platformVector)."""
        base = self.normalized()
        result = [base]
        if base.architecture == "amd64":
            result.append(Platform(base.os, "386"))
        elif base.architecture == "arm64":
            result.extend(Platform(base.os, "arm", f"v{n}") for n in (8, 7, 6, 5))
        elif base.architecture == "arm" and base.variant and base.variant[1:].isdigit():
            level = int(base.variant[1:])
            result.extend(Platform(base.os, "arm", f"v{n}") for n in range(level - 1, 4, -1))
        return result

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


def parse_platform(text: str) -> Platform:
    """Parse ``--platform`` values: ``os/arch[/variant]``, or a bare ``arch`` meaning linux."""
    parts = text.strip().split("/")
    if not all(parts) or not 1 <= len(parts) <= 3:
        raise ConfigError(f"invalid platform {text!r}: want os/arch[/variant]")
    if len(parts) == 1:
        return Platform("linux", parts[0]).normalized()
    variant = parts[2] if len(parts) == 3 else None
    return Platform(parts[0], parts[1], variant).normalized()


def host_platform(machine: str | None = None) -> Platform:
    """The platform of this machine (``platform.machine()`` mapped to OCI names)."""
    return Platform("linux", machine or _stdlib_platform.machine() or "amd64").normalized()


def select_manifest(
    entries: Sequence[Descriptor], wanted: Platform, *, manifest_types: frozenset[str]
) -> Descriptor:
    """The index entry for ``wanted`` (or the best compatible one); PlatformNotFound otherwise."""
    candidates = [e for e in entries if e.platform is not None and e.media_type in manifest_types]
    for preferred in wanted.compatible():
        for entry in candidates:
            assert entry.platform is not None  # noqa: S101 - filtered above
            if preferred.matches(entry.platform):
                return entry
    available = sorted(
        {str(e.platform.normalized()) for e in candidates if e.platform is not None}
        - {"unknown/unknown"}
    )
    listing = ", ".join(available) if available else "none"
    raise PlatformNotFound(
        f"no matching manifest for {wanted.normalized()} in the manifest list entries "
        f"(available: {listing})"
    )
