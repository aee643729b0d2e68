//! `TcpConnector` against real loopback sockets (127.0.0.1, 127.0.0.2 and ::1).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use socket2::SockRef;
use timewait_core::budget::PortRange;
use timewait_pool::{ConnectError, Connecting, TcpConnector, TcpKeepalive};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// A listener that echoes one byte back on each connection it accepts.
async fn echo_once(ip: IpAddr) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind((ip, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).await.is_ok() {
                    let _ = stream.write_all(&byte).await;
                }
            });
        }
    });
    Ok(addr)
}

async fn exchange_a_byte(stream: &mut TcpStream) {
    stream.write_all(b"x").await.expect("write a byte");
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).await.expect("read the echo");
    assert_eq!(&byte, b"x");
}

#[test]
fn the_connector_and_its_future_can_be_shared_across_tasks() {
    fn service<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    fn future<T: Send + std::fmt::Debug + 'static>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    service::<TcpConnector>();
    future::<Connecting>();
    error::<ConnectError>();
}

#[tokio::test]
async fn it_connects_over_ipv4_and_exchanges_a_byte() {
    let addr = echo_once(Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let mut stream = TcpConnector::new().oneshot(addr).await.unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addr);
    exchange_a_byte(&mut stream).await;
}

#[tokio::test]
async fn it_connects_over_ipv6_and_exchanges_a_byte() {
    let Ok(addr) = echo_once(Ipv6Addr::LOCALHOST.into()).await else {
        eprintln!("skipped: this machine has no IPv6 loopback (::1)");
        return;
    };
    let mut stream = TcpConnector::new()
        .oneshot((Ipv6Addr::LOCALHOST, addr.port()))
        .await
        .unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addr);
    exchange_a_byte(&mut stream).await;
}

#[tokio::test]
async fn a_host_and_port_key_is_resolved_before_connecting() {
    let addr = echo_once(Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let key = (String::from("127.0.0.1"), addr.port());
    let mut stream = TcpConnector::new().oneshot(key).await.unwrap();
    exchange_a_byte(&mut stream).await;
    let stream = TcpConnector::new().oneshot(addr.to_string()).await.unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addr);
}

#[tokio::test]
async fn nodelay_keepalive_and_user_timeout_are_set_on_the_connected_stream() {
    let addr = echo_once(Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(11))
        .with_interval(Duration::from_secs(2))
        .with_retries(3);
    let connector = TcpConnector::new()
        .keepalive(Some(keepalive))
        .user_timeout(Some(Duration::from_secs(9)));
    let stream = connector.oneshot(addr).await.unwrap();
    let socket = SockRef::from(&stream);
    assert!(socket.tcp_nodelay().unwrap());
    assert!(socket.keepalive().unwrap());
    assert_eq!(
        socket.tcp_keepalive_time().unwrap(),
        Duration::from_secs(11)
    );
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(2)
    );
    assert_eq!(socket.tcp_keepalive_retries().unwrap(), 3);
    assert_eq!(
        socket.tcp_user_timeout().unwrap(),
        Some(Duration::from_secs(9))
    );
}

#[tokio::test]
async fn nodelay_can_be_turned_off() {
    let addr = echo_once(Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let stream = TcpConnector::new()
        .nodelay(false)
        .oneshot(addr)
        .await
        .unwrap();
    assert!(!stream.nodelay().unwrap());
    assert_eq!(SockRef::from(&stream).tcp_user_timeout().unwrap(), None);
}

#[tokio::test]
async fn a_bound_source_address_is_the_connections_local_address() {
    // Linux routes all of 127.0.0.0/8 to lo, so 127.0.0.2 is a local address.
    let addr = echo_once(Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let source = IpAddr::from([127, 0, 0, 2]);
    let connector = TcpConnector::new().bind_ip(Some(source));
    let mut first = connector.clone().oneshot(addr).await.unwrap();
    let second = connector.oneshot(addr).await.unwrap();
    assert_eq!(first.local_addr().unwrap().ip(), source);
    assert_eq!(second.local_addr().unwrap().ip(), source);
    assert_ne!(first.local_addr().unwrap().port(), 0);
    exchange_a_byte(&mut first).await;
}

/// The system's ephemeral range, `net.ipv4.ip_local_port_range`.
fn system_port_range() -> PortRange {
    let path = "/proc/sys/net/ipv4/ip_local_port_range";
    let text = std::fs::read_to_string(path).expect("read the sysctl");
    let ends: Vec<u16> = text
        .split_whitespace()
        .map(|end| end.parse().expect("a port number"))
        .collect();
    PortRange::new(ends[0], ends[1]).expect("the system range is valid")
}

#[tokio::test]
async fn connections_take_their_local_port_from_the_configured_range() {
    // The kernel ignores an end outside the system range: take 500 ports inside it.
    let system = system_port_range();
    let low = system.low() + u16::try_from((system.len() / 2).min(20_000)).unwrap();
    let range = PortRange::new(low, low.saturating_add(499).min(system.high())).unwrap();
    let addr = echo_once(Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let connector = TcpConnector::new().local_port_range(Some(range));
    for _ in 0..5 {
        match connector.clone().oneshot(addr).await {
            Ok(stream) => {
                let port = stream.local_addr().unwrap().port();
                assert!(range.contains(port), "port {port} is outside {range}");
            }
            Err(ConnectError::PortRangeUnsupported { source, .. }) => {
                eprintln!("this kernel has no IP_LOCAL_PORT_RANGE: checked the error instead");
                assert!(source.raw_os_error().is_some());
                return;
            }
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_closed_port_is_connection_refused_naming_the_address() {
    let closed = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        listener.local_addr().unwrap()
    };
    let error = TcpConnector::new().oneshot(closed).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(error.addr(), Some(closed));
    assert!(error.to_string().contains(&closed.to_string()));
    assert!(!error.is_out_of_ports());
    let source = std::error::Error::source(&error).unwrap();
    let io_error = source.downcast_ref::<io::Error>().unwrap();
    assert_eq!(io_error.raw_os_error(), Some(libc::ECONNREFUSED));
}

#[tokio::test]
async fn a_name_without_a_port_fails_to_resolve_without_connecting() {
    let error = TcpConnector::new().oneshot("127.0.0.1").await.unwrap_err();
    assert!(matches!(error, ConnectError::Resolve { .. }), "{error:?}");
    assert_eq!(error.addr(), None);
    assert_eq!(
        error.to_string(),
        "could not resolve 127.0.0.1: check the host name and port"
    );
}

#[tokio::test]
async fn a_connect_timeout_that_is_not_reached_changes_nothing() {
    let addr = echo_once(Ipv4Addr::LOCALHOST.into()).await.unwrap();
    let connector = TcpConnector::new().connect_timeout(Some(Duration::from_secs(30)));
    let mut stream = connector.oneshot(addr).await.unwrap();
    exchange_a_byte(&mut stream).await;
}
