//! The claims schema (the policy's `claims` blocks and the stdlib modules it `use`s) and the stdlib itself.

use std::sync::OnceLock;

use super::Cx;
use super::diag::Diagnostic;
use crate::input::{ClaimDecl, ClaimType};
use crate::syntax::ast::{self, Span, TypeExpr};
use crate::syntax::fuzzy::suggest;

/// The stdlib modules, embedded at build time: `(name, source)`.
pub const STDLIB: &[(&str, &str)] = &[
    ("backstage", include_str!("../../stdlib/backstage.ward")),
    (
        "cloudflare_access",
        include_str!("../../stdlib/cloudflare_access.ward"),
    ),
    ("entra", include_str!("../../stdlib/entra.ward")),
    ("google", include_str!("../../stdlib/google.ward")),
    ("okta", include_str!("../../stdlib/okta.ward")),
];

/// The parsed stdlib, parsed once.
pub(crate) fn stdlib() -> &'static [(&'static str, ast::File)] {
    static PARSED: OnceLock<Vec<(&'static str, ast::File)>> = OnceLock::new();
    PARSED.get_or_init(|| {
        STDLIB
            .iter()
            .map(|(name, src)| (*name, crate::syntax::parse(src).0))
            .collect()
    })
}

/// One declared claim and where it was declared.
#[derive(Debug, Clone)]
pub(crate) struct Declared {
    pub decl: ClaimDecl,
    /// In the policy; `None` for a stdlib declaration.
    pub span: Option<Span>,
    pub module: Option<&'static str>,
}

/// The claims schema, in declaration order.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    pub claims: Vec<Declared>,
}

impl Schema {
    pub fn get(&self, name: &str) -> Option<&Declared> {
        self.claims.iter().find(|c| c.decl.name == name)
    }

    pub fn decls(&self) -> Vec<ClaimDecl> {
        self.claims.iter().map(|c| c.decl.clone()).collect()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.claims.iter().map(|c| c.decl.name.as_str())
    }

    /// Declares a `claims` block's fields.
    pub fn declare_block(
        &mut self,
        block: &ast::ClaimsBlock,
        module: Option<&'static str>,
        diags: &mut Vec<Diagnostic>,
    ) {
        for field in &block.fields {
            let Some((ty, optional)) = claim_type(&field.ty, diags, module.is_none()) else {
                continue;
            };
            let name = field.name.name.clone();
            let span = module.is_none().then_some(field.name.span);
            if let Some(prev) = self.get(&name) {
                if prev.decl.ty != ty || prev.decl.optional != optional {
                    let mut d = Diagnostic::error(
                        "edgeward::claim_conflict",
                        span.or(prev.span).unwrap_or_default(),
                        format!(
                            "claim `{name}` is declared as `{}` and as `{}`",
                            spell(prev.decl.ty, prev.decl.optional),
                            spell(ty, optional)
                        ),
                    )
                    .label("declared again with another type");
                    d = match (prev.module, module) {
                        (Some(m), _) => d.help(format!(
                            "`std::{m}` declares `{name}: {}`",
                            spell(prev.decl.ty, prev.decl.optional)
                        )),
                        (None, Some(m)) => d.help(format!(
                            "`std::{m}` declares `{name}: {}`",
                            spell(ty, optional)
                        )),
                        (None, None) => d,
                    };
                    if let (Some(p), Some(_)) = (prev.span, span) {
                        d = d.related(p, "first declared here");
                    }
                    diags.push(d);
                }
                continue;
            }
            self.claims.push(Declared {
                decl: ClaimDecl { name, ty, optional },
                span,
                module,
            });
        }
    }
}

/// How a claim type is written.
pub(crate) fn spell(ty: ClaimType, optional: bool) -> String {
    let base = match ty {
        ClaimType::String => "string",
        ClaimType::Int => "int",
        ClaimType::Bool => "bool",
        ClaimType::Time => "time",
        ClaimType::Set => "set<string>",
    };
    if optional {
        format!("{base}?")
    } else {
        base.to_string()
    }
}

const CLAIM_TYPES: &[&str] = &["string", "int", "bool", "time", "set<string>"];

/// The claim type other languages' names for it stand for.
fn alias(written: &str) -> Option<&'static str> {
    Some(match written {
        "boolean" | "Bool" | "Boolean" => "bool",
        "integer" | "number" | "i64" | "Int" | "Integer" => "int",
        "str" | "String" | "text" => "string",
        "timestamp" | "datetime" | "Time" => "time",
        "set" | "list" | "array" => "set<string>",
        _ => return None,
    })
}

