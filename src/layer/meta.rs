//! Entry metadata from a tar header and its PAX records: mode (with setuid/setgid/sticky),
//! numeric owner (the tar crate already applies PAX uid/gid), times with PAX's fractional
//! seconds (mtime, atime), and `SCHILY.xattr.*` extended attributes. Names (uname/gname) are
//! ignored, as docker does: owners are numeric inside images.

use std::ffi::CString;
use std::io::{self, Read};

use crate::error::{Error, Result};

/// Metadata of one entry, from its header and PAX records.
pub(super) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub times: [libc::timespec; 2],
    pub xattrs: Vec<(CString, Vec<u8>)>,
}

/// Reads owner, mode and times from the header and PAX records (fractional mtime/atime,
/// SCHILY.xattr.*). The tar crate already applies PAX path, linkpath, size, uid and gid.
pub(super) fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, display: &str) -> Result<Meta> {
    let bad = |what: &str, error: io::Error| Error::LayerFormat {
        reason: format!("{display:?}: invalid {what}"),
        source: Some(error),
    };
    let header = entry.header();
    let mode = header.mode().map_err(|error| bad("mode", error))? & 0o7777;
    let uid = header.uid().map_err(|e| bad("uid", e))?;
    let gid = header.gid().map_err(|e| bad("gid", e))?;
    let mtime = header.mtime().map_err(|e| bad("mtime", e))?;
    let (Ok(uid), Ok(gid)) = (u32::try_from(uid), u32::try_from(gid)) else {
        return Err(Error::format(format!("{display:?}: uid/gid out of range")));
    };
    let mut mtime = seconds(mtime);
    let mut atime = None;
    let mut xattrs = Vec::new();
    if let Some(extensions) = entry.pax_extensions().map_err(|e| bad("PAX header", e))? {
        for extension in extensions {
            let extension = extension.map_err(|e| bad("PAX record", e))?;
            let key = extension.key_bytes();
            if key == b"mtime" {
                mtime = parse_pax_time(extension.value_bytes()).unwrap_or(mtime);
            } else if key == b"atime" {
                atime = parse_pax_time(extension.value_bytes());
            } else if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                if let Ok(name) = CString::new(name) {
                    xattrs.push((name, extension.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(Meta {
        mode,
        uid,
        gid,
        times: [atime.unwrap_or(mtime), mtime],
        xattrs,
    })
}

fn seconds(value: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: value as libc::time_t,
        tv_nsec: 0,
    }
}

/// A PAX time: decimal seconds with an optional fraction (possibly negative).
fn parse_pax_time(value: &[u8]) -> Option<libc::timespec> {
    let text = std::str::from_utf8(value).ok()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let negative = whole.starts_with('-');
    let seconds: i64 = whole.parse().ok()?;
    let mut digits: String = fraction.chars().take(9).collect();
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let mut nanos: i64 = digits.parse().ok()?;
    let mut seconds = seconds;
    if negative && nanos > 0 {
        seconds -= 1;
        nanos = 1_000_000_000 - nanos;
    }
    Some(libc::timespec {
        tv_sec: seconds as libc::time_t,
        tv_nsec: nanos as libc::c_long,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_pax_time;

    #[test]
    fn pax_times() {
        for (name, value, expected) in [
            ("whole", "1700000000", Some((1_700_000_000, 0))),
            (
                "fraction",
                "1700000000.5",
                Some((1_700_000_000, 500_000_000)),
            ),
            ("long fraction", "1.1234567891", Some((1, 123_456_789))),
            ("negative", "-1.25", Some((-2, 750_000_000))),
            ("garbage", "x", None),
        ] {
            let got = parse_pax_time(value.as_bytes()).map(|t| (t.tv_sec, t.tv_nsec));
            assert_eq!(got, expected, "{name}");
        }
    }
}
