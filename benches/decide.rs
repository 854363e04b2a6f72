//! Decision latency of the compiled DESIGN §2 example and of a 1,000-rule policy in wasmtime.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../tests/integration/wasm/build.rs"]
#[allow(dead_code)]
mod build;

#[path = "front_end/generate.rs"]
#[allow(dead_code)]
mod generate;

use criterion::{Criterion, criterion_group, criterion_main};
use edgeward::input::ClaimValue;
use edgeward::wasm::{Compiled, compile};

fn decide(c: &mut Criterion) {
    let example = Compiled::from_generated(&compile(&build::example()).unwrap()).unwrap();
    let mut d = example.decider().unwrap();
    let mut deploy = build::req("POST", "payments.acme.dev", "/deploy/payments-api");
    deploy.time = 1_795_000_000;
    deploy = build::with(deploy, "email", ClaimValue::String("jane@acme.dev".into()));
    deploy = build::with(
        deploy,
        "amr",
        ClaimValue::Set(vec!["pwd".into(), "mfa".into()]),
    );
    let mut enc = Vec::new();
    edgeward::wasm::abi::encode(
        &edgeward::wasm::abi::slot_values(example.slots(), &deploy),
        &mut enc,
    );
    c.bench_function("example/deploy (encoded)", |b| {
        b.iter(|| d.decide_encoded(std::hint::black_box(&enc)).unwrap())
    });
    c.bench_function("example/deploy (request)", |b| {
        b.iter(|| d.decide(std::hint::black_box(&deploy)).unwrap())
    });

    let big = Compiled::from_generated(&compile(&build::big(1000)).unwrap()).unwrap();
    let mut d = big.decider().unwrap();
    let mut r = build::req("GET", "x.dev", "/svc249/42/a/b");
    r = build::with(r, "sub", ClaimValue::String("jane@acme.dev".into()));
    c.bench_function("1000 rules (generated IR)/last route", |b| {
        b.iter(|| d.decide(std::hint::black_box(&r)).unwrap())
    });
    c.bench_function("instantiate", |b| b.iter(|| example.decider().unwrap()));

    // A generated 1,000-rule source policy over Backstage's example catalog: compile (check,
    // optimise, codegen) and decide on its last route.
    let catalog = edgeward::catalog::Catalog::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/backstage/catalog"),
    )
    .unwrap()
    .catalog;
    let source = generate::policy_over(1_000, &generate::BACKSTAGE);
    let build = || {
        let program = edgeward::compile("big.ward", &source, Some(&catalog))
            .unwrap()
            .program;
        compile(&program).unwrap()
    };
    let bytes = build();
    eprintln!(
        "1,000-rule source policy: {} bytes whole, {} without the manifest",
        bytes.len(),
        edgeward::wasm::manifest::size_without_manifest(&bytes).unwrap()
    );
    let mut g = c.benchmark_group("1000-rule source policy");
    g.sample_size(20);
    g.bench_function("compile", |b| b.iter(build));
    let big = Compiled::from_generated(&bytes).unwrap();
    let mut d = big.decider().unwrap();
    let mut r = build::req("POST", "x.dev", "/svc99/artist-lookup/x/x99");
    r = build::with(
        r,
        "email",
        ClaimValue::String("breanna.davison@example.com".into()),
    );
    r = build::with(r, "sub", ClaimValue::String("s99".into()));
    r = build::with(r, "amr", ClaimValue::Set(vec!["mfa".into()]));
    let decision = d.decide(&r).unwrap();
    eprintln!("last route: {}", decision.outcome.as_str());
    g.bench_function("last route (request)", |b| {
        b.iter(|| d.decide(std::hint::black_box(&r)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
