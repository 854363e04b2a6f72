//! Replaying generated traffic through `simulate` on the compiled module: requests per second with
//! tokens repeated (10,000 distinct) and with every token distinct (each signature checked).
//!
//! Tokens are RS256, as Cloudflare Access signs them (ES256, the other algorithm §4 accepts, is
//! measured for distinct tokens too). 1,000,000 requests over 10,000 tokens (a 980 MB file in the
//! temporary folder while it runs); all-distinct tokens over 10,000 requests, 100,000 with
//! `EDGEWARD_BENCH_FULL=1`. Then the decide step alone on the verified claims of the 10,000 tokens:
//! as the replay meets it (the request's own fields warm), and with every request's fields cold.
#![allow(clippy::indexing_slicing)]

use std::hint::black_box;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rayon::prelude::*;
use serde_json::json;

use edgeward::catalog::Catalog;
use edgeward::input::{Claims, Request};
use edgeward::jwt::{Jwks, Profile, TokenCache, Verifier};
use edgeward::sim::engine::{Engine, Module, Policy};
use edgeward::sim::replay::Side;
use edgeward::sim::simulate::simulate;
use edgeward::sim::traffic::parse_line;
use edgeward::wasm::ClaimsEncoding;

const AUD: &str = "78f42a26e725d802b7ae5bdb3e8707e144ddc1121a0742da244c75e05a0bccac";
const ISS: &str = "https://acme.cloudflareaccess.com";
const EC_KID: &str = "37872d5961814b25bcd7d1ef850126cba2790a608165501469203ff5bf05728d";
const RSA_KID: &str = "d0759e2f371873263f2f5a6813b7b5545854d83dd6bef9bd6ca2b8436c083d8e";
/// 2026-11-24T00:00:00Z: requests are spread over the following day.
const START: i64 = 1_795_478_400;

/// The conformance kit (test-only keys, the example policy and its catalog).
fn kit() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/conformance"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("shared/conformance"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(kit().join(name)).unwrap_or_default()
}

const USERS: [&str; 8] = [
    "jane@acme.dev",
    "raj@acme.dev",
    "mei@acme.dev",
    "omar@acme.dev",
    "lucy@acme.dev",
    "carlos@acme.dev",
    "nina@acme.dev",
    "visitor@example.com",
];

const URLS: [(&str, &str); 6] = [
    ("GET", "https://payments.acme.dev/api/v1/payments/42"),
    ("HEAD", "https://payments.acme.dev/api/v1/payments/7"),
    ("POST", "https://payments.acme.dev/deploy/payments-api"),
    ("POST", "https://payments.acme.dev/deploy/ledger"),
    ("GET", "https://status.acme.dev/healthz"),
    ("GET", "https://payments.acme.dev/nowhere"),
];

/// `n` distinct tokens signed with `alg` (the kit's test-only keys), valid over the whole
/// generated day.
fn tokens(alg: Algorithm, n: usize) -> Vec<String> {
    let (key, kid) = match alg {
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(read("keys/ec-p256.pem").as_bytes()),
            EC_KID,
        ),
        _ => (
            EncodingKey::from_rsa_pem(read("keys/rsa-2048.pem").as_bytes()),
            RSA_KID,
        ),
    };
    let Ok(key) = key else {
        return Vec::new();
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    // RSA signing is slow: on every core.
    (0..n)
        .into_par_iter()
        .filter_map(|i| {
            let claims = json!({
                "aud": [AUD], "iss": ISS, "sub": format!("sub-{i}"), "type": "app",
                "email": USERS[i % USERS.len()], "iat": START, "exp": START + 2 * 86_400,
                "amr": ["pwd", "mfa"], "identity_nonce": format!("n{i}"),
            });
            jsonwebtoken::encode(&header, &claims, &key).ok()
        })
        .collect()
}

/// Writes `lines` lines of recorded traffic to a temporary file (line `i` replays token
/// `i % tokens.len()`), so that the bench reads a real file, as `simulate` does.
fn traffic_file(tokens: &[String], lines: usize) -> Option<PathBuf> {
    let path = std::env::temp_dir().join(format!(
        "edgeward-replay-bench-{lines}-{}-{}.jsonl",
        tokens.len(),
        std::process::id()
    ));
    let mut out = BufWriter::new(std::fs::File::create(&path).ok()?);
    for i in 0..lines {
        let (method, url) = URLS[i % URLS.len()];
        let time = edgeward::input::format_rfc3339(START + (i % 86_400) as i64);
        let line = json!({"time": time, "method": method, "url": url,
                          "jwt": tokens.get(i % tokens.len().max(1))?, "ip": "203.0.113.7", "country": "US"});
        writeln!(out, "{line}").ok()?;
    }
    out.flush().ok()?;
    Some(path)
}

struct Setup {
    module: Module,
    policy: Policy,
    jwks: Jwks,
}

