//! The `sys` parsers on text and bytes captured from Linux 6.18.44 (see
//! `tests/fixtures/README.md`), and on garbage: a typed error, never a panic.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // unwrap is how a test fails

use std::collections::BTreeSet;
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use timewait_core::sys::{
    IpFamily, ProcNetError, SockDiagError, SockDiagMessage, SocketEntry, SockstatError,
    SysctlError, TimerKind, TwReuse, parse_ip_local_port_range, parse_ip_local_reserved_ports,
    parse_proc_net_tcp, parse_sock_diag_reply, parse_sockstat, parse_tcp_fin_timeout,
    parse_tcp_max_tw_buckets, parse_tcp_tw_reuse, sock_diag_request,
};
use timewait_core::{KernelState, TcpState};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/linux-6.18.44/", $name))
    };
}

const TIME_WAIT: KernelState = KernelState::Tcp(TcpState::TimeWait);

fn proc_entries(text: &str) -> Vec<SocketEntry> {
    parse_proc_net_tcp(Cursor::new(text))
        .collect::<Result<_, _>>()
        .unwrap()
}

fn tuples(entries: &[SocketEntry]) -> BTreeSet<(SocketAddr, SocketAddr, u8)> {
    entries
        .iter()
        .map(|e| (e.local, e.remote, e.state.code()))
        .collect()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

// ---- sysctls ----

#[test]
fn captured_sysctls_parse_to_the_machines_values() {
    let range = parse_ip_local_port_range(fixture!("ip_local_port_range.txt")).unwrap();
    assert_eq!((range.low(), range.high()), (32768, 60999));
    let reserved = parse_ip_local_reserved_ports(fixture!("ip_local_reserved_ports.txt")).unwrap();
    assert!((1..=u16::MAX).all(|port| !reserved.contains(port)));
    let reuse = parse_tcp_tw_reuse(fixture!("tcp_tw_reuse.txt")).unwrap();
    assert_eq!(reuse, TwReuse::LoopbackOnly);
    assert_eq!(reuse.value(), 2);
    let buckets = parse_tcp_max_tw_buckets(fixture!("tcp_max_tw_buckets.txt")).unwrap();
    assert_eq!(buckets, 131_072);
    let fin = parse_tcp_fin_timeout(fixture!("tcp_fin_timeout.txt")).unwrap();
    assert_eq!(fin, Duration::from_secs(60));
}

#[test]
fn reserved_ports_mix_single_ports_and_ranges() {
    let reserved = parse_ip_local_reserved_ports("8080,9000-9100,40000\n").unwrap();
    for port in [8080, 9000, 9050, 9100, 40000] {
        assert!(reserved.contains(port), "{port} should be reserved");
    }
    for port in [8079, 8081, 8999, 9101, 39999] {
        assert!(!reserved.contains(port), "{port} should not be reserved");
    }
}

#[test]
fn sysctl_errors_quote_the_text_and_name_the_file() {
    let err = parse_ip_local_port_range("60999\t32768\n").unwrap_err();
    let SysctlError::Parse { file, text, .. } = &err else {
        panic!("expected a parse error, got {err:?}");
    };
    assert_eq!(*file, "/proc/sys/net/ipv4/ip_local_port_range");
    assert_eq!(text, "60999\t32768\n");
    let message = err.to_string();
    assert!(message.contains("ip_local_port_range"), "{message}");
    assert!(message.contains("60999\\t32768"), "{message}");

    let message = parse_tcp_tw_reuse("3\n").unwrap_err().to_string();
    assert!(
        message.contains("tcp_tw_reuse") && message.contains("\"3\\n\""),
        "{message}"
    );
}

#[test]
fn malformed_sysctl_values_are_parse_errors() {
    let range = [
        "",
        "\n",
        "32768",
        "1 2 3",
        "abc 60999",
        "0 100",
        "65536 65537",
        "-1 5",
    ];
    for text in range {
        assert!(parse_ip_local_port_range(text).is_err(), "{text:?}");
    }
    for text in [
        "80,,90",
        "90-80",
        "x",
        "0",
        "1-",
        "-5",
        "8080;9090",
        "70000",
    ] {
        assert!(parse_ip_local_reserved_ports(text).is_err(), "{text:?}");
    }
    for text in ["", "3", "-1", "1 2", "yes"] {
        assert!(parse_tcp_tw_reuse(text).is_err(), "{text:?}");
    }
    for text in ["", "-1", "1.5", "many"] {
        assert!(parse_tcp_max_tw_buckets(text).is_err(), "{text:?}");
        assert!(parse_tcp_fin_timeout(text).is_err(), "{text:?}");
    }
}

#[test]
fn tw_reuse_loopback_only_covers_every_loopback_spelling() {
    let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped());
    for ip in [
        IpAddr::V4(Ipv4Addr::new(127, 1, 2, 3)),
        mapped,
        Ipv6Addr::LOCALHOST.into(),
    ] {
        assert!(TwReuse::LoopbackOnly.reuses_for(ip), "{ip}");
    }
    let remote = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
    assert!(!TwReuse::LoopbackOnly.reuses_for(remote));
    assert!(TwReuse::Enabled.reuses_for(remote));
    assert!(!TwReuse::Disabled.reuses_for(mapped));
}

