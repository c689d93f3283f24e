//! docker's json-file log driver: one JSON object per line of a container's output,
//! `{"log":"<the line, newline included>","stream":"stdout","time":"<RFC 3339, ns>"}`.
//!
//! The one implementation of the format: the monitor (`monitor/main.rs`, std-only, built by
//! build.rs with plain rustc) writes detached containers' logs with it, and the extension
//! (`src/lib.rs` includes this file as `hybridock::jsonlog`) exposes it to Python for attached
//! runs. So it uses nothing but std.
//!
//! Lines are split per stream: a line is written once its newline arrives, or when it has
//! grown to `LINE_LIMIT` bytes without one (docker splits long lines too), or at `finish`.
//! Invalid UTF-8 is replaced with U+FFFD, as docker does. Each record is flushed as written,
//! so `logs -f` sees it at once; a write error (a full disk) drops the record, never the
//! container's output to its terminal.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// A line without a newline is written once it reaches this size.
pub const LINE_LIMIT: usize = 64 * 1024;

/// Which of the container's streams a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Stdout => 0,
            Self::Stderr => 1,
        }
    }
}

/// An open `container.log`, appended to.
pub struct JsonLog {
    file: io::BufWriter<File>,
    pending: [Vec<u8>; 2],
}

impl JsonLog {
    /// Opens (creating) `path` for appending.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: io::BufWriter::new(file),
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Takes a chunk of `stream`'s output; writes every line it completes.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let mut pending = std::mem::take(&mut self.pending[stream.index()]);
        pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(offset) = pending[start..].iter().position(|&byte| byte == b'\n') {
            let end = start + offset + 1;
            self.emit(stream, &pending[start..end]);
            start = end;
        }
        pending.drain(..start);
        if pending.len() >= LINE_LIMIT {
            self.emit(stream, &pending);
            pending.clear();
        }
        self.pending[stream.index()] = pending;
    }

    /// Writes what is left of both streams (lines without a final newline) and flushes.
    pub fn finish(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut self.pending[stream.index()]);
            if !rest.is_empty() {
                self.emit(stream, &rest);
            }
        }
        let _ = self.file.flush();
    }

    fn emit(&mut self, stream: Stream, line: &[u8]) {
        let record = record(stream, line, &rfc3339_now());
        if self.file.write_all(record.as_bytes()).is_ok() {
            let _ = self.file.flush();
        }
    }
}

impl Drop for JsonLog {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One json-file record, its newline included.
#[must_use]
pub fn record(stream: Stream, line: &[u8], time: &str) -> String {
    let mut text = String::with_capacity(line.len() + 64);
    text.push_str("{\"log\":\"");
    json_escape(&String::from_utf8_lossy(line), &mut text);
    text.push_str("\",\"stream\":\"");
    text.push_str(stream.name());
    text.push_str("\",\"time\":\"");
    text.push_str(time);
    text.push_str("\"}\n");
    text
}

fn json_escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Seconds and nanoseconds since the epoch.
#[must_use]
pub fn now() -> (u64, u32) {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (elapsed.as_secs(), elapsed.subsec_nanos())
}

/// The current time as RFC 3339 in UTC with nanoseconds.
#[must_use]
pub fn rfc3339_now() -> String {
    let (seconds, nanos) = now();
    rfc3339(seconds, nanos)
}

/// RFC 3339 in UTC with nanoseconds, from days since the epoch (Howard Hinnant's
/// `civil_from_days`).
#[must_use]
pub fn rfc3339(seconds: u64, nanos: u32) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let rem = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(path: &Path) -> Vec<(String, String)> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| {
                let (log, rest) = line
                    .strip_prefix("{\"log\":\"")
                    .and_then(|l| l.split_once("\",\"stream\":\""))
                    .unwrap_or_else(|| panic!("not a json-file record: {line}"));
                let (stream, time) = rest.split_once("\",\"time\":\"").unwrap();
                assert!(time.ends_with("Z\"}") && time.len() == 32, "{time}");
                (stream.to_owned(), log.to_owned())
            })
            .collect()
    }

    #[test]
    fn lines_are_split_per_stream_and_kept_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        let mut log = JsonLog::open(&path).unwrap();
        log.write(Stream::Stdout, b"hel");
        log.write(Stream::Stderr, b"oops\n");
        log.write(Stream::Stdout, b"lo\nsecond\nthi");
        log.write(Stream::Stdout, b"rd without newline");
        log.finish();
        let expected = [
            ("stderr", "oops\\n"),
            ("stdout", "hello\\n"),
            ("stdout", "second\\n"),
            ("stdout", "third without newline"),
        ];
        let got = records(&path);
        let got: Vec<(&str, &str)> = got.iter().map(|(s, l)| (s.as_str(), l.as_str())).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn long_lines_are_cut_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        let mut log = JsonLog::open(&path).unwrap();
        log.write(Stream::Stdout, &vec![b'x'; LINE_LIMIT + 10]);
        log.write(Stream::Stdout, b"\n");
        drop(log); // finishes
        let lengths: Vec<usize> = records(&path).iter().map(|(_, l)| l.len()).collect();
        assert_eq!(lengths, [LINE_LIMIT + 10, 2]);
    }

    #[test]
    fn escaping_and_invalid_utf8() {
        let cases: [(&str, &[u8], &str); 5] = [
            ("quote and backslash", b"a\"b\\c", "a\\\"b\\\\c"),
            ("controls", b"\t\r\x01\x1f", "\\t\\r\\u0001\\u001f"),
            ("unicode kept", "é✓".as_bytes(), "é✓"),
            ("invalid utf-8 replaced", b"\xff\xfe", "\u{fffd}\u{fffd}"),
            ("empty", b"", ""),
        ];
        for (name, line, escaped) in cases {
            let expected =
                format!("{{\"log\":\"{escaped}\",\"stream\":\"stdout\",\"time\":\"T\"}}\n");
            assert_eq!(record(Stream::Stdout, line, "T"), expected, "{name}");
        }
    }

    #[test]
    fn rfc3339_dates() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00.000000000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.000000005Z"),
            (1_795_959_319, 411_274_000, "2026-11-29T13:35:19.411274000Z"),
            (4_102_444_799, 999_999_999, "2099-12-31T23:59:59.999999999Z"),
        ];
        for (seconds, nanos, expected) in cases {
            assert_eq!(rfc3339(seconds, nanos), expected);
        }
    }
}
