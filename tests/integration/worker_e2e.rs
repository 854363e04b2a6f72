//! The real `edgeward build` output in workerd, request by request against `edgeward simulate` on the same traffic.
//!
//! Each test builds a policy with the binary, runs the generated Worker and
//! module in the pinned workerd through `tests/worker/harness.mjs` (real signed
//! tokens, a local origin and JWKS), writes the very requests it sent as
//! recorded traffic (§4, `time` = the send time) and replays them with
//! `edgeward simulate` on the built module: both must decide alike, line by
//! line. Needs `npm ci` at the repository root (workerd) and Node >= 20.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod edges;
mod figures;
mod matrix;
mod replay;
mod wrangler;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

pub(crate) const ISS: &str = "https://acme.cloudflareaccess.com";
pub(crate) const AUD: &str = "78f42a26e725d802b7ae5bdb3e8707e144ddc1121a0742da244c75e05a0bccac";

/// One workerd at a time from these tests: the machines that run them have few cores.
static HARNESS: Mutex<()> = Mutex::new(());

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The conformance kit: the first ancestor of the crate holding `shared/conformance`.
pub(crate) fn kit() -> PathBuf {
    repo()
        .ancestors()
        .map(|dir| dir.join("shared/conformance"))
        .find(|dir| dir.is_dir())
        .expect("no shared/conformance above CARGO_MANIFEST_DIR")
}

/// `edgeward build POLICY --catalog CATALOG --out OUT`, run in the kit (rule sources name the file as given).
pub(crate) struct Built {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) manifest: Value,
}

impl Built {
    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub(crate) fn source_hash(&self) -> &str {
        self.manifest["policy"]["source_hash"].as_str().unwrap()
    }
}

pub(crate) fn build(policy: &str) -> Built {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .current_dir(kit())
        .args(["build", policy, "--catalog", "catalog", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "edgeward build {policy}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["policy.wasm", "manifest.json", "worker.js", "wrangler.toml"] {
        assert!(dir.path().join(file).is_file(), "build wrote no {file}");
    }
    let manifest =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    Built { dir, manifest }
}

/// The harness spec's defaults for a build: its worker.js and policy.wasm, the kit's keys, its JWKS served verbatim.
pub(crate) fn spec(built: &Built, requests: Vec<Value>) -> Value {
    let keys = kit().join("keys");
    let jwks: Value =
        serde_json::from_slice(&std::fs::read(kit().join("jwks.json")).unwrap()).unwrap();
    json!({
        "worker_js": built.path("worker.js"),
        "policy_wasm": built.path("policy.wasm"),
        "compatibility_date": edgeward::worker::COMPATIBILITY_DATE,
        "keys": {
            "rsa": keys.join("rsa-2048.pem"),
            "ec": keys.join("ec-p256.pem"),
            "rogue": keys.join("rogue-rsa-2048.pem"),
        },
        "jwks": jwks,
        "vars": {"TEAM_DOMAIN": ISS, "POLICY_AUD": AUD, "ORIGIN": "$ORIGIN", "JWKS_URL": "$JWKS"},
        "requests": requests,
    })
}

/// Runs the harness on `spec` and returns its report (which holds every answer, log line and what the origin saw).
pub(crate) fn harness(spec: &Value) -> Value {
    assert!(
        repo().join("node_modules/workerd/package.json").is_file(),
        "workerd is not installed: run `npm ci` in {} (package.json pins it)",
        repo().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(spec).unwrap()).unwrap();
    let _one = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("node")
        .arg(repo().join("tests/worker/harness.mjs"))
        .arg(&spec_path)
        .output()
        .expect("node (>= 20) is needed for the Worker tests");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("harness failed ({}):\n{stderr}", out.status));
    assert!(
        out.status.success() && report["ok"] == true,
        "harness ({}): {stderr}",
        out.status
    );
    let sent = spec["requests"].as_array().map_or(0, Vec::len);
    assert_eq!(report["requests"].as_array().unwrap().len(), sent);
    report
}

