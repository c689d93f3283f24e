"""Acceptance tests of ``hybridock pull`` and the image store (issue 2): what lands on disk,
what ``images`` / ``image inspect`` show, what a pull prints, and what it does not fetch again.

Every test drives the real ``hybridock`` console script against a real registry whose proxy
counts requests, so "cached" means "the registry saw no such request".
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import ImageBuilder
from tests.support.cli import CliResult, ok
from tests.support.images import BuiltImage, ImageSpec, ManifestFormat, Platform, build_index
from tests.support.layers import (
    Compression,
    Device,
    Dir,
    Entry,
    Fifo,
    File,
    Hardlink,
    Layer,
    OpaqueWhiteout,
    Symlink,
    Whiteout,
)
from tests.support.proxy import Fault
from tests.support.registry import Registry
from tests.support.testimages import host_platform

RunCli = Callable[..., CliResult]

pytestmark = pytest.mark.registry

HEX64 = re.compile(r"^sha256:[0-9a-f]{64}$")


# --- helpers ------------------------------------------------------------------------------------


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    import hashlib  # noqa: PLC0415

    chain: list[str] = []
    for diff_id in diff_ids:
        if chain:
            joined = f"{chain[-1]} {diff_id}".encode()
            chain.append("sha256:" + hashlib.sha256(joined).hexdigest())
        else:
            chain.append(diff_id)
    return chain


def layer_dir(root: Path, chain_id: str) -> Path:
    return root / "layers" / chain_id.removeprefix("sha256:")


def db_count(root: Path, table: str) -> int:
    with sqlite3.connect(root / "metadata.db") as connection:
        return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608


def image_ids(run_cli: RunCli, *args: str) -> list[str]:
    return ok(run_cli("images", "-q", *args)).stdout.split()


def unique_repository(request: pytest.FixtureRequest, prefix: str = "pull") -> str:
    """A repository name of the test's own, so the shared registry's tags never collide."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"{prefix}/{name}"


# --- what an extracted layer must hold ----------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    kind: str  # file dir symlink char block fifo
    mode: int | None = None  # permission bits incl. setuid/setgid/sticky
    uid: int = 0
    gid: int = 0
    mtime: int | None = None
    content: bytes | None = None
    target: str | None = None
    rdev: tuple[int, int] | None = None
    xattrs: dict[str, bytes] | None = None
    same_inode_as: str | None = None


def expected_tree(entries: Sequence[Entry]) -> dict[str, Expected]:
    """What ``layers/<chain>/`` must hold for these entries, in overlayfs whiteout format."""
    tree: dict[str, Expected] = {}
    for entry in entries:
        if isinstance(entry, File):
            xattrs = {k: v.encode() if isinstance(v, str) else v for k, v in entry.xattrs.items()}
            tree[entry.path] = Expected(
                "file", entry.mode, entry.uid, entry.gid, entry.mtime, entry.data, xattrs=xattrs
            )
        elif isinstance(entry, Dir):
            xattrs = {k: v.encode() if isinstance(v, str) else v for k, v in entry.xattrs.items()}
            old = tree.get(entry.path.rstrip("/"))
            if old is not None and old.xattrs:
                xattrs = {**old.xattrs, **xattrs}
            tree[entry.path.rstrip("/")] = Expected(
                "dir", entry.mode, entry.uid, entry.gid, entry.mtime, xattrs=xattrs
            )
        elif isinstance(entry, Symlink):
            tree[entry.path] = Expected(
                "symlink", None, entry.uid, entry.gid, entry.mtime, target=entry.target
            )
        elif isinstance(entry, Hardlink):
            tree[entry.path] = Expected("hardlink", same_inode_as=entry.target)
        elif isinstance(entry, Whiteout):
            tree[entry.path] = Expected("char", None, 0, 0, rdev=(0, 0))
        elif isinstance(entry, OpaqueWhiteout):
            directory = entry.directory.rstrip("/")
            old = tree[directory]
            tree[directory] = Expected(
                old.kind,
                old.mode,
                old.uid,
                old.gid,
                old.mtime,
                xattrs={**(old.xattrs or {}), "trusted.overlay.opaque": b"y"},
            )
        elif isinstance(entry, Device):
            tree[entry.path] = Expected(
                entry.kind, entry.mode, entry.uid, entry.gid, rdev=(entry.major, entry.minor)
            )
        elif isinstance(entry, Fifo):
            tree[entry.path] = Expected("fifo", entry.mode, entry.uid, entry.gid)
    return tree


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISDIR, "dir"),
        (stat.S_ISREG, "file"),
        (stat.S_ISCHR, "char"),
        (stat.S_ISBLK, "block"),
        (stat.S_ISFIFO, "fifo"),
    ):
        if test(mode):
            return name
    return "other"


