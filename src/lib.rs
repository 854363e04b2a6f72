//! edgeward: a policy-as-code compiler and simulator for Backstage-keyed Cloudflare Workers.
//!
//! The pipeline, one module per stage: source text → [`syntax`] (AST) → [`check`] (typed
//! [`ir::Program`], against the claims schema and the [`catalog`]) → [`wasm`] (the module) or
//! [`interp`] (the reference semantics). [`jwt`] verifies tokens and [`sim`] replays recorded traffic.
//!
//! ```
//! let catalog = edgeward::catalog::Catalog::from_yaml_str("catalog.yaml", r#"
//! apiVersion: backstage.io/v1alpha1
//! kind: User
//! metadata: { name: jane }
//! spec: { profile: { email: jane@acme.dev }, memberOf: [team-payments] }
//! ---
//! apiVersion: backstage.io/v1alpha1
//! kind: Group
//! metadata: { name: team-payments }
//! spec: { type: team, children: [] }
//! "#).unwrap().catalog;
//! let source = r#"
//! use std::cloudflare_access
//! principal = user where spec.profile.email == claims.email
//! route GET "/hello" {
//!   allow team when principal in group:team-payments
//! }
//! "#;
//! let program = edgeward::compile("policy.ward", source, Some(&catalog)).unwrap().program;
//! let request = edgeward::input::Request {
//!     method: "GET".into(), host: "example.com".into(), path: "/hello".into(), time: 0,
//!     ip: None, country: None,
//!     claims: std::sync::Arc::new([("email".to_string(), edgeward::input::ClaimValue::String("jane@acme.dev".into()))].into()),
//! };
//! let decision = edgeward::interp::decide(&program, &request);
//! assert_eq!(decision.outcome.as_str(), "allow");
//! ```

pub mod catalog;
pub mod check;
pub mod input;
pub mod interp;
pub mod ir;
pub mod jwt;
pub mod sim;
pub mod syntax;
pub mod wasm;
pub mod worker;

/// A policy compiled to the IR, with the warnings found on the way.
pub struct Compiled {
    pub program: ir::Program,
    pub warnings: Vec<check::Diagnostic>,
}

/// Why a policy did not compile: every syntax error and every checker diagnostic.
#[derive(Debug, Default)]
pub struct Rejected {
    pub syntax: Vec<syntax::SyntaxError>,
    pub diagnostics: Vec<check::Diagnostic>,
}

/// Parses and checks a policy (the front end): the whole text → the typed IR.
///
/// Without a catalog the checker runs but no program is produced, so this returns `Rejected`
/// holding only warnings; use [`check_source`] for `check`.
pub fn compile(
    path: &str,
    source: &str,
    catalog: Option<&catalog::Catalog>,
) -> Result<Compiled, Rejected> {
    let (file, syntax) = syntax::parse(source);
    if !syntax.is_empty() {
        // Items that did not parse are missing: checking the rest would report their uses as unknown.
        return Err(Rejected {
            syntax,
            diagnostics: Vec::new(),
        });
    }
    let checked = check::check(
        &file,
        &check::Input {
            path,
            source,
            catalog,
        },
    );
    match checked.program {
        Some(program) => Ok(Compiled {
            program,
            warnings: checked.diagnostics,
        }),
        None => Err(Rejected {
            syntax,
            diagnostics: checked.diagnostics,
        }),
    }
}

/// Parses and checks a policy, reporting everything (syntax errors, then checker diagnostics).
pub fn check_source(path: &str, source: &str, catalog: Option<&catalog::Catalog>) -> Rejected {
    let (file, syntax) = syntax::parse(source);
    if !syntax.is_empty() {
        return Rejected {
            syntax,
            diagnostics: Vec::new(),
        };
    }
    let checked = check::check(
        &file,
        &check::Input {
            path,
            source,
            catalog,
        },
    );
    Rejected {
        syntax,
        diagnostics: checked.diagnostics,
    }
}
