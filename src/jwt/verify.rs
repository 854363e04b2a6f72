//! The verifier: the §4 checks in order, with each distinct token's signature checked once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::crypto::CryptoProvider;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::claims::{principal_of, type_claims};
use super::jwks::Key;
use super::{Jwks, LEEWAY_SECONDS, MAX_TOKEN_BYTES, Profile, Reason, Verified};
use crate::input::{ClaimDecl, Claims};
use crate::wasm::ClaimsEncoding;

/// What a token's time-independent checks found: all but `exp` and `nbf`, which depend on the
/// request's time and are checked on every call against the bounds kept here.
#[derive(Debug)]
struct Checked {
    exp: Option<Value>,
    nbf: Option<Value>,
    /// `aud`, `iss` and the claims schema, checked once: the token's verdict once its time holds.
    rest: Result<Verified, Reason>,
}

impl Checked {
    /// The verdict at `now`: `expired`, `not_yet_valid`, else what the other checks found.
    fn at(&self, now: i64) -> Result<&Verified, Reason> {
        if self.exp.as_ref().is_some_and(|exp| expired(exp, now)) {
            return Err(Reason::Expired);
        }
        if self.nbf.as_ref().is_some_and(|nbf| not_yet_valid(nbf, now)) {
            return Err(Reason::NotYetValid);
        }
        self.rest.as_ref().map_err(|r| *r)
    }
}

/// A worker's cache of verdicts (see [`Verifier::verify_cached`]): what all workers had learnt
/// when it last met the others ([`Verifier::share`]), read only and held once for all of them,
/// and what it learnt itself since.
#[derive(Debug, Default)]
pub struct TokenCache {
    shared: Option<Arc<Tier>>,
    own: Tier,
}

/// Verdicts by token, bounded in entries and in token bytes, emptied when full.
#[derive(Debug)]
struct Tier {
    /// Token → its place in `entries` (one lookup per request).
    index: HashMap<Box<str>, usize, TailHash>,
    entries: Vec<Entry>,
    bytes: usize,
    /// Names this tier's present contents: drawn afresh when the tier is made, copied or
    /// emptied, never twice in a process, so that a [`TokenHint`] speaks only to the tier that
    /// gave it.
    generation: u64,
}

impl Default for Tier {
    fn default() -> Self {
        Tier {
            index: HashMap::default(),
            entries: Vec::new(),
            bytes: 0,
            generation: next_generation(),
        }
    }
}

impl Clone for Tier {
    /// A copy under a generation of its own: the two may grow apart.
    fn clone(&self) -> Self {
        Tier {
            index: self.index.clone(),
            entries: self.entries.clone(),
            bytes: self.bytes,
            generation: next_generation(),
        }
    }
}

impl Tier {
    /// The token bytes a tier holds at most.
    const MAX_BYTES: usize = 16 << 20;

    fn place(&self, token: &str) -> Option<usize> {
        self.index.get(token).copied()
    }

    fn knows_plain(&self, token: &str) -> Option<TokenHint> {
        let &index = self.index.get(token)?;
        self.entries
            .get(index)
            .is_some_and(|e| e.plain)
            .then_some(TokenHint {
                generation: self.generation,
                index,
                len: token.len(),
            })
    }

    /// The entry a hint names, when it is this tier's and names a token as long as `token`
    /// (the caller's token is the one the hint was given for; the length is a sanity check).
    fn hinted(&self, hint: TokenHint, token: &str) -> Option<usize> {
        (hint.generation == self.generation
            && hint.len == token.len()
            && hint.index < self.entries.len())
        .then_some(hint.index)
    }

    /// Keeps `entry` for `token`, emptying the tier first when it is full.
    fn insert(&mut self, token: Box<str>, entry: Entry) {
        if self.bytes + token.len() > Self::MAX_BYTES
            || self.entries.len() >= Verifier::DEFAULT_CACHE_CAPACITY
        {
            self.index.clear();
            self.entries.clear();
            self.bytes = 0;
            self.generation = next_generation();
        }
        self.bytes += token.len();
        self.index.insert(token, self.entries.len());
        self.entries.push(entry);
    }

