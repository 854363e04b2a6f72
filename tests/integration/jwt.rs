//! The §4 verification profile: a security matrix, published vectors, the conformance kit, and fuzzing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod fuzz;
mod matrix;
mod vectors;

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use edgeward::input::{ClaimDecl, ClaimType, ClaimValue};
use edgeward::jwt::{Jwks, Profile, Reason, Verifier, principal_of, type_claims};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

pub const AUD: &str = "78f42a26e725d802b7ae5bdb3e8707e144ddc1121a0742da244c75e05a0bccac";
pub const ISS: &str = "https://acme.cloudflareaccess.com";
pub const RSA_KID: &str = "d0759e2f371873263f2f5a6813b7b5545854d83dd6bef9bd6ca2b8436c083d8e";
pub const EC_KID: &str = "37872d5961814b25bcd7d1ef850126cba2790a608165501469203ff5bf05728d";
/// The recorded time of the requests below: 2026-11-24T05:33:20Z.
pub const NOW: i64 = 1_795_498_400;

/// The repository's `shared/` folder: the first ancestor of the crate holding `shared/conformance`.
pub fn shared() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .map(|dir| dir.join("shared"))
        .find(|dir| dir.join("conformance").is_dir())
        .expect("no ancestor of CARGO_MANIFEST_DIR holds shared/conformance")
}

pub fn read(rel: &str) -> String {
    std::fs::read_to_string(shared().join(rel)).unwrap()
}

/// The v1 claims schema, as `manifest-v1.json` lists it (std::cloudflare_access + std::okta + `department`).
pub fn schema_v1() -> Vec<ClaimDecl> {
    let manifest: Value = serde_json::from_str(&read("conformance/manifest-v1.json")).unwrap();
    let ty = |t: &str| match t {
        "string" => ClaimType::String,
        "int" => ClaimType::Int,
        "bool" => ClaimType::Bool,
        "time" => ClaimType::Time,
        "set" => ClaimType::Set,
        other => panic!("unknown claim type {other}"),
    };
    manifest["manifest"]["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| ClaimDecl {
            name: c["name"].as_str().unwrap().to_owned(),
            ty: ty(c["type"].as_str().unwrap()),
            optional: c["optional"].as_bool().unwrap(),
        })
        .collect()
}

pub fn kit_verifier() -> Verifier {
    let jwks = Jwks::parse(&read("conformance/jwks.json")).unwrap();
    let profile = Profile {
        aud: Some(AUD.into()),
        iss: Some(ISS.into()),
    };
    Verifier::new(jwks, profile, schema_v1())
}

pub fn key(name: &str, alg: Algorithm) -> EncodingKey {
    let pem = read(&format!("conformance/keys/{name}"));
    match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    }
}

pub fn b64json(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

/// A compact JWS of `header` and `payload` signed by `key` under `alg` (whatever the header says).
pub fn sign(header: &Value, payload: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64json(header), b64json(payload));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{sig}")
}

pub fn claims() -> Value {
    json!({"aud": [AUD], "email": "jane@acme.dev", "exp": NOW + 3600, "iat": NOW - 60,
           "nbf": NOW - 60, "iss": ISS, "sub": "5c2f", "type": "app", "identity_nonce": "n0"})
}