// ---- /proc/net/sockstat ----

#[test]
fn captured_sockstat_gives_the_tcp_counts() {
    let stat = parse_sockstat(fixture!("sockstat.txt")).unwrap();
    assert_eq!(
        (
            stat.in_use,
            stat.orphan,
            stat.time_wait,
            stat.alloc,
            stat.mem_pages
        ),
        (4, 0, 8, 6, 1)
    );
}

#[test]
fn sockstat_skips_unknown_counters_and_rejects_broken_lines() {
    let stat = parse_sockstat("TCP: inuse 3 future 9 tw 7\n").unwrap();
    assert_eq!((stat.in_use, stat.time_wait), (3, 7));
    let missing = parse_sockstat("sockets: used 1\nUDP: inuse 0 mem 0\n");
    assert!(matches!(missing, Err(SockstatError::MissingTcpLine { .. })));
    for text in [
        "TCP: inuse",
        "TCP: inuse x tw 1",
        "TCP: inuse 1",
        "TCP: tw -1 inuse 0",
    ] {
        let err = parse_sockstat(text).unwrap_err();
        assert!(
            matches!(err, SockstatError::Parse { .. }),
            "{text:?}: {err:?}"
        );
        assert!(err.to_string().contains("TCP:"), "{err}");
    }
}

// ---- /proc/net/tcp{,6} ----

#[test]
fn captured_proc_net_tcp_lists_every_socket_with_its_timer() {
    let entries = proc_entries(fixture!("proc_net_tcp.txt"));
    assert_eq!(entries.len(), 9);
    let listener = entries[0];
    assert_eq!(listener.local, addr("127.0.0.1:38013"));
    assert_eq!(listener.remote, addr("0.0.0.0:0"));
    assert_eq!(listener.state, KernelState::Tcp(TcpState::Listen));
    assert_eq!(
        (listener.timer, listener.uid, listener.inode),
        (None, 0, 10567)
    );

    let time_wait: Vec<_> = entries.iter().filter(|e| e.state == TIME_WAIT).collect();
    assert_eq!(time_wait.len(), 5);
    for entry in &time_wait {
        // tm->when 0x175B = 5979 ticks of 10 ms.
        assert_eq!(
            entry.time_wait_remaining(),
            Some(Duration::from_millis(59_790))
        );
        assert_eq!((entry.uid, entry.inode), (0, 0));
    }
    let server_side = time_wait.iter().filter(|e| e.local.port() == 38013).count();
    let client_side = time_wait
        .iter()
        .filter(|e| e.remote.port() == 38013)
        .count();
    assert_eq!((server_side, client_side), (2, 2));
}

#[test]
fn captured_proc_net_tcp6_gives_ipv4_mapped_addresses_as_ipv4() {
    let entries = proc_entries(fixture!("proc_net_tcp6.txt"));
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0].local, addr("[::]:45951"));
    assert_eq!(entries[1].local, addr("[::1]:45047"));
    assert_eq!(entries[3].local, addr("127.0.0.1:45951"));
    assert_eq!(entries[3].remote, addr("127.0.0.1:47514"));
    assert_eq!(entries[3].state, TIME_WAIT);
    let remaining = entries[3].time_wait_remaining().unwrap();
    assert_eq!(remaining, Duration::from_millis(59_780));
}

#[test]
fn proc_net_tcp_rejects_a_missing_or_foreign_header() {
    let empty = parse_proc_net_tcp(Cursor::new("")).next();
    assert!(matches!(empty, Some(Err(ProcNetError::Header { .. }))));
    let foreign = parse_proc_net_tcp(Cursor::new("Inter-| Receive\n")).next();
    assert!(matches!(foreign, Some(Err(ProcNetError::Header { text })) if text.contains("Inter")));
    assert_eq!(parse_proc_net_tcp(Cursor::new("  sl  local\n")).count(), 0);
}

