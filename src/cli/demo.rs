//! `demo`: the bundled acme example end to end — check, test, build, simulate, what-if — driven
//! through the same verbs a user runs, with a compact summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Args;
use serde_json::Value;

use edgeward::catalog::Catalog;
use edgeward::sim::generate::{Population, Signer, TrafficSpec, generate};

use super::{Fail, Res};

/// The example, embedded at build time so that the demo runs from any directory.
const FILES: &[(&str, &str)] = &[
    (
        "catalog/components.yaml",
        include_str!("../../examples/acme/catalog/components.yaml"),
    ),
    (
        "catalog/groups.yaml",
        include_str!("../../examples/acme/catalog/groups.yaml"),
    ),
    (
        "catalog/systems.yaml",
        include_str!("../../examples/acme/catalog/systems.yaml"),
    ),
    (
        "catalog/users.yaml",
        include_str!("../../examples/acme/catalog/users.yaml"),
    ),
    (
        "policy.ward",
        include_str!("../../examples/acme/policy.ward"),
    ),
    (
        "policy-v2.ward",
        include_str!("../../examples/acme/policy-v2.ward"),
    ),
    ("jwks.json", include_str!("../../examples/acme/jwks.json")),
    (
        "traffic-profile.json",
        include_str!("../../examples/acme/traffic-profile.json"),
    ),
    (
        "keys/rsa-2048.pem",
        include_str!("../../examples/acme/keys/rsa-2048.pem"),
    ),
];

/// The audience and issuer of the example's (test-only) tokens.
pub const AUD: &str = "b94d49c238b61d7de34d5f7cd61fa8895bf6ed804685054e48b250e8f829654d";
pub const ISS: &str = "https://acme.cloudflareaccess.com";

#[derive(Args)]
pub struct DemoArgs {
    /// Where to write the example, its build and its traffic (default: a new temporary folder)
    #[arg(long)]
    pub out: Option<String>,
    /// How many recorded requests to generate
    #[arg(long, default_value_t = 20_000)]
    pub requests: u64,
}

