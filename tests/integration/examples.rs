//! The bundled examples and docs: policies check clean, format and pass their tests; the traffic generator is deterministic and verifiable; every `ward` block of docs/language.md compiles.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use edgeward::jwt::{Jwks, Profile, Verifier};
use edgeward::sim::generate::{Population, Signer, TrafficSpec, generate};
use edgeward::sim::traffic::parse_line;
use serde_json::Value;

/// The audience and issuer of the acme example's tokens (examples/acme/README.md).
const AUD: &str = "b94d49c238b61d7de34d5f7cd61fa8895bf6ed804685054e48b250e8f829654d";
const ISS: &str = "https://acme.cloudflareaccess.com";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Runs the CLI in `dir`: (exit code, stdout, stderr).
fn edgeward(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------- the examples' policies

/// `check --format json` passes with no diagnostic about the policy. Catalog warnings are the
/// data's, and so is `ambiguous_binding` (DESIGN §7.6: an email that several users of the catalog
/// share, such as the Backstage example's two `guest` users).
fn assert_checks_clean(dir: &Path, policy: &str) {
    let (code, out, err) = edgeward(
        dir,
        &["check", policy, "--catalog", "catalog", "--format", "json"],
    );
    assert_eq!(code, 0, "{policy}: check failed\n{out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["errors"], 0, "{out}");
    let about_policy: Vec<&Value> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            let code = d["code"].as_str().unwrap();
            !code.starts_with("edgeward::catalog::") && code != "edgeward::ambiguous_binding"
        })
        .collect();
    assert!(
        about_policy.is_empty(),
        "{policy}: diagnostics about the policy: {about_policy:#?}"
    );
}

fn assert_formatted_and_tested(dir: &Path, policy: &str) {
    let (code, out, err) = edgeward(dir, &["fmt", "--check", policy]);
    assert_eq!(code, 0, "{policy} is not formatted\n{out}\n{err}");
    let (code, out, err) = edgeward(dir, &["test", policy, "--catalog", "catalog"]);
    assert_eq!(code, 0, "{policy}: tests failed\n{out}\n{err}");
    assert!(out.contains(" 0 failed"), "{out}");
}

#[test]
fn acme_policies_check_clean_format_and_pass_their_tests() {
    let dir = root().join("examples/acme");
    for policy in ["policy.ward", "policy-v2.ward"] {
        assert_checks_clean(&dir, policy);
        assert_formatted_and_tested(&dir, policy);
    }
    // the acme catalog is clean too: no warning at all
    let (code, out, err) = edgeward(&dir, &["check", "policy.ward", "--catalog", "catalog"]);
    assert_eq!(code, 0);
    assert!(!err.contains('⚠') && !out.contains("warning"), "{out}{err}");
}

#[test]
fn backstage_policy_checks_clean_formats_and_passes_its_tests() {
    let dir = root().join("examples/backstage");
    assert_checks_clean(&dir, "policy.ward");
    assert_formatted_and_tested(&dir, "policy.ward");
}

// ---------------------------------------------------------------- the traffic generator

fn acme_population() -> Population {
    let mut p = Population::from_json(&read("examples/acme/traffic-profile.json")).unwrap();
    let catalog = edgeward::catalog::Catalog::load(&root().join("examples/acme/catalog"))
        .unwrap()
        .catalog;
    p.add_catalog_users(&catalog);
    p
}

fn acme_signer() -> Signer {
    let jwks: Value = serde_json::from_str(&read("examples/acme/jwks.json")).unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap();
    Signer::from_rsa_pem(
        read("examples/acme/keys/rsa-2048.pem").as_bytes(),
        kid,
        AUD,
        ISS,
    )
    .unwrap()
}

fn acme_traffic(spec: &TrafficSpec) -> Vec<u8> {
    let mut out = Vec::new();
    generate(spec, &acme_population(), &acme_signer(), &mut out).unwrap();
    out
}

/// The committed sample: what the generator makes of this spec (rewrite it with
/// `EDGEWARD_UPDATE_SAMPLE=1 cargo test --test integration examples::`).
fn sample_spec() -> TrafficSpec {
    TrafficSpec {
        requests: 600,
        ..TrafficSpec::default()
    }
}

