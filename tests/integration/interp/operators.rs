//! Every operator of DESIGN §2 on the interpreter, with the string rules of §7.5 and the entity rules of §7.6–§7.8.

use super::{Req, get, jane, truth, truth_on};

/// `(expression, expected value)` for jane's default token (`sub: "jane"`, `mail:
/// "jane@acme.dev"`, `level: 3`, `iat` 5 minutes before the request) on `payments-api`.
const JANE: &[(&str, &str)] = &[
    // == and != are case-sensitive on strings (§7.5)
    (r#"claims.sub == "jane""#, "true"),
    (r#"claims.sub == "Jane""#, "false"),
    (r#"claims.sub != "jane""#, "false"),
    (r#"claims.sub != "raj""#, "true"),
    (r#"claims.level == 3"#, "true"),
    // order on ints
    (r#"claims.level < 4"#, "true"),
    (r#"claims.level < 3"#, "false"),
    (r#"claims.level <= 3"#, "true"),
    (r#"claims.level <= 2"#, "false"),
    (r#"claims.level > 2"#, "true"),
    (r#"claims.level > 3"#, "false"),
    (r#"claims.level >= 3"#, "true"),
    (r#"claims.level >= 4"#, "false"),
    // + and - on ints
    (r#"claims.level + 1 == 4"#, "true"),
    (r#"claims.level - 5 == 0 - 2"#, "true"),
    // string in list
    (r#"claims.sub in ["raj", "jane"]"#, "true"),
    (r#"claims.sub in ["Jane", "raj"]"#, "false"),
    (r#"claims.sub in []"#, "false"),
    // contains, starts_with, ends_with on strings; any expression on either side (§7.8)
    (r#"claims.mail contains "@acme""#, "true"),
    (r#"claims.mail contains "@ACME""#, "false"),
    (r#"claims.mail contains """#, "true"),
    (r#"claims.mail starts_with "jane@""#, "true"),
    (r#"claims.mail starts_with "acme""#, "false"),
    (r#"claims.mail ends_with ".dev""#, "true"),
    (r#"claims.mail ends_with ".DEV""#, "false"),
    (r#"claims.mail starts_with claims.sub"#, "true"),
    (r#"claims.mail contains target.owner.name"#, "false"),
    // matches: a whole-string, case-sensitive glob; only * and ? are special (§7.5)
    (r#"claims.mail matches "*@acme.dev""#, "true"),
    (r#"claims.mail matches "j?ne@*""#, "true"),
    (r#"claims.mail matches "*""#, "true"),
    (r#"claims.mail matches "jane""#, "false"),
    (r#"claims.mail matches "*@ACME.dev""#, "false"),
    (r#"claims.mail matches "j??e@acme.de?""#, "true"),
    (r#"claims.mail matches "j?e@*""#, "false"),
    (r#"claims.mail matches "[j]ane@acme.dev""#, "false"),
    (r#"claims.mail matches "*.*""#, "true"),
    // time ± duration, time - time
    (r#"request.time + 1h > time "2026-11-28T10:30:00Z""#, "true"),
    (
        r#"request.time + 15m > time "2026-11-28T10:30:00Z""#,
        "false",
    ),
    (r#"request.time - 1h < time "2026-11-28T09:30:00Z""#, "true"),
    (r#"request.time - claims.iat < 15m"#, "true"),
    (r#"request.time - claims.iat < 5m"#, "false"),
    (r#"request.time - claims.iat <= 5m"#, "true"),
    (
        r#"request.time == time "2026-11-28T11:00:00+01:00""#,
        "true",
    ),
    (r#"1h + 30m == 90m"#, "true"),
    // and, or, not; `and` binds tighter than `or` (§7.4)
    (r#"claims.sub == "jane" and claims.level == 3"#, "true"),
    (r#"claims.sub == "jane" and claims.level == 4"#, "false"),
    (r#"claims.sub == "x" or claims.level == 3"#, "true"),
    (r#"claims.sub == "x" or claims.level == 4"#, "false"),
    (r#"not (claims.sub == "x")"#, "true"),
    (r#"not claims.sub == "jane""#, "false"),
    (
        r#"claims.sub == "x" and claims.level == 0 or claims.level == 3"#,
        "true",
    ),
    (
        r#"claims.level == 3 or claims.level == 0 and claims.sub == "x""#,
        "true",
    ),
    (
        r#"(claims.level == 3 or claims.level == 0) and claims.sub == "x""#,
        "false",
    ),
    // has
    (r#"claims has email"#, "true"),
    (
        r#"claims has email and claims.email == claims.mail"#,
        "true",
    ),
    (r#"claims has groups"#, "false"),
    (r#"claims has department"#, "false"),
    (r#"request has ip"#, "false"),
    (r#"request has country"#, "false"),
    // owns: the owner is the user or a group the user is directly in (§2)
    (r#"principal owns target"#, "true"),
    (r#"principal owns component:ledger"#, "true"),
    (r#"principal owns component:status"#, "true"),
    (r#"principal owns component:runner"#, "false"),
    (r#"principal owns system:payments"#, "true"),
    // part_of is transitive: component → system → domain (§7.8)
    (r#"target part_of system:payments"#, "true"),
    (r#"target part_of domain:finance"#, "true"),
    (r#"target part_of system:web"#, "false"),
    (r#"system:payments part_of domain:finance"#, "true"),
    (r#"component:status part_of domain:finance"#, "false"),
    // principal in group: transitive through parents
    (r#"principal in group:payments"#, "true"),
    (r#"principal in group:eng"#, "true"),
    (r#"principal in group:org"#, "true"),
    (r#"principal in group:admins"#, "false"),
    (r#"principal in group:default/contractors"#, "false"),
    // entity fields (§7.8): strings as the catalog writes them; relations compare with refs
    (r#"target.kind == "Component""#, "true"),
    (r#"target.namespace == "default""#, "true"),
    (r#"target.name == "payments-api""#, "true"),
    (r#"target.ref == "component:default/payments-api""#, "true"),
    (r#"target.owner == group:payments"#, "true"),
    (r#"target.owner == group:eng"#, "false"),
    (r#"target.system == system:payments"#, "true"),
    (r#"target.system.owner == group:payments"#, "true"),
    (r#"target == component:PAYMENTS-API"#, "true"),
    (r#"target != component:ledger"#, "true"),
    (r#"target.spec.lifecycle == "production""#, "true"),
    (r#"target.metadata.labels["tier"] == "gold""#, "true"),
    (r#"principal.name == "jane""#, "true"),
    (r#"principal.ref == "user:default/jane""#, "true"),
    (r#"principal == user:jane"#, "true"),
    (r#"target.owner.name == "payments""#, "true"),
    // params are strings
    (r#"params.name == "payments-api""#, "true"),
];

#[test]
fn operators_on_janes_token() {
    let mut wrong = Vec::new();
    for (expr, want) in JANE {
        let got = truth(expr, jane());
        if got != *want {
            wrong.push(format!("{expr}: expected {want}, got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn set_claims_contain_and_in() {
    let groups = || jane().set("groups", &["ops", "support"]);
    for (expr, want) in [
        (
            r#"claims has groups and claims.groups contains "ops""#,
            "true",
        ),
        (
            r#"claims has groups and claims.groups contains "Ops""#,
            "false",
        ),
        (
            r#"claims has groups and "support" in claims.groups"#,
            "true",
        ),
        (
            r#"claims has groups and claims.sub in claims.groups"#,
            "false",
        ),
        (
            r#"claims has groups and claims.groups contains target.owner.name"#,
            "false",
        ),
    ] {
        assert_eq!(truth(expr, groups()), want, "{expr}");
    }
    // a string claim for a set slot is a one-element set (§3)
    let one = jane().string("groups", "payments");
    assert_eq!(
        truth(
            r#"claims has groups and claims.groups contains target.owner.name"#,
            one
        ),
        "true"
    );
}

#[test]
fn ip_in_cidr() {
    let cases = [
        ("10.1.2.3", r#"ip "10.0.0.0/8""#, "true"),
        ("11.0.0.1", r#"ip "10.0.0.0/8""#, "false"),
        ("10.1.2.3", r#"ip "10.1.2.3""#, "true"),
        ("10.1.2.4", r#"ip "10.1.2.3""#, "false"),
        ("192.168.1.77", r#"ip "192.168.1.64/26""#, "true"),
        ("192.168.1.128", r#"ip "192.168.1.64/26""#, "false"),
        ("2001:db8::1", r#"ip "2001:db8::/32""#, "true"),
        ("2001:db9::1", r#"ip "2001:db8::/32""#, "false"),
        ("10.1.2.3", r#"ip "0.0.0.0/0""#, "true"),
        // an IPv4-mapped IPv6 address is that IPv4 address (§4)
        ("::ffff:10.1.2.3", r#"ip "10.0.0.0/8""#, "true"),
        // an IPv4 range holds no IPv6 address outside the mapped space
        ("2001:db8::1", r#"ip "0.0.0.0/0""#, "false"),
    ];
    for (addr, range, want) in cases {
        let expr = format!("request has ip and request.ip in {range}");
        assert_eq!(truth(&expr, jane().ip(addr)), want, "{addr} in {range}");
    }
    assert_eq!(
        truth(
            r#"request has ip and request.ip in ip "10.0.0.0/8""#,
            jane()
        ),
        "false",
        "no ip: the guard is false"
    );
}

#[test]
fn request_fields() {
    let r = || Req::new("POST", "https://Acme.DEV:8443/t/payments-api?x=1").country("NZ");
    for (expr, want) in [
        (r#"request.method == "POST""#, "true"),
        (r#"request.host == "acme.dev""#, "true"),
        (r#"request.path == "/t/payments-api""#, "true"),
        (r#"request has country and request.country == "NZ""#, "true"),
        (
            r#"request has country and request.country in ["KP", "IR"]"#,
            "false",
        ),
    ] {
        assert_eq!(truth(expr, r()), want, "{expr}");
    }
}

#[test]
fn owns_and_membership_of_other_principals() {
    let who = |email: &str| jane().email(email);
    for (expr, email, component, want) in [
        // raj is in oncall → admins → eng → org
        (
            "principal in group:admins",
            "raj@acme.dev",
            "payments-api",
            "true",
        ),
        (
            "principal in group:org",
            "raj@acme.dev",
            "payments-api",
            "true",
        ),
        (
            "principal in group:payments",
            "raj@acme.dev",
            "payments-api",
            "false",
        ),
        // owns needs direct membership: raj is in admins only through oncall
        ("principal owns target", "raj@acme.dev", "runner", "false"),
        (
            "principal owns target",
            "raj@acme.dev",
            "payments-api",
            "false",
        ),
        // carl is directly in payments
        ("principal owns target", "carl@acme.dev", "ledger", "true"),
        (
            "principal in group:contractors",
            "carl@acme.dev",
            "ledger",
            "true",
        ),
        // an entity owned by a user is owned by that user only
        ("principal owns target", "jane@acme.dev", "status", "true"),
        ("principal owns target", "carl@acme.dev", "status", "false"),
        // a user of another namespace, bound by email, member of a default-namespace group
        (
            "principal in group:admins",
            "ann@acme.dev",
            "runner",
            "true",
        ),
        ("principal owns target", "ann@acme.dev", "runner", "true"),
        (
            "principal.namespace == \"ops\"",
            "ann@acme.dev",
            "runner",
            "true",
        ),
        // a dangling owner resolves to nothing: owns is false, not an error (§7.7)
        ("principal owns target", "jane@acme.dev", "orphan", "false"),
        // nina is in no group
        (
            "principal in group:org",
            "nina@acme.dev",
            "payments-api",
            "false",
        ),
    ] {
        assert_eq!(
            truth_on(expr, component, who(email)),
            want,
            "{email}: {expr} on {component}"
        );
    }
}

#[test]
fn principal_binding() {
    let bound = "principal.name == principal.name";
    for (email, want) in [
        ("jane@acme.dev", "true"),
        // emails compare ASCII case-insensitively (§7.6)
        ("JANE@Acme.Dev", "true"),
        ("kim.lee@acme.dev", "true"),
        // an email several users share binds no one
        ("dana@acme.dev", "error"),
        ("nobody@acme.dev", "error"),
        ("jane@acme.dev ", "error"),
        // ASCII only: `Ü` does not fold to `ü`
        ("JüRGEN@ACME.DEV", "true"),
        ("JÜRGEN@acme.dev", "error"),
    ] {
        assert_eq!(truth(bound, jane().email(email)), want, "{email}");
    }
    // no email claim at all: matches nothing, does not err at binding time
    assert_eq!(truth(bound, jane().without("email")), "error");
    assert_eq!(
        truth("claims.sub == \"jane\"", jane().without("email")),
        "true"
    );
}

#[test]
fn service_binding() {
    let service = |cn: &str| {
        get("https://acme.dev/t/batches")
            .without("email")
            .string("common_name", cn)
    };
    for (expr, cn, component, want) in [
        (
            "principal == component:runner",
            "runner.access",
            "batches",
            "true",
        ),
        // a service principal owns what names it as owner (§7.6)
        ("principal owns target", "runner.access", "batches", "true"),
        (
            "principal owns target",
            "runner.access",
            "payments-api",
            "false",
        ),
        // and is in no group: false, not an error
        (
            "principal in group:admins",
            "runner.access",
            "batches",
            "false",
        ),
        (
            "not (principal in group:contractors)",
            "runner.access",
            "batches",
            "true",
        ),
        // case-sensitive, one match only
        (
            "principal == component:runner",
            "RUNNER.access",
            "batches",
            "error",
        ),
        (
            "principal.name == \"dup-a\"",
            "dup.access",
            "batches",
            "error",
        ),
    ] {
        assert_eq!(truth_on(expr, component, service(cn)), want, "{cn}: {expr}");
    }
    // `service` is tried only when the user binding did not bind
    let both = service("runner.access").email("jane@acme.dev");
    assert_eq!(
        truth_on("principal == user:jane", "batches", both.clone()),
        "true"
    );
    let unbound_user = service("runner.access").email("nobody@acme.dev");
    assert_eq!(
        truth_on("principal == component:runner", "batches", unbound_user),
        "true"
    );
}

#[test]
fn time_windows_at_their_edges() {
    let freeze = r#"request.time >= time "2026-12-20T00:00:00Z" and request.time < time "2027-01-04T00:00:00Z""#;
    for (at, want) in [
        ("2026-12-19T23:59:59Z", "false"),
        ("2026-12-20T00:00:00Z", "true"),
        ("2026-12-20T01:00:00+01:00", "true"),
        ("2027-01-03T23:59:59Z", "true"),
        ("2027-01-04T00:00:00Z", "false"),
    ] {
        assert_eq!(truth(freeze, jane().at(at)), want, "{at}");
    }
}
