"""Docker's reference grammar and normalisation, as a named table (distribution/reference's
own examples where it has them)."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from hybridock.errors import InvalidReference
from hybridock.reference import Reference, is_digest, validate_digest

HEX = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
HEX_A = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"


class Valid(NamedTuple):
    name: str
    text: str
    full: str
    familiar: str
    repository: str
    registry_host: str


VALID = [
    Valid("official short", "busybox", "docker.io/library/busybox:latest", "busybox:latest",
          "library/busybox", "registry-1.docker.io"),
    Valid("official with library", "library/debian", "docker.io/library/debian:latest",
          "debian:latest", "library/debian", "registry-1.docker.io"),
    Valid("user repo", "docker/docker", "docker.io/docker/docker:latest", "docker/docker:latest",
          "docker/docker", "registry-1.docker.io"),
    Valid("docker.io short", "docker.io/debian", "docker.io/library/debian:latest",
          "debian:latest", "library/debian", "registry-1.docker.io"),
    Valid("legacy index", "index.docker.io/debian", "docker.io/library/debian:latest",
          "debian:latest", "library/debian", "registry-1.docker.io"),
    Valid("legacy index user", "index.docker.io/docker/docker:1", "docker.io/docker/docker:1",
          "docker/docker:1", "docker/docker", "registry-1.docker.io"),
    Valid("library nested stays", "docker.io/library/foo/bar", "docker.io/library/foo/bar:latest",
          "library/foo/bar:latest", "library/foo/bar", "registry-1.docker.io"),
    Valid("localhost port", "localhost:5000/x", "localhost:5000/x:latest",
          "localhost:5000/x:latest", "x", "localhost:5000"),
    Valid("bare localhost", "localhost/debian", "localhost/debian:latest",
          "localhost/debian:latest", "debian", "localhost"),
    Valid("ipv4 port", "127.0.0.1:5000/library/debian:12", "127.0.0.1:5000/library/debian:12",
          "127.0.0.1:5000/library/debian:12", "library/debian", "127.0.0.1:5000"),
    Valid("ipv4 no port", "192.168.0.1/debian", "192.168.0.1/debian:latest",
          "192.168.0.1/debian:latest", "debian", "192.168.0.1"),
    Valid("ipv6 port", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo:latest",
          "[2001:db8::1]:5000/repo:latest", "repo", "[2001:db8::1]:5000"),
    Valid("ipv6 no port", "[2001:db8::1]/repo", "[2001:db8::1]/repo:latest",
          "[2001:db8::1]/repo:latest", "repo", "[2001:db8::1]"),
    Valid("deep path", "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
          "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
          "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "bar/baz/quux", "sub-dom1.foo.com"),
    Valid("digest", f"reg.example.com/ns/name@sha256:{HEX}",
          f"reg.example.com/ns/name@sha256:{HEX}", f"reg.example.com/ns/name@sha256:{HEX}",
          "ns/name", "reg.example.com"),
    Valid("dotless first part is a path", f"host/ns/name@sha256:{HEX}",
          f"docker.io/host/ns/name@sha256:{HEX}", f"host/ns/name@sha256:{HEX}", "host/ns/name",
          "registry-1.docker.io"),
    Valid("digest on official", f"busybox@sha256:{HEX}", f"docker.io/library/busybox@sha256:{HEX}",
          f"busybox@sha256:{HEX}", "library/busybox", "registry-1.docker.io"),
    Valid("tag and digest", f"busybox:1.36@sha256:{HEX}",
          f"docker.io/library/busybox:1.36@sha256:{HEX}", f"busybox:1.36@sha256:{HEX}",
          "library/busybox", "registry-1.docker.io"),
    Valid("uppercase tag", "lowercase:Uppercase", "docker.io/library/lowercase:Uppercase",
          "lowercase:Uppercase", "library/lowercase", "registry-1.docker.io"),
    Valid("no-slash colon is a tag", "foo_bar.com:8080", "docker.io/library/foo_bar.com:8080",
          "foo_bar.com:8080", "library/foo_bar.com", "registry-1.docker.io"),
    Valid("separators", "foo__bar/a.b-c---d_e", "docker.io/foo__bar/a.b-c---d_e:latest",
          "foo__bar/a.b-c---d_e:latest", "foo__bar/a.b-c---d_e", "registry-1.docker.io"),
    Valid("punycode", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com",
          "xn--n3h.com/myimage:xn--n3h.com", "myimage", "xn--n3h.com"),
    Valid("64 chars not hex", "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
          "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
          "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest",
          "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
          "registry-1.docker.io"),
    Valid("hex under a path", f"docker.io/{HEX_A}", f"docker.io/library/{HEX_A}:latest",
          f"{HEX_A}:latest", f"library/{HEX_A}", "registry-1.docker.io"),
    Valid("uppercase domain", "Foo.com/bar", "Foo.com/bar:latest", "Foo.com/bar:latest", "bar",
          "Foo.com"),
]  # fmt: skip


@pytest.mark.parametrize("case", VALID, ids=[c.name for c in VALID])
def test_valid_references(case: Valid) -> None:
    ref = Reference.parse(case.text)
    assert str(ref) == case.full
    assert ref.familiar == case.familiar
    assert ref.repository == case.repository
    assert ref.registry_host == case.registry_host
    assert Reference.parse(str(ref)) == ref, "the full form parses back to itself"


class Invalid(NamedTuple):
    name: str
    text: str
    message: str


INVALID = [
    Invalid("empty", "", "must have at least one component"),
    Invalid("url", "https://github.com/docker/docker", "invalid reference format"),
    Invalid("uppercase repo", "docker/Docker", r"name \(docker/Docker\) must be lowercase"),
    Invalid("uppercase official", "Busybox", r"name \(library/Busybox\) must be lowercase"),
    Invalid("uppercase with domain", "test:5000/Uppercase/lowercase:tag", "must be lowercase"),
    Invalid("uppercase under docker.io", "docker.io/docker/Docker", "must be lowercase"),
    Invalid("leading dash", "-docker", "invalid reference format"),
    Invalid("leading dash path", "-docker/docker", "invalid reference format"),
    Invalid("empty components", "docker///docker", "invalid reference format"),
    Invalid("triple underscore", "foo___bar", "invalid reference format"),
    Invalid("dot dash", "foo.-bar", "invalid reference format"),
    Invalid("bad characters", "aa/asdf$$^/aa", "invalid reference format"),
    Invalid("caret", "a^a", "invalid reference format"),
    Invalid("only a tag", ":justtag", "invalid reference format"),
    Invalid("only a digest", f"@sha256:{HEX}", "invalid reference format"),
    Invalid("empty tag", "busybox:", "invalid reference format"),
    Invalid("tag too long", "foo:" + "a" * 129, "invalid reference format"),
    Invalid("64 hex id", HEX_A, "cannot specify 64-byte hexadecimal strings"),
    Invalid("short digest", "busybox@sha256:abc", "invalid reference format"),
    Invalid("unknown algorithm", f"validname@invaliddigest:{HEX}", "unsupported digest algorithm"),
    Invalid("wrong digest length", f"validname@sha256:{HEX}ff", "invalid checksum digest length"),
    Invalid("sha512 unsupported", "validname@sha512:" + "a" * 128, "unsupported digest algorithm"),
    Invalid("uppercase digest hex", "validname@sha256:" + "F" * 64, "invalid checksum digest"),
    Invalid("name too long", "a/" * 128 + "a", "must not be more than 255 characters"),
    Invalid("bare ipv6", "2001:db8::1/repo", "invalid reference format"),
]  # fmt: skip


@pytest.mark.parametrize("case", INVALID, ids=[c.name for c in INVALID])
def test_invalid_references(case: Invalid) -> None:
    with pytest.raises(InvalidReference, match=case.message):
        Reference.parse(case.text)


def test_name_of_exactly_255_characters_is_allowed() -> None:
    path = "a" * (255 - len("docker.io/library/"))
    assert len(Reference.parse(path).name) == 255


def test_identifier_prefers_the_digest() -> None:
    assert Reference.parse(f"busybox:1@sha256:{HEX}").identifier == f"sha256:{HEX}"
    assert Reference.parse("busybox:1").identifier == "1"


@pytest.mark.parametrize(
    ("name", "value", "valid"),
    [
        ("good", f"sha256:{HEX}", True),
        ("uppercase hex", f"sha256:{HEX.upper()}", False),
        ("short", "sha256:abc", False),
        ("path traversal", "sha256:../../etc/passwd", False),
        ("other algorithm", f"sha512:{HEX}{HEX}", False),
        ("trailing newline", f"sha256:{HEX}\n", False),
    ],
)
def test_digest_validation(name: str, value: str, valid: bool) -> None:
    assert is_digest(value) is valid, name
    if valid:
        assert validate_digest(value) == value
    else:
        with pytest.raises(InvalidReference):
            validate_digest(value)


def test_constructed_references_are_validated() -> None:
    with pytest.raises(InvalidReference):
        Reference("docker.io", "library/busybox", None, "sha256:../../x")
    with pytest.raises(InvalidReference):
        Reference("docker.io", "library/busybox", None, None)
