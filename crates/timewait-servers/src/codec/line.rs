//! CRLF-terminated lines and the integers in them, shared by the text
//! protocols.

use super::CodecError;

/// Where the line starting at `buf[start..]` ends: `Some(end)` with
/// `buf[end..end + 2] == b"\r\n"`, or `None` if no CRLF has arrived yet.
/// A line longer than `max` (with or without its CRLF) is an error, so
/// garbage without line ends is not buffered for ever.
pub(crate) fn find_crlf(
    protocol: &'static str,
    buf: &[u8],
    start: usize,
    max: usize,
) -> Result<Option<usize>, CodecError> {
    let rest = buf.get(start..).unwrap_or_default();
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(len) if len <= max => Ok(Some(start + len)),
        Some(len) => Err(too_long(protocol, len, max)),
        None if rest.len() > max + 1 => Err(too_long(protocol, rest.len(), max)),
        None => Ok(None),
    }
}

/// A signed decimal integer, nothing else: no sign without digits, no
/// spaces, no overflow.
pub(crate) fn parse_i64(protocol: &'static str, digits: &[u8]) -> Result<i64, CodecError> {
    let (negative, magnitude) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    let value = parse_u64(protocol, magnitude)?;
    let signed = if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    };
    signed.ok_or_else(|| CodecError::malformed(protocol, "integer out of range"))
}

/// An unsigned decimal integer: one or more ASCII digits, no overflow.
pub(crate) fn parse_u64(protocol: &'static str, digits: &[u8]) -> Result<u64, CodecError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(CodecError::malformed(
            protocol,
            format!("not a number: {:?}", String::from_utf8_lossy(digits)),
        ));
    }
    digits
        .iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or_else(|| CodecError::malformed(protocol, "integer out of range"))
}

fn too_long(protocol: &'static str, len: usize, max: usize) -> CodecError {
    CodecError::TooLarge {
        protocol,
        what: "line",
        len: len as u64,
        max: max as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_strict() {
        assert_eq!(parse_i64("t", b"-12").unwrap(), -12);
        assert_eq!(parse_i64("t", b"-9223372036854775808").unwrap(), i64::MIN);
        for bad in [&b""[..], b"-", b"+1", b" 1", b"1a", b"9223372036854775808"] {
            assert!(parse_i64("t", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_line_ends_at_its_crlf_and_is_bounded() {
        assert_eq!(find_crlf("t", b"ab\r\ncd", 0, 8).unwrap(), Some(2));
        assert_eq!(find_crlf("t", b"ab\r", 0, 8).unwrap(), None);
        assert!(find_crlf("t", b"0123456789", 0, 8).is_err());
        assert_eq!(find_crlf("t", b"x", 5, 8).unwrap(), None);
    }
}
