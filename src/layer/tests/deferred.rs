//! Deferred hardlinks into lower layers (`defer_lower_links` + `PendingLinks::resolve`): every
//! case is extracted both ways, sequentially (parents present, links resolved as entries
//! come) and deferred (parents absent, links resolved afterwards), and the two trees must be
//! identical: types, contents, symlink targets, modes, owners, mtimes, xattrs and which names
//! share an inode. Errors must agree too (the deferred path reports them from `resolve`).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::EntryType;

use super::*;
use crate::error::Error;
use crate::layer::effects::{FsEffects, RootlessEffects};
use crate::layer::Compression;

/// Extracts `layers` (bottom first) into `<base>/<prefix>-<i>` sequentially, except the last
/// one when `defer`; returns the top layer's dir and the outcome (its unpacked size).
fn extract_chain(
    base: &Path,
    prefix: &str,
    layers: &[Vec<u8>],
    defer: bool,
    effects: &dyn FsEffects,
) -> (PathBuf, Result<u64, Error>) {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (index, tar) in layers.iter().enumerate() {
        let dest = base.join(format!("{prefix}-{index}"));
        let mut options = options(&dest, tar, Compression::None);
        let top = index + 1 == layers.len();
        let lower: Vec<PathBuf> = dirs.iter().rev().cloned().collect();
        if top && defer {
            options.defer_lower_links = true;
            let outcome = run_with(tar, &options, effects).and_then(|summary| {
                let linked = summary.pending.resolve(&lower, effects, false)?;
                Ok(summary.unpacked_size + linked.size)
            });
            return (dest, outcome);
        }
        options.lower_dirs = lower;
        let outcome = run_with(tar, &options, effects).map(|summary| summary.unpacked_size);
        if top {
            return (dest, outcome);
        }
        outcome.unwrap();
        dirs.push(dest);
    }
    unreachable!("at least one layer")
}

/// Everything observable about a tree; inodes as the first name (sorted) that has them.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut nodes = BTreeMap::new();
    let mut inodes: HashMap<u64, String> = HashMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let path = root.join(&relative);
        let meta = fs::symlink_metadata(&path).unwrap();
        let kind = meta.file_type();
        let what = if kind.is_dir() {
            let mut names: Vec<_> = fs::read_dir(&path)
                .unwrap()
                .map(|entry| entry.unwrap().file_name())
                .collect();
            names.sort();
            for name in names {
                stack.push(relative.join(name));
            }
            "dir".to_owned()
        } else if kind.is_symlink() {
            format!("symlink {:?}", fs::read_link(&path).unwrap())
        } else if kind.is_fifo() {
            "fifo".to_owned()
        } else {
            format!(
                "file {:?}",
                String::from_utf8_lossy(&fs::read(&path).unwrap())
            )
        };
        let name = relative.to_string_lossy().into_owned();
        let link = if kind.is_dir() {
            String::new()
        } else {
            let first = inodes.entry(meta.ino()).or_insert_with(|| name.clone());
            format!(" inode-of {first}")
        };
        let xattrs: Vec<_> = if kind.is_file() || kind.is_dir() {
            ["user.overlay.whiteout", "user.overlay.opaque", "user.test"]
                .iter()
                .filter_map(|key| xattr(&path, key).map(|value| format!("{key}={value:?}")))
                .collect()
        } else {
            Vec::new() // opening a fifo would block
        };
        nodes.insert(
            name,
            format!(
                "{what} mode {:o} owner {}:{} mtime {} xattrs {xattrs:?}{link}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.mtime(),
            ),
        );
    }
    nodes.remove(""); // the root has no entry: its mtime is the time of extraction
    nodes
}

struct Case {
    name: &'static str,
    lowers: Vec<Vec<u8>>,
    top: Vec<u8>,
    /// Names whose content (or `->target`) must be as given in the top layer.
    expect: &'static [(&'static str, &'static str)],
    /// Names that must not exist in the top layer.
    absent: &'static [&'static str],
    /// Whether extraction must fail (a `LayerFormat` error both ways).
    fails: bool,
}

fn base() -> Vec<u8> {
    Tar::new()
        .dir("bin")
        .file("bin/tool", b"base tool")
        .raw(b"bin/exec", EntryType::Regular, b"", b"run me", 0o751)
        .file("etc/conf", b"base conf")
        .file("doomed", b"base doomed")
        .symlink("bin/sh", "/bin/tool")
        .raw(b"run/pipe", EntryType::Fifo, b"", b"", 0o640)
        .dir("opaque")
        .file("opaque/hidden", b"base hidden")
        .finish()
}

fn middle() -> Vec<u8> {
    Tar::new()
        .file("etc/conf", b"middle conf")
        .file(".wh.doomed", b"")
        .file("opaque/.wh..wh..opq", b"")
        .finish()
}

