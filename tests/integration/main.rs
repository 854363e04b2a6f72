//! The integration tests: one binary, one module per topic.

mod catalog;
mod jwt;
mod traffic;
mod worker;