    /// Takes in what `other` holds and this tier does not.
    fn absorb(&mut self, other: Tier) {
        let mut entries: Vec<Option<Entry>> = other.entries.into_iter().map(Some).collect();
        for (token, i) in other.index {
            if !self.index.contains_key(&token)
                && let Some(entry) = entries.get_mut(i).and_then(Option::take)
            {
                self.insert(token, entry);
            }
        }
    }
}

/// Whether `token` has no quote, backslash or control character (see [`Entry::plain`]): 64 bytes
/// at a time, without an early exit inside a block, so that the test compiles to vector compares.
fn stands_for_itself(token: &str) -> bool {
    token.as_bytes().chunks(64).all(|block| {
        block.iter().fold(0u8, |hits, &b| {
            hits | u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\')
        }) == 0
    })
}

fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Where a [`TokenCache`] holds a token it was asked about ([`TokenCache::knows_plain`]), so that
/// verifying the same token right after ([`Verifier::verify_claims`]) needs no second lookup.
/// It names a part of the cache (what the cache learnt itself, or the pool it shares) as that
/// part is now: a cache that does not hold that part, or holds it emptied or pooled since,
/// ignores it (caches sharing one pool heed each other's hints on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHint {
    generation: u64,
    index: usize,
    len: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    verdict: Result<Arc<Checked>, Reason>,
    /// The token has no quote, backslash or control character: written in a JSON string, it
    /// stands for itself (see [`TokenCache::knows_plain`]).
    plain: bool,
    /// For a token that holds, with integer `exp` and `nbf` (or none): the request times at which
    /// it holds, and its claims, kept here so that a request inside them touches nothing else.
    window: Option<Window>,
}

#[derive(Debug, Clone)]
struct Window {
    /// `nbf - 60`: earlier is `not_yet_valid`.
    from: i64,
    /// `exp + 60`: later is `expired`.
    until: i64,
    claims: Arc<Claims>,
    /// The place for the claims' encoding, beside them (see [`ClaimsEncoding`]).
    encoding: ClaimsEncoding,
}

impl Window {
    /// The window of a verdict whose time bounds are integers (or absent, or not numbers, which
    /// bound nothing); `None` for a token that does not hold, or a bound written as a fraction
    /// or beyond `i64`, which [`Checked::at`] then judges.
    fn of(checked: &Checked) -> Option<Window> {
        let verified = checked.rest.as_ref().ok()?;
        // Integers a double holds exactly, where the window and [`expired`] agree.
        let bound = |v: &Option<Value>, leeway: i64| match v {
            Some(n @ Value::Number(_)) => n
                .as_i64()
                .filter(|n| n.unsigned_abs() <= 1 << 53)
                .map(|n| Some(n + leeway)),
            _ => Some(None),
        };
        Some(Window {
            from: bound(&checked.nbf, -LEEWAY_SECONDS)?.unwrap_or(i64::MIN),
            until: bound(&checked.exp, LEEWAY_SECONDS)?.unwrap_or(i64::MAX),
            claims: Arc::clone(&verified.claims),
            encoding: ClaimsEncoding::default(),
        })
    }
}

impl TokenCache {
    /// The token bytes each part of a worker's cache holds at most.
    pub const MAX_BYTES: usize = Tier::MAX_BYTES;

    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `token` is in the cache and plain (where: `Some`): a traffic reader that finds
    /// these bytes between two quotes needs not check them for escapes and control characters
    /// again.
    pub fn knows_plain(&self, token: &str) -> Option<TokenHint> {
        self.shared
            .as_ref()
            .and_then(|s| s.knows_plain(token))
            .or_else(|| self.own.knows_plain(token))
    }

    /// Where `token`'s entry is: where `hint` says when it is one of this cache's, else where a
    /// lookup finds it.
    fn locate(&self, token: &str, hint: Option<TokenHint>) -> Option<Place> {
        let shared = self.shared.as_deref();
        hint.and_then(|h| {
            shared
                .and_then(|s| s.hinted(h, token))
                .map(Place::Shared)
                .or_else(|| self.own.hinted(h, token).map(Place::Own))
        })
        .or_else(|| shared.and_then(|s| s.place(token)).map(Place::Shared))
        .or_else(|| self.own.place(token).map(Place::Own))
    }

