//! The front end: `.ward` source text to a spanned AST, and the formatter.

pub mod ast;
mod build;
mod error;
mod format;
pub mod fuzzy;
mod grammar;
mod lex;
mod parser;
mod spans;

pub use error::{SyntaxError, SyntaxErrorKind};
pub use format::format;
pub use fuzzy::suggest;
pub use parser::{MAX_EXPR_DEPTH, MAX_NESTING, parse};
pub use spans::strip_spans;
