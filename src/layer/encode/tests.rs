//! Encoder tests: trees built in the test, encoded, then read back by our own decoder
//! (`extract_layer`, which also verifies both digests) and compared entry by entry; the tar
//! stream itself read with the `tar` crate for the entry order, names and PAX records; gzip
//! read by `MultiGzDecoder`. Root-only cases (devices, `trusted.*` xattrs, owners above the
//! ustar range) skip themselves when the mknod probe fails.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};

use super::*;
use crate::layer::effects;
use crate::layer::{extract_layer_with, LayerOptions};

fn options(compression: Compression, threads: usize) -> EncodeOptions {
    EncodeOptions {
        compression,
        level: None,
        threads,
    }
}

fn encode(source: &Path, out: &Path, compression: Compression, walk: WalkOptions) -> Encoded {
    encode_layer(
        source,
        out,
        &options(compression, 2),
        walk,
        &AtomicBool::new(false),
    )
    .unwrap()
}

fn decompress(path: &Path, compression: Compression) -> Vec<u8> {
    let file = fs::File::open(path).unwrap();
    let mut out = Vec::new();
    match compression {
        Compression::Gzip => flate2::read::MultiGzDecoder::new(file)
            .read_to_end(&mut out)
            .unwrap(),
        Compression::Zstd => zstd::stream::read::Decoder::new(file)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap(),
        Compression::None => fs::File::open(path).unwrap().read_to_end(&mut out).unwrap(),
    };
    out
}

/// Extracts the blob with our own pipeline, which checks both digests.
fn extract(blob: &Path, encoded: &Encoded, compression: Compression, dest: &Path) {
    let options = LayerOptions {
        expected_digest: encoded.digest.clone(),
        expected_diff_id: Some(encoded.diff_id.clone()),
        ..crate::layer::tests::options(dest, &[], compression)
    };
    let effects = effects::for_current_process();
    let summary = extract_layer_with(
        fs::File::open(blob).unwrap(),
        &options,
        effects.as_ref(),
        &AtomicBool::new(false),
        &AtomicU64::new(0),
    )
    .unwrap();
    assert_eq!(summary.entries, encoded.entries);
    assert_eq!(summary.uncompressed_size, encoded.uncompressed_size);
}

/// (name, type, link name, PAX records) of every entry, in stream order.
type Listed = Vec<(String, tar::EntryType, String, Vec<(String, Vec<u8>)>)>;

