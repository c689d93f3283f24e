//! The `consumed` progress: compressed bytes the extraction has consumed, seen from the
//! extracting thread itself (a recording `FsEffects` reads the counter as each file is
//! finished), so what is asserted does not depend on timing.

use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use super::*;
use crate::digest::Digest;
use crate::layer::effects::{NodeKind, RootlessEffects, Target};

const FILES: usize = 48;
const FILE_SIZE: usize = 96 * 1024; // 48 files: about 4.5 MiB, several pipeline chunks

/// `RootlessEffects` that note the progress counter whenever an entry's owner is set (for a
/// file after all its data is written).
struct Recording<'a> {
    consumed: &'a AtomicU64,
    seen: Mutex<Vec<u64>>,
}

impl FsEffects for Recording<'_> {
    fn chown(&self, target: Target<'_>, uid: u32, gid: u32) -> io::Result<()> {
        let value = self.consumed.load(Ordering::Relaxed);
        self.seen.lock().unwrap().push(value);
        RootlessEffects.chown(target, uid, gid)
    }
    fn mknod(
        &self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        kind: NodeKind,
        mode: u32,
        device: u64,
    ) -> io::Result<bool> {
        RootlessEffects.mknod(parent, name, kind, mode, device)
    }
    fn whiteout(&self, parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
        RootlessEffects.whiteout(parent, name)
    }
    fn is_whiteout(&self, parent: BorrowedFd<'_>, name: &CStr, stat: &libc::stat) -> bool {
        RootlessEffects.is_whiteout(parent, name, stat)
    }
    fn mark_opaque(&self, dir: BorrowedFd<'_>) -> io::Result<()> {
        RootlessEffects.mark_opaque(dir)
    }
    fn is_opaque(&self, dir: BorrowedFd<'_>) -> bool {
        RootlessEffects.is_opaque(dir)
    }
    fn set_xattr(&self, fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
        RootlessEffects.set_xattr(fd, name, value)
    }
}

/// Bytes no compressor shrinks much (xorshift), so compressed and tar offsets stay close.
fn noise(seed: u64, size: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

fn many_files() -> Vec<u8> {
    let mut tar = Tar::new().dir("data");
    for index in 0..FILES {
        tar = tar.file(&format!("data/{index:03}"), &noise(index as u64, FILE_SIZE));
    }
    tar.finish()
}

fn compressed(tar: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::Gzip => gzip(tar),
        Compression::Zstd => zstd::encode_all(tar, 3).unwrap(),
        Compression::None => tar.to_vec(),
    }
}

/// Runs the pipeline over `stream`; the counter values seen as each file was finished, the
/// final value, and the outcome.
fn run_recorded(stream: &[u8], options: &LayerOptions) -> (Vec<u64>, u64, bool) {
    let consumed = AtomicU64::new(0);
    let effects = Recording {
        consumed: &consumed,
        seen: Mutex::new(Vec::new()),
    };
    let cancel = AtomicBool::new(false);
    let outcome = extract_layer_with(stream, options, &effects, &cancel, &consumed);
    let seen = effects.seen.into_inner().unwrap();
    (seen, consumed.load(Ordering::Relaxed), outcome.is_ok())
}

#[test]
fn progress_reaches_the_size_only_after_the_last_entry() {
    let tar = many_files();
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let d = dirs();
        let stream = compressed(&tar, compression);
        let total = stream.len() as u64;
        let mut options = options(&d.dest, &stream, compression);
        options.expected_diff_id = Some(Digest::of(&tar));
        let (seen, last, succeeded) = run_recorded(&stream, &options);

        assert!(succeeded, "{compression:?}");
        assert_eq!(
            seen.len(),
            1 + FILES,
            "{compression:?}: the directory, each file"
        );
        assert!(
            seen.windows(2).all(|pair| pair[0] <= pair[1]),
            "{compression:?}: monotonic: {seen:?}"
        );
        assert_eq!(
            seen[0], 0,
            "{compression:?}: nothing counted in the first chunk"
        );
        let at_last_file = seen[FILES];
        assert!(
            at_last_file >= total / 2 && at_last_file < total,
            "{compression:?}: the count follows the extraction and stays below {total} \
             until the layer is done: {seen:?}"
        );
        assert_eq!(last, total, "{compression:?}: the whole blob once done");
    }
}

#[test]
fn progress_stays_below_the_size_when_the_layer_fails() {
    let tar = many_files();
    let stream = gzip(&tar);
    let total = stream.len() as u64;
    let cases: Vec<(&str, Vec<u8>, Option<Digest>)> = vec![
        ("wrong diff_id", stream.clone(), Some(Digest::of(b"other"))),
        ("truncated", stream[..stream.len() - 4].to_vec(), None),
    ];
    for (name, body, diff_id) in cases {
        let d = dirs();
        let mut options = options(&d.dest, &body, Compression::Gzip);
        options.expected_diff_id = diff_id;
        let (seen, last, succeeded) = run_recorded(&body, &options);
        assert!(!succeeded, "{name}");
        assert!(
            last < total && seen.iter().all(|&value| value < total),
            "{name}: {last} of {total}, {seen:?}"
        );
    }
}
