//! The replay engine: streams recorded traffic in chunks, verifies each token at its recorded time and
//! decides each request in parallel, handing results back in line order.

use std::io::Read;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;

use super::Verdict;
use super::engine::{Decide, Engine, EngineError};
use super::traffic::{Batch, BatchReader, RecordedRequest, Unreadable};
use crate::input::Request;
use crate::jwt::{Reason, TokenCache, TokenHint, Verifier};
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

/// Verifies `token` at the request's recorded time (through the worker's `cache`); when it holds,
/// decides the request with the token's claims by `decider`, and by `also` when given (the two
/// answers of `--cross-check`); a token failure is the answer of both. The request's own claims
/// are not read.
pub fn judge<'d>(
    verifier: &Verifier,
    cache: &mut TokenCache,
    (decider, also): (&mut (dyn Decide + 'd), Option<&mut (dyn Decide + 'd)>),
    (token, hint): (Option<&str>, Option<TokenHint>),
    request: &Request,
) -> Result<(Decided, Option<Decided>), EngineError> {
    match verifier.verify_claims(cache, token, hint, request.time) {
        Ok((claims, encoding)) => {
            let main = Decided::Policy(decider.decide_with(request, claims, encoding)?);
            let also = match also {
                Some(a) => Some(Decided::Policy(a.decide_with(request, claims, encoding)?)),
                None => None,
            };
            Ok((main, also))
        }
        Err(reason) => Ok((Decided::Token(reason), also.map(|_| Decided::Token(reason)))),
    }
}

/// The token's principal (its `email`, else `common_name`, else `sub`) when it holds at `now`;
/// after [`judge`] on the same cache this is a cache hit. Asked only for the lines a report lists,
/// so that deciding a line touches nothing it does not need.
pub fn principal(
    verifier: &Verifier,
    cache: &mut TokenCache,
    token: Option<&str>,
    now: i64,
) -> Option<Arc<str>> {
    verifier
        .verify_cached(cache, token, now)
        .ok()?
        .principal
        .clone()
}

/// Why a replay stopped before the end of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Reading the traffic failed.
    #[error("cannot read the traffic at line {}: {}", .0.line, .0.error)]
    Io(Unreadable),
    /// An engine failed on a line (a module trapped, or answered no decision): the first such
    /// line of the traffic, whatever the order the workers met them in.
    #[error("line {line} could not be decided: {error}")]
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

/// Reads batches of lines on a thread of its own, so that reading overlaps parsing and deciding;
/// batches done with come back on `used` to be filled again.
fn read_batches<R: Read>(input: R, tx: SyncSender<Batch>, used: Receiver<Batch>) {
    let mut reader = BatchReader::new(input);
    loop {
        while let Ok(batch) = used.try_recv() {
            reader.recycle(batch);
        }
        let batch = reader.next_batch(CHUNK_LINES);
        // Not `batch.len() < CHUNK_LINES`: a batch of long lines is cut short by its bytes.
        let last = reader.is_done();
        if batch.is_empty() || tx.send(batch).is_err() || last {
            return;
        }
    }
}

/// Replays `input` line by line.
///
/// `make` builds one worker's state (its deciders and token caches); `known` tells from a worker's
/// state which tokens are plain already (see [`Batch::parse_knowing`]); `share` is given all the
/// workers' states between chunks, to pool what their caches learnt; `work` turns a readable line into a
/// result on a worker thread (the line is the worker's to keep or drop); `sink` receives every
/// line's number in order, with its result or why it is unreadable. An I/O error while reading,
/// or an engine failure, stops the replay.
pub fn replay<R, S, T, M, N, P, W, K>(
    input: R,
    (make, known, share): (M, N, P),
    work: W,
    mut sink: K,
) -> Result<(), ReplayError>
where
    R: Read + Send,
    S: Send,
    T: Send,
    M: Fn() -> Result<S, EngineError> + Sync,
    N: Fn(&S, &str) -> Option<TokenHint> + Sync,
    P: Fn(&mut [S]),
    W: Fn(&mut S, RecordedRequest) -> Result<T, EngineError> + Sync,
    K: FnMut(u64, Result<T, Unreadable>),
{
    let pool = Pool {
        free: Mutex::new(Vec::new()),
        make,
    };
    let threads = rayon::current_num_threads().max(1);
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Batch>(2);
        let (used_tx, used) = channel::<Batch>();
        scope.spawn(move || read_batches(input, tx, used));
        consume(
            &rx,
            &used_tx,
            &pool,
            threads,
            (&known, &share, &work),
            &mut sink,
        )
        // Returning drops `rx`: a reader still sending stops.
    })
}

