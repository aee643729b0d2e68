//! One tracked connection: its four-tuple, its [`Machine`], who closed first,
//! when it entered each state and when its TIME-WAIT ends.
//!
//! Like quinn-proto's connection, it reads no clock: every method that changes
//! it takes `now`, and [`TrackedConnection::poll_timeout`] says when to call
//! [`TrackedConnection::handle_timeout`] next.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::TcpState;
use crate::machine::{Event, InvalidTransition, Machine, Open, Segment, Step, TimeWaitTimer};

/// Which side sent the first FIN, and so which side keeps TIME-WAIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Closer {
    /// We sent the first FIN (the active closer): TIME-WAIT lands here.
    Local,
    /// The peer sent the first FIN: we go through CLOSE-WAIT and LAST-ACK to
    /// CLOSED and keep no TIME-WAIT.
    Remote,
    /// Both FINs crossed (FIN-WAIT-1 received a FIN that did not acknowledge
    /// ours): both sides go through CLOSING into TIME-WAIT.
    Simultaneous,
}

/// One connection as seen from our side: the four-tuple, the state and its
/// history, who closed first and the TIME-WAIT deadline.
///
/// Memory is bounded: the history keeps, for each of the eleven states, the
/// instant the connection last entered it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use timewait_core::TcpState;
/// use timewait_core::connection::{Closer, TrackedConnection};
/// use timewait_core::machine::{Event, Open};
///
/// let start = Instant::now();
/// let local = "10.0.0.1:40000".parse()?;
/// let remote = "10.0.0.2:80".parse()?;
/// let mut conn = TrackedConnection::established(local, remote, Open::Active, start);
///
/// conn.apply(Event::Close, start)?;
/// conn.apply(Event::RcvFinAck, start)?;
/// assert_eq!(conn.state(), TcpState::TimeWait);
/// assert_eq!(conn.closer(), Some(Closer::Local));
///
/// let end = start + Duration::from_secs(60);
/// assert_eq!(conn.poll_timeout(), Some(end));
/// conn.handle_timeout(end);
/// assert_eq!(conn.state(), TcpState::Closed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedConnection {
    local: SocketAddr,
    remote: SocketAddr,
    machine: Machine,
    closer: Option<Closer>,
    time_wait: Duration,
    time_wait_until: Option<Instant>,
    entered: [Option<Instant>; 11],
    last_transition: Instant,
}

impl TrackedConnection {
    /// A connection in CLOSED, before any OPEN, as of `now`.
    pub fn new(local: SocketAddr, remote: SocketAddr, now: Instant) -> Self {
        Self::with_machine(local, remote, Machine::new(), now)
    }

    /// A connection already ESTABLISHED as of `now` (a socket returned by
    /// `connect` or `accept`), opened as `opened` says.
    pub fn established(local: SocketAddr, remote: SocketAddr, opened: Open, now: Instant) -> Self {
        Self::with_machine(local, remote, Machine::established(opened), now)
    }

    fn with_machine(local: SocketAddr, remote: SocketAddr, machine: Machine, now: Instant) -> Self {
        let mut entered = [None; 11];
        entered[index(machine.state())] = Some(now);
        TrackedConnection {
            local,
            remote,
            machine,
            closer: None,
            time_wait: crate::DEFAULT_TIME_WAIT,
            time_wait_until: None,
            entered,
            last_transition: now,
        }
    }

    /// Sets how long TIME-WAIT lasts (2×MSL), by default
    /// [`DEFAULT_TIME_WAIT`](crate::DEFAULT_TIME_WAIT), Linux's 60 s. It
    /// applies from the next time the timer starts or restarts.
    #[must_use]
    pub fn with_time_wait(mut self, length: Duration) -> Self {
        self.time_wait = length;
        self
    }

    /// Our address.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The current state.
    pub fn state(&self) -> TcpState {
        self.machine.state()
    }

    /// How the connection was opened; `None` before the first open.
    pub fn opened(&self) -> Option<Open> {
        self.machine.opened()
    }

    /// Who sent the first FIN; `None` until a FIN was sent or received. An
    /// OPEN from CLOSED starts a new incarnation and clears it.
    pub fn closer(&self) -> Option<Closer> {
        self.closer
    }

    /// How long TIME-WAIT lasts for this connection.
    pub fn time_wait(&self) -> Duration {
        self.time_wait
    }

