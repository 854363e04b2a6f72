//! Test blocks (§7.11): each becomes a request with claims and an expected outcome.

use super::Cx;
use super::diag::Diagnostic;
use crate::input::{ClaimType, ClaimValue, Claims, Request};
use crate::ir::{Expectation, SlotSource, Test};
use crate::syntax::ast::{self, ExprKind, TestLine};
use crate::syntax::fuzzy::suggest;

/// The outcome names a test may expect (§3).
const OUTCOMES: &[&str] = &[
    "allow",
    "deny",
    "require",
    "default",
    "no_route",
    "unknown_target",
    "bad_input",
];

impl<'a, 'f> Cx<'a, 'f> {
    pub(crate) fn test_block(&mut self, t: &ast::TestBlock) {
        let mut request: Option<(String, String, String)> = None;
        let mut claims = Claims::new();
        let mut time: Option<i64> = None;
        let mut has_at_line = false;
        let mut has_request_line = false;
        // claims the test writes, whether or not their values checked
        let mut written = std::collections::BTreeSet::new();
        let mut ip = None;
        let mut country = None;
        let mut expect: Option<Expectation> = None;
        let mut ok = true;
        for line in &t.lines {
            match line {
                TestLine::Request { method, url, .. } => {
                    has_request_line = true;
                    if !super::routes::METHODS.contains(&method.name.as_str()) {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::bad_test",
                                method.span,
                                format!("`{}` is not an HTTP method", method.name),
                            )
                            .label("unknown method")
                            .maybe_help(
                                suggest(
                                    &method.name.to_uppercase(),
                                    super::routes::METHODS.iter().copied(),
                                )
                                .map(|s| format!("did you mean `{s}`?")),
                            ),
                        );
                        ok = false;
                    }
                    match url::Url::parse(&url.value) {
                        Ok(u)
                            if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() =>
                        {
                            let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
                            request = Some((
                                method.name.clone(),
                                host,
                                crate::input::url_path(&url.value),
                            ));
                        }
                        _ => {
                            self.emit(
                                Diagnostic::error("edgeward::bad_test", url.span, format!("`{}` is not an absolute http(s) URL", url.value))
                                    .label("not a URL")
                                    .help("write the whole URL: `\"https://payments.acme.dev/api/v1/payments/42\"`"),
                            );
                            ok = false;
                        }
                    }
                }
                TestLine::Claims { fields, .. } => {
                    for (name, value) in fields {
                        written.insert(name.name.clone());
                        match self.test_claim(name, value) {
                            Some(v) => {
                                claims.insert(name.name.clone(), v);
                            }
                            None => ok = false,
                        }
                    }
                }
                TestLine::At { time: lit, .. } => {
                    has_at_line = true;
                    match crate::input::parse_rfc3339(&lit.value) {
                        Some(v) => time = Some(v),
                        None => {
                            self.emit(
                                Diagnostic::error(
                                    "edgeward::bad_literal",
                                    lit.span,
                                    format!("`{}` is not an RFC 3339 time", lit.value),
                                )
                                .label("not a time")
                                .help("write a time like `at time \"2026-11-28T10:00:00Z\"`"),
                            );
                            ok = false;
                        }
                    }
                }
                TestLine::Ip { addr, .. } => match addr.value.parse::<std::net::IpAddr>() {
                    Ok(a) => ip = Some(a),
                    Err(_) => {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::bad_literal",
                                addr.span,
                                format!("`{}` is not an ip address", addr.value),
                            )
                            .label("not an address"),
                        );
                        ok = false;
                    }
                },
                TestLine::Country { country: c, .. } => country = Some(c.value.clone()),
                TestLine::Expect { outcome, by, span } => {
                    let name = outcome.name.as_str();
                    let e = match (name, by) {
                        ("allow", b) => {
                            Some(Expectation::Allow(b.as_ref().map(|b| b.name.clone())))
                        }
                        ("deny", b) => Some(Expectation::Deny(b.as_ref().map(|b| b.name.clone()))),
                        (o, None) if OUTCOMES.contains(&o) => {
                            Some(Expectation::Outcome(o.to_string()))
                        }
                        (o, Some(b)) if OUTCOMES.contains(&o) => {
                            self.emit(
                                Diagnostic::error(
                                    "edgeward::bad_test",
                                    b.span,
                                    format!(
                                        "`by` goes with `expect allow` or `expect deny`, not `{o}`"
                                    ),
                                )
                                .label("`by` here")
                                .help(format!("write `expect deny by {}`", b.name)),
                            );
                            None
                        }
                        (o, _) => {
                            self.emit(
                                Diagnostic::error(
                                    "edgeward::bad_test",
                                    outcome.span,
                                    format!("`{o}` is not an outcome"),
                                )
                                .label("unknown outcome")
                                .help(
                                    match suggest(o, OUTCOMES.iter().copied()) {
                                        Some(s) => format!("did you mean `{s}`?"),
                                        None => format!("outcomes are {}", OUTCOMES.join(", ")),
                                    },
                                ),
                            );
                            None
                        }
                    };
                    // (`by` after another outcome was reported above)
                    if let Some(b) = by
                        && matches!(e, Some(Expectation::Allow(_) | Expectation::Deny(_)))
                        && !self.program.rules.iter().any(|r| r.name == b.name)
                    {
                        let names: Vec<String> =
                            self.program.rules.iter().map(|r| r.name.clone()).collect();
                        self.emit(
                            Diagnostic::error(
                                "edgeward::bad_test",
                                b.span,
                                format!("no rule is named `{}`", b.name),
                            )
                            .label("unknown rule")
                            .maybe_help(
                                suggest(&b.name, names.iter().map(String::as_str))
                                    .map(|s| format!("did you mean `{s}`?")),
                            ),
                        );
                        ok = false;
                    }
                    if expect.is_some() {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::bad_test",
                                *span,
                                "a test has one `expect`",
                            )
                            .label("second `expect`"),
                        );
                        ok = false;
                    }
                    match e {
                        Some(e) => expect = Some(e),
                        None => ok = false,
                    }
                }
            }
        }
        let Some((method, host, path)) = request else {
            if has_request_line {
                // the `request` line is there but did not check: reported already
                return;
            }
            self.emit(
                Diagnostic::error(
                    "edgeward::bad_test",
                    t.name.span,
                    "this test has no `request` line",
                )
                .label("no request")
                .help("add `request GET \"https://host/path\"`"),
            );
            return;
        };
        let Some(expect) = expect else {
            if ok {
                self.emit(
                    Diagnostic::error(
                        "edgeward::bad_test",
                        t.name.span,
                        "this test has no `expect` line",
                    )
                    .label("nothing expected")
                    .help("add `expect allow`, `expect deny by NAME` or `expect OUTCOME`"),
                );
            }
            return;
        };
        // So that the interpreter and the module run the test alike (§7.11).
        // (an `at time` that did not parse was reported already)
        if self.reads_time && !has_at_line {
            self.emit(
                Diagnostic::error(
                    "edgeward::bad_test",
                    t.name.span,
                    "the policy reads `request.time`: this test needs `at time`",
                )
                .label("no `at time`")
                .help("add `at time \"2026-11-28T10:00:00Z\"`"),
            );
            ok = false;
        }
        let missing: Vec<String> = self
            .program
            .slots
            .iter()
            .filter_map(|s| match &s.source {
                SlotSource::Claim(c) if !s.optional && !written.contains(c) => Some(c.clone()),
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            self.emit(
                Diagnostic::error(
                    "edgeward::bad_test",
                    t.name.span,
                    format!(
                        "the policy reads required claim `{}`: the test must give it",
                        missing.join("`, `")
                    ),
                )
                .label("claim left out")
                .help("add it to the test's `claims { ... }`"),
            );
            ok = false;
        }
        if ok {
            self.program.tests.push(Test {
                name: t.name.value.clone(),
                request: Request {
                    method,
                    host,
                    path,
                    time: time.unwrap_or(0),
                    ip,
                    country,
                    claims: claims.into(),
                },
                expect,
                span: t.span,
            });
        }
    }

    fn test_claim(&mut self, name: &ast::Ident, value: &ast::Expr) -> Option<ClaimValue> {
        let Some(decl) = self.schema.get(&name.name).map(|d| d.decl.clone()) else {
            self.unknown_claim(&name.name, name.span);
            return None;
        };
        let v = match (&value.kind, decl.ty) {
            (ExprKind::Str(s), ClaimType::String) => Some(ClaimValue::String(s.clone())),
            (ExprKind::Str(s), ClaimType::Set) => Some(ClaimValue::Set(vec![s.clone()])),
            (ExprKind::Int(i), ClaimType::Int) => Some(ClaimValue::Int(*i)),
            (ExprKind::Int(i), ClaimType::Time) => Some(ClaimValue::Time(*i)),
            (ExprKind::Time(t), ClaimType::Time) => {
                crate::input::parse_rfc3339(&t.value).map(ClaimValue::Time)
            }
            (ExprKind::Bool(b), ClaimType::Bool) => Some(ClaimValue::Bool(*b)),
            (ExprKind::List(items), ClaimType::Set) => items
                .iter()
                .map(|i| match &i.kind {
                    ExprKind::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(ClaimValue::Set),
            _ => None,
        };
        if v.is_none() {
            self.emit(
                Diagnostic::error(
                    "edgeward::type_mismatch",
                    value.span,
                    format!(
                        "claim `{}` is declared `{}`",
                        name.name,
                        super::schema::spell(decl.ty, decl.optional)
                    ),
                )
                .label("a value of another type"),
            );
        }
        v
    }
}
