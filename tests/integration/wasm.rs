//! Code generation: emitted modules validate, decide per DESIGN §7 in wasmtime, and never trap.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod build;
pub mod generate;

use build::{B, req, with, with_ip};
use edgeward::input::{ClaimType, ClaimValue, Request};
use edgeward::ir::entities::Related;
use edgeward::ir::{Expr, FieldKey, Program, Target, TemplatePart};
use edgeward::syntax::ast::Effect;
use edgeward::wasm::abi::Outcome;
use edgeward::wasm::{Compiled, Decider, Manifest, compile, route_order, to_wat};

/// A compiled program with one decider.
struct T {
    p: Program,
    d: Decider,
    bytes: Vec<u8>,
}

fn t(p: Program) -> T {
    let bytes = compile(&p).unwrap();
    validate(&bytes);
    let c = Compiled::from_bytes(&bytes).unwrap();
    T {
        d: c.decider().unwrap(),
        p,
        bytes,
    }
}

fn validate(bytes: &[u8]) {
    wasmparser::Validator::new().validate_all(bytes).unwrap();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::ImportSection(s) = payload.unwrap() {
            assert_eq!(s.count(), 0, "module has imports");
        }
    }
}

impl T {
    /// `allow by NAME`, `deny by NAME`, `require by NAME`, or the bare outcome.
    fn ask(&mut self, r: &Request) -> String {
        let d = self.d.decide(r).unwrap();
        match d.rule {
            Some(i) => format!(
                "{} by {}",
                d.outcome.as_str(),
                self.p.rules[i as usize].name
            ),
            None => d.outcome.as_str().to_string(),
        }
    }

    fn route(&mut self, r: &Request) -> Option<u32> {
        self.d.decide(r).unwrap();
        self.d.last_route()
    }
}

fn get(path: &str) -> Request {
    req("GET", "x.dev", path)
}

/// A program with one `ANY /` route holding `allow yes when <cond>` and a bool result.
fn cond_prog(f: impl FnOnce(&mut B) -> edgeward::ir::ExprId) -> Program {
    let mut b = B::new();
    let r = b.route("ANY", None, "/");
    let c = f(&mut b);
    b.allow(r, "yes", Some(c));
    b.build()
}

#[test]
fn empty_policy_is_tiny_and_answers_no_route() {
    let mut t = t(B::new().build());
    assert!(t.bytes.len() <= 1024, "{} bytes", t.bytes.len());
    assert_eq!(t.ask(&get("/")), "no_route");
    assert_eq!(t.route(&get("/")), None);
}

/// The host encodes a claims value once and reuses it for every request that shares it; claims
/// changed on a copy are encoded afresh, and many values interleaved never mix.
#[test]
fn shared_claims_are_encoded_once_and_changes_are_seen() {
    let mut ex = t(build::example());
    let mut jane = req("POST", "payments.acme.dev", "/deploy/payments-api");
    jane.time = 1_795_000_000;
    jane = with(jane, "email", ClaimValue::String("Jane@acme.dev".into()));
    jane = with(
        jane,
        "amr",
        ClaimValue::Set(vec!["pwd".into(), "mfa".into()]),
    );
    let agree = |ex: &mut T, r: &Request| {
        let module = ex.d.decide(r).unwrap();
        assert_eq!(module, edgeward::interp::decide(&ex.p, r), "{r:?}");
        ex.ask(r)
    };
    assert_eq!(agree(&mut ex, &jane), "allow by deploy");
    let mut web = jane.clone();
    web.path = "/deploy/Payments-Web".into();
    assert!(std::sync::Arc::ptr_eq(&web.claims, &jane.claims));
    assert_eq!(agree(&mut ex, &web), "default");
    let mut nomfa = jane.clone();
    nomfa.claims_mut().remove("amr");
    assert_eq!(agree(&mut ex, &nomfa), "require by require#1");
    assert_eq!(agree(&mut ex, &jane), "allow by deploy");
    let people: Vec<Request> = ["bob@acme.dev", "Jane@acme.dev", "nobody@x.dev"]
        .iter()
        .map(|e| with(jane.clone(), "email", ClaimValue::String((*e).into())))
        .collect();
    for _ in 0..3 {
        for r in &people {
            agree(&mut ex, r);
        }
    }
    // Claims given beside the request (as a replay does) decide as the same claims inside it,
    // whatever the request itself carries.
    let bare = req("POST", "payments.acme.dev", "/deploy/payments-api");
    for _ in 0..2 {
        for r in people.iter().chain([&jane, &nomfa]) {
            let beside = ex.d.decide_with(
                &Request {
                    claims: Default::default(),
                    ..r.clone()
                },
                &r.claims,
                None,
            );
            assert_eq!(beside.unwrap(), ex.d.decide(r).unwrap(), "{r:?}");
            let other = ex.d.decide_with(&jane, &r.claims, None).unwrap();
            assert_eq!(
                other,
                ex.d.decide(&Request {
                    claims: r.claims.clone(),
                    ..jane.clone()
                })
                .unwrap()
            );
        }
        assert_eq!(
            ex.d.decide_with(&bare, &jane.claims, None).unwrap(),
            ex.d.decide(&Request {
                claims: jane.claims.clone(),
                ..bare.clone()
            })
            .unwrap()
        );
    }
}

/// The place kept beside a claims value for its encoding is filled by the first decider that
/// needs it and serves every decider of the same module after; a decider of another module (other
/// claim slots) encodes the claims on its own.
#[test]
fn an_encoding_kept_beside_claims_serves_the_deciders_of_its_module_only() {
    use edgeward::wasm::ClaimsEncoding;
    let example = Compiled::from_bytes(&compile(&build::example()).unwrap()).unwrap();
    let (mut d1, mut d2) = (example.decider().unwrap(), example.decider().unwrap());
    let small = "policy small version 1\n\nuse std::cloudflare_access\n\n\
                 route ANY \"/\" {\n  allow jane when claims has email and claims.email == \"Jane@acme.dev\"\n}\n";
    let none = edgeward::catalog::Catalog::from_yaml_str("none", "")
        .unwrap()
        .catalog;
    let small = edgeward::compile("small.ward", small, Some(&none))
        .unwrap()
        .program;
    let mut other = Compiled::from_bytes(&compile(&small).unwrap())
        .unwrap()
        .decider()
        .unwrap();
    let mut r = req("POST", "payments.acme.dev", "/deploy/payments-api");
    r.time = 1_795_000_000;
    r = with(r, "amr", ClaimValue::Set(vec!["pwd".into(), "mfa".into()]));
    let root = req("GET", "payments.acme.dev", "/");
    for email in ["bob@acme.dev", "Jane@acme.dev", "nobody@x.dev"] {
        let inside = with(r.clone(), "email", ClaimValue::String(email.into()));
        let claims = &inside.claims;
        let kept = ClaimsEncoding::default();
        let expected = d1.decide(&inside).unwrap();
        assert!(!kept.is_made());
        for d in [0, 1, 0] {
            let d = if d == 0 { &mut d1 } else { &mut d2 };
            assert_eq!(
                d.decide_with(&r, claims, Some(&kept)).unwrap(),
                expected,
                "{email}"
            );
            assert!(kept.is_made());
        }
        let at_root = Request {
            claims: claims.clone(),
            ..root.clone()
        };
        let expected = other.decide(&at_root).unwrap();
        assert_eq!(
            other.decide_with(&root, claims, Some(&kept)).unwrap(),
            expected,
            "{email}, another module"
        );
        assert_eq!(
            expected.outcome == Outcome::Allow,
            email == "Jane@acme.dev",
            "{expected:?}"
        );
    }
}

