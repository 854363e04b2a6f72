//! The wasmtime host: loads a module, checks it against ABI v1 and its manifest, and decides
//! requests with one reusable instance per thread.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use wasmtime::{Config, Engine, InstancePre, Linker, Memory, Module, Store, TypedFunc};

use super::abi::{self, Decision, Outcome, Sink};
use super::manifest::{Manifest, ManifestError};
use crate::input::{Claims, Request};
use crate::ir::{Slot, SlotSource, SlotType};

/// The module could not be loaded or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("the module does not compile: {0}")]
    Compile(String),
    #[error("the module imports `{0}`; an edgeward module has no imports")]
    Import(String),
    #[error("the module lacks the export `{0}`")]
    MissingExport(&'static str),
    #[error("the module speaks ABI {0}; this host speaks ABI 1")]
    AbiVersion(i32),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("the manifest names the unknown slot `{name}` of type `{ty}`")]
    UnknownSlot { name: String, ty: String },
    #[error("the module cannot be instantiated: {0}")]
    Instantiate(String),
    #[error("the module trapped: {0}")]
    Trap(String),
    #[error(
        "the module answered {0:#x}, which is no decision of ABI 1 under its manifest (an unknown \
         outcome, a rule the manifest does not name, or `allow` by no rule)"
    )]
    BadDecision(i64),
    #[error(
        "the module's input buffer ({capacity} bytes at {addr}, as its manifest's `input_capacity` \
         says) does not fit in its memory"
    )]
    InputOutsideMemory { addr: usize, capacity: usize },
}

/// How often the engine's epoch advances, and how many epochs one call into a module may run:
/// a module that does not return within about a second (a loop in code no edgeward build
/// writes) is stopped with a trap, never left to hang the replay.
const EPOCH: std::time::Duration = std::time::Duration::from_millis(10);
const CALL_EPOCHS: u64 = 100;

/// The engine modules are compiled with. A module read from a file may be anything, so its code
/// checks the engine's epoch (advanced by a thread of its own) in every function and loop and
/// stops at the deadline; one generated in this process from a checked policy only loops over
/// its input, so it runs without those checks (they cost 15-25 % of a decision).
fn engine(guarded: bool) -> Result<&'static Engine, HostError> {
    static GUARDED: OnceLock<Result<Engine, String>> = OnceLock::new();
    static GENERATED: OnceLock<Result<Engine, String>> = OnceLock::new();
    let cell = if guarded { &GUARDED } else { &GENERATED };
    cell.get_or_init(|| {
        if !guarded {
            return Engine::new(&Config::new()).map_err(|e| e.to_string());
        }
        {
            let mut config = Config::new();
            config.epoch_interruption(true);
            let engine = Engine::new(&config).map_err(|e| e.to_string())?;
            let ticking = engine.clone();
            std::thread::Builder::new()
                .name("edgeward-epoch".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(EPOCH);
                        ticking.increment_epoch();
                    }
                })
                .map_err(|e| e.to_string())?;
            Ok(engine)
        }
    })
    .as_ref()
    .map_err(|e| HostError::Compile(e.clone()))
}

/// The exports §3 pins; `edgeward_route`, which edgeward's modules add, is optional.
const EXPORTS: [&str; 4] = [
    "memory",
    "edgeward_abi_version",
    "edgeward_input",
    "edgeward_decide",
];

/// A compiled, checked module; share it (`&Compiled` is `Sync`) and make one [`Decider`] per thread.
pub struct Compiled {
    engine: Engine,
    module: Module,
    manifest: Manifest,
    slots: Vec<Slot>,
    /// Names the slot layout of this module's deciders (see [`ClaimsEncoding`]).
    layout: Arc<Layout>,
    pre: InstancePre<()>,
}

fn slot_from_manifest(name: &str, ty: &str, optional: bool) -> Result<Slot, HostError> {
    let unknown = || HostError::UnknownSlot {
        name: name.into(),
        ty: ty.into(),
    };
    let source = match name {
        "request.method" => SlotSource::Method,
        "request.host" => SlotSource::Host,
        "request.path" => SlotSource::Path,
        "request.time" => SlotSource::Time,
        "request.ip" => SlotSource::Ip,
        "request.country" => SlotSource::Country,
        _ => match name.strip_prefix("claims.") {
            Some(c) if !c.is_empty() => SlotSource::Claim(c.into()),
            _ => return Err(unknown()),
        },
    };
    let ty = match ty {
        "string" => SlotType::String,
        "set" => SlotType::Set,
        "int" => SlotType::Int,
        "bool" => SlotType::Bool,
        "ip" => SlotType::Ip,
        _ => return Err(unknown()),
    };
    Ok(Slot {
        name: name.into(),
        source,
        ty,
        optional,
    })
}

