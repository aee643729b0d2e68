//! Property tests of the `Keep-Alive` parser: any bytes parse without a
//! panic, well-formed values round-trip, and noise around them is ignored.
//! `PROPTEST_CASES` sets the number of cases.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use timewait_http::KeepAlive;

proptest! {
    #[test]
    fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let hint = KeepAlive::parse(&bytes);
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let mut headers = HeaderMap::new();
            headers.insert("keep-alive", value);
            prop_assert_eq!(KeepAlive::from_headers(&headers), hint);
        }
    }

    #[test]
    fn any_text_parses_without_panic(text in "[ -~]{0,128}") {
        let _ = KeepAlive::parse(text.as_bytes());
    }

    #[test]
    fn well_formed_values_round_trip(
        timeout in any::<u64>(),
        max in any::<u64>(),
        spaces in "[ \t]{0,3}",
        upper in any::<bool>(),
        swap in any::<bool>(),
    ) {
        let (t, m) = if upper { ("TIMEOUT", "Max") } else { ("timeout", "max") };
        let (a, b) = (format!("{t}={timeout}"), format!("{m}={max}"));
        let text = if swap { format!("{b},{spaces}{a}") } else { format!("{spaces}{a},{spaces}{b}{spaces}") };
        let hint = KeepAlive::parse(text.as_bytes());
        prop_assert_eq!(hint.timeout, Some(Duration::from_secs(timeout)));
        prop_assert_eq!(hint.max, Some(max));
    }

    #[test]
    fn unknown_parameters_and_garbage_around_do_not_hide_the_values(
        timeout in 0u64..100_000,
        noise in "[a-z]{1,8}=[^,;]{0,8}",
    ) {
        let text = format!("{noise}, timeout={timeout}; {noise}");
        let hint = KeepAlive::parse(text.as_bytes());
        if !noise.starts_with("timeout=") {
            prop_assert_eq!(hint.timeout, Some(Duration::from_secs(timeout)));
        }
    }
}
