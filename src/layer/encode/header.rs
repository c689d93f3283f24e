//! Tar headers as docker's layers carry them: ustar (512-byte blocks, octal fields, the
//! `prefix` split for names up to 256 bytes) and, for what ustar cannot hold, one PAX extended
//! header before the entry (`path`, `linkpath`, `size`, `uid`, `gid`, a negative `mtime`,
//! `SCHILY.xattr.*`), its records sorted by key. Owners are numeric (uname and gname empty),
//! times whole seconds. Nothing here reads the clock or the environment, so the same entries
//! always give the same bytes.

use std::ffi::CString;
use std::io::{self, Write};

pub const BLOCK: usize = 512;

const NAME_FIELD: usize = 100;
const PREFIX_FIELD: usize = 155;
/// The largest value an octal field of `width` bytes holds (one byte is the NUL).
const fn octal_max(width: u32) -> u64 {
    (1 << (3 * (width - 1))) - 1
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Regular,
    Link,
    Symlink,
    Char,
    Block,
    Directory,
    Fifo,
}

impl Kind {
    fn flag(self) -> u8 {
        match self {
            Self::Regular => b'0',
            Self::Link => b'1',
            Self::Symlink => b'2',
            Self::Char => b'3',
            Self::Block => b'4',
            Self::Directory => b'5',
            Self::Fifo => b'6',
        }
    }
}

/// One entry's header fields. `name` is relative, without a trailing `/` (added for
/// directories here); `link` is a symlink's target or a hardlink's first path.
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: i64,
    pub link: Vec<u8>,
    pub device: (u32, u32),
    pub xattrs: Vec<(CString, Vec<u8>)>,
}

impl Entry {
    #[must_use]
    pub fn new(name: Vec<u8>, kind: Kind) -> Self {
        Self {
            name,
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            link: Vec::new(),
            device: (0, 0),
            xattrs: Vec::new(),
        }
    }

    /// This entry as a hardlink to `target` (the first path of its inode): its name, mode,
    /// owner and time kept, no data, device or xattrs of its own.
    #[must_use]
    pub fn into_link(self, target: Vec<u8>) -> Self {
        Self {
            link: target,
            ..Self {
                mode: self.mode,
                uid: self.uid,
                gid: self.gid,
                mtime: self.mtime,
                ..Self::new(self.name, Kind::Link)
            }
        }
    }
}

/// Writes `entry`'s header blocks (a PAX header first when needed) to `out`.
pub fn write_header(out: &mut impl Write, entry: &Entry) -> io::Result<()> {
    let mut name = entry.name.clone();
    if entry.kind == Kind::Directory {
        name.push(b'/');
    }
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let (prefix, short_name) = split_ustar(&name).unwrap_or_else(|| {
        records.push((b"path".to_vec(), name.clone()));
        (&b""[..], truncated(&name, NAME_FIELD))
    });
    if entry.link.len() > NAME_FIELD {
        records.push((b"linkpath".to_vec(), entry.link.clone()));
    }
    let numeric = |key: &str, value: u64, width: u32, records: &mut Vec<(Vec<u8>, Vec<u8>)>| {
        if value > octal_max(width) {
            records.push((key.as_bytes().to_vec(), value.to_string().into_bytes()));
            0
        } else {
            value
        }
    };
    let uid = numeric("uid", entry.uid, 8, &mut records);
    let gid = numeric("gid", entry.gid, 8, &mut records);
    let size = numeric("size", entry.size, 12, &mut records);
    let mtime = u64::try_from(entry.mtime).unwrap_or_else(|_| {
        records.push((b"mtime".to_vec(), entry.mtime.to_string().into_bytes()));
        0
    });
    let mtime = numeric("mtime", mtime, 12, &mut records);
    for (key, value) in &entry.xattrs {
        let mut full = b"SCHILY.xattr.".to_vec();
        full.extend_from_slice(key.to_bytes());
        records.push((full, value.clone()));
    }
    if !records.is_empty() {
        records.sort();
        let body = pax_body(&records);
        let pax_name = pax_header_name(&name);
        let mut header = ustar_block(b"", &pax_name, b'x', 0o644, 0, 0, body.len() as u64, 0);
        header.link_and_device(b"", (0, 0));
        out.write_all(&header.finish())?;
        out.write_all(&body)?;
        pad(out, body.len() as u64)?;
    }
    let mut header = ustar_block(
        prefix,
        short_name,
        entry.kind.flag(),
        entry.mode,
        uid,
        gid,
        size,
        mtime,
    );
    header.link_and_device(truncated(&entry.link, NAME_FIELD), entry.device);
    out.write_all(&header.finish())
}

/// Zero bytes up to the next block boundary after `written` bytes of data.
pub fn pad(out: &mut impl Write, written: u64) -> io::Result<()> {
    let rest = (BLOCK as u64 - written % BLOCK as u64) % BLOCK as u64;
    out.write_all(&[0u8; BLOCK][..rest as usize])
}