/// The interpreter given claims beside a request (as `--cross-check` runs it) decides as with the
/// same claims inside the request: over more distinct claims values than it keeps copies of, each
/// value given again after others and twice in a row.
#[test]
fn the_interpreter_given_claims_beside_a_request_decides_as_with_them_inside() {
    use edgeward::sim::engine::{Engine, Interpreter};
    use std::sync::Arc;
    let program = build::example();
    let engine = Interpreter {
        program: program.clone(),
    };
    let mut decider = engine.decider().unwrap();
    let mut r = req("POST", "payments.acme.dev", "/deploy/payments-api");
    r.time = 1_795_000_000;
    r = with(r, "amr", ClaimValue::Set(vec!["pwd".into(), "mfa".into()]));
    let emails = ["bob@acme.dev", "Jane@acme.dev", "nobody@x.dev"];
    let values: Vec<Arc<_>> = (0..20_000)
        .map(|i| with(r.clone(), "email", ClaimValue::String(emails[i % 3].into())).claims)
        .collect();
    let mut outcomes = std::collections::BTreeSet::new();
    for i in (0..values.len()).chain([0, 0, 4, 1, 1, 2]) {
        let claims = &values[i];
        let inside = edgeward::interp::decide(
            &program,
            &Request {
                claims: Arc::clone(claims),
                ..r.clone()
            },
        );
        assert_eq!(
            decider.decide_with(&r, claims, None).unwrap(),
            inside,
            "value {i}"
        );
        outcomes.insert(format!("{inside:?}"));
    }
    assert!(outcomes.len() >= 2, "{outcomes:?}");
}

#[test]
fn sizes_stay_small() {
    let mut ex = t(build::example());
    let whole = ex.bytes.len();
    let bare = edgeward::wasm::manifest::size_without_manifest(&ex.bytes).unwrap();
    eprintln!("example: {whole} bytes whole, {bare} without the manifest");
    assert!(whole <= 8 * 1024, "example is {whole} bytes");
    let jane = || {
        let mut r = req("POST", "payments.acme.dev", "/deploy/payments-api");
        r.time = 1_795_000_000;
        r = with(r, "email", ClaimValue::String("Jane@acme.dev".into()));
        with(r, "amr", ClaimValue::Set(vec!["pwd".into(), "mfa".into()]))
    };
    assert_eq!(ex.ask(&jane()), "allow by deploy");
    let mut frozen = jane();
    frozen.time = 1_797_724_800;
    assert_eq!(ex.ask(&frozen), "deny by freeze");
    let mut web = jane();
    web.path = "/deploy/Payments-Web".into();
    assert_eq!(ex.ask(&web), "default");
    let mut nomfa = jane();
    nomfa.claims_mut().remove("amr");
    assert_eq!(ex.ask(&nomfa), "require by require#1");
    let mut kp = jane();
    kp.country = Some("KP".into());
    assert_eq!(ex.ask(&kp), "deny by embargo");
    let bob = with(
        req("GET", "payments.acme.dev", "/api/v1/payments/42"),
        "email",
        ClaimValue::String("bob@acme.dev".into()),
    );
    assert_eq!(ex.ask(&bob), "allow by reader");
    assert_eq!(
        ex.ask(&req("PUT", "other.dev", "/healthz")),
        "allow by public"
    );
    let big = compile(&build::big(1000)).unwrap();
    validate(&big);
    let bare = edgeward::wasm::manifest::size_without_manifest(&big).unwrap();
    if std::env::var("DUMP_WAT").is_ok() {
        std::fs::write("/tmp/big.wat", to_wat(&big).unwrap()).unwrap();
    }
    eprintln!(
        "1000 rules: {} bytes whole, {bare} without the manifest",
        big.len()
    );
    assert!(bare <= 100 * 1024, "1000-rule policy is {bare} bytes");
}

#[test]
fn manifest_round_trips_through_the_module() {
    let mut b = B::new();
    b.claim("email", ClaimType::String, true);
    let r = b.route("GET|HEAD", Some("a.dev"), "/x/{id}");
    b.allow(r, "public", None);
    let p = b.build();
    let bytes = compile(&p).unwrap();
    let m = Manifest::from_module(&bytes).unwrap();
    assert_eq!(m, Manifest::from_program(&p));
    assert_eq!(m.routes[0].methods, "GET|HEAD");
    assert_eq!(m.slots[3].name, "claims.email");
    let json: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    assert_eq!(json["rules"][0]["effect"], "allow");
    assert_eq!(json["rules"][0]["route"], 0);
    assert_eq!(json["input_capacity"], 65536);
    assert_eq!(compile(&p).unwrap(), bytes, "deterministic bytes");
}

#[test]
fn wat_snapshots() {
    let mut b = B::new();
    let r = b.route("GET", None, "/healthz");
    b.allow(r, "public", None);
    let healthz = to_wat(&compile(&b.build()).unwrap()).unwrap();
    let mut b = B::new();
    let country = b.country();
    let r = b.route("POST", Some("a.dev"), "/deploy/{name}");
    let has = b.e(Expr::Has(country));
    let c = b.e(Expr::Slot(country));
    let list = b.e(Expr::StrList(vec!["KP".into(), "IR".into()]));
    let inl = b.e(Expr::SetHas { set: list, elem: c });
    let cond = b.e(Expr::And(has, inl));
    b.rule(None, Effect::Deny, "embargo", Some(cond));
    let p = b.e(Expr::Param(0));
    let ok = b.s("api");
    let sw = b.e(Expr::StartsWith(p, ok));
    b.allow(r, "deploy", Some(sw));
    let deploy = to_wat(&compile(&b.build()).unwrap()).unwrap();
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("wasm_healthz", healthz);
        insta::assert_snapshot!("wasm_deploy", deploy);
    });
}

#[test]
fn route_order_is_most_specific_first() {
    let mut b = B::new();
    b.route("ANY", None, "/*"); // 0
    b.route("ANY", None, "/a/{x}"); // 1
    b.route("ANY", None, "/a/b"); // 2
    b.route("ANY", None, "/a/*"); // 3
    b.route("ANY", None, "/a"); // 4
    b.route("ANY", Some("h.dev"), "/a/b"); // 5
    b.route("ANY", None, "/{x}/b"); // 6
    assert_eq!(route_order(&b.p.routes), vec![5, 2, 1, 4, 3, 6, 0]);
}

