//! The checker's diagnostics: one code per kind of problem, a label on the exact text, and a fix.

use std::fmt;

use miette::{LabeledSpan, Severity};

use crate::syntax::ast::Span;

/// Whether a diagnostic stops compilation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
}

/// Every diagnostic code the checker emits, with its meaning.
pub const CODES: &[(&str, Level, &str)] = &[
    (
        "edgeward::unknown_module",
        Level::Error,
        "`use` names a module stdlib/ lacks",
    ),
    (
        "edgeward::claim_conflict",
        Level::Error,
        "two declarations of one claim disagree on its type",
    ),
    (
        "edgeward::bad_claim_type",
        Level::Error,
        "a claim type that tokens cannot carry",
    ),
    (
        "edgeward::duplicate_item",
        Level::Error,
        "a second `policy`, `principal` or `service` item, or a role defined twice",
    ),
    (
        "edgeward::unknown_claim",
        Level::Error,
        "a claim the schema does not declare",
    ),
    (
        "edgeward::unguarded_optional",
        Level::Error,
        "an optional value read without a `has` guard",
    ),
    (
        "edgeward::unknown_name",
        Level::Error,
        "a name that is no role, parameter or root",
    ),
    (
        "edgeward::unknown_field",
        Level::Error,
        "a field the value does not have",
    ),
    (
        "edgeward::unknown_param",
        Level::Error,
        "a `params.NAME` the route path lacks",
    ),
    (
        "edgeward::unknown_ref",
        Level::Error,
        "an entity ref the catalog does not hold",
    ),
    (
        "edgeward::bad_ref",
        Level::Error,
        "an entity ref that is not well formed",
    ),
    (
        "edgeward::type_mismatch",
        Level::Error,
        "an operator applied to values of the wrong types",
    ),
    (
        "edgeward::bad_literal",
        Level::Error,
        "a time, ip or duration literal that does not parse",
    ),
    (
        "edgeward::role_arity",
        Level::Error,
        "a role called with the wrong number or kind of arguments",
    ),
    (
        "edgeward::recursive_role",
        Level::Error,
        "a role that calls itself",
    ),
    (
        "edgeward::no_target",
        Level::Error,
        "`target` read where the route has none",
    ),
    (
        "edgeward::unknown_method",
        Level::Error,
        "a method that is not an HTTP method",
    ),
    (
        "edgeward::bad_path",
        Level::Error,
        "a route path that is not well formed",
    ),
    (
        "edgeward::role_too_large",
        Level::Error,
        "a role nesting too many roles deep, or expanding (where it is used) to too many expressions",
    ),
    (
        "edgeward::unmatchable_path",
        Level::Warning,
        "a route path segment no request's path holds (a dot segment, or text URL parsing percent-encodes)",
    ),
    (
        "edgeward::template_param",
        Level::Error,
        "an entity template naming a param the path lacks",
    ),
    (
        "edgeward::ambiguous_route",
        Level::Error,
        "two routes that match the same requests equally specifically",
    ),
    (
        "edgeward::duplicate_rule",
        Level::Error,
        "two rules of one route share a name",
    ),
    (
        "edgeward::bad_binding",
        Level::Error,
        "a principal or service binding that cannot be resolved",
    ),
    (
        "edgeward::bad_test",
        Level::Error,
        "a test block that cannot run",
    ),
    (
        "edgeward::no_catalog",
        Level::Warning,
        "entity refs not checked: no catalog given",
    ),
    (
        "edgeward::never_holds",
        Level::Warning,
        "a rule whose condition is always false",
    ),
    (
        "edgeward::shadowed_allow",
        Level::Warning,
        "an allow that an unconditional deny always beats",
    ),
    (
        "edgeward::unused_role",
        Level::Warning,
        "a role no rule uses",
    ),
    (
        "edgeward::no_allow",
        Level::Warning,
        "a route that can only deny",
    ),
    (
        "edgeward::no_principal_binding",
        Level::Warning,
        "`principal` read in a policy with no `principal =` binding",
    ),
    (
        "edgeward::ambiguous_binding",
        Level::Warning,
        "a catalog value several entities share: it binds no one",
    ),
    (
        "edgeward::missing_field",
        Level::Warning,
        "a field some possible targets lack: reading it errs for them",
    ),
];

/// One diagnostic of the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub level: Level,
    pub message: String,
    pub span: Span,
    pub label: String,
    pub help: Option<String>,
    /// Further labelled places (e.g. the other of two ambiguous routes).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            level: Level::Error,
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            level: Level::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<Severity> {
        Some(match self.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let main = LabeledSpan::new_primary_with_span(
            (!self.label.is_empty()).then(|| self.label.clone()),
            self.span,
        );
        let rest = self
            .related
            .iter()
            .map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), *s));
        Some(Box::new(std::iter::once(main).chain(rest)))
    }
}