/// The archive's end: two zero blocks.
pub fn write_trailer(out: &mut impl Write) -> io::Result<()> {
    out.write_all(&[0u8; 2 * BLOCK])
}

/// `(prefix, name)` when the path fits ustar: the whole of it in `name`, or split at a `/`
/// with at most 155 bytes before and 100 after.
fn split_ustar(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.len() <= NAME_FIELD {
        return Some((b"", path));
    }
    if path.len() > PREFIX_FIELD + 1 + NAME_FIELD {
        return None;
    }
    // The trailing `/` of a directory stays with the name part.
    let search_end = path.len() - 1;
    let split = path[..search_end]
        .iter()
        .enumerate()
        .filter(|&(index, &byte)| {
            byte == b'/' && index <= PREFIX_FIELD && path.len() - index - 1 <= NAME_FIELD
        })
        .map(|(index, _)| index)
        .next()?;
    if split == 0 {
        return None;
    }
    Some((&path[..split], &path[split + 1..]))
}

fn truncated(value: &[u8], width: usize) -> &[u8] {
    &value[..value.len().min(width)]
}

/// Go's archive/tar name for a PAX header: `<dir>/PaxHeaders.0/<base>`, cut to 100 bytes.
fn pax_header_name(path: &[u8]) -> Vec<u8> {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let (dir, base) = match trimmed.iter().rposition(|&byte| byte == b'/') {
        Some(index) => (&trimmed[..=index], &trimmed[index + 1..]),
        None => (&b""[..], trimmed),
    };
    let mut name = dir.to_vec();
    name.extend_from_slice(b"PaxHeaders.0/");
    name.extend_from_slice(base);
    name.truncate(NAME_FIELD);
    name
}

/// PAX records: `<length> <key>=<value>\n`, the length counting itself.
fn pax_body(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut length = rest + 1;
        while length.to_string().len() + rest != length {
            length += 1;
        }
        body.extend_from_slice(length.to_string().as_bytes());
        body.push(b' ');
        body.extend_from_slice(key);
        body.push(b'=');
        body.extend_from_slice(value);
        body.push(b'\n');
    }
    body
}

struct Block([u8; BLOCK]);

#[allow(clippy::too_many_arguments)]
fn ustar_block(
    prefix: &[u8],
    name: &[u8],
    flag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
) -> Block {
    let mut block = Block([0u8; BLOCK]);
    block.0[..name.len()].copy_from_slice(name);
    block.octal(100, 8, u64::from(mode & 0o7777));
    block.octal(108, 8, uid);
    block.octal(116, 8, gid);
    block.octal(124, 12, size);
    block.octal(136, 12, mtime);
    block.0[156] = flag;
    block.0[257..263].copy_from_slice(b"ustar\0");
    block.0[263..265].copy_from_slice(b"00");
    block.0[345..345 + prefix.len()].copy_from_slice(prefix);
    block
}

impl Block {
    /// A zero-padded octal number filling `width - 1` bytes, then NUL.
    fn octal(&mut self, offset: usize, width: usize, value: u64) {
        let text = format!("{value:0digits$o}", digits = width - 1);
        self.0[offset..offset + width - 1].copy_from_slice(text.as_bytes());
        self.0[offset + width - 1] = 0;
    }

    fn link_and_device(&mut self, link: &[u8], (major, minor): (u32, u32)) {
        self.0[157..157 + link.len()].copy_from_slice(link);
        self.octal(329, 8, u64::from(major));
        self.octal(337, 8, u64::from(minor));
    }

    fn finish(mut self) -> [u8; BLOCK] {
        self.0[148..156].fill(b' ');
        let sum: u32 = self.0.iter().map(|&byte| u32::from(byte)).sum();
        let text = format!("{sum:06o}\0 ");
        self.0[148..156].copy_from_slice(text.as_bytes());
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ustar_split_cases() {
        let long_dir = "d".repeat(120);
        let cases = [
            ("short", "a/b".to_owned(), Some((0, 3))),
            ("exactly 100", "x".repeat(100), Some((0, 100))),
            ("split", format!("{long_dir}/file"), Some((120, 4))),
            ("one long component", "y".repeat(101), None),
            ("too long", format!("{}/{}", "p".repeat(156), "n"), None),
        ];
        for (name, path, expected) in cases {
            let got = split_ustar(path.as_bytes()).map(|(p, n)| (p.len(), n.len()));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        for value_length in [0usize, 1, 5, 6, 7, 90, 95, 96, 97, 1000] {
            let body = pax_body(&[(b"path".to_vec(), vec![b'a'; value_length])]);
            let declared: usize =
                std::str::from_utf8(&body[..body.iter().position(|&b| b == b' ').unwrap()])
                    .unwrap()
                    .parse()
                    .unwrap();
            assert_eq!(declared, body.len(), "{value_length}");
        }
    }
}
