//! The Worker end to end: worker.js + a policy module in workerd, real signed tokens, a local origin and JWKS.
//!
//! Each test drives `tests/worker/harness.mjs` (Node) with a spec; see
//! `tests/worker/README.md`. Needs `npm ci` at the repository root (workerd).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../worker/modules.rs"]
mod modules;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use modules::{Decide, Flaws, Slot, encode, exact_manifest, method_manifest, module};
use serde_json::{Value, json};

const ISS: &str = "https://acme.cloudflareaccess.com";
const AUD: &str = "78f42a26e725d802b7ae5bdb3e8707e144ddc1121a0742da244c75e05a0bccac";

/// One workerd at a time: the machines that run these have few cores.
static HARNESS: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The conformance kit: the first ancestor of the crate holding `shared/conformance`.
fn conformance() -> PathBuf {
    repo()
        .ancestors()
        .map(|dir| dir.join("shared/conformance"))
        .find(|dir| dir.is_dir())
        .expect("no shared/conformance above CARGO_MANIFEST_DIR")
}

/// Runs the harness on `spec` (worker.js and `wasm` written beside it) and returns its report.
fn harness(wasm: &[u8], mut spec: Value) -> Value {
    assert!(
        repo().join("node_modules/workerd/package.json").is_file(),
        "workerd is not installed: run `npm ci` in {} (package.json pins it)",
        repo().display()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("worker.js"), edgeward::worker::worker_js()).unwrap();
    std::fs::write(dir.path().join("policy.wasm"), wasm).unwrap();
    let keys = conformance().join("keys");
    let defaults = json!({
        "worker_js": "worker.js",
        "policy_wasm": "policy.wasm",
        "compatibility_date": edgeward::worker::COMPATIBILITY_DATE,
        "keys": {
            "rsa": keys.join("rsa-2048.pem"),
            "ec": keys.join("ec-p256.pem"),
            "rogue": keys.join("rogue-rsa-2048.pem"),
        },
        "jwks_keys": ["rsa", "ec"],
        "vars": {"TEAM_DOMAIN": ISS, "POLICY_AUD": AUD, "ORIGIN": "$ORIGIN", "JWKS_URL": "$JWKS"},
    });
    for (k, v) in defaults.as_object().unwrap() {
        spec.as_object_mut()
            .unwrap()
            .entry(k.clone())
            .or_insert(v.clone());
    }
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();

    let _one = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("node")
        .arg(repo().join("tests/worker/harness.mjs"))
        .arg(&spec_path)
        .output()
        .expect("node (>= 20) is needed for the Worker tests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("harness failed ({}):\n{stderr}", out.status));
    assert!(
        out.status.success() && report["ok"] == true,
        "harness: {stderr}\nreport: {}",
        serde_json::to_string_pretty(&report).unwrap()
    );
    report
}

/// A complete, valid Access token payload for `email`.
fn claims(email: &str) -> Value {
    json!({
        "aud": [AUD], "email": email, "exp": "$now+3600", "iat": "$now", "nbf": "$now",
        "iss": ISS, "sub": "3f1c0de2-user", "type": "app",
    })
}

/// `base` with the members of `changes` set, or removed where they are null.
fn with(mut base: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

/// `base` with `key` set to `value`, JSON null included.
fn set(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn rsa(claims: Value) -> Value {
    json!({"key": "rsa", "claims": claims})
}

fn get(name: &str, token: Value, expect: Value) -> Value {
    json!({"name": name, "method": "GET", "url": "https://payments.acme.dev/x", "token": token, "expect": expect})
}

fn denied(status: u16, outcome: &str, rule: Value) -> Value {
    json!({"status": status, "forwarded": false, "body": {"decision": "deny", "outcome": outcome, "rule": rule}})
}

fn invalid(reason: &str) -> Value {
    denied(401, &format!("invalid_token:{reason}"), Value::Null)
}

fn error() -> Value {
    denied(503, "error", Value::Null)
}

fn allowed() -> Value {
    json!({"status": 200, "forwarded": true})
}

fn by_method(route_export: bool) -> Vec<u8> {
    let flaws = Flaws {
        route_export,
        ..Flaws::default()
    };
    module(&Decide::ByMethod, &method_manifest(2048), 2048, &flaws)
}

#[test]
fn worker_answers_every_outcome_and_logs_it() {
    let jane = rsa(claims("jane@acme.dev"));
    let deny = |rule: Value, outcome: &str, route: Value| {
        let mut e = denied(403, outcome, rule.clone());
        e["log"] = json!({"decision": "deny", "outcome": outcome, "rule": rule, "route": route,
                          "principal": "jane@acme.dev", "policy": "sha256:by-method"});
        e
    };
    let req = |method: &str, expect: Value| json!({"name": method, "method": method, "url": "https://payments.acme.dev/x", "token": jane, "expect": expect});
    let service = json!({"aud": AUD, "common_name": "0123abcd.access", "exp": "$now+60", "iat": "$now",
                         "iss": ISS, "sub": "", "type": "app"});
    harness(
        &by_method(true),
        json!({"requests": [
            {"name": "allow forwards with the rule and principal, replacing client copies",
             "method": "GET", "url": "https://Payments.ACME.dev:8443/a/../x?y=1&z",
             "headers": {"x-edgeward-rule": "forged", "x-edgeward-principal": "forged", "x-client": "kept"},
             "token": jane,
             "expect": {"status": 200, "forwarded": true, "body_text": "origin saw GET /x?y=1&z",
                        "origin_url": "/x?y=1&z", "origin_method": "GET",
                        "origin_headers": {"x-edgeward-rule": "let_in", "x-edgeward-principal": "jane@acme.dev",
                                           "x-client": "kept"},
                        "log": {"decision": "allow", "outcome": "allow", "rule": "let_in", "route": 0,
                                "method": "GET", "host": "payments.acme.dev", "path": "/x",
                                "principal": "jane@acme.dev", "policy": "sha256:by-method"}}},
            req("POST", deny(json!("block"), "deny", json!(0))),
            req("PUT", deny(json!("require#1"), "require", json!(1))),
            req("DELETE", deny(Value::Null, "default", json!(1))),
            req("PATCH", deny(Value::Null, "no_route", Value::Null)),
            req("OPTIONS", deny(Value::Null, "unknown_target", json!(0))),
            req("MOVE", deny(Value::Null, "bad_input", Value::Null)),
            {"name": "HEAD: top-level deny, route from edgeward_route", "method": "HEAD",
             "url": "https://payments.acme.dev/head", "token": jane,
             "expect": {"status": 403, "forwarded": false,
                        "log": {"outcome": "deny", "rule": "embargo", "route": 2}}},
            {"name": "input larger than input_capacity is bad_input; the log line stays small",
             "method": "GET", "url": format!("https://payments.acme.dev/{}", "a".repeat(7000)), "token": jane,
             "expect": deny(Value::Null, "bad_input", Value::Null)},
            {"name": "a body is forwarded", "method": "PROPFIND", "url": "https://payments.acme.dev/in",
             "body": "payload", "token": with(jane.clone(), json!({"via": "bearer"})),
             "expect": {"status": 200, "origin_method": "PROPFIND", "origin_body": "payload"}},
            {"name": "ES256 service token by cookie: principal is common_name",
             "method": "GET", "url": "https://payments.acme.dev/svc",
             "token": {"key": "ec", "claims": service, "via": "cookie"},
             "expect": {"status": 200, "origin_headers": {"x-edgeward-principal": "0123abcd.access"},
                        "log": {"principal": "0123abcd.access"}}},
            {"name": "principal falls back to sub",
             "method": "GET", "url": "https://payments.acme.dev/sub",
             "token": rsa(with(claims("x"), json!({"email": null, "sub": "user-123"}))),
             "expect": {"status": 200, "origin_headers": {"x-edgeward-principal": "user-123"},
                        "log": {"principal": "user-123"}}},
            {"name": "non-ASCII principal travels as UTF-8",
             "method": "GET", "url": "https://payments.acme.dev/u", "token": rsa(claims("jürgen@acme.dev")),
             "expect": {"status": 200, "origin_headers": {"x-edgeward-principal": "jürgen@acme.dev"},
                        "log": {"principal": "jürgen@acme.dev"}}},
        ]}),
    );
}

#[test]
fn worker_derives_route_from_rule_without_route_export() {
    let jane = rsa(claims("jane@acme.dev"));
    let req = |method: &str, route: Value| {
        json!({"name": method, "method": method, "url": "https://payments.acme.dev/x", "token": jane,
               "expect": {"log": {"route": route}}})
    };
    harness(
        &by_method(false),
        json!({"requests": [
            req("GET", json!(0)),
            req("PUT", json!(1)),
            req("HEAD", Value::Null),   // top-level rule: no route known without edgeward_route
            req("DELETE", Value::Null), // default: no rule, no route
        ]}),
    );
}

#[test]
fn worker_verifies_tokens_under_the_profile() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let c = || claims("jane@acme.dev");
    let raw = |name: &str, jwt: String, expect: Value| json!({"name": name, "method": "GET", "url": "https://payments.acme.dev/x", "jwt": jwt, "expect": expect});
    let payload = b64(&serde_json::to_string(&c()).unwrap());
    harness(
        &by_method(true),
        json!({"requests": [
            {"name": "no token", "method": "GET", "url": "https://payments.acme.dev/x",
             "expect": invalid("missing_token")},
            {"name": "Authorization Basic is no source", "method": "GET", "url": "https://payments.acme.dev/x",
             "headers": {"authorization": "Basic amFuZTpwdw=="}, "expect": invalid("missing_token")},
            {"name": "cookie without CF_Authorization", "method": "GET", "url": "https://payments.acme.dev/x",
             "headers": {"cookie": "a=b; c=d"}, "expect": invalid("missing_token")},
            {"name": "Bearer compares case-insensitively", "method": "GET", "url": "https://payments.acme.dev/x",
             "token": with(rsa(c()), json!({"via": "bearer"})), "headers": {}, "expect": allowed()},
            {"name": "the assertion header wins over a valid bearer", "method": "GET",
             "url": "https://payments.acme.dev/x", "token": with(rsa(c()), json!({"via": "bearer"})),
             "headers": {"cf-access-jwt-assertion": "not-a-jwt"}, "expect": invalid("malformed")},
            raw("empty token", String::new(), invalid("malformed")),
            raw("not a jwt", "not-a-jwt".into(), invalid("malformed")),
            raw("two segments", format!("{}.{payload}", b64(r#"{"alg":"RS256"}"#)), invalid("malformed")),
            raw("bad base64url", format!("{}!.{payload}.c2ln", b64(r#"{"alg":"RS256"}"#)), invalid("malformed")),
            raw("header not an object", format!("{}.{payload}.c2ln", b64("[1]")), invalid("malformed")),
            raw("payload not JSON", format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64("{nope")),
                invalid("malformed")),
            get("16,385 bytes", with(rsa(c()), json!({"pad_to": 16385})), invalid("malformed")),
            get("16,384 bytes pass", with(rsa(c()), json!({"pad_to": 16384})), allowed()),
            get("alg none", with(rsa(c()), json!({"alg": "none"})), invalid("alg_not_allowed")),
            get("HS256", with(rsa(c()), json!({"alg": "HS256"})), invalid("alg_not_allowed")),
            get("RS512", with(rsa(c()), json!({"alg": "RS512"})), invalid("alg_not_allowed")),
            get("key not in the JWKS", json!({"key": "rogue", "claims": c()}), invalid("unknown_kid")),
            get("no kid", json!({"key": "rsa", "kid": null, "claims": c()}), invalid("unknown_kid")),
            get("numeric kid", with(rsa(c()), json!({"kid": 42})), invalid("unknown_kid")),
            get("flipped RS256 signature", with(rsa(c()), json!({"mutate": "flip_signature"})),
                invalid("bad_signature")),
            get("flipped ES256 signature", json!({"key": "ec", "claims": c(), "mutate": "flip_signature"}),
                invalid("bad_signature")),
            get("payload re-encoded after signing", with(rsa(c()), json!({"mutate": "swap_payload"})),
                invalid("bad_signature")),
            get("ES256 under the RSA key's kid", json!({"key": "ec", "kid_of": "rsa", "claims": c()}),
                invalid("bad_signature")),
            get("RS256 under the EC key's kid", json!({"key": "rsa", "kid_of": "ec", "claims": c()}),
                invalid("bad_signature")),
            get("ES256 valid", json!({"key": "ec", "claims": c()}), allowed()),
            get("expired", rsa(with(c(), json!({"exp": "$now-75"}))), invalid("expired")),
            get("within exp leeway", rsa(with(c(), json!({"exp": "$now-45"}))), allowed()),
            get("not yet valid", rsa(with(c(), json!({"nbf": "$now+75"}))), invalid("not_yet_valid")),
            get("within nbf leeway", rsa(with(c(), json!({"nbf": "$now+45"}))), allowed()),
            get("wrong aud array", rsa(with(c(), json!({"aud": ["other"]}))), invalid("bad_audience")),
            get("wrong aud string", rsa(with(c(), json!({"aud": "other"}))), invalid("bad_audience")),
            get("aud as one string", rsa(with(c(), json!({"aud": AUD}))), allowed()),
            get("aud of another type", rsa(with(c(), json!({"aud": 7}))), invalid("bad_audience")),
            get("iss with a trailing slash", rsa(with(c(), json!({"iss": format!("{ISS}/")}))),
                invalid("bad_issuer")),
            get("email of another type", rsa(with(c(), json!({"email": 5}))), invalid("claims_mismatch")),
            get("exp missing", rsa(with(c(), json!({"exp": null}))), invalid("claims_mismatch")),
            get("exp not numeric", rsa(with(c(), json!({"exp": "soon"}))), invalid("claims_mismatch")),
            get("nbf not numeric", rsa(with(c(), json!({"nbf": "soon"}))), invalid("claims_mismatch")),
            get("sub missing", rsa(with(c(), json!({"sub": null}))), invalid("claims_mismatch")),
            get("groups of numbers", rsa(with(c(), json!({"groups": [1]}))), invalid("claims_mismatch")),
            get("groups as a string is a set", rsa(with(c(), json!({"groups": "one"}))), allowed()),
            get("email JSON null is absent", rsa(set(c(), "email", Value::Null)), allowed()),
            get("fractional NumericDates", rsa(with(c(), json!({"exp": "$now+3600.7", "iat": "$now-0.5"}))),
                allowed()),
            get("undeclared claims of any type", rsa(with(c(), json!({"weird": {"a": [1]}}))), allowed()),
            get("first failing check wins: expired before bad_audience",
                rsa(with(c(), json!({"exp": "$now-600", "aud": "x"}))), invalid("expired")),
            get("first failing check wins: bad_signature before expired",
                with(rsa(with(c(), json!({"exp": "$now-600"}))), json!({"mutate": "flip_signature"})),
                invalid("bad_signature")),
        ]}),
    );
}

/// §3's encoding, checked byte for byte by a module that allows only the expected input.
#[test]
fn worker_encodes_inputs_exactly() {
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7];
    let v6 = "2001:db8::1"
        .parse::<std::net::Ipv6Addr>()
        .unwrap()
        .octets();
    let cases = [
        (
            encode(&[
                Slot::Str("GET"),
                Slot::Str("payments.acme.dev"),
                Slot::Str("/b%20c/"),
                Slot::Ip(mapped),
                Slot::Str("DE"),
                Slot::Str("jürgen@acme.dev"),
                Slot::Set(&["a", "b"]),
                Slot::Set(&["mfa"]),
                Slot::Int(1_700_000_000),
                Slot::Bool(true),
                Slot::Absent,
                Slot::Int(42),
            ]),
            json!({"name": "every slot kind", "method": "GET",
                   "url": "https://Payments.ACME.dev:8443/a/../b%20c/?q=1",
                   "headers": {"cf-connecting-ip": "203.0.113.7", "cf-ipcountry": "FR"}, "cf": {"country": "DE"},
                   "token": rsa(set(with(claims("jürgen@acme.dev"), json!({"groups": ["a", "b"], "amr": "mfa",
                       "iat": 1_700_000_000.9, "admin": true, "count": 42})), "nick", Value::Null)),
                   "expect": {"status": 200, "log": {"rule": "exact"}}}),
        ),
        (
            encode(&[
                Slot::Str("POST"),
                Slot::Str("h.example"),
                Slot::Str("/x"),
                Slot::Ip(v6),
                Slot::Str("FR"),
                Slot::Absent,
                Slot::Absent,
                Slot::Set(&["pwd", "mfa"]),
                Slot::Int(5),
                Slot::Bool(false),
                Slot::Absent,
                Slot::Absent,
            ]),
            json!({"name": "IPv6, country header, absent claims", "method": "POST", "url": "http://h.example/x",
                   "headers": {"cf-connecting-ip": "2001:DB8:0:0::1", "cf-ipcountry": "FR"},
                   "token": rsa(with(claims("x"), json!({"email": null, "amr": ["pwd", "mfa"], "iat": 5,
                                                         "admin": false}))),
                   "expect": {"status": 200, "log": {"rule": "exact"}}}),
        ),
    ];
    for (expected, request) in cases {
        let wasm = module(
            &Decide::Exact {
                expected,
                time: now,
            },
            &exact_manifest(),
            4096,
            &Flaws::default(),
        );
        harness(&wasm, json!({"requests": [request]}));
    }
}

#[test]
fn worker_forwards_to_its_own_url_without_origin() {
    harness(
        &by_method(true),
        json!({
            "vars": {"TEAM_DOMAIN": ISS, "POLICY_AUD": AUD, "JWKS_URL": "$JWKS"},
            "requests": [{"name": "own URL", "method": "GET", "url": "http://$ORIGIN_HOST/self?q=1",
                          "token": rsa(claims("jane@acme.dev")),
                          "expect": {"status": 200, "origin_url": "/self?q=1",
                                     "origin_headers": {"x-edgeward-rule": "let_in"}}}],
        }),
    );
}

#[test]
fn worker_fails_closed_without_team_domain_or_aud() {
    let jane = rsa(claims("jane@acme.dev"));
    let both = |name: &str| {
        json!([
            get(&format!("{name}, with a token"), jane.clone(), with(error(), json!({"jwks_fetches": 0}))),
            {"name": format!("{name}, without a token"), "method": "GET", "url": "https://payments.acme.dev/x",
             "expect": with(error(), json!({"log": {"decision": "deny", "outcome": "error", "rule": null,
                "route": null, "principal": null, "policy": "sha256:by-method", "path": "/x"}}))},
        ])
    };
    let wasm = by_method(true);
    for (name, vars) in [
        (
            "TEAM_DOMAIN missing",
            json!({"POLICY_AUD": AUD, "ORIGIN": "$ORIGIN", "JWKS_URL": "$JWKS"}),
        ),
        (
            "TEAM_DOMAIN empty",
            json!({"TEAM_DOMAIN": "", "POLICY_AUD": AUD, "ORIGIN": "$ORIGIN", "JWKS_URL": "$JWKS"}),
        ),
        (
            "POLICY_AUD missing",
            json!({"TEAM_DOMAIN": ISS, "ORIGIN": "$ORIGIN", "JWKS_URL": "$JWKS"}),
        ),
        (
            "POLICY_AUD empty",
            json!({"TEAM_DOMAIN": ISS, "POLICY_AUD": "", "ORIGIN": "$ORIGIN"}),
        ),
    ] {
        harness(&wasm, json!({"vars": vars, "requests": both(name)}));
    }
}

#[test]
fn worker_fails_closed_when_keys_cannot_be_had() {
    let jane = rsa(claims("jane@acme.dev"));
    harness(
        &by_method(true),
        json!({
            "vars": {"TEAM_DOMAIN": ISS, "POLICY_AUD": AUD, "ORIGIN": "$ORIGIN", "JWKS_URL": "$CLOSED"},
            "requests": [
                get("JWKS unreachable", jane.clone(), error()),
                get("no key needed: alg none", with(jane.clone(), json!({"alg": "none"})),
                    invalid("alg_not_allowed")),
                get("no key needed: no kid", json!({"key": "rsa", "kid": null, "claims": claims("j")}),
                    invalid("unknown_kid")),
            ],
        }),
    );
    harness(
        &by_method(true),
        json!({
            "jwks_mode": "garbage",
            "requests": [
                get("JWKS answers garbage", jane.clone(), with(error(), json!({"jwks_fetches": 1}))),
                with(get("JWKS answers JSON without keys", jane.clone(), with(error(), json!({"jwks_fetches": 2}))),
                     json!({"jwks_mode": "not_jwks"})),
                with(get("JWKS answers 500", jane.clone(), with(error(), json!({"jwks_fetches": 3}))),
                     json!({"jwks_mode": "error500"})),
                with(get("JWKS connection reset", jane.clone(), with(error(), json!({"jwks_fetches": 4}))),
                     json!({"jwks_mode": "down"})),
                with(get("JWKS back: keys load", jane.clone(), with(allowed(), json!({"jwks_fetches": 5}))),
                     json!({"jwks_mode": "ok"})),
                get("cached: no fetch", jane.clone(), with(allowed(), json!({"jwks_fetches": 5}))),
                with(get("unknown kid right after a fetch: no refetch, 401", json!({"key": "rogue", "claims": claims("j")}),
                         with(invalid("unknown_kid"), json!({"jwks_fetches": 5}))),
                     json!({"jwks_mode": "down"})),
                get("cached keys survive the JWKS going down", jane.clone(),
                    with(allowed(), json!({"jwks_fetches": 5}))),
            ],
        }),
    );
}

#[test]
fn worker_fails_closed_on_a_broken_module() {
    let jane = rsa(claims("jane@acme.dev"));
    let manifest = method_manifest(2048);
    let abi2 = with(manifest.clone(), json!({"abi": 2}));
    let flawed = |flaws: Flaws| module(&Decide::ByMethod, &manifest, 2048, &flaws);
    // Modules that do not load: every request is a 503, with or without a token.
    let unloadable = [
        (
            "no manifest section",
            flawed(Flaws {
                no_manifest: true,
                ..Flaws::default()
            }),
        ),
        (
            "manifest of ABI 2",
            module(&Decide::ByMethod, &abi2, 2048, &Flaws::default()),
        ),
        (
            "module of ABI 2",
            flawed(Flaws {
                abi_version: Some(2),
                ..Flaws::default()
            }),
        ),
        (
            "module with an import",
            flawed(Flaws {
                with_import: true,
                ..Flaws::default()
            }),
        ),
    ];
    for (name, wasm) in unloadable {
        harness(
            &wasm,
            json!({"requests": [
                get(name, jane.clone(), error()),
                {"name": format!("{name}, no token"), "method": "GET", "url": "https://payments.acme.dev/x",
                 "expect": error()},
            ]}),
        );
    }
    // Modules that load but answer nothing usable: a 503 once the token is valid.
    let unusable = [
        (
            "decide traps",
            module(&Decide::Trap, &manifest, 2048, &Flaws::default()),
        ),
        (
            "decide answers outcome 9",
            module(&Decide::Raw(9), &manifest, 2048, &Flaws::default()),
        ),
        (
            "decide allows by no rule",
            module(
                &Decide::Raw(1 | (0xFFFF_FFFF << 32)),
                &manifest,
                2048,
                &Flaws::default(),
            ),
        ),
        (
            "decide names rule 99",
            module(
                &Decide::Raw(2 | (99 << 32)),
                &manifest,
                2048,
                &Flaws::default(),
            ),
        ),
    ];
    for (name, wasm) in unusable {
        harness(
            &wasm,
            json!({"requests": [
                get(name, jane.clone(), error()),
                get(&format!("{name}, after a trap or a bad answer"), jane.clone(), error()),
            ]}),
        );
    }
}

/// A module whose `edgeward_input` gives no buffer (0, against §3) decides nothing: each
/// request is `bad_input`, as the simulator's host answers too.
#[test]
fn worker_answers_bad_input_when_the_module_refuses_it() {
    let jane = rsa(claims("jane@acme.dev"));
    // It would allow by `let_in` if it were asked.
    let refusing = module(
        &Decide::Raw(1),
        &method_manifest(2048),
        2048,
        &Flaws {
            input_refused: true,
            ..Flaws::default()
        },
    );
    harness(
        &refusing,
        json!({"requests": [get("refused input", jane, denied(403, "bad_input", Value::Null))]}),
    );
}

/// The simulator's host reads a module's answer as the Worker does (above): an outcome outside
/// the ABI, a rule the manifest does not name, or `allow` by no rule is the module failing, an
/// error, never a decision to count; the answers the Worker takes are taken alike.
#[test]
fn the_host_refuses_the_answers_the_worker_refuses() {
    let manifest = method_manifest(2048);
    let decide = |word: i64| {
        let wasm = module(&Decide::Raw(word), &manifest, 2048, &Flaws::default());
        let compiled = edgeward::wasm::Compiled::from_bytes(&wasm).unwrap();
        let mut decider = compiled.decider().unwrap();
        decider.decide(&edgeward::input::Request {
            method: "GET".into(),
            host: "payments.acme.dev".into(),
            path: "/x".into(),
            ..Default::default()
        })
    };
    const NONE: i64 = 0xFFFF_FFFF << 32;
    for (name, word) in [
        ("outcome 9", 9),
        ("outcome 0", 0),
        ("allow by no rule", 1 | NONE),
        ("deny by rule 99", 2 | (99 << 32)),
        ("allow by rule 4 of 4", 1 | (4 << 32)),
    ] {
        assert!(decide(word).is_err(), "{name}: taken as a decision");
    }
    // A module whose `edgeward_input` answers 0 (no buffer) is given no request: `bad_input`,
    // as the Worker answers (see `worker_answers_bad_input_when_the_module_refuses_it`).
    let refusing = module(
        &Decide::Raw(1),
        &manifest,
        2048,
        &Flaws {
            input_refused: true,
            ..Flaws::default()
        },
    );
    let compiled = edgeward::wasm::Compiled::from_bytes(&refusing).unwrap();
    let d = compiled
        .decider()
        .unwrap()
        .decide(&edgeward::input::Request {
            method: "GET".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((d.outcome.as_str(), d.rule), ("bad_input", None));
    // not even an empty input
    let d = compiled.decider().unwrap().decide_encoded(&[]).unwrap();
    assert_eq!((d.outcome.as_str(), d.rule), ("bad_input", None));
    for (word, outcome, rule) in [
        (1, "allow", Some(0)),
        (2 | (3 << 32), "deny", Some(3)),
        (4 | NONE, "default", None),
        (5 | NONE, "no_route", None),
    ] {
        let d = decide(word).unwrap();
        assert_eq!((d.outcome.as_str(), d.rule), (outcome, rule), "{word:#x}");
    }
}

/// `edgeward_route` is not among §3's exports: a module without it runs on the host as in the
/// Worker, the route of a decision then being its rule's (none for a rule outside any route, or
/// no rule); with it, the route it names.
#[test]
fn the_host_takes_the_route_as_the_worker_does() {
    let manifest = method_manifest(2048);
    for route_export in [false, true] {
        let flaws = Flaws {
            route_export,
            ..Flaws::default()
        };
        let wasm = module(&Decide::ByMethod, &manifest, 2048, &flaws);
        let compiled = edgeward::wasm::Compiled::from_bytes(&wasm).unwrap();
        let mut decider = compiled.decider().unwrap();
        assert_eq!(decider.last_route(), None, "before any decision");
        for (method, rule, by_rule, by_export) in [
            ("GET", Some(0), Some(0), Some(0)),
            ("HEAD", Some(3), None, Some(2)),
            ("DELETE", None, None, Some(1)),
            ("PATCH", None, None, None),
        ] {
            let d = decider
                .decide(&edgeward::input::Request {
                    method: method.into(),
                    host: "payments.acme.dev".into(),
                    path: "/put/x".into(),
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(d.rule, rule, "{method}");
            let route = if route_export { by_export } else { by_rule };
            assert_eq!(
                decider.last_route(),
                route,
                "{method}, export: {route_export}"
            );
        }
    }
}

/// A module that fails on every request stops `simulate` at the first line it was asked about,
/// named the same on every run however the workers met the lines.
#[test]
fn a_failing_module_is_named_at_the_same_first_line_every_run() {
    let kit = conformance();
    let dir = tempfile::tempdir().unwrap();
    let edgeward = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_edgeward"))
            .args(args)
            .current_dir(&kit)
            .output()
            .unwrap()
    };
    let out = dir.path().join("build");
    let out = out.to_str().unwrap();
    let built = edgeward(&["build", "policy.ward", "--catalog", "catalog", "--out", out]);
    assert!(built.status.success());
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("build/manifest.json")).unwrap())
            .unwrap();
    // The test module's memory holds a small input buffer.
    let capacity = 2048;
    manifest["input_capacity"] = json!(capacity);
    let trap = dir.path().join("trap.wasm");
    std::fs::write(
        &trap,
        module(&Decide::Trap, &manifest, capacity, &Flaws::default()),
    )
    .unwrap();
    // The first line the policy decides (its token holds): where the module is first asked.
    let listed = edgeward(&[
        "simulate",
        "policy.ward",
        "--catalog",
        "catalog",
        "--traffic",
        "traffic.jsonl",
        "--jwks",
        "jwks.json",
        "--format",
        "json",
    ]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let first = listed["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["outcome"]
                .as_str()
                .is_some_and(|o| !o.starts_with("invalid_token"))
        })
        .map(|l| l["line"].as_u64().unwrap())
        .unwrap();
    for _ in 0..12 {
        let ran = edgeward(&[
            "simulate",
            trap.to_str().unwrap(),
            "--traffic",
            "traffic.jsonl",
            "--jwks",
            "jwks.json",
        ]);
        assert_eq!(ran.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&ran.stderr);
        assert!(
            stderr.starts_with(&format!("error: line {first} could not be decided: ")),
            "{stderr}"
        );
    }
}

#[test]
fn worker_does_not_start_on_a_corrupted_module() {
    let mut wasm = by_method(true);
    let middle = wasm.len() / 2;
    wasm.truncate(middle);
    let report = harness(
        &wasm,
        json!({"expect_startup_failure": true, "requests": []}),
    );
    assert_eq!(report["startup_failed"], true);
}

#[test]
fn wrangler_toml_names_the_module_rule_and_vars() {
    let toml =
        edgeward::worker::wrangler_toml("acme_edge", &edgeward::worker::WorkerVars::default());
    for line in [
        "main = \"worker.js\"",
        "type = \"CompiledWasm\"",
        "globs = [\"**/*.wasm\"]",
        "[observability]\nenabled = true",
        "TEAM_DOMAIN = \"\"",
        "POLICY_AUD = \"\"",
        "ORIGIN = \"\"",
        "JWKS_URL = \"\"",
    ] {
        assert!(toml.contains(line), "missing `{line}` in:\n{toml}");
    }
    assert!(Path::new(&repo().join("package.json")).is_file());
}
