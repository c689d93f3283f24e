//! Digests, corrupt and truncated streams, budgets, zstd and the blob copy; the tmp/ placement flag.

use std::fs;

use super::*;
use crate::digest::Digest;
use crate::error::Error;
use crate::layer::effects::RootlessEffects;
use crate::layer::Compression;

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

#[test]
fn spread_subdirectories_marks_the_directory() {
    use std::os::fd::AsFd;

    use crate::layer::{spread_subdirectories, sys};

    let dir = tempfile::tempdir().unwrap();
    let flags = || {
        let file = std::fs::File::open(dir.path()).unwrap();
        sys::inode_flags(file.as_fd()).unwrap()
    };
    let supported = spread_subdirectories(dir.path()).unwrap();
    if supported {
        // ext4: set, and a second call (every pull makes one) keeps it.
        assert_ne!(flags() & sys::FS_TOPDIR_FL, 0);
        assert!(spread_subdirectories(dir.path()).unwrap());
        assert_ne!(flags() & sys::FS_TOPDIR_FL, 0);
    }
    let missing = dir.path().join("missing");
    assert!(matches!(
        spread_subdirectories(&missing),
        Err(Error::Io { .. })
    ));
}
