//! Where one response ends, in frames.

/// Says which decoded frame ends a response, so that a [`FramedLease`]
/// knows when the responses a request owes have all arrived.
///
/// Most protocols answer a request with one frame ([`EveryFrame`], the
/// default). Some answer with several: PostgreSQL's simple query is
/// answered by rows, a `CommandComplete` per statement, and at last
/// `ReadyForQuery`, which ends the response. Any `FnMut(&Item) -> bool` is
/// a boundary.
///
/// ```
/// use timewait_pool::framed::Boundary;
///
/// /// A line protocol whose answers end with a line `.`.
/// let mut dot = |line: &String| line == ".";
/// assert!(!dot.ends_response(&"a row".to_owned()));
/// assert!(dot.ends_response(&".".to_owned()));
/// ```
///
/// [`FramedLease`]: crate::framed::FramedLease
pub trait Boundary<Item> {
    /// Whether `frame`, just decoded, is the last frame of a response.
    fn ends_response(&mut self, frame: &Item) -> bool;
}

/// Every frame is a whole response: the default [`Boundary`].
///
/// ```
/// use timewait_pool::framed::{Boundary, EveryFrame};
/// assert!(EveryFrame.ends_response(&"PONG"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EveryFrame;

impl<Item> Boundary<Item> for EveryFrame {
    fn ends_response(&mut self, _frame: &Item) -> bool {
        true
    }
}

impl<Item, F> Boundary<Item> for F
where
    F: FnMut(&Item) -> bool,
{
    fn ends_response(&mut self, frame: &Item) -> bool {
        self(frame)
    }
}