fn list_tar(tar: &[u8]) -> Listed {
    let mut archive = tar::Archive::new(tar);
    let mut listed = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let records = entry
            .pax_extensions()
            .unwrap()
            .map(|records| {
                records
                    .map(|record| {
                        let record = record.unwrap();
                        (
                            record.key().unwrap().to_owned(),
                            record.value_bytes().to_vec(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        listed.push((
            String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            entry.header().entry_type(),
            entry
                .link_name_bytes()
                .map(|link| String::from_utf8_lossy(&link).into_owned())
                .unwrap_or_default(),
            records,
        ));
    }
    listed
}

/// What a tree's node looks like from outside: everything the layer must carry.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    mode: u32,
    owner: (u32, u32),
    mtime: i64,
    content: Vec<u8>,
    /// The first path (sorted) of the inode, for non-directories with more than one link.
    linked_to: Option<String>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut nodes = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    let mut paths = Vec::new();
    collect(root, &mut paths);
    paths.sort();
    for path in paths {
        let meta = fs::symlink_metadata(&path).unwrap();
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let file_type = meta.file_type();
        let (kind, content) = if file_type.is_dir() {
            ("dir", Vec::new())
        } else if file_type.is_symlink() {
            let target = fs::read_link(&path).unwrap();
            ("symlink", target.into_os_string().into_encoded_bytes())
        } else if file_type.is_file() {
            ("file", fs::read(&path).unwrap())
        } else if file_type.is_fifo() {
            ("fifo", Vec::new())
        } else if file_type.is_char_device() {
            ("char", meta.rdev().to_le_bytes().to_vec())
        } else {
            ("other", Vec::new())
        };
        let linked_to = if !file_type.is_dir() && meta.nlink() > 1 {
            Some(inodes.entry(meta.ino()).or_insert(relative.clone()).clone())
        } else {
            None
        };
        let xattrs = if file_type.is_dir() || file_type.is_file() {
            let file = fs::File::open(&path).unwrap();
            crate::layer::sys::list_xattrs(std::os::fd::AsFd::as_fd(&file))
                .into_iter()
                .filter(|(name, _)| !name.to_bytes().starts_with(b"trusted.overlay."))
                .filter(|(name, _)| !name.to_bytes().starts_with(b"user.overlay."))
                .map(|(name, value)| (name.to_string_lossy().into_owned(), value))
                .collect()
        } else {
            Vec::new()
        };
        nodes.insert(
            relative,
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                owner: (meta.uid(), meta.gid()),
                mtime: if file_type.is_symlink() {
                    0
                } else {
                    meta.mtime()
                },
                content,
                linked_to,
                xattrs,
            },
        );
    }
    nodes
}

fn collect(dir: &Path, paths: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        paths.push(path.clone());
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            collect(&path, paths);
        }
    }
}

fn set_mtime(path: &Path, seconds: i64) {
    let name = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let time = libc::timespec {
        tv_sec: seconds as libc::time_t,
        tv_nsec: 123_456_789,
    };
    // SAFETY: `name` is NUL-terminated, `times` has two entries.
    let result = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            name.as_ptr(),
            [time, time].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(result, 0, "{}", path.display());
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    let file = fs::File::open(path).unwrap();
    let name = CString::new(name).unwrap();
    crate::layer::sys::fsetxattr(std::os::fd::AsFd::as_fd(&file), &name, value).is_ok()
}

fn mknod(path: &Path, kind: libc::mode_t, major: u32, minor: u32) -> bool {
    let name = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `name` is NUL-terminated.
    unsafe { libc::mknod(name.as_ptr(), kind | 0o600, libc::makedev(major, minor)) == 0 }
}

fn is_root() -> bool {
    let dir = tempfile::tempdir().unwrap();
    mknod(&dir.path().join("probe"), libc::S_IFCHR, 0, 0)
}

/// A tree with every kind of node the encoder must carry (devices and owners only as root).
fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/ssl")).unwrap();
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(root.join("etc/hostname"), b"box\n").unwrap();
    fs::write(root.join("etc/empty"), b"").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(root.join("usr/bin/tool"), &big).unwrap();
    fs::set_permissions(
        root.join("usr/bin/tool"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    fs::set_permissions(root.join("etc/ssl"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/alias")).unwrap();
    fs::hard_link(root.join("usr/bin/tool"), root.join("etc/tool-link")).unwrap();
    std::os::unix::fs::symlink("hostname", root.join("etc/link")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("outside")).unwrap();
    let long_target = "t".repeat(150);
    std::os::unix::fs::symlink(&long_target, root.join("etc/long-link")).unwrap();
    let deep = root
        .join("d".repeat(90))
        .join("e".repeat(90))
        .join("f".repeat(90));
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("g".repeat(120)), b"long name").unwrap();
    let fifo = CString::new(root.join("etc/fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: `fifo` is NUL-terminated.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    let _socket = std::os::unix::net::UnixListener::bind(root.join("etc/socket")).unwrap();
    assert!(set_xattr(
        &root.join("etc/hostname"),
        "user.origin",
        b"test\0binary"
    ));
    assert!(set_xattr(&root.join("etc/ssl"), "user.dir", b"y"));
    if is_root() {
        assert!(mknod(&root.join("etc/null"), libc::S_IFCHR, 1, 3));
        let big_owner =
            CString::new(root.join("etc/empty").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: `big_owner` is NUL-terminated.
        assert_eq!(
            unsafe { libc::chown(big_owner.as_ptr(), 3_000_000, 1234) },
            0
        );
        assert!(set_xattr(
            &root.join("usr/bin/tool"),
            "security.capability",
            b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        ));
    }
    for (path, seconds) in [
        ("etc/hostname", 1_600_000_000),
        ("usr/bin/tool", 1_500_000_000),
        ("etc/ssl", 1_400_000_000),
        ("etc", 1_300_000_000),
    ] {
        set_mtime(&root.join(path), seconds);
    }
}

#[test]
fn round_trip_through_our_decoder() {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    sample_tree(&source);
    let mut expected = snapshot(&source);
    expected.remove("etc/socket");
    for (compression, name) in [
        (Compression::Gzip, "gzip"),
        (Compression::Zstd, "zstd"),
        (Compression::None, "none"),
    ] {
        let blob = temp.path().join(format!("layer.{name}"));
        let encoded = encode(&source, &blob, compression, WalkOptions::default());
        assert_eq!(encoded.size, fs::metadata(&blob).unwrap().len(), "{name}");
        let tar = decompress(&blob, compression);
        assert_eq!(Digest::of(&tar), encoded.diff_id, "{name}");
        assert_eq!(tar.len() as u64, encoded.uncompressed_size, "{name}");
        assert_eq!(
            Digest::of(&fs::read(&blob).unwrap()),
            encoded.digest,
            "{name}"
        );
        let dest = temp.path().join(format!("dest-{name}"));
        extract(&blob, &encoded, compression, &dest);
        let got = snapshot(&dest);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (path, node) in &expected {
            assert_eq!(&got[path], node, "{name}: {path}");
        }
    }
}

#[test]
fn entries_are_sorted_with_directories_first_and_links_after_their_data() {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    sample_tree(&source);
    let blob = temp.path().join("layer.tar");
    encode(&source, &blob, Compression::None, WalkOptions::default());
    let listed = list_tar(&fs::read(&blob).unwrap());
    let names: Vec<&str> = listed.iter().map(|entry| entry.0.as_str()).collect();
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap();
    assert!(position("etc/") < position("etc/empty"));
    assert!(position("etc/ssl/") < position("usr/"));
    assert!(!names.contains(&"etc/socket"), "sockets are skipped");
    assert!(!names.iter().any(|name| name.starts_with("outside/")));
    let link = |name: &str| &listed[position(name)];
    // Walk order: etc/tool-link comes first, so it holds the data.
    assert_eq!(link("etc/tool-link").1, tar::EntryType::Regular);
    assert_eq!(link("usr/bin/alias").1, tar::EntryType::Link);
    assert_eq!(link("usr/bin/alias").2, "etc/tool-link");
    assert_eq!(link("usr/bin/tool").1, tar::EntryType::Link);
    assert_eq!(link("outside").1, tar::EntryType::Symlink);
    assert_eq!(link("outside").2, "/etc");
    let long_link = link("etc/long-link");
    assert_eq!(long_link.2, "t".repeat(150));
    assert!(long_link.3.iter().any(|(key, _)| key == "linkpath"));
    let hostname = link("etc/hostname");
    assert!(hostname.3.contains(&(
        "SCHILY.xattr.user.origin".to_owned(),
        b"test\0binary".to_vec()
    )));
    let mut sorted = names.clone();
    sorted.sort_by_key(|name| name.trim_end_matches('/').split('/').collect::<Vec<_>>());
    assert_eq!(names, sorted, "depth-first, each directory sorted");
}

#[test]
fn reproducible_across_runs_and_thread_counts() {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    sample_tree(&source);
    for compression in [Compression::Gzip, Compression::Zstd] {
        let digests: Vec<_> = [1, 2, 4, 2]
            .iter()
            .enumerate()
            .map(|(run, &threads)| {
                let blob = temp.path().join(format!("{compression:?}-{run}"));
                encode_layer(
                    &source,
                    &blob,
                    &options(compression, threads),
                    WalkOptions::default(),
                    &AtomicBool::new(false),
                )
                .unwrap()
            })
            .collect();
        for encoded in &digests[1..] {
            assert_eq!(encoded, &digests[0], "{compression:?}");
        }
    }
}

#[test]
fn epoch_clamps_newer_times_only() {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    fs::create_dir(&source).unwrap();
    fs::write(source.join("old"), b"").unwrap();
    fs::write(source.join("new"), b"").unwrap();
    set_mtime(&source.join("old"), 1_000_000_000);
    set_mtime(&source.join("new"), 2_000_000_000);
    let blob = temp.path().join("layer.tar");
    let walk = WalkOptions {
        overlay: false,
        epoch: Some(1_700_000_000),
    };
    encode(&source, &blob, Compression::None, walk);
    let data = fs::read(&blob).unwrap();
    let mut archive = tar::Archive::new(&data[..]);
    let times: BTreeMap<String, u64> = archive
        .entries()
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            (name, entry.header().mtime().unwrap())
        })
        .collect();
    assert_eq!(times["old"], 1_000_000_000);
    assert_eq!(times["new"], 1_700_000_000);
}

/// An overlay upper dir made by hand in both formats: root's (char 0/0,
/// `trusted.overlay.opaque`) when root, and the `userxattr` one always.
#[test]
fn overlay_upper_dir_becomes_oci_whiteouts() {
    let temp = tempfile::tempdir().unwrap();
    let upper = temp.path().join("upper");
    fs::create_dir_all(upper.join("etc")).unwrap();
    fs::create_dir_all(upper.join("var/cache")).unwrap();
    fs::write(upper.join("etc/kept"), b"x").unwrap();
    fs::write(upper.join("etc/user-gone"), b"").unwrap();
    assert!(set_xattr(
        &upper.join("etc/user-gone"),
        "user.overlay.whiteout",
        b"y"
    ));
    assert!(set_xattr(&upper.join("etc"), "user.overlay.opaque", b"x"));
    assert!(set_xattr(
        &upper.join("var/cache"),
        "user.overlay.opaque",
        b"y"
    ));
    fs::write(upper.join("var/cache/new"), b"n").unwrap();
    let root = is_root();
    if root {
        assert!(mknod(&upper.join("etc/root-gone"), libc::S_IFCHR, 0, 0));
        fs::create_dir(upper.join("opt")).unwrap();
        assert!(set_xattr(
            &upper.join("opt"),
            "trusted.overlay.opaque",
            b"y"
        ));
        assert!(set_xattr(
            &upper.join("etc/kept"),
            "trusted.overlay.origin",
            b"z"
        ));
    }
    let blob = temp.path().join("layer.gz");
    let walk = WalkOptions {
        overlay: true,
        epoch: None,
    };
    let encoded = encode(&upper, &blob, Compression::Gzip, walk);
    let listed = list_tar(&decompress(&blob, Compression::Gzip));
    let names: Vec<&str> = listed.iter().map(|entry| entry.0.as_str()).collect();
    let mut expected = vec![
        "etc/",
        "etc/kept",
        "etc/.wh.user-gone",
        "var/",
        "var/cache/",
        "var/cache/.wh..wh..opq",
        "var/cache/new",
    ];
    if root {
        expected = vec![
            "etc/",
            "etc/kept",
            "etc/.wh.root-gone",
            "etc/.wh.user-gone",
            "opt/",
            "opt/.wh..wh..opq",
            "var/",
            "var/cache/",
            "var/cache/.wh..wh..opq",
            "var/cache/new",
        ];
    }
    assert_eq!(names, expected);
    for (name, _, _, records) in &listed {
        assert!(
            records.iter().all(|(key, _)| !key.contains(".overlay.")),
            "{name}: {records:?}"
        );
    }
    // Our own decoder turns them back into overlay whiteouts.
    let dest = temp.path().join("dest");
    extract(&blob, &encoded, Compression::Gzip, &dest);
    let effects = effects::for_current_process();
    let etc = fs::File::open(dest.join("etc")).unwrap();
    let stat = crate::layer::sys::lstatat(std::os::fd::AsFd::as_fd(&etc), c"user-gone").unwrap();
    assert!(effects.is_whiteout(std::os::fd::AsFd::as_fd(&etc), c"user-gone", &stat));
    let cache = fs::File::open(dest.join("var/cache")).unwrap();
    assert!(effects.is_opaque(std::os::fd::AsFd::as_fd(&cache)));
    assert!(!effects.is_opaque(std::os::fd::AsFd::as_fd(&etc)));
}

/// Without overlay mode a char device 0/0 stays a device (as root) and xattr whiteouts stay
/// files: only the overlay xattrs themselves are dropped.
#[test]
fn plain_mode_keeps_nodes_as_they_are() {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    fs::create_dir(&source).unwrap();
    fs::write(source.join("marked"), b"").unwrap();
    assert!(set_xattr(
        &source.join("marked"),
        "user.overlay.whiteout",
        b"y"
    ));
    let blob = temp.path().join("layer.tar");
    encode(&source, &blob, Compression::None, WalkOptions::default());
    let listed = list_tar(&fs::read(&blob).unwrap());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, "marked");
    assert!(listed[0].3.is_empty());
}

#[test]
fn compress_file_hashes_the_tar_and_the_output() {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    sample_tree(&source);
    let tar_path = temp.path().join("layer.tar");
    let plain = encode(
        &source,
        &tar_path,
        Compression::None,
        WalkOptions::default(),
    );
    for compression in [Compression::Gzip, Compression::Zstd] {
        let out = temp.path().join(format!("layer.{compression:?}"));
        let encoded = compress_file(
            &tar_path,
            Compression::None,
            &out,
            &options(compression, 2),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(encoded.diff_id, plain.diff_id);
        assert_eq!(encoded.entries, 0);
        assert_eq!(encoded.uncompressed_size, plain.uncompressed_size);
        // and back to a plain tar from it: a recompression sees the same tar
        let again = temp.path().join(format!("again.{compression:?}"));
        let recompressed = compress_file(
            &out,
            compression,
            &again,
            &options(Compression::None, 1),
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(recompressed.diff_id, plain.diff_id);
        assert_eq!(recompressed.digest, plain.diff_id);
        assert_eq!(Digest::of(&fs::read(&out).unwrap()), encoded.digest);
        assert_eq!(decompress(&out, compression), fs::read(&tar_path).unwrap());
    }
}

#[test]
fn failures_leave_no_output_and_never_replace_a_file() {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("source");
    fs::create_dir(&source).unwrap();
    fs::write(source.join("f"), vec![1u8; 1 << 20]).unwrap();
    let existing = temp.path().join("existing");
    fs::write(&existing, b"keep").unwrap();
    let cancel = AtomicBool::new(false);
    let gzip = options(Compression::Gzip, 2);
    let error =
        encode_layer(&source, &existing, &gzip, WalkOptions::default(), &cancel).unwrap_err();
    assert!(
        matches!(&error, Error::Io { source, .. } if source.raw_os_error() == Some(libc::EEXIST)),
        "{error}"
    );
    assert_eq!(fs::read(&existing).unwrap(), b"keep");

    let out = temp.path().join("out");
    let missing = temp.path().join("missing");
    let error = encode_layer(&missing, &out, &gzip, WalkOptions::default(), &cancel).unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
    assert!(!out.exists(), "removed after a missing source");
    assert!(compress_file(&missing, Compression::None, &out, &gzip, &cancel).is_err());
    assert!(!out.exists());

    let bad_level = EncodeOptions {
        level: Some(10),
        ..gzip
    };
    let error =
        encode_layer(&source, &out, &bad_level, WalkOptions::default(), &cancel).unwrap_err();
    assert!(matches!(error, Error::Unsupported { .. }), "{error}");
    assert!(!out.exists());

    let cancelled = AtomicBool::new(true);
    let error = encode_layer(&source, &out, &gzip, WalkOptions::default(), &cancelled).unwrap_err();
    assert!(matches!(error, Error::Cancelled), "{error}");
    assert!(!out.exists(), "removed after a cancel");
}

/// Unmounts (lazily) when dropped, also when the test fails.
struct Mounted(CString);

impl Drop for Mounted {
    fn drop(&mut self) {
        // SAFETY: the path is NUL-terminated.
        unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The upper dir of a real overlay mount after a delete and a directory replaced: the
/// kernel's own whiteout and opaque formats. Root only (skips when the mount is refused).
#[test]
fn as_root_real_overlay_upper_dir() {
    let temp = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged] = ["lower", "upper", "work", "merged"].map(|name| {
        let path = temp.path().join(name);
        fs::create_dir(&path).unwrap();
        path
    });
    fs::create_dir_all(lower.join("etc")).unwrap();
    fs::write(lower.join("etc/gone"), b"old").unwrap();
    fs::create_dir_all(lower.join("cache/sub")).unwrap();
    fs::write(lower.join("cache/sub/old"), b"old").unwrap();
    let options = CString::new(format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    ))
    .unwrap();
    let target = CString::new(merged.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: every string is NUL-terminated.
    let mounted = unsafe {
        libc::mount(
            c"overlay".as_ptr(),
            target.as_ptr(),
            c"overlay".as_ptr(),
            0,
            options.as_ptr().cast(),
        )
    };
    if mounted != 0 {
        eprintln!(
            "skipped: overlay mount refused: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    {
        let _mounted = Mounted(target);
        fs::remove_file(merged.join("etc/gone")).unwrap();
        fs::remove_dir_all(merged.join("cache")).unwrap();
        fs::create_dir(merged.join("cache")).unwrap();
        fs::write(merged.join("cache/new"), b"new").unwrap();
    }
    let blob = temp.path().join("layer.tar");
    let walk = WalkOptions {
        overlay: true,
        epoch: None,
    };
    encode(&upper, &blob, Compression::None, walk);
    let listed = list_tar(&fs::read(&blob).unwrap());
    let names: Vec<&str> = listed.iter().map(|entry| entry.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "cache/",
            "cache/.wh..wh..opq",
            "cache/new",
            "etc/",
            "etc/.wh.gone"
        ]
    );
    for (name, _, _, records) in &listed {
        assert!(
            records.iter().all(|(key, _)| !key.contains(".overlay.")),
            "{name}: {records:?}"
        );
    }
}