#[test]
fn routing_precedence() {
    let mut b = B::new();
    for (m, h, path, name) in [
        ("ANY", None, "/*", "star"),
        ("ANY", None, "/a/{x}", "param"),
        ("ANY", None, "/a/b", "lit"),
        ("ANY", None, "/a/*", "astar"),
        ("ANY", None, "/a", "a"),
        ("ANY", Some("h.dev"), "/a/b", "hostlit"),
        ("POST", None, "/m", "post"),
        ("GET|HEAD", None, "/m", "get"),
        ("ANY", None, "/", "root"),
    ] {
        let r = b.route(m, h, path);
        b.allow(r, name, None);
    }
    let mut t = t(b.build());
    let at = |t: &mut T, m: &str, h: &str, p: &str| t.ask(&req(m, h, p));
    assert_eq!(at(&mut t, "GET", "x.dev", "/a/b"), "allow by lit");
    assert_eq!(at(&mut t, "GET", "H.Dev", "/a/b"), "allow by hostlit");
    assert_eq!(at(&mut t, "GET", "h.dev", "/a/c"), "allow by param");
    assert_eq!(
        at(&mut t, "GET", "x.dev", "/a/"),
        "allow by astar",
        "empty segment is no param"
    );
    assert_eq!(
        at(&mut t, "GET", "x.dev", "/a"),
        "allow by a",
        "ends before star"
    );
    assert_eq!(at(&mut t, "GET", "x.dev", "/a/b/c"), "allow by astar");
    assert_eq!(at(&mut t, "GET", "x.dev", "/b"), "allow by star");
    assert_eq!(at(&mut t, "GET", "x.dev", "/"), "allow by root");
    assert_eq!(at(&mut t, "GET", "x.dev", ""), "allow by root");
    assert_eq!(at(&mut t, "GET", "x.dev", "//"), "allow by star");
    assert_eq!(at(&mut t, "POST", "x.dev", "/m"), "allow by post");
    assert_eq!(at(&mut t, "HEAD", "x.dev", "/m"), "allow by get");
    assert_eq!(at(&mut t, "PUT", "x.dev", "/m"), "allow by star");
    assert_eq!(
        at(&mut t, "get", "x.dev", "/m"),
        "allow by star",
        "methods are exact"
    );
    for longer_or_shorter in ["POSTX", "POS", "GETS", "GE", "HEADHEAD", "HEA"] {
        assert_eq!(
            at(&mut t, longer_or_shorter, "x.dev", "/m"),
            "allow by star",
            "{longer_or_shorter} is no route method"
        );
    }
    assert_eq!(t.route(&req("GET", "x.dev", "/a/c")), Some(1));
}

#[test]
fn no_route_and_trailing_slash() {
    let mut b = B::new();
    let r = b.route("GET", Some("a.dev"), "/x/{id}");
    b.allow(r, "ok", None);
    let r = b.route("GET", None, "/y/");
    b.allow(r, "slash", None);
    let mut t = t(b.build());
    assert_eq!(t.ask(&req("GET", "a.dev", "/x/1")), "allow by ok");
    assert_eq!(t.ask(&req("GET", "b.dev", "/x/1")), "no_route");
    assert_eq!(t.ask(&req("GET", "a.dev", "/x/1/")), "no_route");
    assert_eq!(t.ask(&req("GET", "a.dev", "/x/")), "no_route");
    assert_eq!(t.ask(&req("GET", "a.dev", "/y/")), "allow by slash");
    assert_eq!(t.ask(&req("GET", "a.dev", "/y")), "no_route");
    assert_eq!(t.route(&req("GET", "b.dev", "/x/1")), None);
}

#[test]
fn params_are_percent_decoded() {
    let mut b = B::new();
    let r = b.route("ANY", None, "/{a}/{b}");
    let pa = b.e(Expr::Param(0));
    let pb = b.e(Expr::Param(1));
    let want_a = b.s("x/y z%");
    let want_b = b.s("%4g%\u{e9}");
    let ea = b.e(Expr::Eq(pa, want_a));
    let eb = b.e(Expr::Eq(pb, want_b));
    let both = b.e(Expr::And(ea, eb));
    b.allow(r, "ok", Some(both));
    let mut t = t(b.build());
    assert_eq!(t.ask(&get("/x%2fy%20z%/%4g%%C3%A9")), "allow by ok");
    assert_eq!(t.ask(&get("/x%2Fy%20z%25/%4g%%c3%a9")), "allow by ok");
    assert_eq!(t.ask(&get("/x%2fy%20z/%4g%%C3%A9")), "default");
}

/// Splitting and percent-decoding skip eight bytes at a time when they hold no `/` or `%`: long
/// segments with an escape, a cut escape or a slash at every offset split and decode exactly as
/// on the interpreter, and each decodes to the value a rule expects.
#[test]
fn long_segments_split_and_decode_word_by_word() {
    fn decode(s: &str) -> Option<String> {
        let b = s.as_bytes();
        let (mut out, mut i) = (Vec::new(), 0);
        while i < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'%', Some(v))
                    if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) =>
                {
                    out.push(v);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).ok()
    }
    let base = "abcdefghijklmnopqrstuvwxyz0123456789";
    let mut segs = Vec::new();
    for cut in 0..=base.len() {
        for insert in ["%41", "%4", "%", "%2F", "%zz", "/"] {
            let mut seg = base.to_string();
            seg.insert_str(cut, insert);
            segs.push(seg);
        }
    }
    let mut b = B::new();
    let r = b.route("ANY", None, "/{a}/x");
    for (i, seg) in segs.iter().enumerate().filter(|(_, s)| !s.contains('/')) {
        let Some(decoded) = decode(seg) else {
            continue;
        };
        let pa = b.e(Expr::Param(0));
        let want = b.s(&decoded);
        let eq = b.e(Expr::Eq(pa, want));
        b.allow(r, &format!("r{i}"), Some(eq));
    }
    let r3 = b.route("ANY", None, "/{a}/{b}/x");
    b.allow(r3, "three", None);
    let mut t = t(b.build());
    for (i, seg) in segs.iter().enumerate() {
        let r = get(&format!("/{seg}/x"));
        assert_eq!(
            t.d.decide(&r).unwrap(),
            edgeward::interp::decide(&t.p, &r),
            "{seg}"
        );
        let expected = if seg.starts_with('/') || seg.ends_with('/') {
            "no_route".to_string() // an empty segment matches no param
        } else if seg.contains('/') {
            "allow by three".to_string()
        } else if decode(seg).is_some() {
            format!("allow by r{i}")
        } else {
            continue;
        };
        assert_eq!(t.ask(&r), expected, "{seg}");
    }
}