#[allow(clippy::too_many_lines)] // one table
fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "links to the nearest layer that has the target, mode and times copied",
            lowers: vec![base(), middle()],
            top: Tar::new()
                .hardlink("a", "bin/exec")
                .hardlink("b", "/etc/conf")
                .dir("sub")
                .hardlink("sub/c", "bin/tool")
                .finish(),
            expect: &[
                ("a", "run me"),
                ("b", "middle conf"),
                ("sub/c", "base tool"),
            ],
            absent: &[],
            fails: false,
        },
        Case {
            name: "two links to one lower target share the first copy",
            lowers: vec![base()],
            top: Tar::new()
                .hardlink("one", "bin/tool")
                .hardlink("two", "bin/tool")
                .hardlink("three", "one")
                .finish(),
            expect: &[
                ("one", "base tool"),
                ("two", "base tool"),
                ("three", "base tool"),
            ],
            absent: &[],
            fails: false,
        },
        Case {
            name: "a pending link replaced later by a file of the same layer is not made",
            lowers: vec![base()],
            top: Tar::new()
                .hardlink("x", "bin/tool")
                .file("x", b"own x")
                .finish(),
            expect: &[("x", "own x")],
            absent: &[],
            fails: false,
        },
        Case {
            name: "a link to a pending link keeps the copy when the first name is replaced",
            lowers: vec![base()],
            top: Tar::new()
                .hardlink("x", "bin/tool")
                .hardlink("y", "x")
                .symlink("x", "elsewhere")
                .finish(),
            expect: &[("x", "->elsewhere"), ("y", "base tool")],
            absent: &[],
            fails: false,
        },
        Case {
            name: "a pending link whose directory is replaced and recreated is gone",
            lowers: vec![base()],
            top: Tar::new()
                .dir("d")
                .hardlink("d/x", "bin/tool")
                .file("d", b"now a file")
                .dir("d")
                .file("d/other", b"other")
                .finish(),
            expect: &[("d/other", "other")],
            absent: &["d/x"],
            fails: false,
        },
        Case {
            name: "a pending link whited out within its layer stays, as in the sequential path",
            lowers: vec![base()],
            top: Tar::new()
                .hardlink("x", "bin/tool")
                .file(".wh.x", b"")
                .finish(),
            expect: &[("x", "base tool")],
            absent: &[],
            fails: false,
        },
        Case {
            name: "a pending link removed with its directory by a whiteout",
            lowers: vec![base()],
            top: Tar::new()
                .dir("d")
                .hardlink("d/x", "bin/tool")
                .file("d", b"file")
                .file(".wh.d", b"")
                .finish(),
            expect: &[("d", "file")],
            absent: &["d/x"],
            fails: false,
        },
        Case {
            name: "links to a lower symlink and fifo are copies of those nodes",
            lowers: vec![base()],
            top: Tar::new()
                .hardlink("s1", "bin/sh")
                .hardlink("s2", "bin/sh")
                .hardlink("p1", "run/pipe")
                .dir("ro")
                .hardlink("ro/s3", "bin/sh")
                .raw(b"ro", EntryType::Directory, b"", b"", 0o555)
                .finish(),
            expect: &[
                ("s1", "->/bin/tool"),
                ("s2", "->/bin/tool"),
                ("ro/s3", "->/bin/tool"),
            ],
            absent: &[],
            fails: false,
        },
        Case {
            name: "a target whited out by an intermediate layer",
            lowers: vec![base(), middle()],
            top: Tar::new().hardlink("x", "doomed").finish(),
            expect: &[],
            absent: &[],
            fails: true,
        },
        Case {
            name: "a target behind an opaque directory of an intermediate layer",
            lowers: vec![base(), middle()],
            top: Tar::new().hardlink("x", "opaque/hidden").finish(),
            expect: &[],
            absent: &[],
            fails: true,
        },
        Case {
            name: "a target that exists nowhere",
            lowers: vec![base()],
            top: Tar::new().hardlink("x", "nowhere").finish(),
            expect: &[],
            absent: &[],
            fails: true,
        },
        Case {
            name: "a target that is a lower directory",
            lowers: vec![base()],
            top: Tar::new().hardlink("x", "bin").finish(),
            expect: &[],
            absent: &[],
            fails: true,
        },
        Case {
            name: "a link to this layer's own file is never pending",
            lowers: vec![base()],
            top: Tar::new()
                .file("own", b"own")
                .hardlink("link", "own")
                .finish(),
            expect: &[("link", "own")],
            absent: &[],
            fails: false,
        },
    ]
}

#[test]
fn deferred_links_match_the_sequential_path() {
    check_cases(&RootlessEffects);
}

#[test]
fn as_root_deferred_links_match_the_sequential_path() {
    if can_mknod() {
        check_cases(&crate::layer::effects::OverlayEffects);
    }
}

