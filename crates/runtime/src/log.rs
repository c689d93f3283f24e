//! runc's log: errors (and debug lines with `--debug`) as logrus writes them, to `--log` (a
//! file, appended) as text or one JSON object a line (`--log-format json`: containerd's shim
//! reads the last error from there), else to stderr as text; with a log file the bare message
//! also goes to stderr, as runc prints it.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::Global;

/// Appends one line at `level` to the log (stderr without a file).
pub fn log(global: &Global, level: &str, message: &str) {
    let time = rfc3339(SystemTime::now(), false);
    let line = if global.log_json {
        let object = serde_json::json!({"level": level, "msg": message, "time": time});
        format!("{object}\n")
    } else {
        format!("time={time:?} level={level} msg={message:?}\n")
    };
    match &global.log {
        Some(path) => {
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = file.write_all(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// An error: logged, and printed bare on stderr when the log went to a file.
pub fn error(global: &Global, message: &str) {
    log(global, "error", message);
    if global.log.is_some() {
        eprintln!("{message}");
    }
}

pub fn debug(global: &Global, message: &str) {
    if global.debug {
        log(global, "debug", message);
    }
}

/// `2026-12-07T02:08:55Z`, or with nanoseconds (`.328489402Z`) as runc's `created`.
#[must_use]
pub fn rfc3339(time: SystemTime, nanos: bool) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let clock = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
    if nanos {
        format!("{clock}.{:09}Z", since.subsec_nanos())
    } else {
        format!("{clock}Z")
    }
}

/// Howard Hinnant's days-from-epoch to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_dates() {
        let time = UNIX_EPOCH + Duration::new(1_796_608_135, 328_489_402);
        assert_eq!(rfc3339(time, true), "2026-12-07T01:48:55.328489402Z");
        assert_eq!(rfc3339(UNIX_EPOCH, false), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400), false),
            "2000-02-29T00:00:00Z"
        );
    }
}
