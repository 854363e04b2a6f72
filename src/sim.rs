//! The simulator: recorded traffic readers, replay, what-if diff and reports.

pub mod engine;
pub mod eval;
pub mod generate;
pub mod replay;
pub mod report;
pub mod simulate;
pub mod traffic;
pub mod whatif;

use serde::Serialize;

use crate::wasm::abi::{Decision, Outcome};

/// A decision as reports, logs and `eval` print it: `{"decision", "outcome", "rule"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Verdict {
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// An outcome name of DESIGN §3, `invalid_token:REASON` included.
    pub outcome: String,
    /// The reported rule, as the manifest names it.
    pub rule: Option<String>,
}

impl Verdict {
    /// The verdict of a module (or interpreter) decision, naming the rule from the rule table.
    pub fn of(d: Decision, rule_names: &[String]) -> Verdict {
        Verdict {
            decision: if d.outcome == Outcome::Allow {
                "allow"
            } else {
                "deny"
            },
            outcome: d.outcome.as_str().to_string(),
            rule: d.rule.and_then(|r| rule_names.get(r as usize).cloned()),
        }
    }

    /// A token failure: denied before any module is called.
    pub fn invalid_token(reason: crate::jwt::Reason) -> Verdict {
        Verdict {
            decision: "deny",
            outcome: reason.outcome(),
            rule: None,
        }
    }

    pub fn is_allow(&self) -> bool {
        self.decision == "allow"
    }
}
