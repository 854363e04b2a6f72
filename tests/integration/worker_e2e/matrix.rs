//! `policy-v2.ward` built and run in workerd: every route and outcome, the token security matrix, against `simulate`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{
    AUD, Answer, ISS, assert_none, build, disagreements, harness, latency_summary, recorded,
    simulate, spec,
};

/// A complete, valid Access token payload for `email` (`$now` is the harness's signing time).
fn user(email: &str) -> Value {
    json!({
        "aud": [AUD], "email": email, "exp": "$now+3600", "iat": "$now", "nbf": "$now",
        "iss": ISS, "sub": format!("sub-{email}"), "type": "app",
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

/// A request and what it must get: the policy's answer, the route it matched and the principal it names.
struct Case {
    name: String,
    method: &'static str,
    url: String,
    claims: Value,
    headers: Value,
    expect: Answer,
    route: Option<u64>,
}

fn answer(outcome: &str, rule: Option<&str>) -> Answer {
    Answer {
        decision: if outcome == "allow" { "allow" } else { "deny" }.to_owned(),
        outcome: outcome.to_owned(),
        rule: rule.map(str::to_owned),
    }
}

const PAY: &str = "https://payments.acme.dev";

/// Every route of `policy-v2.ward` with each of its outcomes (allow, deny, require, default, no_route, unknown_target).
fn scenarios() -> Vec<Case> {
    let mfa = |email: &str| with(user(email), json!({"amr": ["pwd", "mfa"]}));
    let service = json!({
        "aud": AUD, "common_name": "3c1f5a7e9b2d4c6e8f0a1b3c5d7e9f21.access", "exp": "$now+600", "iat": "$now",
        "iss": ISS, "sub": "", "type": "app",
    });
    let case = |name: &str,
                method: &'static str,
                url: String,
                claims: Value,
                outcome: &str,
                rule: Option<&str>,
                route: Option<u64>| Case {
        name: name.to_owned(),
        method,
        url,
        claims,
        headers: json!({}),
        expect: answer(outcome, rule),
        route,
    };
    let at = |c: Case, headers: Value| Case { headers, ..c };
    vec![
        // 0: GET|HEAD /api/v1/payments/{id}
        case(
            "owner reads a payment",
            "GET",
            format!("{PAY}/api/v1/payments/42?full=1"),
            user("jane@acme.dev"),
            "allow",
            Some("reader"),
            Some(0),
        ),
        case(
            "admin reads a payment (HEAD)",
            "HEAD",
            format!("{PAY}/api/v1/payments/42"),
            user("raj@acme.dev"),
            "allow",
            Some("reader"),
            Some(0),
        ),
        case(
            "support agent reads a payment",
            "GET",
            format!("{PAY}/api/v1/payments/7"),
            with(user("lucy@acme.dev"), json!({"groups": ["support"]})),
            "allow",
            Some("support"),
            Some(0),
        ),
        case(
            "support group outside acme.dev",
            "GET",
            format!("{PAY}/api/v1/payments/7"),
            with(user("helper@example.com"), json!({"groups": "support"})),
            "default",
            None,
            Some(0),
        ),
        case(
            "no group reads a payment",
            "GET",
            format!("{PAY}/api/v1/payments/42"),
            user("nina@acme.dev"),
            "default",
            None,
            Some(0),
        ),
        at(
            case(
                "owner from an embargoed country",
                "GET",
                format!("{PAY}/api/v1/payments/42"),
                user("jane@acme.dev"),
                "deny",
                Some("embargo"),
                Some(0),
            ),
            json!({"cf-ipcountry": "KP", "cf-connecting-ip": "198.51.100.9"}),
        ),
        // 1: GET /api/v1/payments/{id}/*
        case(
            "auditor by department",
            "GET",
            format!("{PAY}/api/v1/payments/42/receipts/3"),
            with(user("nina@acme.dev"), json!({"department": "audit"})),
            "allow",
            Some("auditor"),
            Some(1),
        ),
        case(
            "finance by department",
            "GET",
            format!("{PAY}/api/v1/payments/42/refunds"),
            with(user("nina@acme.dev"), json!({"department": "finance"})),
            "allow",
            Some("finance"),
            Some(1),
        ),
        case(
            "owner reads a sub-resource",
            "GET",
            format!("{PAY}/api/v1/payments/42/receipts"),
            user("jane@acme.dev"),
            "allow",
            Some("auditor"),
            Some(1),
        ),
        case(
            "sub-resource without a department",
            "GET",
            format!("{PAY}/api/v1/payments/42/x"),
            user("bob@acme.dev"),
            "default",
            None,
            Some(1),
        ),
        // 2: POST /deploy/{name}
        case(
            "owner deploys with mfa",
            "POST",
            format!("{PAY}/deploy/payments-api"),
            mfa("jane@acme.dev"),
            "allow",
            Some("deploy"),
            Some(2),
        ),
        case(
            "deploy without mfa",
            "POST",
            format!("{PAY}/deploy/payments-api"),
            user("jane@acme.dev"),
            "require",
            Some("require#1"),
            Some(2),
        ),
        case(
            "contractor deploys",
            "POST",
            format!("{PAY}/deploy/payments-api"),
            mfa("carlos@acme.dev"),
            "require",
            Some("no_contractors"),
            Some(2),
        ),
        case(
            "paused deploys",
            "POST",
            format!("{PAY}/deploy/status-page"),
            mfa("jane@acme.dev"),
            "require",
            Some("require#3"),
            Some(2),
        ),
        case(
            "component without the deploys label",
            "POST",
            format!("{PAY}/deploy/ledger"),
            mfa("jane@acme.dev"),
            "require",
            Some("require#3"),
            Some(2),
        ),
        case(
            "deploy by a stranger to the component",
            "POST",
            format!("{PAY}/deploy/payments-api"),
            mfa("nina@acme.dev"),
            "default",
            None,
            Some(2),
        ),
        case(
            "deploy of a component not in the catalog",
            "POST",
            format!("{PAY}/deploy/no-such-thing"),
            mfa("jane@acme.dev"),
            "unknown_target",
            None,
            Some(2),
        ),
        at(
            case(
                "embargo before the route's requires",
                "POST",
                format!("{PAY}/deploy/payments-api"),
                user("jane@acme.dev"),
                "deny",
                Some("embargo"),
                Some(2),
            ),
            json!({"cf-ipcountry": "IR"}),
        ),
        // 3: POST /approve/{name}
        case(
            "owner approves own release",
            "POST",
            format!("{PAY}/approve/payments-api"),
            user("jane@acme.dev"),
            "deny",
            Some("self_approval"),
            Some(3),
        ),
        case(
            "admin approves",
            "POST",
            format!("{PAY}/approve/payments-api"),
            user("omar@acme.dev"),
            "allow",
            Some("approver"),
            Some(3),
        ),
        case(
            "no one approves",
            "POST",
            format!("{PAY}/approve/payments-api"),
            user("nina@acme.dev"),
            "default",
            None,
            Some(3),
        ),
        case(
            "approve a component not in the catalog",
            "POST",
            format!("{PAY}/approve/Nope"),
            user("raj@acme.dev"),
            "unknown_target",
            None,
            Some(3),
        ),
        // 4: POST /batches/{name}
        case(
            "owning service posts a batch",
            "POST",
            format!("{PAY}/batches/settlement-batches"),
            service.clone(),
            "allow",
            Some("batch"),
            Some(4),
        ),
        case(
            "a user posts a batch",
            "POST",
            format!("{PAY}/batches/settlement-batches"),
            user("jane@acme.dev"),
            "default",
            None,
            Some(4),
        ),
        // 5: GET|HEAD /*
        case(
            "staff opens the web app",
            "GET",
            format!("{PAY}/dashboard/today"),
            user("lucy@acme.dev"),
            "allow",
            Some("employees"),
            Some(5),
        ),
        case(
            "staff opens the root (HEAD)",
            "HEAD",
            format!("{PAY}/"),
            user("jane@acme.dev"),
            "allow",
            Some("employees"),
            Some(5),
        ),
        case(
            "suspended user",
            "GET",
            format!("{PAY}/dashboard"),
            user("sam@acme.dev"),
            "deny",
            Some("suspended"),
            Some(5),
        ),
        case(
            "user in no group",
            "GET",
            format!("{PAY}/dashboard"),
            user("nina@acme.dev"),
            "default",
            None,
            Some(5),
        ),
        case(
            "service token on the web app",
            "GET",
            format!("{PAY}/dashboard"),
            service.clone(),
            "default",
            None,
            Some(5),
        ),
        // 6: GET /healthz on payments.acme.dev
        at(
            case(
                "load balancer probe",
                "GET",
                format!("{PAY}/healthz"),
                user("nina@acme.dev"),
                "allow",
                Some("probe"),
                Some(6),
            ),
            json!({"cf-connecting-ip": "10.20.30.40"}),
        ),
        at(
            case(
                "probe from outside",
                "GET",
                format!("{PAY}/healthz"),
                user("nina@acme.dev"),
                "default",
                None,
                Some(6),
            ),
            json!({"cf-connecting-ip": "203.0.113.7", "cf-ipcountry": "US"}),
        ),
        at(
            case(
                "probe from IPv6",
                "GET",
                format!("{PAY}/healthz"),
                user("nina@acme.dev"),
                "default",
                None,
                Some(6),
            ),
            json!({"cf-connecting-ip": "2001:db8::1"}),
        ),
        case(
            "probe without an ip",
            "GET",
            format!("{PAY}/healthz"),
            user("nina@acme.dev"),
            "default",
            None,
            Some(6),
        ),
        // 7: ANY /healthz
        case(
            "health check on another host",
            "GET",
            "https://status.acme.dev/healthz".into(),
            user("nina@acme.dev"),
            "allow",
            Some("public"),
            Some(7),
        ),
        case(
            "POST health check",
            "POST",
            format!("{PAY}/healthz"),
            user("nina@acme.dev"),
            "allow",
            Some("public"),
            Some(7),
        ),
        at(
            case(
                "health check from an embargoed country",
                "GET",
                "https://Status.ACME.dev:8443/healthz".into(),
                user("nina@acme.dev"),
                "deny",
                Some("embargo"),
                Some(7),
            ),
            json!({"cf-ipcountry": "KP"}),
        ),
        // no route
        case(
            "another host",
            "GET",
            "https://other.acme.dev/api/v1/payments/42".into(),
            user("jane@acme.dev"),
            "no_route",
            None,
            None,
        ),
        case(
            "a method no route takes",
            "PUT",
            format!("{PAY}/api/v1/payments/42"),
            user("raj@acme.dev"),
            "no_route",
            None,
            None,
        ),
        case(
            "DELETE",
            "DELETE",
            format!("{PAY}/dashboard"),
            user("raj@acme.dev"),
            "no_route",
            None,
            None,
        ),
        at(
            case(
                "no route before the embargo",
                "GET",
                "https://other.acme.dev/".into(),
                user("raj@acme.dev"),
                "no_route",
                None,
                None,
            ),
            json!({"cf-ipcountry": "KP"}),
        ),
    ]
}

/// The security matrix of §4: each token failure, with its reason (None: the token is valid).
fn token_cases() -> Vec<(&'static str, Value, Option<&'static str>)> {
    let jane = user("jane@acme.dev");
    let rsa = |claims: Value| json!({"key": "rsa", "claims": claims});
    let tok = |extra: Value| with(rsa(with(jane.clone(), json!({"amr": ["mfa"]}))), extra);
    let claims = |changes: Value| rsa(with(with(jane.clone(), json!({"amr": ["mfa"]})), changes));
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let payload = b64(&serde_json::to_string(&jane).unwrap());
    let raw = |jwt: String| json!({"jwt": jwt});
    let mut no_kid = tok(json!({}));
    no_kid["kid"] = Value::Null; // the harness then writes no kid
    vec![
        ("not a JWT", raw("not-a-jwt".into()), Some("malformed")),
        (
            "two segments",
            raw(format!("{}.{payload}", b64(r#"{"alg":"RS256"}"#))),
            Some("malformed"),
        ),
        (
            "bad base64url header",
            raw(format!("!!!.{payload}.c2ln")),
            Some("malformed"),
        ),
        (
            "header not an object",
            raw(format!("{}.{payload}.c2ln", b64("[1]"))),
            Some("malformed"),
        ),
        (
            "payload not JSON",
            raw(format!(
                "{}.{}.c2ln",
                b64(r#"{"alg":"RS256","kid":"x"}"#),
                b64("not json")
            )),
            Some("malformed"),
        ),
        (
            "payload not an object",
            raw(format!(
                "{}.{}.c2ln",
                b64(r#"{"alg":"RS256","kid":"x"}"#),
                b64("42")
            )),
            Some("malformed"),
        ),
        ("empty token", raw(String::new()), Some("malformed")),
        (
            "16,385 bytes",
            tok(json!({"pad_to": 16385})),
            Some("malformed"),
        ),
        ("exactly 16,384 bytes", tok(json!({"pad_to": 16384})), None),
        (
            "alg none",
            tok(json!({"alg": "none"})),
            Some("alg_not_allowed"),
        ),
        (
            "HS256 with the RSA public key",
            tok(json!({"alg": "HS256"})),
            Some("alg_not_allowed"),
        ),
        (
            "RS512",
            tok(json!({"alg": "RS512"})),
            Some("alg_not_allowed"),
        ),
        (
            "key not in the JWKS",
            tok(json!({"key": "rogue"})),
            Some("unknown_kid"),
        ),
        ("no kid", no_kid, Some("unknown_kid")),
        ("numeric kid", tok(json!({"kid": 42})), Some("unknown_kid")),
        (
            "payload re-encoded after signing",
            tok(json!({"tamper": true})),
            Some("bad_signature"),
        ),
        (
            "RS256 signature bit flipped",
            tok(json!({"flip_bit": 100})),
            Some("bad_signature"),
        ),
        (
            "ES256 signature bit flipped",
            tok(json!({"key": "ec", "flip_bit": 300})),
            Some("bad_signature"),
        ),
        (
            "ES256 under the RSA key's kid",
            tok(json!({"key": "ec", "kid_of": "rsa"})),
            Some("bad_signature"),
        ),
        (
            "RS256 under the EC key's kid",
            tok(json!({"kid_of": "ec"})),
            Some("bad_signature"),
        ),
        (
            "long expired",
            claims(json!({"exp": "$now-86400", "iat": "$now-90000", "nbf": "$now-90000"})),
            Some("expired"),
        ),
        (
            "expired 66 s ago",
            claims(json!({"exp": "$now-66", "iat": "$now-3666", "nbf": "$now-3666"})),
            Some("expired"),
        ),
        (
            "expired 54 s ago: within the leeway",
            claims(json!({"exp": "$now-54", "iat": "$now-3654", "nbf": "$now-3654"})),
            None,
        ),
        (
            "nbf 66 s ahead",
            claims(json!({"nbf": "$now+66"})),
            Some("not_yet_valid"),
        ),
        (
            "nbf 15 min ahead",
            claims(json!({"nbf": "$now+900"})),
            Some("not_yet_valid"),
        ),
        (
            "nbf 54 s ahead: within the leeway",
            claims(json!({"nbf": "$now+54"})),
            None,
        ),
        (
            "fractional NumericDates",
            claims(json!({"exp": "$now+3600.75", "nbf": "$now-0.5"})),
            None,
        ),
        (
            "wrong aud (array)",
            claims(json!({"aud": ["0000aaaa"]})),
            Some("bad_audience"),
        ),
        (
            "wrong aud (string)",
            claims(json!({"aud": "0000aaaa"})),
            Some("bad_audience"),
        ),
        ("aud as a string", claims(json!({"aud": AUD})), None),
        (
            "look-alike iss",
            claims(json!({"iss": "https://acme.cloudflareaccess.com.evil.dev"})),
            Some("bad_issuer"),
        ),
        (
            "iss with a trailing slash",
            claims(json!({"iss": format!("{ISS}/")})),
            Some("bad_issuer"),
        ),
        (
            "email of the wrong type",
            claims(json!({"email": 42})),
            Some("claims_mismatch"),
        ),
        (
            "groups of the wrong type",
            claims(json!({"groups": 7})),
            Some("claims_mismatch"),
        ),
        (
            "department of the wrong type",
            claims(json!({"department": true})),
            Some("claims_mismatch"),
        ),
        (
            "exp missing",
            claims(json!({"exp": null})),
            Some("claims_mismatch"),
        ),
        (
            "exp not a number",
            claims(json!({"exp": "tomorrow"})),
            Some("claims_mismatch"),
        ),
        (
            "sub missing",
            claims(json!({"sub": null})),
            Some("claims_mismatch"),
        ),
        (
            "undeclared claims of any type",
            claims(json!({"x_extra": {"a": [1, null]}, "nonce2": 5})),
            None,
        ),
        ("no token at all", json!({}), Some("missing_token")),
        (
            "Authorization: Basic",
            json!({"headers": {"authorization": "Basic amFuZTpzZWNyZXQ="}}),
            Some("missing_token"),
        ),
        (
            "cookies without CF_Authorization",
            json!({"headers": {"cookie": "theme=dark; session=abc"}}),
            Some("missing_token"),
        ),
    ]
}

/// The routes each token case is sent to: the token is verified before routing.
fn token_routes() -> Vec<(&'static str, String, Answer, Option<u64>)> {
    vec![
        (
            "GET",
            format!("{PAY}/api/v1/payments/42"),
            answer("allow", Some("reader")),
            Some(0),
        ),
        (
            "GET",
            "https://other.acme.dev/api".into(),
            answer("no_route", None),
            None,
        ),
        (
            "POST",
            format!("{PAY}/deploy/no-such-thing"),
            answer("unknown_target", None),
            Some(2),
        ),
        (
            "GET",
            "https://status.acme.dev/healthz".into(),
            answer("allow", Some("public")),
            Some(7),
        ),
    ]
}

/// The principal §6 names for a token payload: email, else common_name, else sub.
fn principal(claims: &Value) -> Value {
    ["email", "common_name", "sub"]
        .iter()
        .find_map(|k| claims[*k].as_str())
        .map_or(Value::Null, |s| json!(s))
}

#[test]
fn built_policy_in_workerd_agrees_with_simulate_on_every_route_outcome_and_token_failure() {
    let built = build("policy-v2.ward");
    let vias = ["assertion", "bearer", "cookie"];
    // (harness request, expected answer, expected route, expected principal)
    let mut planned: Vec<(Value, Answer, Option<u64>, Value)> = Vec::new();
    for (i, c) in scenarios().into_iter().enumerate() {
        for (j, (via, key)) in vias
            .iter()
            .flat_map(|v| [(v, "rsa"), (v, "ec")])
            .enumerate()
        {
            let token = json!({"key": key, "claims": c.claims, "via": via});
            let req = json!({"name": format!("{} [{via} {key}] #{i}.{j}", c.name), "method": c.method, "url": c.url,
                             "headers": c.headers, "token": token});
            planned.push((req, c.expect.clone(), c.route, principal(&c.claims)));
        }
    }
    for (name, token, reason) in token_cases() {
        for (k, (method, url, valid, route)) in token_routes().into_iter().enumerate() {
            let mut req =
                json!({"name": format!("{name} → {method} {url}"), "method": method, "url": url});
            let via = vias[k % vias.len()];
            if token.get("key").is_some() {
                req["token"] = with(token.clone(), json!({"via": via}));
            } else if let Some(jwt) = token.get("jwt") {
                req["jwt"] = jwt.clone();
                req["via"] = json!(via);
            }
            if let Some(h) = token.get("headers") {
                req["headers"] = h.clone();
            }
            let expected = match reason {
                Some(r) => (
                    answer(&format!("invalid_token:{r}"), None),
                    None,
                    Value::Null,
                ),
                None => (valid, route, json!("jane@acme.dev")),
            };
            planned.push((req, expected.0, expected.1, expected.2));
        }
    }
    assert!(planned.len() >= 300, "{} requests", planned.len());

    let requests: Vec<Value> = planned.iter().map(|p| p.0.clone()).collect();
    let report = harness(&spec(&built, requests));
    let got = report["requests"].as_array().unwrap();

    // The same requests as recorded traffic: the assertion header as the line's `jwt` every other time.
    let lines: Vec<Value> = planned
        .iter()
        .zip(got)
        .enumerate()
        .map(|(i, ((req, ..), sent))| {
            recorded(
                sent,
                req["method"].as_str().unwrap(),
                req["url"].as_str().unwrap(),
                i % 2 == 0,
            )
        })
        .collect();
    let predicted = simulate(&built, &lines);

    let mut problems = Vec::new();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (i, ((req, expect, route, who), (sent, sim))) in
        planned.iter().zip(got.iter().zip(&predicted)).enumerate()
    {
        let name = req["name"].as_str().unwrap();
        let sim = Answer::of(sim);
        *outcomes.entry(sim.outcome.clone()).or_default() += 1;
        let mut p: Vec<String> = disagreements(sent, req["method"].as_str().unwrap(), &sim);
        if &sim != expect {
            p.push(format!("simulate {sim:?}, the test expects {expect:?}"));
        }
        let log = &sent["log"];
        let url = url::Url::parse(req["url"].as_str().unwrap()).unwrap();
        let token_ok = !expect.outcome.starts_with("invalid_token:");
        let want_log = json!({
            "route": route, "method": req["method"], "host": url.host_str().unwrap().to_ascii_lowercase(),
            "path": url.path(), "principal": if token_ok { who.clone() } else { Value::Null },
            "policy": built.source_hash(),
        });
        for (k, v) in want_log.as_object().unwrap() {
            if &log[k] != v {
                p.push(format!("log {k}: {} (expected {v})", log[k]));
            }
        }
        if expect.decision == "allow" {
            let origin = &sent["origin"];
            let path_query = &url[url::Position::BeforePath..url::Position::AfterQuery];
            if origin["url"] != json!(path_query) || origin["method"] != req["method"] {
                p.push(format!("origin saw {} {}", origin["method"], origin["url"]));
            }
            if origin["headers"]["x-edgeward-principal"] != *who {
                p.push(format!(
                    "x-edgeward-principal {}",
                    origin["headers"]["x-edgeward-principal"]
                ));
            }
        }
        problems.extend(p.into_iter().map(|m| format!("#{} {name}: {m}", i + 1)));
    }
    eprintln!(
        "policy-v2 matrix: {} requests, outcomes {outcomes:?}; {}",
        planned.len(),
        latency_summary(&report)
    );
    for outcome in [
        "allow",
        "deny",
        "require",
        "default",
        "no_route",
        "unknown_target",
    ] {
        assert!(
            outcomes.contains_key(outcome),
            "no {outcome} among {outcomes:?}"
        );
    }
    assert_none("Worker vs simulate vs expectations", &problems);
}