    /// When TIME-WAIT ends: `Some` only in TIME-WAIT. A retransmitted FIN
    /// moves it later, never earlier. `None` in TIME-WAIT only when the
    /// deadline is too far to represent as an [`Instant`]; then only a RST
    /// ends it.
    pub fn time_wait_until(&self) -> Option<Instant> {
        self.time_wait_until
    }

    /// When the connection last entered `state`, if it ever did.
    pub fn entered(&self, state: TcpState) -> Option<Instant> {
        self.entered[index(state)]
    }

    /// When the state last changed (or the connection was created, if it never
    /// changed). Events that keep the state do not count.
    pub fn last_transition(&self) -> Instant {
        self.last_transition
    }

    /// Applies `event` at `now` and returns the machine's [`Step`].
    ///
    /// This is also how a caller that keeps its own timer (or mirrors the
    /// kernel's) reports the TIME-WAIT timeout: [`Event::TimeWaitTimeout`]
    /// ends TIME-WAIT whatever this connection's deadline says, while
    /// [`handle_timeout`](Self::handle_timeout) ends it from that deadline.
    ///
    /// # Errors
    ///
    /// [`InvalidTransition`] when the current state cannot take the event; the
    /// connection is then unchanged.
    pub fn apply(&mut self, event: Event, now: Instant) -> Result<Step, InvalidTransition> {
        let from = self.machine.state();
        let step = self.machine.on(event)?;
        if from == TcpState::Closed {
            // Only an OPEN leaves CLOSED: a new incarnation, nobody closed yet.
            self.closer = None;
        }
        self.note_closer(from, event, &step);
        match step.time_wait {
            TimeWaitTimer::Start => self.time_wait_until = now.checked_add(self.time_wait),
            TimeWaitTimer::Restart => {
                // A deadline of `None` here means "too far to represent":
                // it stays that way, and a restart never moves a deadline back.
                let restarted = now.checked_add(self.time_wait);
                self.time_wait_until = match (self.time_wait_until, restarted) {
                    (Some(old), Some(new)) => Some(old.max(new)),
                    _ => None,
                };
            }
            TimeWaitTimer::Stop => self.time_wait_until = None,
            TimeWaitTimer::Unchanged => {}
        }
        if step.next != from {
            self.entered[index(step.next)] = Some(now);
            self.last_transition = now;
        }
        Ok(step)
    }

    fn note_closer(&mut self, from: TcpState, event: Event, step: &Step) {
        if from == TcpState::FinWait1 && event == Event::RcvFin {
            // The peer's FIN does not cover ours: the FINs crossed.
            self.closer = Some(Closer::Simultaneous);
        } else if self.closer.is_none() {
            if step.send == Some(Segment::Fin) {
                self.closer = Some(Closer::Local);
            } else if event.is_fin() {
                self.closer = Some(Closer::Remote);
            }
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next: the end of
    /// TIME-WAIT, or `None` when no timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.time_wait_until
    }

    /// Ends TIME-WAIT if its deadline has come: at `now >= deadline` the
    /// connection goes to CLOSED and the step is returned; before, and in any
    /// other state, nothing changes and `None` is returned.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Step> {
        let deadline = self.time_wait_until?;
        if self.state() != TcpState::TimeWait || now < deadline {
            return None;
        }
        self.apply(Event::TimeWaitTimeout, now).ok()
    }
}

