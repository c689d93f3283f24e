//! Pipeline and extraction tests. Tar streams are built in the test (`tar::Builder`, or raw
//! headers for hostile names the builder refuses). Most tests run the whole pipeline with
//! `RootlessEffects` on a tempdir (no privilege needed); the `as_root_*` tests use the real
//! overlay format and skip themselves when the probe (mknod of a 0:0 char device) fails.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use tar::{EntryType, Header};

use crate::digest::Digest;
use crate::error::Error;
use crate::layer::effects::{FsEffects, OverlayEffects, RootlessEffects};
use crate::layer::{extract_layer_with, Compression, LayerOptions, LayerSummary};

/// A tar stream under construction.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    /// An entry with a raw name and link name (no validation), mode, ids and mtime.
    fn raw(mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8], mode: u32) -> Self {
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        header.set_cksum();
        self.0.append(&header, data).unwrap();
        self
    }

    fn dir(self, name: &str) -> Self {
        self.raw(name.as_bytes(), EntryType::Directory, b"", b"", 0o755)
    }

    fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data, 0o644)
    }

    fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Symlink,
            target.as_bytes(),
            b"",
            0o777,
        )
    }

    fn hardlink(self, name: &str, target: &str) -> Self {
        self.raw(
            name.as_bytes(),
            EntryType::Link,
            target.as_bytes(),
            b"",
            0o644,
        )
    }

    /// An entry with full header control.
    fn with(
        mut self,
        name: &str,
        kind: EntryType,
        data: &[u8],
        edit: impl FnOnce(&mut Header),
    ) -> Self {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        edit(&mut header);
        self.0.append_data(&mut header, name, data).unwrap();
        self
    }

    /// A PAX extended header applying to the next entry.
    fn pax(mut self, records: &[(&str, &[u8])]) -> Self {
        let mut body = Vec::new();
        for (key, value) in records {
            let rest = format!(" {key}=").len() + value.len() + 1;
            let mut length = rest + 1;
            while length.to_string().len() + rest != length {
                length += 1;
            }
            body.extend(format!("{length} {key}=").as_bytes());
            body.extend(*value);
            body.push(b'\n');
        }
        let mut header = Header::new_ustar();
        header.set_path("PaxHeaders/x").unwrap();
        header.set_entry_type(EntryType::XHeader);
        header.set_size(body.len() as u64);
        header.set_cksum();
        self.0.append(&header, &body[..]).unwrap();
        self
    }

    fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

struct Dirs {
    _temp: tempfile::TempDir,
    dest: PathBuf,
    outside: PathBuf,
}

fn dirs() -> Dirs {
    let temp = tempfile::tempdir().unwrap();
    let dest = temp.path().join("dest");
    let outside = temp.path().join("outside");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&outside).unwrap();
    Dirs {
        dest,
        outside,
        _temp: temp,
    }
}

fn options(dest: &Path, stream: &[u8], compression: Compression) -> LayerOptions {
    LayerOptions {
        dest: dest.to_owned(),
        compression,
        expected_digest: Digest::of(stream),
        expected_diff_id: None,
        lower_dirs: Vec::new(),
        blob_path: None,
        max_bytes: None,
        max_entries: None,
        sync: false,
    }
}

fn run_with(
    tar: &[u8],
    options: &LayerOptions,
    effects: &dyn FsEffects,
) -> Result<LayerSummary, Error> {
    extract_layer_with(tar, options, effects, &AtomicBool::new(false))
}

