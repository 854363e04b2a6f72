//! The replay engine: streams recorded traffic in chunks, verifies each token at its recorded time and
//! decides each request in parallel, handing results back in line order.

use std::io::BufRead;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use super::Verdict;
use super::engine::{Decide, Engine, EngineError};
use super::traffic::{RecordedRequest, TrafficReader, Unreadable, UnreadableKind};
use crate::input::Request;
use crate::jwt::{Reason, Verifier};
use crate::wasm::abi::{Decision, Outcome};

/// Lines handed to the workers at a time.
pub const CHUNK_LINES: usize = 4_096;

/// How a request was decided: refused before the policy (a token failure) or by the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decided {
    /// `invalid_token:REASON`.
    Token(Reason),
    /// The policy's decision.
    Policy(Decision),
}

impl Decided {
    pub fn is_allow(self) -> bool {
        matches!(self, Decided::Policy(d) if d.outcome == Outcome::Allow)
    }

    /// The verdict as reports print it, naming the rule from the policy's rule table.
    pub fn verdict(self, rules: &[String]) -> Verdict {
        match self {
            Decided::Token(r) => Verdict::invalid_token(r),
            Decided::Policy(d) => Verdict::of(d, rules),
        }
    }
}

/// One side of a replay: how tokens are verified and requests decided.
pub struct Side<'a> {
    pub verifier: &'a Verifier,
    pub engine: &'a dyn Engine,
}

/// A request decided on one side, with the token's principal when the token was valid there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub decided: Decided,
    /// The verified request (`None` when the token failed).
    pub request: Option<Request>,
    /// The token's `email`, else `common_name`, else `sub` (`None` when the token failed).
    pub principal: Option<String>,
}

/// Verifies the token of `rec` at its recorded time, then decides the request with `decider`.
pub fn judge(
    verifier: &Verifier,
    decider: &mut dyn Decide,
    rec: &RecordedRequest,
) -> Result<Judged, EngineError> {
    let verified = match verifier.verify(rec.token.as_deref(), rec.time) {
        Ok(v) => v,
        Err(reason) => {
            return Ok(Judged {
                decided: Decided::Token(reason),
                request: None,
                principal: None,
            });
        }
    };
    let request = request_of(rec, verified.claims);
    let decision = decider.decide(&request)?;
    Ok(Judged {
        decided: Decided::Policy(decision),
        request: Some(request),
        principal: verified.principal,
    })
}

/// The request the policy sees: method as recorded, host and path from the URL, the typed claims.
pub fn request_of(rec: &RecordedRequest, claims: crate::input::Claims) -> Request {
    Request {
        method: rec.method.clone(),
        host: rec.parsed.host.clone(),
        path: rec.parsed.path.clone(),
        time: rec.time,
        ip: rec.ip,
        country: rec.country.clone(),
        claims,
    }
}

/// Why a replay stopped before the end of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Reading the traffic failed.
    #[error("cannot read the traffic at line {}: {}", .0.line, .0.error)]
    Io(Unreadable),
    /// An engine failed (a module trapped): an internal error.
    #[error("internal error on line {line}: {error}")]
    Engine { line: u64, error: EngineError },
}

/// Per-thread state (deciders), made on demand and reused across chunks.
struct Pool<S, F> {
    free: Mutex<Vec<S>>,
    make: F,
}

impl<S, F: Fn() -> Result<S, EngineError>> Pool<S, F> {
    fn take(&self) -> Result<S, EngineError> {
        let popped = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match popped {
            Some(s) => Ok(s),
            None => (self.make)(),
        }
    }

    fn give(&self, s: S) {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(s);
    }
}

type Item = Result<RecordedRequest, Unreadable>;

/// Reads chunks of lines on a thread of its own, so that reading overlaps deciding.
fn read_chunks<R: BufRead>(input: R, tx: std::sync::mpsc::SyncSender<Vec<Item>>) {
    let mut reader = TrafficReader::new(input);
    loop {
        let chunk: Vec<Item> = reader.by_ref().take(CHUNK_LINES).collect();
        if chunk.is_empty() || tx.send(chunk).is_err() {
            return;
        }
    }
}

/// Replays `input` line by line.
///
/// `make` builds one worker's state (its deciders); `work` turns a readable line into a result on
/// a worker thread; `sink` receives every line in order, readable (with its result) or not. An I/O
/// error while reading, or an engine failure, stops the replay.
pub fn replay<R, S, T, M, W, K>(input: R, make: M, work: W, mut sink: K) -> Result<(), ReplayError>
where
    R: BufRead + Send,
    S: Send,
    T: Send,
    M: Fn() -> Result<S, EngineError> + Sync,
    W: Fn(&mut S, &RecordedRequest) -> Result<T, EngineError> + Sync,
    K: FnMut(Result<(&RecordedRequest, T), Unreadable>),
{
    let pool = Pool {
        free: Mutex::new(Vec::new()),
        make,
    };
    let threads = rayon::current_num_threads().max(1);
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<Item>>(2);
        scope.spawn(move || read_chunks(input, tx));
        consume(&rx, &pool, threads, &work, &mut sink)
        // Returning drops `rx`: a reader still sending stops.
    })
}

fn consume<S, T, M, W, K>(
    rx: &Receiver<Vec<Item>>,
    pool: &Pool<S, M>,
    threads: usize,
    work: &W,
    sink: &mut K,
) -> Result<(), ReplayError>
where
    S: Send,
    T: Send,
    M: Fn() -> Result<S, EngineError> + Sync,
    W: Fn(&mut S, &RecordedRequest) -> Result<T, EngineError> + Sync,
    K: FnMut(Result<(&RecordedRequest, T), Unreadable>),
{
    for chunk in rx {
        let per_worker = chunk.len().div_ceil(threads).max(1);
        let results: Vec<Vec<Option<T>>> = chunk
            .par_chunks(per_worker)
            .map(|part| {
                let mut state = pool.take().map_err(|error| ReplayError::Engine {
                    line: part.first().map_or(0, line_of),
                    error,
                })?;
                let out =
                    part.iter()
                        .map(|item| match item {
                            Ok(rec) => work(&mut state, rec).map(Some).map_err(|error| {
                                ReplayError::Engine {
                                    line: rec.line,
                                    error,
                                }
                            }),
                            Err(_) => Ok(None),
                        })
                        .collect::<Result<Vec<_>, _>>();
                pool.give(state);
                out
            })
            .collect::<Result<_, _>>()?;
        for (item, result) in chunk.into_iter().zip(results.into_iter().flatten()) {
            match (item, result) {
                (Ok(rec), Some(t)) => sink(Ok((&rec, t))),
                (Err(u), _) if u.kind == UnreadableKind::Io => return Err(ReplayError::Io(u)),
                (Err(u), _) => sink(Err(u)),
                (Ok(rec), None) => {
                    return Err(ReplayError::Engine {
                        line: rec.line,
                        error: EngineError("a line was not decided".into()),
                    });
                }
            }
        }
    }
    Ok(())
}

fn line_of(item: &Item) -> u64 {
    match item {
        Ok(r) => r.line,
        Err(u) => u.line,
    }
}
