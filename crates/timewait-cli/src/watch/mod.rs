//! `timewait watch`: per destination, how fast this host's TIME_WAIT grows
//! and when `connect()` will start failing; per listening port, who holds
//! its TIME_WAIT.
//!
//! [`view`] builds one view from two snapshots (pure), [`render`] prints
//! it, and [`run`] (Linux) takes the snapshots every `--interval` until
//! Ctrl-C.

pub mod render;
#[cfg(target_os = "linux")]
pub mod run;
pub mod view;

pub use view::{DestinationRow, ListenRow, WatchView};
