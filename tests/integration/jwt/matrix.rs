//! The security matrix: each bad token yields exactly its pinned reason; valid edge cases pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use base64::Engine;
use edgeward::input::ClaimValue;
use edgeward::jwt::{Reason, TokenCache};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::*;

#[test]
fn security_matrix_yields_exactly_the_pinned_reason() {
    use Reason::*;
    let rsa = key("rsa-2048.pem", Algorithm::RS256);
    let rsa_public_pem = {
        let jwks: Value = serde_json::from_str(&read("conformance/jwks.json")).unwrap();
        jwks["public_cert"]["cert"].as_str().unwrap().to_owned()
    };
    let hs = EncodingKey::from_secret(rsa_public_pem.as_bytes()).unwrap();
    let h = |alg: &str| json!({"alg": alg, "kid": RSA_KID, "typ": "JWT"});
    let none = format!("{}.{}.", b64json(&h("none")), b64json(&claims()));
    let pad = "x".repeat(64 * 1024);
    let cases: Vec<(&str, String, Reason)> = vec![
        ("alg none", none, AlgNotAllowed),
        (
            "HS256 with the RSA public key as secret",
            sign(&h("HS256"), &claims(), &hs, Algorithm::HS256),
            AlgNotAllowed,
        ),
        (
            "RS512",
            sign(&h("RS512"), &claims(), &rsa, Algorithm::RS512),
            AlgNotAllowed,
        ),
        (
            "alg absent",
            sign(&json!({"kid": RSA_KID}), &claims(), &rsa, Algorithm::RS256),
            AlgNotAllowed,
        ),
        (
            "unknown kid",
            sign(
                &json!({"alg": "RS256", "kid": "rogue"}),
                &claims(),
                &key("rogue-rsa-2048.pem", Algorithm::RS256),
                Algorithm::RS256,
            ),
            UnknownKid,
        ),
        (
            "absent kid",
            sign(&json!({"alg": "RS256"}), &claims(), &rsa, Algorithm::RS256),
            UnknownKid,
        ),
        (
            "numeric kid",
            sign(
                &json!({"alg": "RS256", "kid": 7}),
                &claims(),
                &rsa,
                Algorithm::RS256,
            ),
            UnknownKid,
        ),
        (
            "rogue key under a known kid",
            sign(
                &h("RS256"),
                &claims(),
                &key("rogue-rsa-2048.pem", Algorithm::RS256),
                Algorithm::RS256,
            ),
            BadSignature,
        ),
        (
            "ES256 under the RSA key's kid",
            sign(
                &h("ES256"),
                &claims(),
                &key("ec-p256.pem", Algorithm::ES256),
                Algorithm::ES256,
            ),
            BadSignature,
        ),
        (
            "RS256 under the EC key's kid",
            sign(
                &json!({"alg": "RS256", "kid": EC_KID}),
                &claims(),
                &rsa,
                Algorithm::RS256,
            ),
            BadSignature,
        ),
        (
            "tampered payload",
            {
                let t = rs256(&claims());
                let parts: Vec<&str> = t.split('.').collect();
                format!(
                    "{}.{}.{}",
                    parts[0],
                    b64json(&with(json!({"email": "raj@acme.dev"}))),
                    parts[2]
                )
            },
            BadSignature,
        ),
        (
            "flipped signature bit RS256",
            flip(&rs256(&claims()), 2),
            BadSignature,
        ),
        (
            "flipped signature bit ES256",
            flip(&es256(&claims()), 2),
            BadSignature,
        ),
        (
            "expired 61 s ago",
            rs256(&with(json!({"exp": NOW - 61}))),
            Expired,
        ),
        (
            "nbf 61 s ahead",
            rs256(&with(json!({"nbf": NOW + 61}))),
            NotYetValid,
        ),
        (
            "nbf 15 min ahead",
            es256(&with(json!({"nbf": NOW + 900}))),
            NotYetValid,
        ),
        (
            "wrong aud array",
            rs256(&with(json!({"aud": ["other"]}))),
            BadAudience,
        ),
        (
            "wrong aud string",
            rs256(&with(json!({"aud": "other"}))),
            BadAudience,
        ),
        ("aud a number", rs256(&with(json!({"aud": 5}))), BadAudience),
        (
            "aud absent",
            rs256(&with(json!({"aud": "<remove>"}))),
            BadAudience,
        ),
        (
            "look-alike iss",
            rs256(&with(json!({"iss": "https://acme.cloudflareaccess.co"}))),
            BadIssuer,
        ),
        (
            "iss with trailing slash",
            rs256(&with(json!({"iss": format!("{ISS}/")}))),
            BadIssuer,
        ),
        (
            "iss an array",
            rs256(&with(json!({"iss": [ISS]}))),
            BadIssuer,
        ),
        (
            "bad base64 header",
            format!("e*J.{}.AAAA", b64json(&claims())),
            Malformed,
        ),
        (
            "padded base64",
            format!("{}=.{}.AAAA", b64json(&h("RS256")), b64json(&claims())),
            Malformed,
        ),
        (
            "bad base64 signature",
            format!("{}.{}.!!", b64json(&h("RS256")), b64json(&claims())),
            Malformed,
        ),
        ("64 KB token", rs256(&with(json!({"pad": pad}))), Malformed),
        (
            "non-JSON payload",
            format!("{}.{}.AAAA", b64json(&h("RS256")), B64.encode("not json")),
            Malformed,
        ),
        (
            "payload an array",
            sign(&h("RS256"), &json!([1]), &rsa, Algorithm::RS256),
            Malformed,
        ),
        (
            "header not an object",
            sign(&json!("RS256"), &claims(), &rsa, Algorithm::RS256),
            Malformed,
        ),
        ("not a JWT", "not-a-jwt".into(), Malformed),
        (
            "two segments",
            format!("{}.{}", b64json(&h("RS256")), b64json(&claims())),
            Malformed,
        ),
        (
            "four segments",
            format!("{}.x", rs256(&claims())),
            Malformed,
        ),
        ("empty token", String::new(), Malformed),
        (
            "email a number",
            rs256(&with(json!({"email": 5}))),
            ClaimsMismatch,
        ),
        (
            "groups of numbers",
            rs256(&with(json!({"groups": [1, 2]}))),
            ClaimsMismatch,
        ),
        (
            "department true",
            rs256(&with(json!({"department": true}))),
            ClaimsMismatch,
        ),
        (
            "common_name an object",
            rs256(&with(json!({"common_name": {}}))),
            ClaimsMismatch,
        ),
        (
            "missing exp",
            rs256(&with(json!({"exp": "<remove>"}))),
            ClaimsMismatch,
        ),
        (
            "exp null",
            rs256(&with(json!({"exp": null}))),
            ClaimsMismatch,
        ),
        (
            "exp a string (no expiry check)",
            rs256(&with(json!({"exp": "1"}))),
            ClaimsMismatch,
        ),
        (
            "nbf a string (no nbf check)",
            rs256(&with(json!({"nbf": "9999999999"}))),
            ClaimsMismatch,
        ),
        (
            "missing sub",
            rs256(&with(json!({"sub": "<remove>"}))),
            ClaimsMismatch,
        ),
        // Several failures at once: the first in §4's order wins.
        (
            "alg none with an unknown kid",
            format!(
                "{}.{}.",
                b64json(&json!({"alg": "none", "kid": "x"})),
                b64json(&claims())
            ),
            AlgNotAllowed,
        ),
        (
            "unknown kid and expired",
            sign(
                &json!({"alg": "RS256", "kid": "x"}),
                &with(json!({"exp": 1})),
                &rsa,
                Algorithm::RS256,
            ),
            UnknownKid,
        ),
        (
            "bad signature and expired",
            flip(&rs256(&with(json!({"exp": 1}))), 2),
            BadSignature,
        ),
        (
            "expired and not yet valid and wrong aud",
            rs256(&with(json!({"exp": 1, "nbf": NOW + 900, "aud": "x"}))),
            Expired,
        ),
        (
            "not yet valid and wrong iss",
            rs256(&with(json!({"nbf": NOW + 900, "iss": "x"}))),
            NotYetValid,
        ),
        (
            "wrong aud and wrong iss",
            rs256(&with(json!({"aud": "x", "iss": "x"}))),
            BadAudience,
        ),
        (
            "wrong iss and a mismatched claim",
            rs256(&with(json!({"iss": "x", "email": 1}))),
            BadIssuer,
        ),
    ];
    let verifier = kit_verifier();
    let mut cache = TokenCache::new();
    for (name, token, expected) in cases {
        assert_eq!(
            verifier.verify(Some(&token), NOW).map(|_| ()),
            Err(expected),
            "{name}"
        );
        // A worker's cache, on a miss and on a hit, says the same.
        for _ in 0..2 {
            assert_eq!(
                verifier
                    .verify_cached(&mut cache, Some(&token), NOW)
                    .map(|_| ()),
                Err(expected),
                "{name}, cached"
            );
        }
    }
    assert_eq!(verifier.verify(None, NOW).map(|_| ()), Err(MissingToken));
    assert_eq!(
        verifier.verify_cached(&mut cache, None, NOW).map(|_| ()),
        Err(MissingToken)
    );
}

