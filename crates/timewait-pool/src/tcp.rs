//! [`Connection`] for [`tokio::net::TcpStream`].

use std::io;
use std::mem::MaybeUninit;

use socket2::SockRef;
use timewait_core::ledger::Destination;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::connection::{Connection, Health, PeerClose};

impl Connection for TcpStream {
    /// Peeks one byte with `MSG_PEEK` on the non-blocking socket: one system
    /// call, nothing consumed.
    ///
    /// The kernel is asked directly rather than through tokio's readiness,
    /// because readiness is only as fresh as the runtime's last turn of its
    /// event loop: a FIN that arrived since would be missed.
    fn health(&mut self) -> Health {
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        match SockRef::from(&*self).peek(&mut byte) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Health::Usable,
            Ok(0) => Health::PeerClosed,
            Ok(_) => Health::UnexpectedData,
            Err(e) if is_reset(&e) => Health::PeerReset,
            Err(e) => Health::Broken(e),
        }
    }

    fn destination(&self) -> Option<Destination> {
        let remote = self.peer_addr().ok()?;
        let local = self.local_addr().ok()?;
        Some(Destination::new(remote).with_local_ip(local.ip()))
    }

    async fn peer_close(&mut self) -> io::Result<PeerClose> {
        let mut discard = [0u8; 1024];
        loop {
            match self.read(&mut discard).await {
                Ok(0) => return Ok(PeerClose::Fin),
                Ok(_) => continue,
                Err(e) if is_reset(&e) => return Ok(PeerClose::Reset),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn close(self) {
        drop(self);
    }

    fn abort(self) {
        // If SO_LINGER cannot be set the socket is already unusable; a plain
        // close is all that is left, and the pool counts it by its outcome.
        if let Err(error) = self.set_zero_linger() {
            tracing::debug!(%error, "could not set SO_LINGER 0; closing normally");
        }
        drop(self);
    }
}

fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}
