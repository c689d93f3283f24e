"""The confined walk of ``runtime/fsview.py`` on a plain tree (no root needed): symlinks and
``..`` never lead out of the view's root, whatever they point at."""

from __future__ import annotations

import errno
import io
import os
import tarfile
from pathlib import Path

import pytest

from hybridock.runtime.archive import extract_tar
from hybridock.runtime.fsview import MountPoint, View, opened


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("inside")
    (tmp_path / "passwd").write_text("outside")
    links = {
        "absolute": "/etc",
        "climb": "../../../../..",
        "climb-file": "../passwd",
        "chain": "absolute/passwd",
        "loop": "loop",
        "host": str(tmp_path),
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    return root


@pytest.mark.parametrize(
    ("path", "follow", "expected"),
    [
        ("etc/passwd", False, "inside"),
        ("absolute/passwd", False, "inside"),
        ("chain", True, "inside"),
        ("climb/etc/passwd", False, "inside"),
        ("climb-file", True, None),  # ../passwd from the root is /passwd: not there
        ("etc/../../../etc/passwd", False, "inside"),
        ("host/passwd", False, None),  # the host's path, looked up inside: not there
    ],
)
def test_lookups_stay_inside(tree: Path, path: str, follow: bool, expected: str | None) -> None:
    with View([str(tree)], overlay=False) as view:
        try:
            resolved_context = opened(view, path.encode(), follow=follow)
            with resolved_context as resolved:
                if resolved.entry is None:
                    content = None
                else:
                    fd = resolved.entry.open_file()
                    with os.fdopen(fd, "rb") as file:
                        content = file.read().decode()
        except FileNotFoundError:
            content = None
    assert content == expected


def test_symlink_loops_end(tree: Path) -> None:
    with View([str(tree)], overlay=False) as view, pytest.raises(OSError, match="symbolic"):
        view.resolve(b"loop/x", follow=True)


def test_the_last_symlink_is_kept_unless_followed(tree: Path) -> None:
    with View([str(tree)], overlay=False) as view, opened(view, b"absolute", follow=False) as got:
        assert got.entry is not None and got.entry.is_symlink
        assert got.entry.read_link() == b"/etc"
        assert got.path == "/absolute"


@pytest.fixture
def mounted(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A container's tree, a volume's source beside a host ``etc/passwd`` (the sentinel) and
    a bind's source."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("inside")
    (root / "data").mkdir()
    (root / "data" / "hidden").write_text("under the mount")
    volume = tmp_path / "volumes" / "named" / "_data"
    volume.mkdir(parents=True)
    (tmp_path / "volumes" / "named" / "etc").mkdir()
    (tmp_path / "volumes" / "named" / "etc" / "passwd").write_text("outside")
    (volume / "f").write_text("in the volume")
    (volume / "link").symlink_to("/etc/passwd")
    (volume / "climb").symlink_to("../etc/passwd")
    (volume / "far").symlink_to("../../../../../../etc/passwd")
    bound = tmp_path / "bound"
    bound.mkdir()
    (bound / "b").write_text("bound")
    return root, volume, bound


def read(view: View, path: bytes) -> str | None:
    with opened(view, path, follow=True) as resolved:
        if resolved.entry is None:
            return None
        with os.fdopen(resolved.entry.open_file(), "rb") as file:
            return file.read().decode()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (b"data/f", "in the volume"),
        (b"data/hidden", None),  # the mount hides what the tree has there
        (b"data/link", "inside"),  # an absolute link in a volume: the container's root
        (b"data/climb", "inside"),  # .. from the volume's top: the mount point's parent
        (b"data/far", "inside"),
        (b"data/../etc/passwd", "inside"),
        (b"data/sub/b", "bound"),  # a bind inside the volume: the deepest mount
        (b"new/f", "in the volume"),  # a mount point the tree lacks still shows
    ],
)
def test_mounts_are_spliced_in_and_stay_in_the_container(
    mounted: tuple[Path, Path, Path], path: bytes, expected: str | None
) -> None:
    root, volume, bound = mounted
    with View([str(root)], overlay=False) as view:
        view.mount(MountPoint((b"data",), str(volume), readonly=False))
        view.mount(MountPoint((b"data", b"sub"), str(bound), readonly=True))
        view.mount(MountPoint((b"new",), str(volume), readonly=False))
        assert read(view, path) == expected
        assert b"new" in view.names(view.root)