    fn at(&self, place: Place) -> Option<&Entry> {
        match place {
            Place::Shared(i) => self.shared.as_deref()?.entries.get(i),
            Place::Own(i) => self.own.entries.get(i),
        }
    }
}

/// Where a [`TokenCache`] holds an entry.
#[derive(Debug, Clone, Copy)]
enum Place {
    Shared(usize),
    Own(usize),
}

/// Hashes a token by its last bytes (its signature), from a random seed, a word at a time;
/// lookups still compare whole tokens, so tokens alike at the end cost time, never a wrong
/// verdict.
#[derive(Debug, Clone)]
struct TailHash(u64);

impl Default for TailHash {
    fn default() -> Self {
        use std::hash::BuildHasher;
        TailHash(std::hash::RandomState::new().hash_one(0u8) | 1)
    }
}

/// How many trailing bytes of a token are hashed.
const TAIL: usize = 48;

impl std::hash::BuildHasher for TailHash {
    type Hasher = TailHasher;
    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0)
    }
}

struct TailHasher(u64);

impl std::hash::Hasher for TailHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        let tail = bytes
            .get(bytes.len().saturating_sub(TAIL)..)
            .unwrap_or(bytes);
        let mut words = tail.chunks_exact(8);
        for w in &mut words {
            let w = w.try_into().map(u64::from_le_bytes).unwrap_or(0);
            self.0 = (self.0 ^ w)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29);
        }
        for &b in words.remainder() {
            self.0 = (self.0 ^ u64::from(b))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .rotate_left(29);
        }
    }
    fn write_u8(&mut self, n: u8) {
        // `str` hashing ends with 0xff: nothing to add
        self.0 ^= u64::from(n);
    }
}

/// One shard of the cache: token SHA-256 → the time-independent verdict.
type Shard = Mutex<HashMap<[u8; 32], Result<Arc<Checked>, Reason>>>;

/// The number of cache shards; each has its own lock.
const SHARDS: usize = 16;

/// Verifies tokens under the §4 profile against a JWKS, a [`Profile`] and a claims schema.
///
/// What does not depend on the request's time (well-formedness, `alg`, `kid`
/// and the signature) is decided once per distinct token and remembered in a
/// bounded cache keyed by the token's SHA-256; `exp`, `nbf`, `aud`, `iss` and
/// the claims are checked on every call. `Verifier` is `Sync`: share one
/// across threads.
pub struct Verifier {
    jwks: Jwks,
    profile: Profile,
    schema: Vec<ClaimDecl>,
    shards: Vec<Shard>,
    shard_capacity: usize,
    /// What the workers' caches had learnt when they last met ([`Verifier::share`]).
    learnt: Mutex<Arc<Tier>>,
    signature_checks: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("jwks", &self.jwks)
            .field("profile", &self.profile)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// The default number of distinct tokens remembered.
    pub const DEFAULT_CACHE_CAPACITY: usize = 16_384;

    /// A verifier remembering up to [`Self::DEFAULT_CACHE_CAPACITY`] tokens.
    pub fn new(jwks: Jwks, profile: Profile, schema: Vec<ClaimDecl>) -> Self {
        Self::with_cache_capacity(jwks, profile, schema, Self::DEFAULT_CACHE_CAPACITY)
    }

