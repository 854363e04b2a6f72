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

use criterion::{Criterion, criterion_group, criterion_main};
use edgeward::input::ClaimValue;
use edgeward::wasm::{Compiled, compile};

fn decide(c: &mut Criterion) {
    let example = Compiled::from_bytes(&compile(&build::example()).unwrap()).unwrap();
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

    let big = Compiled::from_bytes(&compile(&build::big(1000)).unwrap()).unwrap();
    let mut d = big.decider().unwrap();
    let mut r = build::req("GET", "x.dev", "/svc249/42/a/b");
    r = build::with(r, "sub", ClaimValue::String("jane@acme.dev".into()));
    c.bench_function("1000 rules/last route", |b| {
        b.iter(|| d.decide(std::hint::black_box(&r)).unwrap())
    });
    c.bench_function("instantiate", |b| b.iter(|| example.decider().unwrap()));
}

criterion_group!(benches, decide);
criterion_main!(benches);
