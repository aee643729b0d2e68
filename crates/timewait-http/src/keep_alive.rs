//! The `Keep-Alive` response header: `timeout=N, max=M` (RFC 2068
//! §19.7.1.1, still sent by Apache httpd, nginx and Node).

use std::time::Duration;

use http::HeaderMap;
use http::header::HeaderName;

/// The field's name.
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// What a server announced in `Keep-Alive`: how long it keeps an idle
/// connection open (`timeout`, seconds), and how many more requests it will
/// take on it (`max`). Either may be missing; anything unparsable is
/// ignored, never an error.
///
/// ```
/// use std::time::Duration;
/// use http::{HeaderMap, HeaderValue};
/// use timewait_http::KeepAlive;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("keep-alive", HeaderValue::from_static("timeout=5, max=99"));
/// let hint = KeepAlive::from_headers(&headers);
/// assert_eq!(hint.timeout, Some(Duration::from_secs(5)));
/// assert_eq!(hint.max, Some(99));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeepAlive {
    /// The server closes connections idle this long.
    pub timeout: Option<Duration>,
    /// The server takes this many more requests on the connection.
    pub max: Option<u64>,
}

impl KeepAlive {
    /// The hints of every `Keep-Alive` field in `headers`; the first valid
    /// value of each parameter wins.
    pub fn from_headers(headers: &HeaderMap) -> KeepAlive {
        let mut hint = KeepAlive::default();
        for value in headers.get_all(&KEEP_ALIVE) {
            hint.merge(KeepAlive::parse(value.as_bytes()));
        }
        hint
    }

    /// The hints of one field value, such as `timeout=5, max=100`.
    /// Parameter names are case-insensitive and values may be quoted;
    /// unknown parameters, bad numbers and stray bytes are skipped.
    pub fn parse(value: &[u8]) -> KeepAlive {
        let mut hint = KeepAlive::default();
        for param in value.split(|&b| b == b',' || b == b';') {
            let Some(eq) = param.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (name, value) = (trim(&param[..eq]), unquote(trim(&param[eq + 1..])));
            let Some(number) = digits(value) else {
                continue;
            };
            if name.eq_ignore_ascii_case(b"timeout") && hint.timeout.is_none() {
                hint.timeout = Some(Duration::from_secs(number));
            } else if name.eq_ignore_ascii_case(b"max") && hint.max.is_none() {
                hint.max = Some(number);
            }
        }
        hint
    }

    fn merge(&mut self, other: KeepAlive) {
        self.timeout = self.timeout.or(other.timeout);
        self.max = self.max.or(other.max);
    }

    /// Whether the field said anything usable.
    pub fn is_empty(&self) -> bool {
        self.timeout.is_none() && self.max.is_none()
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => &bytes[s..=e],
        _ => &[],
    }
}

fn unquote(bytes: &[u8]) -> &[u8] {
    match bytes {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    }
}

/// A decimal number that fits a `u64` (at most 20 digits, checked).
fn digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (Option<u64>, Option<u64>) {
        let hint = KeepAlive::parse(s.as_bytes());
        (hint.timeout.map(|d| d.as_secs()), hint.max)
    }

    #[test]
    fn the_forms_servers_send() {
        assert_eq!(parse("timeout=5, max=100"), (Some(5), Some(100))); // Apache
        assert_eq!(parse("timeout=75"), (Some(75), None)); // nginx
        assert_eq!(parse("timeout=5"), (Some(5), None)); // Node
        assert_eq!(parse(" Timeout = \"7\" ; MAX=3 "), (Some(7), Some(3)));
    }

    #[test]
    fn garbage_is_ignored() {
        assert_eq!(parse(""), (None, None));
        assert_eq!(parse("timeout=-1, max=x"), (None, None));
        assert_eq!(parse("timeout=99999999999999999999"), (None, None));
        assert_eq!(parse("timeout=, =5, max"), (None, None));
        assert_eq!(parse("timeout=1, timeout=2"), (Some(1), None));
    }
}