    /// A verifier remembering about `capacity` distinct tokens (at least one per shard).
    pub fn with_cache_capacity(
        jwks: Jwks,
        profile: Profile,
        schema: Vec<ClaimDecl>,
        capacity: usize,
    ) -> Self {
        Verifier {
            jwks,
            profile,
            schema,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            learnt: Mutex::default(),
            signature_checks: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The profile this verifier checks.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The claims schema this verifier types claims by.
    pub fn schema(&self) -> &[ClaimDecl] {
        &self.schema
    }

    /// How many signatures were checked so far (cache misses that reached the
    /// signature check).
    pub fn signature_checks(&self) -> u64 {
        self.signature_checks.load(Ordering::Relaxed)
    }

    /// How many times a worker's cache did not hold a token it was asked for, nor did what the
    /// workers had learnt together: each went to the verdicts all threads share (a lock, the
    /// token's SHA-256), and to the signature check when no thread had met the token yet.
    pub fn cache_misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Pools what `caches` learnt since they last met: afterwards each holds what all of them
    /// hold (one copy for all, read only), and a worker's cache made later takes it up on its
    /// first miss. The pool is bounded as each cache is: one that would grow past the bounds
    /// starts over from what the caches bring. Call it when the workers are between tasks: a
    /// cache kept elsewhere meanwhile costs a copy of the pool, never a wrong verdict.
    pub fn share<'c>(&self, caches: impl IntoIterator<Item = &'c mut TokenCache>) {
        let mut caches: Vec<&mut TokenCache> = caches.into_iter().collect();
        for cache in &mut caches {
            // Let go of the pool, so that it grows in place rather than as a copy.
            cache.shared = None;
        }
        let mut learnt = lock(&self.learnt);
        let pool = Arc::make_mut(&mut learnt);
        for cache in &mut caches {
            pool.absorb(std::mem::take(&mut cache.own));
        }
        for cache in caches {
            cache.shared = Some(Arc::clone(&learnt));
        }
    }

    /// Verifies `token` at `now` (Unix seconds: the request's recorded time).
    ///
    /// `None` is `missing_token`; an empty token is `malformed`.
    pub fn verify(&self, token: Option<&str>, now: i64) -> Result<Verified, Reason> {
        let token = token.ok_or(Reason::MissingToken)?;
        self.intrinsic(token)?.at(now).cloned()
    }

    /// [`Self::verify`] through a worker's own [`TokenCache`]: a token seen before by this worker
    /// costs a lookup and the time checks.
    pub fn verify_cached<'c>(
        &self,
        cache: &'c mut TokenCache,
        token: Option<&str>,
        now: i64,
    ) -> Result<&'c Verified, Reason> {
        match &self.entry(cache, token, None)?.verdict {
            Ok(checked) => checked.at(now),
            Err(reason) => Err(*reason),
        }
    }

    /// The claims of [`Self::verify_cached`]'s verdict: what a replay decides with, given the hint
    /// the cache gave for this very token, if any (see [`TokenHint`]). A request inside the
    /// token's time window is answered from the cache entry alone, with the place kept beside
    /// the claims for their encoding.
    pub fn verify_claims<'c>(
        &self,
        cache: &'c mut TokenCache,
        token: Option<&str>,
        hint: Option<TokenHint>,
        now: i64,
    ) -> Result<(&'c Arc<Claims>, Option<&'c ClaimsEncoding>), Reason> {
        match self.entry(cache, token, hint)? {
            Entry {
                window: Some(w), ..
            } if w.from <= now && now <= w.until => Ok((&w.claims, Some(&w.encoding))),
            Entry {
                verdict: Ok(checked),
                ..
            } => checked.at(now).map(|v| (&v.claims, None)),
            Entry {
                verdict: Err(reason),
                ..
            } => Err(*reason),
        }
    }

    /// `token`'s entry in `cache`, made and kept there first when it holds none.
    fn entry<'c>(
        &self,
        cache: &'c mut TokenCache,
        token: Option<&str>,
        hint: Option<TokenHint>,
    ) -> Result<&'c Entry, Reason> {
        let token = token.ok_or(Reason::MissingToken)?;
        if token.len() > MAX_TOKEN_BYTES {
            // Refused before any work, and never kept.
            return Err(Reason::Malformed);
        }
        let place = match cache.locate(token, hint) {
            Some(place) => place,
            None => {
                self.learn(cache, token);
                cache.locate(token, None).ok_or(Reason::Malformed)?
            }
        };
        cache.at(place).ok_or(Reason::Malformed)
    }

    /// Makes `cache` hold `token`: from what the workers learnt together when the cache has not
    /// taken that up yet, else from the verdicts all threads share, else by checking it.
    #[cold]
    fn learn(&self, cache: &mut TokenCache, token: &str) {
        {
            let learnt = lock(&self.learnt);
            if !cache
                .shared
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(s, &learnt))
            {
                cache.shared = Some(Arc::clone(&learnt));
                if learnt.place(token).is_some() {
                    return;
                }
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let verdict = self.intrinsic(token);
        cache.own.insert(
            token.into(),
            Entry {
                window: verdict.as_deref().ok().and_then(Window::of),
                verdict,
                plain: stands_for_itself(token),
            },
        );
    }

    /// Everything but the time checks, on a payload whose signature holds: `aud`, `iss`, then
    /// the claims schema (`claims_mismatch`).
    fn accept(&self, payload: Map<String, Value>) -> Checked {
        let (exp, nbf) = (payload.get("exp").cloned(), payload.get("nbf").cloned());
        let rest = self.audience_and_issuer(&payload).and_then(|()| {
            Ok(Verified {
                claims: Arc::new(type_claims(&payload, &self.schema)?),
                principal: principal_of(&payload).map(Arc::from),
            })
        });
        Checked { exp, nbf, rest }
    }

    /// `bad_audience`, then `bad_issuer`, when the profile names them.
    fn audience_and_issuer(&self, payload: &Map<String, Value>) -> Result<(), Reason> {
        if let Some(aud) = &self.profile.aud {
            let ok = match payload.get("aud") {
                Some(Value::String(s)) => s == aud,
                Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(aud)),
                _ => false,
            };
            if !ok {
                return Err(Reason::BadAudience);
            }
        }
        if let Some(iss) = &self.profile.iss
            && payload.get("iss").and_then(Value::as_str) != Some(iss.as_str())
        {
            return Err(Reason::BadIssuer);
        }
        Ok(())
    }

    /// The time-independent checks, through the verdicts all threads share.
    fn intrinsic(&self, token: &str) -> Result<Arc<Checked>, Reason> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Reason::Malformed);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let Some(shard) = self.shards.get(usize::from(digest[0]) % SHARDS) else {
            return self.check(token).map(|p| Arc::new(self.accept(p)));
        };
        if let Some(hit) = lock(shard).get(&digest) {
            return hit.clone();
        }
        // Checked without the lock held: two threads may check one token twice, never wrongly.
        let result = self.check(token).map(|p| Arc::new(self.accept(p)));
        let mut map = lock(shard);
        if map.len() >= self.shard_capacity {
            map.clear();
        }
        map.insert(digest, result.clone());
        result
    }

    /// `malformed`, `alg_not_allowed`, `unknown_kid`, `bad_signature`, in that order.
    fn check(&self, token: &str) -> Result<Map<String, Value>, Reason> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Reason::Malformed);
        };
        let header = json_object(header_b64)?;
        let payload = json_object(payload_b64)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| Reason::Malformed)?;

        let alg = match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => Algorithm::RS256,
            Some("ES256") => Algorithm::ES256,
            _ => return Err(Reason::AlgNotAllowed),
        };
        let key = header
            .get("kid")
            .and_then(Value::as_str)
            .and_then(|kid| self.jwks.get(kid))
            .ok_or(Reason::UnknownKid)?;
        let key = match (alg, key) {
            (Algorithm::RS256, Key::Rsa(key)) | (Algorithm::ES256, Key::EcP256(key)) => key,
            _ => return Err(Reason::BadSignature),
        };

        self.signature_checks.fetch_add(1, Ordering::Relaxed);
        let signing_input = token
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(Reason::Malformed)?;
        let provider = CryptoProvider::try_get_default().ok_or(Reason::BadSignature)?;
        let verifier = (provider.verifier_factory)(&alg, key).map_err(|_| Reason::BadSignature)?;
        verifier
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|_| Reason::BadSignature)?;
        Ok(payload)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves a cache that is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A base64url segment holding a JSON object, else `malformed`.
fn json_object(segment: &str) -> Result<Map<String, Value>, Reason> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Reason::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Reason::Malformed),
    }
}

/// `now > exp + 60`, for a numeric `exp` (a non-numeric one is left to `claims_mismatch`).
///
/// Computed on the JSON number as a double, as the Worker computes it (JavaScript reads every JSON
/// number so): exact for any integer up to 2^53, so for every time a recording can hold.
fn expired(exp: &Value, now: i64) -> bool {
    exp.as_f64()
        .is_some_and(|exp| (now as f64) > exp + LEEWAY_SECONDS as f64)
}

/// `now < nbf - 60`, for a numeric `nbf` (see [`expired`]).
fn not_yet_valid(nbf: &Value, now: i64) -> bool {
    nbf.as_f64()
        .is_some_and(|nbf| (now as f64) < nbf - LEEWAY_SECONDS as f64)
}