impl Compiled {
    /// Compiles module bytes with wasmtime (cranelift) and checks them against ABI v1. Every call
    /// into the module is stopped after about a second: the bytes may come from anywhere.
    pub fn from_bytes(bytes: &[u8]) -> Result<Compiled, HostError> {
        Self::load(bytes, true)
    }

    /// [`Compiled::from_bytes`] for bytes [`crate::wasm::compile`] just generated in this
    /// process: its code runs without the checks that bound a call's time (it only loops over
    /// its input).
    pub fn from_generated(bytes: &[u8]) -> Result<Compiled, HostError> {
        Self::load(bytes, false)
    }

    fn load(bytes: &[u8], guarded: bool) -> Result<Compiled, HostError> {
        let manifest = Manifest::from_module(bytes)?;
        if manifest.abi != abi::ABI_VERSION {
            return Err(HostError::AbiVersion(manifest.abi));
        }
        let slots = manifest
            .slots
            .iter()
            .map(|s| slot_from_manifest(&s.name, &s.ty, s.optional))
            .collect::<Result<Vec<_>, _>>()?;
        let engine = engine(guarded)?.clone();
        let module = Module::new(&engine, bytes).map_err(|e| HostError::Compile(e.to_string()))?;
        if let Some(i) = module.imports().next() {
            return Err(HostError::Import(format!("{}::{}", i.module(), i.name())));
        }
        for name in EXPORTS {
            if module.get_export(name).is_none() {
                return Err(HostError::MissingExport(name));
            }
        }
        let pre = Linker::new(&engine)
            .instantiate_pre(&module)
            .map_err(|e| HostError::Instantiate(e.to_string()))?;
        let c = Compiled {
            engine,
            module,
            manifest,
            slots,
            layout: Arc::new(Layout),
            pre,
        };
        // checks the export signatures and the ABI version the code reports
        let mut d = c.decider()?;
        d.store.set_epoch_deadline(CALL_EPOCHS);
        let v = d
            .abi
            .call(&mut d.store, ())
            .map_err(|e| HostError::Trap(e.to_string()))?;
        if v != abi::ABI_VERSION {
            return Err(HostError::AbiVersion(v));
        }
        Ok(c)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The input slots rebuilt from the manifest, in encoding order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// A fresh instance for one thread.
    pub fn decider(&self) -> Result<Decider, HostError> {
        let mut store = Store::new(&self.engine, ());
        // A start function runs during instantiation: bounded like any call.
        store.set_epoch_deadline(CALL_EPOCHS);
        let inst = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| HostError::Instantiate(e.to_string()))?;
        let memory = inst
            .get_memory(&mut store, "memory")
            .ok_or(HostError::MissingExport("memory"))?;
        let sig = |name: &'static str| move |_| HostError::MissingExport(name);
        let abi = inst
            .get_typed_func::<(), i32>(&mut store, "edgeward_abi_version")
            .map_err(sig("edgeward_abi_version"))?;
        let input = inst
            .get_typed_func::<i32, i32>(&mut store, "edgeward_input")
            .map_err(sig("edgeward_input"))?;
        let decide = inst
            .get_typed_func::<i32, i64>(&mut store, "edgeward_decide")
            .map_err(sig("edgeward_decide"))?;
        // Optional, as the Worker takes it: without it the route is the decisive rule's.
        let route = inst
            .get_typed_func::<(), i32>(&mut store, "edgeward_route")
            .ok();
        let capacity = self.manifest.input_capacity as usize;
        store.set_epoch_deadline(CALL_EPOCHS);
        let addr = input
            .call(&mut store, 0)
            .map_err(|e| HostError::Trap(e.to_string()))?;
        let input_addr = addr as u32 as usize;
        // Address 0 is the module refusing the input (§3): as in the Worker, which then answers
        // `bad_input`, no request is given to such a module.
        let capacity = if input_addr == 0 { 0 } else { capacity };
        if input_addr.saturating_add(capacity) > memory.data_size(&store) {
            return Err(HostError::InputOutsideMemory {
                addr: input_addr,
                capacity,
            });
        }
        Ok(Decider {
            store,
            memory,
            abi,
            decide,
            route,
            input_addr,
            capacity,
            layout: Arc::clone(&self.layout),
            slots: self.slots.clone(),
            steps: plan(&self.slots),
            claim_slots: self.slots.iter().filter(|s| s.is_claim()).count(),
            memo: HashMap::default(),
            called: false,
            rule_routes: self.manifest.rules.iter().map(|r| r.route).collect(),
            routes: self.manifest.routes.len(),
            last_rule: None,
        })
    }
}

