//! The integration test binary: one module per topic.

mod syntax;