#[test]
fn templated_targets_look_up_case_insensitively() {
    let mut b = B::new();
    let api = b.entity("component", "payments-api");
    let web = b.entity("component", "web");
    let name = b.field(FieldKey::Name);
    b.set_field(name, api, "Payments-API");
    let r = b.route("ANY", None, "/deploy/{name}");
    b.target(
        r,
        Target::Template {
            kind: "component".into(),
            namespace: "default".into(),
            parts: vec![TemplatePart::Param(0), TemplatePart::Lit("-api".into())],
            candidates: vec![("payments-api".into(), api), ("web-api".into(), web)],
        },
        "component:default/{name}-api",
    );
    let tg = b.e(Expr::Target);
    let f = b.e(Expr::Field(tg, name));
    let want = b.s("Payments-API");
    let is = b.e(Expr::Eq(f, want));
    b.allow(r, "named", Some(is));
    let tg = b.e(Expr::Target);
    let web_e = b.e(Expr::Entity(web));
    let is_web = b.e(Expr::Eq(tg, web_e));
    b.allow(r, "web", Some(is_web));
    let mut t = t(b.build());
    assert_eq!(t.ask(&get("/deploy/payments")), "allow by named");
    assert_eq!(t.ask(&get("/deploy/PayMents")), "allow by named");
    assert_eq!(t.ask(&get("/deploy/pay%6Dents")), "allow by named");
    assert_eq!(
        t.ask(&get("/deploy/WEB")),
        "allow by web",
        "named errs on web: skipped"
    );
    assert_eq!(t.ask(&get("/deploy/nope")), "unknown_target");
    assert_eq!(t.route(&get("/deploy/nope")), Some(0));
}

/// A program binding the principal by `email` to user `u{i}` for `keys[i]` (ASCII
/// case-insensitively when `fold`), with one `ANY /` route allowing `u{i}` by rule `u{i}`.
fn email_principals(keys: &[String], fold: bool) -> T {
    let mut b = B::new();
    let email = b.claim("email", ClaimType::String, true);
    let users: Vec<_> = (0..keys.len())
        .map(|i| b.entity("user", &format!("u{i}")))
        .collect();
    let entries: Vec<(&str, _)> = keys.iter().map(String::as_str).zip(users.clone()).collect();
    b.p.principal = Some(b.binding(email, fold, &entries));
    let r = b.route("ANY", None, "/");
    for (i, u) in users.iter().enumerate() {
        let pr = b.e(Expr::Principal);
        let ue = b.e(Expr::Entity(*u));
        let is = b.e(Expr::Eq(pr, ue));
        b.allow(r, &format!("u{i}"), Some(is));
    }
    t(b.build())
}

/// Case-insensitive lookups compare eight bytes at a time: keys of every length around the word
/// size, bytes beside `A`..`Z` (`@ [ ` { `), and non-ASCII bytes, looked up in several cases,
/// decide on the module exactly as on the interpreter.
#[test]
fn case_insensitive_lookups_agree_word_by_word() {
    let mut keys: Vec<String> = (1..=26)
        .map(|n| {
            let base = "ab@[`{Z\u{fc}x.Q-";
            base.chars().cycle().take(n).collect::<String>() + &n.to_string()
        })
        .collect();
    // Bytes one case bit away from letters: a fold that touched them would match these wrongly.
    keys.extend(["`{`{`{`{ab", "`{`{`{`{`{`{`{`{cd"].map(String::from));
    let mut t = email_principals(&keys, true);
    for (i, k) in keys.iter().enumerate() {
        let variants = [
            k.clone(),
            k.to_ascii_uppercase(),
            k.to_ascii_lowercase(),
            k.to_uppercase(),
            format!("{k}x"),
            k.chars().skip(1).collect(),
            k.replace('`', "@").replace('{', "["),
        ];
        for v in variants {
            let r = with(get("/"), "email", ClaimValue::String(v.clone()));
            let module = t.d.decide(&r).unwrap();
            assert_eq!(module, edgeward::interp::decide(&t.p, &r), "{v:?}");
            if v.eq_ignore_ascii_case(k) {
                assert_eq!(t.ask(&r), format!("allow by u{i}"), "{v:?}");
            }
        }
    }
}

/// String lookups decide most binary-search steps on the keys' first eight bytes: on keys of 0 to
/// 12 bytes from an alphabet with NUL, case pairs and a non-ASCII letter (so that zero padding,
/// shorter-is-first and folding all matter), every key, its prefixes, extensions and case
/// variants, and strings beside them, decide on the module exactly as on the interpreter.
#[test]
fn string_lookups_order_keys_by_their_first_word_as_in_full() {
    use proptest::prelude::*;
    let alphabet =
        prop::sample::select(vec!["\0", "a", "A", "b", "z", "Z", "@", "[", "\u{e9}", "~"]);
    let key = prop::collection::vec(alphabet.clone(), 0..13).prop_map(|v| v.concat());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    });
    let strategy = (
        prop::collection::btree_set(key.clone(), 1..24),
        prop::collection::vec(key, 0..8),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(keys, probes, fold)| {
            // Keys alike once folded would bind one string twice: keep the first.
            let mut seen = std::collections::BTreeSet::new();
            let keys: Vec<String> = keys
                .into_iter()
                .filter(|k| {
                    seen.insert(if fold {
                        k.to_ascii_lowercase()
                    } else {
                        k.clone()
                    })
                })
                .collect();
            let mut t = email_principals(&keys, fold);
            let mut asked: Vec<String> = probes;
            for k in &keys {
                asked.push(k.clone());
                asked.push(k.to_ascii_uppercase());
                asked.push(format!("{k}\0"));
                asked.push(format!("{k}a"));
                let mut chars = k.chars();
                chars.next_back();
                asked.push(chars.as_str().to_string());
            }
            for v in asked {
                let r = with(get("/"), "email", ClaimValue::String(v.clone()));
                prop_assert_eq!(
                    t.d.decide(&r).unwrap(),
                    edgeward::interp::decide(&t.p, &r),
                    "{:?} in {:?}",
                    v,
                    keys
                );
            }
            Ok(())
        })
        .unwrap();
}

/// Literal path segments are compared a word at a time: literals of every length around eight
/// bytes, probed with segments that differ in one byte anywhere, decide as on the interpreter.
#[test]
fn literal_segments_match_exactly_word_by_word() {
    let lits: Vec<String> = (1..=12)
        .map(|n| "abcdefghijkl".chars().take(n).collect())
        .collect();
    let mut b = B::new();
    for l in &lits {
        let r = b.route("GET", None, &format!("/{l}/x"));
        b.allow(r, &format!("r{}", l.len()), None);
    }
    let mut t = t(b.build());
    for l in &lits {
        let mut probes = vec![l.clone(), l.to_uppercase(), format!("{l}z")];
        for i in 0..l.len() {
            let mut bytes = l.clone().into_bytes();
            bytes[i] ^= 1;
            probes.push(String::from_utf8(bytes).unwrap());
        }
        for p in probes {
            let r = get(&format!("/{p}/x"));
            assert_eq!(
                t.d.decide(&r).unwrap(),
                edgeward::interp::decide(&t.p, &r),
                "{p}"
            );
            let expected = if &p == l {
                format!("allow by r{}", l.len())
            } else {
                "no_route".to_string()
            };
            assert_eq!(t.ask(&r), expected, "{p}");
        }
    }
}