/// Runs one verb of this binary in `dir`; its stdout, or why it failed.
fn run(dir: &Path, args: &[&str], ok_codes: &[i32]) -> Result<String, Fail> {
    let exe = std::env::current_exe()
        .map_err(|e| Fail::Usage(format!("error: cannot find the edgeward binary: {e}")))?;
    let out = Command::new(exe)
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| {
            Fail::Usage(format!(
                "error: cannot run `edgeward {}`: {e}",
                args.join(" ")
            ))
        })?;
    if !out.status.code().is_some_and(|c| ok_codes.contains(&c)) {
        return Err(Fail::Check(format!(
            "error: `edgeward {}` failed in {}:\n{}{}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn json(text: &str) -> Result<Value, Fail> {
    serde_json::from_str(text)
        .map_err(|e| Fail::Check(format!("internal error: a verb printed no JSON: {e}")))
}

fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// `edgeward demo`.
pub fn demo(a: DemoArgs) -> Res {
    let started = Instant::now();
    let dir = match &a.out {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("edgeward-demo-{}", std::process::id())),
    };
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                Fail::Usage(format!("error: cannot create `{}`: {e}", parent.display()))
            })?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Fail::Usage(format!("error: cannot write `{}`: {e}", path.display())))?;
    }
    outln!("edgeward demo: the acme example in {}\n", dir.display())?;

    let catalog = Catalog::load(&dir.join("catalog"))
        .map_err(|e| Fail::Check(format!("{}error: the example catalog", super::render(&e))))?;
    let kinds: Vec<String> = catalog
        .catalog
        .kinds()
        .map(|(k, ids)| format!("{} {k}", ids.len()))
        .collect();
    outln!(
        "1. catalog   {} entities ({})",
        catalog.catalog.len(),
        kinds.join(", ")
    )?;

    for (step, file) in [
        ("2. check  ", "policy.ward"),
        ("   check  ", "policy-v2.ward"),
    ] {
        let v = json(&run(
            &dir,
            &["check", file, "--catalog", "catalog", "--format", "json"],
            &[0],
        )?)?;
        let tests = run(&dir, &["test", file, "--catalog", "catalog"], &[0])?;
        let summary = tests.lines().last().unwrap_or_default().to_string();
        outln!(
            "{step} {file:<15} {} errors, {} warnings; tests: {summary}",
            count(&v, "errors"),
            count(&v, "warnings")
        )?;
    }

    let built = run(
        &dir,
        &[
            "build",
            "policy.ward",
            "--catalog",
            "catalog",
            "--out",
            "build",
        ],
        &[0],
    )?;
    let bytes = std::fs::read(dir.join("build/policy.wasm"))
        .map_err(|e| Fail::Usage(format!("error: the build wrote no module: {e}")))?;
    let bare = edgeward::wasm::manifest::size_without_manifest(&bytes).unwrap_or(bytes.len());
    let _ = built;
    outln!(
        "3. build     build/policy.wasm: {} bytes ({bare} without the manifest), plus manifest.json, worker.js, wrangler.toml",
        bytes.len()
    )?;

    let t = Instant::now();
    let mut population =
        Population::from_json(include_str!("../../examples/acme/traffic-profile.json"))
            .map_err(|e| Fail::Check(format!("internal error: the traffic profile: {e}")))?;
    population.add_catalog_users(&catalog.catalog);
    let jwks: Value = json(include_str!("../../examples/acme/jwks.json"))?;
    let kid = jwks
        .pointer("/keys/0/kid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let signer = Signer::from_rsa_pem(
        include_str!("../../examples/acme/keys/rsa-2048.pem").as_bytes(),
        kid,
        AUD,
        ISS,
    )
    .map_err(|e| Fail::Check(format!("internal error: the example key: {e}")))?;
    let spec = TrafficSpec {
        requests: a.requests,
        ..TrafficSpec::default()
    };
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(dir.join("traffic.jsonl"))
            .map_err(|e| Fail::Usage(format!("error: cannot write traffic.jsonl: {e}")))?,
    );
    let stats = generate(&spec, &population, &signer, &mut out)
        .map_err(|e| Fail::Check(format!("error: generating traffic: {e}")))?;
    drop(out);
    outln!(
        "4. traffic   traffic.jsonl: {} recorded requests over {} days, {} distinct signed tokens ({:.1} s, seed {:#x})",
        stats.lines,
        spec.days,
        stats.tokens_signed,
        t.elapsed().as_secs_f64(),
        spec.seed
    )?;

    let sim_args = [
        "--traffic",
        "traffic.jsonl",
        "--jwks",
        "jwks.json",
        "--aud",
        AUD,
        "--iss",
        ISS,
        "--format",
        "json",
    ];
    let t = Instant::now();
    let mut args = vec!["simulate", "build/policy.wasm"];
    args.extend(sim_args);
    let sim = json(&run(&dir, &args, &[0])?)?;
    let secs = t.elapsed().as_secs_f64();
    outln!(
        "5. simulate  build/policy.wasm: {} requests, {} allow, {} deny, {} unreadable ({:.0} requests/s end to end)",
        count(&sim, "total"),
        count(&sim, "allow"),
        count(&sim, "deny"),
        count(&sim, "unreadable_lines"),
        count(&sim, "total") as f64 / secs.max(1e-9)
    )?;
    let mut outcomes: Vec<(u64, String)> = sim
        .get("by_outcome")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (v.as_u64().unwrap_or(0), k.clone()))
                .collect()
        })
        .unwrap_or_default();
    outcomes.sort_by(|x, y| y.cmp(x));
    let line: Vec<String> = outcomes.iter().map(|(n, k)| format!("{k} {n}")).collect();
    outln!("            by outcome: {}", line.join(", "))?;

    let mut args = vec![
        "whatif",
        "--base",
        "policy.ward",
        "--head",
        "policy-v2.ward",
        "--catalog",
        "catalog",
    ];
    args.extend(sim_args);
    let wi = json(&run(&dir, &args, &[0])?)?;
    outln!(
        "6. what-if   policy.ward -> policy-v2.ward: {} changed ({} allow->deny, {} deny->allow), {} moved to another rule, {} unchanged",
        count(&wi, "changed"),
        count(&wi, "allow_to_deny"),
        count(&wi, "deny_to_allow"),
        count(&wi, "rule_changes"),
        count(&wi, "unchanged")
    )?;
    out!("{}", flips_by_route(&dir, &catalog.catalog, &wi))?;

    outln!(
        "\nDone in {:.1} s. Each step by hand, from the repository root:\n",
        started.elapsed().as_secs_f64()
    )?;
    let mut s = String::new();
    let e = "examples/acme";
    let _ = writeln!(s, "  edgeward catalog {e}/catalog");
    let _ = writeln!(s, "  edgeward check {e}/policy.ward --catalog {e}/catalog");
    let _ = writeln!(
        s,
        "  edgeward test {e}/policy-v2.ward --catalog {e}/catalog"
    );
    let _ = writeln!(
        s,
        "  edgeward build {e}/policy.ward --catalog {e}/catalog --out build"
    );
    let _ = writeln!(
        s,
        "  edgeward eval {e}/policy.ward --catalog {e}/catalog --explain --request '{{\"method\":\"GET\",\"url\":\"https://payments.acme.dev/api/v1/payments/42\",\"claims\":{{\"aud\":\"{AUD}\",\"iss\":\"{ISS}\",\"sub\":\"u1\",\"type\":\"app\",\"iat\":1797800000,\"exp\":1797900000,\"email\":\"jane@acme.dev\"}},\"time\":\"2026-12-21T10:00:00Z\"}}'"
    );
    let _ = writeln!(
        s,
        "  edgeward simulate build/policy.wasm --traffic {e}/traffic-sample.jsonl --jwks {e}/jwks.json --aud {AUD} --iss {ISS}"
    );
    let _ = writeln!(
        s,
        "  edgeward whatif --base {e}/policy.ward --head {e}/policy-v2.ward --catalog {e}/catalog --traffic {e}/traffic-sample.jsonl --jwks {e}/jwks.json --aud {AUD} --iss {ISS} --format markdown"
    );
    out!("{s}")?;
    Ok(ExitCode::SUCCESS)
}