pub fn with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v == &json!("<remove>") {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

pub fn rs256(payload: &Value) -> String {
    let header = json!({"alg": "RS256", "kid": RSA_KID, "typ": "JWT"});
    sign(
        &header,
        payload,
        &key("rsa-2048.pem", Algorithm::RS256),
        Algorithm::RS256,
    )
}

pub fn es256(payload: &Value) -> String {
    let header = json!({"alg": "ES256", "kid": EC_KID, "typ": "JWT"});
    sign(
        &header,
        payload,
        &key("ec-p256.pem", Algorithm::ES256),
        Algorithm::ES256,
    )
}

pub fn reason(token: &str) -> Result<(), Reason> {
    kit_verifier().verify(Some(token), NOW).map(|_| ())
}

/// Flips the lowest bit of the last byte of segment `index` (re-encoded as base64url).
pub fn flip(token: &str, index: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = B64.decode(&parts[index]).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    parts[index] = B64.encode(bytes);
    parts.join(".")
}

#[test]
fn valid_rs256_and_es256_verify_with_typed_claims_and_principal() {
    for token in [rs256(&claims()), es256(&claims())] {
        let v = kit_verifier().verify(Some(&token), NOW).unwrap();
        assert_eq!(v.principal.as_deref(), Some("jane@acme.dev"));
        assert_eq!(v.claims["aud"], ClaimValue::Set(vec![AUD.into()]));
        assert_eq!(v.claims["exp"], ClaimValue::Time(NOW + 3600));
        assert_eq!(
            v.claims["email"],
            ClaimValue::String("jane@acme.dev".into())
        );
        assert!(
            !v.claims.contains_key("groups"),
            "absent optional claims stay absent"
        );
        assert_eq!(v.claims["identity_nonce"], ClaimValue::String("n0".into()));
    }
}

#[test]
fn each_distinct_token_signature_is_checked_once() {
    let verifier = kit_verifier();
    let t = rs256(&claims());
    for _ in 0..10 {
        assert!(verifier.verify(Some(&t), NOW).is_ok());
    }
    assert_eq!(
        verifier.verify(Some(&t), NOW + 7200).map(|_| ()),
        Err(Reason::Expired)
    );
    let bad = flip(&t, 2);
    for _ in 0..3 {
        assert_eq!(
            verifier.verify(Some(&bad), NOW).map(|_| ()),
            Err(Reason::BadSignature)
        );
    }
    assert_eq!(verifier.signature_checks(), 2);
    // A tiny cache still answers right after evicting.
    let small = Verifier::with_cache_capacity(
        Jwks::parse(&read("conformance/jwks.json")).unwrap(),
        Profile::default(),
        vec![],
        1,
    );
    let tokens: Vec<String> = (0..40).map(|i| es256(&with(json!({"jti": i})))).collect();
    for t in tokens.iter().chain(&tokens) {
        assert!(small.verify(Some(t), NOW).is_ok());
    }
}

#[test]
fn verifier_is_shared_across_threads() {
    fn sync<T: Send + Sync>() {}
    sync::<Verifier>();
    let verifier = kit_verifier();
    let good = rs256(&claims());
    let bad = flip(&good, 2);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert!(verifier.verify(Some(&good), NOW).is_ok());
                    assert_eq!(
                        verifier.verify(Some(&bad), NOW).map(|_| ()),
                        Err(Reason::BadSignature)
                    );
                }
            });
        }
    });
}

#[test]
fn unconfigured_aud_and_iss_are_not_checked() {
    let jwks = Jwks::parse(&read("conformance/jwks.json")).unwrap();
    let v = Verifier::new(jwks, Profile::default(), vec![]);
    let t = rs256(&with(json!({"aud": 5, "iss": null})));
    assert!(v.verify(Some(&t), NOW).is_ok());
}

