//! Outcomes and the decision order of DESIGN §7.1: top-level denies, route denies, requires, allows, default.

use super::{Req, compile, get, verdict};

/// Every rule's condition reads one claim of the `groups` set, so each case turns rules on by name.
const POLICY: &str = r#"
deny top when claims has groups and claims.groups contains "top"

route ANY "/r" {
  allow first when claims has groups and claims.groups contains "first"
  require claims has groups and not (claims.groups contains "req1")
  require named when claims has groups and not (claims.groups contains "named")
  deny route_deny when claims has groups and claims.groups contains "deny"
  require claims has groups and not (claims.groups contains "req3")
  allow second when claims has groups and claims.groups contains "second"
  deny later_deny when claims has groups and claims.groups contains "later"
}

route GET "/svc/{name}" -> component:{name} {
  allow any
}
"#;

fn with(groups: &[&str]) -> Req {
    get("https://acme.dev/r").set("groups", groups)
}

#[test]
fn decision_order_of_7_1() {
    let p = compile(POLICY);
    // `(groups the token carries, expected verdict, why)`
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["first"],
            "allow by first",
            "an allow holds, nothing else does",
        ),
        (&["second"], "allow by second", "a later allow holds"),
        (
            &["second", "first"],
            "allow by first",
            "several allows hold: the first in source order",
        ),
        (&[], "default", "no rule decides"),
        (
            &["first", "req1"],
            "require by require#1",
            "a failing require decides although an allow holds",
        ),
        (
            &["first", "named"],
            "require by named",
            "a named require is reported by its name",
        ),
        (
            &["first", "req3"],
            "require by require#3",
            "N counts every require of the route, the named one included",
        ),
        (
            &["first", "req3", "req1"],
            "require by require#1",
            "requires are tried in source order",
        ),
        (
            &["first", "req1", "deny"],
            "deny by route_deny",
            "a route deny decides before a failing require, wherever it is written",
        ),
        (
            &["first", "later"],
            "deny by later_deny",
            "a deny written after the allows still decides first",
        ),
        (
            &["deny", "later"],
            "deny by route_deny",
            "route denies in source order",
        ),
        (
            &["top", "deny", "req1", "first"],
            "deny by top",
            "top-level denies come before the route's",
        ),
    ];
    for (groups, want, why) in cases {
        assert_eq!(verdict(&p, &with(groups)), *want, "{groups:?}: {why}");
    }
}

#[test]
fn require_numbering_counts_every_require() {
    let p = compile(POLICY);
    let names: Vec<&str> = p
        .rules
        .iter()
        .filter(|r| r.route == Some(0))
        .map(|r| r.name.as_str())
        .collect();
    // N is the position among ALL the route's requires (§2): the third require is `require#3`
    assert_eq!(
        names,
        [
            "first",
            "require#1",
            "named",
            "route_deny",
            "require#3",
            "second",
            "later_deny"
        ]
    );
}

#[test]
fn no_route_and_unknown_target() {
    let p = compile(POLICY);
    // no route: top-level denies are not consulted
    let nowhere = get("https://acme.dev/nowhere").set("groups", &["top"]);
    assert_eq!(verdict(&p, &nowhere), "no_route");
    // a templated target not in the catalog: before any rule, the top-level deny included
    let unknown = get("https://acme.dev/svc/no-such").set("groups", &["top"]);
    assert_eq!(verdict(&p, &unknown), "unknown_target");
    let known = get("https://acme.dev/svc/ledger");
    assert_eq!(verdict(&p, &known), "allow by any");
    let known_top = get("https://acme.dev/svc/ledger").set("groups", &["top"]);
    assert_eq!(verdict(&p, &known_top), "deny by top");
}

#[test]
fn a_route_without_rules_denies_by_default() {
    let p = compile("route GET \"/empty\" {}\nroute GET \"/denies\" { deny d when false }\n");
    assert_eq!(verdict(&p, &get("https://acme.dev/empty")), "default");
    assert_eq!(verdict(&p, &get("https://acme.dev/denies")), "default");
}

#[test]
fn unconditional_rules() {
    let p = compile(
        "route GET \"/open\" { allow public }\nroute GET \"/closed\" { deny closed\n allow public }\nroute GET \"/req\" { require false\n allow public }\n",
    );
    assert_eq!(
        verdict(&p, &get("https://acme.dev/open")),
        "allow by public"
    );
    assert_eq!(
        verdict(&p, &get("https://acme.dev/closed")),
        "deny by closed"
    );
    assert_eq!(
        verdict(&p, &get("https://acme.dev/req")),
        "require by require#1"
    );
}
