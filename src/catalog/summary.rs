//! What `edgeward catalog PATH` prints: counts by kind, relations, warnings, as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::Loaded;

/// A summary of a loaded catalog (serialises to the `--format json` output).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Number of entities.
    pub entities: usize,
    /// Entities per kind, as written (`Component`), sorted by kind.
    pub kinds: BTreeMap<String, usize>,
    /// Refs written per relation field (`spec.owner`), resolved or not.
    pub ref_fields: BTreeMap<String, usize>,
    /// Resolved relations per type (`ownedBy`), both directions counted.
    pub relations: BTreeMap<String, usize>,
    /// Refs that name no entity.
    pub dangling_refs: usize,
    pub catalog_hash: String,
    pub warnings: Vec<SummaryWarning>,
}

/// One warning, flattened for output.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SummaryWarning {
    pub code: String,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub entity: Option<String>,
}

/// Summarises a loaded catalog.
pub fn summary(loaded: &Loaded) -> Summary {
    let c = &loaded.catalog;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for id in c.ids() {
        if let Some(e) = c.entity(id) {
            *kinds.entry(e.kind.clone()).or_default() += 1;
        }
    }
    let mut relations: BTreeMap<String, usize> = BTreeMap::new();
    for r in c.relations() {
        *relations.entry(r.kind.name().to_string()).or_default() += 1;
    }
    let warnings: Vec<SummaryWarning> = loaded
        .warnings
        .iter()
        .map(|w| {
            let (file, line, entity) = w.site();
            SummaryWarning {
                code: w.code_str(),
                message: w.to_string(),
                file: file.to_string(),
                line,
                entity: entity.map(str::to_string),
            }
        })
        .collect();
    let dangling_refs = warnings
        .iter()
        .filter(|w| w.code == "edgeward::catalog::dangling_ref")
        .count();
    Summary {
        entities: c.len(),
        kinds,
        ref_fields: c.ref_field_counts().clone(),
        relations,
        dangling_refs,
        catalog_hash: c.hash(),
        warnings,
    }
}

/// The summary as plain text (no colours: the CLI decides about terminals).
pub fn render_text(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} entities ({})", s.entities, s.catalog_hash);
    for (k, n) in &s.kinds {
        let _ = writeln!(out, "  {k:<16} {n:>6}");
    }
    let _ = writeln!(out, "relation fields:");
    for (k, n) in &s.ref_fields {
        let _ = writeln!(out, "  {k:<20} {n:>6}");
    }
    let _ = writeln!(out, "relations (both directions):");
    for (k, n) in &s.relations {
        let _ = writeln!(out, "  {k:<16} {n:>6}");
    }
    let _ = writeln!(
        out,
        "{} warning(s), {} dangling ref(s)",
        s.warnings.len(),
        s.dangling_refs
    );
    for w in &s.warnings {
        let at = if w.line > 0 {
            format!("{}:{}", w.file, w.line)
        } else {
            w.file.clone()
        };
        let _ = writeln!(out, "  warning[{}] {at}: {}", w.code, w.message);
    }
    out
}
