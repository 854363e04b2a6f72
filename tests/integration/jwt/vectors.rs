//! Published JWS vectors and the conformance kit's verdicts over `traffic.jsonl`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use edgeward::input::ClaimValue;
use edgeward::jwt::{Jwks, Profile, Reason, Verifier};
use serde_json::{Value, json};

use super::*;

fn vector(name: &str) -> Value {
    serde_json::from_str(&read(&format!("data/jwt-vectors/{name}.json"))).unwrap()
}

/// Published vectors: RFC 7515 appendix A and RFC 7520 §4 (https://www.rfc-editor.org/rfc/rfc7515,
/// https://www.rfc-editor.org/rfc/rfc7520, via `shared/data/jwt-vectors/README.md`), and the
/// project's derived Cloudflare Access vectors (Cloudflare docs payloads signed with the RFC 7515 A.2 key).
#[test]
fn published_vectors() {
    let jwks_of = |v: &Value, kid: &str| {
        let mut k = v["verification_key"].clone();
        if k.is_null() {
            return Jwks::parse(r#"{"keys": []}"#).unwrap(); // A.5 is unsecured: no key
        }
        k["kid"] = json!(kid);
        Jwks::parse(&json!({"keys": [k]}).to_string()).unwrap()
    };
    let check = |name: &str, kid: &str, expected: Reason| {
        let v = vector(name);
        let verifier = Verifier::new(jwks_of(&v, kid), Profile::default(), vec![]);
        assert_eq!(
            verifier
                .verify(v["token"].as_str(), 1_300_000_000)
                .map(|_| ()),
            Err(expected),
            "{name}"
        );
    };
    check("rfc7515-a1-hs256", "x", Reason::AlgNotAllowed);
    check("rfc7515-a2-rs256", "x", Reason::UnknownKid); // no kid in its header
    check("rfc7515-a3-es256", "x", Reason::UnknownKid);
    check("rfc7515-a4-es512", "x", Reason::Malformed); // payload "Payload" is not JSON
    check("rfc7515-a5-unsecured", "x", Reason::AlgNotAllowed);
    check(
        "rfc7520-4.1-rs256-kid",
        "bilbo.baggins@hobbiton.example",
        Reason::Malformed,
    );
    check(
        "rfc7520-4.2-ps384-kid",
        "bilbo.baggins@hobbiton.example",
        Reason::Malformed,
    );
    check(
        "rfc7520-4.4-hs256-kid",
        "018c0ae5-4d9b-471b-bfd6-eef314bc7037",
        Reason::Malformed,
    );
    check(
        "derived-alg-confusion-hs256-with-rsa-public-key",
        "x",
        Reason::AlgNotAllowed,
    );
    check("derived-a2-rs256-tampered-payload", "x", Reason::UnknownKid);

    // The Cloudflare Access shapes, against the certs-shaped JWKS, at their issue time.
    let jwks = Jwks::parse(&vector("derived-cloudflare-access-certs").to_string()).unwrap();
    let aud = "32eafc7626e974616deaf0dc3ce63d7bcbed58a2731e84d06bc3cdf1b53c4228";
    let profile = Profile {
        aud: Some(aud.into()),
        iss: Some("https://yourteam.cloudflareaccess.com".into()),
    };
    let verifier = Verifier::new(jwks, profile, schema_v1());
    let identity = vector("derived-cloudflare-access-identity");
    let token = identity["token"].as_str().unwrap();
    let ok = verifier.verify(Some(token), 1_659_474_400).unwrap();
    assert_eq!(ok.principal.as_deref(), Some("user@example.com"));
    assert_eq!(
        verifier.verify(Some(token), 1_659_474_457 + 61).map(|_| ()),
        Err(Reason::Expired)
    );
    assert_eq!(
        verifier
            .verify(Some(&flip(token, 2)), 1_659_474_400)
            .map(|_| ()),
        Err(Reason::BadSignature)
    );
    let service = vector("derived-cloudflare-access-service-token");
    let ok = verifier
        .verify(service["token"].as_str(), 1_659_474_400)
        .unwrap();
    assert_eq!(
        ok.principal.as_deref(),
        Some("e367826f93b8d71185e03fe518aff3b4.access")
    );
    assert_eq!(ok.claims["sub"], ClaimValue::String(String::new()));

    // A.3's ES256 token against A.2's RSA key under a kid it names: the key does not fit the alg.
    let a3 = vector("derived-a3-es256-wrong-key");
    let parts: Vec<&str> = a3["token"].as_str().unwrap().split('.').collect();
    let header = b64json(&json!({"alg": "ES256", "kid": "x"}));
    let rekeyed = format!("{header}.{}.{}", parts[1], parts[2]);
    let verifier = Verifier::new(jwks_of(&a3, "x"), Profile::default(), vec![]);
    assert_eq!(
        verifier.verify(Some(&rekeyed), 1_300_000_000).map(|_| ()),
        Err(Reason::BadSignature)
    );
}

/// `expected-simulate-v1.json`: every line's verification verdict, and the unreadable lines.
#[test]
fn conformance_kit_verdicts() {
    use edgeward::sim::traffic::TrafficReader;
    let expected: Value =
        serde_json::from_str(&read("conformance/expected-simulate-v1.json")).unwrap();
    let lines = expected["lines"].as_array().unwrap();
    let file = std::fs::File::open(shared().join("conformance/traffic.jsonl")).unwrap();
    let verifier = kit_verifier();
    let mut count = 0;
    for (got, want) in TrafficReader::new(std::io::BufReader::new(file)).zip(lines) {
        count += 1;
        let line = want["line"].as_u64().unwrap();
        match got {
            Err(unreadable) => {
                assert_eq!(unreadable.line, line);
                assert!(
                    want.get("unreadable").is_some(),
                    "line {line} should be readable: {unreadable}"
                );
                let tag = want["tags"][0]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("unreadable:");
                let tag = if tag == "truncated" { "not_json" } else { tag };
                assert_eq!(unreadable.kind.as_str(), tag, "line {line}");
            }
            Ok(request) => {
                assert_eq!(request.line, line);
                assert!(
                    want.get("unreadable").is_none(),
                    "line {line} should be unreadable"
                );
                let outcome = want["outcome"].as_str().unwrap();
                let verdict = verifier
                    .verify(request.token.as_deref(), request.time)
                    .map(|_| ());
                match outcome.strip_prefix("invalid_token:") {
                    Some(reason) => assert_eq!(
                        verdict,
                        Err(Reason::from_name(reason).unwrap()),
                        "line {line}"
                    ),
                    None => assert_eq!(verdict, Ok(()), "line {line} ({outcome})"),
                }
            }
        }
    }
    assert_eq!(count, lines.len());
    assert_eq!(count, 384);
}
