//! The integration tests: one binary, one module per topic.

mod build;
mod catalog;
mod check;
mod demo;
mod differential;
mod examples;
mod interp;
mod jwt;
mod optimise;
mod output;
mod readme;
mod sim;
mod stdlib;
mod syntax;
mod traffic;
mod wasm;
mod worker;
mod worker_e2e;
