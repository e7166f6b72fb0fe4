//! The server's log on stderr: one line per request (the access log) and one per event
//! (listening, reload, shutdown), as `key=value` text or as one JSON object a line.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::LogFormat;

/// Longest request path written to the log; a client's path is its own to make long.
const MAX_LOGGED_PATH: usize = 256;

pub(crate) struct Log {
    format: LogFormat,
}

/// What the access log says of one request.
pub(crate) struct Access<'a> {
    pub(crate) remote: std::net::SocketAddr,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) status: u16,
    pub(crate) seconds: f64,
    /// Texts scored for it (0 for other routes).
    pub(crate) texts: usize,
    pub(crate) response_bytes: Option<u64>,
}

impl Log {
    pub(crate) fn new(format: LogFormat) -> Self {
        Log { format }
    }

    /// One access-log line.
    pub(crate) fn access(&self, a: &Access) {
        let path: String = a.path.chars().take(MAX_LOGGED_PATH).collect();
        self.event(
            "request",
            &[
                ("remote", a.remote.to_string().into()),
                ("method", a.method.into()),
                ("path", path.into()),
                ("status", a.status.into()),
                ("ms", ((a.seconds * 1e6).round() / 1e3).into()),
                ("texts", a.texts.into()),
                ("bytes", a.response_bytes.into()),
            ],
        );
    }

    /// One line: the time, the event's name and its fields. Best effort, as every message on
    /// stderr: a full or closed stderr must not stop the server.
    pub(crate) fn event(&self, name: &str, fields: &[(&str, Value)]) {
        let line = match self.format {
            LogFormat::Json => {
                let mut object = Map::new();
                object.insert("time".into(), rfc3339(SystemTime::now()).into());
                object.insert("event".into(), name.into());
                for (key, value) in fields {
                    object.insert((*key).into(), value.clone());
                }
                Value::Object(object).to_string()
            }
            LogFormat::Text => {
                let mut line = format!("{} {name}", rfc3339(SystemTime::now()));
                for (key, value) in fields {
                    line.push_str(&format!(" {key}={}", text_value(value)));
                }
                line
            }
        };
        // One write a line, so that lines from concurrent requests never interleave.
        let line = line + "\n";
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// A value in the text format: numbers and plain words as they are, other strings quoted
/// with escapes (a client's path cannot forge a field or a line).
fn text_value(value: &Value) -> String {
    match value {
        Value::String(s)
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '=') =>
        {
            s.clone()
        }
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// `2026-12-01T20:15:30.123Z`: UTC to the millisecond.
fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
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
    fn times_are_utc_dates() {
        let at = |s: u64, ms: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_798_113_330, 123), "2026-12-24T11:55:30.123Z");
    }

    #[test]
    fn text_values_quote_what_could_forge_a_field() {
        assert_eq!(text_value(&"/v1/predict".into()), "/v1/predict");
        assert_eq!(
            text_value(&"/a b\nstatus=200".into()),
            "\"/a b\\nstatus=200\""
        );
        assert_eq!(text_value(&Value::Null), "-");
        assert_eq!(text_value(&200.into()), "200");
    }
}
