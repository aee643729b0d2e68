//! The flag parsers: no input panics them, and what they accept means what
//! it says. `PROPTEST_CASES` sets the number of cases.

use std::time::Duration;

use proptest::prelude::*;
use timewait_cli::cli::{parse_interval, parse_port_range, parse_reserved_ports, parse_tw_reuse};
use timewait_core::budget::PortRange;

#[test]
fn intervals_take_seconds_milliseconds_and_minutes() {
    assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
    assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_interval("0"), Ok(Duration::ZERO));
    for bad in ["", "s", "1h", "NaN", "inf", "1e300", "-0.1", "25h"] {
        assert!(parse_interval(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn reserved_ports_are_listed_as_the_sysctl_lists_them() {
    let reserved = parse_reserved_ports("8080, 9000-9010,9005-9020").expect("a list");
    assert_eq!(reserved.ranges().len(), 2);
    assert_eq!(
        reserved.count_within(PortRange::new(1, u16::MAX).expect("a range")),
        1 + 21
    );
    assert!(parse_reserved_ports("").expect("empty").is_empty());
    for bad in ["0", "80,", "9010-9000", "a-b", "65536"] {
        assert!(parse_reserved_ports(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_port_range_is_low_high_as_written_or_as_the_sysctl_prints_it() {
    let expected = PortRange::new(32768, 60999).expect("a range");
    assert_eq!(parse_port_range("32768-60999"), Ok(expected));
    assert_eq!(parse_port_range("32768\t60999"), Ok(expected));
    assert!(parse_tw_reuse("1").is_ok() && parse_tw_reuse("01").is_err());
}

proptest! {
    #[test]
    fn no_text_panics_a_parser(text in ".{0,40}") {
        let _ = parse_interval(&text);
        let _ = parse_port_range(&text);
        let _ = parse_reserved_ports(&text);
        let _ = parse_tw_reuse(&text);
    }

    #[test]
    fn an_accepted_interval_is_at_most_a_day(ms in any::<u64>()) {
        if let Ok(d) = parse_interval(&format!("{ms}ms")) {
            prop_assert!(d <= Duration::from_secs(86_400));
        }
    }
}
