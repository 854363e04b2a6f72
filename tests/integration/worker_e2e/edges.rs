//! Corners the kit does not exercise, where the Worker's JavaScript and the simulator's Rust could part: each sent to both.

use serde_json::{Value, json};

use super::{
    AUD, Answer, ISS, assert_none, build, disagreements, harness, recorded, simulate, spec,
};

fn jane() -> Value {
    json!({"aud": [AUD], "email": "jane@acme.dev", "exp": "$now+600", "iat": "$now", "iss": ISS, "sub": "s", "type": "app"})
}

fn token(extra: Value) -> Value {
    let mut t = json!({"key": "rsa", "claims": jane()});
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

const PAYMENT: &str = "https://payments.acme.dev/api/v1/payments/42";
const HEALTHZ: &str = "https://payments.acme.dev/healthz";

/// (name, request) pairs: whatever the simulator predicts, the Worker must do.
fn cases() -> Vec<(&'static str, Value)> {
    let get = |url: &str, t: Value| json!({"method": "GET", "url": url, "token": t});
    let claims = |changes: Value| {
        let mut c = jane();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        token(json!({"claims": c}))
    };
    let dup = |text: String| token(json!({"payload_text": text}));
    let base = format!(r#""aud":["{AUD}"],"iat":"$now","iss":"{ISS}","sub":"s","type":"app""#);
    let source = |header: &str, value: &str| json!({"method": "GET", "url": PAYMENT, "sources": [{"header": header, "value": value, "token": token(json!({}))}]});
    let with_ip = |ip: &str| {
        let mut r = get(HEALTHZ, token(json!({})));
        r["headers"] = json!({"cf-connecting-ip": ip});
        r
    };
    vec![
        (
            "RS256 signature with a non-canonical last base64url character",
            get(PAYMENT, token(json!({"mutate": "noncanonical_signature"}))),
        ),
        (
            "ES256 signature with a non-canonical last base64url character",
            get(
                PAYMENT,
                token(json!({"key": "ec", "mutate": "noncanonical_signature"})),
            ),
        ),
        (
            "signature with = padding",
            get(PAYMENT, token(json!({"mutate": "padded_signature"}))),
        ),
        (
            "duplicate email: the last one",
            get(
                PAYMENT,
                dup(format!(
                    r#"{{"email":"nina@acme.dev","email":"jane@acme.dev","exp":"$now+600",{base}}}"#
                )),
            ),
        ),
        (
            "duplicate exp: the last one expired",
            get(
                PAYMENT,
                dup(format!(
                    r#"{{"email":"jane@acme.dev","exp":"$now+600","exp":"$now-600",{base}}}"#
                )),
            ),
        ),
        ("exp 1e300", get(PAYMENT, claims(json!({"exp": 1e300})))),
        (
            "exp beyond int64 seconds but finite",
            get(PAYMENT, claims(json!({"exp": 1e19}))),
        ),
        ("negative nbf", get(PAYMENT, claims(json!({"nbf": -5})))),
        (
            "aud holding a number besides the audience",
            get(PAYMENT, claims(json!({"aud": [AUD, 5]}))),
        ),
        (
            "aud an empty array",
            get(PAYMENT, claims(json!({"aud": []}))),
        ),
        ("iss a number", get(PAYMENT, claims(json!({"iss": 7})))),
        ("email null", get(PAYMENT, claims(json!({"email": null})))),
        (
            "groups an empty array",
            get(PAYMENT, claims(json!({"groups": []}))),
        ),
        (
            "cookie pairs separated by a comma",
            source("cookie", "theme=dark,CF_Authorization={token}"),
        ),
        (
            "cookie token padded with spaces",
            source("cookie", "a=1;  CF_Authorization=  {token}  ; b=2"),
        ),
        (
            "two CF_Authorization cookies: the first",
            source("cookie", "CF_Authorization={token}; CF_Authorization=x"),
        ),
        (
            "cookie name in other letter case",
            source("cookie", "cf_authorization={token}"),
        ),
        (
            "lowercase bearer scheme",
            source("authorization", "bearer {token}"),
        ),
        (
            "Bearer with two spaces",
            source("authorization", "Bearer  {token}"),
        ),
        // A no-break space (byte 0xa0, allowed in a header value) is not HTTP whitespace: it
        // neither separates the scheme from the token nor is trimmed from a value.
        (
            "Bearer and the token joined by a no-break space",
            source("authorization", "Bearer\u{a0}{token}"),
        ),
        (
            "assertion padded with no-break spaces",
            source("cf-access-jwt-assertion", "\u{a0}{token}\u{a0}"),
        ),
        (
            "cookie token padded with no-break spaces",
            source("cookie", "CF_Authorization=\u{a0}{token}\u{a0}; b=2"),
        ),
        (
            "cookie name padded with a no-break space",
            source("cookie", "\u{a0}CF_Authorization={token}"),
        ),
        (
            "Bearer scheme only",
            json!({"method": "GET", "url": PAYMENT, "headers": {"authorization": "Bearer"}}),
        ),
        (
            "Basic, then a cookie",
            json!({"method": "GET", "url": PAYMENT, "headers": {"authorization": "Basic eDp5"},
            "sources": [{"header": "cookie", "value": "CF_Authorization={token}", "token": token(json!({}))}]}),
        ),
        ("IPv4-mapped IPv6 client", with_ip("::ffff:10.1.2.3")),
        (
            "embargoed country padded with space and tab",
            json!({"method": "GET", "url": HEALTHZ, "token": token(json!({})),
                   "headers": {"cf-ipcountry": " KP\t"}}),
        ),
        ("IPv6 client", with_ip("2001:db8::10")),
        (
            "IPv4 client inside the probe range",
            with_ip("10.255.255.255"),
        ),
        (
            "host with a trailing dot",
            get(
                "https://payments.acme.dev./api/v1/payments/42",
                token(json!({})),
            ),
        ),
        (
            "host in capitals with a port",
            get(
                "https://PAYMENTS.acme.DEV:8443/api/v1/payments/42",
                token(json!({})),
            ),
        ),
        (
            "dot segments",
            get(
                "https://payments.acme.dev/api/v1/x/../payments/./42",
                token(json!({})),
            ),
        ),
        (
            "percent-encoded param",
            get(
                "https://payments.acme.dev/api/v1/payments/%34%32",
                token(json!({})),
            ),
        ),
        (
            "percent-encoded literal",
            get(
                "https://payments.acme.dev/api/v1/p%61yments/42",
                token(json!({})),
            ),
        ),
        (
            "query and empty segment",
            get(
                "https://payments.acme.dev/api/v1//payments/42?a=1",
                token(json!({})),
            ),
        ),
    ]
}

#[test]
fn worker_and_simulate_agree_on_corners_the_kit_leaves_out() {
    agree(&build("policy-v2.ward"), &cases(), "corners");
}

/// A policy declaring claims named like `Object.prototype`'s members and an `int` claim, with a
/// route that reads the request's path.
const EDGE_POLICY: &str = r#"policy edges version 1

use std::cloudflare_access

claims {
  constructor: string?
  toString: string?
  level: int?
}

host "payments.acme.dev" {
  route GET "/api/v1/payments/{id}" {
    allow leveled when claims has level and claims.level >= 5
    allow unleveled when not (claims has level)
  }
  route GET "/p/*" {
    allow caret when request.path == "/p/%5E"
  }
}
"#;

/// Token JSON and numbers the two parsers could read apart: what the simulator refuses (nesting
/// past 127, a number beyond a double, a lone surrogate, a byte order mark), numbers read as
/// doubles (ints written as floats, beyond 2^53, times beyond int64), claims named like
/// JavaScript's object members; and a path with `^`, a method in lowercase.
#[test]
fn worker_and_simulate_agree_on_token_json_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("edges.ward");
    std::fs::write(&policy, EDGE_POLICY).unwrap();
    let built = build(policy.to_str().unwrap());
    let get = |url: &str, t: Value| json!({"method": "GET", "url": url, "token": t});
    let base = format!(r#""aud":["{AUD}"],"iat":"$now","iss":"{ISS}","sub":"s","type":"app""#);
    // A token whose payload is the usual claims and `fields` (JSON text), exp in ten minutes.
    let text = |fields: &str| {
        token(json!({"payload_text": format!(
            r#"{{"email":"jane@acme.dev",{base},"exp":"$now+600"{fields}}}"#
        )}))
    };
    // The same with `exp` written by the caller.
    let text_exp = |fields: &str| {
        token(json!({"payload_text": format!(r#"{{"email":"jane@acme.dev",{base}{fields}}}"#)}))
    };
    let deep = |n: usize| format!(r#","zz":{}1{}"#, "[".repeat(n), "]".repeat(n));
    let bom = token(json!({"payload_text": format!(
        "\u{feff}{{\"email\":\"jane@acme.dev\",{base},\"exp\":\"$now+600\"}}"
    )}));
    let cases: Vec<(&str, Value)> = vec![
        ("no level, no constructor", get(PAYMENT, token(json!({})))),
        ("level 7", get(PAYMENT, text(r#","level":7"#))),
        (
            "constructor present",
            get(PAYMENT, text(r#","constructor":"x","level":7"#)),
        ),
        ("toString a number", get(PAYMENT, text(r#","toString":5"#))),
        ("level 5.0", get(PAYMENT, text(r#","level":5.0"#))),
        ("level 1e1", get(PAYMENT, text(r#","level":1e1"#))),
        ("level -0", get(PAYMENT, text(r#","level":-0"#))),
        (
            "level 2^53 - 1",
            get(PAYMENT, text(r#","level":9007199254740991"#)),
        ),
        (
            "level 2^53 + 1",
            get(PAYMENT, text(r#","level":9007199254740993"#)),
        ),
        ("nesting 127 deep", get(PAYMENT, text(&deep(126)))),
        ("nesting 128 deep", get(PAYMENT, text(&deep(127)))),
        (
            "an undeclared claim 1e400",
            get(PAYMENT, text(r#","zz":1e400"#)),
        ),
        (
            "an undeclared claim -1e400",
            get(PAYMENT, text(r#","zz":-1e400"#)),
        ),
        (
            "an undeclared claim 1e-400",
            get(PAYMENT, text(r#","zz":1e-400"#)),
        ),
        (
            "a lone surrogate in a claim",
            get(PAYMENT, text(r#","zz":"\ud800""#)),
        ),
        (
            "a lone surrogate in a key",
            get(PAYMENT, text(r#","\udc00":1"#)),
        ),
        (
            "a surrogate pair in a claim",
            get(PAYMENT, text(r#","zz":"\ud83d\ude00""#)),
        ),
        ("a byte order mark before the payload", get(PAYMENT, bom)),
        ("exp -1e19", get(PAYMENT, text_exp(r#","exp":-1e19"#))),
        ("exp 1e19", get(PAYMENT, text_exp(r#","exp":1e19"#))),
        (
            "exp 2^63 - 1",
            get(PAYMENT, text_exp(r#","exp":9223372036854775807"#)),
        ),
        ("nbf 1e19", get(PAYMENT, text(r#","nbf":1e19"#))),
        ("nbf -1e19", get(PAYMENT, text(r#","nbf":-1e19"#))),
        (
            "a caret in the path",
            get("https://payments.acme.dev/p/^", token(json!({}))),
        ),
        (
            "a drive letter segment before a double dot",
            get("https://payments.acme.dev/c:/../p/^", token(json!({}))),
        ),
        (
            "an encoded caret in the path",
            get("https://payments.acme.dev/p/%5E", token(json!({}))),
        ),
        (
            "method in lowercase",
            json!({"method": "get", "url": PAYMENT, "token": token(json!({}))}),
        ),
        (
            "GET with Content-Length: 0",
            json!({"method": "GET", "url": PAYMENT, "token": token(json!({})),
                   "headers": {"content-length": "0"}, "expect": {"forwarded": true}}),
        ),
    ];
    // Principals a header value cannot carry as written reach the origin percent-encoded (and `%`
    // with them), never as a 503 or as another principal.
    let mut cases = cases;
    for (name, email, header) in [
        (
            "principal holding a line feed",
            "ja\nne@acme.dev",
            "ja%0Ane@acme.dev",
        ),
        (
            "principal holding a NUL",
            "ja\u{0}ne@acme.dev",
            "ja%00ne@acme.dev",
        ),
        (
            "principal padded with spaces",
            " jane@acme.dev ",
            "%20jane@acme.dev%20",
        ),
        (
            "principal holding a percent sign",
            "50%off@acme.dev",
            "50%25off@acme.dev",
        ),
        ("principal in Chinese", "用户@例子.广告", "用户@例子.广告"),
    ] {
        let mut claims = jane();
        claims["email"] = json!(email);
        let mut r = get(PAYMENT, token(json!({ "claims": claims })));
        r["expect"] =
            json!({"forwarded": true, "origin_headers": {"x-edgeward-principal": header}});
        cases.push((name, r));
    }
    agree(&built, &cases, "token JSON and numbers");
}

/// Sends every case to the Worker and its recorded line to `simulate`; fails on any disagreement.
fn agree(built: &super::Built, cases: &[(&str, Value)], what: &str) {
    let requests: Vec<Value> = cases
        .iter()
        .map(|(name, r)| {
            let mut r = r.clone();
            r["name"] = json!(name);
            r
        })
        .collect();
    let report = harness(&spec(built, requests.clone()));
    let got = report["requests"].as_array().unwrap();
    let lines: Vec<Value> = requests
        .iter()
        .zip(got)
        .map(|(r, sent)| {
            recorded(
                sent,
                r["method"].as_str().unwrap(),
                r["url"].as_str().unwrap(),
                false,
            )
        })
        .collect();
    let predicted = simulate(built, &lines);
    let mut problems = Vec::new();
    for ((r, sent), sim) in requests.iter().zip(got).zip(&predicted) {
        let sim = Answer::of(sim);
        eprintln!(
            "{:<66} simulate {:<32} worker {}",
            r["name"].as_str().unwrap(),
            sim.outcome,
            sent["log"]["outcome"]
        );
        for p in disagreements(sent, r["method"].as_str().unwrap(), &sim) {
            problems.push(format!("{}: {p}", r["name"].as_str().unwrap()));
        }
    }
    assert_none(&format!("{what}: Worker vs simulate"), &problems);
}