/// Unix seconds as RFC 3339 UTC (`2026-11-28T10:00:00Z`).
pub(crate) fn rfc3339(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// RFC 3339 to Unix seconds, fractions rounded down.
pub(crate) fn unix(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

/// `edgeward simulate MODULE --format json` over `lines` (§4 JSON Lines) with the Worker's aud and iss: its `lines`.
pub(crate) fn simulate(built: &Built, lines: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("traffic.jsonl");
    let mut text = String::new();
    for line in lines {
        writeln!(text, "{line}").unwrap();
    }
    std::fs::write(&traffic, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .arg("simulate")
        .arg(built.path("policy.wasm"))
        .arg("--traffic")
        .arg(&traffic)
        .arg("--jwks")
        .arg(kit().join("jwks.json"))
        .args(["--aud", AUD, "--iss", ISS, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "edgeward simulate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["unreadable_lines"], 0, "simulate: {report}");
    let lines_out = report["lines"]
        .as_array()
        .expect("simulate --format json has `lines`")
        .clone();
    assert_eq!(lines_out.len(), lines.len());
    lines_out
}

/// The recorded line (§4) of a request the harness sent: `time` = the send time, its headers, ip and country.
pub(crate) fn recorded(sent: &Value, method: &str, url: &str, token_as_jwt: bool) -> Value {
    let mut line = Map::new();
    line.insert(
        "time".into(),
        json!(rfc3339(sent["sent_at"].as_i64().unwrap())),
    );
    line.insert("method".into(), json!(method));
    line.insert("url".into(), json!(url));
    let mut headers = Map::new();
    for (k, v) in sent["sent_headers"].as_object().unwrap() {
        match k.to_ascii_lowercase().as_str() {
            "cf-connecting-ip" => {
                line.insert("ip".into(), v.clone());
            }
            "cf-ipcountry" => {
                line.insert("country".into(), v.clone());
            }
            "cf-access-jwt-assertion" if token_as_jwt => {
                line.insert("jwt".into(), v.clone());
            }
            _ => {
                headers.insert(k.clone(), v.clone());
            }
        }
    }
    if !headers.is_empty() {
        line.insert("headers".into(), Value::Object(headers));
    }
    Value::Object(line)
}

/// What one request got from the Worker, in the simulator's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) decision: String,
    pub(crate) outcome: String,
    pub(crate) rule: Option<String>,
}

impl Answer {
    pub(crate) fn of(v: &Value) -> Answer {
        Answer {
            decision: v["decision"].as_str().unwrap().to_owned(),
            outcome: v["outcome"].as_str().unwrap().to_owned(),
            rule: v["rule"].as_str().map(str::to_owned),
        }
    }
}

/// Checks one Worker answer against the decision the simulator predicts for it; returns what disagrees.
///
/// allow: the origin's answer (200, its body), the origin saw it once with
/// `x-edgeward-rule`; a token failure: 401 and the §6 body; any other deny: 403
/// and the §6 body, the origin saw nothing. The log line's decision, outcome and
/// rule are the prediction's too. An answer to HEAD has no body.
pub(crate) fn disagreements(got: &Value, method: &str, predicted: &Answer) -> Vec<String> {
    let mut out = Vec::new();
    let mut want = |what: &str, got: Value, expected: Value| {
        if got != expected {
            out.push(format!("{what}: worker {got}, simulate {expected}"));
        }
    };
    let log = &got["log"];
    want(
        "log decision/outcome/rule",
        json!([log["decision"], log["outcome"], log["rule"]]),
        json!([predicted.decision, predicted.outcome, predicted.rule]),
    );
    if predicted.decision == "allow" {
        want("status", got["status"].clone(), json!(200));
        want(
            "origin reached",
            json!(got["origin"].is_object()),
            json!(true),
        );
        want(
            "x-edgeward-rule at the origin",
            got["origin"]["headers"]["x-edgeward-rule"].clone(),
            json!(predicted.rule),
        );
        // The origin's own answer (a HEAD answer has no body).
        let body = got["body"].as_str().unwrap();
        want(
            "body",
            json!(if method == "HEAD" {
                body.is_empty()
            } else {
                body.starts_with("origin saw ")
            }),
            json!(true),
        );
    } else {
        let status = if predicted.outcome.starts_with("invalid_token:") {
            401
        } else {
            403
        };
        want("status", got["status"].clone(), json!(status));
        want(
            "origin reached",
            json!(got["origin"].is_object()),
            json!(false),
        );
        let body = got["body"].as_str().unwrap();
        if method == "HEAD" {
            want("body", json!(body), json!(""));
        } else {
            want(
                "body",
                serde_json::from_str(body).unwrap_or(Value::Null),
                json!({"decision": "deny", "outcome": predicted.outcome, "rule": predicted.rule}),
            );
        }
    }
    out
}

/// Median and a few percentiles of the harness's per-request latencies, for the figures in reports.
pub(crate) fn latency_summary(report: &Value) -> String {
    let mut ms: Vec<f64> = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["latency_ms"].as_f64().unwrap())
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    format!(
        "workerd startup {:.0} ms; {} requests: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        report["startup_ms"].as_f64().unwrap_or(f64::NAN),
        ms.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    )
}

/// Fails with every line that disagrees, not just the first.
pub(crate) fn assert_none(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