#[test]
fn valid_edge_cases_pass() {
    let cases = [
        ("exp exactly 60 s before", with(json!({"exp": NOW - 60}))),
        ("exp 30 s before", with(json!({"exp": NOW - 30}))),
        ("nbf exactly 60 s after", with(json!({"nbf": NOW + 60}))),
        ("nbf 30 s after", with(json!({"nbf": NOW + 30}))),
        (
            "fractional NumericDates",
            with(json!({"exp": NOW as f64 + 0.5, "iat": 1.5e9, "nbf": NOW as f64 - 0.25})),
        ),
        ("aud as a string", with(json!({"aud": AUD}))),
        ("aud among others", with(json!({"aud": ["x", AUD]}))),
        (
            "undeclared claims of any type",
            with(json!({"x": [1, {"y": null}], "custom": true})),
        ),
        (
            "null optional claim",
            with(json!({"email": null, "nbf": null, "groups": null})),
        ),
        ("groups as one string", with(json!({"groups": "support"}))),
        ("no nbf at all", with(json!({"nbf": "<remove>"}))),
    ];
    for (name, payload) in cases {
        assert_eq!(reason(&rs256(&payload)), Ok(()), "{name}");
    }
    let v = kit_verifier();
    let t = rs256(&with(
        json!({"groups": "support", "exp": NOW as f64 + 0.9, "email": null}),
    ));
    let ok = v.verify(Some(&t), NOW).unwrap();
    assert_eq!(ok.claims["groups"], ClaimValue::Set(vec!["support".into()]));
    assert_eq!(
        ok.claims["exp"],
        ClaimValue::Time(NOW),
        "fractional NumericDate rounded down"
    );
    assert!(!ok.claims.contains_key("email"), "null counts as absent");
    assert_eq!(ok.principal.as_deref(), Some("5c2f"), "no email: sub");
}