#[test]
fn principal_then_service_binding() {
    let mut b = B::new();
    let email = b.claim("email", ClaimType::String, true);
    let cn = b.claim("common_name", ClaimType::String, true);
    let jane = b.entity("user", "jane");
    let bot = b.entity("component", "bot");
    b.p.principal = Some(b.binding(email, true, &[("Jane@Acme.dev", jane)]));
    b.p.service = Some(b.binding(cn, false, &[("Client-1", bot)]));
    let r = b.route("ANY", None, "/");
    let pr = b.e(Expr::Principal);
    let je = b.e(Expr::Entity(jane));
    let is_jane = b.e(Expr::Eq(pr, je));
    b.allow(r, "jane", Some(is_jane));
    let pr = b.e(Expr::Principal);
    let be = b.e(Expr::Entity(bot));
    let is_bot = b.e(Expr::Eq(pr, be));
    b.allow(r, "bot", Some(is_bot));
    let mut t = t(b.build());
    let s = |v: &str| ClaimValue::String(v.into());
    assert_eq!(
        t.ask(&with(get("/"), "email", s("JANE@acme.DEV"))),
        "allow by jane"
    );
    assert_eq!(
        t.ask(&with(get("/"), "common_name", s("Client-1"))),
        "allow by bot"
    );
    assert_eq!(
        t.ask(&with(get("/"), "common_name", s("client-1"))),
        "default"
    );
    let both = with(
        with(get("/"), "email", s("nobody@x")),
        "common_name",
        s("Client-1"),
    );
    assert_eq!(
        t.ask(&both),
        "allow by bot",
        "service binds when principal does not"
    );
    assert_eq!(
        t.ask(&get("/")),
        "default",
        "unbound principal errs: allows skipped"
    );
}

#[test]
fn error_rules_fail_closed() {
    let mut b = B::new();
    let email = b.claim("email", ClaimType::String, true);
    let r = b.route("ANY", None, "/d");
    let c = b.e(Expr::Slot(email));
    let x = b.s("x");
    let eq = b.e(Expr::Eq(c, x));
    let not = b.e(Expr::Not(eq));
    b.rule(Some(r), Effect::Deny, "d", Some(not));
    b.allow(r, "a", None);
    let r2 = b.route("ANY", None, "/r");
    let c = b.e(Expr::Slot(email));
    let x = b.s("x");
    let eq = b.e(Expr::Eq(c, x));
    b.rule(Some(r2), Effect::Require, "require#1", Some(eq));
    b.allow(r2, "a", None);
    let r3 = b.route("ANY", None, "/s");
    let f = b.e(Expr::Bool(false));
    let c = b.e(Expr::Slot(email));
    let x = b.s("x");
    let eq = b.e(Expr::Eq(c, x));
    let and = b.e(Expr::And(f, eq));
    let not = b.e(Expr::Not(and));
    b.allow(r3, "short", Some(not));
    let tr = b.e(Expr::Bool(true));
    let c = b.e(Expr::Slot(email));
    let x = b.s("x");
    let eq = b.e(Expr::Eq(c, x));
    let or = b.e(Expr::Or(eq, tr));
    b.allow(r3, "err_left", Some(or));
    let mut t = t(b.build());
    let x = |r: Request| with(r, "email", ClaimValue::String("x".into()));
    assert_eq!(t.ask(&get("/d")), "deny by d", "erring deny denies");
    assert_eq!(t.ask(&x(get("/d"))), "allow by a");
    assert_eq!(
        t.ask(&get("/r")),
        "require by require#1",
        "erring require fails"
    );
    assert_eq!(t.ask(&x(get("/r"))), "allow by a");
    assert_eq!(
        t.ask(&get("/s")),
        "allow by short",
        "false and E never evaluates E"
    );
    let mut b2 = B::new();
    let email = b2.claim("email", ClaimType::String, true);
    let r = b2.route("ANY", None, "/");
    let c = b2.e(Expr::Slot(email));
    let x = b2.s("x");
    let eq = b2.e(Expr::Eq(c, x));
    let tr = b2.e(Expr::Bool(true));
    let or = b2.e(Expr::Or(eq, tr));
    b2.allow(r, "err_or", Some(or));
    let tr = b2.e(Expr::Bool(true));
    let c = b2.e(Expr::Slot(email));
    let x = b2.s("x");
    let eq = b2.e(Expr::Eq(c, x));
    let and = b2.e(Expr::And(tr, eq));
    let not = b2.e(Expr::Not(and));
    b2.allow(r, "true_and_err", Some(not));
    let tr = b2.e(Expr::Bool(true));
    let c = b2.e(Expr::Slot(email));
    let x = b2.s("x");
    let eq = b2.e(Expr::Eq(c, x));
    let or = b2.e(Expr::Or(tr, eq));
    b2.allow(r, "true_or", Some(or));
    let mut t2 = self::t(b2.build());
    assert_eq!(t2.ask(&get("/")), "allow by true_or");
}

#[test]
fn top_denies_run_before_route_rules() {
    let mut b = B::new();
    let country = b.country();
    let has = b.e(Expr::Has(country));
    let c = b.e(Expr::Slot(country));
    let kp = b.s("KP");
    let is = b.e(Expr::Eq(c, kp));
    let cond = b.e(Expr::And(has, is));
    b.rule(None, Effect::Deny, "embargo", Some(cond));
    let r = b.route("ANY", None, "/");
    let never = b.e(Expr::Bool(false));
    b.rule(Some(r), Effect::Deny, "never", Some(never));
    b.allow(r, "ok", None);
    let mut t = t(b.build());
    let mut kp = get("/");
    kp.country = Some("KP".into());
    assert_eq!(t.ask(&kp), "deny by embargo");
    assert_eq!(t.ask(&get("/")), "allow by ok");
    assert_eq!(
        t.ask(&get("/nope")),
        "no_route",
        "no route: top denies not consulted"
    );
}

/// Evaluates `cond` on a request and reports `true`, `false` or `err` (via deny semantics).
fn tri(p: &Program, r: &Request) -> &'static str {
    let mut p2 = p.clone();
    // rule 0 is `allow yes when cond`; add `deny no when cond` on a twin route to detect errors
    let cond = p.rules[0].cond;
    let mut b = B { p: p2.clone() };
    let twin = b.route("ANY", None, "/twin");
    b.rule(Some(twin), Effect::Deny, "no", cond);
    b.allow(twin, "fine", None);
    p2 = b.build();
    let mut t = t(p2);
    let allow = t.ask(r);
    let mut r2 = r.clone();
    r2.path = "/twin".into();
    let deny = t.ask(&r2);
    match (allow.as_str(), deny.as_str()) {
        ("allow by yes", "deny by no") => "true",
        ("default", "allow by fine") => "false",
        ("default", "deny by no") => "err",
        other => panic!("inconsistent {other:?}"),
    }
}

fn str_op(
    op: fn(edgeward::ir::ExprId, edgeward::ir::ExprId) -> Expr,
    l: &str,
    r: &str,
) -> &'static str {
    let (l, r) = (l.to_string(), r.to_string());
    let p = cond_prog(|b| {
        let l = b.s(&l);
        let r = b.s(&r);
        b.e(op(l, r))
    });
    tri(&p, &get("/"))
}