def assert_tree_matches(directory: Path, entries: Sequence[Entry]) -> None:
    """The extracted tree holds exactly ``entries``, with their metadata."""
    expected = expected_tree(entries)
    found = {str(path.relative_to(directory)) for path in directory.rglob("*")}
    assert found == set(expected), f"paths differ: {sorted(found ^ set(expected))}"
    for name, want in expected.items():
        path = directory / name
        info = path.lstat()
        if want.kind == "hardlink":
            target = (directory / str(want.same_inode_as)).lstat()
            assert (info.st_ino, info.st_dev) == (target.st_ino, target.st_dev), name
            assert info.st_nlink >= 2, name
            continue
        assert _kind(info.st_mode) == want.kind, name
        if want.mode is not None:
            assert stat.S_IMODE(info.st_mode) == want.mode, f"{name}: {oct(info.st_mode)}"
        assert (info.st_uid, info.st_gid) == (want.uid, want.gid), name
        if want.mtime is not None:
            assert int(info.st_mtime) == want.mtime, name
        if want.content is not None:
            assert path.read_bytes() == want.content, name
        if want.target is not None:
            assert str(path.readlink()) == want.target, name
        if want.rdev is not None:
            assert (os.major(info.st_rdev), os.minor(info.st_rdev)) == want.rdev, name
        if want.kind in ("file", "dir"):
            names = os.listxattr(path, follow_symlinks=False)
            xattrs = {n: os.getxattr(path, n, follow_symlinks=False) for n in names}
            assert xattrs == (want.xattrs or {}), name


# A base layer with every kind of entry and the metadata docker preserves, and a second layer
# that deletes and hides things of the first (whiteout, opaque directory) and adds its own.
BASE_ENTRIES: list[Entry] = [
    Dir("bin"),
    File("bin/tool", b"\x7fELF-ish tool", mode=0o4755),
    File("bin/group-tool", b"sgid", mode=0o2711, gid=50),
    Dir("tmp", mode=0o1777),
    Dir("etc", mode=0o750, uid=1, gid=2, mtime=1_600_000_000),
    File("etc/config", "key=value\n", mode=0o640, uid=1000, gid=1000, mtime=1_234_567_890),
    File("etc/secret", b"\x00\x01", xattrs={"user.origin": "tests"}),
    Symlink("etc/link", "config", uid=1000, gid=1000, mtime=1_300_000_000),
    Symlink("etc/absolute", "/etc/config"),
    Hardlink("etc/hard", "etc/config"),
    Dir("var"),
    Dir("var/cache"),
    File("var/cache/old", "old"),
    Dir("usr"),
    File("usr/gone", "soon deleted"),
    Dir("dev"),
    Device("dev/null", 1, 3),
    Device("dev/sda", 8, 0, kind="block", mode=0o660, gid=6),
    Dir("run"),
    Fifo("run/pipe", mode=0o600),
]
TOP_ENTRIES: list[Entry] = [
    Dir("usr"),
    Whiteout("usr/gone"),
    Dir("var"),
    Dir("var/cache", mode=0o700),
    OpaqueWhiteout("var/cache"),
    File("var/cache/new", "new"),
    Dir("opt", xattrs={"user.layer": "top"}),
    File("opt/data", b"x" * 100_000, mode=0o600, uid=65534, gid=65534),
]
THIRD_ENTRIES: list[Entry] = [Dir("srv"), File("srv/index.html", "<h1>hi</h1>\n")]
ALL_LAYERS = [BASE_ENTRIES, TOP_ENTRIES, THIRD_ENTRIES]


