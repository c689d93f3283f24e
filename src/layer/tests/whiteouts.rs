//! Whiteouts and opaque dirs in both formats, and hardlinks into lower layers.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use tar::EntryType;

use super::*;
use crate::error::Error;
use crate::layer::effects::RootlessEffects;
use crate::layer::Compression;

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
