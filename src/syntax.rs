//! The front end: `.ward` source text to a spanned AST, and the formatter.

pub mod ast;
