//! Figures for reports (no timing asserts): workerd startup and per-request latency with and without the policy.
//!
//! The same 100 allowed requests through the policy's Worker, an allow-everything module under the
//! same `worker.js`, and a pass-through Worker: all must answer 200; the figures are printed
//! (`cargo test --test integration worker_e2e::figures -- --nocapture`).

use serde_json::{Value, json};

use super::{AUD, ISS, build, harness, latency_summary, spec};

/// A Worker that forwards everything and writes the same log line: the baseline without edgeward.
const PASS_THROUGH: &str = r#"// Pass-through baseline: no token check, no policy; one log line like edgeward's.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    console.log(JSON.stringify({ time: `${new Date().toISOString().slice(0, 19)}Z`, decision: "allow",
      outcome: "allow", rule: "pass", route: null, method: request.method, host: url.hostname,
      path: url.pathname, principal: null, policy: null }));
    return fetch(new Request(new URL(env.ORIGIN).origin + url.pathname + url.search, request));
  },
};
"#;

const ALLOW_ALL: &str = "policy allow_all version 1\n\nuse std::cloudflare_access\n\nroute ANY \"/*\" {\n  allow everyone\n}\n";

#[test]
fn figures_startup_and_latency_with_and_without_the_policy() {
    const N: usize = 100;
    let token = json!({"key": "rsa", "claims": {
        "aud": [AUD], "email": "jane@acme.dev", "exp": "$now+600", "iat": "$now", "iss": ISS, "sub": "s", "type": "app"}});
    let requests: Vec<Value> = (0..N)
        .map(|i| json!({"name": format!("r{i}"), "method": "GET", "url": "https://payments.acme.dev/api/v1/payments/42",
                        "token": token, "expect": {"status": 200}}))
        .collect();

    let policy = build("policy-v2.ward");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("allow_all.ward"), ALLOW_ALL).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .arg("build")
        .arg(tmp.path().join("allow_all.ward"))
        .arg("--out")
        .arg(tmp.path().join("allow_all"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(tmp.path().join("pass.js"), PASS_THROUGH).unwrap();

    let report = harness(&spec(&policy, requests.clone()));
    eprintln!(
        "policy-v2.ward ({} bytes): {}",
        std::fs::metadata(policy.path("policy.wasm")).unwrap().len(),
        latency_summary(&report)
    );

    let mut s = spec(&policy, requests.clone());
    s["policy_wasm"] = json!(tmp.path().join("allow_all/policy.wasm"));
    let report = harness(&s);
    eprintln!(
        "allow-everything module, same worker.js: {}",
        latency_summary(&report)
    );

    let mut s = spec(&policy, requests);
    s["modules"] =
        json!([{"name": "worker.js", "path": tmp.path().join("pass.js"), "type": "esModule"}]);
    let report = harness(&s);
    eprintln!(
        "pass-through Worker (no token check, no policy): {}",
        latency_summary(&report)
    );
}
