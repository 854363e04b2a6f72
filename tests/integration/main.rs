//! The integration tests: one binary, one module per topic.

mod build;
mod catalog;
mod demo;
mod differential;
mod examples;
mod jwt;
mod optimise;
mod readme;
mod sim;
mod syntax;
mod traffic;
mod wasm;
mod worker;
