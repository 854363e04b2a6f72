//! Errors (DESIGN §7.3): what errs, how errors propagate and short-circuit, and how each effect fails closed.

use super::{compile, get, jane, truth, truth_on, verdict};
use edgeward::interp::{self, Truth};

/// Reading an unbound principal errs (`nobody@acme.dev` binds no one).
fn stranger() -> super::Req {
    jane().email("nobody@acme.dev")
}

#[test]
fn what_errs() {
    for (expr, component, want, why) in [
        (
            "principal.name == \"x\"",
            "payments-api",
            "error",
            "an unbound principal",
        ),
        (
            "principal in group:eng",
            "payments-api",
            "error",
            "an unbound principal in a group",
        ),
        (
            "principal owns target",
            "payments-api",
            "error",
            "an unbound principal owning",
        ),
        (
            "target.metadata.labels[\"tier\"] == \"gold\"",
            "ledger",
            "error",
            "a label the target lacks (§7.8)",
        ),
        (
            "target.metadata.annotations[\"x\"] == \"y\"",
            "ledger",
            "error",
            "an annotation the target lacks",
        ),
        (
            "target.spec.nothing == \"y\"",
            "ledger",
            "error",
            "a spec field the target lacks",
        ),
        (
            "target.owner == group:eng",
            "orphan",
            "error",
            "a dangling owner, read (§7.7)",
        ),
        (
            "target.system == system:web",
            "orphan",
            "error",
            "no system at all",
        ),
        (
            "target.owner.name == \"x\"",
            "orphan",
            "error",
            "a field through a dangling owner",
        ),
    ] {
        assert_eq!(
            truth_on(expr, component, stranger()),
            want,
            "{expr} on {component}: {why}"
        );
    }
    // an absent claim, read (the checker only lets required claims be read unguarded; a
    // request built by hand can still lack one)
    assert_eq!(truth("claims.level == 3", jane().without("level")), "error");
}

#[test]
fn errors_propagate_and_short_circuit() {
    let e = "principal.name == \"x\""; // errs for the stranger
    for (expr, want, why) in [
        (format!("not ({e})"), "error", "through not"),
        (format!("not not ({e})"), "error", "through two nots"),
        (format!("({e}) == true"), "error", "through a comparison"),
        (
            format!("claims.sub == \"jane\" or {e}"),
            "true",
            "true or E is true without E",
        ),
        (
            format!("claims.sub == \"x\" and {e}"),
            "false",
            "false and E is false without E",
        ),
        (
            format!("{e} or claims.sub == \"jane\""),
            "error",
            "E or true errs: the left decides first",
        ),
        (
            format!("{e} and claims.sub == \"x\""),
            "error",
            "E and false errs",
        ),
        (
            format!("claims.sub == \"x\" or {e}"),
            "error",
            "false or E is E",
        ),
        (
            format!("claims.sub == \"jane\" and {e}"),
            "error",
            "true and E is E",
        ),
        (
            format!("claims.sub == \"x\" and {e} or claims.sub == \"jane\""),
            "true",
            "(false and E) or true: the error is never reached",
        ),
        (
            format!("claims.sub == \"x\" or {e} or claims.sub == \"jane\""),
            "error",
            "an error left of `or` propagates although a later operand is true",
        ),
        (
            format!("not (claims.sub == \"jane\" or {e})"),
            "false",
            "short-circuit under not",
        ),
    ] {
        assert_eq!(truth(&expr, stranger()), want, "{expr}: {why}");
    }
}

