//! Every `sys` parser takes arbitrary input without panicking.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::io::Cursor;

use proptest::prelude::*;
use timewait_core::sys::{
    parse_ip_local_port_range, parse_ip_local_reserved_ports, parse_proc_net_tcp,
    parse_sock_diag_reply, parse_sockstat, parse_tcp_fin_timeout, parse_tcp_max_tw_buckets,
    parse_tcp_tw_reuse,
};

const PROC_NET_TCP: &str = include_str!("fixtures/linux-6.18.44/proc_net_tcp.txt");
const SOCK_DIAG: &[u8] = include_bytes!("fixtures/linux-6.18.44/sock_diag_v4_all.bin");

/// Text made of the characters these files hold, so that the parsers get
/// past their first check more often than with any string.
fn kernelish_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9A-Fa-f:, \t\n-]{0,80}",
        "(TCP: )?([a-z]{1,6} [0-9-]{1,4} ?){0,6}\n?",
    ]
}

/// 512 cases on a developer's machine, or as many as `PROPTEST_CASES` asks
/// (CI asks for more).
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(512);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sysctl_and_sockstat_parsers_never_panic(text in kernelish_text()) {
        let _ = parse_ip_local_port_range(&text);
        let _ = parse_ip_local_reserved_ports(&text);
        let _ = parse_tcp_tw_reuse(&text);
        let _ = parse_tcp_max_tw_buckets(&text);
        let _ = parse_tcp_fin_timeout(&text);
        let _ = parse_sockstat(&text);
    }

    #[test]
    fn proc_net_parser_never_panics_on_any_bytes(bytes in any::<Vec<u8>>()) {
        let with_header = [b"  sl  local_address\n".as_slice(), &bytes].concat();
        for input in [bytes, with_header] {
            let results: Vec<_> = parse_proc_net_tcp(Cursor::new(input)).collect();
            // The iteration ends at the first error.
            let errors = results.iter().filter(|r| r.is_err()).count();
            prop_assert!(errors <= 1);
            prop_assert!(errors == 0 || results.last().is_some_and(|r| r.is_err()));
        }
    }

    #[test]
    fn proc_net_parser_never_panics_on_a_mangled_capture(
        cut in 0..PROC_NET_TCP.len(),
        at in 0..PROC_NET_TCP.len(),
        byte in any::<u8>(),
    ) {
        let mut bytes = PROC_NET_TCP.as_bytes()[..cut].to_vec();
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        let _ = parse_proc_net_tcp(Cursor::new(bytes)).count();
    }

    #[test]
    fn sock_diag_parser_never_panics_on_any_bytes(bytes in any::<Vec<u8>>()) {
        let results: Vec<_> = parse_sock_diag_reply(&bytes).collect();
        prop_assert!(results.iter().filter(|r| r.is_err()).count() <= 1);
    }

    #[test]
    fn sock_diag_parser_never_panics_on_a_mangled_capture(
        cut in 0..SOCK_DIAG.len(),
        edits in proptest::collection::vec((0..SOCK_DIAG.len(), any::<u8>()), 0..4),
    ) {
        // Skip the fixture's 4-byte length prefix: what follows is a datagram.
        let mut bytes = SOCK_DIAG.get(4..cut.max(4)).unwrap_or_default().to_vec();
        for (at, byte) in edits {
            if let Some(b) = bytes.get_mut(at) {
                *b = byte;
            }
        }
        let _ = parse_sock_diag_reply(&bytes).count();
    }
}