#[test]
fn string_operators() {
    let contains = |h, n| Expr::StrContains {
        haystack: h,
        needle: n,
    };
    assert_eq!(str_op(contains, "hello", "ell"), "true");
    assert_eq!(str_op(contains, "hello", ""), "true");
    assert_eq!(str_op(contains, "he", "hello"), "false");
    assert_eq!(str_op(contains, "hello", "lo"), "true");
    assert_eq!(str_op(contains, "hello", "Ell"), "false");
    assert_eq!(str_op(Expr::StartsWith, "hello", "he"), "true");
    assert_eq!(str_op(Expr::StartsWith, "hello", "el"), "false");
    assert_eq!(str_op(Expr::EndsWith, "hello", "llo"), "true");
    assert_eq!(str_op(Expr::EndsWith, "lo", "hello"), "false");
    assert_eq!(
        str_op(Expr::Eq, "a-long-string-1", "a-long-string-1"),
        "true"
    );
    assert_eq!(
        str_op(Expr::Eq, "a-long-string-1", "a-long-string-2"),
        "false"
    );
    assert_eq!(str_op(Expr::Ne, "a", "b"), "true");
    for (s, pat, want) in [
        ("payments-api", "payments-*", "true"),
        ("payments-api", "*-api", "true"),
        ("payments-api", "*", "true"),
        ("", "*", "true"),
        ("", "?", "false"),
        ("abc", "a?c", "true"),
        ("a\u{e9}c", "a?c", "true"),
        ("a\u{1F600}c", "a?c", "true"),
        ("a\u{1F600}c", "a??c", "false"),
        ("abc", "ab", "false"),
        ("abc", "a*b*c", "true"),
        ("axbxc", "a*b*c*", "true"),
        ("ABC", "abc", "false"),
        ("aaa", "*a*a*a*a", "false"),
        ("mississippi", "m*iss*ppi", "true"),
    ] {
        assert_eq!(str_op(Expr::Matches, s, pat), want, "{s:?} matches {pat:?}");
    }
}

#[test]
fn ints_sets_and_ips() {
    let cmp = |op: fn(_, _) -> Expr, l: i64, r: i64| {
        let p = cond_prog(|b| {
            let l = b.e(Expr::Int(l));
            let r = b.e(Expr::Int(r));
            b.e(op(l, r))
        });
        tri(&p, &get("/"))
    };
    assert_eq!(cmp(Expr::Lt, -5, 3), "true");
    assert_eq!(cmp(Expr::Le, 3, 3), "true");
    assert_eq!(cmp(Expr::Gt, 3, 3), "false");
    assert_eq!(cmp(Expr::Ge, i64::MIN, 0), "false");
    let arith = cond_prog(|b| {
        let t = b.e(Expr::Int(i64::MAX));
        let one = b.e(Expr::Int(1));
        let s = b.e(Expr::Add(t, one));
        let back = b.e(Expr::Sub(s, one));
        b.e(Expr::Eq(back, t))
    });
    assert_eq!(
        tri(&arith, &get("/")),
        "true",
        "wrapping arithmetic does not trap"
    );

    let mut b = B::new();
    let groups = b.claim("groups", ClaimType::Set, true);
    let r = b.route("ANY", None, "/");
    let g = b.e(Expr::Slot(groups));
    let s = b.s("support");
    let c = b.e(Expr::SetHas { set: g, elem: s });
    b.allow(r, "yes", Some(c));
    let p = b.build();
    let set = |v: &[&str]| ClaimValue::Set(v.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        tri(&p, &with(get("/"), "groups", set(&["a", "support"]))),
        "true"
    );
    assert_eq!(
        tri(&p, &with(get("/"), "groups", set(&["Support"]))),
        "false"
    );
    assert_eq!(tri(&p, &with(get("/"), "groups", set(&[]))), "false");
    assert_eq!(tri(&p, &get("/")), "err");
    assert_eq!(
        tri(
            &p,
            &with(get("/"), "groups", ClaimValue::String("support".into()))
        ),
        "true",
        "a string claim for a set slot is a one-element set"
    );

    let mut b = B::new();
    let ip = b.ip();
    let r = b.route("ANY", None, "/");
    let v = b.e(Expr::Slot(ip));
    let n4 = b.e(Expr::Cidr("10.1.0.0".parse().unwrap(), 12));
    let in4 = b.e(Expr::IpIn(v, n4));
    let v = b.e(Expr::Slot(ip));
    let n6 = b.e(Expr::Cidr("2001:db8::".parse().unwrap(), 33));
    let in6 = b.e(Expr::IpIn(v, n6));
    let either = b.e(Expr::Or(in4, in6));
    b.allow(r, "yes", Some(either));
    let p = b.build();
    assert_eq!(tri(&p, &with_ip(get("/"), "10.15.255.1")), "true");
    assert_eq!(tri(&p, &with_ip(get("/"), "10.16.0.1")), "false");
    assert_eq!(tri(&p, &with_ip(get("/"), "::ffff:10.2.3.4")), "true");
    assert_eq!(tri(&p, &with_ip(get("/"), "2001:db8:7fff::1")), "true");
    assert_eq!(tri(&p, &with_ip(get("/"), "2001:db8:8000::1")), "false");
    assert_eq!(tri(&p, &get("/")), "err");
}

type MakeCond = dyn Fn(&mut B) -> edgeward::ir::ExprId;

