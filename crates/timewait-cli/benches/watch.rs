//! The watch benchmark (written next).

fn main() {}
