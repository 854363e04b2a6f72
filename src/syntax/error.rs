//! Syntax errors: what went wrong, the exact text it is about, and how to fix it.

use std::fmt;

use super::ast::Span;

/// What kind of syntax error; each kind has its own diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyntaxErrorKind {
    /// Something other than what the grammar allows here.
    Unexpected,
    /// A word where an item, rule or test line keyword was expected.
    UnknownKeyword,
    /// `=` where a comparison was expected.
    UseDoubleEquals,
    /// A `{`, `(` or `[` that is never closed.
    UnclosedBrace,
    /// A string literal without its closing quote.
    UnclosedString,
    /// A `\` escape that strings do not support.
    BadEscape,
    /// Digits running into letters that are not a duration unit, or a duration too large.
    BadDuration,
    /// An integer too large.
    BadNumber,
    /// A malformed entity ref.
    BadRef,
    /// A method that is not written in uppercase.
    BadMethod,
    /// Brackets or operators nested too deeply.
    TooDeep,
}

impl SyntaxErrorKind {
    /// The diagnostic code, e.g. `edgeward::syntax::unexpected`.
    pub fn code(self) -> &'static str {
        match self {
            SyntaxErrorKind::Unexpected => "edgeward::syntax::unexpected",
            SyntaxErrorKind::UnknownKeyword => "edgeward::syntax::unknown_keyword",
            SyntaxErrorKind::UseDoubleEquals => "edgeward::syntax::use_double_equals",
            SyntaxErrorKind::UnclosedBrace => "edgeward::syntax::unclosed_brace",
            SyntaxErrorKind::UnclosedString => "edgeward::syntax::unclosed_string",
            SyntaxErrorKind::BadEscape => "edgeward::syntax::bad_escape",
            SyntaxErrorKind::BadDuration => "edgeward::syntax::bad_duration",
            SyntaxErrorKind::BadNumber => "edgeward::syntax::bad_number",
            SyntaxErrorKind::BadRef => "edgeward::syntax::bad_ref",
            SyntaxErrorKind::BadMethod => "edgeward::syntax::bad_method",
            SyntaxErrorKind::TooDeep => "edgeward::syntax::too_deep",
        }
    }
}

/// One syntax error. The message is lowercase with user text in backticks; `span` is
/// the exact offending text (byte offsets into the parsed source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    pub message: String,
    pub span: Span,
    /// The text of the label under `span`.
    pub label: String,
    pub help: Option<String>,
    /// A second place worth pointing at, e.g. the `{` that a missing `}` should close.
    pub related: Option<(Span, String)>,
}

impl SyntaxError {
    pub(super) fn new(
        kind: SyntaxErrorKind,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        SyntaxError {
            kind,
            message: message.into(),
            span,
            label: label.into(),
            help: None,
            related: None,
        }
    }

    pub(super) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub(super) fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related = Some((span, label.into()));
        self
    }
}

impl miette::Diagnostic for SyntaxError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary =
            miette::LabeledSpan::new_primary_with_span(Some(self.label.clone()), self.span);
        let related = self
            .related
            .as_ref()
            .map(|(span, label)| miette::LabeledSpan::new_with_span(Some(label.clone()), *span));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}
