//! The unpacked size the extraction counts as it goes equals docker's directory.Size of the
//! finished tree, whatever later entries replace, link or white out.

use tar::EntryType;

use super::*;
use crate::layer::effects::OverlayEffects;

struct Case {
    name: &'static str,
    tar: Vec<u8>,
    /// The size docker would show, worked out by hand.
    size: u64,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "files, a symlink (its target's length), a fifo, directories (nothing)",
            tar: Tar::new()
                .dir("etc")
                .file("etc/hostname", b"box\n")
                .symlink("etc/link", "hostname")
                .raw(b"run/fifo", EntryType::Fifo, b"", b"", 0o600)
                .finish(),
            size: 4 + 8,
        },
        Case {
            name: "hardlinks count their inode once",
            tar: Tar::new()
                .file("a", b"12345")
                .hardlink("b", "a")
                .hardlink("c", "b")
                .finish(),
            size: 5,
        },
        Case {
            name: "a file replaced by a file counts the last one",
            tar: Tar::new().file("f", b"first").file("f", b"xy").finish(),
            size: 2,
        },
        Case {
            name: "replacing one name of a hardlinked inode keeps the inode",
            tar: Tar::new()
                .file("a", b"12345")
                .hardlink("b", "a")
                .file("a", b"xyz")
                .finish(),
            size: 5 + 3,
        },
        Case {
            name: "replacing every name of a hardlinked inode drops it",
            tar: Tar::new()
                .file("a", b"12345")
                .hardlink("b", "a")
                .file("a", b"xyz")
                .symlink("b", "to")
                .finish(),
            size: 3 + 2,
        },
        Case {
            name: "a directory replaced by a file drops its subtree, links inside once",
            tar: Tar::new()
                .file("d/one", b"1111")
                .hardlink("d/two", "d/one")
                .file("d/sub/three", b"333")
                .symlink("d/sub/link", "../one")
                .file("keep", b"kk")
                .hardlink("d/sub/keep", "keep")
                .file("d", b"now a file")
                .finish(),
            size: 2 + 10,
        },
        Case {
            name: "a whiteout of an earlier entry of the layer counts nothing",
            tar: Tar::new()
                .file("a/f", b"123")
                .file("a/.wh.f", b"")
                .file("a/.wh.gone", b"")
                .file(".wh..wh..opq", b"")
                .finish(),
            size: 3,
        },
        Case {
            name: "a whiteout replaced by a file",
            tar: Tar::new()
                .file("a/.wh.f", b"")
                .file("a/f", b"1234")
                .finish(),
            size: 4,
        },
        Case {
            name: "a directory whiteout in the layer marks it opaque",
            tar: Tar::new()
                .file("a/.wh.d", b"")
                .dir("a/d")
                .file("a/d/x", b"x")
                .finish(),
            size: 1,
        },
    ]
}

fn check(effects: &dyn FsEffects) {
    for case in cases() {
        let d = dirs();
        let options = options(&d.dest, &case.tar, Compression::None);
        let summary =
            run_with(&case.tar, &options, effects).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(summary.unpacked_size, case.size, "{}", case.name);
        assert_eq!(
            directory_size(&d.dest),
            case.size,
            "{}: the tree",
            case.name
        );
    }
}

#[test]
fn unpacked_size_is_docker_directory_size() {
    check(&RootlessEffects);
}

#[test]
fn as_root_unpacked_size_is_docker_directory_size() {
    if can_mknod() {
        check(&OverlayEffects);
    }
}
