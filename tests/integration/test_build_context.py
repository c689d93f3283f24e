"""The build context and the file side of COPY, on real directories: the context scan with
``.dockerignore``, docker's destination rules, owners and modes, layers as a source, bind mount
sources, and the hostile cases (symlinks out of the context, ``..`` and absolute sources, a
destination through an image symlink to ``/..``), each kept inside its root; and one real
build reading the context by content. ADD's archives and URLs: test_build_add.py."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from tests.integration.contextsupport import context, copy, image, upper
from tests.integration.sidebyside import our_box
from tests.integration.test_build import build, ran
from tests.integration.test_containers import Box

from hybridock import _native
from hybridock.build.context import BuildContext
from hybridock.build.copying import materialize, parse_chmod, resolve_chown
from hybridock.build.trees import (
    context_source,
    layers_source,
)
from hybridock.errors import BuildError

__all__ = ["context", "image", "upper"]  # fixtures


def test_scan_keeps_what_dockerignore_keeps(context: Path) -> None:
    scanned = BuildContext.scan(context, ["*.md", "!README.md", "src/sub", "Dockerfile"])
    assert sorted(scanned.entries) == [
        "README.md",
        "inside-link",
        "main.c",
        "passwd-link",
        "src",
        "src/a.txt",
        "src/out",
    ]
    link = scanned.entries["passwd-link"]
    assert (link.kind, link.link, link.sha256) == ("l", "/etc/passwd", None)
    readme = scanned.entries["README.md"]
    assert (readme.kind, readme.size) == ("f", 7)
    assert f"sha256:{readme.sha256}" == _native.sha256(b"readme\n")


def test_excluded_directory_with_an_exception_is_walked(context: Path) -> None:
    scanned = BuildContext.scan(context, ["src", "!src/sub/b.txt"])
    assert [p for p in scanned.entries if p.startswith("src")] == [
        "src",
        "src/sub",
        "src/sub/b.txt",
    ]


def test_copy_directory_contents_and_file_rules(context: Path, image: Path, upper: Path) -> None:
    source = context_source(BuildContext.scan(context, []))
    copy(source, ["src"], "/app/", upper, [image])
    assert (upper / "app" / "a.txt").read_text() == "a\n"
    assert (upper / "app" / "sub" / "b.txt").read_text() == "b\n"
    assert (upper / "app" / "out").readlink() == Path("/etc/shadow")  # copied as a symlink
    assert (upper / "app" / "a.txt").stat().st_uid == 0
    copy(source, ["main.c"], "renamed.c", upper, [image], working_dir="/work")
    assert (upper / "work" / "renamed.c").read_text() == "int main;\n"
    copy(source, ["main.c"], "/opt", upper, [image])  # an existing directory
    assert (upper / "opt" / "main.c").is_file()
    opt = (upper / "opt").stat()
    assert (opt.st_mode & 0o7777, opt.st_uid) == (0o750, 7)  # copied up as it was
    copy(source, ["*.md"], "/docs", upper, [image])  # several matches: a directory
    assert sorted(path.name for path in (upper / "docs").iterdir()) == ["README.md", "notes.md"]


def test_a_file_where_the_destination_directory_should_be(
    context: Path, image: Path, upper: Path
) -> None:
    source = context_source(BuildContext.scan(context, []))
    with pytest.raises(BuildError, match=r"^failed to copy files: /src: not a directory$"):
        copy(source, ["src"], "/etc/passwd", upper, [image])


def test_several_sources_need_a_directory(context: Path, image: Path, upper: Path) -> None:
    source = context_source(BuildContext.scan(context, []))
    with pytest.raises(BuildError, match="the destination must be a directory and end with a /"):
        copy(source, ["main.c", "README.md"], "/dest", upper, [image])


@pytest.mark.parametrize("missing", ["missing.txt", "../secret", "notes.md", "no/*/match"])
def test_missing_sources_are_not_found(context: Path, missing: str) -> None:
    source = context_source(BuildContext.scan(context, ["notes.md"]))
    if "*" in missing:  # BuildKit: a wildcard may match nothing (nothing copied)
        assert source.select(missing) == []
        return
    with pytest.raises(BuildError, match=r'^"/[a-z.]+": not found$'):
        source.select(missing)


def test_top_level_symlink_is_followed_inside_the_context_only(
    context: Path, image: Path, upper: Path
) -> None:
    source = context_source(BuildContext.scan(context, []))
    copy(source, ["inside-link"], "/copied", upper, [image])
    assert (upper / "copied").read_text() == "a\n"
    with pytest.raises(BuildError, match='"/passwd-link": not found'):
        copy(source, ["passwd-link"], "/stolen", upper, [image])
    with pytest.raises(BuildError, match='"/etc/passwd": not found'):
        source.select("/etc/passwd")  # absolute sources are the context's
    assert not (upper / "stolen").exists()


def test_destination_through_image_symlinks_stays_in_the_rootfs(
    context: Path, image: Path, upper: Path
) -> None:
    source = context_source(BuildContext.scan(context, []))
    copy(source, ["main.c"], "/escape/hacked", upper, [image])
    copy(source, ["main.c"], "/rel/etc/hacked2", upper, [image])
    assert (upper / "hacked").is_file()
    assert (upper / "etc" / "hacked2").is_file()
    assert not (upper.parent / "hacked").exists()
    assert not Path("/etc/hacked2").exists()


def test_chown_chmod_and_link(context: Path, image: Path, upper: Path) -> None:
    assert resolve_chown("app", [str(image)]) == (1000, 1001)
    assert resolve_chown("app:staff", [str(image)]) == (1000, 50)
    assert resolve_chown("42", [str(image)]) == (42, 42)
    with pytest.raises(BuildError, match="unable to find user nobody"):
        resolve_chown("nobody", [str(image)])
    assert parse_chmod("0750") == 0o750
    source = context_source(BuildContext.scan(context, []))
    copy(source, ["src"], "/new/dir/", upper, [image], chown=(1000, 1001), chmod=0o700)
    made = (upper / "new" / "dir").stat()
    assert (made.st_uid, made.st_gid) == (1000, 1001)
    copied = (upper / "new" / "dir" / "a.txt").stat()
    assert (copied.st_uid, copied.st_mode & 0o7777) == (1000, 0o700)
    linked = upper.parent / "linked"
    linked.mkdir()
    copy(source, ["main.c"], "/opt/", linked, [image], link=True)
    assert (linked / "opt").stat().st_mode & 0o7777 == 0o755  # no lower dirs: made fresh


def test_layers_source_keeps_owners_and_honours_whiteouts(image: Path, upper: Path) -> None:
    source = layers_source([str(image)])
    with pytest.raises(BuildError, match='"/gone": not found'):
        source.select("/gone")
    copy(source, ["/keep"], "/from-stage/", upper, [])
    status = (upper / "from-stage" / "file").stat()
    assert (status.st_uid, status.st_gid) == (5, 6)
    before = source.digest(["/keep"])
    os.utime(image / "keep" / "file", (1, 1))
    assert source.digest(["/keep"]) == before  # never times
    (image / "keep" / "file").write_text("changed\n")
    assert source.digest(["/keep"]) != before


def test_context_digest_ignores_times_follows_content(context: Path) -> None:
    first = context_source(BuildContext.scan(context, [])).digest(["/src"])
    os.utime(context / "src" / "a.txt", (1, 1))
    assert context_source(BuildContext.scan(context, [])).digest(["/src"]) == first
    (context / "src" / "a.txt").write_text("A\n")
    assert context_source(BuildContext.scan(context, [])).digest(["/src"]) != first


def test_materialize_for_bind_mounts(context: Path, image: Path, tmp_path: Path) -> None:
    source = context_source(BuildContext.scan(context, []))
    assert materialize(source, "src") == context / "src"
    assert materialize(source, "inside-link") == context / "src" / "a.txt"
    with pytest.raises(BuildError, match="not found"):
        materialize(source, "passwd-link")
    with pytest.raises(BuildError, match="not found"):
        materialize(source, "../secret")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    copied = materialize(layers_source([str(image)]), "/keep", scratch)
    assert (copied / "file").read_text() == "kept\n"


def test_upper_encodes_as_an_overlay_layer(context: Path, image: Path, upper: Path) -> None:
    source = context_source(BuildContext.scan(context, []))
    copy(source, ["main.c"], "/gone", upper, [image])  # replaces a whiteout in the image
    out = upper.parent / "layer.tar"
    _native.encode_layer(str(upper), str(out), "none", overlay=True)
    with tarfile.open(out) as layer:
        assert layer.getnames() == ["gone"]


def test_directory_copy_merges_with_what_the_image_has(
    context: Path, image: Path, upper: Path
) -> None:
    """New names go through the native copier, names the image shows through the view."""
    (image / "app" / "sub").mkdir(parents=True)
    (image / "app" / "sub" / "lower.txt").write_text("lower\n")
    (context / "src" / "sub" / "ignored.txt").write_text("ignored\n")
    source = context_source(BuildContext.scan(context, ["**/ignored.txt"]))
    copy(source, ["src"], "/app", upper, [image], chown=(3, 4))
    assert (upper / "app" / "a.txt").read_text() == "a\n"
    assert (upper / "app" / "sub" / "b.txt").read_text() == "b\n"
    assert not (upper / "app" / "sub" / "lower.txt").exists()  # stays in its layer
    assert not (upper / "app" / "sub" / "ignored.txt").exists()
    assert (upper / "app" / "out").readlink() == Path("/etc/shadow")
    status = (upper / "app" / "a.txt").stat()
    assert (status.st_uid, status.st_gid) == (3, 4)
    assert ((upper / "app" / "sub" / "b.txt").stat().st_uid) == 3
    (context / "fresh").mkdir()
    (context / "fresh" / "ignored.txt").write_text("x\n")
    (context / "fresh" / "kept").write_text("kept\n")
    source = context_source(BuildContext.scan(context, ["**/ignored.txt"]))
    copy(source, ["fresh"], "/new/", upper, [image])
    assert sorted(path.name for path in (upper / "new").iterdir()) == ["kept"]


box = our_box("buildcontext")


@pytest.mark.root
@pytest.mark.registry
def test_build_reads_the_context_once_by_content(box: Box, context: Path) -> None:
    """End to end: .dockerignore applies, a bind mount reads the context, and the cache
    follows contents: an ignored file or a new time reruns nothing, a changed file reruns
    the steps that read it."""
    (context / ".dockerignore").write_text("*.md\n!README.md\nsrc/sub\n")
    dockerfile = (
        "FROM busybox\n"
        "COPY . /app/\n"
        "RUN --mount=type=bind,source=main.c,target=/m cat /m > /bound\n"
    )
    tag = "built/context-once"
    try:
        code, progress = build(box, context, dockerfile, "-t", tag)
        assert code == 0, progress
        listing = box.ok("run", "--rm", tag, "find", "/app").split()
        assert sorted(listing) == [
            "/app",
            "/app/.dockerignore",
            "/app/Dockerfile",
            "/app/README.md",
            "/app/inside-link",
            "/app/main.c",
            "/app/passwd-link",
            "/app/src",
            "/app/src/a.txt",
            "/app/src/out",
        ]
        assert box.ok("run", "--rm", tag, "readlink", "/app/passwd-link") == "/etc/passwd\n"
        assert box.ok("run", "--rm", tag, "cat", "/bound") == "int main;\n"

        (context / "notes.md").write_text("ignored change\n")
        os.utime(context / "main.c", (1, 1))
        code, progress = build(box, context, dockerfile, "-t", tag)
        assert (code, ran(progress)) == (0, []), progress

        (context / "main.c").write_text("int changed;\n")
        code, progress = build(box, context, dockerfile, "-t", tag)
        assert code == 0, progress
        assert [step.split("]")[0] for step in ran(progress)] == ["[2/3", "[3/3"]
        assert box.ok("run", "--rm", tag, "cat", "/bound") == "int changed;\n"
    finally:
        box("rmi", "-f", tag)
        box("builder", "prune", "-a", "-f")
