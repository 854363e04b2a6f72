//! Interpreter decisions per second: the DESIGN §2 example (the conformance policy.ward, catalog and eval requests) and a generated 1,000-rule policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "front_end/generate.rs"]
#[allow(dead_code)]
mod generate;

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeward::catalog::Catalog;
use edgeward::input::{ClaimValue, Request};
use edgeward::ir::Program;

/// The folder holding `shared/conformance`, found by walking up from the crate.
fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("shared/conformance"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| panic!("no shared/conformance above the crate"))
}

fn compile(path: &str, source: &str, catalog: &Catalog) -> Program {
    match edgeward::compile(path, source, Some(catalog)) {
        Ok(c) => c.program,
        Err(r) => panic!("{path}: {:?} {:?}", r.syntax, r.diagnostics),
    }
}

/// The kit's eval requests whose claims fit the schema, as the interpreter takes them.
fn kit_requests(p: &Program) -> Vec<Request> {
    let text = std::fs::read_to_string(kit().join("eval-cases.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|case| {
            edgeward::sim::eval::eval_request(case.get("request")?, &p.claims, 0).ok()
        })
        .collect()
}

fn generated_requests(routes: usize) -> Vec<Request> {
    let emails = [
        "jane@acme.dev",
        "raj@acme.dev",
        "x@r7.acme.dev",
        "nobody@acme.dev",
    ];
    let ids = ["pay-a", "pay-b", "old", "missing"];
    (0..256)
        .map(|i| {
            let mut claims = edgeward::input::Claims::new();
            claims.insert("email".into(), ClaimValue::String(emails[i % 4].into()));
            claims.insert("sub".into(), ClaimValue::String(format!("s{}", i % 50)));
            claims.insert("amr".into(), ClaimValue::Set(vec!["mfa".into()]));
            claims.insert(
                "groups".into(),
                ClaimValue::Set(vec![format!("g{}", i % 30)]),
            );
            Request {
                method: if i % 3 == 0 { "POST" } else { "GET" }.into(),
                host: "acme.dev".into(),
                path: format!("/svc{}/{}/x{}", (i * 7) % routes, ids[(i / 4) % 4], i % 9),
                time: 1_795_000_000,
                ip: (i % 2 == 0).then(|| {
                    format!("10.{}.1.2", i % 40)
                        .parse()
                        .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())
                }),
                country: None,
                claims: claims.into(),
            }
        })
        .collect()
}

fn decide_all(c: &mut Criterion, name: &str, p: &Program, requests: &[Request]) {
    let mut group = c.benchmark_group("interp");
    group.sample_size(20);
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            for r in requests {
                black_box(edgeward::interp::decide(p, black_box(r)));
            }
        });
    });
    group.finish();
}

fn interp(c: &mut Criterion) {
    let kit_catalog = Catalog::load(&kit().join("catalog"))
        .unwrap_or_else(|e| panic!("the kit's catalog loads: {e}"))
        .catalog;
    let source = std::fs::read_to_string(kit().join("policy.ward")).unwrap_or_default();
    let p = compile("policy.ward", &source, &kit_catalog);
    let requests = kit_requests(&p);
    assert!(requests.len() > 100, "{} kit requests", requests.len());
    decide_all(c, "design_example", &p, &requests);

    let catalog = Catalog::from_yaml_str("catalog.yaml", generate::CATALOG)
        .unwrap_or_else(|e| panic!("the generated catalog loads: {e}"))
        .catalog;
    let p = compile("generated.ward", &generate::policy(1_000), &catalog);
    decide_all(
        c,
        "generated_1000_rules",
        &p,
        &generated_requests(p.routes.len()),
    );
}

criterion_group!(benches, interp);
criterion_main!(benches);