fn setup() -> Option<Setup> {
    let catalog = Catalog::load(&kit().join("catalog")).ok()?.catalog;
    let program = edgeward::compile("policy.ward", &read("policy.ward"), Some(&catalog))
        .ok()?
        .program;
    let module = Module::from_generated(&edgeward::wasm::compile(&program).ok()?).ok()?;
    Some(Setup {
        policy: Policy::of_program(&program),
        module,
        jwks: Jwks::parse(&read("jwks.json")).ok()?,
    })
}

impl Setup {
    /// A fresh verifier (an empty token cache) under the kit's audience and issuer.
    fn verifier(&self) -> Verifier {
        Verifier::new(
            self.jwks.clone(),
            Profile {
                aud: Some(AUD.into()),
                iss: Some(ISS.into()),
            },
            self.policy.claims.clone(),
        )
    }
}

fn replay(s: &Setup, traffic: &Path) -> u64 {
    let verifier = s.verifier();
    let side = Side {
        verifier: &verifier,
        engine: &s.module,
    };
    let Ok(file) = std::fs::File::open(traffic) else {
        return 0;
    };
    simulate(
        BufReader::with_capacity(1 << 16, file),
        &side,
        &s.policy,
        None,
        |_| {},
    )
    .map(|r| r.report.allow)
    .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let Some(s) = setup() else {
        eprintln!("replay bench: the conformance kit was not found; skipped");
        return;
    };
    let full = std::env::var_os("EDGEWARD_BENCH_FULL").is_some();
    let repeated = 1_000_000;
    let distinct = if full { 100_000 } else { 10_000 };
    let mut g = c.benchmark_group("replay");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(30));

    let pool = tokens(Algorithm::RS256, 10_000);
    if let Some(file) = traffic_file(&pool, repeated) {
        g.throughput(Throughput::Elements(repeated as u64));
        g.bench_function(format!("{repeated}_requests_10000_tokens"), |b| {
            b.iter(|| black_box(replay(&s, &file)))
        });
        let _ = std::fs::remove_file(file);
    }

    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let all = tokens(alg, distinct);
        if let Some(file) = traffic_file(&all, distinct) {
            g.throughput(Throughput::Elements(distinct as u64));
            g.bench_function(
                format!("{distinct}_requests_distinct_{alg:?}_tokens"),
                |b| b.iter(|| black_box(replay(&s, &file))),
            );
            let _ = std::fs::remove_file(file);
        }
    }
    // The decide step alone, as the replay meets it: each request's own fields were just parsed
    // from its line (here: one request per line shape, kept warm), and its claims and the place
    // for their encoding come from the token cache, one token after another over all 10,000.
    let (shapes, verified) = verified_requests(&s, &pool);
    if let Ok(mut decider) = s.module.decider() {
        g.throughput(Throughput::Elements(verified.len() as u64));
        g.bench_function("decide_step", |b| {
            b.iter(|| {
                verified
                    .iter()
                    .zip(shapes.iter().cycle())
                    .filter(|((claims, kept), request)| {
                        decider
                            .decide_with(request, claims, Some(kept))
                            .is_ok_and(|d| d.outcome.is_allow())
                    })
                    .count()
            })
        });
        // The same decisions with every request's fields apart in memory too (10,000 requests
        // built ahead): what deciding costs when nothing of the request is in the cache.
        let cold: Vec<Request> = verified
            .iter()
            .zip(shapes.iter().cycle())
            .map(|((claims, _), request)| Request {
                claims: Arc::clone(claims),
                ..request.clone()
            })
            .collect();
        g.bench_function("decide_step_cold_requests", |b| {
            b.iter(|| {
                cold.iter()
                    .zip(&verified)
                    .filter(|(request, (claims, kept))| {
                        decider
                            .decide_with(request, claims, Some(kept))
                            .is_ok_and(|d| d.outcome.is_allow())
                    })
                    .count()
            })
        });
    }
    g.finish();
}

/// One request per generated line shape, and the verified claims of every token of `tokens` (each
/// with the place for its encoding), as the replay's token cache holds them: what the decide step
/// sees.
fn verified_requests(
    s: &Setup,
    tokens: &[String],
) -> (Vec<Request>, Vec<(Arc<Claims>, ClaimsEncoding)>) {
    let verifier = s.verifier();
    let mut cache = TokenCache::new();
    let parsed: Vec<(Request, Arc<Claims>)> = (0..tokens.len())
        .filter_map(|i| {
            let (method, url) = URLS[i % URLS.len()];
            let line = json!({"time": edgeward::input::format_rfc3339(START + i as i64),
                              "method": method, "url": url, "jwt": tokens[i]});
            let (request, token, _) = parse_line(1, line.to_string().as_bytes())
                .ok()?
                .into_parts();
            let verified = verifier
                .verify_cached(&mut cache, token.as_deref(), request.time)
                .ok()?;
            Some((request, verified.claims.clone()))
        })
        .collect();
    let shapes = parsed
        .iter()
        .take(URLS.len())
        .map(|(request, _)| request.clone())
        .collect();
    let verified = parsed
        .into_iter()
        .map(|(_, claims)| (claims, ClaimsEncoding::default()))
        .collect();
    (shapes, verified)
}

criterion_group!(benches, bench);
criterion_main!(benches);
