use std::fs;
use std::os::unix::fs::symlink;

use super::*;

fn scan_all(root: &Path, filter: Option<&mut Filter<'_>>) -> Vec<ContextEntry> {
    scan(root, filter, 4, &AtomicBool::new(false)).unwrap()
}

fn paths(entries: &[ContextEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| String::from_utf8(entry.path.clone()).unwrap())
        .collect()
}

#[test]
fn files_hashed_symlinks_reported_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), b"secret").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("sub/a.txt"), b"hello").unwrap();
    symlink(outside.path().join("secret"), dir.path().join("out")).unwrap();
    symlink(outside.path(), dir.path().join("outdir")).unwrap();

    let entries = scan_all(dir.path(), None);
    assert_eq!(paths(&entries), ["out", "outdir", "sub", "sub/a.txt"]);
    let file = &entries[3];
    assert_eq!(file.kind, 'f');
    assert_eq!(file.size, 5);
    assert_eq!(file.sha256, Some(Sha256::digest(b"hello").into()));
    assert_eq!(entries[0].kind, 'l');
    assert_eq!(
        entries[0].link,
        outside.path().join("secret").as_os_str().as_encoded_bytes()
    );
    assert_eq!(entries[0].sha256, None);
    assert_eq!(entries[1].kind, 'l');
}

#[test]
fn filter_excludes_prunes_and_descends() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["skip/deep", "walk/none", "walk/some"] {
        fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for file in [
        "skip/deep/x",
        "walk/none/y",
        "walk/some/keep",
        "walk/some/drop",
        "top",
    ] {
        fs::write(dir.path().join(file), file).unwrap();
    }
    let mut asked = Vec::new();
    let mut filter = |prefix: &[u8], names: &[(Vec<u8>, bool)]| -> Result<Vec<Decision>> {
        asked.push(String::from_utf8(prefix.to_vec()).unwrap());
        Ok(names
            .iter()
            .map(|(name, is_dir)| match (prefix, name.as_slice(), is_dir) {
                (b"", b"skip", _) => Decision::Exclude,
                (b"", b"walk", _) | (b"walk", _, true) => Decision::Descend,
                (b"walk/some", b"keep", _) | (b"", _, _) => Decision::Include,
                _ => Decision::Exclude,
            })
            .collect())
    };
    let entries = scan_all(dir.path(), Some(&mut filter));
    assert_eq!(
        paths(&entries),
        ["top", "walk", "walk/some", "walk/some/keep"]
    );
    assert_eq!(asked, ["", "walk", "walk/none", "walk/some"]);
}

#[test]
fn hash_refuses_a_symlink_in_the_way() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("f"), b"x").unwrap();
    symlink(outside.path(), dir.path().join("link")).unwrap();
    symlink(outside.path().join("f"), dir.path().join("file")).unwrap();
    let root = std::fs::File::open(dir.path()).unwrap();
    let mut buffer = vec![0u8; 16];
    for path in [&b"link/f"[..], b"file", b"../x"] {
        let error = hash_file(root.as_fd(), path, &mut buffer).unwrap_err();
        assert!(
            matches!(
                error.raw_os_error(),
                Some(libc::ELOOP | libc::EXDEV | libc::ENOENT)
            ),
            "{error}"
        );
    }
}