/// The slot of `state` in the history array, in the order of [`TcpState::ALL`].
fn index(state: TcpState) -> usize {
    state as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "192.0.2.1:40000".parse().unwrap(),
            "198.51.100.7:80".parse().unwrap(),
        )
    }

    fn established(now: Instant) -> TrackedConnection {
        let (local, remote) = addrs();
        TrackedConnection::established(local, remote, Open::Active, now)
    }

    fn apply_all(conn: &mut TrackedConnection, events: &[Event], now: Instant) {
        for &event in events {
            conn.apply(event, now).unwrap();
        }
    }

    // TIME_WAIT lasts exactly the configured length: still there 1 ms before.
    #[tokio::test(start_paused = true)]
    async fn time_wait_ends_exactly_at_sixty_seconds_not_a_millisecond_earlier() {
        let start = tokio::time::Instant::now().into_std();
        let mut conn = established(start);
        apply_all(
            &mut conn,
            &[Event::Close, Event::RcvAck, Event::RcvFin],
            start,
        );
        assert_eq!(conn.state(), TcpState::TimeWait);
        assert_eq!(
            conn.time_wait_until(),
            Some(start + Duration::from_secs(60))
        );
        assert_eq!(conn.poll_timeout(), conn.time_wait_until());

        tokio::time::advance(Duration::from_millis(59_999)).await;
        let almost = tokio::time::Instant::now().into_std();
        assert_eq!(conn.handle_timeout(almost), None);
        assert_eq!(conn.state(), TcpState::TimeWait);

        tokio::time::advance(Duration::from_millis(1)).await;
        let end = tokio::time::Instant::now().into_std();
        let step = conn.handle_timeout(end).unwrap();
        assert_eq!(step.next, TcpState::Closed);
        assert_eq!(step.time_wait, TimeWaitTimer::Stop);
        assert_eq!(conn.state(), TcpState::Closed);
        assert_eq!(conn.time_wait_until(), None);
        assert_eq!(conn.poll_timeout(), None);
        assert_eq!(conn.entered(TcpState::Closed), Some(end));
    }

    // The peer's FIN again in TIME_WAIT: acknowledged, and 2MSL counts from it.
    #[tokio::test(start_paused = true)]
    async fn a_retransmitted_fin_in_time_wait_restarts_the_deadline() {
        let start = tokio::time::Instant::now().into_std();
        let mut conn = established(start);
        apply_all(&mut conn, &[Event::Close, Event::RcvFinAck], start);
        assert_eq!(
            conn.time_wait_until(),
            Some(start + Duration::from_secs(60))
        );

        tokio::time::advance(Duration::from_secs(45)).await;
        let again = tokio::time::Instant::now().into_std();
        let step = conn.apply(Event::RcvFin, again).unwrap();
        assert_eq!(step.send, Some(Segment::Ack));
        assert_eq!(step.time_wait, TimeWaitTimer::Restart);
        let restarted = again + Duration::from_secs(60);
        assert_eq!(conn.time_wait_until(), Some(restarted));
        // The entry instant is unchanged: a restart is not a new entry.
        assert_eq!(conn.entered(TcpState::TimeWait), Some(start));

        // The old deadline passes without effect; the new one ends it.
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(
            conn.handle_timeout(tokio::time::Instant::now().into_std()),
            None
        );
        assert_eq!(conn.state(), TcpState::TimeWait);
        tokio::time::advance(Duration::from_secs(45)).await;
        assert!(
            conn.handle_timeout(tokio::time::Instant::now().into_std())
                .is_some()
        );
        assert_eq!(conn.state(), TcpState::Closed);
    }

    #[test]
    fn a_restart_with_an_earlier_now_never_moves_the_deadline_back() {
        let start = Instant::now();
        let mut conn = established(start);
        let later = start + Duration::from_secs(10);
        apply_all(&mut conn, &[Event::Close, Event::RcvFinAck], later);
        conn.apply(Event::RcvFin, start).unwrap();
        assert_eq!(
            conn.time_wait_until(),
            Some(later + Duration::from_secs(60))
        );
    }

    #[test]
    fn the_time_wait_length_is_configurable() {
        let start = Instant::now();
        let mut conn = established(start).with_time_wait(Duration::from_secs(240));
        apply_all(&mut conn, &[Event::Close, Event::RcvFinAck], start);
        assert_eq!(
            conn.time_wait_until(),
            Some(start + Duration::from_secs(240))
        );
        assert_eq!(conn.handle_timeout(start + Duration::from_secs(60)), None);
    }

    #[test]
    fn an_unrepresentable_deadline_keeps_time_wait_until_a_rst() {
        let start = Instant::now();
        let mut conn = established(start).with_time_wait(Duration::MAX);
        apply_all(
            &mut conn,
            &[Event::Close, Event::RcvFinAck, Event::RcvFin],
            start,
        );
        assert_eq!(conn.state(), TcpState::TimeWait);
        assert_eq!(conn.poll_timeout(), None);
        conn.apply(Event::RcvRst, start).unwrap();
        assert_eq!(conn.state(), TcpState::Closed);
    }

    // Note 1 of the RFC 9293 diagram, applied by the connection's machine.
    #[test]
    fn a_rst_in_syn_received_after_a_passive_open_returns_to_listen() {
        let (local, remote) = addrs();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(5);
        let mut server = TrackedConnection::new(local, remote, t0);
        apply_all(&mut server, &[Event::PassiveOpen, Event::RcvSyn], t0);
        let step = server.apply(Event::RcvRst, t1).unwrap();
        assert_eq!(step.next, TcpState::Listen);
        assert_eq!(server.state(), TcpState::Listen);
        assert_eq!(server.opened(), Some(Open::Passive));
        assert_eq!(server.entered(TcpState::Listen), Some(t1));
        assert_eq!(server.last_transition(), t1);

        // The same RST after an active (simultaneous) open closes instead.
        let mut client = TrackedConnection::new(local, remote, t0);
        apply_all(
            &mut client,
            &[Event::ActiveOpen, Event::RcvSyn, Event::RcvRst],
            t0,
        );
        assert_eq!(client.state(), TcpState::Closed);
    }

    #[test]
    fn the_active_closer_is_local_and_lands_in_time_wait() {
        let now = Instant::now();
        let mut conn = established(now);
        assert_eq!(conn.closer(), None);
        conn.apply(Event::Close, now).unwrap();
        assert_eq!(conn.closer(), Some(Closer::Local));
        apply_all(&mut conn, &[Event::RcvAck, Event::RcvFin], now);
        assert_eq!(conn.state(), TcpState::TimeWait);
        assert_eq!(conn.closer(), Some(Closer::Local));
    }

    #[test]
    fn the_passive_closer_sees_a_remote_close_and_no_time_wait() {
        let now = Instant::now();
        let mut conn = established(now);
        conn.apply(Event::RcvFin, now).unwrap();
        assert_eq!(conn.closer(), Some(Closer::Remote));
        assert_eq!(conn.state(), TcpState::CloseWait);
        // Our own FIN afterwards does not make us the closer.
        let step = conn.apply(Event::Close, now).unwrap();
        assert_eq!(step.send, Some(Segment::Fin));
        assert_eq!(conn.closer(), Some(Closer::Remote));
        conn.apply(Event::RcvAck, now).unwrap();
        assert_eq!(conn.state(), TcpState::Closed);
        assert_eq!(conn.entered(TcpState::TimeWait), None);
        assert_eq!(conn.poll_timeout(), None);
    }

    #[test]
    fn crossing_fins_are_a_simultaneous_close_through_closing_into_time_wait() {
        let now = Instant::now();
        let mut conn = established(now);
        apply_all(&mut conn, &[Event::Close, Event::RcvFin], now);
        assert_eq!(conn.state(), TcpState::Closing);
        assert_eq!(conn.closer(), Some(Closer::Simultaneous));
        conn.apply(Event::RcvAck, now).unwrap();
        assert_eq!(conn.state(), TcpState::TimeWait);
        assert_eq!(conn.closer(), Some(Closer::Simultaneous));
    }

    #[test]
    fn an_invalid_event_leaves_the_connection_unchanged() {
        let start = Instant::now();
        let mut conn = established(start);
        apply_all(&mut conn, &[Event::Close, Event::RcvFinAck], start);
        let before = conn.clone();
        let err = conn
            .apply(Event::RcvSynAck, start + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(
            (err.state, err.event),
            (TcpState::TimeWait, Event::RcvSynAck)
        );
        assert_eq!(conn, before);
    }

    #[test]
    fn reopening_from_closed_starts_a_new_incarnation_with_no_closer() {
        let now = Instant::now();
        let mut conn = established(now);
        apply_all(
            &mut conn,
            &[Event::RcvFin, Event::Close, Event::RcvAck],
            now,
        );
        assert_eq!(conn.closer(), Some(Closer::Remote));
        conn.apply(Event::ActiveOpen, now).unwrap();
        assert_eq!(conn.closer(), None);
        assert_eq!(conn.opened(), Some(Open::Active));
    }

    #[test]
    fn each_state_has_its_own_history_slot() {
        for (i, state) in TcpState::ALL.into_iter().enumerate() {
            assert_eq!(index(state), i);
        }
    }

    #[test]
    fn the_history_keeps_when_each_state_was_entered() {
        let (local, remote) = addrs();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut conn = TrackedConnection::new(local, remote, t0);
        conn.apply(Event::ActiveOpen, at(1)).unwrap();
        conn.apply(Event::RcvSynAck, at(2)).unwrap();
        // An event that keeps the state is not a transition.
        conn.apply(Event::RcvAck, at(3)).unwrap();
        assert_eq!(conn.entered(TcpState::Closed), Some(t0));
        assert_eq!(conn.entered(TcpState::SynSent), Some(at(1)));
        assert_eq!(conn.entered(TcpState::Established), Some(at(2)));
        assert_eq!(conn.entered(TcpState::Listen), None);
        assert_eq!(conn.last_transition(), at(2));
        assert_eq!((conn.local(), conn.remote()), (local, remote));
    }
}
