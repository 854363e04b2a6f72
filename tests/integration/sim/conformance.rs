//! The conformance kit's `simulate` and `whatif` expectations, compared as its README says.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::super::jwt::{AUD, ISS, shared};
use super::edgeward;

fn kit() -> PathBuf {
    shared().join("conformance")
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(kit().join(name)).unwrap()).unwrap()
}

fn simulate(policy: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "simulate",
        policy,
        "--traffic",
        "traffic.jsonl",
        "--jwks",
        "jwks.json",
        "--catalog",
        "catalog",
        "--aud",
        AUD,
        "--iss",
        ISS,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let ran = edgeward(&kit(), &args);
    assert_eq!(ran.code, 0, "simulate {policy} {extra:?}: {}", ran.stderr);
    ran.json()
}

/// `unreadable` compared by line only: the wording of `error` is the implementation's.
fn unreadable_lines(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|u| u["line"].as_u64().unwrap())
        .collect()
}

/// A count map with zeros left out.
fn nonzero(v: &Value) -> Value {
    let mut m = v.as_object().unwrap().clone();
    m.retain(|_, n| n != &Value::from(0));
    Value::Object(m)
}

fn compare_simulate(label: &str, exp: &Value, got: &Value) {
    let e = &exp["simulate"];
    for key in ["total", "allow", "deny", "unreadable_lines"] {
        assert_eq!(got[key], e[key], "{label}: {key}");
    }
    for key in ["by_outcome", "by_rule"] {
        assert_eq!(nonzero(&got[key]), nonzero(&e[key]), "{label}: {key}");
    }
    assert_eq!(
        unreadable_lines(&got["unreadable"]),
        unreadable_lines(&e["unreadable"]),
        "{label}"
    );
    let (el, gl) = (
        exp["lines"].as_array().unwrap(),
        got["lines"].as_array().unwrap(),
    );
    assert_eq!(el.len(), gl.len(), "{label}: one entry per line");
    for (e, g) in el.iter().zip(gl) {
        assert_eq!(g["line"], e["line"], "{label}");
        if e.get("unreadable").is_some() {
            assert!(
                g.get("unreadable").is_some(),
                "{label}: line {} is unreadable: {g}",
                e["line"]
            );
        } else {
            for key in ["decision", "outcome", "rule"] {
                assert_eq!(g[key], e[key], "{label}: line {} {key}", e["line"]);
            }
        }
    }
}

#[test]
fn simulate_policy_sources() {
    for (policy, file) in [
        ("policy.ward", "expected-simulate-v1.json"),
        ("policy-v2.ward", "expected-simulate-v2.json"),
    ] {
        let exp = expected(file);
        compare_simulate(policy, &exp, &simulate(policy, &[]));
        compare_simulate(
            &format!("{policy} --cross-check"),
            &exp,
            &simulate(policy, &["--cross-check"]),
        );
    }
}

#[test]
fn simulate_the_built_module() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();
    let built = edgeward(
        &kit(),
        &[
            "build",
            "policy.ward",
            "--catalog",
            "catalog",
            "--out",
            out_dir,
        ],
    );
    assert_eq!(built.code, 0, "build: {}", built.stderr);
    let module = out.path().join("policy.wasm");
    let got = simulate(module.to_str().unwrap(), &[]);
    compare_simulate(
        "build/policy.wasm",
        &expected("expected-simulate-v1.json"),
        &got,
    );
}

#[test]
fn whatif_policy_to_v2() {
    let ran = edgeward(
        Path::new(&kit()),
        &[
            "whatif",
            "--base",
            "policy.ward",
            "--head",
            "policy-v2.ward",
            "--traffic",
            "traffic.jsonl",
            "--jwks",
            "jwks.json",
            "--catalog",
            "catalog",
            "--aud",
            AUD,
            "--iss",
            ISS,
            "--format",
            "json",
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let got = ran.json();
    let exp = &expected("expected-whatif.json")["whatif"];
    for (key, e) in exp.as_object().unwrap() {
        match key.as_str() {
            "unreadable" => assert_eq!(unreadable_lines(&got[key]), unreadable_lines(e)),
            "changes" | "moved" => {
                let (el, gl) = (e.as_array().unwrap(), got[key].as_array().unwrap());
                assert_eq!(el.len(), gl.len(), "{key}");
                for (e, g) in el.iter().zip(gl) {
                    for (k, v) in e.as_object().unwrap() {
                        assert_eq!(&g[k], v, "{key}: line {} {k}", e["line"]);
                    }
                }
            }
            _ => assert_eq!(&got[key], e, "{key}"),
        }
    }
}
