//! `eval` and `test`: deciding requests on the interpreter and on the module.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use edgeward::interp::{Explanation, Truth};
use edgeward::ir::{Expectation, Program};
use edgeward::sim::Verdict;
use edgeward::sim::eval::{EvalInputError, eval_request};

use super::front::TextOrJson;
use super::{Fail, Res, compile, load_catalog, read};

#[derive(Args)]
pub struct EvalArgs {
    /// The policy file (`.ward`), or a compiled module (`.wasm`)
    pub policy: String,
    /// The Backstage catalog (needed when the policy names entities)
    #[arg(long)]
    pub catalog: Option<String>,
    /// The request as JSON, or `@FILE`: {"method", "url", "claims", "time"?, "ip"?, "country"?}
    #[arg(long)]
    pub request: String,
    /// Also say which route matched and how every rule considered evaluated
    #[arg(long)]
    pub explain: bool,
    /// The decision as a line of text, or as JSON (DESIGN §5)
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

/// `edgeward eval`: decides one request; exits 0 whatever the decision.
pub fn eval(a: EvalArgs) -> Res {
    let text = match a.request.strip_prefix('@') {
        Some(path) => read(path)?,
        None => a.request.clone(),
    };
    let request: Value = serde_json::from_str(&text)
        .map_err(|e| Fail::Usage(format!("error: the request is not JSON: {e}")))?;
    if edgeward::wasm::is_module_path(&a.policy) {
        return eval_module(&a, &request);
    }
    let loaded = load_catalog(a.catalog.as_deref(), false)?;
    let program = compile(&a.policy, loaded.as_ref().map(|l| &l.catalog), false)?;
    let source = read(&a.policy)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (verdict, explanation) = match eval_request(&request, &program.claims, now) {
        Ok(req) => {
            let (d, ex) = edgeward::interp::explain(&program, &req);
            (Verdict::of(d, &rule_names(&program)), Some(ex))
        }
        Err(EvalInputError::Token(reason)) => (Verdict::invalid_token(reason), None),
        Err(EvalInputError::Bad(m)) => return Err(Fail::Usage(format!("error: {m}"))),
    };
    print_verdict(
        &verdict,
        a.explain.then_some(()).and(explanation.as_ref()),
        &program,
        &source,
        a.format,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Loads a compiled module for the host, or says why it cannot be used (exit 2).
pub fn load_module(path: &str) -> Result<edgeward::wasm::Compiled, Fail> {
    let bytes = std::fs::read(path)
        .map_err(|e| Fail::Usage(format!("error: cannot read `{path}`: {e}")))?;
    edgeward::wasm::Compiled::from_bytes(&bytes)
        .map_err(|e| Fail::Usage(format!("error: `{path}` is not an edgeward module: {e}")))
}

/// `eval` on a `.wasm`: the module decides; its manifest gives the schema and the rule names.
fn eval_module(a: &EvalArgs, request: &Value) -> Res {
    let compiled = load_module(&a.policy)?;
    let manifest = compiled.manifest();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (verdict, route) = match eval_request(request, &manifest.claim_decls(), now) {
        Ok(req) => {
            let mut decider = compiled
                .decider()
                .map_err(|e| Fail::Usage(format!("error: the module cannot run: {e}")))?;
            let d = decider
                .decide(&req)
                // A module that cannot decide is an input that cannot be used (§5: 2), as in simulate.
                .map_err(|e| Fail::Usage(format!("error: the module failed: {e}")))?;
            (Verdict::of(d, &manifest.rule_names()), decider.last_route())
        }
        Err(EvalInputError::Token(reason)) => (Verdict::invalid_token(reason), None),
        Err(EvalInputError::Bad(m)) => return Err(Fail::Usage(format!("error: {m}"))),
    };
    let route_info = route.and_then(|r| manifest.routes.get(r as usize));
    match a.format {
        TextOrJson::Json => {
            let mut out = json!({"decision": verdict.decision, "outcome": verdict.outcome, "rule": verdict.rule});
            if a.explain
                && let Some(obj) = out.as_object_mut()
            {
                obj.insert("explain".into(), json!({"route": route_info.map(|r| json!({"index": r.index, "methods": r.methods, "host": r.host, "path": r.path, "target": r.target}))}));
            }
            outln!("{out}")?;
        }
        TextOrJson::Text => {
            outln!("{}", verdict_line(&verdict))?;
            if a.explain {
                match route_info {
                    Some(r) => outln!(
                        "  route #{}: {} {}{}",
                        r.index,
                        r.methods,
                        r.host
                            .as_deref()
                            .map(|h| format!("{h} "))
                            .unwrap_or_default(),
                        r.path
                    )?,
                    None => outln!("  route: none matched")?,
                }
                outln!(
                    "  (a module explains only its route: run `eval` on the policy source for every rule's value)"
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rule_names(p: &Program) -> Vec<String> {
    p.rules.iter().map(|r| r.name.clone()).collect()
}

fn print_verdict(
    v: &Verdict,
    ex: Option<&Explanation>,
    p: &Program,
    source: &str,
    format: TextOrJson,
) -> Result<(), Fail> {
    match format {
        TextOrJson::Json => {
            let mut out = json!({"decision": v.decision, "outcome": v.outcome, "rule": v.rule});
            if let (Some(ex), Some(obj)) = (ex, out.as_object_mut()) {
                obj.insert("explain".into(), explain_json(ex, p, source));
            }
            outln!("{out}")?;
        }
        TextOrJson::Text => {
            outln!("{}", verdict_line(v))?;
            if let Some(ex) = ex {
                out!("{}", explain_text(ex, p, source))?;
            }
        }
    }
    Ok(())
}

/// `allow by deploy`, `deny (require#1)`, `deny (no_route)`.
pub fn verdict_line(v: &Verdict) -> String {
    match (&v.rule, v.outcome.as_str()) {
        (Some(r), "allow") => format!("allow by {r}"),
        (Some(r), o) => format!("deny: {o} by {r}"),
        (None, o) => format!("{}: {o}", v.decision),
    }
}

fn snippet(source: &str, span: edgeward::syntax::ast::Span) -> String {
    let s = source.get(span.start..span.end).unwrap_or_default();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The explanation as text: the route, the bindings, and every rule considered.
pub fn explain_text(ex: &Explanation, p: &Program, source: &str) -> String {
    let mut out = String::new();
    match ex
        .route
        .and_then(|r| p.routes.get(r as usize).map(|route| (r, route)))
    {
        Some((i, r)) => {
            let _ = writeln!(
                out,
                "  route #{i}: {} {}{}",
                r.methods_text,
                r.host
                    .as_deref()
                    .map(|h| format!("{h} "))
                    .unwrap_or_default(),
                r.path_text
            );
        }
        None => {
            let _ = writeln!(out, "  route: none matched");
        }
    }
    if let Some(t) = &ex.target {
        let _ = writeln!(out, "  target: {t}");
    }
    let _ = writeln!(
        out,
        "  principal: {}",
        ex.principal.as_deref().unwrap_or("(unbound)")
    );
    for step in &ex.steps {
        let Some(rule) = p.rules.get(step.rule.0 as usize) else {
            continue;
        };
        let value = match &step.truth {
            Truth::True => "true".to_string(),
            Truth::False => "false".to_string(),
            Truth::Err(_, why) => format!("error ({why})"),
        };
        let by = match (step.decided_by, &step.truth) {
            (Some(s), Truth::Err(..)) => format!(" at `{}`", snippet(source, s)),
            (Some(s), _) => format!(" because `{}`", snippet(source, s)),
            (None, _) => " (unconditional)".to_string(),
        };
        let _ = writeln!(
            out,
            "  {} {} {:<14} {value}{by}  [{}]",
            if step.decisive { "→" } else { " " },
            rule.effect.as_str(),
            rule.name,
            rule.source
        );
    }
    out
}

fn explain_json(ex: &Explanation, p: &Program, source: &str) -> Value {
    let route = ex.route.and_then(|i| p.routes.get(i as usize).map(|r| (i, r))).map(|(i, r)| {
        json!({"index": i, "methods": r.methods_text, "host": r.host, "path": r.path_text, "target": r.target_text})
    });
    let rules: Vec<Value> = ex
        .steps
        .iter()
        .filter_map(|s| {
            let rule = p.rules.get(s.rule.0 as usize)?;
            let (value, error) = match &s.truth {
                Truth::True => ("true", None),
                Truth::False => ("false", None),
                Truth::Err(_, why) => ("error", Some(why.clone())),
            };
            Some(json!({
                "name": rule.name, "effect": rule.effect.as_str(), "source": rule.source,
                "value": value, "error": error, "decisive": s.decisive,
                "decided_by": s.decided_by.map(|sp| snippet(source, sp)),
            }))
        })
        .collect();
    json!({"route": route, "target": ex.target, "principal": ex.principal, "rules": rules})
}

#[derive(Args)]
pub struct TestArgs {
    /// The policy file (`.ward`)
    pub policy: String,
    /// The Backstage catalog (needed when the policy names entities)
    #[arg(long)]
    pub catalog: Option<String>,
}

/// Whether a verdict meets a test's expectation (§7.11).
pub fn meets(v: &Verdict, e: &Expectation) -> bool {
    match e {
        Expectation::Allow(by) => {
            v.outcome == "allow" && by.as_ref().is_none_or(|b| v.rule.as_ref() == Some(b))
        }
        Expectation::Deny(by) => {
            v.decision == "deny" && by.as_ref().is_none_or(|b| v.rule.as_ref() == Some(b))
        }
        Expectation::Outcome(o) => v.outcome == *o,
    }
}

fn expectation_text(e: &Expectation) -> String {
    match e {
        Expectation::Allow(None) => "allow".into(),
        Expectation::Allow(Some(b)) => format!("allow by {b}"),
        Expectation::Deny(None) => "deny".into(),
        Expectation::Deny(Some(b)) => format!("deny by {b}"),
        Expectation::Outcome(o) => o.clone(),
    }
}

/// `edgeward test`: runs every `test` block; exit 1 on any failure.
pub fn test(a: TestArgs) -> Res {
    let loaded = load_catalog(a.catalog.as_deref(), false)?;
    let program = compile(&a.policy, loaded.as_ref().map(|l| &l.catalog), true)?;
    let source = read(&a.policy)?;
    let names = rule_names(&program);
    let bytes = super::build::module_bytes(&program)?;
    let compiled = edgeward::wasm::Compiled::from_generated(&bytes).map_err(|e| {
        Fail::Check(format!(
            "internal error: the compiled module does not load: {e}"
        ))
    })?;
    let mut decider = compiled.decider().map_err(|e| {
        Fail::Check(format!(
            "internal error: the compiled module does not run: {e}"
        ))
    })?;
    let mut failed = 0;
    for t in &program.tests {
        let (d, ex) = edgeward::interp::explain(&program, &t.request);
        let v = Verdict::of(d, &names);
        let on_module = decider.decide(&t.request).map(|d| Verdict::of(d, &names));
        if on_module.as_ref().ok() != Some(&v) {
            failed += 1;
            outln!(
                "FAIL  {} (the interpreter and the module disagree: please report this)",
                t.name
            )?;
            outln!("  interpreter: {}", verdict_line(&v))?;
            match &on_module {
                Ok(m) => outln!("  module:      {}", verdict_line(m))?,
                Err(e) => outln!("  module:      failed: {e}")?,
            }
        } else if meets(&v, &t.expect) {
            outln!("ok    {}", t.name)?;
        } else {
            failed += 1;
            outln!("FAIL  {}", t.name)?;
            outln!("  expected: {}", expectation_text(&t.expect))?;
            outln!("  got:      {}", verdict_line(&v))?;
            out!("{}", explain_text(&ex, &program, &source))?;
        }
    }
    let total = program.tests.len();
    outln!(
        "{} passed, {failed} failed (each on the interpreter and on the module)",
        total - failed
    )?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
