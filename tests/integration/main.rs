//! The integration tests: one binary, one module per topic.

mod catalog;
mod differential;
mod jwt;
mod syntax;
mod traffic;
mod wasm;
mod worker;
mod worker_e2e;