/// One instance of a module, reused across calls (one per thread).
pub struct Decider {
    store: Store<()>,
    memory: Memory,
    abi: TypedFunc<(), i32>,
    decide: TypedFunc<i32, i64>,
    /// `edgeward_route`, when the module exports it (§3 does not ask for it).
    route: Option<TypedFunc<(), i32>>,
    input_addr: usize,
    capacity: usize,
    slots: Vec<Slot>,
    /// Names this module's slot layout: every decider of one [`Compiled`] holds the same.
    layout: Arc<Layout>,
    /// How an encoding is written, slot by slot: see [`Step`].
    steps: Vec<Step>,
    /// How many of `slots` are claims.
    claim_slots: usize,
    /// The claim slots of recent claims values, encoded: see [`ClaimsMemo`].
    memo: HashMap<usize, ClaimsMemo, AddressHash>,
    /// Whether the last decision came from the module (so `edgeward_route` speaks for it).
    called: bool,
    /// The route of each rule the manifest names (a decision naming another is no decision).
    rule_routes: Vec<Option<u32>>,
    /// How many routes the manifest names.
    routes: usize,
    /// The rule the last decision named.
    last_rule: Option<u32>,
}

/// What an encoding of claims depends on (see [`ClaimsEncoding`]), named by its address.
#[derive(Debug)]
struct Layout;

/// A place beside a claims value for the encoding of its claim slots: made by the first decider
/// that needs it and read after by every decider of the same module, on any thread, with no
/// lookup. Keep it beside the claims it was made for, and give it only with them.
#[derive(Debug, Default, Clone)]
pub struct ClaimsEncoding(OnceLock<SharedMemo>);

impl ClaimsEncoding {
    /// Whether a decider has made the encoding yet.
    pub fn is_made(&self) -> bool {
        self.0.get().is_some()
    }
}

#[derive(Debug, Clone)]
struct SharedMemo {
    /// The layout the bytes were encoded for (held, so that its address names it alone).
    layout: Arc<Layout>,
    bytes: MemoBytes,
}

/// The claim slots of one claims value, encoded once and reused by every request that shares the
/// value (a token's claims are shared by all its requests). Keyed by the value's address, which
/// cannot be reused while the memo holds the value; shared claims are never changed in place
/// ([`Request::claims_mut`] copies them).
struct ClaimsMemo {
    _claims: Arc<Claims>,
    /// Where each claim slot's encoding ends (a little-endian `u32` per claim slot, in slot
    /// order, counted from after them), then the encodings back to back.
    bytes: MemoBytes,
}

/// A memo's bytes: most claims encode in a few dozen bytes, kept in the memo table itself so
/// that a decision for claims not seen lately waits for one cache miss there, not two.
#[derive(Debug, Clone)]
enum MemoBytes {
    Inline { len: u8, bytes: [u8; INLINE_MEMO] },
    Heap(Box<[u8]>),
}

const INLINE_MEMO: usize = 112;

impl MemoBytes {
    fn new(all: &[u8]) -> MemoBytes {
        let mut bytes = [0u8; INLINE_MEMO];
        match (bytes.get_mut(..all.len()), u8::try_from(all.len())) {
            (Some(head), Ok(len)) => {
                head.copy_from_slice(all);
                MemoBytes::Inline { len, bytes }
            }
            _ => MemoBytes::Heap(all.into()),
        }
    }

    fn get(&self) -> &[u8] {
        match self {
            MemoBytes::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            MemoBytes::Heap(b) => b,
        }
    }
}

impl ClaimsMemo {
    fn new(slots: &[Slot], claims: &Arc<Claims>) -> ClaimsMemo {
        ClaimsMemo {
            _claims: Arc::clone(claims),
            bytes: Self::bytes(slots, claims),
        }
    }

