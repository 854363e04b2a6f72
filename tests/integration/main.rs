//! Integration tests: one binary, one module per topic.

mod jwt;
mod traffic;