#[test]
fn unbound_principal_under_not_fails_closed() {
    let p = compile(
        r#"
route GET "/allow" {
  allow outsiders when not (principal in group:contractors)
  allow fallback when claims.sub == "jane"
}
route GET "/allow-only" {
  allow outsiders when not (principal in group:contractors)
}
route GET "/deny" {
  deny non_admins when not (principal in group:admins)
  allow everyone
}
route GET "/require" {
  require not (principal in group:contractors)
  allow everyone
}
route GET "/require-named" {
  require no_contractors when not (principal in group:contractors)
  allow everyone
}
"#,
    );
    let base = "https://acme.dev";
    for (path, email, want, why) in [
        // an erring allow does not allow; later allows are still tried
        (
            "/allow",
            "nobody@acme.dev",
            "allow by fallback",
            "the erring allow is skipped",
        ),
        (
            "/allow-only",
            "nobody@acme.dev",
            "default",
            "nothing else allows",
        ),
        (
            "/allow-only",
            "dana@acme.dev",
            "default",
            "a shared email binds no one",
        ),
        (
            "/allow",
            "jane@acme.dev",
            "allow by outsiders",
            "bound: not a contractor",
        ),
        (
            "/allow-only",
            "carl@acme.dev",
            "default",
            "bound: a contractor",
        ),
        // an erring deny decides deny, whatever `not` surrounds it
        (
            "/deny",
            "nobody@acme.dev",
            "deny by non_admins",
            "the erring deny denies",
        ),
        (
            "/deny",
            "raj@acme.dev",
            "allow by everyone",
            "raj is an admin (through oncall)",
        ),
        (
            "/deny",
            "jane@acme.dev",
            "deny by non_admins",
            "jane is not",
        ),
        // an erring require decides deny
        (
            "/require",
            "nobody@acme.dev",
            "require by require#1",
            "the erring require denies",
        ),
        (
            "/require-named",
            "nobody@acme.dev",
            "require by no_contractors",
            "named",
        ),
        (
            "/require",
            "jane@acme.dev",
            "allow by everyone",
            "bound, not a contractor",
        ),
        (
            "/require",
            "carl@acme.dev",
            "require by require#1",
            "bound, a contractor",
        ),
    ] {
        let r = get(&format!("{base}{path}")).email(email);
        assert_eq!(verdict(&p, &r), want, "{path} as {email}: {why}");
    }
}

#[test]
fn missing_target_fields_fail_closed() {
    let p = compile(
        r#"
route GET "/gold/{name}" -> component:{name} {
  allow gold when target.metadata.labels["tier"] == "gold"
}
route GET "/paused/{name}" -> component:{name} {
  require target.metadata.labels["tier"] != "none"
  allow rest
}
route GET "/bronze/{name}" -> component:{name} {
  require claims.sub == "nobody"
  deny bronze when target.metadata.labels["tier"] == "bronze"
  allow rest
}
"#,
    );
    for (path, want, why) in [
        ("/gold/payments-api", "allow by gold", "has the label"),
        (
            "/gold/ledger",
            "default",
            "lacks it: the erring allow is skipped",
        ),
        (
            "/paused/ledger",
            "require by require#1",
            "lacks it: the erring require denies",
        ),
        ("/paused/orphan", "require by require#1", "tier none"),
        ("/paused/payments-api", "allow by rest", "gold"),
        (
            "/bronze/ledger",
            "deny by bronze",
            "lacks it: the erring deny denies, before the failing require",
        ),
        ("/bronze/status", "deny by bronze", "bronze"),
        (
            "/bronze/payments-api",
            "require by require#1",
            "gold: the deny is false",
        ),
    ] {
        let r = get(&format!("https://acme.dev{path}"));
        assert_eq!(verdict(&p, &r), want, "{path}: {why}");
    }
}

#[test]
fn optional_claims_guarded_by_has() {
    let p = compile(
        r#"
route GET "/f" {
  allow finance when claims has department and claims.department == "finance"
  allow support when claims has groups and claims.groups contains "support"
}
"#,
    );
    let r = || get("https://acme.dev/f");
    assert_eq!(
        verdict(&p, &r()),
        "default",
        "absent: the guard is false, no error"
    );
    assert_eq!(
        verdict(&p, &r().string("department", "finance")),
        "allow by finance"
    );
    assert_eq!(verdict(&p, &r().string("department", "sales")), "default");
    assert_eq!(
        verdict(&p, &r().set("groups", &["support"])),
        "allow by support"
    );
    // the explanation says the guard decided
    let (_, ex) = interp::explain(&p, &r().0);
    assert_eq!(ex.steps.len(), 2);
    assert!(
        ex.steps
            .iter()
            .all(|s| s.truth == Truth::False && !s.decisive)
    );
}

#[test]
fn explanations_name_the_erring_place() {
    let source = "route GET \"/x\" {\n  allow a when claims.sub == \"jane\" and principal.name == \"x\"\n}\n";
    let p = compile(source);
    let r = get("https://acme.dev/x").email("nobody@acme.dev");
    let (d, ex) = interp::explain(&p, &r.0);
    assert_eq!(d.outcome.as_str(), "default");
    let Truth::Err(span, why) = &ex.steps[0].truth else {
        panic!("{ex:?}")
    };
    let text = format!("{}{source}", super::HEADER);
    assert_eq!(&text[span.start..span.end], "principal");
    assert_eq!(why, "no principal is bound");
    assert_eq!(ex.principal, None);
}