fn consume<S, T, M, N, P, W, K>(
    rx: &Receiver<Batch>,
    used: &Sender<Batch>,
    pool: &Pool<S, M>,
    threads: usize,
    (known, share, work): (&N, &P, &W),
    sink: &mut K,
) -> Result<(), ReplayError>
where
    S: Send,
    T: Send,
    M: Fn() -> Result<S, EngineError> + Sync,
    N: Fn(&S, &str) -> Option<TokenHint> + Sync,
    P: Fn(&mut [S]),
    W: Fn(&mut S, RecordedRequest) -> Result<T, EngineError> + Sync,
    K: FnMut(u64, Result<T, Unreadable>),
{
    // A chunk's results are handed to `sink` while the workers decide the next chunk.
    let mut pending: Results<T> = Vec::new();
    for batch in rx {
        let mut decided = None;
        rayon::in_place_scope(|scope| {
            scope.spawn(|_| decided = Some(decide_batch(&batch, pool, threads, (known, work))));
            drain(&mut pending, sink);
        });
        pending = decided.unwrap_or_else(|| Ok(Vec::new()))?;
        // Every worker's state is back in the pool: their caches meet.
        share(&mut pool.free.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(u) = batch.failed {
            drain(&mut pending, sink);
            return Err(ReplayError::Io(u));
        }
        // The reader may have stopped: then the batch is simply dropped.
        let _ = used.send(batch);
    }
    drain(&mut pending, sink);
    Ok(())
}

/// A chunk's results, a list per part, in line order.
type Results<T> = Vec<Vec<(u64, Result<T, Unreadable>)>>;

fn drain<T>(results: &mut Results<T>, sink: &mut impl FnMut(u64, Result<T, Unreadable>)) {
    for (line, result) in results.drain(..).flatten() {
        sink(line, result);
    }
}

/// Decides a chunk's lines on the thread pool, in parts, each part with a worker's state from
/// `pool`.
fn decide_batch<S, T, M, N, W>(
    batch: &Batch,
    pool: &Pool<S, M>,
    threads: usize,
    (known, work): (&N, &W),
) -> Result<Results<T>, ReplayError>
where
    S: Send,
    T: Send,
    M: Fn() -> Result<S, EngineError> + Sync,
    N: Fn(&S, &str) -> Option<TokenHint> + Sync,
    W: Fn(&mut S, RecordedRequest) -> Result<T, EngineError> + Sync,
{
    // Several parts per thread, so that a slow part (new tokens to verify) does not leave
    // the other threads idle.
    let per_worker = batch.len().div_ceil(threads * 8).max(1);
    let parts: Vec<std::ops::Range<usize>> = (0..batch.len())
        .step_by(per_worker)
        .map(|start| start..batch.len().min(start + per_worker))
        .collect();
    parts
        .into_par_iter()
        .map(|part| {
            let mut state = pool.take().map_err(|error| ReplayError::Engine {
                line: batch.line(part.start),
                error,
            })?;
            let out = part
                .map(|i| {
                    let line = batch.line(i);
                    match batch.parse_knowing(i, &|raw| known(&state, raw)) {
                        Ok(rec) => match work(&mut state, rec) {
                            Ok(t) => Ok((line, Ok(t))),
                            Err(error) => Err(ReplayError::Engine { line, error }),
                        },
                        Err(u) => Ok((line, Err(u))),
                    }
                })
                .collect::<Result<Vec<_>, _>>();
            pool.give(state);
            out
        })
        .collect::<Vec<_>>()
        .into_iter()
        // The first part that failed, in line order: the same line on every run.
        .collect()
}
