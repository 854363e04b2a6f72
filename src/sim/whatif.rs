//! `whatif`: replays traffic against two policies and lists the requests whose decision changes
//! (`changes`) or whose decision stays but whose outcome or rule moves (`moved`), DESIGN §5.

use std::io::BufRead;

use serde::Serialize;

use super::Verdict;
use super::engine::{Decide, EngineError, Policy};
use super::replay::{Decided, ReplayError, Side, judge, replay};
use super::simulate::{UnreadableEntry, UnreadableLog};
use super::traffic::RecordedRequest;
use crate::wasm::abi::Outcome;

/// A request whose decision, outcome or rule differs between the two policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub line: u64,
    /// As recorded.
    pub method: String,
    /// As recorded.
    pub url: String,
    /// The token's `email`, else `common_name`, else `sub` (DESIGN §6); `None` when the token is
    /// valid under neither policy.
    pub principal: Option<String>,
    pub base: Verdict,
    pub head: Verdict,
    /// The route the request matches under head (else under base), as `METHODS host/path`.
    pub route: Option<String>,
}

/// The `whatif --format json` object of DESIGN §5, members in its order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WhatifReport {
    pub total: u64,
    pub unchanged: u64,
    pub changed: u64,
    pub allow_to_deny: u64,
    pub deny_to_allow: u64,
    pub rule_changes: u64,
    pub unreadable_lines: u64,
    pub unreadable: Vec<UnreadableEntry>,
    /// Decision changes, in line order.
    pub changes: Vec<Change>,
    /// Same decision, another outcome or rule, in line order.
    pub moved: Vec<Change>,
}

/// Which decision changes `--fail-on` fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Any,
    DenyToAllow,
    AllowToDeny,
}

impl WhatifReport {
    /// Whether a decision change matches `fail_on` (a move alone never does).
    pub fn fails(&self, fail_on: FailOn) -> bool {
        match fail_on {
            FailOn::Any => self.changed > 0,
            FailOn::DenyToAllow => self.deny_to_allow > 0,
            FailOn::AllowToDeny => self.allow_to_deny > 0,
        }
    }
}

/// How a line compares across the two policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Diff {
    Same,
    Moved,
    Changed,
}

/// The outcome and rule name of a decision, without allocating.
fn key(d: Decided, rules: &[String]) -> (Result<Outcome, crate::jwt::Reason>, Option<&str>) {
    match d {
        Decided::Token(r) => (Err(r), None),
        Decided::Policy(d) => (
            Ok(d.outcome),
            d.rule
                .and_then(|i| rules.get(i as usize))
                .map(String::as_str),
        ),
    }
}

/// The result of one line on the workers.
struct Compared {
    base: Decided,
    head: Decided,
    diff: Diff,
    principal: Option<String>,
    route: Option<String>,
}

/// Replays `input` against `base` and `head`, each verifying tokens with its own claims schema.
pub fn whatif<R: BufRead + Send>(
    input: R,
    base: (&Side<'_>, &Policy),
    head: (&Side<'_>, &Policy),
) -> Result<WhatifReport, ReplayError> {
    let ((base_side, base_policy), (head_side, head_policy)) = (base, head);
    type Deciders<'e> = (Box<dyn Decide + 'e>, Box<dyn Decide + 'e>);
    let make = || -> Result<Deciders<'_>, EngineError> {
        Ok((base_side.engine.decider()?, head_side.engine.decider()?))
    };
    let work = |(b, h): &mut Deciders<'_>, rec: &RecordedRequest| {
        let jb = judge(base_side.verifier, b.as_mut(), rec)?;
        let jh = judge(head_side.verifier, h.as_mut(), rec)?;
        let diff = if jb.decided.is_allow() != jh.decided.is_allow() {
            Diff::Changed
        } else if key(jb.decided, &base_policy.rules) != key(jh.decided, &head_policy.rules) {
            Diff::Moved
        } else {
            Diff::Same
        };
        let (mut principal, mut route) = (None, None);
        if diff != Diff::Same {
            route = jh
                .request
                .as_ref()
                .and_then(|req| h.last_route(req))
                .and_then(|i| head_policy.route_label(i))
                .or_else(|| {
                    jb.request
                        .as_ref()
                        .and_then(|req| b.last_route(req))
                        .and_then(|i| base_policy.route_label(i))
                });
            principal = jh.principal.or(jb.principal);
        }
        Ok(Compared {
            base: jb.decided,
            head: jh.decided,
            diff,
            principal,
            route,
        })
    };
    let mut r = WhatifReport::default();
    let mut unreadable = UnreadableLog::default();
    replay(input, make, work, |line| {
        r.total += 1;
        match line {
            Err(u) => unreadable.add(&u),
            Ok((rec, c)) => {
                if c.diff == Diff::Same {
                    r.unchanged += 1;
                    return;
                }
                let change = Change {
                    line: rec.line,
                    method: rec.method.clone(),
                    url: rec.url.clone(),
                    principal: c.principal,
                    base: c.base.verdict(&base_policy.rules),
                    head: c.head.verdict(&head_policy.rules),
                    route: c.route,
                };
                if c.diff == Diff::Moved {
                    r.unchanged += 1;
                    r.rule_changes += 1;
                    r.moved.push(change);
                } else {
                    r.changed += 1;
                    if c.head.is_allow() {
                        r.deny_to_allow += 1;
                    } else {
                        r.allow_to_deny += 1;
                    }
                    r.changes.push(change);
                }
            }
        }
    })?;
    r.unreadable_lines = unreadable.count;
    r.unreadable = unreadable.listed;
    Ok(r)
}
