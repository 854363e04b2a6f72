//! `simulate`: replays traffic against one policy and counts decisions (DESIGN §5), optionally
//! cross-checking every decision against a second engine.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;

use serde::Serialize;

use super::Verdict;
use super::engine::{Decide, Engine, EngineError, Policy};
use super::replay::{Decided, ReplayError, Side, judge, replay};
use super::traffic::{RecordedRequest, Unreadable};
use crate::input::Request;
use crate::jwt::TokenCache;

/// How many unreadable lines a report lists (all are counted).
pub const MAX_LISTED_UNREADABLE: usize = 1_000;

/// An unreadable line as reports list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableEntry {
    pub line: u64,
    pub error: String,
    /// A short snake_case name of why (`not_json`, `bad_time`, ...).
    pub kind: &'static str,
}

impl From<&Unreadable> for UnreadableEntry {
    fn from(u: &Unreadable) -> Self {
        UnreadableEntry {
            line: u.line,
            error: u.error.clone(),
            kind: u.kind.as_str(),
        }
    }
}

/// Unreadable lines: all counted, the first [`MAX_LISTED_UNREADABLE`] listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnreadableLog {
    pub count: u64,
    pub listed: Vec<UnreadableEntry>,
}

impl UnreadableLog {
    pub fn add(&mut self, u: &Unreadable) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED_UNREADABLE {
            self.listed.push(u.into());
        }
    }
}

/// The `simulate --format json` object of DESIGN §5, members in its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimulateReport {
    /// Lines read.
    pub total: u64,
    pub allow: u64,
    pub deny: u64,
    /// Per outcome name, `invalid_token:REASON` included; zeros left out.
    pub by_outcome: BTreeMap<String, u64>,
    /// Per reported rule name (rules sharing a name count together).
    pub by_rule: BTreeMap<String, u64>,
    pub unreadable_lines: u64,
    /// The first 1,000 unreadable lines.
    pub unreadable: Vec<UnreadableEntry>,
}

/// Decisions counted by kind (cheap to update per line; named once at the end).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    counts: HashMap<Decided, u64, BuildHasherDefault<WordHasher>>,
    pub unreadable: UnreadableLog,
}

/// Hashes the few small integers a [`Decided`] is made of: a multiplication and a rotation per
/// integer (the keys are a policy's outcomes and rules, not input to fear).
#[derive(Debug, Default)]
struct WordHasher(u64);

impl WordHasher {
    fn mix(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.mix(u64::from(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.mix(n as u64);
    }
}

impl Tally {
    pub fn add(&mut self, d: Decided) {
        *self.counts.entry(d).or_insert(0) += 1;
    }

    /// The report, naming rules from `policy`'s rule table.
    pub fn report(&self, policy: &Policy) -> SimulateReport {
        let mut r = SimulateReport {
            total: self.unreadable.count,
            allow: 0,
            deny: 0,
            by_outcome: BTreeMap::new(),
            by_rule: BTreeMap::new(),
            unreadable_lines: self.unreadable.count,
            unreadable: self.unreadable.listed.clone(),
        };
        for (d, n) in &self.counts {
            r.total += n;
            if d.is_allow() {
                r.allow += n;
            } else {
                r.deny += n;
            }
            let v = d.verdict(&policy.rules);
            *r.by_outcome.entry(v.outcome).or_insert(0) += n;
            if let Some(rule) = v.rule {
                *r.by_rule.entry(rule).or_insert(0) += n;
            }
        }
        r
    }
}

/// One line's result, as `simulate` hands it to its caller (for per-line listings).
#[derive(Debug, Clone, Copy)]
pub enum LineResult<'a> {
    Decided(u64, Decided),
    Unreadable(&'a Unreadable),
}

/// The first line where the two engines of `--cross-check` disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub line: u64,
    /// The decision of the engine the report counts.
    pub main: Verdict,
    /// The decision of the engine it was checked against.
    pub other: Verdict,
}

/// What `simulate` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulated {
    pub report: SimulateReport,
    /// With a cross-check engine: the first line where the two disagree.
    pub disagreement: Option<Disagreement>,
}

/// Replays `input` against one policy: every line verified at its recorded time and decided by
/// `side.engine` (and, when given, by `cross` too, to compare). `on_line` sees every line in order.
pub fn simulate<R: Read + Send>(
    input: R,
    side: &Side<'_>,
    policy: &Policy,
    cross: Option<&dyn Engine>,
    mut on_line: impl FnMut(LineResult<'_>),
) -> Result<Simulated, ReplayError> {
    // A worker's token cache, deciders, and the request it fills for each line.
    type Worker<'e> = (
        TokenCache,
        Box<dyn Decide + 'e>,
        Option<Box<dyn Decide + 'e>>,
        Request,
    );
    let make = || -> Result<Worker<'_>, EngineError> {
        Ok((
            TokenCache::new(),
            side.engine.decider()?,
            cross.map(|c| c.decider()).transpose()?,
            Request::default(),
        ))
    };
    let work = |(cache, main, other, request): &mut Worker<'_>, rec: RecordedRequest<'_>| {
        rec.fill(request);
        judge(
            side.verifier,
            cache,
            (main.as_mut(), other.as_deref_mut()),
            (rec.token.as_deref(), rec.token_hint),
            request,
        )
    };
    let mut tally = Tally::default();
    let mut disagreement = None;
    let known = |(cache, ..): &Worker<'_>, raw: &str| cache.knows_plain(raw);
    let share = |workers: &mut [Worker<'_>]| {
        side.verifier
            .share(workers.iter_mut().map(|(cache, ..)| cache));
    };
    replay(
        input,
        (make, known, share),
        work,
        |line, result| match result {
            Ok((d, other)) => {
                tally.add(d);
                on_line(LineResult::Decided(line, d));
                if let Some(o) = other
                    && o != d
                    && disagreement.is_none()
                {
                    disagreement = Some(Disagreement {
                        line,
                        main: d.verdict(&policy.rules),
                        other: o.verdict(&policy.rules),
                    });
                }
            }
            Err(u) => {
                tally.unreadable.add(&u);
                on_line(LineResult::Unreadable(&u));
            }
        },
    )?;
    Ok(Simulated {
        report: tally.report(policy),
        disagreement,
    })
}