#[test]
fn generator_is_deterministic_and_the_sample_is_its_output() {
    let spec = sample_spec();
    let a = acme_traffic(&spec);
    let b = acme_traffic(&spec);
    assert!(a == b, "two runs of one spec differ");
    let other = acme_traffic(&TrafficSpec {
        seed: spec.seed + 1,
        ..spec.clone()
    });
    assert!(a != other, "the seed changes nothing");

    let path = root().join("examples/acme/traffic-sample.jsonl");
    if std::env::var_os("EDGEWARD_UPDATE_SAMPLE").is_some() {
        std::fs::write(&path, &a).unwrap();
    }
    let committed = std::fs::read(&path).unwrap();
    assert!(committed.len() <= 1_000_000, "the sample must stay small");
    assert!(
        committed == a,
        "examples/acme/traffic-sample.jsonl is not the generator's output; \
         regenerate it with EDGEWARD_UPDATE_SAMPLE=1"
    );
}

#[test]
fn generated_lines_parse_and_their_tokens_verify_against_the_jwks() {
    let spec = TrafficSpec {
        requests: 20_000,
        ..TrafficSpec::default()
    };
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let stats = generate(&spec, &acme_population(), &acme_signer(), &mut out).unwrap();
    let took = started.elapsed();
    eprintln!(
        "generated {} lines ({} bytes, {} tokens signed) in {took:?}: {:.0} requests/s",
        stats.lines,
        out.len(),
        stats.tokens_signed,
        stats.lines as f64 / took.as_secs_f64()
    );
    assert_eq!(stats.lines, 20_000);
    assert!(
        stats.tokens_signed < 1_000,
        "tokens are reused per session: {stats:?}"
    );

    let jwks = Jwks::parse(&read("examples/acme/jwks.json")).unwrap();
    let profile = Profile {
        aud: Some(AUD.into()),
        iss: Some(ISS.into()),
    };
    // Only `email` declared: user tokens carry it, service tokens do not.
    let email = edgeward::input::ClaimDecl {
        name: "email".into(),
        ty: edgeward::input::ClaimType::String,
        optional: true,
    };
    let verifier = Verifier::new(jwks, profile, vec![email]);
    let text = String::from_utf8(out).unwrap();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut unreadable = 0;
    let mut times = Vec::new();
    for (i, line) in text.split_terminator('\n').enumerate() {
        match parse_line(i as u64 + 1, line.as_bytes()) {
            Err(_) => unreadable += 1,
            Ok(r) => {
                times.push(r.time);
                let key = match verifier.verify(r.token.as_deref(), r.time) {
                    Ok(v) if v.claims.contains_key("email") => "valid:user".to_string(),
                    Ok(_) => "valid:service".to_string(),
                    Err(reason) => reason.outcome(),
                };
                *outcomes.entry(key).or_default() += 1;
            }
        }
    }
    eprintln!("{outcomes:#?}");
    assert_eq!(
        unreadable, stats.unreadable,
        "unreadable lines are the planned ones"
    );
    assert!(unreadable > 0);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "times are in order");
    assert!(times.last().unwrap() - times.first().unwrap() > 8 * 86_400);
    let valid_users = outcomes["valid:user"];
    assert!(
        valid_users > 16_000,
        "most requests are signed-in users: {outcomes:?}"
    );
    assert!(outcomes["valid:service"] > 1_000);
    for reason in [
        "expired",
        "malformed",
        "missing_token",
        "unknown_kid",
        "bad_signature",
        "alg_not_allowed",
    ] {
        let n = outcomes.get(&format!("invalid_token:{reason}")).copied();
        assert!(n.unwrap_or(0) > 0, "no {reason}: {outcomes:?}");
    }
    // every token source appears
    for source in [
        "\"jwt\":",
        "cf-access-jwt-assertion",
        "authorization\":\"Bearer ",
        "CF_Authorization=",
    ] {
        assert!(
            text.to_ascii_lowercase()
                .contains(&source.to_ascii_lowercase()),
            "{source}"
        );
    }
}