fn check_cases(effects: &dyn FsEffects) {
    for case in cases() {
        let temp = tempfile::tempdir().unwrap();
        let mut layers = case.lowers.clone();
        layers.push(case.top.clone());
        let (sequential, sequential_outcome) =
            extract_chain(temp.path(), "seq", &layers, false, effects);
        let (deferred, deferred_outcome) =
            extract_chain(temp.path(), "def", &layers, true, effects);
        if case.fails {
            for (how, outcome) in [
                ("sequential", &sequential_outcome),
                ("deferred", &deferred_outcome),
            ] {
                assert!(
                    matches!(outcome, Err(Error::LayerFormat { .. })),
                    "{}: {how}: {outcome:?} (other: {:?})",
                    case.name,
                    sequential_outcome
                );
            }
            continue;
        }
        let sequential_size =
            sequential_outcome.unwrap_or_else(|e| panic!("{}: sequential: {e}", case.name));
        let deferred_size =
            deferred_outcome.unwrap_or_else(|e| panic!("{}: deferred: {e}", case.name));
        assert_eq!(
            sequential_size,
            directory_size(&sequential),
            "{}",
            case.name
        );
        assert_eq!(deferred_size, directory_size(&deferred), "{}", case.name);
        assert_eq!(snapshot(&deferred), snapshot(&sequential), "{}", case.name);
        for (name, expected) in case.expect {
            let path = deferred.join(name);
            let got = match expected.strip_prefix("->") {
                Some(_) => format!("->{}", fs::read_link(&path).unwrap().display()),
                None => String::from_utf8(fs::read(&path).unwrap()).unwrap(),
            };
            assert_eq!(&got, expected, "{}: {name}", case.name);
        }
        for name in case.absent {
            assert!(
                fs::symlink_metadata(deferred.join(name)).is_err(),
                "{}: {name} exists",
                case.name
            );
        }
    }
}

#[test]
fn pending_links_are_counted_and_resolved_once() {
    let temp = tempfile::tempdir().unwrap();
    let (lower, dest) = (temp.path().join("lower"), temp.path().join("dest"));
    fs::create_dir(&lower).unwrap();
    extract(&base(), &lower).unwrap();
    let tar = Tar::new()
        .hardlink("a", "bin/tool")
        .hardlink("b", "bin/tool")
        .hardlink("c", "etc/conf")
        .file("own", b"own")
        .hardlink("d", "own")
        .finish();
    let mut options = options(&dest, &tar, Compression::None);
    options.defer_lower_links = true;
    let summary = run_with(&tar, &options, &RootlessEffects).unwrap();
    assert_eq!(summary.pending.len(), 2, "two distinct lower targets");
    assert_eq!(summary.pending.dest(), dest.as_path());
    // Until resolved, the names exist as empty placeholders.
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"");
    let made = summary
        .pending
        .resolve(std::slice::from_ref(&lower), &RootlessEffects, true)
        .unwrap();
    assert_eq!(made.targets, 2);
    assert_eq!(
        made.size,
        b"base tool".len() as u64 + b"base conf".len() as u64
    );
    assert_eq!(fs::read(dest.join("b")).unwrap(), b"base tool");
    assert_eq!(fs::read(dest.join("c")).unwrap(), b"base conf");

    // Without any link to a lower layer, nothing is pending and resolve does nothing at all
    // (not even open the lower dirs, which need not exist).
    let dest = temp.path().join("plain");
    let tar = Tar::new().file("f", b"f").finish();
    let mut options = self::options(&dest, &tar, Compression::None);
    options.defer_lower_links = true;
    let summary = run_with(&tar, &options, &RootlessEffects).unwrap();
    assert!(summary.pending.is_empty());
    let missing = temp.path().join("missing");
    assert_eq!(
        summary
            .pending
            .resolve(&[missing], &RootlessEffects, true)
            .unwrap(),
        crate::layer::Linked::default()
    );
}

#[test]
fn deferral_and_lower_dirs_exclude_each_other() {
    let d = dirs();
    let tar = Tar::new().file("f", b"f").finish();
    let mut options = options(&d.dest, &tar, Compression::None);
    options.defer_lower_links = true;
    options.lower_dirs = vec![d.outside.clone()];
    let error = run_with(&tar, &options, &RootlessEffects).unwrap_err();
    assert!(matches!(error, Error::Unsupported { .. }), "{error}");
}

#[test]
fn resolution_is_confined_in_the_lower_and_the_layer() {
    // A lower layer whose ancestor of the target is a symlink out of it: the lookup never
    // follows it (the target is hidden, an error), and the outside file is untouched.
    let d = dirs();
    fs::write(d.outside.join("secret"), b"secret").unwrap();
    let temp = tempfile::tempdir().unwrap();
    let lower = temp.path().join("lower");
    fs::create_dir(&lower).unwrap();
    std::os::unix::fs::symlink(&d.outside, lower.join("escape")).unwrap();
    let tar = Tar::new().hardlink("x", "escape/secret").finish();
    let mut options = options(&d.dest, &tar, Compression::None);
    options.defer_lower_links = true;
    let summary = run_with(&tar, &options, &RootlessEffects).unwrap();
    let error = summary
        .pending
        .resolve(&[lower], &RootlessEffects, false)
        .unwrap_err();
    assert!(matches!(error, Error::LayerFormat { .. }), "{error}");
    assert_eq!(fs::read(d.outside.join("secret")).unwrap(), b"secret");
}