#[test]
fn entities_fields_and_relations() {
    let mut b = B::new();
    let jane = b.entity("user", "jane");
    let team = b.entity("group", "team");
    let admins = b.entity("group", "admins");
    let api = b.entity("component", "api");
    let orphan = b.entity("component", "orphan");
    let sys = b.entity("system", "pay");
    b.info(jane).direct_groups = vec![team];
    b.info(jane).groups = vec![team, admins];
    b.info(api).owner = Related::To(team);
    b.info(api).system = Related::To(sys);
    b.info(api).part_of = vec![sys];
    b.info(orphan).owner = Related::Dangling;
    b.info(team).owner = Related::To(jane);
    let lc = b.field(FieldKey::Doc(vec!["spec".into(), "lifecycle".into()]));
    b.set_field(lc, api, "production");
    let ent = |b: &mut B, e| b.e(Expr::Entity(e));
    let cases: Vec<(&str, Box<MakeCond>, &str)> = vec![
        (
            "jane in admins",
            Box::new(move |b| {
                let (m, g) = (ent(b, jane), ent(b, admins));
                b.e(Expr::InGroup {
                    member: m,
                    group: g,
                })
            }),
            "true",
        ),
        (
            "api in team",
            Box::new(move |b| {
                let (m, g) = (ent(b, api), ent(b, team));
                b.e(Expr::InGroup {
                    member: m,
                    group: g,
                })
            }),
            "false",
        ),
        (
            "jane owns api",
            Box::new(move |b| {
                let (o, x) = (ent(b, jane), ent(b, api));
                b.e(Expr::Owns { owner: o, owned: x })
            }),
            "true",
        ),
        (
            "admins owns api",
            Box::new(move |b| {
                let (o, x) = (ent(b, admins), ent(b, api));
                b.e(Expr::Owns { owner: o, owned: x })
            }),
            "false",
        ),
        (
            "team owns api",
            Box::new(move |b| {
                let (o, x) = (ent(b, team), ent(b, api));
                b.e(Expr::Owns { owner: o, owned: x })
            }),
            "true",
        ),
        (
            "jane owns team",
            Box::new(move |b| {
                let (o, x) = (ent(b, jane), ent(b, team));
                b.e(Expr::Owns { owner: o, owned: x })
            }),
            "true",
        ),
        (
            "jane owns orphan",
            Box::new(move |b| {
                let (o, x) = (ent(b, jane), ent(b, orphan));
                b.e(Expr::Owns { owner: o, owned: x })
            }),
            "false",
        ),
        (
            "api part_of pay",
            Box::new(move |b| {
                let (x, w) = (ent(b, api), ent(b, sys));
                b.e(Expr::PartOf { part: x, whole: w })
            }),
            "true",
        ),
        (
            "pay part_of api",
            Box::new(move |b| {
                let (x, w) = (ent(b, sys), ent(b, api));
                b.e(Expr::PartOf { part: x, whole: w })
            }),
            "false",
        ),
        (
            "api.owner == team",
            Box::new(move |b| {
                let a = ent(b, api);
                let o = b.e(Expr::Related(a, edgeward::ir::Rel::Owner));
                let t = ent(b, team);
                b.e(Expr::Eq(o, t))
            }),
            "true",
        ),
        (
            "api.system == pay",
            Box::new(move |b| {
                let a = ent(b, api);
                let o = b.e(Expr::Related(a, edgeward::ir::Rel::System));
                let t = ent(b, sys);
                b.e(Expr::Eq(o, t))
            }),
            "true",
        ),
        (
            "orphan.owner errs",
            Box::new(move |b| {
                let a = ent(b, orphan);
                let o = b.e(Expr::Related(a, edgeward::ir::Rel::Owner));
                let t = ent(b, team);
                b.e(Expr::Eq(o, t))
            }),
            "err",
        ),
        (
            "jane.system errs",
            Box::new(move |b| {
                let a = ent(b, jane);
                let o = b.e(Expr::Related(a, edgeward::ir::Rel::System));
                let t = ent(b, team);
                b.e(Expr::Ne(o, t))
            }),
            "err",
        ),
        (
            "api.lifecycle",
            Box::new(move |b| {
                let a = ent(b, api);
                let f = b.e(Expr::Field(a, lc));
                let s = b.s("production");
                b.e(Expr::Eq(f, s))
            }),
            "true",
        ),
        (
            "orphan.lifecycle errs",
            Box::new(move |b| {
                let a = ent(b, orphan);
                let f = b.e(Expr::Field(a, lc));
                let s = b.s("production");
                b.e(Expr::Ne(f, s))
            }),
            "err",
        ),
        (
            "target errs without one",
            Box::new(move |b| {
                let a = b.e(Expr::Target);
                let j = ent(b, jane);
                b.e(Expr::Ne(a, j))
            }),
            "err",
        ),
    ];
    for (what, f, want) in cases {
        let mut b2 = B { p: b.p.clone() };
        let r = b2.route("ANY", None, "/");
        let c = f(&mut b2);
        b2.allow(r, "yes", Some(c));
        assert_eq!(tri(&b2.build(), &get("/")), want, "{what}");
    }
}

#[test]
fn bad_input_cases() {
    let mut b = B::new();
    let time = b.time();
    let admin = b.claim("admin", ClaimType::Bool, false);
    let r = b.route("ANY", None, "/");
    let a = b.e(Expr::Slot(admin));
    let tm = b.e(Expr::Slot(time));
    let z = b.e(Expr::Int(0));
    let ge = b.e(Expr::Ge(tm, z));
    let c = b.e(Expr::And(a, ge));
    b.allow(r, "yes", Some(c));
    let mut t = t(b.build());
    let good = with(get("/"), "admin", ClaimValue::Bool(true));
    assert_eq!(t.ask(&good), "allow by yes");
    assert_eq!(t.ask(&get("/")), "bad_input", "required claim absent");
    let mut enc = Vec::new();
    edgeward::wasm::abi::encode(
        &edgeward::wasm::abi::slot_values(&t.p.slots, &good),
        &mut enc,
    );
    let mut ask = |bytes: &[u8]| t.d.decide_encoded(bytes).unwrap().outcome;
    assert_eq!(ask(&enc), Outcome::Allow);
    let mut extra = enc.clone();
    extra.push(0);
    assert_eq!(ask(&extra), Outcome::BadInput, "bytes after the last slot");
    for cut in 0..enc.len() {
        assert_eq!(ask(&enc[..cut]), Outcome::BadInput, "truncated at {cut}");
    }
    let mut bad_bool = enc.clone();
    let n = bad_bool.len();
    bad_bool[n - 1] = 2;
    assert_eq!(ask(&bad_bool), Outcome::BadInput, "bool byte 2");
    let mut bad_tag = enc.clone();
    bad_tag[0] = 2;
    assert_eq!(ask(&bad_tag), Outcome::BadInput, "tag mismatch");
    let mut long = enc.clone();
    long[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(ask(&long), Outcome::BadInput, "length past the input");
    assert_eq!(ask(&vec![0u8; 65537]), Outcome::BadInput, "over capacity");
    let mut huge = get("/");
    huge.path = "/".repeat(70_000);
    assert_eq!(
        t.ask(&huge),
        "bad_input",
        "host refuses oversized encodings"
    );
}

/// `bytes` with its `edgeward.manifest` section rewritten by `edit`, every other section as is.
fn with_manifest(bytes: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut module = wasm_encoder::Module::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.unwrap();
        if let wasmparser::Payload::CustomSection(c) = &payload
            && c.name() == "edgeward.manifest"
        {
            let mut manifest: serde_json::Value = serde_json::from_slice(c.data()).unwrap();
            edit(&mut manifest);
            let data = serde_json::to_vec(&manifest).unwrap();
            module.section(&wasm_encoder::CustomSection {
                name: "edgeward.manifest".into(),
                data: data.into(),
            });
        } else if let Some((id, range)) = payload.as_section() {
            module.section(&wasm_encoder::RawSection {
                id,
                data: &bytes[range],
            });
        }
    }
    module.finish()
}

/// A module whose manifest claims an input buffer its memory cannot hold is refused when it is
/// loaded, saying so, rather than failing request by request.
#[test]
fn an_input_capacity_past_the_memory_is_refused_on_load() {
    let mut b = B::new();
    let r = b.route("GET", None, "/x");
    b.allow(r, "ok", None);
    let bytes = compile(&b.build()).unwrap();
    let same = with_manifest(&bytes, |_| {});
    let c = Compiled::from_bytes(&same).unwrap();
    assert_eq!(
        c.decider()
            .unwrap()
            .decide(&req("GET", "a.dev", "/x"))
            .unwrap()
            .outcome,
        Outcome::Allow
    );
    let lying = with_manifest(&bytes, |m| {
        m["input_capacity"] = serde_json::json!(1u32 << 30)
    });
    let err = Compiled::from_bytes(&lying).err().unwrap();
    assert!(
        matches!(err, edgeward::wasm::HostError::InputOutsideMemory { capacity, .. } if capacity == 1 << 30),
        "{err}"
    );
    assert!(
        err.to_string().contains("does not fit in its memory"),
        "{err}"
    );
}

