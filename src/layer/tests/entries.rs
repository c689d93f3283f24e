//! Entry types, owners, modes, times, long names, replacement within a layer.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use tar::EntryType;

use super::*;
use crate::digest::Digest;
use crate::layer::effects::OverlayEffects;
use crate::layer::Compression;

#[test]
fn entry_types() {
    let d = dirs();
    let tar = Tar::new()
        .dir("etc")
        .file("etc/hostname", b"box\n")
        .symlink("etc/link", "hostname")
        .hardlink("etc/hard", "etc/hostname")
        .raw(b"run/fifo", EntryType::Fifo, b"", b"", 0o600)
        .finish();
    let summary = extract(&tar, &d.dest).unwrap();
    assert_eq!(summary.entries, 5);
    assert_eq!(summary.diff_id, Digest::of(&tar));
    assert_eq!(summary.uncompressed_size, tar.len() as u64);
    assert_eq!(fs::read(d.dest.join("etc/hostname")).unwrap(), b"box\n");
    assert_eq!(
        fs::read_link(d.dest.join("etc/link")).unwrap(),
        Path::new("hostname")
    );
    let original = fs::metadata(d.dest.join("etc/hostname")).unwrap();
    let linked = fs::metadata(d.dest.join("etc/hard")).unwrap();
    assert_eq!(original.ino(), linked.ino());
    assert!(fs::symlink_metadata(d.dest.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn modes_and_times_rootless() {
    let d = dirs();
    let tar = Tar::new()
        .with("bin", EntryType::Directory, b"", |h| {
            h.set_mode(0o1755);
            h.set_mtime(1_000_000);
        })
        .with("bin/su", EntryType::Regular, b"x", |h| {
            h.set_mode(0o4755);
            h.set_mtime(2_000_000);
        })
        .with("bin/sg", EntryType::Regular, b"x", |h| h.set_mode(0o2711))
        .pax(&[("mtime", b"1234567890.5")])
        .symlink("bin/l", "su")
        .finish();
    extract(&tar, &d.dest).unwrap();
    let bin = fs::metadata(d.dest.join("bin")).unwrap();
    assert_eq!(bin.mode() & 0o7777, 0o1755);
    assert_eq!(
        bin.mtime(),
        1_000_000,
        "directory mtime set after its contents"
    );
    let su = fs::metadata(d.dest.join("bin/su")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755);
    assert_eq!(su.mtime(), 2_000_000);
    assert_eq!(
        fs::metadata(d.dest.join("bin/sg")).unwrap().mode() & 0o7777,
        0o2711
    );
    let link = fs::symlink_metadata(d.dest.join("bin/l")).unwrap();
    assert_eq!(
        (link.mtime(), link.mtime_nsec()),
        (1_234_567_890, 500_000_000)
    );
}

#[test]
fn as_root_owners_modes_devices_and_whiteouts() {
    if !can_mknod() {
        eprintln!("skipped: needs root (CAP_MKNOD)");
        return;
    }
    let d = dirs();
    let tar = Tar::new()
        .with("home/user", EntryType::Directory, b"", |h| {
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mode(0o2770);
        })
        .with("usr/bin/passwd", EntryType::Regular, b"x", |h| {
            h.set_uid(0);
            h.set_gid(42);
            h.set_mode(0o4755);
        })
        .with("usr/bin/tool", EntryType::Regular, b"x", |h| {
            h.set_uid(1234);
            h.set_gid(5678);
            h.set_mode(0o6755); // chown after chmod would have cleared these
        })
        .with("home/user/link", EntryType::Symlink, b"", |h| {
            h.set_link_name("/etc").unwrap();
            h.set_uid(1000);
            h.set_gid(1001);
        })
        .with("dev/null", EntryType::Char, b"", |h| {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
            h.set_mode(0o666);
        })
        .with("dev/sda", EntryType::Block, b"", |h| {
            h.set_device_major(8).unwrap();
            h.set_device_minor(0).unwrap();
        })
        .file("etc/.wh.passwd", b"")
        .file("var/.wh..wh..opq", b"")
        .finish();
    let options = options(&d.dest, &tar, Compression::None);
    run_with(&tar, &options, &OverlayEffects).unwrap();
    let user = fs::metadata(d.dest.join("home/user")).unwrap();
    assert_eq!(
        (user.uid(), user.gid(), user.mode() & 0o7777),
        (1000, 1000, 0o2770)
    );
    let passwd = fs::metadata(d.dest.join("usr/bin/passwd")).unwrap();
    assert_eq!(
        (passwd.uid(), passwd.gid(), passwd.mode() & 0o7777),
        (0, 42, 0o4755)
    );
    let tool = fs::metadata(d.dest.join("usr/bin/tool")).unwrap();
    assert_eq!(
        (tool.uid(), tool.gid(), tool.mode() & 0o7777),
        (1234, 5678, 0o6755)
    );
    let link = fs::symlink_metadata(d.dest.join("home/user/link")).unwrap();
    assert_eq!((link.uid(), link.gid()), (1000, 1001));
    let null = fs::symlink_metadata(d.dest.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (null.rdev(), null.mode() & 0o7777),
        (libc::makedev(1, 3), 0o666)
    );
    assert!(fs::symlink_metadata(d.dest.join("dev/sda"))
        .unwrap()
        .file_type()
        .is_block_device());
    let whiteout = fs::symlink_metadata(d.dest.join("etc/passwd")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0);
    assert!(!d.dest.join("etc/.wh.passwd").exists());
    assert_eq!(
        xattr(&d.dest.join("var"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
}

#[test]
fn long_names_and_pax() {
    let d = dirs();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    let long_target = format!("{}/{}", "t".repeat(130), "x");
    let tar = Tar::new()
        .with(&long, EntryType::Regular, b"gnu", |_| {})
        .pax(&[
            ("path", b"pax/renamed"),
            ("SCHILY.xattr.user.comment", b"hi"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ])
        .dir("ignored-name")
        .with(&long_target, EntryType::Regular, b"t", |_| {})
        .pax(&[("linkpath", long_target.as_bytes())])
        .symlink("pax/link", "short")
        .finish();
    extract(&tar, &d.dest).unwrap();
    assert_eq!(fs::read(d.dest.join(&long)).unwrap(), b"gnu");
    assert!(d.dest.join("pax/renamed").is_dir());
    assert!(!d.dest.join("ignored-name").exists());
    assert_eq!(
        xattr(&d.dest.join("pax/renamed"), "user.comment").as_deref(),
        Some(&b"hi"[..])
    );
    assert_eq!(
        xattr(&d.dest.join("pax/renamed"), "user.overlay.opaque"),
        None,
        "overlay xattrs dropped"
    );
    assert_eq!(
        fs::read_link(d.dest.join("pax/link")).unwrap(),
        Path::new(&long_target)
    );
}

#[test]
fn replacements_within_a_layer() {
    let d = dirs();
    let tar = Tar::new()
        .dir("x")
        .file("x/inner", b"1")
        .file("x", b"file now") // a file replaces a directory
        .file("y", b"file")
        .dir("y") // a directory replaces a file
        .file("y/inner", b"2")
        .symlink("z", "x")
        .file("z", b"replaces the symlink, not its target")
        .dir("m")
        .file("m/a", b"a")
        .dir("m") // a directory over a directory merges
        .finish();
    extract(&tar, &d.dest).unwrap();
    assert_eq!(fs::read(d.dest.join("x")).unwrap(), b"file now");
    assert_eq!(fs::read(d.dest.join("y/inner")).unwrap(), b"2");
    assert!(fs::symlink_metadata(d.dest.join("z")).unwrap().is_file());
    assert_eq!(fs::read(d.dest.join("m/a")).unwrap(), b"a");
}

#[test]
fn root_entry_sets_metadata() {
    let d = dirs();
    let tar = Tar::new()
        .with("./", EntryType::Directory, b"", |h| {
            h.set_mode(0o750);
            h.set_mtime(123);
        })
        .file("f", b"")
        .finish();
    extract(&tar, &d.dest).unwrap();
    let root = fs::metadata(&d.dest).unwrap();
    assert_eq!((root.mode() & 0o7777, root.mtime()), (0o750, 123));
}

#[test]
fn as_root_pax_owners_and_trusted_xattrs() {
    if !can_mknod() {
        eprintln!("skipped: needs root");
        return;
    }
    let d = dirs();
    let tar = Tar::new()
        .pax(&[
            ("uid", b"3000000"),
            ("gid", b"3000001"),
            ("SCHILY.xattr.trusted.origin", b"layer"),
        ])
        .file("big-ids", b"x")
        .finish();
    let options = options(&d.dest, &tar, Compression::None);
    run_with(&tar, &options, &OverlayEffects).unwrap();
    let meta = fs::metadata(d.dest.join("big-ids")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (3_000_000, 3_000_001));
    assert_eq!(
        xattr(&d.dest.join("big-ids"), "trusted.origin").as_deref(),
        Some(&b"layer"[..])
    );
}
