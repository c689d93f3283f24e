"""The stage graph: what each stage needs (FROM <stage>, COPY --from, RUN --mount from=), the
stages a target needs in dependency order, meta-ARG expansion, and BuildKit's refusals."""

from __future__ import annotations

import pytest

from hybridock.build.dockerfile.parser import parse
from hybridock.build.dockerfile.stages import dependencies, meta_environment, needed, stage_index
from hybridock.errors import DockerfileError

MULTI = """\
ARG BASE=debian
ARG VARIANT=${BASE}-slim
FROM $BASE AS Base
RUN true
FROM scratch AS tools
FROM base AS build
COPY --from=tools /t /t
RUN --mount=type=bind,from=0,target=/x true
FROM alpine AS unrelated
FROM ${VARIANT} AS final
COPY --from=build /out /out
COPY --from=busybox:latest /bin/sh /sh
"""


def test_stage_index_by_name_or_index() -> None:
    dockerfile = parse(MULTI)
    assert [stage_index(dockerfile, key) for key in ("base", "BASE", "2", "final", "9", "x")] == [
        0,
        0,
        2,
        4,
        None,
        None,
    ]


GRAPH = [
    ("from-stage", 2, {0, 1}),
    ("image-base", 0, set()),
    ("copy-from-and-image", 4, {2}),
    ("nothing", 3, set()),
]


@pytest.mark.parametrize(("stage", "expected"), [c[1:] for c in GRAPH], ids=[c[0] for c in GRAPH])
def test_dependencies(stage: int, expected: set[int]) -> None:
    assert dependencies(parse(MULTI), stage) == expected


NEEDED = [
    ("default-is-last", None, {}, [0, 1, 2, 4]),
    ("target", "build", {}, [0, 1, 2]),
    ("target-case", "TOOLS", {}, [1]),
    ("lone-stage", "unrelated", {}, [3]),
    ("build-arg-makes-base-a-stage", None, {"VARIANT": "tools"}, [1, 0, 2, 4]),
]


@pytest.mark.parametrize(
    ("target", "build_args", "expected"), [c[1:] for c in NEEDED], ids=[c[0] for c in NEEDED]
)
def test_needed(target: str | None, build_args: dict[str, str], expected: list[int]) -> None:
    assert needed(parse(MULTI), target, build_args) == expected


def test_needed_puts_dependencies_first() -> None:
    order = needed(parse(MULTI), None, {"VARIANT": "tools"})
    for index in order:
        assert all(order.index(d) < order.index(index) for d in dependencies(parse(MULTI), index))


def test_meta_environment() -> None:
    dockerfile = parse(MULTI)
    assert meta_environment(dockerfile, {}) == {"BASE": "debian", "VARIANT": "debian-slim"}
    given = meta_environment(dockerfile, {"BASE": "ubuntu", "OTHER": "x"})
    assert given == {"BASE": "ubuntu", "VARIANT": "ubuntu-slim"}
    unset = parse("ARG A\nARG B=${A:-none}\nFROM scratch\n")
    assert meta_environment(unset, {}) == {"B": "none"}


def test_from_a_later_name_is_an_image() -> None:
    dockerfile = parse("FROM later AS first\nFROM scratch AS later\n")
    assert dependencies(dockerfile, 0) == set()


def test_copy_from_a_later_stage_is_allowed_by_name() -> None:
    dockerfile = parse("FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\n")
    assert needed(dockerfile, "a") == [1, 0]


REFUSED = [
    ("unknown-target", "FROM scratch AS a\n", "b", 'target stage "b" could not be found'),
    (
        "index-target-is-not-a-name",
        "FROM scratch AS a\n",
        "0",
        'target stage "0" could not be found',
    ),
    ("bad-index", "FROM scratch\nCOPY --from=3 /a /a\n", None, "invalid stage index 3"),
    (
        "cycle",
        "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n",
        None,
        "circular dependency detected on stage: b",
    ),
    (
        "self",
        "FROM scratch AS a\nCOPY --from=a /x /x\n",
        None,
        "circular dependency detected on stage: a",
    ),
]


@pytest.mark.parametrize(
    ("text", "target", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused(text: str, target: str | None, message: str) -> None:
    with pytest.raises(DockerfileError, match=f"^{message}$"):
        needed(parse(text), target)