#[test]
fn type_claims_applies_claims_mismatch_rules() {
    let schema = schema_v1();
    let payload = |v: Value| v.as_object().unwrap().clone();
    assert!(type_claims(&payload(claims()), &schema).is_ok());
    assert_eq!(
        type_claims(&payload(json!({"sub": "x"})), &[]),
        Err(Reason::ClaimsMismatch),
        "exp required whatever the schema says"
    );
    assert!(
        type_claims(&payload(json!({"exp": 1.5})), &[])
            .unwrap()
            .is_empty(),
        "undeclared exp is checked, not typed"
    );
    assert_eq!(
        type_claims(&payload(json!({"exp": 1, "nbf": "x"})), &[]),
        Err(Reason::ClaimsMismatch)
    );
    let int = [ClaimDecl {
        name: "n".into(),
        ty: ClaimType::Int,
        optional: true,
    }];
    assert_eq!(
        type_claims(&payload(json!({"exp": 1, "n": 2})), &int).unwrap()["n"],
        ClaimValue::Int(2)
    );
    assert_eq!(
        type_claims(&payload(json!({"exp": 1, "n": 2.5})), &int),
        Err(Reason::ClaimsMismatch)
    );
    // Numbers are read as doubles, as JavaScript reads them: a whole number written as a float
    // is an int; an integer beyond 2^53 - 1 is not one a double holds exactly.
    let n = |text: &str| {
        let p: Value = serde_json::from_str(&format!(r#"{{"exp": 1, "n": {text}}}"#)).unwrap();
        type_claims(&payload(p), &int).map(|c| c["n"].clone())
    };
    assert_eq!(n("5.0"), Ok(ClaimValue::Int(5)));
    assert_eq!(n("1e2"), Ok(ClaimValue::Int(100)));
    assert_eq!(n("-0"), Ok(ClaimValue::Int(0)));
    assert_eq!(
        n("9007199254740991"),
        Ok(ClaimValue::Int(9_007_199_254_740_991))
    );
    assert_eq!(
        n("-9007199254740991"),
        Ok(ClaimValue::Int(-9_007_199_254_740_991))
    );
    assert_eq!(n("9007199254740992"), Err(Reason::ClaimsMismatch));
    assert_eq!(n("9223372036854775807"), Err(Reason::ClaimsMismatch));
    let t = [ClaimDecl {
        name: "exp".into(),
        ty: ClaimType::Time,
        optional: false,
    }];
    assert_eq!(
        type_claims(&payload(json!({"exp": -0.5})), &t).unwrap()["exp"],
        ClaimValue::Time(-1)
    );
    assert_eq!(
        type_claims(&payload(json!({"exp": 1e300})), &t),
        Err(Reason::ClaimsMismatch)
    );
    // 2^63 - 1 as a double is 2^63, beyond int64, as in the Worker.
    let p: Value = serde_json::from_str(r#"{"exp": 9223372036854775807}"#).unwrap();
    assert_eq!(type_claims(&payload(p), &t), Err(Reason::ClaimsMismatch));
}

#[test]
fn principal_is_email_else_common_name_else_sub_as_written() {
    let p = |v: Value| principal_of(v.as_object().unwrap());
    assert_eq!(
        p(json!({"email": "Kim.Lee@Acme.dev", "common_name": "c", "sub": "s"})).as_deref(),
        Some("Kim.Lee@Acme.dev")
    );
    assert_eq!(
        p(json!({"email": null, "common_name": "c.access", "sub": ""})).as_deref(),
        Some("c.access")
    );
    assert_eq!(p(json!({"sub": ""})).as_deref(), Some(""));
    assert_eq!(p(json!({})), None);
    // An empty email or common_name names no one, as in the Worker.
    assert_eq!(
        p(json!({"email": "", "common_name": "", "sub": "s"})).as_deref(),
        Some("s")
    );
    assert_eq!(
        p(json!({"email": "", "common_name": "c.access"})).as_deref(),
        Some("c.access")
    );
}

#[test]
fn jwks_shapes() {
    // Cloudflare's certs document, as is; its certificates are ignored, as the Worker ignores
    // them (they repeat the keys of `keys`).
    let kit: Value = serde_json::from_str(&read("conformance/jwks.json")).unwrap();
    assert_eq!(Jwks::parse(&kit.to_string()).unwrap().len(), 2);
    let certs_only =
        json!({"keys": [], "public_cert": kit["public_cert"], "public_certs": kit["public_certs"]});
    let jwks = Jwks::parse(&certs_only.to_string()).unwrap();
    assert!(jwks.is_empty());
    let v = Verifier::new(jwks, Profile::default(), vec![]);
    assert_eq!(
        v.verify(Some(&rs256(&claims())), NOW).map(|_| ()),
        Err(Reason::UnknownKid)
    );
    // A key whose `alg` names another algorithm (or is null) fits none: `bad_signature`, as in
    // the Worker; one that names its own fits.
    for (alg, fits) in [
        (json!("RS256"), true),
        (json!("RS384"), false),
        (Value::Null, false),
    ] {
        let mut doc = kit.clone();
        for k in doc["keys"].as_array_mut().unwrap() {
            if k["kty"] == "RSA" {
                k["alg"] = alg.clone();
            }
        }
        let v = Verifier::new(
            Jwks::parse(&doc.to_string()).unwrap(),
            Profile::default(),
            vec![],
        );
        let got = v.verify(Some(&rs256(&claims())), NOW).map(|_| ());
        let expected = if fits {
            Ok(())
        } else {
            Err(Reason::BadSignature)
        };
        assert_eq!(got, expected, "alg {alg}");
        assert!(v.verify(Some(&es256(&claims())), NOW).is_ok(), "alg {alg}");
    }
    // An oct key's kid is known but fits no allowed alg.
    let oct = json!({"keys": [{"kid": "k", "kty": "oct", "k": "c2VjcmV0"}, {"kty": "RSA", "n": "AQAB", "e": "AQAB"}]});
    let v = Verifier::new(
        Jwks::parse(&oct.to_string()).unwrap(),
        Profile::default(),
        vec![],
    );
    let t = sign(
        &json!({"alg": "RS256", "kid": "k"}),
        &claims(),
        &key("rsa-2048.pem", Algorithm::RS256),
        Algorithm::RS256,
    );
    assert_eq!(
        v.verify(Some(&t), NOW).map(|_| ()),
        Err(Reason::BadSignature)
    );
    for bad in [
        "",
        "[]",
        "{}",
        "{\"keys\": 1}",
        "{\"keys\": [1]}",
        "{\"keys\": [{\"kid\": 1, \"kty\": \"RSA\"}]}",
        "{\"keys\": [{\"kid\": \"a\", \"kty\": \"RSA\", \"n\": \"*\", \"e\": \"AQAB\"}]}",
        "{\"keys\": [{\"kid\": \"a\", \"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AA\", \"y\": \"AA\"}]}",
    ] {
        assert!(Jwks::parse(bad).is_err(), "{bad}");
    }
}