def layered_spec(compression: Compression, *, platform: Platform | None = None) -> ImageSpec:
    return ImageSpec(
        layers=[Layer(entries, compression) for entries in ALL_LAYERS],
        cmd=["/bin/tool"],
        labels={"org.example.compression": compression},
        platform=platform or host_platform(),
    )


@dataclass(frozen=True)
class Variant:
    name: str
    compression: Compression
    manifest_format: ManifestFormat


VARIANTS = [
    Variant("oci-gzip", "gzip", "oci"),
    Variant("oci-zstd", "zstd", "oci"),
    Variant("oci-uncompressed", "none", "oci"),
    Variant("docker-v2s2-gzip", "gzip", "docker"),
    Variant("docker-v2s2-uncompressed", "none", "docker"),
]


@pytest.mark.root
@pytest.mark.parametrize("by", ["tag", "digest"])
@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_pull_extracts_every_layer_exactly(
    *,
    variant: Variant,
    by: str,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
) -> None:
    built = layered_spec(variant.compression).build(variant.manifest_format)
    pushed = image_builder.push(built, registry, f"layers/{variant.name}", "v1")
    reference = pushed.reference if by == "tag" else pushed.digest_reference

    result = ok(run_cli("pull", reference))

    assert result.stdout.splitlines()[-1] == reference
    chain = chain_ids(built.diff_ids)
    for entries, chain_id in zip(ALL_LAYERS, chain, strict=True):
        assert_tree_matches(layer_dir(hybridock_root, chain_id), entries)
    for digest in [*built.layer_digests, built.config_digest, built.digest]:
        assert (hybridock_root / "blobs/sha256" / digest.removeprefix("sha256:")).is_file()
    assert image_ids(run_cli, "--no-trunc") == [built.config_digest]
    assert list((hybridock_root / "tmp").iterdir()) == []
    assert registry.blob_gets() == len(built.layers) + 1  # each layer and the config, once


# --- pull output --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputCase:
    name: str
    typed: Callable[[str, str], str]  # (address/repository, digest) -> what the user types
    last_line: Callable[[str, str], str]
    status_name: Callable[[str, str], str]


