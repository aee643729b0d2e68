//! The socket options socket2 does not set: `IP_BIND_ADDRESS_NO_PORT` and
//! `IP_LOCAL_PORT_RANGE` (both Linux), plus `TCP_USER_TIMEOUT`, which socket2
//! has only on Linux-like systems.
//!
//! This is the crate's one module with `unsafe` code: two calls to libc, each
//! inside a safe function that takes a `BorrowedFd`. Elsewhere than Linux the
//! port range and the user timeout are [`io::ErrorKind::Unsupported`] errors,
//! and binding a source address reserves a port.

#![allow(unsafe_code)]

use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use socket2::Socket;
use timewait_core::budget::PortRange;

/// `IP_BIND_ADDRESS_NO_PORT` (Linux 4.2): `bind()` takes the source address
/// but leaves the port to `connect()`.
#[cfg(target_os = "linux")]
pub(crate) const IP_BIND_ADDRESS_NO_PORT: libc::c_int = libc::IP_BIND_ADDRESS_NO_PORT;

/// `IP_LOCAL_PORT_RANGE` (Linux 6.3), which libc 0.2 does not define: the
/// ephemeral range of one socket, `(high << 16) | low`.
#[cfg(target_os = "linux")]
pub(crate) const IP_LOCAL_PORT_RANGE: libc::c_int = 51;

/// Sets the 32-bit integer option `name` at `level` on `fd`.
#[cfg(target_os = "linux")]
pub(crate) fn set_u32_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: u32,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<u32>()).map_err(io::Error::other)?;
    // SAFETY: `fd` is an open descriptor for as long as it is borrowed, and
    // the pointer and length describe `value`, a live, initialised u32 that
    // the kernel only reads during the call. A descriptor that is not a
    // socket, or an unknown option, makes the call fail with an errno.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            level,
            name,
            std::ptr::from_ref(&value).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads the 32-bit integer option `name` at `level` on `fd`.
#[cfg(all(target_os = "linux", test))]
pub(crate) fn get_u32_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<u32> {
    let mut value: u32 = 0;
    let mut len = libc::socklen_t::try_from(size_of::<u32>()).map_err(io::Error::other)?;
    // SAFETY: `fd` is open while borrowed; the kernel writes at most `len`
    // bytes into `value`, which is a live u32 of exactly `len` bytes, and
    // stores the length it wrote in `len`, a live socklen_t.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            level,
            name,
            std::ptr::from_mut(&mut value).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if usize::try_from(len).ok() != Some(size_of::<u32>()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the kernel returned a {len}-byte value for a 4-byte option"),
        ));
    }
    Ok(value)
}

/// The `IP_LOCAL_PORT_RANGE` value for `range`.
#[cfg(target_os = "linux")]
pub(crate) fn encode_port_range(range: PortRange) -> u32 {
    (u32::from(range.high()) << 16) | u32::from(range.low())
}

/// Whether `error` says the option does not exist here: `ENOPROTOOPT` from an
/// older Linux kernel, or [`io::ErrorKind::Unsupported`] from this module.
pub(crate) fn is_unsupported(error: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    if error.raw_os_error() == Some(libc::ENOPROTOOPT) {
        return true;
    }
    error.kind() == io::ErrorKind::Unsupported
}

/// Lets `bind()` take only the source address (see `IP_BIND_ADDRESS_NO_PORT`).
#[cfg(target_os = "linux")]
pub(crate) fn set_bind_address_no_port(socket: &Socket) -> io::Result<()> {
    set_u32_option(socket.as_fd(), libc::IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
}

/// Elsewhere than Linux this does nothing: `bind()` then reserves a port.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_bind_address_no_port(_socket: &Socket) -> io::Result<()> {
    Ok(())
}

/// Narrows the socket's ephemeral range to `range` (clamped by the kernel to
/// `net.ipv4.ip_local_port_range`). The option is at the IP level for IPv6
/// sockets too. Before Linux 6.3 the kernel answers `ENOPROTOOPT`.
#[cfg(target_os = "linux")]
pub(crate) fn set_local_port_range(socket: &Socket, range: PortRange) -> io::Result<()> {
    let value = encode_port_range(range);
    set_u32_option(socket.as_fd(), libc::IPPROTO_IP, IP_LOCAL_PORT_RANGE, value)
}

/// Elsewhere than Linux there is no per-socket range.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_local_port_range(_socket: &Socket, _range: PortRange) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Sets `TCP_USER_TIMEOUT` through socket2 where it exists.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
pub(crate) fn set_user_timeout(socket: &Socket, timeout: Duration) -> io::Result<()> {
    socket.set_tcp_user_timeout(Some(timeout))
}

/// Elsewhere `TCP_USER_TIMEOUT` does not exist.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
pub(crate) fn set_user_timeout(_socket: &Socket, _timeout: Duration) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Type};

    fn tcp_socket() -> Socket {
        Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap()
    }

    #[test]
    fn bind_address_no_port_reads_back_as_set() {
        let socket = tcp_socket();
        let get = || get_u32_option(socket.as_fd(), libc::IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT);
        assert_eq!(get().unwrap(), 0);
        set_bind_address_no_port(&socket).unwrap();
        assert_eq!(get().unwrap(), 1);
    }

    #[test]
    fn the_port_range_is_encoded_high_word_high_port() {
        let range = PortRange::new(40000, 40099).unwrap();
        assert_eq!(encode_port_range(range), (40099 << 16) | 40000);
        assert_eq!(encode_port_range(range) & 0xffff, 40000);
    }

    #[test]
    fn the_port_range_reads_back_as_set_or_is_enoprotoopt_on_old_kernels() {
        let socket = tcp_socket();
        let range = PortRange::new(40000, 40099).unwrap();
        match set_local_port_range(&socket, range) {
            Ok(()) => {
                let got = get_u32_option(socket.as_fd(), libc::IPPROTO_IP, IP_LOCAL_PORT_RANGE);
                assert_eq!(got.unwrap(), encode_port_range(range));
            }
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ENOPROTOOPT), "{e}"),
        }
    }

    #[test]
    fn a_descriptor_that_is_not_a_socket_is_an_error_not_a_panic() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let error = set_u32_option(file.as_fd(), libc::IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
        assert_eq!(error.unwrap_err().raw_os_error(), Some(libc::ENOTSOCK));
        let error = get_u32_option(file.as_fd(), libc::IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT);
        assert_eq!(error.unwrap_err().raw_os_error(), Some(libc::ENOTSOCK));
    }

    #[test]
    fn an_unknown_option_is_enoprotoopt() {
        let socket = tcp_socket();
        let error = set_u32_option(socket.as_fd(), libc::IPPROTO_IP, 255, 1).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOPROTOOPT));
        let error = get_u32_option(socket.as_fd(), libc::IPPROTO_IP, 255).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ENOPROTOOPT));
    }

    #[test]
    fn an_inverted_raw_range_is_rejected_by_the_kernel() {
        // The kernel checks `low <= high` itself; PortRange never builds one.
        let socket = tcp_socket();
        let inverted = (100 << 16) | 200;
        match set_u32_option(
            socket.as_fd(),
            libc::IPPROTO_IP,
            IP_LOCAL_PORT_RANGE,
            inverted,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {}
            other => assert_eq!(other.unwrap_err().raw_os_error(), Some(libc::EINVAL)),
        }
    }
}
