//! Every input line is counted exactly once: garbage, blank lines, CRLF endings, a truncated last line.

use std::io::Cursor;

use proptest::prelude::*;
use serde_json::Value;

use edgeward::catalog::Catalog;
use edgeward::jwt::{Jwks, Profile, Verifier};
use edgeward::sim::engine::{Interpreter, Module, Policy};
use edgeward::sim::replay::{CHUNK_LINES, Side};
use edgeward::sim::simulate::{LineResult, SimulateReport, simulate as replay_simulate};
use edgeward::sim::traffic::BATCH_BYTES;

use super::super::jwt::{AUD, ISS, read};
use super::{POLICY_V1, expired_token, line, simulate, token, workdir};

/// Checks the §5 invariants of a simulate object and returns it.
fn invariants(r: &Value) -> &Value {
    let n = |k: &str| r[k].as_u64().unwrap();
    assert_eq!(
        n("total"),
        n("allow") + n("deny") + n("unreadable_lines"),
        "{r}"
    );
    let by_outcome: u64 = r["by_outcome"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_outcome, n("allow") + n("deny"), "{r}");
    assert_eq!(
        r["by_outcome"]
            .get("allow")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        n("allow")
    );
    r
}

/// Mixed traffic: its bytes and the line numbers that are unreadable.
fn mixed() -> (Vec<u8>, Vec<u64>) {
    let jane = token(Some("jane@acme.dev"));
    let mut t = Vec::new();
    fn push(t: &mut Vec<u8>, s: impl AsRef<[u8]>, end: &str) {
        t.extend_from_slice(s.as_ref());
        t.extend_from_slice(end.as_bytes());
    }
    push(
        &mut t,
        line("GET", "https://x.dev/docs/a", Some(&jane)),
        "\n",
    ); // 1 allow
    push(&mut t, "this is not json", "\n"); // 2
    push(&mut t, "", "\n"); // 3 blank
    push(
        &mut t,
        line("POST", "https://x.dev/deploy/web", Some(&jane)),
        "\r\n",
    ); // 4 allow, CRLF
    push(&mut t, "   \t", "\r\n"); // 5 blank, CRLF
    push(&mut t, "[1, 2, 3]", "\n"); // 6 not an object
    push(
        &mut t,
        line("GET", "https://x.dev/nowhere", Some(&jane)),
        "\r\n",
    ); // 7 no_route
    push(&mut t, line("GET", "https://x.dev/healthz", None), "\n"); // 8 missing_token
    push(
        &mut t,
        line("GET", "https://x.dev/healthz", Some(&expired_token())),
        "\n",
    ); // 9 expired
    push(
        &mut t,
        b"{\"time\": \"2026-11-24T05:33:20Z\", \"method\": \"GET\", \"url\": \"\xff\xfe\"}",
        "\n",
    ); // 10 not UTF-8
    push(&mut t, line("GET", "ftp://x.dev/docs/a", Some(&jane)), "\n"); // 11 not http
    let last = line("GET", "https://x.dev/docs/b", Some(&jane));
    push(&mut t, &last[..last.len() / 2], ""); // 12 truncated, no final newline
    (t, vec![2, 3, 5, 6, 10, 11, 12])
}