fn claim_type(
    t: &TypeExpr,
    diags: &mut Vec<Diagnostic>,
    report: bool,
) -> Option<(ClaimType, bool)> {
    let (inner, optional) = match t {
        TypeExpr::Optional(inner, _) => (inner.as_ref(), true),
        other => (other, false),
    };
    let ty = match inner {
        TypeExpr::Named(id) => match id.name.as_str() {
            "string" => Some(ClaimType::String),
            "int" => Some(ClaimType::Int),
            "bool" => Some(ClaimType::Bool),
            "time" => Some(ClaimType::Time),
            _ => None,
        },
        TypeExpr::Set(elem, _) => match elem.as_ref() {
            TypeExpr::Named(id) if id.name == "string" => Some(ClaimType::Set),
            _ => None,
        },
        TypeExpr::Optional(..) => None,
    };
    if ty.is_none() && report {
        let written = type_text(inner);
        diags.push(
            Diagnostic::error(
                "edgeward::bad_claim_type",
                t.span(),
                format!("a claim cannot be of type `{written}`"),
            )
            .label("not a claim type")
            .help(
                match alias(&written).or_else(|| suggest(&written, CLAIM_TYPES.iter().copied())) {
                    Some(s) => format!("did you mean `{s}`? claims are {}", CLAIM_TYPES.join(", ")),
                    None => format!(
                        "claims are {} (add `?` for an optional claim)",
                        CLAIM_TYPES.join(", ")
                    ),
                },
            ),
        );
    }
    ty.map(|t| (t, optional))
}

impl<'a, 'f> Cx<'a, 'f> {
    /// `use std::MODULE`: declares its claims and roles.
    pub(crate) fn use_module(&mut self, u: &ast::UseDecl) {
        let names: Vec<&str> = u.path.iter().map(|i| i.name.as_str()).collect();
        let module = match names.as_slice() {
            ["std", m] => *m,
            _ => {
                self.emit(
                    Diagnostic::error(
                        "edgeward::unknown_module",
                        u.span,
                        "only stdlib modules can be used",
                    )
                    .label("not `std::MODULE`")
                    .help(format!(
                        "write `use std::MODULE`, one of {}",
                        STDLIB
                            .iter()
                            .map(|(n, _)| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                return;
            }
        };
        let Some((name, file)) = stdlib().iter().find(|(n, _)| *n == module) else {
            let span = u.path.last().map_or(u.span, |i| i.span);
            self.emit(
                Diagnostic::error(
                    "edgeward::unknown_module",
                    span,
                    format!("no stdlib module `{module}`"),
                )
                .label("not in stdlib/")
                .help(match suggest(module, STDLIB.iter().map(|(n, _)| *n)) {
                    Some(s) => format!("did you mean `std::{s}`?"),
                    None => format!(
                        "the stdlib has {}",
                        STDLIB
                            .iter()
                            .map(|(n, _)| format!("`std::{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            );
            return;
        };
        let mut diags = Vec::new();
        for item in &file.items {
            match item {
                ast::Item::Claims(c) => {
                    self.schema.declare_block(c, Some(name), &mut diags);
                }
                ast::Item::Role(r) if !self.roles.contains_key(&r.name.name) => {
                    self.define_role(r, Some(name));
                }
                _ => {}
            }
        }
        // Conflicts with stdlib declarations point at the `use`.
        for d in diags {
            let span = if d.span.is_empty() { u.span } else { d.span };
            self.emit(Diagnostic { span, ..d });
        }
    }
}

/// A type as written (`set<set<string>>`, `string?`), for messages; a loop, not a recursion, so
/// that no nesting depth can exhaust the stack.
fn type_text(mut t: &TypeExpr) -> String {
    let mut closing = Vec::new();
    let mut text = String::new();
    loop {
        match t {
            TypeExpr::Named(id) => {
                text.push_str(&id.name);
                break;
            }
            TypeExpr::Set(elem, _) => {
                text.push_str("set<");
                closing.push(">");
                t = elem;
            }
            TypeExpr::Optional(inner, _) => {
                closing.push("?");
                t = inner;
            }
        }
    }
    text.extend(closing.into_iter().rev());
    text
}