fn extract(tar: &[u8], dest: &Path) -> Result<LayerSummary, Error> {
    run_with(
        tar,
        &options(dest, tar, Compression::None),
        &RootlessEffects,
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let file = fs::File::open(path).ok()?;
    let name = std::ffi::CString::new(name).unwrap();
    crate::layer::sys::fgetxattr(std::os::fd::AsFd::as_fd(&file), &name)
}

/// Whether this process can write the overlay format (root with `CAP_MKNOD` on this fs).
fn can_mknod() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::CString::new(
        dir.path()
            .join("probe")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: `name` is NUL-terminated.
    unsafe { libc::mknod(name.as_ptr(), libc::S_IFCHR, 0) == 0 }
}

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
fn rootless_skips_devices_and_writes_xattr_whiteouts() {
    let d = dirs();
    let tar = Tar::new()
        .with("dev/null", EntryType::Char, b"", |h| {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        })
        .file("etc/.wh.passwd", b"")
        .file("var/.wh..wh..opq", b"")
        .finish();
    extract(&tar, &d.dest).unwrap();
    assert!(!d.dest.join("dev/null").exists());
    let whiteout = fs::symlink_metadata(d.dest.join("etc/passwd")).unwrap();
    assert!(whiteout.is_file() && whiteout.len() == 0);
    assert_eq!(
        xattr(&d.dest.join("etc/passwd"), "user.overlay.whiteout").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        xattr(&d.dest.join("etc"), "user.overlay.opaque").as_deref(),
        Some(&b"x"[..])
    );
    assert_eq!(
        xattr(&d.dest.join("var"), "user.overlay.opaque").as_deref(),
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
fn same_layer_whiteout_rules() {
    struct Case {
        name: &'static str,
        tar: Vec<u8>,
        path: &'static str,
        expect: &'static str,
    }
    let cases = [
        Case {
            name: "file then whiteout keeps the file",
            tar: Tar::new().file("a/f", b"1").file("a/.wh.f", b"").finish(),
            path: "a/f",
            expect: "file",
        },
        Case {
            name: "whiteout then file replaces the whiteout",
            tar: Tar::new().file("a/.wh.f", b"").file("a/f", b"1").finish(),
            path: "a/f",
            expect: "file",
        },
        Case {
            name: "whiteout then dir makes an opaque dir",
            tar: Tar::new().file("a/.wh.d", b"").dir("a/d").finish(),
            path: "a/d",
            expect: "opaque dir",
        },
        Case {
            name: "dir then whiteout makes the dir opaque",
            tar: Tar::new()
                .dir("a/d")
                .file("a/d/x", b"")
                .file("a/.wh.d", b"")
                .finish(),
            path: "a/d",
            expect: "opaque dir",
        },
        Case {
            name: "plain whiteout",
            tar: Tar::new().file("a/.wh.gone", b"").finish(),
            path: "a/gone",
            expect: "whiteout",
        },
        Case {
            name: "aufs metadata ignored",
            tar: Tar::new()
                .dir(".wh..wh.plnk")
                .file(".wh..wh.aufs", b"")
                .finish(),
            path: ".wh..wh.plnk",
            expect: "absent",
        },
    ];
    for case in cases {
        let d = dirs();
        extract(&case.tar, &d.dest).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let path = d.dest.join(case.path);
        let got = match fs::symlink_metadata(&path) {
            Err(_) => "absent",
            Ok(meta)
                if meta.is_dir()
                    && xattr(&path, "user.overlay.opaque").as_deref() == Some(b"y") =>
            {
                "opaque dir"
            }
            Ok(meta) if meta.is_dir() => "dir",
            Ok(_) if xattr(&path, "user.overlay.whiteout").is_some() => "whiteout",
            Ok(_) => "file",
        };
        assert_eq!(got, case.expect, "{}", case.name);
    }
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

struct AttackCase {
    name: &'static str,
    tar: Vec<u8>,
    unsafe_entry: Option<&'static str>,
}

fn confinement_cases() -> Vec<AttackCase> {
    vec![
        AttackCase {
            name: "dotdot file",
            tar: Tar::new().file("../escape", b"x").finish(),
            unsafe_entry: Some("../escape"),
        },
        AttackCase {
            name: "inner dotdot",
            tar: Tar::new().file("a/../../escape", b"x").finish(),
            unsafe_entry: Some("a/../../escape"),
        },
        AttackCase {
            name: "hardlink outside",
            tar: Tar::new().hardlink("h", "../outside/secret").finish(),
            unsafe_entry: Some("h"),
        },
        AttackCase {
            name: "whiteout dotdot",
            tar: Tar::new().file("a/.wh...", b"").finish(),
            unsafe_entry: Some("a/.wh..."),
        },
        AttackCase {
            name: "whiteout dot",
            tar: Tar::new().file(".wh..", b"").finish(),
            unsafe_entry: Some(".wh.."),
        },
        AttackCase {
            name: "symlink replacing root",
            tar: Tar::new().symlink(".", "/tmp").finish(),
            unsafe_entry: Some("."),
        },
        AttackCase {
            name: "symlink replacing slash",
            tar: Tar::new().symlink("/", "/tmp").finish(),
            unsafe_entry: Some("/"),
        },
        AttackCase {
            name: "hardlink to root",
            tar: Tar::new().hardlink("h", "/").finish(),
            unsafe_entry: Some("h"),
        },
        AttackCase {
            name: "absolute symlink then write through it",
            tar: Tar::new()
                .symlink("link", "/")
                .file("link/escape", b"x")
                .finish(),
            unsafe_entry: None,
        },
        AttackCase {
            name: "relative climbing symlink then write through it",
            tar: Tar::new()
                .symlink("up", "../../../../..")
                .dir("up/made")
                .file("up/made/escape", b"x")
                .finish(),
            unsafe_entry: None,
        },
        AttackCase {
            name: "symlinked dir then hardlink through it",
            tar: Tar::new()
                .symlink("etc", "/")
                .file("secret", b"s")
                .hardlink("h", "etc/secret")
                .finish(),
            unsafe_entry: None,
        },
        AttackCase {
            name: "absolute name",
            tar: Tar::new().file("/escape", b"x").finish(),
            unsafe_entry: None,
        },
    ]
}

#[test]
fn confinement_attacks() {
    for walk in [false, true] {
        crate::layer::path::force_walk(walk);
        check_confinement();
    }
    crate::layer::path::force_walk(false);
}

fn check_confinement() {
    for case in confinement_cases() {
        let d = dirs();
        fs::write(d.outside.join("secret"), b"host").unwrap();
        let result = extract(&case.tar, &d.dest);
        match (case.unsafe_entry, result) {
            (Some(entry), Err(Error::UnsafePath { entry: got, .. })) => {
                assert_eq!(got, entry, "{}", case.name);
            }
            (None, Ok(_)) => {}
            (expected, got) => panic!("{}: expected unsafe {expected:?}, got {got:?}", case.name),
        }
        let outside: Vec<_> = fs::read_dir(&d.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            outside,
            ["secret"],
            "{}: nothing written outside",
            case.name
        );
        assert!(
            !d.dest.parent().unwrap().join("escape").exists(),
            "{}",
            case.name
        );
        assert!(
            !d.dest.parent().unwrap().join("made").exists(),
            "{}",
            case.name
        );
    }
}

#[test]
fn writes_through_symlinks_land_inside() {
    for walk in [false, true] {
        crate::layer::path::force_walk(walk);
        check_writes_through_symlinks();
    }
    crate::layer::path::force_walk(false);
}

fn check_writes_through_symlinks() {
    let d = dirs();
    let tar = Tar::new()
        .symlink("link", "/")
        .file("link/escape", b"x")
        .symlink("up", "../../..")
        .file("up/climbed", b"y")
        .file("secret", b"inside")
        .symlink("etc", "/")
        .hardlink("h", "etc/secret")
        .finish();
    extract(&tar, &d.dest).unwrap();
    assert_eq!(fs::read(d.dest.join("escape")).unwrap(), b"x");
    assert_eq!(fs::read(d.dest.join("climbed")).unwrap(), b"y");
    assert_eq!(fs::read(d.dest.join("h")).unwrap(), b"inside");
}

#[test]
fn hardlinks_to_lower_layers() {
    let temp = tempfile::tempdir().unwrap();
    let (near, far, dest) = (
        temp.path().join("near"),
        temp.path().join("far"),
        temp.path().join("dest"),
    );
    fs::create_dir_all(far.join("opaque")).unwrap();
    fs::create_dir_all(far.join("bin")).unwrap();
    fs::write(far.join("bin/far-only"), b"far").unwrap();
    fs::write(far.join("bin/shadowed"), b"far").unwrap();
    fs::write(far.join("opaque/hidden"), b"far").unwrap();
    fs::write(far.join("deleted"), b"far").unwrap();
    fs::set_permissions(far.join("bin/far-only"), fs::Permissions::from_mode(0o751)).unwrap();
    fs::create_dir_all(near.join("bin")).unwrap();
    fs::create_dir_all(near.join("opaque")).unwrap();
    fs::write(near.join("bin/shadowed"), b"near").unwrap();
    let near_tar = Tar::new()
        .file("opaque/.wh..wh..opq", b"")
        .file(".wh.deleted", b"")
        .finish();
    fs::remove_dir_all(&near).unwrap();
    fs::create_dir(&near).unwrap();
    extract(&near_tar, &near).unwrap();
    fs::create_dir_all(near.join("bin")).unwrap();
    fs::write(near.join("bin/shadowed"), b"near").unwrap();

    let tar = Tar::new()
        .hardlink("a", "bin/far-only")
        .hardlink("b", "/bin/shadowed")
        .hardlink("c", "bin/far-only")
        .finish();
    fs::create_dir(&dest).unwrap();
    let mut options = options(&dest, &tar, Compression::None);
    options.lower_dirs = vec![near.clone(), far.clone()];
    run_with(&tar, &options, &RootlessEffects).unwrap();
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"far");
    assert_eq!(fs::metadata(dest.join("a")).unwrap().mode() & 0o7777, 0o751);
    assert_eq!(fs::read(dest.join("b")).unwrap(), b"near");
    assert_eq!(
        fs::metadata(dest.join("a")).unwrap().ino(),
        fs::metadata(dest.join("c")).unwrap().ino()
    );
    assert_ne!(
        fs::metadata(dest.join("a")).unwrap().ino(),
        fs::metadata(far.join("bin/far-only")).unwrap().ino()
    );

    for (name, target) in [
        ("behind opaque", "opaque/hidden"),
        ("whited out", "deleted"),
        ("missing", "nowhere"),
    ] {
        let tar = Tar::new().hardlink("x", target).finish();
        let dest = temp.path().join(format!("dest-{}", name.replace(' ', "-")));
        let mut options = self::options(&dest, &tar, Compression::None);
        options.lower_dirs = vec![near.clone(), far.clone()];
        let error = run_with(&tar, &options, &RootlessEffects).unwrap_err();
        assert!(
            matches!(error, Error::LayerFormat { .. }),
            "{name}: {error}"
        );
    }
}

#[test]
fn digests_are_verified() {
    let d = dirs();
    let tar = Tar::new().file("f", b"data").finish();
    let stream = gzip(&tar);
    let mut good = options(&d.dest, &stream, Compression::Gzip);
    good.expected_diff_id = Some(Digest::of(&tar));
    let summary = run_with(&stream, &good, &RootlessEffects).unwrap();
    assert_eq!(
        (summary.digest.clone(), summary.compressed_size),
        (Digest::of(&stream), stream.len() as u64)
    );

    let wrong = Digest::of(b"other");
    for (name, digest, diff_id) in [
        ("compressed digest", wrong.clone(), None),
        ("diff_id", Digest::of(&stream), Some(wrong.clone())),
    ] {
        let d = dirs();
        let mut options = options(&d.dest, &stream, Compression::Gzip);
        options.expected_digest = digest;
        options.expected_diff_id = diff_id;
        let error = run_with(&stream, &options, &RootlessEffects).unwrap_err();
        assert!(
            matches!(&error, Error::DigestMismatch { expected, .. } if *expected == wrong.to_string()),
            "{name}: {error}"
        );
        assert_eq!(
            fs::read_dir(&d.dest).unwrap().count(),
            0,
            "{name}: dest emptied"
        );
    }
}

#[test]
fn corrupt_and_truncated_streams() {
    let tar = Tar::new()
        .file("big", &vec![1u8; 200_000])
        .file("after", b"x")
        .finish();
    let stream = gzip(&tar);
    let cases: Vec<(&str, Vec<u8>, Compression)> = vec![
        (
            "truncated gzip",
            stream[..stream.len() / 2].to_vec(),
            Compression::Gzip,
        ),
        (
            "gzip without trailer",
            stream[..stream.len() - 8].to_vec(),
            Compression::Gzip,
        ),
        (
            "not gzip",
            b"definitely not gzip".to_vec(),
            Compression::Gzip,
        ),
        (
            "not zstd",
            b"definitely not zstd".to_vec(),
            Compression::Zstd,
        ),
        (
            "tar cut inside data",
            tar[..100_000].to_vec(),
            Compression::None,
        ),
        (
            "tar cut inside a header",
            tar[..200].to_vec(),
            Compression::None,
        ),
    ];
    for (name, stream, compression) in cases {
        let d = dirs();
        let options = options(&d.dest, &stream, compression);
        let error = run_with(&stream, &options, &RootlessEffects).unwrap_err();
        assert!(
            matches!(error, Error::LayerFormat { .. }),
            "{name}: {error}"
        );
    }
}

#[test]
fn budgets() {
    let tar = Tar::new()
        .file("a", &[0u8; 4096])
        .file("b", b"")
        .file("c", b"")
        .finish();
    for (name, max_bytes, max_entries, what) in [
        ("bytes", Some(2048), None, "uncompressed bytes"),
        ("entries", None, Some(2), "entries"),
    ] {
        let d = dirs();
        let mut options = options(&d.dest, &tar, Compression::None);
        options.max_bytes = max_bytes;
        options.max_entries = max_entries;
        let error = run_with(&tar, &options, &RootlessEffects).unwrap_err();
        assert!(
            matches!(error, Error::LimitExceeded { what: got, .. } if got == what),
            "{name}: {error}"
        );
    }
    let d = dirs();
    let mut options = options(&d.dest, &tar, Compression::None);
    options.max_bytes = Some(tar.len() as u64);
    options.max_entries = Some(3);
    run_with(&tar, &options, &RootlessEffects).unwrap();
}

#[test]
fn zstd_layer_with_blob_copy() {
    let d = dirs();
    let tar = Tar::new().file("z", b"zstd").finish();
    let stream = zstd::encode_all(&tar[..], 3).unwrap();
    let mut options = options(&d.dest, &stream, Compression::Zstd);
    options.blob_path = Some(d.outside.join("blob"));
    options.sync = true;
    let summary = run_with(&stream, &options, &RootlessEffects).unwrap();
    assert_eq!(summary.diff_id, Digest::of(&tar));
    assert_eq!(fs::read(d.outside.join("blob")).unwrap(), stream);
    assert_eq!(fs::read(d.dest.join("z")).unwrap(), b"zstd");

    let d = dirs();
    let mut options = self::options(&d.dest, b"wrong", Compression::Zstd);
    options.blob_path = Some(d.outside.join("blob"));
    run_with(&stream, &options, &RootlessEffects).unwrap_err();
    assert!(
        !d.outside.join("blob").exists(),
        "blob copy removed on error"
    );
}
