"""Image references: Docker's grammar and normalisation (distribution/reference), parsed once.

``Reference.parse("busybox")`` gives ``docker.io/library/busybox:latest``; the parsed value knows
its fully-qualified form (``str()``), docker's short form (``familiar``), the repository path used
in ``/v2/`` URLs and the host to connect to. Digests are validated here, so a digest that reaches
a path or URL is always ``sha256:<64 lowercase hex>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hybridock.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
DEFAULT_REGISTRY_HOST = "registry-1.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_AND_PORT = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_TAG_RE = re.compile(_TAG, re.ASCII)
_DOMAIN_RE = re.compile(_DOMAIN_AND_PORT, re.ASCII)
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*", re.ASCII)
_SHA256_RE = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}", re.ASCII)
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def tag_given(text: str) -> bool:
    """Whether a reference as typed names a tag or digest (else docker defaults to latest, or,
    for ``save`` and ``push -a``, takes every tag of the repository)."""
    last = text.rsplit("/", 1)[-1]
    return ":" in last or "@" in text


def validate_digest(value: str) -> str:
    """Return ``value`` if it is ``sha256:<64 lowercase hex>``, else raise InvalidReference."""
    if not isinstance(value, str) or _SHA256_RE.fullmatch(value) is None:
        raise InvalidReference(f"invalid digest format: {value!r} (want sha256:<64 hex digits>)")
    return value


def is_digest(value: str) -> bool:
    return isinstance(value, str) and _SHA256_RE.fullmatch(value) is not None


def _check_digest(value: str) -> str:
    algorithm, _, hex_part = value.partition(":")
    if algorithm not in _DIGEST_LENGTHS:
        raise InvalidReference(f"unsupported digest algorithm: {value}")
    if len(hex_part) != _DIGEST_LENGTHS[algorithm]:
        raise InvalidReference(f"invalid checksum digest length: {value}")
    if algorithm != "sha256":
        raise InvalidReference(f"unsupported digest algorithm: {value} (only sha256 is supported)")
    if hex_part != hex_part.lower():
        raise InvalidReference(f"invalid checksum digest format: {value}")
    return value


def _split_docker_domain(name: str) -> tuple[str, str]:
    """distribution/reference splitDockerDomain: which part of ``name`` is a registry."""
    first, slash, rest = name.partition("/")
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


@dataclass(frozen=True, slots=True)
class Reference:
    """A fully-qualified image reference; build it with ``Reference.parse``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        if _DOMAIN_RE.fullmatch(self.domain) is None:
            raise InvalidReference(f"invalid reference format: invalid domain {self.domain!r}")
        if _PATH_RE.fullmatch(self.path) is None:
            raise InvalidReference(f"invalid reference format: invalid repository {self.path!r}")
        if len(self.name) > NAME_TOTAL_LENGTH_MAX:
            raise InvalidReference(
                f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
            )
        if self.tag is not None and _TAG_RE.fullmatch(self.tag) is None:
            raise InvalidReference(f"invalid tag format: {self.tag!r}")
        if self.digest is not None:
            validate_digest(self.digest)
        if self.tag is None and self.digest is None:
            raise InvalidReference("a reference needs a tag or a digest")

    @classmethod
    def parse(cls, text: str, *, default_tag: str = DEFAULT_TAG) -> Reference:
        """Parse and normalise like ``docker pull TEXT`` (ParseNormalizedNamed + TagNameOnly).

        A reference with neither tag nor digest gets ``default_tag``.
        """
        if not isinstance(text, str):
            raise InvalidReference(f"invalid reference format: {text!r}")
        if _IDENTIFIER_RE.fullmatch(text):
            raise InvalidReference(
                f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
            )
        domain, remainder = _split_docker_domain(text)
        remote_name = remainder.split(":", 1)[0] if ":" in remainder else remainder
        if "@" in remote_name:
            remote_name = remote_name.split("@", 1)[0]
        if remote_name.lower() != remote_name:
            raise InvalidReference(
                f"invalid reference format: repository name ({remote_name}) must be lowercase"
            )
        full = f"{domain}/{remainder}"
        match = _REFERENCE_RE.fullmatch(full)
        if match is None:
            if not text:
                raise InvalidReference("repository name must have at least one component")
            if _REFERENCE_RE.fullmatch(full.lower()) is not None:
                raise InvalidReference(
                    "invalid reference format: repository name must be lowercase"
                )
            raise InvalidReference(f"invalid reference format: {text!r}")
        name, tag, digest = match.group(1), match.group(2), match.group(3)
        if len(name) > NAME_TOTAL_LENGTH_MAX:
            raise InvalidReference(
                f"invalid reference format: repository name must not be more than "
                f"{NAME_TOTAL_LENGTH_MAX} characters"
            )
        if digest is not None:
            _check_digest(digest)
        if tag is None and digest is None:
            tag = default_tag
        name_domain, _, path = name.partition("/")
        return cls(domain=name_domain, path=path, tag=tag, digest=digest)

    # --- forms ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """``domain/path``, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """Docker's short name: ``busybox``, ``user/app``, ``localhost:5000/x``."""
        if self.domain == DEFAULT_DOMAIN:
            short = self.path
            if (
                short.startswith(OFFICIAL_REPO_PREFIX)
                and "/" not in short[len(OFFICIAL_REPO_PREFIX) :]
            ):
                short = short[len(OFFICIAL_REPO_PREFIX) :]
            return short
        return self.name

    @property
    def familiar(self) -> str:
        """Docker's short form with tag and digest (``busybox:latest``)."""
        return self.familiar_name + self._suffix()

    @property
    def repository(self) -> str:
        """The repository path used in ``/v2/<repository>/...`` URLs (``library/busybox``)."""
        return self.path

    @property
    def registry_host(self) -> str:
        """The host[:port] to connect to (docker.io is served by registry-1.docker.io)."""
        return DEFAULT_REGISTRY_HOST if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        if self.digest is not None:
            return self.digest
        assert self.tag is not None  # noqa: S101 - __post_init__ guarantees one of the two
        return self.tag

    def _suffix(self) -> str:
        suffix = ""
        if self.tag is not None:
            suffix += f":{self.tag}"
        if self.digest is not None:
            suffix += f"@{self.digest}"
        return suffix

    def __str__(self) -> str:
        return self.name + self._suffix()