OUTPUT_CASES = [
    OutputCase(
        "tag",
        lambda repo, _: f"{repo}:v1",
        lambda repo, _: f"{repo}:v1",
        lambda repo, _: f"{repo}:v1",
    ),
    OutputCase(
        "default-tag",
        lambda repo, _: repo,
        lambda repo, _: f"{repo}:latest",
        lambda repo, _: f"{repo}:latest",
    ),
    OutputCase(
        "digest",
        lambda repo, digest: f"{repo}@{digest}",
        lambda repo, digest: f"{repo}@{digest}",
        lambda repo, digest: f"{repo}@{digest}",
    ),
]


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=[c.name for c in OUTPUT_CASES])
def test_pull_prints_digest_status_and_reference(
    case: OutputCase,
    registry: Registry,
    image_builder: ImageBuilder,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = unique_repository(request)
    built = image_builder.hello()
    assert isinstance(built, BuiltImage)
    for tag in ("v1", "latest"):
        pushed = image_builder.push(built, registry, repository, tag)
    repo = f"{pushed.address}/{repository}"
    typed = case.typed(repo, built.digest)

    first = ok(run_cli("pull", typed)).stdout.splitlines()
    second = ok(run_cli("pull", typed)).stdout.splitlines()

    assert first[-3:] == [
        f"Digest: {built.digest}",
        f"Status: Downloaded newer image for {case.status_name(repo, built.digest)}",
        case.last_line(repo, built.digest),
    ]
    assert second[-3:] == [
        f"Digest: {built.digest}",
        f"Status: Image is up to date for {case.status_name(repo, built.digest)}",
        case.last_line(repo, built.digest),
    ]
    if case.name == "default-tag":
        assert first[0] == "Using default tag: latest"


def test_pull_quiet_prints_only_the_reference(
    registry: Registry,
    image_builder: ImageBuilder,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    """As docker: -q drops the progress, Digest: and Status: lines, not the reference."""
    pushed = image_builder.push(image_builder.hello(), registry, unique_repository(request))

    assert ok(run_cli("pull", "-q", pushed.reference)).stdout == f"{pushed.reference}\n"
    assert ok(run_cli("pull", "-q", pushed.reference)).stdout == f"{pushed.reference}\n"
    by_digest = f"{pushed.address}/{pushed.repository}@{pushed.digest}"
    assert ok(run_cli("pull", "-q", by_digest)).stdout == f"{by_digest}\n"


def test_pull_through_the_docker_io_mirror_prints_the_familiar_names(
    registry: Registry, image_builder: ImageBuilder, run_cli: RunCli
) -> None:
    published = image_builder.publish_library(registry)

    lines = ok(run_cli("pull", "hello-world")).stdout.splitlines()

    assert lines[-3:] == [
        f"Digest: {published['hello-world'].digest}",
        "Status: Downloaded newer image for hello-world:latest",
        "docker.io/library/hello-world:latest",
    ]


# --- images, image inspect ----------------------------------------------------------------------

IMAGES_HEADER = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]


def columns(line: str) -> list[str]:
    """Split a table row on runs of two or more spaces (CREATED holds single spaces)."""
    return re.split(r"\s{2,}", line.strip())


def test_images_lists_columns_digests_quiet_and_no_trunc(
    registry: Registry,
    image_builder: ImageBuilder,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = unique_repository(request)
    built = ImageSpec(
        layers=[Layer([File("a", b"a" * 5000)]), Layer([File("b", "b")])],
        created="2020-01-02T03:04:05Z",
    ).build()
    pushed = image_builder.push(built, registry, repository, "v1")
    ok(run_cli("pull", pushed.reference))
    short = built.config_digest.removeprefix("sha256:")[:12]
    repo = f"{pushed.address}/{repository}"

    plain = ok(run_cli("images")).stdout.splitlines()
    assert columns(plain[0]) == IMAGES_HEADER
    assert len(plain) == 2
    row = columns(plain[1])
    assert row[:3] == [repo, "v1", short]
    assert re.fullmatch(r"\d+ years ago", row[3]), row
    assert re.fullmatch(r"[0-9.]+(B|kB|MB)", row[4]), row

    digests = ok(run_cli("images", "--digests")).stdout.splitlines()
    assert columns(digests[0]) == ["REPOSITORY", "TAG", "DIGEST", *IMAGES_HEADER[2:]]
    assert columns(digests[1])[:4] == [repo, "v1", built.digest, short]

    assert ok(run_cli("images", "-q")).stdout == f"{short}\n"
    assert ok(run_cli("images", "-q", "--no-trunc")).stdout == f"{built.config_digest}\n"
    no_trunc = ok(run_cli("images", "--no-trunc")).stdout.splitlines()
    assert columns(no_trunc[1])[:3] == [repo, "v1", built.config_digest]
    assert ok(run_cli("images", repo)).stdout.splitlines()[1:] == plain[1:]
    assert ok(run_cli("images", "-q", f"{repo}:nope")).stdout == ""


IMAGE_JSON_FIELDS = {
    "Containers",
    "CreatedAt",
    "CreatedSince",
    "Digest",
    "ID",
    "Repository",
    "SharedSize",
    "Size",
    "Tag",
    "UniqueSize",
    "VirtualSize",
}


@dataclass(frozen=True)
class ListedImages:
    repo: str  # address/repository, as images shows it
    old: BuiltImage  # :old, created 2020
    web: BuiltImage  # :web, created 2021, label tier=web
    new: BuiltImage  # :new, created 2022
    dangling: BuiltImage  # was :moving (2019), then the tag moved to ``new``

    def short(self, image: BuiltImage) -> str:
        return image.config_digest.removeprefix("sha256:")[:12]


@pytest.fixture
def listed_images(
    registry: Registry,
    image_builder: ImageBuilder,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> ListedImages:
    repository = unique_repository(request)

    def image(name: str, created: str, **labels: str) -> BuiltImage:
        return ImageSpec(layers=[Layer([File(name, name)])], created=created, labels=labels).build()

    found = ListedImages(
        repo=f"{registry.address}/{repository}",
        old=image("old", "2020-01-02T03:04:05Z"),
        web=image("web", "2021-01-02T03:04:05Z", tier="web"),
        new=image("new", "2022-01-02T03:04:05Z"),
        dangling=image("dangling", "2019-01-02T03:04:05Z"),
    )
    for tag, built in (("old", found.old), ("web", found.web), ("moving", found.dangling)):
        pushed = image_builder.push(built, registry, repository, tag)
        ok(run_cli("pull", pushed.reference))
    for tag in ("new", "moving"):
        pushed = image_builder.push(found.new, registry, repository, tag)
        ok(run_cli("pull", pushed.reference))
    return found


def test_images_all_lists_the_dangling_image_as_the_default_does(
    listed_images: ListedImages, run_cli: RunCli
) -> None:
    """docker's -a adds intermediate images, which hybridock never has: the same listing."""
    listed = ok(run_cli("images", "-a")).stdout
    assert listed == ok(run_cli("images")).stdout
    rows = [columns(line)[:3] for line in listed.splitlines()[1:]]
    assert [listed_images.repo, "<none>", listed_images.short(listed_images.dangling)] in rows


def test_images_format_json_table_and_template(
    listed_images: ListedImages, run_cli: RunCli
) -> None:
    utc = {"TZ": "UTC"}
    lines = ok(run_cli("images", "--format", "json", env=utc)).stdout.splitlines()
    assert all(line.startswith('{"Containers":"N/A","CreatedAt":') for line in lines), lines
    rows = [json.loads(line) for line in lines]
    assert all(set(row) == IMAGE_JSON_FIELDS for row in rows), rows
    old = next(row for row in rows if row["Tag"] == "old")
    assert old == {
        **old,
        "Repository": listed_images.repo,
        "ID": listed_images.short(listed_images.old),
        "Digest": "<none>",
        "CreatedAt": "2020-01-02 03:04:05 +0000 UTC",
    }
    assert re.fullmatch(r"\d+ years ago", old["CreatedSince"]), old

    template = "{{.Repository}}:{{.Tag}} {{.ID}}"
    shown = ok(run_cli("images", "--format", template)).stdout.splitlines()
    assert f"{listed_images.repo}:new {listed_images.short(listed_images.new)}" in shown
    assert len(shown) == 5  # new (twice: new, moving), web, old, the dangling one

    custom = ok(run_cli("images", "--format", "table {{.Tag}}\t{{.ID}}")).stdout.splitlines()
    assert custom[0] == "TAG       IMAGE ID"
    assert f"old       {listed_images.short(listed_images.old)}" in custom
    assert ok(run_cli("images", "--format", "table")).stdout == ok(run_cli("images")).stdout


@dataclass(frozen=True)
class FilterCase:
    name: str
    filters: tuple[str, ...]
    listed: Callable[[ListedImages], list[BuiltImage]]


FILTER_CASES = [
    FilterCase("dangling", ("dangling=true",), lambda i: [i.dangling]),
    FilterCase("not-dangling", ("dangling=false",), lambda i: [i.old, i.web, i.new, i.dangling]),
    FilterCase("label-key", ("label=tier",), lambda i: [i.web]),
    FilterCase("label-value", ("label=tier=web",), lambda i: [i.web]),
    FilterCase("label-other-value", ("label=tier=db",), lambda i: []),
    FilterCase("before", ("before={repo}:web",), lambda i: [i.old, i.dangling]),
    FilterCase("since", ("since={repo}:old",), lambda i: [i.web, i.new]),
    FilterCase("since-and-before", ("since={repo}:old", "before={repo}:new"), lambda i: [i.web]),
    FilterCase("reference-tag", ("reference={repo}:web",), lambda i: [i.web]),
    FilterCase("reference-pattern", ("reference=*/*/*:[nw]e*",), lambda i: [i.web, i.new]),
    FilterCase(
        "reference-repository", ("reference={repo}",), lambda i: [i.old, i.web, i.new, i.dangling]
    ),
]


@pytest.mark.parametrize("case", FILTER_CASES, ids=[c.name for c in FILTER_CASES])
def test_images_filters(case: FilterCase, listed_images: ListedImages, run_cli: RunCli) -> None:
    args = [f"--filter={f.format(repo=listed_images.repo)}" for f in case.filters]
    shown = set(ok(run_cli("images", "-q", "--no-trunc", *args)).stdout.split())
    assert shown == {image.config_digest for image in case.listed(listed_images)}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("color=red", "Error: Invalid filter 'color'"),
        ("dangling=maybe", "Error: Invalid filter 'dangling=[maybe]'"),
    ],
)
def test_images_refuses_an_unknown_filter_as_docker_does(
    given: str, message: str, run_cli: RunCli
) -> None:
    result = run_cli("images", "--filter", given)
    assert (result.returncode, result.stderr) == (1, f"{message}\n"), str(result)


def test_image_inspect_reports_the_pulled_image(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = unique_repository(request)
    spec = ImageSpec(
        layers=[Layer([File("a", "a")]), Layer([File("b", "b")], "zstd")],
        entrypoint=["/a"],
        cmd=["--flag"],
        env=("PATH=/bin", "KEY=value"),
        working_dir="/work",
        user="1000:1000",
        labels={"maintainer": "tests"},
        platform=host_platform(),
    )
    built = spec.build()
    pushed = image_builder.push(built, registry, repository, "v1")
    ok(run_cli("pull", pushed.reference))
    repo = f"{pushed.address}/{repository}"

    for name in (pushed.reference, built.config_digest, built.config_digest[7:19]):
        documents = json.loads(ok(run_cli("image", "inspect", name)).stdout)
        assert len(documents) == 1
        document = documents[0]
        assert document["Id"] == built.config_digest
        assert document["RepoTags"] == [f"{repo}:v1"]
        assert document["RepoDigests"] == [f"{repo}@{built.digest}"]
        assert document["Created"] == "2023-11-14T22:13:20Z"
        assert document["Os"] == "linux"
        assert document["Architecture"] == host_platform().architecture
        assert document["Config"]["Entrypoint"] == ["/a"]
        assert document["Config"]["Cmd"] == ["--flag"]
        assert document["Config"]["Env"] == ["PATH=/bin", "KEY=value"]
        assert document["Config"]["WorkingDir"] == "/work"
        assert document["Config"]["User"] == "1000:1000"
        assert document["Config"]["Labels"] == {"maintainer": "tests"}
        assert document["RootFS"] == {"Type": "layers", "Layers": built.diff_ids}
        assert document["Size"] > 0
        chain = chain_ids(built.diff_ids)
        assert document["GraphDriver"]["Data"]["UpperDir"] == str(
            layer_dir(hybridock_root, chain[1])
        )
        assert document["GraphDriver"]["Data"]["LowerDir"] == str(
            layer_dir(hybridock_root, chain[0])
        )

    formatted = ok(
        run_cli("image", "inspect", "-f", "{{.Config.User}} {{json .RootFS}}", pushed.reference)
    )
    root_fs = json.dumps({"Type": "layers", "Layers": built.diff_ids}, separators=(",", ":"))
    assert formatted.stdout == f"1000:1000 {root_fs}\n"

    missing = run_cli("image", "inspect", "no-such-image:v9")
    assert missing.returncode == 1
    assert "No such image" in missing.stderr
    assert "Traceback" not in missing.stderr


# --- multi-platform indexes ---------------------------------------------------------------------


def other_platform() -> Platform:
    host = host_platform()
    return (
        Platform(architecture="arm64", variant="v8")
        if host.architecture == "amd64"
        else (Platform(architecture="amd64"))
    )


@pytest.mark.parametrize("manifest_format", ["oci", "docker"])
@pytest.mark.parametrize("wanted", ["host", "other"])
def test_pull_of_an_index_picks_the_platform(
    *,
    manifest_format: ManifestFormat,
    wanted: str,
    registry: Registry,
    image_builder: ImageBuilder,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    images = {
        "host": ImageSpec(layers=[Layer([File("arch", "host")])], platform=host_platform()),
        "other": ImageSpec(layers=[Layer([File("arch", "other")])], platform=other_platform()),
    }
    built = {name: spec.build(manifest_format) for name, spec in images.items()}
    index = build_index([built["other"], built["host"]], manifest_format)
    pushed = image_builder.push(index, registry, unique_repository(request))
    platform = other_platform()
    flags = [] if wanted == "host" else ["--platform", f"linux/{platform.architecture}"]

    output = ok(run_cli("pull", *flags, pushed.reference)).stdout.splitlines()

    assert f"Digest: {index.digest}" in output
    assert image_ids(run_cli, "--no-trunc") == [built[wanted].config_digest]
    unwanted = "other" if wanted == "host" else "host"
    assert registry.blob_gets(built[wanted].layer_digests[0]) == 1
    assert registry.blob_gets(built[unwanted].layer_digests[0]) == 0
    document = json.loads(ok(run_cli("image", "inspect", pushed.reference)).stdout)[0]
    assert document["Architecture"] == images[wanted].platform.architecture
    assert document["RepoDigests"] == [f"{pushed.address}/{pushed.repository}@{index.digest}"]


def test_pull_of_another_platform_of_a_cached_index_fetches_it(
    registry: Registry,
    image_builder: ImageBuilder,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    host = ImageSpec(layers=[Layer([File("arch", "host")])], platform=host_platform()).build()
    other = ImageSpec(layers=[Layer([File("arch", "other")])], platform=other_platform()).build()
    pushed = image_builder.push(build_index([host, other]), registry, unique_repository(request))
    ok(run_cli("pull", pushed.reference))

    ok(run_cli("pull", "--platform", f"linux/{other_platform().architecture}", pushed.reference))

    document = json.loads(ok(run_cli("image", "inspect", pushed.reference)).stdout)[0]
    assert document["Id"] == other.config_digest
    assert registry.blob_gets(other.layer_digests[0]) == 1


# --- caching ------------------------------------------------------------------------------------


def three_layers(tag: str) -> ImageSpec:
    return ImageSpec(
        layers=[
            Layer([File("base", "shared base layer")]),
            Layer([File("middle", "shared middle layer")], "zstd"),
            Layer([File("top", f"top of {tag}")]),
        ],
        labels={"tag": tag},
    )


def test_pulling_twice_fetches_no_blob_and_heads_the_manifest_once(
    registry: Registry,
    image_builder: ImageBuilder,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    pushed = image_builder.push(three_layers("a"), registry, unique_repository(request))
    ok(run_cli("pull", pushed.reference))
    registry.reset_requests()

    output = ok(run_cli("pull", pushed.reference)).stdout

    assert "Status: Image is up to date for" in output
    assert registry.blob_gets() == 0
    assert registry.count("manifest_head") == 1
    assert registry.count("manifest_get") == 0


def test_pulling_a_cached_digest_makes_no_request(
    registry: Registry,
    image_builder: ImageBuilder,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    pushed = image_builder.push(three_layers("a"), registry, unique_repository(request))
    ok(run_cli("pull", pushed.digest_reference))
    registry.reset_requests()

    ok(run_cli("pull", pushed.digest_reference))

    assert [r.kind for r in registry.requests if r.kind != "ping"] == []


def test_image_sharing_layers_fetches_only_its_new_layers(
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = unique_repository(request)
    first = three_layers("first").build()
    second = three_layers("second").build()
    image_builder.push(first, registry, repository, "first")
    pushed = image_builder.push(second, registry, repository, "second")
    ok(run_cli("pull", f"{pushed.address}/{repository}:first"))
    registry.reset_requests()

    output = ok(run_cli("pull", pushed.reference)).stdout

    shared, new = second.layer_digests[:2], second.layer_digests[2]
    assert [registry.blob_gets(d) for d in shared] == [0, 0]
    assert registry.blob_gets(new) == 1
    for digest in shared:
        assert f"{digest[7:19]}: Already exists" in output
    assert sorted(image_ids(run_cli, "--no-trunc")) == sorted(
        [first.config_digest, second.config_digest]
    )
    assert len(list((hybridock_root / "layers").iterdir())) == 4


def test_moved_tag_is_pulled_again_and_the_old_image_dangles(
    registry: Registry,
    image_builder: ImageBuilder,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    repository = unique_repository(request)
    old = three_layers("old").build()
    new = three_layers("new").build()
    pushed = image_builder.push(old, registry, repository, "moving")
    ok(run_cli("pull", pushed.reference))
    image_builder.push(new, registry, repository, "moving")
    registry.reset_requests()

    output = ok(run_cli("pull", pushed.reference)).stdout

    assert "Status: Downloaded newer image for" in output
    assert f"Digest: {new.digest}" in output
    assert [registry.blob_gets(d) for d in new.layer_digests] == [0, 0, 1]
    lines = ok(run_cli("images")).stdout.splitlines()[1:]
    rows = {columns(line)[2]: columns(line)[:2] for line in lines}
    repo = f"{pushed.address}/{repository}"
    assert rows[new.config_digest[7:19]] == [repo, "moving"]
    # docker shows an untagged pulled image by its repository (it keeps the repo digest)
    assert rows[old.config_digest[7:19]] in (["<none>", "<none>"], [repo, "<none>"])
    assert len(rows) == 2


# --- a broken transfer ------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 2], ids=["streamed-layer", "downloaded-first-layer"])
def test_a_connection_cut_mid_blob_resumes_with_a_range_request(
    index: int,
    *,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    spec = ImageSpec(
        layers=[Layer([File(f"big{n}", os.urandom(600_000))], "none") for n in range(3)]
    )
    built = spec.build()
    pushed = image_builder.push(built, registry, unique_repository(request))
    digest = built.layer_digests[index]
    registry.inject(Fault("blob_get", reference=digest, truncate_after=250_000))

    ok(run_cli("pull", pushed.reference))

    gets = [r for r in registry.requests if r.kind == "blob_get" and r.reference == digest]
    assert len(gets) == 2
    assert gets[0].header("Range") is None
    assert gets[1].header("Range") == "bytes=250000-"
    chain = chain_ids(built.diff_ids)
    data = (layer_dir(hybridock_root, chain[index]) / f"big{index}").read_bytes()
    assert len(data) == 600_000
    assert list((hybridock_root / "tmp").iterdir()) == []


# --- unusual shapes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeCase:
    name: str
    layers: list[list[Entry]]


SHAPES = [
    ShapeCase("repeated-empty-layers", [[Dir("a")], [], [Dir("a"), File("a/b", "b")], [], []]),
    ShapeCase("same-layer-twice", [[File("x", "same")], [File("y", "y")], [File("x", "same")]]),
    ShapeCase("no-layers", []),
    ShapeCase("single-empty-layer", [[]]),
]


@pytest.mark.parametrize("case", SHAPES, ids=[c.name for c in SHAPES])
def test_pull_of_unusual_layer_lists(
    case: ShapeCase,
    *,
    registry: Registry,
    image_builder: ImageBuilder,
    hybridock_root: Path,
    run_cli: RunCli,
    request: pytest.FixtureRequest,
) -> None:
    built = ImageSpec(layers=[Layer(entries) for entries in case.layers]).build()
    pushed = image_builder.push(built, registry, unique_repository(request))

    ok(run_cli("pull", pushed.reference))

    chain = chain_ids(built.diff_ids)
    for entries, chain_id in zip(case.layers, chain, strict=True):
        assert_tree_matches(layer_dir(hybridock_root, chain_id), entries)
    assert image_ids(run_cli, "--no-trunc") == [built.config_digest]
    for digest in set(built.layer_digests):
        assert 1 <= registry.blob_gets(digest) <= built.layer_digests.count(digest)
    ok(run_cli("rmi", pushed.reference))
    assert list((hybridock_root / "layers").iterdir()) == []
    assert list((hybridock_root / "blobs" / "sha256").iterdir()) == []