#[test]
fn raw_exports_never_trap_on_bad_lengths() {
    let mut b = B::new();
    b.claim("groups", ClaimType::Set, true);
    let r = b.route("ANY", None, "/{x}");
    b.allow(r, "ok", None);
    let bytes = compile(&b.build()).unwrap();
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, &bytes).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let inst = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let input = inst
        .get_typed_func::<i32, i32>(&mut store, "edgeward_input")
        .unwrap();
    let decide = inst
        .get_typed_func::<i32, i64>(&mut store, "edgeward_decide")
        .unwrap();
    let mem = inst.get_memory(&mut store, "memory").unwrap();
    let addr = input.call(&mut store, 0).unwrap();
    assert_ne!(addr, 0);
    assert_eq!(input.call(&mut store, 65536).unwrap(), addr);
    assert_eq!(input.call(&mut store, 65537).unwrap(), 0);
    assert_eq!(input.call(&mut store, -1).unwrap(), 0);
    // fill the buffer with plausible-looking long lengths
    let junk: Vec<u8> = (0..65536u32)
        .map(|i| if i % 5 == 0 { 1 } else { 0xFF })
        .collect();
    mem.write(&mut store, addr as usize, &junk).unwrap();
    for len in [-1, i32::MIN, i32::MAX, 65537, 1 << 20, 65536, 0, 1, 5] {
        let w = decide.call(&mut store, len).unwrap();
        assert_eq!(w & 0xFFFF_FFFF, 7, "len {len}");
    }
}

#[test]
fn random_bytes_never_trap() {
    use proptest::prelude::*;
    let p = generate::program(7);
    let bytes = compile(&p).unwrap();
    let c = Compiled::from_bytes(&bytes).unwrap();
    let mut d = c.decider().unwrap();
    let mut good = Vec::new();
    edgeward::wasm::abi::encode(
        &edgeward::wasm::abi::slot_values(&p.slots, &generate::request(&p, 1)),
        &mut good,
    );
    let cell = std::cell::RefCell::new(&mut d);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(
                proptest::collection::vec(any::<u8>(), 0..200),
                0usize..400,
                any::<u16>(),
            ),
            |(noise, cut, flip)| {
                let mut buf: Vec<u8> = good.clone();
                // mutate a valid encoding: flip a byte, truncate, or append noise
                let n = buf.len();
                if n > 0 {
                    let i = flip as usize % n;
                    buf[i] ^= noise.first().copied().unwrap_or(1);
                }
                buf.truncate(cut.min(buf.len() + 1));
                if cut % 3 == 0 {
                    buf = noise.clone();
                } else if cut % 3 == 1 {
                    buf.extend_from_slice(&noise);
                }
                let dec = cell.borrow_mut().decide_encoded(&buf).unwrap();
                prop_assert!((1..=7).contains(&dec.outcome.code()));
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn generated_programs_validate_and_decide() {
    for seed in 0..40 {
        let p = generate::program(seed);
        let mut t = t(p);
        for r in 0..30 {
            let req = generate::request(&t.p, seed * 1000 + r);
            let d = t.d.decide(&req).unwrap();
            assert_ne!(
                d.outcome,
                Outcome::BadInput,
                "seed {seed} request {r}: {req:?}"
            );
        }
    }
}

#[test]
fn one_compiled_module_serves_many_threads() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let c = Compiled::from_bytes(&compile(&build::example()).unwrap()).unwrap();
    shareable(&c);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut d = c.decider().unwrap();
                let r = req("GET", "x.dev", "/healthz");
                assert_eq!(d.decide(&r).unwrap().outcome, Outcome::Allow);
                assert_eq!(d.last_route(), Some(2));
            });
        }
    });
}

/// A module in the shape of ABI v1 (the manifest of a real one) whose functions are `good`
/// except the one named `looping`, or a start function when that is `"start"`, which loops
/// forever.
fn looping_module(looping: &str) -> Vec<u8> {
    use wasm_encoder::{
        BlockType, CodeSection, CustomSection, ExportKind, ExportSection, Function,
        FunctionSection, Instruction as I, MemorySection, MemoryType, Module, StartSection,
        TypeSection, ValType,
    };
    let manifest = Manifest::from_module(&compile(&B::new().build()).unwrap())
        .unwrap()
        .to_json_compact();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]); // 0: () -> i32
    types.ty().function([ValType::I32], [ValType::I32]); // 1: (i32) -> i32
    types.ty().function([ValType::I32], [ValType::I64]); // 2: (i32) -> i64
    types.ty().function([], []); // 3: start
    let names = [
        "edgeward_abi_version",
        "edgeward_input",
        "edgeward_decide",
        "edgeward_route",
        "start",
    ];
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    for (name, ty, result) in [
        (names[0], 0, I::I32Const(1)),
        (names[1], 1, I::I32Const(1024)),
        // `no_route`, by no rule: the manifest of an empty policy names none
        (names[2], 2, I::I64Const((0xFFFF_FFFF << 32) | 5)),
        (names[3], 0, I::I32Const(-1)),
    ]
    .into_iter()
    .chain((looping == "start").then_some((names[4], 3, I::Nop)))
    {
        funcs.function(ty);
        let mut f = Function::new([]);
        if name == looping {
            f.instruction(&I::Loop(BlockType::Empty));
            f.instruction(&I::Br(0));
            f.instruction(&I::End);
        }
        f.instruction(&result);
        f.instruction(&I::End);
        code.function(&f);
    }
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 2,
        maximum: Some(2),
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    for (i, name) in names.iter().take(4).enumerate() {
        exports.export(name, ExportKind::Func, i as u32);
    }
    let mut m = Module::new();
    m.section(&types)
        .section(&funcs)
        .section(&memories)
        .section(&exports);
    if looping == "start" {
        m.section(&StartSection { function_index: 4 });
    }
    m.section(&code).section(&CustomSection {
        name: "edgeward.manifest".into(),
        data: manifest.as_bytes().into(),
    });
    m.finish()
}

/// A module that never returns (a loop no edgeward build writes, in any function the host calls
/// or in a start function) is stopped within about a second of each call, an error, never a hang.
#[test]
fn a_module_that_never_returns_is_stopped() {
    for looping in ["start", "edgeward_abi_version", "edgeward_input"] {
        let err = Compiled::from_bytes(&looping_module(looping)).err();
        assert!(err.is_some(), "{looping}: loaded");
    }
    let compiled = Compiled::from_bytes(&looping_module("edgeward_decide")).unwrap();
    let mut decider = compiled.decider().unwrap();
    assert!(decider.decide(&get("/")).is_err(), "decide returned");
    let compiled = Compiled::from_bytes(&looping_module("none")).unwrap();
    assert_eq!(
        compiled
            .decider()
            .unwrap()
            .decide(&get("/"))
            .unwrap()
            .outcome,
        Outcome::NoRoute
    );
}

/// `eval` on a module that cannot decide (here: it never returns) exits 2, as `simulate` does:
/// an input that cannot be used (§5).
#[test]
fn eval_on_a_module_that_cannot_decide_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("loop.wasm"),
        looping_module("edgeward_decide"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .args([
            "eval",
            "loop.wasm",
            "--request",
            r#"{"method": "GET", "url": "https://a.dev/", "claims": {"exp": 4000000000}}"#,
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the module failed"), "{stderr}");
}