#[test]
fn times_are_checked_at_the_recorded_time_not_now() {
    let wall = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let verifier = kit_verifier();
    // Valid at its recorded time (2020), long expired now.
    let old = rs256(&with(json!({"exp": 1_600_000_000, "nbf": 1_599_990_000})));
    assert!(wall > 1_600_000_000 + 60);
    assert_eq!(
        verifier.verify(Some(&old), 1_599_999_000).map(|_| ()),
        Ok(())
    );
    assert_eq!(
        verifier.verify(Some(&old), wall).map(|_| ()),
        Err(Reason::Expired)
    );
    // Valid now (expires in 2100), expired at its recorded time (2101).
    let late = rs256(&with(json!({"exp": 4_102_444_800_i64, "nbf": 0})));
    assert_eq!(verifier.verify(Some(&late), wall).map(|_| ()), Ok(()));
    assert_eq!(
        verifier.verify(Some(&late), 4_133_980_800).map(|_| ()),
        Err(Reason::Expired)
    );
    // The leeway boundaries, on one cached token.
    let t = rs256(&with(json!({"exp": NOW, "nbf": NOW})));
    let mut cache = TokenCache::new();
    let mut at = |time| {
        let cached = verifier.verify_cached(&mut cache, Some(&t), time).cloned();
        assert_eq!(cached, verifier.verify(Some(&t), time), "at {time}");
        cached.map(|_| ())
    };
    assert_eq!(at(NOW + 60), Ok(()));
    assert_eq!(at(NOW + 61), Err(Reason::Expired));
    assert_eq!(at(NOW - 60), Ok(()));
    assert_eq!(at(NOW - 61), Err(Reason::NotYetValid));
}

/// A valid RS256 token of exactly `len` bytes, padding an undeclared claim (and the header, since
/// base64url never has a length of 4k + 1).
fn token_of_len(len: usize) -> String {
    let rsa = key("rsa-2048.pem", Algorithm::RS256);
    for extra in 0..4 {
        let header = json!({"alg": "RS256", "kid": RSA_KID, "x": "y".repeat(extra)});
        // 2 dots and a 342-character RS256 signature (256 bytes).
        let Some(target) = len.checked_sub(b64json(&header).len() + 2 + 342) else {
            continue;
        };
        let base = serde_json::to_vec(&with(json!({"pad": ""}))).unwrap().len();
        for n in (target * 3 / 4).saturating_sub(2)..target * 3 / 4 + 3 {
            if (4 * n).div_ceil(3) == target && n >= base {
                let t = sign(
                    &header,
                    &with(json!({"pad": "p".repeat(n - base)})),
                    &rsa,
                    Algorithm::RS256,
                );
                assert_eq!(t.len(), len);
                return t;
            }
        }
    }
    panic!("no token of {len} bytes");
}

