//! The CLI's view of the interpreter: `eval --explain` (text and json) on the conformance policy, and `test` failing readably.

use std::path::Path;
use std::process::Command;

use serde_json::json;

fn kit() -> std::path::PathBuf {
    crate::check::shared_dir().join("conformance")
}

/// Runs the binary in `dir`; returns `exit code` and stdout (stderr appended when not empty).
fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let mut text = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    if !stderr.is_empty() {
        text.push_str("--- stderr\n");
        text.push_str(&stderr);
    }
    (out.status.code().unwrap(), text)
}

/// A complete Access token payload for `claims_mismatch` to accept, plus `extra`.
fn request(method: &str, url: &str, extra: serde_json::Value) -> String {
    let mut claims = json!({
        "aud": ["78f42a26e725d802b7ae5bdb3e8707e144ddc1121a0742da244c75e05a0bccac"],
        "exp": 1_800_000_000, "iat": 1_764_300_000, "iss": "https://acme.cloudflareaccess.com",
        "sub": "6f1c2a4e", "type": "app",
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    json!({"method": method, "url": url, "claims": claims, "time": "2026-11-28T10:00:00Z"})
        .to_string()
}

/// `(snapshot name, method, url, extra claims)`
fn requests() -> Vec<(&'static str, String)> {
    vec![
        (
            "deploy_by_owner",
            request(
                "POST",
                "https://payments.acme.dev/deploy/payments-api",
                json!({"email": "jane@acme.dev", "amr": ["pwd", "mfa"]}),
            ),
        ),
        (
            "unbound_principal_fails_closed",
            request(
                "POST",
                "https://payments.acme.dev/deploy/payments-api",
                json!({"email": "visitor@example.com", "amr": ["mfa"]}),
            ),
        ),
        (
            "missing_label_errs",
            request(
                "POST",
                "https://payments.acme.dev/deploy/ledger",
                json!({"email": "jane@acme.dev", "amr": ["mfa"]}),
            ),
        ),
        (
            "reader_by_admin",
            request(
                "GET",
                "https://payments.acme.dev/api/v1/payments/42",
                json!({"email": "omar@acme.dev"}),
            ),
        ),
        (
            "no_route",
            request(
                "GET",
                "https://status.acme.dev/nowhere",
                json!({"country": "KP"}),
            ),
        ),
    ]
}

#[test]
fn eval_explain_text() {
    for (name, req) in requests() {
        let (code, out) = run(
            &kit(),
            &[
                "eval",
                "policy-v2.ward",
                "--catalog",
                "catalog",
                "--request",
                &req,
                "--explain",
            ],
        );
        assert_eq!(code, 0, "{out}");
        insta::assert_snapshot!(format!("eval_explain_text@{name}"), out);
    }
}

#[test]
fn eval_explain_json() {
    for (name, req) in requests().into_iter().take(3) {
        let (code, out) = run(
            &kit(),
            &[
                "eval",
                "policy-v2.ward",
                "--catalog",
                "catalog",
                "--request",
                &req,
                "--explain",
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        for key in ["decision", "outcome", "rule", "explain"] {
            assert!(v.get(key).is_some(), "{key} in {out}");
        }
        insta::assert_snapshot!(
            format!("eval_explain_json@{name}"),
            serde_json::to_string_pretty(&v).unwrap()
        );
    }
}

#[test]
fn test_with_a_wrong_expectation_fails_readably() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wrong.ward"),
        r#"use std::cloudflare_access

route GET "/reports/{id}" {
  require claims has email
  allow finance when claims.sub == "fin"
  deny interns when claims.sub starts_with "intern"
}

test "finance reads reports" {
  request GET "https://acme.dev/reports/1"
  claims { sub: "fin", email: "fin@acme.dev" }
  expect allow by finance
}

test "interns read reports (wrong: they are denied)" {
  request GET "https://acme.dev/reports/1"
  claims { sub: "intern-7", email: "i7@acme.dev" }
  expect allow
}

test "the wrong rule is named" {
  request GET "https://acme.dev/reports/1"
  claims { sub: "fin" }
  expect deny by interns
}
"#,
    )
    .unwrap();
    let (code, out) = run(dir.path(), &["test", "wrong.ward"]);
    assert_eq!(code, 1, "{out}");
    // the summary line may say more (which engines ran); its counts are pinned here
    let (body, summary) = out.trim_end().rsplit_once('\n').unwrap();
    assert!(summary.starts_with("1 passed, 2 failed"), "{summary}");
    insta::assert_snapshot!(body);
}
