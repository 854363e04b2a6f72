//! The optimiser's passes, each shown on the IR text before and after.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use edgeward::ir::{Expr, optimise, text};

use super::wasm::build::{B, req};

/// Only the `rules` part of the IR text.
fn rules(p: &edgeward::ir::Program) -> String {
    let t = text::render(p);
    t[t.find("\nrules\n").unwrap()..].trim().to_string()
}

#[test]
fn constant_folding_drops_decided_operands_and_keeps_what_can_err() {
    let mut b = B::new();
    let country = b.country();
    let r = b.route("GET", None, "/x");
    let t = b.e(Expr::Bool(true));
    let f = b.e(Expr::Bool(false));
    let read = b.e(Expr::Slot(country));
    let kp = b.s("KP");
    let eq = b.e(Expr::Eq(read, kp));
    // `true and (country == "KP")` → `(country == "KP")`: the read may err, so it stays.
    let c1 = b.e(Expr::And(t, eq));
    b.allow(r, "a", Some(c1));
    // `false and ...` → `false`, whatever the right side would do.
    let c2 = b.e(Expr::And(f, eq));
    b.allow(r, "b", Some(c2));
    // `(country == "KP") or true` is NOT folded: the left side may err before `true` is reached.
    let c3 = b.e(Expr::Or(eq, t));
    b.allow(r, "c", Some(c3));
    // Constant comparisons fold.
    let one = b.e(Expr::Int(1));
    let two = b.e(Expr::Int(2));
    let lt = b.e(Expr::Lt(one, two));
    let c4 = b.e(Expr::Not(lt));
    b.allow(r, "d", Some(c4));
    let mut p = b.build();
    let before = rules(&p);
    let decisions_before: Vec<_> = ["KP", "US"]
        .iter()
        .map(|c| {
            let mut q = req("GET", "h", "/x");
            q.country = Some((*c).to_string());
            edgeward::interp::decide(&p, &q)
        })
        .collect();
    optimise::fold(&mut p);
    let after = rules(&p);
    insta::assert_snapshot!("fold_before", before);
    insta::assert_snapshot!("fold_after", after);
    assert!(
        after.contains("allow b [policy.ward:2:1] route=0: false"),
        "{after}"
    );
    assert!(
        after.contains("allow d [policy.ward:4:1] route=0: false"),
        "{after}"
    );
    assert!(
        after.contains("((request.country == \"KP\") or true)"),
        "{after}"
    );
    // Folding never changes a decision.
    for (c, before) in ["KP", "US"].iter().zip(decisions_before) {
        let mut q = req("GET", "h", "/x");
        q.country = Some((*c).to_string());
        assert_eq!(edgeward::interp::decide(&p, &q), before);
    }
}

#[test]
fn route_order_puts_the_most_specific_route_first() {
    let mut b = B::new();
    let star = b.route("ANY", None, "/*");
    let param = b.route("GET", None, "/api/{id}");
    let lit = b.route("GET", None, "/api/health");
    let host = b.route("GET", Some("a.dev"), "/api/{id}");
    let rest = b.route("GET", None, "/api/{id}/*");
    let ends = b.route("GET", None, "/api");
    for r in [star, param, lit, host, rest, ends] {
        b.allow(r, &format!("r{r}"), None);
    }
    let p = b.build();
    let t = text::render(&p);
    let order = &t[t.find("routes, most specific first").unwrap()..t.find("\nrules\n").unwrap()];
    insta::assert_snapshot!("route_order", order);
    // `/api` and `/api/health` never match the same path, so their relative order does not matter.
    assert_eq!(p.route_order, vec![lit, host, param, rest, ends, star]);
}
