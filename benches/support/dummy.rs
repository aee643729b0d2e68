//! A dummy connection, and how each pool under comparison makes one: a tower
//! connector for `timewait`, a manager for deadpool and for bb8. No I/O, so a
//! checkout bench measures the pools' own bookkeeping.

use std::convert::Infallible;
use std::io;
use std::task::{Context, Poll};

use timewait::core::ledger::Destination;
use timewait::pool::{Connection, Health, PeerClose};

/// A connection that is always healthy and closes at once.
#[derive(Debug)]
pub(crate) struct Dummy(pub(crate) u64);

impl Connection for Dummy {
    fn health(&mut self) -> Health {
        Health::Usable
    }
    fn destination(&self) -> Option<Destination> {
        None
    }
    async fn peer_close(&mut self) -> io::Result<PeerClose> {
        Ok(PeerClose::Fin)
    }
    fn close(self) {}
    fn abort(self) {}
}

/// `timewait`'s connector: a tower service from keys to dummies.
#[derive(Debug, Clone)]
pub(crate) struct MakeDummy;

impl tower::Service<u32> for MakeDummy {
    type Response = Dummy;
    type Error = io::Error;
    type Future = std::future::Ready<io::Result<Dummy>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, key: u32) -> Self::Future {
        std::future::ready(Ok(Dummy(u64::from(key))))
    }
}

/// deadpool's manager; recycling (its check on checkout) always passes.
#[derive(Debug)]
pub(crate) struct DeadpoolDummies;

impl deadpool::managed::Manager for DeadpoolDummies {
    type Type = Dummy;
    type Error = Infallible;

    async fn create(&self) -> Result<Dummy, Infallible> {
        Ok(Dummy(0))
    }

    async fn recycle(
        &self,
        _: &mut Dummy,
        _: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

/// bb8's manager; its check on checkout (`is_valid`) always passes.
#[derive(Debug)]
pub(crate) struct Bb8Dummies;

impl bb8::ManageConnection for Bb8Dummies {
    type Connection = Dummy;
    type Error = Infallible;

    async fn connect(&self) -> Result<Dummy, Infallible> {
        Ok(Dummy(0))
    }

    async fn is_valid(&self, _: &mut Dummy) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _: &mut Dummy) -> bool {
        false
    }
}