    fn bytes(slots: &[Slot], claims: &Claims) -> MemoBytes {
        let mut ends = Vec::new();
        let mut encoded = Vec::new();
        for slot in slots {
            if let SlotSource::Claim(name) = &slot.source {
                // a vector takes every byte
                let _ = abi::encode_claim_into(slot.ty, claims.get(name), &mut encoded);
                ends.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
            }
        }
        ends.extend_from_slice(&encoded);
        MemoBytes::new(&ends)
    }
}

/// Writes an encoding into the module's input buffer; `None` once it would not fit.
struct Cursor<'m> {
    buf: &'m mut [u8],
    at: usize,
}

impl Sink for Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.at.checked_add(bytes.len())?;
        self.buf.get_mut(self.at..end)?.copy_from_slice(bytes);
        self.at = end;
        Some(())
    }

    fn string(&mut self, tag: u8, s: &[u8]) -> Option<()> {
        let end = self.at.checked_add(5)?.checked_add(s.len())?;
        let (head, body) = self
            .buf
            .get_mut(self.at..end)?
            .split_first_chunk_mut::<5>()?;
        let [a, b, c, d] = (s.len() as u32).to_le_bytes();
        *head = [tag, a, b, c, d];
        body.copy_from_slice(s);
        self.at = end;
        Some(())
    }
}

/// Hashes an address (the memo's key): one multiplication, the high bits kept.
#[derive(Debug, Clone, Copy, Default)]
struct AddressHash;

impl std::hash::BuildHasher for AddressHash {
    type Hasher = AddressHasher;
    fn build_hasher(&self) -> AddressHasher {
        AddressHasher(0)
    }
}

struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        // Fibonacci hashing: addresses differ in their middle bits, which the product spreads up.
        self.0 = (n as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(32);
    }
}

/// How many claims values a decider remembers before it starts over.
const MEMO_CAPACITY: usize = 16_384;

const BAD_INPUT: Decision = Decision {
    outcome: Outcome::BadInput,
    rule: None,
};

impl Decider {
    /// Decides a request: encodes its slot values as the manifest lists them straight into the
    /// module's input buffer and runs the module (`bad_input` without calling it when the
    /// encoding does not fit `input_capacity`).
    pub fn decide(&mut self, req: &Request) -> Result<Decision, HostError> {
        self.decide_with(req, &req.claims, None)
    }

    /// [`Decider::decide`] with `claims` for the request's claims (whatever `req.claims` holds):
    /// a caller that keeps a token's claims needs not put them into the request, which would
    /// touch their reference count on every request.
    ///
    /// `encoding`, when given, is the place kept beside `claims` for their encoding (see
    /// [`ClaimsEncoding`]).
    pub fn decide_with(
        &mut self,
        req: &Request,
        claims: &Arc<Claims>,
        encoding: Option<&ClaimsEncoding>,
    ) -> Result<Decision, HostError> {
        self.called = false;
        if self.input_addr == 0 {
            return Ok(BAD_INPUT);
        }
        match self.encode_in_place(req, claims, encoding)? {
            Some(len) => self.run(len),
            None => Ok(BAD_INPUT),
        }
    }

    /// [`abi::encode_request`]'s bytes written into the input buffer, with `claims`' slots copied
    /// from their memo (a run of claim slots in one copy); the encoding's length, or `None` when
    /// it does not fit.
    fn encode_in_place(
        &mut self,
        req: &Request,
        claims: &Arc<Claims>,
        encoding: Option<&ClaimsEncoding>,
    ) -> Result<Option<usize>, HostError> {
        let Decider {
            store,
            memory,
            layout,
            slots,
            steps,
            memo,
            input_addr,
            capacity,
            claim_slots,
            ..
        } = self;
        let beside = encoding.and_then(|e| {
            let shared = e.0.get_or_init(|| SharedMemo {
                layout: Arc::clone(layout),
                bytes: ClaimsMemo::bytes(slots, claims),
            });
            Arc::ptr_eq(&shared.layout, layout).then_some(&shared.bytes)
        });
        let memo = match beside {
            Some(bytes) => bytes,
            None => {
                if memo.len() >= MEMO_CAPACITY {
                    memo.clear();
                }
                &memo
                    .entry(Arc::as_ptr(claims) as usize)
                    .or_insert_with(|| ClaimsMemo::new(slots, claims))
                    .bytes
            }
        };
        let input = memory
            .data_mut(store)
            .get_mut(*input_addr..)
            .and_then(|m| m.get_mut(..*capacity))
            .ok_or(HostError::InputOutsideMemory {
                addr: *input_addr,
                capacity: *capacity,
            })?;
        Ok(encode_into(
            Cursor { buf: input, at: 0 },
            steps,
            memo,
            *claim_slots,
            req,
        ))
    }
}

