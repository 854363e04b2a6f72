//! The integration tests: one binary, one module per topic.

mod catalog;
mod jwt;
mod sim;
mod syntax;
mod traffic;
mod wasm;
mod worker;
