use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

use super::*;

fn copy(source: &Path, from: &[u8], destination: &Path, keep: Option<&Keep<'_>>) -> u64 {
    let options = CopyOptions {
        owner: (0, 0),
        mode: None,
    };
    copy_tree(
        source,
        from,
        destination,
        b"dest",
        keep,
        options,
        &AtomicBool::new(false),
    )
    .unwrap()
}

#[test]
fn copies_contents_links_and_modes() {
    let context = tempfile::tempdir().unwrap();
    let upper = tempfile::tempdir().unwrap();
    fs::create_dir_all(context.path().join("src/sub")).unwrap();
    fs::write(context.path().join("src/a"), b"a").unwrap();
    fs::set_permissions(
        context.path().join("src/a"),
        fs::Permissions::from_mode(0o751),
    )
    .unwrap();
    fs::hard_link(
        context.path().join("src/a"),
        context.path().join("src/sub/hard"),
    )
    .unwrap();
    symlink("/etc/passwd", context.path().join("src/out")).unwrap();
    fs::create_dir(upper.path().join("dest")).unwrap();

    assert_eq!(copy(context.path(), b"src", upper.path(), None), 4);
    let dest = upper.path().join("dest");
    assert_eq!(fs::read(dest.join("a")).unwrap(), b"a");
    assert_eq!(fs::metadata(dest.join("a")).unwrap().mode() & 0o7777, 0o751);
    assert_eq!(
        fs::read_link(dest.join("out")).unwrap(),
        Path::new("/etc/passwd")
    );
    let (first, second) = (
        fs::metadata(dest.join("a")).unwrap(),
        fs::metadata(dest.join("sub/hard")).unwrap(),
    );
    assert_eq!(first.ino(), second.ino());
}

#[test]
fn keep_limits_and_symlinks_are_refused_on_the_way() {
    let context = tempfile::tempdir().unwrap();
    let upper = tempfile::tempdir().unwrap();
    fs::create_dir_all(context.path().join("src")).unwrap();
    fs::write(context.path().join("src/kept"), b"k").unwrap();
    fs::write(context.path().join("src/ignored"), b"i").unwrap();
    symlink("/etc", context.path().join("link")).unwrap();
    fs::create_dir(upper.path().join("dest")).unwrap();
    let keep: HashSet<Vec<u8>> = [b"src".to_vec(), b"src/kept".to_vec()].into();
    let keep = |path: &[u8]| keep.contains(path);
    assert_eq!(copy(context.path(), b"src", upper.path(), Some(&keep)), 1);
    assert!(!upper.path().join("dest/ignored").exists());

    let options = CopyOptions::default();
    let cancel = AtomicBool::new(false);
    for (from, into) in [
        (&b"link"[..], &b"dest"[..]),
        (b"../", b"dest"),
        (b"src", b"../"),
    ] {
        let result = copy_tree(
            context.path(),
            from,
            upper.path(),
            into,
            None,
            options,
            &cancel,
        );
        assert!(result.is_err(), "{}", String::from_utf8_lossy(from));
    }
}
