//! `timewait plan`: the port arithmetic of a connection rate, made a tool.
//!
//! [`PlanInput`] holds every figure the answer depends on, each taken from a
//! flag or read from the kernel ([`input`]); [`Plan::compute`] is pure
//! integer arithmetic over it ([`model`]); [`render`] prints it. With Linux's
//! defaults and a client that closes first, one destination sustains
//! 28,232 ports ÷ 60 s ≈ 470 new connections per second.

pub mod input;
pub mod model;
pub mod render;

pub use input::{PlanInput, Provenance, Sourced};
pub use model::{Fixes, Plan, PortRangeFix, Side};
