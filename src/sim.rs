//! The simulator: recorded traffic readers, replay, what-if diff and reports.

pub mod traffic;