def test_writes_land_in_the_mount_and_a_read_only_one_refuses(
    mounted: tuple[Path, Path, Path],
) -> None:
    root, volume, bound = mounted
    with View([str(root)], overlay=True) as view:
        view.mount(MountPoint((b"data",), str(volume), readonly=False))
        view.mount(MountPoint((b"ro",), str(bound), readonly=True))
        with opened(view, b"data/new", follow=False) as place:
            writable = view.writable_directory(place)
            try:
                os.close(os.open(place.name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=writable))
            finally:
                os.close(writable)
        assert (volume / "new").exists()
        assert not (root / "data" / "new").exists()
        with (
            opened(view, b"ro/new", follow=False) as place,
            pytest.raises(OSError, match="Read-only") as refused,
        ):
            view.writable_directory(place)
        assert refused.value.errno == errno.EROFS


def test_a_mounted_file_is_not_replaced(mounted: tuple[Path, Path, Path]) -> None:
    root, _, bound = mounted
    with View([str(root)], overlay=False) as view:
        view.mount(MountPoint((b"etc", b"hostname"), str(bound / "b"), readonly=False))
        assert read(view, b"etc/hostname") == "bound"
        with opened(view, b"etc/hostname", follow=False) as place:
            writable = view.writable_directory(place)
            try:
                with pytest.raises(OSError, match="busy") as busy:
                    view.clear_name(writable, place)
            finally:
                os.close(writable)
        assert busy.value.errno == errno.EBUSY
        assert (bound / "b").read_text() == "bound"


def test_missing_mount_points_are_made_in_the_upper_tree(tmp_path: Path) -> None:
    """As docker's cp makes them: directories on the way, an empty file for a file's bind;
    a symlink on the way is followed inside the view."""
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    (lower / "var").mkdir(parents=True)
    (lower / "var" / "run").symlink_to("/run")
    upper.mkdir()
    with View([str(upper), str(lower)], overlay=True) as view:
        assert view.make_mount_point(b"/a/b/c", directory=True) == (b"a", b"b", b"c")
        assert view.make_mount_point(b"/var/run/x", directory=False) == (b"run", b"x")
        assert view.make_mount_point(b"/a/b", directory=True) == (b"a", b"b")
    assert (upper / "a" / "b" / "c").is_dir()
    assert (upper / "run" / "x").is_file()
    assert not (lower / "run").exists()


def archive_of(*members: tuple[str, str]) -> io.BytesIO:
    """A tar of regular files and hard links: (name, "") is a file, (name, target) a link."""
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, target in members:
            info = tarfile.TarInfo(name)
            if target:
                info.type, info.linkname = tarfile.LNKTYPE, target
                archive.addfile(info)
            else:
                info.size = 1
                archive.addfile(info, io.BytesIO(b"x"))
    stream.seek(0)
    return stream


def test_hard_links_stay_inside_one_mount(mounted: tuple[Path, Path, Path]) -> None:
    """As link(2) across a mount point: refused (EXDEV), even when the volume lies on the
    same filesystem as the container's files; within the volume they link."""
    root, volume, _ = mounted
    owner = (os.getuid(), os.getgid())
    with View([str(root)], overlay=False) as view:
        view.mount(MountPoint((b"data",), str(volume), readonly=False))
        extract_tar(view, (), archive_of(("data/one", ""), ("data/two", "data/one")), owner=owner)
        assert (volume / "two").stat().st_nlink == 2
        with pytest.raises(OSError, match="cross-device") as crossing:
            extract_tar(view, (), archive_of(("etc/x", ""), ("data/y", "etc/x")), owner=owner)
    assert crossing.value.errno == errno.EXDEV
    assert not (volume / "y").exists()


def directory_archive(name: str, mode: int) -> io.BytesIO:
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, mode
        archive.addfile(info)
    stream.seek(0)
    return stream


def test_a_directory_copied_onto_a_mount_point_sets_the_mounts_top(
    mounted: tuple[Path, Path, Path],
) -> None:
    """Extracting ``data/`` where a volume is mounted writes through the mount, as an
    extraction in the container would: the volume's top takes the mode, the container's
    directory under the mount keeps its own; a read-only mount refuses."""
    root, volume, bound = mounted
    owner = (os.getuid(), os.getgid())
    bound.chmod(0o755)
    with View([str(root)], overlay=False) as view:
        view.mount(MountPoint((b"data",), str(volume), readonly=False))
        view.mount(MountPoint((b"ro",), str(bound), readonly=True))
        extract_tar(view, (), directory_archive("data", 0o750), owner=owner)
        with pytest.raises(OSError, match="Read-only"):
            extract_tar(view, (), directory_archive("ro", 0o700), owner=owner)
    assert volume.stat().st_mode & 0o7777 == 0o750
    assert (root / "data").stat().st_mode & 0o7777 != 0o750
    assert bound.stat().st_mode & 0o7777 == 0o755