#[test]
fn a_broken_proc_net_line_is_an_error_naming_its_line_and_ends_the_iteration() {
    let good = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n";
    let broken = [
        "   1: 0100007F:1F90\n",
        "   1: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
        "   1: 0100007F00:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
        "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00-00000000 00000000 0 0 1\n",
        "   1: 0100007F:1F90 00000000:0000 +A 00000000:00000000 00:00000000 00000000 0 0 1\n",
        "   1 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n",
        "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 me 0 1\n",
    ];
    for line in broken {
        let text = format!("  sl header\n{good}{line}{good}");
        let results: Vec<_> = parse_proc_net_tcp(Cursor::new(text)).collect();
        assert_eq!(results.len(), 2, "{line:?}");
        assert!(results[0].is_ok());
        let Err(ProcNetError::Line { line: number, .. }) = &results[1] else {
            panic!("expected a line error for {line:?}, got {:?}", results[1]);
        };
        assert_eq!(*number, 3);
    }
    let invalid_utf8 = b"  sl\n   0: \xff\xfe\n".to_vec();
    let result = parse_proc_net_tcp(Cursor::new(invalid_utf8)).next();
    assert!(matches!(
        result,
        Some(Err(ProcNetError::Line { line: 2, .. }))
    ));
}

// ---- sock_diag ----

/// The datagrams of a `.bin` fixture: each a 4-byte little-endian length,
/// then the bytes.
fn datagrams(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<4>() {
        let (datagram, rest) = rest.split_at(u32::from_le_bytes(*len) as usize);
        out.push(datagram);
        bytes = rest;
    }
    out
}

fn diag_messages(bytes: &[u8]) -> Vec<SockDiagMessage> {
    datagrams(bytes)
        .into_iter()
        .flat_map(parse_sock_diag_reply)
        .collect::<Result<_, _>>()
        .unwrap()
}