/// Decides every readable line of `text` on the interpreter: one verdict name per line.
fn decide_all(policy: &str, text: &str) -> Vec<Option<(bool, String)>> {
    let dir = root().join("examples/acme");
    let catalog = edgeward::catalog::Catalog::load(&dir.join("catalog"))
        .unwrap()
        .catalog;
    let source = std::fs::read_to_string(dir.join(policy)).unwrap();
    let program = edgeward::compile(policy, &source, Some(&catalog))
        .ok()
        .unwrap()
        .program;
    let jwks = Jwks::parse(&read("examples/acme/jwks.json")).unwrap();
    let profile = Profile {
        aud: Some(AUD.into()),
        iss: Some(ISS.into()),
    };
    let verifier = Verifier::new(jwks, profile, program.claims.clone());
    text.split_terminator('\n')
        .enumerate()
        .map(|(i, line)| {
            let r = parse_line(i as u64 + 1, line.as_bytes()).ok()?;
            Some(match verifier.verify(r.token.as_deref(), r.time) {
                Err(reason) => (false, reason.outcome()),
                Ok(v) => {
                    let mut request = edgeward::input::Request {
                        claims: v.claims,
                        ..Default::default()
                    };
                    r.fill(&mut request);
                    let d = edgeward::interp::decide(&program, &request);
                    let rule = d
                        .rule
                        .and_then(|i| program.rules.get(i as usize))
                        .map(|r| format!(" by {}", r.name))
                        .unwrap_or_default();
                    (
                        d.outcome.as_str() == "allow",
                        format!("{}{rule}", d.outcome.as_str()),
                    )
                }
            })
        })
        .collect()
}

#[test]
fn acme_traffic_tells_a_story_under_both_policies() {
    let text = String::from_utf8(acme_traffic(&TrafficSpec {
        requests: 5_000,
        ..TrafficSpec::default()
    }))
    .unwrap();
    let v1 = decide_all("policy.ward", &text);
    let v2 = decide_all("policy-v2.ward", &text);
    let mut by_outcome: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, o) in v1.iter().flatten() {
        *by_outcome.entry(o.as_str()).or_default() += 1;
    }
    eprintln!("v1: {by_outcome:#?}");
    let readable = v1.iter().flatten().count() as u64;
    let allowed = v1.iter().flatten().filter(|(a, _)| *a).count() as u64;
    assert!(
        allowed * 100 > readable * 60 && allowed * 100 < readable * 95,
        "most, not all, requests are allowed: {allowed} of {readable}"
    );
    for outcome in ["no_route", "unknown_target", "default", "deny by freeze"] {
        assert!(
            by_outcome.keys().any(|k| k.starts_with(outcome)),
            "no {outcome}"
        );
    }
    let mut flips: BTreeMap<String, u64> = BTreeMap::new();
    for (a, b) in v1.iter().zip(&v2) {
        if let (Some(a), Some(b)) = (a, b)
            && a.0 != b.0
        {
            *flips.entry(format!("{} -> {}", a.1, b.1)).or_default() += 1;
        }
    }
    eprintln!("v1 -> v2: {flips:#?}");
    let to_deny: u64 = flips
        .iter()
        .filter(|(k, _)| k.contains("-> default") || k.contains("-> deny"))
        .map(|(_, n)| n)
        .sum();
    let to_allow: u64 = flips
        .iter()
        .filter(|(k, _)| k.contains("-> allow"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        to_deny >= 10 && to_allow >= 10,
        "the pull request flips requests both ways: {flips:?}"
    );
}

// ---------------------------------------------------------------- docs/language.md

/// One ```ward block of the language reference.
struct DocBlock {
    /// 1-based line of the opening fence.
    line: usize,
    /// The words after `ward` on the fence: `items`, `fragment`, `error=CODE`, `warning=CODE`.
    info: Vec<String>,
    text: String,
}

