//! `whatif`: replays traffic against two policies and lists the requests whose decision changes
//! (`changes`) or whose decision stays but whose outcome or rule moves (`moved`), DESIGN §5.

use std::io::Read;

use serde::Serialize;

use super::Verdict;
use super::engine::{Decide, EngineError, Policy};
use super::replay::{Decided, ReplayError, Side, judge, principal, replay};
use super::simulate::{UnreadableEntry, UnreadableLog};
use super::traffic::RecordedRequest;
use crate::input::Request;
use crate::jwt::TokenCache;
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
    /// For a line that differs: what its change lists.
    listed: Option<Listed>,
}

/// What a change lists beside the two verdicts.
struct Listed {
    method: String,
    url: String,
    principal: Option<String>,
    route: Option<String>,
}

/// Replays `input` against `base` and `head`, each verifying tokens with its own claims schema.
pub fn whatif<R: Read + Send>(
    input: R,
    base: (&Side<'_>, &Policy),
    head: (&Side<'_>, &Policy),
) -> Result<WhatifReport, ReplayError> {
    let ((base_side, base_policy), (head_side, head_policy)) = (base, head);
    // A worker's token caches, deciders, and the request it fills for each line.
    type Worker<'e> = (
        [TokenCache; 2],
        Box<dyn Decide + 'e>,
        Box<dyn Decide + 'e>,
        Request,
    );
    let make = || -> Result<Worker<'_>, EngineError> {
        Ok((
            Default::default(),
            base_side.engine.decider()?,
            head_side.engine.decider()?,
            Request::default(),
        ))
    };
    let work = |([cb, ch], b, h, request): &mut Worker<'_>, rec: RecordedRequest<'_>| {
        rec.fill(request);
        let token = rec.token.as_deref();
        let (jb, _) = judge(
            base_side.verifier,
            cb,
            (b.as_mut(), None),
            (token, rec.token_hint),
            request,
        )?;
        let (jh, _) = judge(
            head_side.verifier,
            ch,
            (h.as_mut(), None),
            (token, rec.token_hint),
            request,
        )?;
        let diff = if jb.is_allow() != jh.is_allow() {
            Diff::Changed
        } else if key(jb, &base_policy.rules) != key(jh, &head_policy.rules) {
            Diff::Moved
        } else {
            Diff::Same
        };
        let decided = |d: Decided| matches!(d, Decided::Policy(_));
        let listed = (diff != Diff::Same).then(|| {
            // The route under head when its token held there, else under base.
            let route = decided(jh)
                .then(|| h.last_route(request))
                .flatten()
                .and_then(|i| head_policy.route_label(i))
                .or_else(|| {
                    decided(jb)
                        .then(|| b.last_route(request))
                        .flatten()
                        .and_then(|i| base_policy.route_label(i))
                });
            Listed {
                // §5: as recorded in the line (the policies saw it normalised).
                method: rec.method.into_owned(),
                url: rec.url.into_owned(),
                principal: principal(head_side.verifier, ch, token, request.time)
                    .or_else(|| principal(base_side.verifier, cb, token, request.time))
                    .map(|p| p.to_string()),
                route,
            }
        });
        Ok(Compared {
            base: jb,
            head: jh,
            diff,
            listed,
        })
    };
    let mut r = WhatifReport::default();
    let mut unreadable = UnreadableLog::default();
    let known = |([cb, ch], ..): &Worker<'_>, raw: &str| {
        cb.knows_plain(raw).or_else(|| ch.knows_plain(raw))
    };
    let share = |workers: &mut [Worker<'_>]| {
        let (vb, vh) = (base_side.verifier, head_side.verifier);
        if std::ptr::eq(vb, vh) {
            vb.share(
                workers
                    .iter_mut()
                    .flat_map(|(caches, ..)| caches.iter_mut()),
            );
        } else {
            vb.share(workers.iter_mut().map(|([cb, _], ..)| cb));
            vh.share(workers.iter_mut().map(|([_, ch], ..)| ch));
        }
    };
    replay(input, (make, known, share), work, |line, result| {
        r.total += 1;
        match result {
            Err(u) => unreadable.add(&u),
            Ok(Compared {
                base,
                head,
                diff,
                listed: Some(listed),
            }) => {
                let change = Change {
                    line,
                    method: listed.method,
                    url: listed.url,
                    principal: listed.principal,
                    base: base.verdict(&base_policy.rules),
                    head: head.verdict(&head_policy.rules),
                    route: listed.route,
                };
                if diff == Diff::Moved {
                    r.unchanged += 1;
                    r.rule_changes += 1;
                    r.moved.push(change);
                } else {
                    r.changed += 1;
                    if head.is_allow() {
                        r.deny_to_allow += 1;
                    } else {
                        r.allow_to_deny += 1;
                    }
                    r.changes.push(change);
                }
            }
            Ok(_) => r.unchanged += 1,
        }
    })?;
    r.unreadable_lines = unreadable.count;
    r.unreadable = unreadable.listed;
    Ok(r)
}