#[test]
fn token_length_limit_is_16384_bytes() {
    assert_eq!(reason(&token_of_len(16_384)), Ok(()));
    assert_eq!(reason(&token_of_len(16_385)), Err(Reason::Malformed));
    let (verifier, mut cache) = (kit_verifier(), TokenCache::new());
    for (len, expected) in [(16_384, Ok(())), (16_385, Err(Reason::Malformed))] {
        let t = token_of_len(len);
        for _ in 0..2 {
            let got = verifier
                .verify_cached(&mut cache, Some(&t), NOW)
                .map(|_| ());
            assert_eq!(got, expected, "{len} bytes, cached");
        }
    }
}

/// A cache knows a token as plain only once it holds it and the token has no quote, backslash or
/// control character; its hint is heeded by that cache alone (another cache with a different
/// token at the same place, of the same length, still decides the hinted token on its own).
#[test]
fn a_cache_knows_plain_tokens_and_heeds_only_its_own_hints() {
    let verifier = kit_verifier();
    let valid = rs256(&claims());
    let mut a = TokenCache::new();
    assert_eq!(a.knows_plain(&valid), None, "unseen");
    assert_eq!(
        verifier
            .verify_cached(&mut a, Some(&valid), NOW)
            .map(|_| ()),
        Ok(())
    );
    let hint = a.knows_plain(&valid).expect("seen and plain");
    for odd in ["\\", "\"", "\t", "\u{1f}"] {
        let t = format!("{}{odd}", &valid[..valid.len() - 1]);
        let _ = verifier.verify_cached(&mut a, Some(&t), NOW);
        assert_eq!(a.knows_plain(&t), None, "{odd:?} is not plain");
    }
    // The hint on its own cache, then on another that holds a bad token of the same length first.
    let got = verifier.verify_claims(&mut a, Some(&valid), Some(hint), NOW);
    assert_eq!(got.map(|_| ()), Ok(()));
    let mut b = TokenCache::new();
    let at = valid.len() - 10;
    let flip = if &valid[at..=at] == "A" { "B" } else { "A" };
    let bad = format!("{}{flip}{}", &valid[..at], &valid[at + 1..]);
    assert_eq!(bad.len(), valid.len());
    assert_eq!(
        verifier.verify_cached(&mut b, Some(&bad), NOW).map(|_| ()),
        Err(Reason::BadSignature)
    );
    let got = verifier.verify_claims(&mut b, Some(&valid), Some(hint), NOW);
    assert_eq!(got.map(|_| ()), Ok(()), "another cache's hint is ignored");
    let hint_b = b.knows_plain(&bad).expect("seen and plain");
    let got = verifier.verify_claims(&mut a, Some(&bad), Some(hint_b), NOW);
    assert_eq!(got.map(|_| ()), Err(Reason::BadSignature));
}

