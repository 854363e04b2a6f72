//! The integration tests: one binary, one module per topic.

mod catalog;
mod check;
mod interp;
mod jwt;
mod syntax;
mod traffic;
mod worker;