#[test]
fn every_line_is_counted_once() {
    let dir = workdir();
    let (traffic, unreadable) = mixed();
    std::fs::write(dir.path().join("traffic.jsonl"), &traffic).unwrap();
    let ran = simulate(dir.path(), "v1.ward", &["--format", "json"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let r = ran.json();
    invariants(&r);
    assert_eq!(r["total"], 12);
    assert_eq!(r["allow"], 2);
    assert_eq!(r["deny"], 3);
    assert_eq!(r["unreadable_lines"], 7);
    assert_eq!(r["by_outcome"]["no_route"], 1);
    assert_eq!(r["by_outcome"]["invalid_token:missing_token"], 1);
    assert_eq!(r["by_outcome"]["invalid_token:expired"], 1);
    assert_eq!(r["by_rule"]["staff"], 1);
    assert_eq!(r["by_rule"]["deployer"], 1);
    let listed: Vec<u64> = r["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            assert!(u["error"].as_str().is_some_and(|e| !e.is_empty()));
            u["line"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(listed, unreadable);
    let lines = r["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 12);
    for (i, l) in lines.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(l["line"], n);
        assert_eq!(
            l.get("unreadable").is_some(),
            unreadable.contains(&n),
            "{l}"
        );
    }
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(lines[0]["rule"], "staff");
    assert_eq!(lines[6]["outcome"], "no_route");
    assert_eq!(lines[6]["rule"], Value::Null);
}

/// `--traffic -` reads standard input: `simulate` and `whatif` give what they give on the file.
#[test]
fn traffic_from_standard_input() {
    let dir = workdir();
    let (traffic, _) = mixed();
    std::fs::write(dir.path().join("traffic.jsonl"), &traffic).unwrap();
    let piped = |args: &[&str]| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_edgeward"))
            .args(args)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let bytes = traffic.clone();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &bytes));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let from_file = simulate(dir.path(), "v1.ward", &["--format", "json"]);
    let args = [
        "simulate",
        "v1.ward",
        "--traffic",
        "-",
        "--jwks",
        "jwks.json",
        "--aud",
        AUD,
        "--iss",
        ISS,
        "--format",
        "json",
    ];
    assert_eq!(piped(&args), (Some(0), from_file.stdout));
    let from_file = super::whatif(dir.path(), "v1.ward", "v2.ward", &["--format", "json"]);
    let args = [
        "whatif",
        "--base",
        "v1.ward",
        "--head",
        "v2.ward",
        "--traffic",
        "-",
        "--jwks",
        "jwks.json",
        "--aud",
        AUD,
        "--iss",
        ISS,
        "--format",
        "json",
    ];
    assert_eq!(piped(&args), (from_file.code.into(), from_file.stdout));
}

#[test]
fn text_summary_and_cross_check() {
    let dir = workdir();
    std::fs::write(dir.path().join("traffic.jsonl"), mixed().0).unwrap();
    let ran = simulate(dir.path(), "v1.ward", &["--cross-check"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.starts_with("12 lines\n"), "{}", ran.stdout);
    for want in [
        "by outcome",
        "invalid_token:expired",
        "by rule",
        "deployer",
        "unreadable lines (7)",
        "line 12",
    ] {
        assert!(
            ran.stdout.contains(want),
            "missing {want:?} in\n{}",
            ran.stdout
        );
    }
    assert!(
        ran.stderr.is_empty(),
        "no progress bar off a terminal: {}",
        ran.stderr
    );
}

#[test]
fn empty_traffic_is_zero_lines() {
    let dir = workdir();
    std::fs::write(dir.path().join("traffic.jsonl"), "").unwrap();
    let r = simulate(dir.path(), "v1.ward", &["--format", "json"]).json();
    assert_eq!(r["total"], 0);
    assert_eq!(r["lines"], serde_json::json!([]));
}

#[test]
fn a_module_decides_as_its_source() {
    let dir = workdir();
    std::fs::write(dir.path().join("traffic.jsonl"), mixed().0).unwrap();
    let catalog = Catalog::from_yaml_str("none", "").unwrap().catalog;
    let program = edgeward::compile("v1.ward", POLICY_V1, Some(&catalog))
        .unwrap()
        .program;
    std::fs::write(
        dir.path().join("v1.wasm"),
        edgeward::wasm::compile(&program).unwrap(),
    )
    .unwrap();
    let source = simulate(dir.path(), "v1.ward", &["--format", "json"]);
    let module = simulate(dir.path(), "v1.wasm", &["--format", "json"]);
    assert_eq!(module.code, 0, "{}", module.stderr);
    assert_eq!(source.json(), module.json());
    // `.WASM` is a module too, whatever the letter case of its extension
    std::fs::copy(dir.path().join("v1.wasm"), dir.path().join("V1.WASM")).unwrap();
    let upper = simulate(dir.path(), "V1.WASM", &["--format", "json"]);
    assert_eq!(upper.code, 0, "{}", upper.stderr);
    assert_eq!(source.json(), upper.json());
}

#[test]
fn unusable_inputs_exit_2() {
    let dir = workdir();
    let p = dir.path();
    std::fs::write(p.join("traffic.jsonl"), mixed().0).unwrap();
    std::fs::write(p.join("bad.wasm"), b"\0asm nonsense").unwrap();
    std::fs::write(p.join("bad-jwks.json"), "{\"not\": \"a jwks\"}").unwrap();
    std::fs::create_dir(p.join("a-folder")).unwrap();
    let args = |traffic: &'static str, jwks: &'static str| {
        vec!["simulate", "v1.ward", "--traffic", traffic, "--jwks", jwks]
    };
    for (what, args) in [
        ("no traffic file", args("missing.jsonl", "jwks.json")),
        ("traffic that cannot be read", args("a-folder", "jwks.json")),
        ("no JWKS file", args("traffic.jsonl", "missing.json")),
        (
            "a JWKS that does not parse",
            args("traffic.jsonl", "bad-jwks.json"),
        ),
        (
            "a module that does not parse",
            vec![
                "simulate",
                "bad.wasm",
                "--traffic",
                "traffic.jsonl",
                "--jwks",
                "jwks.json",
            ],
        ),
        (
            "no catalog",
            vec![
                "simulate",
                "v1.ward",
                "--catalog",
                "no-such-catalog",
                "--traffic",
                "traffic.jsonl",
                "--jwks",
                "jwks.json",
            ],
        ),
        (
            "--cross-check on a module",
            vec![
                "simulate",
                "bad.wasm",
                "--cross-check",
                "--traffic",
                "traffic.jsonl",
                "--jwks",
                "jwks.json",
            ],
        ),
    ] {
        let ran = super::edgeward(p, &args);
        assert_eq!(ran.code, 2, "{what}: {}{}", ran.stdout, ran.stderr);
        assert!(ran.stderr.contains("error"), "{what}: {}", ran.stderr);
    }
    std::fs::write(p.join("broken.ward"), "route GET \"/x\" {").unwrap();
    let ran = super::edgeward(
        p,
        &[
            "simulate",
            "broken.ward",
            "--traffic",
            "traffic.jsonl",
            "--jwks",
            "jwks.json",
        ],
    );
    assert_eq!(ran.code, 1, "a policy with errors: {}", ran.stderr);
}

/// The building blocks of generated traffic: a line's text and whether it is readable.
fn blocks() -> Vec<(Vec<u8>, bool)> {
    let jane = token(Some("jane@acme.dev"));
    let bob = token(Some("bob@example.com"));
    vec![
        (
            line("GET", "https://x.dev/docs/a", Some(&jane)).into_bytes(),
            true,
        ),
        (
            line("GET", "https://x.dev/docs/a", Some(&bob)).into_bytes(),
            true,
        ),
        (
            line("POST", "https://x.dev/deploy/a", Some(&jane)).into_bytes(),
            true,
        ),
        (
            line("GET", "https://x.dev/healthz", None).into_bytes(),
            true,
        ),
        (
            line("GET", "https://x.dev/healthz", Some("not.a.jwt")).into_bytes(),
            true,
        ),
        (b"{\"time\": 1}".to_vec(), false),
        (b"garbage".to_vec(), false),
        (b"".to_vec(), false),
        (b" \t ".to_vec(), false),
        (b"\xc3\x28".to_vec(), false),
    ]
}

fn run_lib(traffic: Vec<u8>) -> (SimulateReport, Vec<u64>) {
    let (report, seen, _) = run_lib_counting(traffic);
    (report, seen)
}

/// [`run_lib`], also giving how many times a worker's cache missed a token.
fn run_lib_counting(traffic: Vec<u8>) -> (SimulateReport, Vec<u64>, u64) {
    let catalog = Catalog::from_yaml_str("none", "").unwrap().catalog;
    let program = edgeward::compile("v1.ward", POLICY_V1, Some(&catalog))
        .unwrap()
        .program;
    let policy = Policy::of_program(&program);
    let module = Module::from_bytes(&edgeward::wasm::compile(&program).unwrap()).unwrap();
    let interp = Interpreter { program };
    let jwks = Jwks::parse(&read("conformance/jwks.json")).unwrap();
    let profile = Profile {
        aud: Some(AUD.into()),
        iss: Some(ISS.into()),
    };
    let verifier = Verifier::new(jwks, profile, policy.claims.clone());
    let side = Side {
        verifier: &verifier,
        engine: &module,
    };
    let mut seen = Vec::new();
    let out = replay_simulate(Cursor::new(traffic), &side, &policy, Some(&interp), |l| {
        seen.push(match l {
            LineResult::Decided(n, _) => n,
            LineResult::Unreadable(u) => u.line,
        })
    })
    .unwrap();
    assert_eq!(out.disagreement, None);
    (out.report, seen, verifier.cache_misses())
}

/// Workers pool what their token caches learnt between chunks: ten tokens met once each in the
/// first chunk, then in turn over two more chunks on four threads, reach the shared verdicts
/// ten times in all (each worker would miss each token once if the caches did not meet).
#[test]
fn workers_share_what_their_caches_learnt() {
    let tokens: Vec<String> = (0..10)
        .map(|i| token(Some(&format!("u{i}@acme.dev"))))
        .collect();
    let mut traffic = String::new();
    for t in &tokens {
        traffic += &line("GET", "https://x.dev/docs/a", Some(t));
        traffic.push('\n');
    }
    for _ in tokens.len()..CHUNK_LINES {
        traffic += &line("GET", "https://x.dev/docs/a", None);
        traffic.push('\n');
    }
    for i in 0..2 * CHUNK_LINES {
        traffic += &line(
            "GET",
            "https://x.dev/docs/a",
            Some(&tokens[i % tokens.len()]),
        );
        traffic.push('\n');
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let (report, seen, misses) = pool.install(|| run_lib_counting(traffic.into_bytes()));
    assert_eq!(seen.len(), 3 * CHUNK_LINES);
    assert_eq!(report.allow, 10 + 2 * CHUNK_LINES as u64, "{report:?}");
    assert_eq!(misses, 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn generated_traffic_is_counted_once(
        picks in proptest::collection::vec((0usize..10, 0usize..2), 0..60),
        final_newline in any::<bool>(),
    ) {
        let blocks = blocks();
        let mut traffic = Vec::new();
        let mut unreadable = 0u64;
        for (i, (b, crlf)) in picks.iter().enumerate() {
            let (bytes, readable) = &blocks[*b];
            traffic.extend_from_slice(bytes);
            unreadable += u64::from(!readable);
            // An empty last line exists only when a newline ends it.
            if i + 1 < picks.len() || final_newline || bytes.is_empty() {
                traffic.extend_from_slice(if *crlf == 1 { b"\r\n" } else { b"\n" });
            }
        }
        let (r, seen) = run_lib(traffic);
        let n = picks.len() as u64;
        prop_assert_eq!(r.total, n);
        prop_assert_eq!(r.unreadable_lines, unreadable);
        prop_assert_eq!(r.allow + r.deny + r.unreadable_lines, r.total);
        prop_assert_eq!(r.by_outcome.values().sum::<u64>(), r.allow + r.deny);
        prop_assert_eq!(seen, (1..=n).collect::<Vec<_>>());
    }
}

#[test]
fn many_chunks_keep_line_order() {
    let blocks = blocks();
    let mut traffic = Vec::new();
    let n = 10_000u64;
    for i in 0..n {
        traffic.extend_from_slice(&blocks[(i as usize * 7) % blocks.len()].0);
        traffic.push(b'\n');
    }
    let (r, seen) = run_lib(traffic);
    assert_eq!(r.total, n);
    assert_eq!(r.unreadable_lines, n / 2);
    assert_eq!(r.unreadable.len(), 1_000, "the first 1,000 are listed");
    assert_eq!(r.unreadable.last().unwrap().line, 1_999);
    assert_eq!(seen, (1..=n).collect::<Vec<_>>());
}

/// Lines long enough that a chunk's worth of them outgrows a batch's bytes: batches are then cut
/// by bytes, not lines, and every line after the first such batch is still read and decided.
#[test]
fn long_lines_cut_batches_short_and_none_is_lost() {
    let jane = token(Some("jane@acme.dev"));
    let mut long: Value =
        serde_json::from_str(&line("GET", "https://x.dev/docs/a", Some(&jane))).unwrap();
    // A field the replay ignores, long enough that CHUNK_LINES lines hold twice BATCH_BYTES.
    long["note"] = Value::String("x".repeat(2 * BATCH_BYTES / CHUNK_LINES));
    let long = long.to_string();
    let n = 2 * CHUNK_LINES + 7;
    let mut traffic = String::new();
    for _ in 0..n {
        traffic += &long;
        traffic.push('\n');
    }
    assert!(traffic.len() > 4 * BATCH_BYTES);
    let (r, seen) = run_lib(traffic.into_bytes());
    assert_eq!(r.total, n as u64, "{r:?}");
    assert_eq!(r.allow, n as u64, "{r:?}");
    assert_eq!(seen, (1..=n as u64).collect::<Vec<_>>());
}
