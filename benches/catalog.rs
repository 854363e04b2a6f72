//! Loading and closing a generated 100,000-entity catalog (20,000 users, 2,000 nested groups) from
//! a file.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use edgeward::catalog::Catalog;

const GROUPS: usize = 2_000;
const USERS: usize = 20_000;
const DOMAINS: usize = 500;
const SYSTEMS: usize = 2_500;
const APIS: usize = 5_000;
const TOTAL: usize = 100_000;

const HEAD: &str = "apiVersion: backstage.io/v1alpha1\n";

/// A catalog of `TOTAL` entities as multi-document YAML: groups in a tree of fan-out 4 (depth 6),
/// users in two groups each, and components owned by groups and users, in systems and domains.
fn generate() -> String {
    let mut y = String::with_capacity(TOTAL * 300);
    for g in 0..GROUPS {
        let _ = write!(
            y,
            "{HEAD}kind: Group\nmetadata:\n  name: group-{g}\nspec:\n  type: team\n"
        );
        if g > 0 {
            let _ = writeln!(y, "  parent: group-{}", (g - 1) / 4);
        }
        let kids: Vec<String> = (1..=4)
            .map(|k| 4 * g + k)
            .filter(|k| *k < GROUPS)
            .map(|k| format!("group-{k}"))
            .collect();
        let _ = write!(y, "  children: [{}]\n---\n", kids.join(", "));
    }
    for u in 0..USERS {
        let (a, b) = (u % GROUPS, (u * 7 + 3) % GROUPS);
        let _ = write!(
            y,
            "{HEAD}kind: User\nmetadata:\n  name: user-{u}\nspec:\n  profile:\n    displayName: User {u}\n    email: user-{u}@example.com\n  memberOf: [group-{a}, group-{b}]\n---\n"
        );
    }
    for d in 0..DOMAINS {
        let _ = write!(
            y,
            "{HEAD}kind: Domain\nmetadata:\n  name: domain-{d}\nspec:\n  owner: group-{}\n",
            d % GROUPS
        );
        if d > 0 {
            let _ = writeln!(y, "  subdomainOf: domain-{}", (d - 1) / 3);
        }
        y.push_str("---\n");
    }
    for s in 0..SYSTEMS {
        let _ = write!(
            y,
            "{HEAD}kind: System\nmetadata:\n  name: system-{s}\nspec:\n  owner: group-{}\n  domain: domain-{}\n---\n",
            s % GROUPS,
            s % DOMAINS
        );
    }
    for a in 0..APIS {
        let _ = write!(
            y,
            "{HEAD}kind: API\nmetadata:\n  name: api-{a}\nspec:\n  type: openapi\n  lifecycle: production\n  owner: group-{}\n  system: system-{}\n  definition: openapi\n---\n",
            a % GROUPS,
            a % SYSTEMS
        );
    }
    let components = TOTAL - GROUPS - USERS - DOMAINS - SYSTEMS - APIS;
    for c in 0..components {
        let owner = if c % 10 == 0 {
            format!("user:user-{}", c % USERS)
        } else {
            format!("group-{}", c % GROUPS)
        };
        let _ = write!(
            y,
            "{HEAD}kind: Component\nmetadata:\n  name: component-{c}\n  labels:\n    tier: t{}\n  annotations:\n    cloudflare.com/access-client-id: id-{c}.access\nspec:\n  type: service\n  lifecycle: production\n  owner: {owner}\n  system: system-{}\n  providesApis: [api-{}]\n  consumesApis: [api-{}]\n---\n",
            c % 3,
            c % SYSTEMS,
            c % APIS,
            (c + 1) % APIS
        );
    }
    y
}

fn bench(c: &mut Criterion) {
    // Written to a file and loaded from it, as `edgeward` loads a catalog: the generated text is
    // gone before the bench starts, so the process's peak memory is the loader's.
    let path = std::env::temp_dir().join("edgeward-catalog-bench-100k.yaml");
    let text = generate();
    let bytes = text.len();
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("cannot write {}: {e}", path.display());
        return;
    }
    let start = std::time::Instant::now();
    match Catalog::load(&path) {
        Ok(l) => eprintln!(
            "generated {bytes} bytes: {} entities, {} relations, {} warnings, loaded once in {:?}",
            l.catalog.len(),
            l.catalog.relations().len(),
            l.warnings.len(),
            start.elapsed()
        ),
        Err(e) => eprintln!("the generated catalog does not load: {e}"),
    }
    let mut group = c.benchmark_group("catalog");
    group.sample_size(10);
    group.bench_function("load_and_close_100k", |b| {
        b.iter(|| {
            let loaded = Catalog::load(black_box(&path));
            black_box(loaded.map(|l| l.catalog.len()).unwrap_or(0))
        });
    });
    group.finish();
    let _ = std::fs::remove_file(path);
}

criterion_group!(benches, bench);
criterion_main!(benches);
