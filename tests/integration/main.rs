//! The integration tests: one binary, one module per topic.

mod catalog;
mod worker;