impl Decider {
    /// Decides an already encoded input buffer; longer than `input_capacity` is `bad_input`
    /// without calling the module.
    pub fn decide_encoded(&mut self, input: &[u8]) -> Result<Decision, HostError> {
        self.called = false;
        // A module that gave no buffer (address 0) is given no input, not even an empty one.
        if input.len() > self.capacity || self.input_addr == 0 {
            return Ok(BAD_INPUT);
        }
        self.memory
            .write(&mut self.store, self.input_addr, input)
            .map_err(|e| HostError::Trap(e.to_string()))?;
        self.run(input.len())
    }

    /// Runs the module on the `len` bytes in its input buffer.
    fn run(&mut self, len: usize) -> Result<Decision, HostError> {
        let word = self
            .decide
            .call(
                {
                    self.store.set_epoch_deadline(CALL_EPOCHS);
                    &mut self.store
                },
                len as i32,
            )
            .map_err(|e| HostError::Trap(e.to_string()))?;
        // As the Worker reads a word: an outcome of the ABI, a rule of the manifest, and an
        // `allow` always by a rule; anything else is the module failing, never a decision.
        let decision = Decision::from_word(word)
            .filter(|d| {
                d.rule.is_none_or(|r| (r as usize) < self.rule_routes.len())
                    && (d.outcome != Outcome::Allow || d.rule.is_some())
            })
            .ok_or(HostError::BadDecision(word))?;
        self.called = true;
        self.last_rule = decision.rule;
        Ok(decision)
    }

    /// The manifest index of the route the last decision matched: what `edgeward_route` says
    /// (a route the manifest names, else none), or without that export the route of the rule
    /// the decision named, as the Worker reads it.
    pub fn last_route(&mut self) -> Option<u32> {
        if !self.called {
            return None;
        }
        match &self.route {
            Some(route) => {
                self.store.set_epoch_deadline(CALL_EPOCHS);
                let r = route.call(&mut self.store, ()).ok()?;
                u32::try_from(r)
                    .ok()
                    .filter(|&r| (r as usize) < self.routes)
            }
            None => self
                .last_rule
                .and_then(|i| self.rule_routes.get(i as usize).copied().flatten()),
        }
    }
}

/// One step of writing a request's encoding, in slot order: a slot of the request itself, or a
/// run of claim slots (`from..to`, counted among the claim slots) copied from the memo at once.
/// Planned once per decider, so that encoding a request only walks the steps.
#[derive(Debug, Clone)]
enum Step {
    Field(Slot),
    Claims { from: usize, to: usize },
}

fn plan(slots: &[Slot]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut claim = 0;
    for slot in slots {
        if !slot.is_claim() {
            steps.push(Step::Field(slot.clone()));
            continue;
        }
        match steps.last_mut() {
            Some(Step::Claims { to, .. }) => *to += 1,
            _ => steps.push(Step::Claims {
                from: claim,
                to: claim + 1,
            }),
        }
        claim += 1;
    }
    steps
}

/// Writes `req`'s encoding through `out` (see [`Decider::encode_in_place`]).
fn encode_into(
    mut out: Cursor,
    steps: &[Step],
    memo: &MemoBytes,
    claim_slots: usize,
    req: &Request,
) -> Option<usize> {
    // a memo holds every claim slot
    let (ends, encoded) = memo.get().split_at_checked(4 * claim_slots)?;
    let end_of = |claim: usize| {
        claim
            .checked_sub(1)
            .and_then(|c| ends.get(4 * c..4 * c + 4))
            .and_then(|e| e.first_chunk::<4>())
            .map_or(0, |e| u32::from_le_bytes(*e)) as usize
    };
    for step in steps {
        match step {
            Step::Field(slot) => abi::encode_slot_into(slot, req, &mut out)?,
            Step::Claims { from, to } => out.put(encoded.get(end_of(*from)..end_of(*to))?)?,
        }
    }
    Some(out.at)
}
