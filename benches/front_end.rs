//! Parse + check of generated policies of 100, 1,000 and 10,000 rules (target: 10,000 rules in under 1 s, linear).
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

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edgeward::catalog::Catalog;

fn front_end(c: &mut Criterion) {
    let catalog = Catalog::from_yaml_str("catalog.yaml", generate::CATALOG)
        .map(|l| l.catalog)
        .unwrap_or_else(|e| panic!("the generated catalog loads: {e}"));
    let mut group = c.benchmark_group("parse+check");
    group.sample_size(10);
    for rules in [100, 1_000, 10_000] {
        let source = generate::policy(rules);
        // the generated policy is well-typed
        if let Err(r) = edgeward::compile("generated.ward", &source, Some(&catalog)) {
            panic!("{:?} {:?}", r.syntax, r.diagnostics);
        }
        group.throughput(Throughput::Elements(rules as u64));
        group.bench_with_input(BenchmarkId::from_parameter(rules), &source, |b, src| {
            b.iter(|| edgeward::compile("generated.ward", black_box(src), Some(&catalog)).is_ok());
        });
    }
    group.finish();
}

criterion_group!(benches, front_end);
criterion_main!(benches);