fn ward_blocks(doc: &str) -> Vec<DocBlock> {
    let mut blocks = Vec::new();
    let mut lines = doc.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```ward") else {
            continue;
        };
        let mut text = String::new();
        for (_, l) in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        blocks.push(DocBlock {
            line: i + 1,
            info: info.split_whitespace().map(str::to_string).collect(),
            text,
        });
    }
    blocks
}

impl DocBlock {
    fn has(&self, word: &str) -> bool {
        self.info.iter().any(|w| w == word)
    }

    fn expected(&self, key: &str) -> Option<&str> {
        self.info
            .iter()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }

    /// The whole policy the block stands for (see the table at the top of docs/language.md).
    fn policy(&self, prelude: &str) -> String {
        if self.has("fragment") {
            format!(
                "{prelude}\nhost \"doc.acme.dev\" {{\n  route ANY \"/doc/{{id}}/*\" -> component:default/payments-api {{\n{}  }}\n}}\n",
                self.text
            )
        } else if self.has("items") {
            format!("{prelude}\n{}", self.text)
        } else {
            self.text.clone()
        }
    }
}

#[test]
fn every_ward_block_of_the_language_reference_compiles_and_its_tests_pass() {
    let doc = read("docs/language.md");
    let blocks = ward_blocks(&doc);
    assert!(blocks.len() >= 30, "only {} ward blocks", blocks.len());
    for b in &blocks {
        for w in &b.info {
            let known = ["items", "fragment"].contains(&w.as_str())
                || w.starts_with("error=")
                || w.starts_with("warning=");
            assert!(
                known,
                "docs/language.md:{}: unknown fence word `{w}`",
                b.line
            );
        }
    }
    let prelude = &blocks
        .iter()
        .find(|b| b.text.starts_with("policy doc_example"))
        .expect("the prelude block")
        .text;
    let catalog_dir = root().join("examples/acme/catalog");
    let catalog = edgeward::catalog::Catalog::load(&catalog_dir)
        .unwrap()
        .catalog;
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut tested = 0;
    for b in &blocks {
        let source = b.policy(prelude);
        let at = format!("docs/language.md:{}", b.line);
        let report = edgeward::check_source("example.ward", &source, Some(&catalog));
        let codes: Vec<String> = report
            .syntax
            .iter()
            .map(|e| e.kind.code().to_string())
            .chain(report.diagnostics.iter().map(|d| d.code.to_string()))
            .collect();
        let errors: Vec<String> = report
            .syntax
            .iter()
            .map(|e| format!("{}: {}", e.kind.code(), e.message))
            .chain(
                report
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| format!("{}: {}", d.code, d.message)),
            )
            .collect();
        if let Some(code) = b.expected("error") {
            if !codes.iter().any(|c| c == code) || errors.is_empty() {
                failures.push(format!("{at}: expected error {code}, got {codes:?}"));
            }
            continue;
        }
        if !errors.is_empty() {
            failures.push(format!("{at}: {errors:#?}"));
            continue;
        }
        if let Some(code) = b.expected("warning")
            && !codes.iter().any(|c| c == code)
        {
            failures.push(format!("{at}: expected warning {code}, got {codes:?}"));
        }
        if source
            .lines()
            .any(|l| l.trim_start().starts_with("test \""))
        {
            tested += 1;
            let file = tmp.path().join("example.ward");
            std::fs::write(&file, &source).unwrap();
            let (code, out, err) = edgeward(
                tmp.path(),
                &[
                    "test",
                    "example.ward",
                    "--catalog",
                    catalog_dir.to_str().unwrap(),
                ],
            );
            if code != 0 {
                failures.push(format!("{at}: tests fail\n{out}{err}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(tested >= 15, "only {tested} blocks carry tests");
}

#[test]
fn the_doc_prelude_and_fence_convention_are_what_the_test_uses() {
    // the block convention is documented at the top of the file, with the same fence words
    let doc = read("docs/language.md");
    let head = &doc[..doc.find("## Contents").unwrap()];
    for word in [
        "```ward items",
        "```ward fragment",
        "error=CODE",
        "warning=CODE",
    ] {
        assert!(
            head.contains(word),
            "the convention does not mention `{word}`"
        );
    }
}
