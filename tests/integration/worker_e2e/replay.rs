//! The kit's recorded traffic through the built Worker: each token re-signed now with its defect applied again.
//!
//! Nearly every token in `traffic.jsonl` expired long ago, and the Worker
//! verifies at its own clock. So each readable line is sent with fresh tokens:
//! the same header and claims, `exp`/`nbf`/`iat` moved so that they stand to
//! the send time as they stood to the recorded time, signed with the kit's key
//! for its `kid`, and the defect that the kit's expected outcome names applied
//! again after signing (a flipped bit flipped again, a tampered payload
//! re-encoded, alg none/HS256/RS512 rebuilt, a rogue key used again; a
//! malformed token is sent as it is).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value, json};

use super::{
    Answer, assert_none, build, disagreements, harness, kit, latency_summary, rfc3339, simulate,
    spec, unix,
};

/// The kit's JWKS: kid → (harness key name, decoding key).
fn kit_keys() -> BTreeMap<String, (&'static str, DecodingKey)> {
    let jwks: Value =
        serde_json::from_slice(&std::fs::read(kit().join("jwks.json")).unwrap()).unwrap();
    let mut keys = BTreeMap::new();
    for k in jwks["keys"].as_array().unwrap() {
        let s = |name: &str| k[name].as_str().unwrap();
        let entry = match s("kty") {
            "RSA" => (
                "rsa",
                DecodingKey::from_rsa_components(s("n"), s("e")).unwrap(),
            ),
            "EC" => (
                "ec",
                DecodingKey::from_ec_components(s("x"), s("y")).unwrap(),
            ),
            other => panic!("kit JWKS key of type {other}"),
        };
        keys.insert(s("kid").to_owned(), entry);
    }
    keys
}

fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .as_object()
        .cloned()
}

/// The bit of `signature` whose flip makes it verify over `message`: a "flipped bit" token's defect.
fn flipped_bit(signature: &str, message: &str, key: &DecodingKey, alg: Algorithm) -> Option<usize> {
    let mut sig = URL_SAFE_NO_PAD.decode(signature).ok()?;
    (0..sig.len() * 8).find(|&bit| {
        let mask = 0x80u8 >> (bit % 8);
        sig[bit / 8] ^= mask;
        let ok = jsonwebtoken::crypto::verify(
            &URL_SAFE_NO_PAD.encode(&sig),
            message.as_bytes(),
            key,
            alg,
        )
        .unwrap_or(false);
        sig[bit / 8] ^= mask;
        ok
    })
}