fn diag_entries(bytes: &[u8]) -> Vec<SocketEntry> {
    let messages = diag_messages(bytes);
    assert_eq!(messages.last(), Some(&SockDiagMessage::Done));
    messages
        .into_iter()
        .filter_map(|m| match m {
            SockDiagMessage::Socket(entry) => Some(entry),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dump_request_is_an_nlmsghdr_and_an_inet_diag_req_v2() {
    let request = sock_diag_request(IpFamily::V6, 1 << 6 | 1 << 10, 0xABCD);
    let u32_at = |at: usize| u32::from_ne_bytes(request[at..at + 4].try_into().unwrap());
    let u16_at = |at: usize| u16::from_ne_bytes(request[at..at + 2].try_into().unwrap());
    assert_eq!(u32_at(0), 72); // nlmsg_len
    assert_eq!(u16_at(4), 20); // SOCK_DIAG_BY_FAMILY
    assert_eq!(u16_at(6), 0x301); // NLM_F_REQUEST | NLM_F_DUMP
    assert_eq!((u32_at(8), u32_at(12)), (0xABCD, 0));
    assert_eq!(&request[16..20], &[10, 6, 0, 0]); // AF_INET6, IPPROTO_TCP
    assert_eq!(u32_at(20), 1 << 6 | 1 << 10);
    assert!(request[24..].iter().all(|b| *b == 0));
}

#[cfg(target_endian = "little")]
#[test]
fn captured_sock_diag_time_wait_dump_matches_the_proc_capture() {
    let entries = diag_entries(include_bytes!(
        "fixtures/linux-6.18.44/sock_diag_v4_time_wait.bin"
    ));
    assert_eq!(entries.len(), 5);
    for entry in &entries {
        assert_eq!(entry.state, TIME_WAIT);
        let remaining = entry.time_wait_remaining().unwrap();
        assert!(remaining > Duration::from_secs(59) && remaining <= Duration::from_secs(60));
        assert_eq!(entry.timer.unwrap().kind, TimerKind::TimeWait);
    }
    // The same sockets /proc/net/tcp showed a moment later.
    let proc: Vec<_> = proc_entries(fixture!("proc_net_tcp.txt"))
        .into_iter()
        .filter(|e| e.state == TIME_WAIT)
        .collect();
    assert_eq!(tuples(&entries), tuples(&proc));
}

#[cfg(target_endian = "little")]
#[test]
fn captured_sock_diag_full_dump_matches_the_proc_capture() {
    let entries = diag_entries(include_bytes!(
        "fixtures/linux-6.18.44/sock_diag_v4_all.bin"
    ));
    let proc = proc_entries(fixture!("proc_net_tcp.txt"));
    assert_eq!(tuples(&entries), tuples(&proc));
    let inodes: BTreeSet<_> = entries.iter().map(|e| e.inode).collect();
    assert_eq!(inodes, proc.iter().map(|e| e.inode).collect());
}

#[cfg(target_endian = "little")]
#[test]
fn captured_sock_diag_ipv6_dump_gives_ipv4_mapped_addresses_as_ipv4() {
    let entries = diag_entries(include_bytes!(
        "fixtures/linux-6.18.44/sock_diag_v6_time_wait.bin"
    ));
    let proc: Vec<_> = proc_entries(fixture!("proc_net_tcp6.txt"))
        .into_iter()
        .filter(|e| e.state == TIME_WAIT)
        .collect();
    assert_eq!(tuples(&entries), tuples(&proc));
    assert!(entries.iter().any(|e| e.local == addr("127.0.0.1:45951")));
    assert!(entries.iter().any(|e| e.local == addr("[::1]:48328")));
}

/// A netlink message of type `kind` with `payload`, padded to 4 bytes.
fn nlmsg(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(16 + payload.len() as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&[0; 10]);
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

#[test]
fn sock_diag_parser_reports_kernel_errors_and_skips_noop() {
    let enoent = nlmsg(2, &(-2i32).to_ne_bytes());
    let mut datagram = nlmsg(1, &[]);
    datagram.extend_from_slice(&enoent);
    let mut messages = parse_sock_diag_reply(&datagram);
    assert!(matches!(
        messages.next(),
        Some(Err(SockDiagError::Kernel { errno: 2 }))
    ));
    assert!(messages.next().is_none());

    let failed_done = nlmsg(3, &(-16i32).to_ne_bytes());
    let result = parse_sock_diag_reply(&failed_done).next();
    assert!(matches!(
        result,
        Some(Err(SockDiagError::Kernel { errno: 16 }))
    ));
    let overrun = parse_sock_diag_reply(&nlmsg(4, &[])).next();
    assert!(matches!(overrun, Some(Err(SockDiagError::Overrun))));
    let message = SockDiagError::Kernel { errno: 2 }.to_string();
    assert!(message.contains("No such file or directory"), "{message}");
}

#[test]
fn sock_diag_parser_rejects_truncated_and_foreign_messages() {
    let mut diag_msg = [0u8; 72];
    diag_msg[0] = 2; // AF_INET
    diag_msg[1] = 6; // TIME_WAIT
    let good = nlmsg(20, &diag_msg);
    assert!(parse_sock_diag_reply(&good).all(|m| m.is_ok()));

    type Case = (Vec<u8>, fn(&SockDiagError) -> bool);
    let cases: Vec<Case> = vec![
        (good[..10].to_vec(), |e| {
            matches!(e, SockDiagError::Truncated { .. })
        }),
        (good[..50].to_vec(), |e| {
            matches!(e, SockDiagError::Truncated { .. })
        }),
        (nlmsg(20, &diag_msg[..40]), |e| {
            matches!(e, SockDiagError::Truncated { .. })
        }),
        (nlmsg(2, &[]), |e| {
            matches!(e, SockDiagError::Truncated { .. })
        }),
        (nlmsg(99, &[]), |e| {
            matches!(e, SockDiagError::UnexpectedType { kind: 99, .. })
        }),
        (
            [&good[..], &[8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]].concat(),
            |e| {
                matches!(
                    e,
                    SockDiagError::BadLength {
                        offset: 88,
                        length: 8
                    }
                )
            },
        ),
        (
            nlmsg(20, &{
                let mut m = diag_msg;
                m[0] = 7;
                m
            }),
            |e| matches!(e, SockDiagError::UnknownFamily { family: 7, .. }),
        ),
    ];
    for (datagram, expected) in cases {
        let results: Vec<_> = parse_sock_diag_reply(&datagram).collect();
        let last = results.last().expect("at least one message");
        match last {
            Err(e) => assert!(expected(e), "unexpected error {e:?} for {datagram:?}"),
            Ok(m) => panic!("expected an error for {datagram:?}, got {m:?}"),
        }
    }
}