/// Caches that meet hold what each learnt, once for all: no token is checked again; a hint one
/// gave from what it learnt alone is ignored afterwards; a cache made later takes up what the
/// others learnt on its first miss.
#[test]
fn caches_that_meet_share_what_they_learnt() {
    let verifier = kit_verifier();
    let valid = rs256(&claims());
    let at = valid.len() - 10;
    let flip = if &valid[at..=at] == "A" { "B" } else { "A" };
    let bad = format!("{}{flip}{}", &valid[..at], &valid[at + 1..]);
    let (mut a, mut b) = (TokenCache::new(), TokenCache::new());
    let verdict = |c: &mut TokenCache, t: &str| verifier.verify_cached(c, Some(t), NOW).map(|_| ());
    assert_eq!(verdict(&mut a, &valid), Ok(()));
    assert_eq!(verdict(&mut b, &bad), Err(Reason::BadSignature));
    assert_eq!(verifier.cache_misses(), 2);
    let own_hint = a.knows_plain(&valid).expect("learnt by a");
    assert_eq!(b.knows_plain(&valid), None, "not met yet");

    verifier.share([&mut a, &mut b]);
    assert!(b.knows_plain(&valid).is_some() && a.knows_plain(&bad).is_some());
    assert_eq!(verdict(&mut b, &valid), Ok(()));
    assert_eq!(verdict(&mut a, &bad), Err(Reason::BadSignature));
    assert_eq!(verifier.cache_misses(), 2, "nothing checked again");
    // `own_hint` named `valid` among what `a` had learnt alone; that is now pooled elsewhere.
    let got = verifier.verify_claims(&mut a, Some(&bad), Some(own_hint), NOW);
    assert_eq!(got.map(|_| ()), Err(Reason::BadSignature));
    let shared_hint = b.knows_plain(&valid).expect("pooled");
    let got = verifier.verify_claims(&mut a, Some(&valid), Some(shared_hint), NOW);
    assert_eq!(
        got.map(|_| ()),
        Ok(()),
        "a hint on the pool holds in every cache sharing it"
    );

    let mut c = TokenCache::new();
    assert_eq!(c.knows_plain(&valid), None);
    let other = rs256(&with(json!({"sub": "s-2"})));
    assert_eq!(verdict(&mut c, &other), Ok(()));
    assert_eq!(verifier.cache_misses(), 3);
    assert!(
        c.knows_plain(&valid).is_some(),
        "took up the pool on its miss"
    );
    assert_eq!(verdict(&mut c, &valid), Ok(()));
    assert_eq!(verifier.cache_misses(), 3);
    // Met again, `c`'s own token joins the pool.
    verifier.share([&mut a, &mut b, &mut c]);
    assert!(a.knows_plain(&other).is_some());
}

/// What caches pool is bounded like each cache: 16 MiB of tokens; past that the pool starts over
/// from what the caches bring, and verdicts stay right.
#[test]
fn the_pool_of_verdicts_is_bounded() {
    let verifier = kit_verifier();
    let tokens: Vec<String> = (0..1100)
        .map(|i| format!("{i:05}.{}", "x".repeat(16_384 - 6)))
        .collect();
    let (mut a, mut b) = (TokenCache::new(), TokenCache::new());
    for (i, t) in tokens.iter().enumerate() {
        let cache = if i % 2 == 0 { &mut a } else { &mut b };
        assert_eq!(
            verifier.verify_cached(cache, Some(t), NOW).map(|_| ()),
            Err(Reason::Malformed)
        );
        if i % 100 == 99 {
            verifier.share([&mut a, &mut b]);
        }
    }
    verifier.share([&mut a, &mut b]);
    let known = tokens.iter().filter(|t| a.knows_plain(t).is_some()).count();
    assert!(
        known > 0 && known <= TokenCache::MAX_BYTES / 16_384,
        "{known}"
    );
    assert!(a.knows_plain(&tokens[1099]).is_some() && b.knows_plain(&tokens[1099]).is_some());
    assert_eq!(a.knows_plain(&tokens[0]), None);
}

/// The cache's time window gives exactly the verdict of the full check, at and around every
/// bound, for integer bounds near the ends of `i64`, fractional ones, bounds past `i64`, and
/// bounds that are not numbers.
#[test]
fn the_cached_time_window_answers_as_the_full_check() {
    let verifier = kit_verifier();
    let exps = [
        json!(NOW),
        json!(i64::MAX),
        json!(i64::MAX - 30),
        json!(i64::MIN),
        json!(i64::MIN + 30),
        json!(NOW as f64 + 0.5),
        json!(u64::MAX),
        json!("<remove>"),
    ];
    let nbfs = [
        json!(NOW - 10),
        json!(i64::MIN),
        json!(i64::MIN + 30),
        json!(i64::MAX),
        json!(NOW as f64 - 0.5),
        json!("<remove>"),
    ];
    let mut cache = TokenCache::new();
    for exp in &exps {
        for nbf in &nbfs {
            let t = rs256(&with(json!({"exp": exp, "nbf": nbf})));
            let mut times = vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX];
            for bound in [exp.as_i64(), nbf.as_i64(), Some(NOW)]
                .into_iter()
                .flatten()
            {
                for d in [-61, -60, -59, -1, 0, 1, 59, 60, 61] {
                    times.push(bound.saturating_add(d));
                }
            }
            for now in times {
                let full = verifier.verify(Some(&t), now).map(|v| v.claims);
                let windowed = verifier
                    .verify_claims(&mut cache, Some(&t), None, now)
                    .map(|(claims, _)| claims.clone());
                assert_eq!(windowed, full, "exp {exp}, nbf {nbf}, at {now}");
            }
        }
    }
}