/// How to send `token` again now: `{"jwt": raw}` or `{"token": harness token spec}`; `reason` is the kit's
/// `invalid_token` reason for the line when this token is the one that decides it.
fn resign(
    token: &str,
    reason: Option<&str>,
    recorded_at: i64,
    keys: &BTreeMap<String, (&'static str, DecodingKey)>,
) -> Value {
    let raw = json!({"jwt": token});
    if matches!(reason, Some("malformed" | "missing_token")) {
        return raw;
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts[..] else { return raw };
    let (Some(header), Some(payload)) = (decode_object(h), decode_object(p)) else {
        return raw;
    };
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned();
    let by_alg = if alg == "ES256" { "ec" } else { "rsa" };
    let mut spec = json!({"header_exact": header, "claims": payload, "shift_from": recorded_at, "sign_alg": alg});
    let kid = header.get("kid").and_then(Value::as_str);
    let key = match kid.and_then(|k| keys.get(k)) {
        _ if alg != "RS256" && alg != "ES256" => "rsa", // alg none, HS256 (MACed with the RSA public key), RS512
        None if kid.is_some() && alg == "RS256" => "rogue",
        None => by_alg,
        // An ES256 token under the RSA key's kid, or the other way round: signed with the key its alg needs.
        Some((name, _)) if *name != by_alg => by_alg,
        Some((name, decoding)) => {
            if reason == Some("bad_signature") {
                let alg = if alg == "ES256" {
                    Algorithm::ES256
                } else {
                    Algorithm::RS256
                };
                match flipped_bit(s, &format!("{h}.{p}"), decoding, alg) {
                    Some(bit) => spec["flip_bit"] = json!(bit),
                    None => spec["tamper"] = json!(true),
                }
            }
            name
        }
    };
    spec["key"] = json!(key);
    json!({"token": spec})
}

/// The token of an `Authorization` value with the Bearer scheme.
fn bearer(value: &str) -> Option<&str> {
    let v = value.trim();
    let (scheme, rest) = v.split_once([' ', '\t']).unwrap_or((v, ""));
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn cookie_token(value: &str) -> Option<&str> {
    value.split(';').find_map(|pair| {
        let (name, v) = pair.split_once('=')?;
        (name.trim() == "CF_Authorization").then(|| v.trim())
    })
}

/// `{header, value with {token}, jwt | token}` for a header value that carries `token` (and its length, for checks).
fn source(header: &str, value: &str, token: &str, plan: Value) -> Value {
    let mut src = plan;
    src["header"] = json!(header);
    src["value"] = json!(value.replacen(token, "{token}", 1));
    src["original_len"] = json!(token.len());
    src
}

#[test]
fn kit_traffic_resigned_now_agrees_in_workerd_and_simulate_and_with_the_kit() {
    let built = build("policy.ward");
    let keys = kit_keys();
    let expected: Value =
        serde_json::from_slice(&std::fs::read(kit().join("expected-simulate-v1.json")).unwrap())
            .unwrap();
    let raw = std::fs::read(kit().join("traffic.jsonl")).unwrap();
    let raw_lines: Vec<&[u8]> = raw.split(|&b| b == b'\n').collect();

    let freeze = (unix("2026-12-20T00:00:00Z"), unix("2027-01-04T00:00:00Z"));
    let mut requests = Vec::new();
    let mut originals = Vec::new();
    for exp in expected["lines"].as_array().unwrap() {
        if exp.get("decision").is_none() {
            continue; // unreadable
        }
        let n = exp["line"].as_u64().unwrap() as usize;
        let text = std::str::from_utf8(raw_lines[n - 1])
            .unwrap()
            .trim_end_matches('\r');
        let line: Map<String, Value> = serde_json::from_str(text).unwrap();
        let recorded_at = unix(line["time"].as_str().unwrap());
        let reason = exp["outcome"]
            .as_str()
            .unwrap()
            .strip_prefix("invalid_token:");

        // The deciding source, in §4's order, is re-signed with the line's defect; the others plainly.
        let mut winner = true;
        let mut plan = |token: &str| {
            let r = if winner { reason } else { None };
            winner = false;
            resign(token, r, recorded_at, &keys)
        };
        let mut sources = Vec::new();
        let mut headers = Map::new();
        let recorded_headers = line
            .get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let named = |name: &str| {
            recorded_headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .next()
        };
        if let Some(jwt) = line.get("jwt").and_then(Value::as_str) {
            sources.push(source("cf-access-jwt-assertion", jwt, jwt, plan(jwt)));
        } else if let Some((k, v)) = named("cf-access-jwt-assertion") {
            sources.push(source(&k, &v, v.trim(), plan(v.trim())));
        }
        if let Some((k, v)) = named("authorization") {
            match bearer(&v).filter(|t| !t.is_empty()) {
                Some(t) => sources.push(source(&k, &v, t, plan(t))),
                None => {
                    headers.insert(k, json!(v));
                }
            }
        }
        if let Some((k, v)) = named("cookie") {
            match cookie_token(&v).filter(|t| !t.is_empty()) {
                Some(t) => sources.push(source(&k, &v, t, plan(t))),
                None => {
                    headers.insert(k, json!(v));
                }
            }
        }
        for (k, v) in &recorded_headers {
            let lower = k.to_ascii_lowercase();
            if !["cf-access-jwt-assertion", "authorization", "cookie"].contains(&lower.as_str()) {
                headers.insert(k.clone(), v.clone());
            }
        }
        if let Some(ip) = line.get("ip").and_then(Value::as_str) {
            headers.insert("cf-connecting-ip".into(), json!(ip));
        }
        if let Some(country) = line.get("country").and_then(Value::as_str) {
            headers.insert("cf-ipcountry".into(), json!(country));
        }
        let time_dependent = (freeze.0..freeze.1).contains(&recorded_at);
        // A token of exactly 16,384 bytes (valid; one more is malformed) must keep its length when re-signed.
        let at_limit: Vec<usize> = sources
            .iter()
            .enumerate()
            .filter(|(_, s)| s["token"].is_object() && s["original_len"] == 16_384)
            .map(|(i, _)| i)
            .collect();
        requests.push(json!({
            "name": format!("traffic.jsonl:{n}"), "method": line["method"], "url": line["url"],
            "headers": headers, "sources": sources,
        }));
        originals.push((n, line, exp.clone(), time_dependent, at_limit));
    }

    let report = harness(&spec(&built, requests.clone()));
    let got = report["requests"].as_array().unwrap();

    // The requests as sent, as recorded traffic: the line's own shape, its tokens replaced, `time` = the send time.
    let lines: Vec<Value> = originals
        .iter()
        .zip(got)
        .map(|((_, line, ..), sent)| {
            let mut out = line.clone();
            out.insert(
                "time".into(),
                json!(rfc3339(sent["sent_at"].as_i64().unwrap())),
            );
            let sent_headers = sent["sent_headers"].as_object().unwrap();
            if out.contains_key("jwt") {
                out.insert(
                    "jwt".into(),
                    sent_headers["cf-access-jwt-assertion"].clone(),
                );
            }
            if let Some(h) = out.get_mut("headers").and_then(Value::as_object_mut) {
                let jwt_wins = line.contains_key("jwt");
                h.retain(|k, _| !(jwt_wins && k.eq_ignore_ascii_case("cf-access-jwt-assertion")));
                for (k, v) in h.iter_mut() {
                    *v = sent_headers[k].clone();
                }
            }
            Value::Object(out)
        })
        .collect();
    let predicted = simulate(&built, &lines);

    let mut problems = Vec::new();
    let mut exempt = Vec::new();
    let mut outcomes = BTreeMap::<String, usize>::new();
    let mut limit_tokens = 0;
    for (((n, line, exp, time_dependent, at_limit), sent), sim) in
        originals.iter().zip(got).zip(&predicted)
    {
        for &i in at_limit {
            limit_tokens += 1;
            let len = sent["tokens"][i].as_str().unwrap().len();
            if len != 16_384 {
                problems.push(format!(
                    "traffic.jsonl:{n}: a 16,384-byte token re-signed as {len} bytes"
                ));
            }
        }
        let sim = Answer::of(sim);
        let worker = Answer::of(&sent["log"]);
        *outcomes.entry(worker.outcome.clone()).or_default() += 1;
        let mut p = disagreements(sent, line["method"].as_str().unwrap(), &sim);
        let kit_answer = Answer::of(exp);
        if worker != kit_answer {
            if *time_dependent {
                exempt.push(format!("{n} ({} → {})", kit_answer.outcome, worker.outcome));
            } else {
                p.push(format!("worker {worker:?}, the kit expects {kit_answer:?}"));
            }
        }
        problems.extend(p.into_iter().map(|m| format!("traffic.jsonl:{n}: {m}")));
    }
    eprintln!(
        "kit traffic: {} readable lines re-signed and sent, outcomes {outcomes:?}; recorded in the freeze window, decided \
         at today's time instead (not compared with the kit): {exempt:?}; {}",
        originals.len(),
        latency_summary(&report)
    );
    assert!(
        limit_tokens > 0,
        "no token of exactly 16,384 bytes in the kit's traffic"
    );
    assert_none("kit traffic: Worker vs simulate vs the kit", &problems);
}
