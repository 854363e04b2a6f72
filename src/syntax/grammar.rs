//! The pest parser generated from `grammar/edgeward.pest` (kept private to `syntax`).

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/edgeward.pest"]
pub(super) struct WardParser;
