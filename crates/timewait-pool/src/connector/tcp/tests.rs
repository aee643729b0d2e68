//! Unit tests of the socket set-up and the timeout, before any connect.

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use tokio_test::{assert_pending, assert_ready};

const V4: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9);

fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

#[test]
fn binding_a_source_address_reserves_no_port_before_connect() {
    // IP_BIND_ADDRESS_NO_PORT: bind() leaves the port at 0 for connect() to pick.
    let connector = TcpConnector::new().bind_ip(Some(Ipv4Addr::LOCALHOST.into()));
    let socket = connector.socket_for(V4).unwrap();
    let local = socket.local_addr().unwrap().as_socket().unwrap();
    assert_eq!(local, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));

    if !ipv6_loopback() {
        eprintln!("skipped the IPv6 half: this machine has no ::1");
        return;
    }
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 9));
    let connector = TcpConnector::new().bind_ip(Some(Ipv6Addr::LOCALHOST.into()));
    let socket = connector.socket_for(v6).unwrap();
    let local = socket.local_addr().unwrap().as_socket().unwrap();
    assert_eq!(local, SocketAddr::from((Ipv6Addr::LOCALHOST, 0)));
}

#[test]
fn a_source_address_of_the_other_family_is_a_bind_error() {
    let connector = TcpConnector::new().bind_ip(Some(Ipv6Addr::LOCALHOST.into()));
    let error = connector.socket_for(V4).unwrap_err();
    assert!(
        matches!(error, ConnectError::Bind { addr: V4, .. }),
        "{error:?}"
    );
}

#[test]
fn the_socket_gets_every_option_asked_for() {
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(7))
        .with_interval(Duration::from_secs(3))
        .with_retries(4);
    let connector = TcpConnector::new()
        .keepalive(Some(keepalive))
        .user_timeout(Some(Duration::from_millis(1500)));
    let socket = connector.socket_for(V4).unwrap();
    assert!(socket.nonblocking().unwrap());
    assert!(socket.tcp_nodelay().unwrap());
    assert!(socket.keepalive().unwrap());
    assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(3)
    );
    assert_eq!(socket.tcp_keepalive_retries().unwrap(), 4);
    let user_timeout = socket.tcp_user_timeout().unwrap();
    assert_eq!(user_timeout, Some(Duration::from_millis(1500)));

    let plain = TcpConnector::new().nodelay(false).socket_for(V4).unwrap();
    assert!(!plain.tcp_nodelay().unwrap() && !plain.keepalive().unwrap());
}

#[test]
fn the_port_range_is_set_or_reported_as_unsupported() {
    let range = PortRange::new(40000, 40099).unwrap();
    let connector = TcpConnector::new().local_port_range(Some(range));
    match connector.socket_for(V4) {
        Ok(socket) => {
            use std::os::fd::AsFd;
            let level = libc::IPPROTO_IP;
            let value =
                sockopt::get_u32_option(socket.as_fd(), level, sockopt::IP_LOCAL_PORT_RANGE);
            assert_eq!(value.unwrap(), (40099 << 16) | 40000);
        }
        Err(ConnectError::PortRangeUnsupported { source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(libc::ENOPROTOOPT));
        }
        Err(other) => panic!("unexpected error: {other:?}"),
    }
}

#[test]
fn enoprotoopt_for_the_port_range_is_its_own_error_and_others_are_socket_errors() {
    let range = PortRange::new(40000, 40099).unwrap();
    let enoprotoopt = io::Error::from_raw_os_error(libc::ENOPROTOOPT);
    let error = port_range_error(V4, range, enoprotoopt);
    assert!(matches!(error, ConnectError::PortRangeUnsupported { .. }));
    assert!(
        error
            .to_string()
            .contains("remove `local_port_range` (40000-40099)")
    );

    let einval = io::Error::from_raw_os_error(libc::EINVAL);
    let error = port_range_error(V4, range, einval);
    let expected = "could not set IP_LOCAL_PORT_RANGE for a connection to 127.0.0.1:9";
    assert_eq!(error.to_string(), expected);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_never_finishes_times_out_at_the_deadline_naming_the_address() {
    let never = std::future::pending::<Result<(), ConnectError>>();
    let mut attempt =
        tokio_test::task::spawn(with_timeout(V4, Some(Duration::from_secs(5)), never));
    assert_pending!(attempt.poll());
    tokio::time::advance(Duration::from_millis(4999)).await;
    assert_pending!(attempt.poll());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(attempt.is_woken());
    let error = assert_ready!(attempt.poll()).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert_eq!(error.addr(), Some(V4));
    assert!(
        error
            .to_string()
            .starts_with("connecting to 127.0.0.1:9 took longer than 5s")
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_timeout_the_attempt_is_awaited_as_it_is() {
    let ready = std::future::ready(Ok::<_, ConnectError>(7));
    assert_eq!(with_timeout(V4, None, ready).await.unwrap(), 7);
    let ready = std::future::ready(Ok::<_, ConnectError>(8));
    let huge = Some(Duration::MAX);
    assert_eq!(with_timeout(V4, huge, ready).await.unwrap(), 8);
}