/// The what-if's decision flips counted per route of the head policy, most first.
fn flips_by_route(dir: &Path, catalog: &Catalog, wi: &Value) -> String {
    let Ok(source) = std::fs::read_to_string(dir.join("policy-v2.ward")) else {
        return String::new();
    };
    let Ok(head) = edgeward::compile("policy-v2.ward", &source, Some(catalog)) else {
        return String::new();
    };
    let p = head.program;
    let mut groups: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for change in wi
        .get("changes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let method = change
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let url = change
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Ok(parsed) = edgeward::sim::traffic::parse_url(url) else {
            continue;
        };
        let label =
            match edgeward::interp::pick_route(&p, method, &parsed.host, parsed.path.as_bytes()) {
                Some((_, r, _)) => format!(
                    "{} {}{}",
                    r.methods_text,
                    r.host.as_deref().unwrap_or("*"),
                    r.path_text
                ),
                None => "(no route)".to_string(),
            };
        let to_allow = change.pointer("/head/decision").and_then(Value::as_str) == Some("allow");
        let entry = groups.entry(label).or_default();
        if to_allow { entry.1 += 1 } else { entry.0 += 1 }
    }
    let mut rows: Vec<(String, (u64, u64))> = groups.into_iter().collect();
    rows.sort_by(|a, b| (b.1.0 + b.1.1).cmp(&(a.1.0 + a.1.1)).then(a.0.cmp(&b.0)));
    let mut out = String::new();
    for (label, (to_deny, to_allow)) in rows.iter().take(12) {
        let _ = writeln!(
            out,
            "            {label:<58} {to_deny:>5} allow->deny {to_allow:>5} deny->allow"
        );
    }
    out
}
