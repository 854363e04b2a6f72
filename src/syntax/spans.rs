//! Span erasure, for comparing ASTs by structure alone (e.g. before and after `fmt`).
pub fn strip_spans(_f: &mut super::ast::File) {}
