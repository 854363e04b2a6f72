//! Routing (DESIGN §7.2): the most specific route wins, methods filter first, and templated targets.

use super::{Req, compile, get, verdict};

const ROUTES: &str = r#"
route GET "/a/b" { allow lit }
route GET "/a/{x}" { allow param }
route GET "/a/*" { allow star }
route GET "/a" { allow exact_a }
route GET "/s/*" { allow star_s }
route GET "/slash/" { allow slash }
route GET "/e/{x}/z" { allow e_param }
route GET "/p/{x}" { allow decoded when params.x == "a b/c" }
route GET "/lit/a%20b" { allow literal_pct }
route GET "/m/exact" { allow get_exact }
route POST "/m/*" { allow post_star }
route ANY "/any" { allow any_method }
route GET|HEAD "/gh" { allow get_or_head }
route GET "/{x}/deep/path" { allow param_first }
route GET "/q/{x}/*" { allow param_then_star }
route GET "/q/{x}" { allow param_only }
host "acme.dev" {
  route GET "/a/{x}" { allow host_param }
  route GET "/h/*" { allow host_star }
}
route GET "/h/{x}" { allow any_host_param }
route GET "/" { allow root }
"#;

#[test]
fn most_specific_route_wins() {
    let p = compile(ROUTES);
    // `(method, url, expected verdict, why)`
    let cases = [
        (
            "GET",
            "https://other.dev/a/b",
            "allow by lit",
            "literal beats param and star",
        ),
        (
            "GET",
            "https://acme.dev/a/b",
            "allow by lit",
            "path before host: an any-host literal beats a host-bound param",
        ),
        (
            "GET",
            "https://other.dev/a/z",
            "allow by param",
            "param beats star",
        ),
        (
            "GET",
            "https://acme.dev/a/z",
            "allow by host_param",
            "on a path tie the host-bound route wins",
        ),
        (
            "GET",
            "https://ACME.dev:8443/a/z",
            "allow by host_param",
            "hosts compare case-insensitively, without port",
        ),
        (
            "GET",
            "https://other.dev/a/z/w",
            "allow by star",
            "star takes the rest",
        ),
        (
            "GET",
            "https://other.dev/a",
            "allow by exact_a",
            "a pattern that ends earlier beats one continuing with *",
        ),
        (
            "GET",
            "https://other.dev/s",
            "allow by star_s",
            "a final * matches zero segments",
        ),
        (
            "GET",
            "https://other.dev/s/",
            "allow by star_s",
            "and one empty segment",
        ),
        (
            "GET",
            "https://other.dev/a/",
            "allow by star",
            "a trailing slash is an empty last segment, which no {param} matches",
        ),
        (
            "GET",
            "https://other.dev/slash/",
            "allow by slash",
            "a trailing slash literal",
        ),
        (
            "GET",
            "https://other.dev/slash",
            "no_route",
            "without its slash",
        ),
        (
            "GET",
            "https://other.dev/a//b",
            "allow by star",
            "an empty segment inside the path is a segment",
        ),
        (
            "GET",
            "https://other.dev/e//z",
            "no_route",
            "a {param} never matches an empty segment",
        ),
        (
            "GET",
            "https://other.dev/e/y/z",
            "allow by e_param",
            "the same route with a value",
        ),
        (
            "GET",
            "https://other.dev/p/a%20b%2Fc",
            "allow by decoded",
            "param values are percent-decoded",
        ),
        (
            "GET",
            "https://other.dev/lit/a%20b",
            "allow by literal_pct",
            "literals compare with the raw pathname",
        ),
        (
            "GET",
            "https://other.dev/lit/a b",
            "allow by literal_pct",
            "the URL parser encodes the space, as WHATWG does",
        ),
        (
            "GET",
            "https://other.dev/lit/a%2520b",
            "no_route",
            "literals are not decoded",
        ),
        (
            "GET",
            "https://other.dev/A/b",
            "no_route",
            "literals are case-sensitive",
        ),
        (
            "GET",
            "https://other.dev/m/exact",
            "allow by get_exact",
            "methods filter",
        ),
        (
            "POST",
            "https://other.dev/m/exact",
            "allow by post_star",
            "a more specific route of another method is no candidate",
        ),
        (
            "DELETE",
            "https://other.dev/any",
            "allow by any_method",
            "ANY includes every method",
        ),
        (
            "PATCH",
            "https://other.dev/any",
            "allow by any_method",
            "ANY includes every method",
        ),
        (
            "HEAD",
            "https://other.dev/gh",
            "allow by get_or_head",
            "a method list",
        ),
        (
            "HEAD",
            "https://other.dev/m/exact",
            "no_route",
            "GET does not include HEAD",
        ),
        (
            "GET",
            "https://other.dev/a/deep/path",
            "allow by star",
            "segment by segment: the literal first segment decides before the rest",
        ),
        (
            "GET",
            "https://other.dev/x/deep/path",
            "allow by param_first",
            "a param first",
        ),
        (
            "GET",
            "https://other.dev/q/1",
            "allow by param_only",
            "ends-before-star after a param",
        ),
        (
            "GET",
            "https://other.dev/q/1/2",
            "allow by param_then_star",
            "param then star",
        ),
        (
            "GET",
            "https://acme.dev/h/x",
            "allow by any_host_param",
            "an any-host param beats a host-bound star: paths first",
        ),
        (
            "GET",
            "https://acme.dev/h/x/y",
            "allow by host_star",
            "only the star matches",
        ),
        (
            "GET",
            "https://other.dev/h/x/y",
            "no_route",
            "host-bound routes match their host only",
        ),
        (
            "GET",
            "https://other.dev/",
            "allow by root",
            "`/` is no segments",
        ),
        (
            "GET",
            "https://other.dev/a/b?x=1#frag",
            "allow by lit",
            "query and fragment are not the path",
        ),
        (
            "GET",
            "https://other.dev/a/./x/../b",
            "allow by lit",
            "dot segments are resolved by the URL parser",
        ),
    ];
    let mut wrong = Vec::new();
    for (method, url, want, why) in cases {
        let got = verdict(&p, &Req::new(method, url));
        if got != want {
            wrong.push(format!(
                "{method} {url}: expected {want}, got {got} ({why})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn host_compares_case_insensitively_in_the_interpreter_too() {
    // hosts normally arrive lowercased; the interpreter does not rely on it
    let p = compile(ROUTES);
    let mut r = get("https://acme.dev/a/z");
    r.0.host = "ACME.Dev".into();
    assert_eq!(verdict(&p, &r), "allow by host_param");
}

#[test]
fn templated_targets() {
    let p = compile(
        r#"
route GET "/svc/{name}" -> component:{name} {
  allow named when target.name == params.name
  allow any
}
route GET "/dup/{n}" -> component:default/dup-{n} {
  allow dup when target.name starts_with "dup-"
}
route GET "/ns/{ns_name}" -> component:billing/{ns_name} {
  allow billing when target.namespace == "billing"
}
"#,
    );
    let cases = [
        (
            "/svc/payments-api",
            "allow by named",
            "a name in the catalog",
        ),
        (
            "/svc/PAYMENTS-API",
            "allow by any",
            "refs compare case-insensitively; params keep the request's case",
        ),
        ("/svc/Payments-Api", "allow by any", "mixed case"),
        ("/svc/no-such", "unknown_target", "not in the catalog"),
        (
            "/svc/invoice",
            "unknown_target",
            "in the catalog, but in another namespace",
        ),
        (
            "/svc/payments%2Dapi",
            "allow by named",
            "the param is decoded before the lookup",
        ),
        ("/svc/", "no_route", "an empty param matches nothing"),
        ("/dup/a", "allow by dup", "a template with a literal prefix"),
        ("/dup/c", "unknown_target", "no dup-c"),
        (
            "/ns/invoice",
            "allow by billing",
            "a template in another namespace",
        ),
        (
            "/ns/payments-api",
            "unknown_target",
            "no billing/payments-api",
        ),
    ];
    for (path, want, why) in cases {
        let url = format!("https://acme.dev{path}");
        assert_eq!(verdict(&p, &get(&url)), want, "{path}: {why}");
    }
}
